"""Plots for reports: per-arm metric bars, the paper's ablation bars and error vs NFAKE, and
image grids. Axes carry units; accuracy and error axes stay within 0–100 %, MAE axes above 0;
figures grow with the number of arms so that labels never overlap."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from ..common.files import atomic_path  # noqa: E402
from . import paper_results as paper  # noqa: E402
from .families import Ablation, NfakeSweep, Point  # noqa: E402
from .paper_results import ABLATION_STEPS  # noqa: E402
from .paper_tables import paper_setting_sweep  # noqa: E402
from .tables import ArmSummary  # noqa: E402
from .units import metric_title, seed_range_text, seeds_text  # noqa: E402

_KIND_COLOURS = {"nokd": "#9e9e9e", "kd": "#e0a458", "finetune": "#b39ddb", "control": "#90caf9",
                 "extra_real": "#a5d6a7", "cgankd": "#1f77b4"}
_STEP_COLOURS = ("#c6dbef", "#6baed6", "#3182bd", "#08519c")


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def axis_limits(values: Iterable[float], bounded: bool, from_zero: bool = False) -> tuple[float, float]:
    """Limits around `values` with some room, never below 0 and, for a percentage (`bounded`),
    never above 100."""
    values = [v for v in values if math.isfinite(v)]
    low, high = min(values), max(values)
    pad = max((high - low) * 0.25, abs(high) * 0.02, 1e-3)
    low = 0.0 if from_zero else max(0.0, low - pad)
    high = high + pad
    return low, min(100.0, high) if bounded else high


def _spread(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def metric_bars(rows: list[ArmSummary], path: str | Path, title: str, split: str = "test") -> None:
    """One horizontal bar per arm (mean over seeds), each seed as a dot, whisker = std; the arm's
    name and seed count beside its bar, its mean ± std at the bar's end."""
    # A no-break space keeps "1 seed" on one line.
    labels = [textwrap.fill(f"{r.arm} ({seeds_text(len(r.values)).replace(' ', chr(0xA0))})", 60) for r in rows]
    height = 1.2 + sum(0.22 * (label.count("\n") + 1) + 0.12 for label in labels)
    fig, ax = plt.subplots(figsize=(10, height))
    y = np.arange(len(rows))
    means, stds = [float(np.mean(r.values)) for r in rows], [_spread(r.values) for r in rows]
    ax.barh(y, means, xerr=stds, capsize=3, height=0.6, edgecolor="#345",
            color=[_KIND_COLOURS.get(r.kind, "#8fb3d9") for r in rows])
    for i, r in enumerate(rows):
        ax.plot(r.values, np.full(len(r.values), i), "k.", alpha=0.7)
    low, high = axis_limits([v for r in rows for v in r.values] + [m + s for m, s in zip(means, stds)]
                            + [m - s for m, s in zip(means, stds)], bounded=rows[0].metric == "acc")
    room = (high - low) * 0.15           # space for the value text at the bar ends
    ax.set_xlim(low, min(100.0, high + room) if rows[0].metric == "acc" else high + room)
    for i, (m, s) in enumerate(zip(means, stds)):
        ax.text(max(m + s, max(rows[i].values)) + (high - low) * 0.01, i,
                f"{m:.2f}" + (f" ± {s:.2f}" if len(rows[i].values) > 1 else ""), va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(metric_title(rows[0].metric, rows[0].preset, split))
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def _ablation_bars(sweep: Ablation) -> list[tuple[str, str, list[float], float | None]]:
    """(step, label, errors, the paper's ≈ value) of one sweep's bars, NOKD first; the paper's
    values only for a sweep run in its setting."""
    shows_paper = paper_setting_sweep(sweep)

    def known(step: str) -> float | None:
        value = paper.ablation(sweep.first.preset, sweep.arch, step) if shows_paper else None
        return value.value if value else None
    out = [("NOKD", "NOKD", sweep.nokd.errors, known("NOKD"))] if sweep.nokd is not None else []
    return out + [(bar.step, bar.label, bar.arm.errors, known(bar.step)) for bar in sweep.bars]


def _step_colour(step: str, others: list[str]) -> str:
    if step == "NOKD":
        return _KIND_COLOURS["nokd"]
    if step in ABLATION_STEPS:
        return _STEP_COLOURS[ABLATION_STEPS.index(step)]
    return plt.get_cmap("Oranges")(0.4 + 0.5 * others.index(step) / max(len(others), 1))


def _draw_group(ax, centre: int, group: list, width: float, others: list[str], legend: set[str]) -> None:
    """One student's bars around x = `centre`; each legend entry is drawn once (kept in `legend`)."""
    for b, (step, label, values, known) in enumerate(group):
        x = centre + (b - (len(group) - 1) / 2) * width
        ax.bar(x, np.mean(values), width * 0.9, yerr=_spread(values), capsize=3, edgecolor="#345",
               color=_step_colour(step, others), label=None if label in legend else label)
        legend.add(label)
        ax.plot(np.full(len(values), x), values, "k.", alpha=0.6)
        if known is not None:
            paper_label = "the paper (≈, read off its plot)"
            ax.plot(x, known, "x", color="#d62728", markersize=8, mew=2,
                    label=None if paper_label in legend else paper_label)
            legend.add(paper_label)


def ablation_plot(sweeps: list[Ablation], path: str | Path, title: str) -> None:
    """Grouped bars per student: error (100 − accuracy, or MAE) of NOKD and each processing step,
    whiskers = std, dots = seeds, crosses = the paper's values (≈, read off its plot)."""
    groups = [_ablation_bars(sweep) for sweep in sweeps]
    others = [s for s in dict.fromkeys(step for group in groups for step, _, _, _ in group)
              if s != "NOKD" and s not in ABLATION_STEPS]
    n_bars = sum(len(group) for group in groups)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 + n_bars * 0.55 + len(groups) * 0.4), 4.6))
    legend: set[str] = set()
    for centre, group in enumerate(groups):
        _draw_group(ax, centre, group, 0.8 / max(len(g) for g in groups), others, legend)
    heights = [v for group in groups for _, _, values, known in group for v in values + ([known] if known else [])]
    first = sweeps[0].first
    ax.set_ylim(*axis_limits(heights, bounded=first.metric == "acc", from_zero=True))
    ax.set_xticks(range(len(groups)), [textwrap.fill(s.name, 22) for s in sweeps], fontsize=8)
    ax.set_ylabel(metric_title(first.metric, first.preset, error=True))
    counts = [len(values) for group in groups for _, _, values, _ in group]
    ax.set_title(f"{title} (bars: mean over {seed_range_text(counts)})", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def _line(ax, points: list[Point], style: str, colour: str, label: str) -> list[float]:
    """A series over NFAKE (mean ± std per point); one point becomes a horizontal line, labelled
    with its count (`{n}` in `label`)."""
    means = [float(np.mean(p.arm.errors)) for p in points]
    stds = [_spread(p.arm.errors) for p in points]
    if len(points) == 1:
        n = points[0].n
        ax.axhline(means[0], linestyle=style, color=colour, label=label.format(n=f"{n:,}" if n else "the"))
    else:
        ax.errorbar([p.n for p in points], means, yerr=stds, fmt=style + "o", color=colour, capsize=3,
                    markersize=4, label=label.format(n="NFAKE"))
    return [m + s for m, s in zip(means, stds)] + [m - s for m, s in zip(means, stds)]


def nfake_plot(sweeps: list[NfakeSweep], path: str | Path, title: str) -> None:
    """One panel per sweep: error (100 − accuracy, or MAE) of cGAN-KD over NFAKE, with NOKD, the
    real-only control and + extra real as horizontal lines (or lines, when run at several counts)."""
    cols = min(3, len(sweeps))
    rows = math.ceil(len(sweeps) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat[len(sweeps):]:
        ax.axis("off")
    for ax, sweep in zip(axes.flat, sweeps):
        _nfake_panel(ax, sweep)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    _save(fig, path)


def _nfake_panel(ax, sweep: NfakeSweep) -> None:
    first = sweep.first
    points = [p for p in sweep.points if p.n]
    spans = _line(ax, points, "-", _KIND_COLOURS["cgankd"], "cGAN-KD")
    if sweep.nokd is not None:
        spans += _line(ax, [Point(None, sweep.nokd)], "-", "#555555", "NOKD")
    if sweep.controls:
        spans += _line(ax, sweep.controls, "--", "#1565c0", "control (real only, same steps as {n} fakes)")
    if sweep.extra_real:
        spans += _line(ax, sweep.extra_real, ":", "#2e7d32", "+ extra real ({n} real images)")
    ax.set_ylim(*axis_limits(spans, bounded=first.metric == "acc"))
    ax.set_xlabel("NFAKE (fakes the student sees)")
    ax.set_ylabel(metric_title(first.metric, first.preset, error=True))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    counts = [len(p.arm.values) for p in sweep.points]
    ax.set_title(f"{sweep.name} ({seed_range_text(counts)})", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def image_grid(images: np.ndarray, labels: list[str], path: str | Path, title: str, per_row: int = 10) -> None:
    """uint8 N x C x H x W images in rows of `per_row`, each row titled by its label."""
    rows = int(np.ceil(len(images) / per_row))
    fig, axes = plt.subplots(rows, per_row, figsize=(per_row * 0.8, rows * 0.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (image, label) in enumerate(zip(images, labels)):
        ax = axes.flat[i]
        pic = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        ax.imshow(pic, cmap="gray" if image.shape[0] == 1 else None, vmin=0, vmax=255)
        ax.set_title(label, fontsize=6)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
