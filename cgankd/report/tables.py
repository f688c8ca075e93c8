"""Read finished runs (config.json + metrics.json) and summarise them over seeds.

Runs are grouped by dataset, student and arm; the arm is named from what the run did:
NOKD, control (an --init run on real data only), a KD method, cGAN-KD, cGAN-KD + method.
The reported value is the last epoch's test metric (never a test-selected best).
"""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..common.errors import UserError
from ..common.files import atomic_path
from ..distill import display_name


@dataclass
class RunResult:
    path: Path
    config: dict
    metrics: dict

    @property
    def metric(self) -> str:
        return self.metrics["metric"]

    @property
    def value(self) -> float:
        return float(self.metrics[f"test_{self.metric}"])


def arm_name(config: dict) -> str:
    method = display_name(config["distill"]) if config.get("distill") else None
    if config.get("fake"):
        return "cGAN-KD" + (f" + {method}" if method else "")
    real_only = " (real only, same steps)" if config.get("same_steps_as") else ""
    if method:
        return method + real_only
    if config.get("init"):
        return "control" + (real_only or " (real only, same schedule)")
    return "NOKD"


def find_runs(paths: Iterable[str | Path]) -> list[RunResult]:
    """Every finished run (a folder with metrics.json and config.json) under the given paths."""
    runs = []
    for root in map(Path, paths):
        if not root.exists():
            raise UserError(f"{root}: no such folder")
        for metrics_file in sorted(root.rglob("metrics.json")):
            config_file = metrics_file.with_name("config.json")
            if not config_file.exists():
                continue
            metrics = json.loads(metrics_file.read_text())
            if "metric" not in metrics:        # not a student run (e.g. a GAN's metrics)
                continue
            runs.append(RunResult(metrics_file.parent, json.loads(config_file.read_text()), metrics))
    if not runs:
        raise UserError(f"no finished student runs (metrics.json + config.json) under {', '.join(map(str, paths))}")
    return runs


@dataclass
class ArmSummary:
    dataset: str
    arch: str
    arm: str
    metric: str
    values: list[float]
    wall_time_s: float

    @property
    def mean(self) -> float:
        return statistics.mean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    def cell(self) -> str:
        return f"{self.mean:.2f} ± {self.std:.2f}" if len(self.values) > 1 else f"{self.mean:.2f}"


def summarize(runs: list[RunResult]) -> list[ArmSummary]:
    groups: dict[tuple, list[RunResult]] = {}
    for run in runs:
        key = (Path(run.config["data"]).stem, run.config["arch"], arm_name(run.config), run.metric)
        groups.setdefault(key, []).append(run)
    return [ArmSummary(*key, values=[r.value for r in group],
                       wall_time_s=sum(r.metrics.get("wall_time_s", 0.0) for r in group))
            for key, group in groups.items()]


def markdown_table(rows: list[ArmSummary]) -> str:
    lines = ["| dataset | student | arm | metric | mean ± std | seeds | wall time (s) |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.dataset} | {r.arch} | {r.arm} | test {r.metric} | {r.cell()} | {len(r.values)} | "
              f"{r.wall_time_s:.0f} |" for r in rows]
    return "\n".join(lines) + "\n"


def write_csv(rows: list[ArmSummary], path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset", "student", "arm", "metric", "mean", "std", "seeds", "values", "wall_time_s"])
        for r in rows:
            writer.writerow([r.dataset, r.arch, r.arm, r.metric, f"{r.mean:.4f}", f"{r.std:.4f}", len(r.values),
                             " ".join(f"{v:.4f}" for v in r.values), f"{r.wall_time_s:.1f}"])
