"""Which dataset preset a command uses: the one named by --preset, or the one a prepared file
declares in its `preset` attribute (written by `cgankd data prepare`). Never a guess from a file
name: a file that declares none gets the generic recipe, and the command says so."""

from __future__ import annotations

from pathlib import Path

from ..presets import get_preset, preset_key
from .h5 import dataset_attrs


def choose_preset(data: str | Path, given: str | None) -> tuple[str | None, str]:
    """(preset name or None, how it was chosen: a sentence for the log and config.json)."""
    if given:
        return preset_key(given), f"preset {preset_key(given)} (--preset)"
    declared = dataset_attrs(data).get("preset")
    if declared:
        get_preset(str(declared))   # an unknown name in a file is an error, not a silent fallback
        return preset_key(str(declared)), f"preset {preset_key(str(declared))} (declared by {Path(data).name})"
    return None, (f"no preset: {Path(data).name} declares none and no --preset was given, so the generic "
                  "settings apply (pass --preset NAME for a dataset's recipe)")
