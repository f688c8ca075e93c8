"""Read finished runs (config.json + metrics.json) and summarise them over seeds.

Runs are grouped by dataset, student and arm identity (`cgankd.arms`, recorded in each run's
config.json): two runs share a row only when they differ in nothing but their seed. The reported
value is the last epoch's test metric (never a test-selected best).
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..arms import arm_key, distinct_labels
from ..common.errors import UserError
from ..common.files import atomic_path
from ..distill import display_name, distiller_names


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

    @property
    def identity(self) -> dict:
        return self.config["arm"]

    @property
    def dataset(self) -> str:
        return Path(self.config["data"]).stem


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        print(f"warning: skipping {path.parent}: {path.name} cannot be read ({err})", file=sys.stderr)
        return None
    return value if isinstance(value, dict) else None


def find_runs(paths: Iterable[str | Path]) -> list[RunResult]:
    """Every finished student run (a folder with metrics.json and config.json) under the given paths.
    A run whose files cannot be read, or that records no arm identity, is skipped with a warning."""
    paths = list(paths)
    runs = []
    for root in map(Path, paths):
        if not root.exists():
            raise UserError(f"{root}: no such folder")
        for metrics_file in sorted(root.rglob("metrics.json")):
            config_file = metrics_file.with_name("config.json")
            if not config_file.exists():
                continue
            metrics, config = _read_json(metrics_file), _read_json(config_file)
            if metrics is None or config is None or "metric" not in metrics:   # e.g. a GAN's metrics
                continue
            if "arm" not in config or f"test_{metrics['metric']}" not in metrics:
                print(f"warning: skipping {metrics_file.parent}: it records no arm identity or no test metric "
                      "(made by an older version?)", file=sys.stderr)
                continue
            runs.append(RunResult(metrics_file.parent, config, metrics))
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
    identity: dict = field(default_factory=dict)
    runs: list[Path] = field(default_factory=list)
    config: dict = field(default_factory=dict)    # the first run's config.json

    @property
    def kind(self) -> str:
        return self.identity.get("kind", "")

    @property
    def preset(self) -> str | None:
        return self.config.get("preset") or (self.identity.get("data") or {}).get("preset")

    @property
    def key(self) -> str:
        return arm_key(self.identity)

    @property
    def errors(self) -> list[float]:
        """Per-seed error: 100 − accuracy (%), or the MAE itself."""
        return [100.0 - v for v in self.values] if self.metric == "acc" else list(self.values)

    @property
    def mean(self) -> float:
        return statistics.mean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    def cell(self) -> str:
        return f"{self.mean:.2f} ± {self.std:.2f}" if len(self.values) > 1 else f"{self.mean:.2f}"


def method_names() -> dict[str, str]:
    """KD method -> its table name, from the distiller registry."""
    return {name: display_name(name) for name in distiller_names()}


def summarize(runs: list[RunResult]) -> list[ArmSummary]:
    """One row per (dataset, student, arm identity), in the order the runs were found."""
    groups: dict[tuple, list[RunResult]] = {}
    for run in runs:
        groups.setdefault((run.dataset, run.config["arch"], arm_key(run.identity), run.metric), []).append(run)
    keys = list(groups)
    names = method_names()
    labels: dict[tuple, str] = {}
    for dataset, arch in dict.fromkeys((k[0], k[1]) for k in keys):
        mine = [k for k in keys if k[:2] == (dataset, arch)]
        labels.update(zip(mine, distinct_labels([groups[k][0].identity for k in mine], names)))
    return [ArmSummary(key[0], key[1], labels[key], key[3], values=[r.value for r in group],
                       wall_time_s=sum(r.metrics.get("wall_time_s", 0.0) for r in group),
                       identity=group[0].identity, runs=[r.path for r in group], config=group[0].config)
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
