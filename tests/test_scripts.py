"""The experiment scripts call the CLI with flags it accepts, in the order their runs need.

`cgankd` is replaced by a stub that records each call (and leaves behind what the next script looks
for: a model.pt, a GAN folder, a fake set), so the scripts run in a second; every recorded call is
then parsed by the real argument parser. tests/test_paper_scripts.py runs them with the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cgankd.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
STUB = """#!{python}
import json, os, pathlib, sys
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
out = pathlib.Path(args[args.index("--out") + 1]) if "--out" in args else None
if args[0] == "train":
    for run in (out, out / "ta") if "--ta-arch" in args else (out,):   # TAKD trains its assistant into OUT/ta
        run.mkdir(parents=True, exist_ok=True)
        (run / "model.pt").touch()
elif args[:2] == ["gan", "train"]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "last.pt").touch()
elif args[:2] == ["fake", "make"]:
    out.touch()
elif args[:2] == ["data", "check"]:
    print(args[2] + ": fake set, classification")
    print("  fake   " + os.environ.get("STUB_NFAKE", "3000") + " images uint8 1x28x28; labels int64 0..9")
"""
PRESETS = {"CIFAR-100": "cifar100", "ImageNet-100": "imagenet100", "SteeringAngle": "steeringangle",
           "UTKFace": "utkface", "FashionMNIST": "fashion-mnist"}
# The README's order (scripts a folder lacks are left out).
ORDER = ["run_vanilla.sh", "run_gan.sh", "make_fake_datasets.sh", "run_vanilla_fake.sh", "run_distill.sh",
         "run_takd.sh", "run_sskd.sh", "run_reviewkd.sh", "run_distill_fake.sh", "make_tables.sh"]
# Variables a caller's shell may hold that would change what the scripts do.
CLEARED = ("CGANKD", "RUNS", "DATA", "OUT", "FAKE", "NFAKE", "FAKE_SET_NFAKE", "METHODS", "ARCHS", "EXTRA",
           "EPOCHS", "BATCH_SIZE", "TA_CKPT", "TEACHER_CKPT", "SEEDS", "METHOD_FLAGS", "GAN_SET")


def script_env(tmp_path: Path, **env: str) -> dict[str, str]:
    log = tmp_path / "calls.jsonl"
    stub = tmp_path / "cgankd"
    stub.write_text(STUB.format(python=sys.executable, log=str(log)))
    stub.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return {**base, "CGANKD": str(stub), "RUNS": str(tmp_path / "runs"), **env}


def run_script(script: str, tmp_path: Path, **env: str) -> list[list[str]]:
    """Run a script with the stub; returns the calls it made (each parsed by the real parser)."""
    log = tmp_path / "calls.jsonl"
    before = len(log.read_text().splitlines()) if log.exists() else 0
    done = subprocess.run(["bash", str(ROOT / script)], env=script_env(tmp_path, **env), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()[before:]]
    for call in calls:
        build_parser().parse_args(call)          # exits (fails the test) on an unknown flag
    return calls


def failing_script(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / script)], env=script_env(tmp_path, **env), capture_output=True,
                          text=True, timeout=60)


def touch(*paths: Path) -> None:
    """Leave what an earlier stage would have: a teacher's model.pt, a GAN folder, a fake set."""
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def made_teacher_and_gan(tmp_path: Path, teacher: str) -> None:
    touch(tmp_path / f"runs/vanilla/{teacher}/seed0/model.pt", tmp_path / "runs/gan/last.pt")


def flag(call: list[str], name: str) -> str | None:
    return call[call.index(name) + 1] if name in call else None


def flags(call: list[str], name: str) -> list[str]:
    return [call[i + 1] for i, arg in enumerate(call) if arg == name]


@pytest.mark.parametrize("folder", PRESETS)
def test_readme_order_runs_every_stage_with_the_preset_and_one_fake_file_name(folder, tmp_path):
    scripts = [s for s in ORDER if (ROOT / folder / "scripts" / s).exists()]
    assert {"run_vanilla.sh", "run_gan.sh", "make_fake_datasets.sh", "run_vanilla_fake.sh",
            "make_tables.sh"} <= set(scripts)
    calls = {s: run_script(f"{folder}/scripts/{s}", tmp_path) for s in scripts}
    every = [c for cs in calls.values() for c in cs]
    for call in every:
        if call[0] == "train" or call[:2] in (["gan", "train"], ["fake", "make"]):
            assert flag(call, "--preset") == PRESETS[folder], call
            assert "--resume" in call
    fake_made = flag(calls["make_fake_datasets.sh"][0], "--out")
    readers = [c for s in ("run_vanilla_fake.sh", "run_distill_fake.sh") for c in calls.get(s, [])]
    assert readers and {flag(c, "--fake") or flag(c, "--same-steps-as") for c in readers} == {fake_made}
    nfake = flag(calls["make_fake_datasets.sh"][0], "--nfake")
    assert {flag(c, "--nfake") for c in readers} == {nfake}
    stem = f"{Path(fake_made).stem}_nfake{nfake}"
    assert all(f"/{stem}/" in flag(c, "--out") for c in readers)
    assert calls["make_tables.sh"] == [["report", str(tmp_path / "runs"), "--out", str(tmp_path / "runs/tables")]]


def test_nfake_names_new_fake_sets_and_student_folders(tmp_path):
    made_teacher_and_gan(tmp_path, "densenet121")
    made = run_script("CIFAR-100/scripts/make_fake_datasets.sh", tmp_path, NFAKE="5000")
    assert flag(made[0], "--nfake") == "5000" and flag(made[0], "--out").endswith("fake_5000_rho0.9_cdr-rs_adjust-yes.h5")
    run_script("CIFAR-100/scripts/run_vanilla.sh", tmp_path, ARCHS="resnet20")
    # An NFAKE sweep over one set: students see 1000 or 5000 of its fakes, in folders of their own.
    outs = set()
    for nfake in ("1000", "5000"):
        calls = run_script("CIFAR-100/scripts/run_vanilla_fake.sh", tmp_path, ARCHS="resnet20", NFAKE=nfake,
                           FAKE_SET_NFAKE="5000")
        assert {flag(c, "--nfake") for c in calls} == {nfake}
        assert {flag(c, "--fake") or flag(c, "--same-steps-as") for c in calls} == {flag(made[0], "--out")}
        outs |= {flag(c, "--out") for c in calls}
    assert len(outs) == 4 and all("fake_5000_rho0.9_cdr-rs_adjust-yes_nfake" in o for o in outs)
    missing = failing_script("CIFAR-100/scripts/run_vanilla_fake.sh", tmp_path, ARCHS="resnet20", NFAKE="7000")
    assert missing.returncode == 2 and "fake_7000_rho0.9_cdr-rs_adjust-yes.h5" in missing.stderr
    assert "make_fake_datasets.sh" in missing.stderr


def test_settings_at_the_top_become_flags(tmp_path):
    vanilla = run_script("SteeringAngle/scripts/run_vanilla.sh", tmp_path, ARCHS="vgg19 resnet20", SEEDS="0 1",
                         EPOCHS="3", BATCH_SIZE="16", DEVICE="cpu")
    assert [(flag(c, "--arch"), flag(c, "--seed")) for c in vanilla] == [
        ("vgg19", "0"), ("vgg19", "1"), ("resnet20", "0"), ("resnet20", "1")]
    assert all((flag(c, "--epochs"), flag(c, "--batch-size"), flag(c, "--device")) == ("3", "16", "cpu")
               for c in vanilla)
    assert "--epochs" not in run_script("SteeringAngle/scripts/run_vanilla.sh", tmp_path, ARCHS="vgg19")[0]

    gan, = run_script("UTKFace/scripts/run_gan.sh", tmp_path, GAN_ITERS="50", GAN_BATCH_SIZE="32", GAN_D_STEPS="1",
                      GAN_SET="g_ch=4 'g_widths=[4, 2, 1, 1, 1]'")
    assert (flag(gan, "--gan"), flag(gan, "--iters"), flag(gan, "--batch-size")) == ("ccgan", "50", "32")
    assert flags(gan, "--set") == ["d_steps=1", "g_ch=4", "g_widths=[4, 2, 1, 1, 1]"]

    made_teacher_and_gan(tmp_path, "vgg13")
    fake, = run_script("UTKFace/scripts/make_fake_datasets.sh", tmp_path, FILTER_BURN_IN="20", DR_EPOCHS="2",
                       RS_BURN_IN="10", RS_BATCH_SIZE="8", SPARSE_AE_EPOCHS="1", FAKE_SEED="3")
    cdr_rs = [s for s in flags(fake, "--set") if s.startswith("cdr_rs=")]
    assert json.loads(cdr_rs[0].split("=", 1)[1]) == {"dr": {"epochs": 2}, "rs": {"burn_in": 10, "batch_size": 8},
                                                       "sparse_ae": {"epochs": 1}}
    assert "filter_burn_in=20" in flags(fake, "--set") and flag(fake, "--seed") == "3"
    assert (flag(fake, "--rho"), "--adjust-labels" in fake, flag(fake, "--nfake")) == ("0.7", True, "60000")
    # UTKFace's rejection burn-in is the reference's 100 unless set; the others stay the paper's.
    default, = run_script("UTKFace/scripts/make_fake_datasets.sh", tmp_path)
    assert flags(default, "--set") == ['cdr_rs={"rs": {"burn_in": 100}}']


def test_a_method_gets_its_own_first_stage_and_takd_its_assistant(tmp_path):
    run_script("CIFAR-100/scripts/run_vanilla.sh", tmp_path, ARCHS="resnet32x4 resnet8x4")
    calls = run_script("CIFAR-100/scripts/run_distill.sh", tmp_path, ARCHS="resnet8x4",
                       METHODS="kd abound factor fsp hint", INIT_EPOCHS="2")
    stage = {flag(c, "--distill"): flags(c, "--distill-set") for c in calls}
    assert stage == {"kd": [], "abound": ["init_epochs=2"], "factor": ["init_epochs=2"], "fsp": ["init_epochs=2"],
                     "hint": []}
    sskd, = run_script("CIFAR-100/scripts/run_sskd.sh", tmp_path, ARCHS="resnet8x4", SSKD_T_EPOCHS="8")
    assert flags(sskd, "--distill-set") == ["t_epochs=8", "t_milestones=[4,6]"]
    assert "--distill-set" not in run_script("CIFAR-100/scripts/run_sskd.sh", tmp_path, ARCHS="resnet8x4")[0]
    takd, = run_script("CIFAR-100/scripts/run_takd.sh", tmp_path, ARCHS="resnet8x4")
    assert flag(takd, "--ta-arch") == "resnet20" and "--ta" not in takd
    made_teacher_and_gan(tmp_path, "densenet121")
    run_script("CIFAR-100/scripts/make_fake_datasets.sh", tmp_path)
    fake = run_script("CIFAR-100/scripts/run_distill_fake.sh", tmp_path, ARCHS="resnet8x4", METHODS="takd")
    assert {flag(c, "--ta") for c in fake} == {str(tmp_path / "runs/distill/takd/resnet8x4/seed0/ta/model.pt")}
    assert "--ta-arch" not in fake[0]


def test_extra_flags_keep_quoted_json_whole_and_bad_quotes_stop(tmp_path):
    made_teacher_and_gan(tmp_path, "densenet121")
    extra = "--set 'cdr_rs={\"dr\": {\"epochs\": 5}}' --feature-net \"my net/model.pt\""
    fake, = run_script("CIFAR-100/scripts/make_fake_datasets.sh", tmp_path, EXTRA=extra)
    assert fake[-4:] == ["--set", 'cdr_rs={"dr": {"epochs": 5}}', "--feature-net", "my net/model.pt"]
    bad = failing_script("CIFAR-100/scripts/make_fake_datasets.sh", tmp_path, EXTRA="--set 'oops")
    assert bad.returncode == 2 and "EXTRA: unbalanced quotes" in bad.stderr
    bad = failing_script("CIFAR-100/scripts/make_fake_datasets.sh", tmp_path, DR_EPOCHS="five")
    assert bad.returncode == 2 and "DR_EPOCHS=five: expected a whole number" in bad.stderr


def test_kd_table_script_runs_nokd_then_each_method_with_fakes_and_its_control(tmp_path):
    demo = tmp_path / "demo"
    touch(demo / "fake_cgankd.h5", demo / "teacher/model.pt")
    calls = run_script("FashionMNIST/scripts/run_kd_table.sh", tmp_path, DEMO=str(demo), STUB_NFAKE="3000")
    assert calls[0] == ["data", "check", str(demo / "fake_cgankd.h5")]   # NFAKE: the set's own size
    trains = [c for c in calls if c[0] == "train"]
    assert all(flag(c, "--preset") == "fashion-mnist" for c in trains)
    nokd = [c for c in trains if "--init" not in c and "--distill" not in c]
    assert [flag(c, "--seed") for c in nokd] == ["0", "1", "2"]
    assert all(flag(c, "--epochs") == "30" for c in nokd)
    assistant = [c for c in trains if "--ta-arch" in c]
    assert len(assistant) == 1 and flag(assistant[0], "--ta-arch") == "resnet14"
    finetunes = [c for c in trains if "--init" in c]
    assert len(finetunes) == 12 * 3 * 2   # 12 arms (none + 9 methods + kd with logit_std + mlkd with cc_weight)
    #                                    x 3 seeds x (fakes, control)
    with_fakes = [c for c in finetunes if "--fake" in c]
    controls = [c for c in finetunes if "--same-steps-as" in c]
    assert len(with_fakes) == len(controls) == 36
    assert {flag(c, "--fake") for c in with_fakes} == {flag(c, "--same-steps-as") for c in controls}
    assert all(flag(c, "--epochs") == "5" and flag(c, "--nfake") == "3000" for c in finetunes)
    assert len({flag(c, "--out") for c in finetunes}) == len(finetunes)
    for call in finetunes:
        method = flag(call, "--distill")
        assert (flag(call, "--ta") is not None) == (method == "takd")
        assert ("t_epochs=4" in call and "t_milestones=[2,3]" in call) == (method == "sskd")
        assert ("nce_k=2048" in call) == (method == "crd")
        assert ("logit_std=true" in call) == ("/logit_std/" in flag(call, "--out"))
        assert ("cc_weight=0.025" in call) == ("/mlkd_cc/" in flag(call, "--out"))
        assert "/mlkd_cc/" not in flag(call, "--out") or method == "mlkd"
    assert calls[-1][0] == "report"


def test_kd_table_script_needs_the_demo_fake_set(tmp_path):
    done = failing_script("FashionMNIST/scripts/run_kd_table.sh", tmp_path, DEMO=str(tmp_path / "nothing"))
    assert done.returncode == 2 and "missing fake set" in done.stderr and "cgankd demo" in done.stderr


def test_distill_fake_script_needs_its_nokd_students(tmp_path):
    made_teacher_and_gan(tmp_path, "resnet20")
    run_script("FashionMNIST/scripts/make_fake_datasets.sh", tmp_path)
    done = failing_script("FashionMNIST/scripts/run_distill_fake.sh", tmp_path, METHODS="kd",
                          TEACHER_CKPT=str(tmp_path / "elsewhere.pt"))
    assert done.returncode == 2 and "missing teacher" in done.stderr
    done = failing_script("FashionMNIST/scripts/run_distill_fake.sh", tmp_path, METHODS="kd")
    assert done.returncode == 2 and "missing" in done.stderr and "vanilla/resnet8/seed0/model.pt" in done.stderr
    assert "run_vanilla.sh first" in done.stderr


def test_rotated_resnet20_script_restarts_from_the_first_cycle(tmp_path):
    calls = run_script("FashionMNIST/scripts/train_rotated_resnet20.sh", tmp_path)
    first, second = calls
    assert (flag(first, "--epochs"), flag(first, "--lr"), flag(first, "--init")) == ("40", "0.01", None)
    assert flag(second, "--init") == str(Path(flag(first, "--out")) / "model.pt")
    assert (flag(second, "--epochs"), flag(second, "--lr")) == ("10", "0.01")
    assert {flag(c, "--preset") for c in calls} == {"rotated-fashion-mnist"}


def test_positive_control_script_scores_on_validation_and_gives_each_arm_the_same_start(tmp_path):
    calls = run_script("FashionMNIST/scripts/positive_control.sh", tmp_path, SEEDS="0 1", NEXTRA="2000")
    holdout, teacher, relabel = calls[:3]
    assert holdout[:2] == ["data", "holdout"] and (flag(holdout, "--n-real"), flag(holdout, "--n-val"),
                                                   flag(holdout, "--n-extra")) == ("1000", "5000", "5000")
    val = str(tmp_path / "runs/data/FashionMNIST_28x28_real1000_val5000_seed0.h5")
    extra = str(tmp_path / "runs/data/FashionMNIST_28x28_extra5000_seed0.h5")
    assert teacher[0] == "train" and (flag(teacher, "--arch"), flag(teacher, "--epochs")) == ("resnet20", "100")
    assert relabel[:2] == ["fake", "relabel"] and flag(relabel, "--data") == extra
    trains = [c for c in calls if c[0] == "train"]
    assert {flag(c, "--data") for c in trains} == {val}         # every run scored on validation
    students = trains[1:]
    assert len(students) == 2 * 4 and all("--no-augment" in c for c in students)
    for seed in ("0", "1"):
        nokd, control, true, taught = [c for c in students if flag(c, "--seed") == seed]
        start = str(Path(flag(nokd, "--out")) / "model.pt")
        assert flag(nokd, "--epochs") == "60" and "--init" not in nokd
        assert {flag(c, "--init") for c in (control, true, taught)} == {start}
        assert flag(control, "--same-steps-as") == flag(true, "--fake") == extra
        assert flag(taught, "--fake") == flag(relabel, "--out")
        assert {flag(c, "--nfake") for c in (control, true, taught)} == {"2000"}
    assert len({flag(c, "--out") for c in students}) == len(students)
    assert calls[-1][:2] == ["report", str(tmp_path / "runs")]
