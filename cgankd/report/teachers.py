"""Which teacher a KD arm used, read from run folders.

An arm's identity holds the teacher checkpoint's content fingerprint; the run's config.json holds
the path it was given (`inputs.teacher.path`, as typed, so perhaps relative to where training
ran). A file found at that path counts only when its fingerprint is the recorded one; the
teacher run's own config.json (beside its model.pt) then names its architecture, and its
metrics.json its test metric.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..common.files import file_fingerprint
from .tables import ArmSummary


@dataclass(frozen=True)
class Teacher:
    fingerprint: str
    arch: str | None          # None when the teacher's run folder was not found
    path: str | None          # as recorded in the student's config.json
    test_value: float | None  # the teacher run's own test metric, when found

    @property
    def name(self) -> str:
        return self.arch or self.path or f"teacher {self.fingerprint[:8]}"


def _candidates(recorded: str, run_dir: Path) -> list[Path]:
    path = Path(recorded)
    if path.is_absolute():
        return [path]
    return [path] + [ancestor / path for ancestor in run_dir.absolute().parents]


@cache
def _fingerprint(path: Path) -> str | None:
    try:
        return file_fingerprint(path)
    except OSError:
        return None


def _read(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def teacher_of(arm: ArmSummary) -> Teacher | None:
    """The teacher of a KD arm (None for an arm without one)."""
    fingerprint = arm.identity.get("teacher")
    if not fingerprint:
        return None
    recorded = ((arm.config.get("inputs") or {}).get("teacher") or {}).get("path")
    if recorded and arm.runs:
        for candidate in _candidates(recorded, Path(arm.runs[0])):
            if candidate.exists() and _fingerprint(candidate.absolute()) == fingerprint:
                folder = candidate if candidate.is_dir() else candidate.parent
                config, metrics = _read(folder / "config.json"), _read(folder / "metrics.json")
                value = metrics.get(f"test_{metrics.get('metric')}")
                return Teacher(fingerprint, config.get("arch"), recorded,
                               float(value) if isinstance(value, (int, float)) else None)
    return Teacher(fingerprint, None, recorded, None)
