"""`cgankd demo --quick`: the whole protocol (teacher, GAN, fakes, NOKD, control, + extra real with
true and with teacher labels, cGAN-KD, table) on a user's file (classification and regression), its
stages written as assets and loaded back, damaged assets refused; and the embedded tasks side by side."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from conftest import SMALL_CDR_RS, SMALL_CDR_RS_REGRESSION, cli


def tiny(cdr_rs: str) -> list[str]:
    """Tiny GANs and cDR-RS models on top of --quick, so that each demo takes seconds."""
    return ["--set", "n_real=200", "--set", "nfake=120", "--device", "cpu",
            "--set", "gan_overrides.g_ch=4", "--set", "gan_overrides.d_ch=4", "--set", "gan_overrides.dim_z=8",
            "--set", "gan_overrides.standing_stats=2", "--set", f"fake_overrides.cdr_rs={cdr_rs}"]


@pytest.mark.parametrize("fixture, metric, cdr_rs", [("tiny_classification_h5", "acc", SMALL_CDR_RS),
                                                     ("tiny_regression_h5", "mae", SMALL_CDR_RS_REGRESSION)])
def test_demo_runs_the_whole_protocol_on_a_users_file(fixture, metric, cdr_rs, request, tmp_path, capsys):
    data = request.getfixturevalue(fixture)
    out = tmp_path / "demo"
    sizes = tiny(cdr_rs)
    assert cli("demo", "--data", data, "--quick", "--from-scratch", "--out", out, *sizes) == 0
    table = (out / "results.md").read_text()
    arms = [row["arm"] for row in csv.DictReader((out / "results.csv").open())]
    assert [a.split(" (")[0] for a in arms] == ["NOKD", "control", "+ extra real", "+ extra real", "cGAN-KD"]
    assert "+ extra real (120 extra real, true labels" in table and "Positive control:" in table
    assert "+ extra real (120 extra real, teacher labels" in table
    assert f"test {metric}" in table
    stem = data.rsplit("/", 1)[-1][:-3]
    assert (out / stem / f"{stem}_subset200_extra120.h5").exists()
    # `cgankd report` on the demo's folders gives the demo's rows (the teacher's run is a row of its own).
    assert cli("report", out / stem, "--out", tmp_path / "report") == 0
    demo_rows = list(csv.DictReader((out / "results.csv").open()))
    report_rows = {(r["student"], r["arm"]): r for r in csv.DictReader((tmp_path / "report" / "results.csv").open())}
    for row in demo_rows:
        assert report_rows[row["student"], row["arm"]] == row
    # Run again: every stage is reused, the table is the same.
    capsys.readouterr()
    assert cli("demo", "--data", data, "--quick", "--out", out, *sizes) == 0
    assert "(reused)" in capsys.readouterr().out
    assert (out / "results.md").read_text().split("## Wall time")[0] == table.split("## Wall time")[0]
    # The shared stages it wrote as assets load in a new folder and give the same table.
    assert "Every stage ran here" in table
    assets = out / "assets"
    assert cli("demo", "--data", data, "--quick", "--out", tmp_path / "loaded", "--assets", assets, *sizes) == 0
    loaded = (tmp_path / "loaded" / "results.md").read_text()
    assert f"Loaded from the shipped assets in {assets / stem}: teacher, gan, nokd/seed0" in loaded
    assert results_only(loaded) == results_only(table)
    # A truncated, altered or missing asset: one line naming the file and how to rebuild it.
    for damage, what in ((truncate, "truncated or altered"), (flip_a_byte, "truncated or altered"),
                         (Path.unlink, "missing")):
        broken = tmp_path / f"broken_{damage.__name__}"
        shutil.copytree(assets, broken)
        damage(broken / stem / "teacher" / "model.pt")
        capsys.readouterr()
        assert cli("demo", "--data", data, "--quick", "--out", tmp_path / "x", "--assets", broken, *sizes) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{broken / stem / 'teacher' / 'model.pt'}: a shipped asset is {what}" in err[0]
        assert "--from-scratch" in err[0]


def results_only(table: str) -> str:
    """The demo's table without the lines that say where its stages came from and how long they took."""
    lines = table.split("## Wall time")[0].splitlines()
    return "\n".join(line for line in lines if not line.startswith(("Loaded from", "Every stage ran")))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_demo_refuses_a_file_too_small_for_its_arms(tiny_classification_h5, tmp_path, capsys):
    assert cli("demo", "--data", tiny_classification_h5, "--quick", "--out", tmp_path / "demo",
               "--set", "n_real=400", "--set", "nfake=200") == 2
    err = capsys.readouterr().err
    assert "the demo needs 600 training images" in err and "has 512" in err
    assert cli("demo", "--data", tiny_classification_h5, "--task", "fashion-mnist", "--out", tmp_path / "d") == 2


def test_the_embedded_demo_runs_both_tasks_side_by_side_from_scratch(tmp_path, capsys):
    """`cgankd demo --from-scratch --quick` on the embedded tasks (tiny GANs): two processes, one
    table, and each task's shared stages written as assets."""
    out = tmp_path / "demo"
    sizes = ["--set", "gan_overrides.g_ch=4", "--set", "gan_overrides.d_ch=4", "--set", "gan_overrides.dim_z=8",
             "--set", "gan_overrides.standing_stats=2", "--set", "n_real=200", "--set", "nfake=120"]
    assert cli("demo", "--from-scratch", "--quick", "--device", "cpu", "--out", out, *sizes) == 0
    assert "side by side" in capsys.readouterr().out
    table = (out / "results.md").read_text()
    assert "## fashion-mnist (classification" in table and "## rotated-fashion-mnist-45 (regression" in table
    assert "tasks side by side" in table
    for task in ("fashion-mnist", "rotated-fashion-mnist-45"):
        assert (out / task / "demo.log").stat().st_size > 0
        assert json.loads((out / "assets" / task / "manifest.json").read_text())["runs"] == \
            ["teacher", "gan", "nokd/seed0"]
