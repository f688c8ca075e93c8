"""The paper-shaped tables and plots of `cgankd report`, from run folders written directly (no
training): where each arm lands, mean ± std, the paper's numbers beside the right cells, units,
seed counts, separate rows for arms that differ in any setting, and readable plot axes. Plus the
wall time of a KD method's own first stage."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import pytest

from cgankd.arms import arm_identity, fake_set_identity
from cgankd.cli import main
from cgankd.common.files import file_fingerprint
from cgankd.report import plots
from cgankd.report.commands import write_paper_tables
from cgankd.report.families import ablations, nfake_sweeps
from cgankd.report.tables import find_runs, method_names, summarize
from cgankd.report.units import metric_title, seeds_text

MIXING = {"fake_only": False, "fake_weight": 1.0, "fake_share": None, "aux_bn": False, "bn_recalibrate": False}
VANILLA = {"recipe": "vanilla", "epochs": 240, "batch_size": 64, "lr": 0.05, "weight_decay": 5e-4, "momentum": 0.9,
           "schedule": "step", "milestones": [150, 180, 210], "gamma": 0.1, "warmup": 0.0, "amp": False}
FINETUNE = {**VANILLA, "recipe": "fake", "batch_size": 128, "lr": 0.01}
FULL = ("cdr-rs", 0.9, True)      # the paper's processing: cDR-RS, filter rho 0.9, relabelled


def fakes(subsample: str = "cdr-rs", rho: float = 0.9, adjust: bool = True, nfake: int = 3000) -> dict:
    """A fake set's identity from the attributes `fake make` writes."""
    return fake_set_identity({
        "gan": "biggan", "gan_iteration": 38000,
        "provenance": {"inputs": {"gan": {"fingerprint": "gan0"}, "teacher": {"fingerprint": "filter-teacher"},
                                  "feature_net": {"fingerprint": "featnet" if subsample == "cdr-rs" else None}},
                       "settings": {"subsample": subsample, "rho": rho, "adjust_labels": adjust, "nfake": nfake,
                                    "filter_burn_in": 1000, "label_values": None, "fit_size": 5000,
                                    "cdr_rs": {"dr": {"epochs": 200}}}}})


def extra_real(n: int = 3000) -> dict:
    return fake_set_identity({"origin": "real", "labels": "true", "n": n, "source_fingerprint": "heldout"})


class Runs:
    """Writes student and teacher run folders (config.json, metrics.json) under one root."""

    def __init__(self, root: Path, preset: str, data: str = "cifar", metric: str = "acc"):
        self.root, self.preset, self.data, self.metric = root, preset, data, metric
        self.count = 0

    def data_identity(self) -> dict:
        return {"fingerprint": f"data-{self.data}", "subset": None, "val_frac": 0.0, "task": None,
                "num_classes": None, "preset": self.preset}

    def nokd(self, arch: str, schedule: dict = VANILLA) -> dict:
        return arm_identity(arch=arch, schedule=schedule, distill=None, distill_settings={}, teacher=None, fakes=None,
                            nfake=None, mixing=MIXING, matched=None, init=None, data=self.data_identity())

    def arm(self, arch: str, *, fake_set: dict | None = None, matched: dict | None = None, distill: str | None = None,
            teacher: str | None = None, nfake: int | None = None, schedule: dict = FINETUNE,
            init: dict | None = None, distill_settings: dict | None = None, mixing: dict = MIXING) -> dict:
        return arm_identity(arch=arch, schedule=schedule, distill=distill, distill_settings=distill_settings or {},
                            teacher=teacher, fakes=fake_set, nfake=nfake, mixing=mixing, matched=matched,
                            init=init, data=self.data_identity())

    def write(self, identity: dict, values: list[float], teacher_path: str | None = None,
              wall: float = 10.0) -> None:
        for seed, value in enumerate(values):
            self.count += 1
            folder = self.root / "students" / f"run{self.count:03d}"
            folder.mkdir(parents=True)
            inputs = {"data": {"path": f"{self.data}.h5", "fingerprint": f"data-{self.data}"}}
            if teacher_path:
                inputs["teacher"] = {"path": teacher_path, "fingerprint": identity["teacher"]}
            config = {"arch": identity["arch"], "arm": identity, "data": f"{self.data}.h5", "preset": self.preset,
                      "seed": seed, "inputs": inputs}
            metrics = {"metric": self.metric, f"test_{self.metric}": value, "seed": seed, "wall_time_s": wall}
            (folder / "config.json").write_text(json.dumps(config))
            (folder / "metrics.json").write_text(json.dumps(metrics))

    def teacher(self, arch: str, value: float) -> tuple[str, str]:
        """A teacher run folder beside the students' root; returns (fingerprint, path relative to the
        root's parent, as a training command run there would have recorded it)."""
        folder = self.root.parent / "teachers" / arch
        folder.mkdir(parents=True)
        (folder / "model.pt").write_bytes(f"weights of {arch}".encode())
        (folder / "config.json").write_text(json.dumps({"arch": arch, "arm": {"kind": "nokd"}}))
        (folder / "metrics.json").write_text(json.dumps({"metric": "acc", "test_acc": value}))
        return file_fingerprint(folder / "model.pt"), str(Path("teachers") / arch / "model.pt")


def md_table(text: str, title_start: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """(columns, {row label: {column: cell}}) of the markdown table under the heading that starts so."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(f"### {title_start}"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    head, body = rows[0], rows[2:]
    return head[1:], {row[0]: dict(zip(head[1:], row[1:])) for row in body}


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> tuple[Path, str]:
    """CIFAR-100 runs: the main arms of resnet20 with a resnet110 teacher, an ablation and an NFAKE
    sweep on MobileNetV2, one-seed vgg8, and a cGAN-KD arm that differs only in its learning rate."""
    root = tmp_path_factory.mktemp("cifar") / "runs"
    runs = Runs(root, "cifar100")
    t110, t110_path = runs.teacher("resnet110", 73.50)
    nokd = runs.nokd("resnet20")
    runs.write(nokd, [68.0, 68.5, 69.0])
    runs.write(runs.arm("resnet20", fake_set=fakes(*FULL), init=nokd), [70.0, 70.5, 71.0])
    runs.write(runs.arm("resnet20", fake_set=fakes(*FULL), init=nokd, schedule={**FINETUNE, "lr": 0.02}), [69.0])
    runs.write(runs.arm("resnet20", matched=fakes(*FULL), init=nokd), [68.9, 69.1])
    runs.write(runs.arm("resnet20", fake_set=extra_real(), init=nokd), [71.5])
    runs.write(runs.arm("resnet20", distill="kd", teacher=t110, schedule=VANILLA), [70.2, 70.4], t110_path)
    runs.write(runs.arm("resnet20", fake_set=fakes(*FULL), distill="kd", teacher=t110, init=nokd), [71.0, 71.4],
               t110_path)
    runs.write(runs.arm("resnet20", matched=fakes(*FULL), distill="kd", teacher=t110, init=nokd), [70.6],
               t110_path)
    runs.write(runs.arm("resnet20", fake_set=fakes(*FULL), distill="kd", teacher="gone-teacher", init=nokd),
               [70.9], "elsewhere/resnet32x4/model.pt")
    runs.write(runs.nokd("vgg8"), [70.0])
    runs.write(runs.nokd("resnet56"), [71.0])
    runs.write(runs.nokd("resnet56", schedule={**VANILLA, "epochs": 120}), [70.0])
    mobile = runs.nokd("MobileNetV2")
    runs.write(mobile, [64.0, 65.0])
    for steps in [("none", 1.0, False), ("cdr-rs", 1.0, False), ("cdr-rs", 0.9, False), FULL]:
        runs.write(runs.arm("MobileNetV2", fake_set=fakes(*steps), init=mobile), [66.0 + 0.5 * steps[1] + steps[2]])
    for n in (1000, 2000):
        runs.write(runs.arm("MobileNetV2", fake_set=fakes(*FULL), nfake=n, init=mobile), [66.0 + n / 1000])
    runs.write(runs.arm("MobileNetV2", matched=fakes(*FULL), init=mobile), [65.2])
    out = root.parent / "report"
    return out, write_paper_tables(summarize(find_runs([root])), out)


def test_table3_places_each_arm_with_mean_std_seeds_and_the_papers_numbers(cifar):
    _, text = cifar
    columns, rows = md_table(text, "Table 3 shape")
    assert columns == ["NOKD", "control", "+ extra real", "cGAN-KD"]           # the controls are never hidden
    main_row = rows["resnet20; cDR-RS, filter rho 0.9, relabelled, 3,000 fakes [schedule.lr=0.01]"]
    assert main_row["NOKD"] == "68.50 ± 0.50 (3 seeds; paper 68.83)"
    assert main_row["cGAN-KD"] == "70.50 ± 0.50 (3 seeds; paper 70.61)"
    assert main_row["control"] == "69.00 ± 0.14 (2 seeds)"                      # no paper number: not the paper's arm
    assert main_row["+ extra real"] == "71.50 (1 seed)"
    assert rows["vgg8"] == {"NOKD": "70.00 (1 seed; paper 70.11)", "control": "–", "+ extra real": "–",
                            "cGAN-KD": "– (paper 72.35)"}
    assert "1 seeds" not in text and "(the paper, Table 3)" in text


def test_arms_that_differ_in_one_setting_stay_in_rows_of_their_own(cifar):
    _, text = cifar
    _, rows = md_table(text, "Table 3 shape")
    other_lr = rows["resnet20; cDR-RS, filter rho 0.9, relabelled, 3,000 fakes [schedule.lr=0.02]"]
    assert other_lr["cGAN-KD"] == "69.00 (1 seed; paper 70.61)"
    assert other_lr["control"] == "–"                   # the control matched the lr-0.01 run's steps, not this one's
    raw = rows["MobileNetV2; no subsampling, no filter, GAN labels, 3,000 fakes"]
    assert raw["cGAN-KD"] == "66.50 (1 seed)"           # unprocessed fakes: no paper number beside them
    mobile = [label for label in rows if label.startswith("MobileNetV2")]
    assert len(mobile) == 6                              # 4 processing variants + 2 NFAKE variants
    resnet56 = {label: row["NOKD"] for label, row in rows.items() if label.startswith("resnet56")}
    assert resnet56 == {"resnet56; NOKD [schedule.epochs=240]": "71.00 (1 seed)",
                        "resnet56; NOKD [schedule.epochs=120]": "70.00 (1 seed)"}


def test_kd_table_rows_are_teacher_student_pairs_named_from_the_teachers_run(cifar):
    _, text = cifar
    columns, rows = md_table(text, "Tables 4–6 shape")
    assert columns == ["NOKD", "BLKD", "control", "+ extra real", "cGAN-KD", "control + BLKD", "cGAN-KD + BLKD"]
    pair = rows["resnet110 (test 73.50; paper 73.27) → resnet20"]
    assert pair["NOKD"] == "68.50 ± 0.50 (3 seeds; paper 68.83)"
    assert pair["BLKD"] == "70.30 ± 0.14 (2 seeds; paper 70.39)"
    assert pair["cGAN-KD + BLKD"] == "71.20 ± 0.28 (2 seeds; paper 71.29)"
    assert pair["control + BLKD"] == "70.60 (1 seed)"
    assert pair["cGAN-KD"] == "70.50 ± 0.50 (3 seeds; paper 70.61)"
    missing = rows["elsewhere/resnet32x4/model.pt → resnet20"]       # teacher not found: its recorded path
    assert missing["cGAN-KD + BLKD"] == "70.90 (1 seed)" and missing["BLKD"] == "–"


def test_csv_per_table_holds_the_numbers_apart_from_the_papers(cifar):
    out, _ = cifar
    rows = {r["student"]: r for r in csv.DictReader((out / "paper_table3_cifar.csv").read_text().splitlines())}
    row = rows["resnet20; cDR-RS, filter rho 0.9, relabelled, 3,000 fakes [schedule.lr=0.01]"]
    assert (row["NOKD mean"], row["NOKD std"], row["NOKD seeds"], row["NOKD paper"]) == ("68.5000", "0.5000", "3",
                                                                                         "68.83")
    assert row["control paper"] == ""
    assert (out / "paper_tables4-6_cifar.csv").exists()


def test_ablation_table_plot_and_the_papers_approximate_values(cifar):
    out, text = cifar
    columns, rows = md_table(text, "Ablation shape")
    assert columns == ["NOKD", "unprocessed fakes", "+ cDR-RS", "+ cDR-RS + filtering (rho 0.9)",
                       "+ cDR-RS + filtering + label adjustment (rho 0.9)"]
    assert "error, 100 − top-1 accuracy (%)" in text
    row = rows["MobileNetV2"]
    assert row["NOKD"] == "35.50 ± 0.71 (2 seeds; paper ≈35.2)"
    assert row["unprocessed fakes"] == "33.50 (1 seed; paper ≈34.7)"
    assert row["+ cDR-RS + filtering (rho 0.9)"] == "33.55 (1 seed; paper ≈31.6)"
    assert row["+ cDR-RS + filtering + label adjustment (rho 0.9)"] == "32.55 (1 seed)"   # not in the paper's plot
    assert "read off its plots" in text
    assert (out / "cifar_ablation.png").stat().st_size > 10_000


def test_nfake_sweep_finds_its_nokd_and_control_and_is_plotted(cifar, tmp_path):
    out, _ = cifar
    rows = summarize(find_runs([out.parent / "runs"]))
    sweeps = [s for s in nfake_sweeps(rows, method_names()) if s.arch == "MobileNetV2"]
    assert len(sweeps) == 1
    sweep = sweeps[0]
    assert [p.n for p in sweep.points] == [1000, 2000, 3000]
    assert sweep.nokd is not None and sweep.nokd.values == [64.0, 65.0]
    assert [p.n for p in sweep.controls] == [3000]
    assert (out / "cifar_nfake.png").stat().st_size > 10_000
    [ablation] = [a for a in ablations(rows, method_names()) if a.arch == "MobileNetV2"]
    assert [bar.step for bar in ablation.bars] == ["unprocessed fakes", "+ cDR-RS", "+ cDR-RS + filtering",
                                                   "+ cDR-RS + filtering + label adjustment"]


def test_regression_table_has_units_and_table_7s_numbers(tmp_path):
    for preset, unit, nokd_paper in (("steeringangle", "degrees", "5.51"), ("utkface", "years", "6.87")):
        runs = Runs(tmp_path / preset, preset, data=preset, metric="mae")
        nokd = runs.nokd("resnet20")
        runs.write(nokd, [5.0, 5.2])
        runs.write(runs.arm("resnet20", fake_set=fakes("cdr-rs", 0.7, True), init=nokd), [1.8])
        text = write_paper_tables(summarize(find_runs([tmp_path / preset])), tmp_path / f"{preset}_out")
        assert f"test MAE ({unit})" in text and "the paper, Table 7" in text
        _, rows = md_table(text, "Table 7 shape")
        assert rows["resnet20"]["NOKD"] == f"5.10 ± 0.14 (2 seeds; paper {nokd_paper})"
        assert rows["resnet20"]["cGAN-KD"].startswith("1.80 (1 seed; paper ")


def test_a_preset_outside_the_paper_gets_the_same_shapes_without_paper_numbers(tmp_path):
    runs = Runs(tmp_path / "runs", "fashion-mnist", data="fm")
    nokd = runs.nokd("resnet20")
    runs.write(nokd, [84.0])
    runs.write(runs.arm("resnet20", fake_set=fakes(), init=nokd), [85.0])
    text = write_paper_tables(summarize(find_runs([tmp_path / "runs"])), tmp_path / "out")
    _, rows = md_table(text, "Table 3 shape")
    assert rows["resnet20"] == {"NOKD": "84.00 (1 seed)", "cGAN-KD": "85.00 (1 seed)"}
    section = text.split("## fashion-mnist (preset fashion-mnist; data fm)")[1]
    assert not re.search(r"paper [≈\d]|the paper,", section)


def test_units_and_seed_counts():
    assert metric_title("acc", "cifar100") == "test top-1 accuracy (%)"
    assert metric_title("mae", "rotated-fashion-mnist") == "test MAE (degrees)"
    assert metric_title("mae", "utkface", split="validation") == "validation MAE (years)"
    assert metric_title("mae", None) == "test MAE (label units)"
    assert (seeds_text(1), seeds_text(2)) == ("1 seed", "2 seeds")


def _captured_axes(monkeypatch) -> list:
    """Replace plots._save so that each figure's axes are kept (and still saved)."""
    seen = []
    save = plots._save

    def keep(fig, path):
        seen.append([(ax.get_xlim(), ax.get_ylim(), ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes])
        save(fig, path)
    monkeypatch.setattr(plots, "_save", keep)
    return seen


def test_accuracy_axes_stay_within_0_and_100_with_many_arms(tmp_path, monkeypatch):
    """27 arms at 0–2 % accuracy (the tiny CIFAR-100 case) and arms near 100 %."""
    runs = Runs(tmp_path / "runs", "cifar100")
    nokd = runs.nokd("resnet8")
    runs.write(nokd, [1.0, 0.5])
    for n in range(26):
        runs.write(runs.arm("resnet8", fake_set=fakes(nfake=100 + n), init=nokd), [0.1 + n * 0.07])
    runs.write(runs.nokd("resnet20", schedule={**VANILLA, "epochs": 1}), [99.6, 99.9])
    rows = summarize(find_runs([tmp_path / "runs"]))
    seen = _captured_axes(monkeypatch)
    small = [r for r in rows if r.arch == "resnet8"]
    plots.metric_bars(small, tmp_path / "small.png", "resnet8")
    plots.metric_bars([r for r in rows if r.arch == "resnet20"], tmp_path / "high.png", "resnet20")
    (small_x, small_y, xlabel, _), = seen[0]
    assert small_x[0] >= 0.0 and xlabel == "test top-1 accuracy (%)"
    assert seen[1][0][0][0] >= 0.0 and seen[1][0][0][1] <= 100.0
    assert small_y[0] - small_y[1] > 26                     # one bar slot per arm: 27 rows, none stacked
    plots.nfake_plot(nfake_sweeps(rows, method_names()), tmp_path / "nfake.png", "tiny")
    (_, nfake_y, nfake_x_label, nfake_y_label), = seen[2]
    assert nfake_y[0] >= 0.0 and nfake_y[1] <= 100.0 and nfake_x_label.startswith("NFAKE")
    assert nfake_y_label == "test error, 100 − top-1 accuracy (%)"
    assert (tmp_path / "small.png").stat().st_size > 10_000


def test_report_command_writes_flat_and_paper_shaped_tables(cifar, tmp_path, capsys):
    out, _ = cifar
    assert main(["report", str(out.parent / "runs"), "--out", str(tmp_path / "rep")]) == 0
    rep = tmp_path / "rep"
    header = next(csv.reader((rep / "results.csv").read_text().splitlines()))
    assert header == ["dataset", "student", "arm", "metric", "mean", "std", "seeds", "values", "wall_time_s"]
    for name in ("results.md", "paper_tables.md", "paper_table3_cifar.csv", "paper_tables4-6_cifar.csv",
                 "paper_ablation_cifar.csv", "cifar_ablation.png", "cifar_nfake.png", "cifar_resnet20.png"):
        assert (rep / name).stat().st_size > 0, name
    assert "paper-shaped tables in" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nothing"), "--out", str(tmp_path / "rep2")]) == 2


def test_wall_time_counts_a_kd_methods_own_stage(tiny_classification_h5, tmp_path, monkeypatch):
    """A stage before the student's epochs (FitNet's hints, SSKD's head...) is part of the run's time."""
    from cgankd.distill.base import Distiller
    from cgankd.train.config import recipe_config
    from cgankd.train.loop import fit

    def slow_stage(self, batches, device):
        time.sleep(2.0)
        return [{"method": "probe", "stage_epoch": 1, "loss": 0.0}]
    monkeypatch.setattr(Distiller, "prepare", slow_stage)
    fit(recipe_config(tiny_classification_h5, "resnet8", str(tmp_path / "run"), epochs=1, device="cpu", quiet=True))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("stage") == "prepare" for r in log)
    epoch_time = sum(r["epoch_time_s"] for r in log if "epoch_time_s" in r)
    assert metrics["wall_time_s"] - epoch_time >= 2.0


def test_a_rows_name_carries_the_kd_settings_it_was_run_with():
    from cgankd.arms import arm_label
    base = dict(arch="resnet8", schedule={}, teacher="t", fakes=None, nfake=None, mixing={}, matched=None,
                init=None, data={})
    plain = arm_identity(distill="kd", distill_settings={}, **base)
    standardised = arm_identity(distill="kd", distill_settings={"logit_std": True, "ta": {"sha": "x"}, "t": None},
                                **base)
    assert arm_label(plain, {"kd": "BLKD"}) == "BLKD"
    assert arm_label(standardised, {"kd": "BLKD"}) == "BLKD [logit_std=True]"   # fingerprints, unset values left out
