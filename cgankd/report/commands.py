"""`cgankd report RUNS_DIR... [--out DIR]`: the flat table of every arm (results.md, results.csv),
a bar plot per student, the tables in the shape of the paper's (paper_tables.md, a CSV per
table) and, where the runs hold such arms, the ablation and error-vs-NFAKE plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..common.files import atomic_path, check_output_dir
from .families import ablations, nfake_sweeps
from .layout import column_of
from .paper_tables import ablation_table, classification_tables, regression_tables, section_title
from .plots import ablation_plot, metric_bars, nfake_plot
from .tables import ArmSummary, find_runs, markdown_table, method_names, summarize, write_csv

_INTRO = """# Results in the shape of the paper's tables

Measured here: the last epoch's test metric of each run, mean ± std over seeds, with the seed
count in every cell. A number marked "paper" is the paper's published result (its table named
under each table), never a measurement of this project; "≈" marks one read off the paper's plots.
Every arm is a row or column of its own: arms that differ in any setting are never merged.
"""


def _sections(rows: list[ArmSummary]) -> dict[tuple[str, str | None], list[ArmSummary]]:
    sections: dict[tuple[str, str | None], list[ArmSummary]] = {}
    for row in rows:
        sections.setdefault((row.dataset, row.preset), []).append(row)
    return sections


def _slug(dataset: str, preset: str | None, sections: dict) -> str:
    shared = sum(key[0] == dataset for key in sections) > 1
    return f"{dataset}_{preset}" if shared and preset else dataset


def _section(arms: list[ArmSummary], slug: str, out: Path, names: dict[str, str]) -> list[str]:
    """One dataset's tables (their CSV files written) and sweep plots, as markdown lines."""
    lines = []
    for metric in dict.fromkeys(a.metric for a in arms):
        group = [a for a in arms if a.metric == metric]
        tables = classification_tables(group, names) if metric == "acc" else regression_tables(group, names)
        sweeps = ablations(group, names)
        if sweeps:
            tables.append(ablation_table(sweeps))
        for table in tables:
            table.write_csv(out / f"paper_{table.name}_{slug}.csv")
            lines += [table.markdown(), f"CSV: `paper_{table.name}_{slug}.csv`", ""]
        if sweeps:
            ablation_plot(sweeps, out / f"{slug}_ablation.png", f"{slug}: ablation of the fakes' processing")
            lines += [f"![ablation]({slug}_ablation.png)", ""]
        nfake = nfake_sweeps(group, names)
        if nfake:
            nfake_plot(nfake, out / f"{slug}_nfake.png", f"{slug}: error vs NFAKE")
            lines += [f"![error vs NFAKE]({slug}_nfake.png)", ""]
    return lines


def write_paper_tables(rows: list[ArmSummary], out: Path) -> str:
    """paper_tables.md (returned too), its CSV files and the sweep plots."""
    names = method_names()
    sections = _sections(rows)
    lines = [_INTRO]
    for (dataset, preset), arms in sections.items():
        lines += [f"## {section_title(dataset, preset)}", ""]
        lines += _section(arms, _slug(dataset, preset, sections), out, names)
    text = "\n".join(lines)
    with atomic_path(out / "paper_tables.md") as tmp:
        tmp.write_text(text)
    return text


def report(args: argparse.Namespace) -> int:
    out = check_output_dir(args.out)
    rows = summarize(find_runs(args.runs))
    table = markdown_table(rows)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(table)
    write_csv(rows, out / "results.csv")
    names = method_names()
    for (dataset, arch) in dict.fromkeys((r.dataset, r.arch) for r in rows):
        group = [r for r in rows if (r.dataset, r.arch) == (dataset, arch)]
        group.sort(key=lambda r: column_of(r.identity, names).order)
        metric_bars(group, out / f"{dataset}_{arch}.png", f"{dataset}: {arch}")
    write_paper_tables(rows, out)
    print(table)
    print(f"tables and plots in {out} (paper-shaped tables in {out / 'paper_tables.md'})")
    return 0
