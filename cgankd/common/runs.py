"""Run folders (docs/formats.md): config.json, log.jsonl, last.pt, metrics.json.

Every stage that trains something (students, GANs, density-ratio models) writes one. In a DDP run
only rank 0 writes (every process may read).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from .distributed import is_main_process
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


def setting_differences(stored: dict[str, Any], new: dict[str, Any], ignore: set[str] = frozenset(),
                        prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(key, stored value, new value) for every setting that differs, nested dicts walked key by key."""
    diffs = []
    for key in sorted(set(stored) | set(new)):
        if key in ignore or prefix + key in ignore:
            continue
        a, b = stored.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += setting_differences(a, b, ignore, f"{prefix}{key}.")
        elif _canonical(a) != _canonical(b):
            diffs.append((prefix + key, a, b))
    return diffs


def _canonical(value: Any) -> str:
    """JSON text of a value, as config.json stores it (tuples become lists, numbers compare by value)."""
    return json.dumps(value, sort_keys=True, default=str)


def check_same_settings(where: str | Path, stored: dict[str, Any], new: dict[str, Any],
                        ignore: set[str] = frozenset(), action: str = "resume it") -> None:
    """Refuse to reuse or resume work made with other settings: one line naming each key and both values."""
    diffs = setting_differences(stored, new, ignore)
    if diffs:
        shown = "; ".join(f"{k}: {_short(a)} there, {_short(b)} now" for k, a, b in diffs[:6])
        more = f" (+{len(diffs) - 6} more)" if len(diffs) > 6 else ""
        raise UserError(f"{where} was made with other settings, so this command cannot {action}: {shown}{more}; "
                        "use another output or delete it")


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def environment() -> dict[str, str]:
    return {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}


class RunDir:
    """One run's folder. `resume=False` refuses to overwrite a finished or started run. `writes`:
    whether this process writes the folder (rank 0 of a DDP run; the other ranks' writes are no-ops)."""

    def __init__(self, path: str | Path, resume: bool = False):
        self.path = Path(path)
        self.resume = resume
        self.writes = is_main_process()

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoint(self) -> Path:
        return self.file(CHECKPOINT)

    def has_checkpoint(self) -> bool:
        return self.checkpoint.exists()

    def stored_config(self) -> dict[str, Any]:
        try:
            return json.loads(self.file(CONFIG).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"{self.file(CONFIG)}: cannot be read ({err}); delete {self.path} to start again") \
                from None

    def check(self, settings: dict[str, Any], free: frozenset[str] = frozenset()) -> bool:
        """Before any work: True when this folder holds a run to resume, made with `settings` (keys in
        `free` may differ); a run made otherwise, or any run without --resume, is refused."""
        if not self.file(CONFIG).exists():
            return False
        if not self.resume:
            raise UserError(f"{self.path} already holds a run; pass --resume to continue it or choose another --out")
        stored = self.stored_config()
        check_same_settings(self.path, {k: stored.get(k) for k in settings}, settings, ignore=free)
        return True

    def start(self, config: dict[str, Any], replace: bool = False) -> None:
        """Create the folder and write config.json (`check` first). When resuming, the first config is
        kept, unless `replace` (settings free to change, such as a GAN's iterations, were changed)."""
        if not self.writes:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if self.resume and self.file(CONFIG).exists() and not replace:
            return
        write_json(self.file(CONFIG), {**config, "git_commit": git_commit(), "environment": environment()})

    def log(self, record: dict[str, Any]) -> None:
        if self.writes:
            append_jsonl(self.file(LOG), record)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        if self.writes:
            save_torch(self.checkpoint, state)

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """last.pt; a truncated or corrupt file is one clear error, not a traceback."""
        try:
            state = torch.load(self.checkpoint, map_location=map_location, weights_only=False)
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is reported the same way
            raise UserError(f"{self.checkpoint}: cannot be read ({type(err).__name__}); it is damaged or "
                            f"truncated: delete it to restart the run from the beginning") from None
        if not isinstance(state, dict):
            raise UserError(f"{self.checkpoint}: not a checkpoint of this run (a {type(state).__name__})")
        return state

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        if self.writes:
            write_json(self.file(METRICS), metrics)

    def read_log(self) -> list[dict[str, Any]]:
        if not self.file(LOG).exists():
            return []
        return [json.loads(line) for line in self.file(LOG).read_text().splitlines() if line.strip()]

    def truncate_log(self, keep_until: int, key: str = "epoch") -> None:
        """On resume, drop log lines written after the checkpoint (a crash between log and save)."""
        if not self.writes:
            return
        kept = [r for r in self.read_log() if r.get(key, 0) <= keep_until]
        with atomic_path(self.file(LOG)) as tmp:
            tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in kept))
