"""`cgankd report RUNS_DIR... [--out DIR]`."""

from __future__ import annotations

import argparse

from ..common.files import atomic_path, check_output_dir
from .plots import metric_bars
from .tables import find_runs, markdown_table, summarize, write_csv


def report(args: argparse.Namespace) -> int:
    out = check_output_dir(args.out)
    rows = summarize(find_runs(args.runs))
    table = markdown_table(rows)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(table)
    write_csv(rows, out / "results.csv")
    for (dataset, arch) in dict.fromkeys((r.dataset, r.arch) for r in rows):
        group = [r for r in rows if (r.dataset, r.arch) == (dataset, arch)]
        metric_bars(group, out / f"{dataset}_{arch}.png", f"{dataset}: {arch}")
    print(table)
    print(f"tables and plots in {out}")
    return 0
