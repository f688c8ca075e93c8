"""The experiment scripts call the CLI with flags it accepts, in the order their runs need.

`cgankd` is replaced by a stub that records each call (and leaves a model.pt where a run would),
so the scripts run in a second; every recorded call is then parsed by the real argument parser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cgankd.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
STUB = """#!{python}
import json, pathlib, sys
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
if args[0] == "train":
    out = pathlib.Path(args[args.index("--out") + 1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.pt").touch()
"""


def run_script(script: str, tmp_path: Path, **env: str) -> list[list[str]]:
    log = tmp_path / "calls.jsonl"
    stub = tmp_path / "cgankd"
    stub.write_text(STUB.format(python=sys.executable, log=str(log)))
    stub.chmod(0o755)
    full_env = {**os.environ, "CGANKD": str(stub), "RUNS": str(tmp_path / "runs"), **env}
    done = subprocess.run(["bash", str(ROOT / script)], env=full_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    for call in calls:
        build_parser().parse_args(call)          # exits (fails the test) on an unknown flag
    return calls


def flag(call: list[str], name: str) -> str | None:
    return call[call.index(name) + 1] if name in call else None


def test_kd_table_script_runs_nokd_then_each_method_with_fakes_and_its_control(tmp_path):
    calls = run_script("FashionMNIST/scripts/run_kd_table.sh", tmp_path, DEMO=str(tmp_path / "demo"))
    trains = [c for c in calls if c[0] == "train"]
    nokd = [c for c in trains if "--init" not in c and "--distill" not in c]
    assert [flag(c, "--seed") for c in nokd] == ["0", "1", "2"]
    assert all(flag(c, "--epochs") == "30" for c in nokd)
    assistant = [c for c in trains if "--ta-arch" in c]
    assert len(assistant) == 1 and flag(assistant[0], "--ta-arch") == "resnet14"
    finetunes = [c for c in trains if "--init" in c]
    assert len(finetunes) == 11 * 3 * 2   # 11 arms (none + 9 methods + kd with logit_std) x 3 seeds x (fakes, control)
    with_fakes = [c for c in finetunes if "--fake" in c]
    controls = [c for c in finetunes if "--same-steps-as" in c]
    assert len(with_fakes) == len(controls) == 33
    assert {flag(c, "--fake") for c in with_fakes} == {flag(c, "--same-steps-as") for c in controls}
    assert all(flag(c, "--epochs") == "5" and flag(c, "--nfake") == "6000" for c in finetunes)
    for call in finetunes:
        method = flag(call, "--distill")
        assert (flag(call, "--ta") is not None) == (method == "takd")
        assert ("t_epochs=4" in call) == (method == "sskd")
        assert ("nce_k=2048" in call) == (method == "crd")
    assert calls[-1][0] == "report"


def test_distill_fake_script_needs_its_nokd_students(tmp_path):
    env = {**os.environ, "CGANKD": "/bin/false", "RUNS": str(tmp_path / "runs"), "METHODS": "kd"}
    done = subprocess.run(["bash", str(ROOT / "FashionMNIST/scripts/run_distill_fake.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "run_vanilla.sh first" in done.stderr


def test_rotated_resnet20_script_restarts_from_the_first_cycle(tmp_path):
    calls = run_script("FashionMNIST/scripts/train_rotated_resnet20.sh", tmp_path)
    first, second = calls
    assert (flag(first, "--epochs"), flag(first, "--lr"), flag(first, "--init")) == ("40", "0.01", None)
    assert flag(second, "--init") == str(Path(flag(first, "--out")) / "model.pt")
    assert (flag(second, "--epochs"), flag(second, "--lr")) == ("10", "0.01")
