"""benchmarks/gpu_check.sh --dry-run: every part of the GPU check runs, on the CPU at tiny sizes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_every_part_in_its_dry_run(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    sections = [line for line in out.splitlines() if line.startswith("=== ")]
    for part in ("CUDA tests", "student training", "BigGAN training", "accepted fakes/s", "DDP smoke run", "done"):
        assert any(part in line for line in sections), part
    assert "5 skipped" in out                                       # the CUDA tests skip cleanly on a CPU
    assert out.count("resnet8x4 ") >= 2 and "wrn_40_2 " in out and out.count("x ") >= 3   # rates and ratios
    assert "it/s" in out and "sample -> cDR-RS -> filter -> adjust" in out
    assert "DDP smoke: 2 processes, backend gloo" in out and out.rstrip().endswith(str(tmp_path))
    assert (tmp_path / "smoke" / "train" / "model.pt").exists() and (tmp_path / "smoke" / "gan" / "last.pt").exists()
