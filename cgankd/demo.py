"""`cgankd demo`: the pipeline on the embedded datasets, end to end on a CPU.

Stages (each a run folder under --out, reused when the demo runs again):
  1. data     - Fashion-MNIST and Rotated Fashion-MNIST as h5 files
  2. teacher  - a NOKD teacher per task
  3. students - NOKD students per task and seed
A results table (markdown + CSV) is written to --out and printed at the end.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common.files import atomic_path
from .data.prepare import prepare as prepare_dataset
from .train.config import recipe_config
from .train.loop import fit

DATA_DIR = Path("datasets/FashionMNIST")
DATASETS = {"fashion-mnist": "FashionMNIST_28x28.h5", "rotated-fashion-mnist": "RotatedFashionMNIST_28x28.h5"}


@dataclass(frozen=True)
class DemoSize:
    """How big each stage is; --quick shrinks everything to a smoke run."""
    teacher_arch: str = "resnet20"
    student_arch: str = "resnet8"
    teacher_epochs: int = 15
    student_epochs: int = 15
    subset: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)


QUICK = DemoSize(teacher_epochs=1, student_epochs=1, subset=2000, seeds=(0,))


@dataclass
class StageClock:
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, fn, *args, **kw):
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        result = fn(*args, **kw)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
        return result


def _train(data: Path, arch: str, out: Path, epochs: int, seed: int, size: DemoSize, device: str) -> dict:
    return fit(recipe_config(str(data), arch, str(out), epochs=epochs, seed=seed, subset=size.subset,
                             device=device, resume=True))


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def run(args: argparse.Namespace) -> int:
    size = QUICK if args.quick else DemoSize()
    out = Path(args.out)
    clock = StageClock()
    rows = []
    for name, file in DATASETS.items():
        data, _ = clock.run(f"data: {name}", prepare_dataset, name, DATA_DIR)
        teacher = clock.run(f"teacher: {name}", _train, data, size.teacher_arch, out / name / "teacher",
                            size.teacher_epochs, 0, size, args.device)
        students = [clock.run(f"student NOKD seed {s}: {name}", _train, data, size.student_arch,
                              out / name / f"nokd_seed{s}", size.student_epochs, s, size, args.device)
                    for s in size.seeds]
        key = "test_acc" if "test_acc" in teacher else "test_mae"
        rows.append({"dataset": name, "metric": key, "teacher": f"{teacher[key]:.2f}",
                     "NOKD student": _mean_std([m[key] for m in students])})
    _write_table(out, rows, clock)
    return 0


def _write_table(out: Path, rows: list[dict], clock: StageClock) -> None:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows]
    lines += ["", "| stage | wall time (s) |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in clock.seconds.items()]
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(out / "results.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    print("\n" + "\n".join(lines))
