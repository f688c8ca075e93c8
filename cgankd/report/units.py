"""Units and names of the reported metrics, for table headers and plot axes."""

from __future__ import annotations

# The unit of a regression preset's labels (and so of its MAE).
REGRESSION_UNITS = {"steeringangle": "degrees", "rotated-fashion-mnist": "degrees", "rotated-fashion-mnist-45": "degrees", "utkface": "years"}


def metric_unit(metric: str, preset: str | None) -> str:
    """'%' for accuracy; the label unit of a regression preset ('label units' when it is not known)."""
    if metric == "acc":
        return "%"
    return REGRESSION_UNITS.get(preset or "", "label units")


def metric_title(metric: str, preset: str | None, split: str = "test", error: bool = False) -> str:
    """E.g. 'test top-1 accuracy (%)', 'test error, 100 − top-1 accuracy (%)', 'test MAE (degrees)'."""
    if metric != "acc":
        return f"{split} MAE ({metric_unit(metric, preset)})"
    if error:
        return f"{split} error, 100 − top-1 accuracy (%)"
    return f"{split} top-1 accuracy (%)"


def seeds_text(n: int) -> str:
    """'1 seed', '3 seeds'."""
    return f"{n} seed" if n == 1 else f"{n} seeds"


def seed_range_text(counts: list[int]) -> str:
    """'3 seeds' when all counts agree, else '1–3 seeds'."""
    low, high = min(counts), max(counts)
    return seeds_text(low) if low == high else f"{low}–{high} seeds"
