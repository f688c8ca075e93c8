"""Run folders (DESIGN §4): config.json, log.jsonl, last.pt, metrics.json.

Every stage that trains something (students, GANs, density-ratio models) writes one.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from .errors import UserError
from .files import append_jsonl, atomic_path, save_torch, write_json

CONFIG, LOG, CHECKPOINT, METRICS = "config.json", "log.jsonl", "last.pt", "metrics.json"


def git_commit() -> str:
    """The commit of the code that runs, with '+dirty' when the tree has edits; 'unknown' outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict[str, str]:
    return {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}


class RunDir:
    """One run's folder. `resume=False` refuses to overwrite a finished or started run."""

    def __init__(self, path: str | Path, resume: bool = False):
        self.path = Path(path)
        self.resume = resume

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoint(self) -> Path:
        return self.file(CHECKPOINT)

    def has_checkpoint(self) -> bool:
        return self.checkpoint.exists()

    def start(self, config: dict[str, Any]) -> None:
        """Create the folder and write config.json (kept as first written when resuming)."""
        if self.file(CONFIG).exists() and not self.resume:
            raise UserError(f"{self.path} already holds a run; pass --resume to continue it or choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        if self.resume and self.file(CONFIG).exists():
            return
        write_json(self.file(CONFIG), {**config, "git_commit": git_commit(), "environment": environment()})

    def log(self, record: dict[str, Any]) -> None:
        append_jsonl(self.file(LOG), record)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        save_torch(self.checkpoint, state)

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        return torch.load(self.checkpoint, map_location=map_location, weights_only=False)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.file(METRICS), metrics)

    def read_log(self) -> list[dict[str, Any]]:
        if not self.file(LOG).exists():
            return []
        return [json.loads(line) for line in self.file(LOG).read_text().splitlines() if line.strip()]

    def truncate_log(self, keep_until: int, key: str = "epoch") -> None:
        """On resume, drop log lines written after the checkpoint (a crash between log and save)."""
        kept = [r for r in self.read_log() if r.get(key, 0) <= keep_until]
        with atomic_path(self.file(LOG)) as tmp:
            tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in kept))
