"""Tables in the shape of the paper's: Table 3 (students: NOKD vs cGAN-KD), Tables 4–6 (teacher ->
student pairs: KD methods, cGAN-KD, cGAN-KD + KD), Table 7 (regression MAE) and the ablation.

Measured cells are mean ± std over seeds with the seed count. The paper's published number sits
beside a cell, labelled "paper", only where the arm ran in the paper's setting (for fakes:
cDR-RS and filtering, mixed into the real set; default KD settings). Controls and + extra real
arms are columns of their own.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..common.files import atomic_path
from . import paper_results as paper
from .families import Ablation, steps_of
from .layout import Column, Row, build_rows, table_columns, variant_key
from .paper_results import ABLATION_STEPS, PAPER_DATASETS, PaperValue
from .tables import ArmSummary
from .teachers import Teacher, teacher_of
from .units import metric_title, seeds_text

# Columns every table of the paper has, shown even when no run fills them.
_REQUIRED = (Column("nokd", None, "", "NOKD"), Column("cgankd", None, "", "cGAN-KD"))
# title of a column -> the paper's number for it (or None); bound to one row's student (and teacher).
Lookup = Callable[[str], PaperValue | None]


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    paper: PaperValue | None = None

    def text(self) -> str:
        """'71.29 ± 0.12 (3 seeds; paper 72.25)', '70.10 (1 seed)', '– (paper 68.83)', '–'."""
        notes = ([seeds_text(len(self.values))] if self.values else []) + ([self.paper.text()] if self.paper else [])
        if not self.values:
            return "–" + (f" ({notes[0]})" if notes else "")
        spread = f" ± {statistics.stdev(self.values):.2f}" if len(self.values) > 1 else ""
        return f"{statistics.mean(self.values):.2f}{spread} ({'; '.join(notes)})"

    def csv_fields(self) -> list[str]:
        """mean, std, seeds, paper ('≈' marks a value read off a plot)."""
        paper_text = self.paper.number() if self.paper else ""
        if not self.values:
            return ["", "", "0", paper_text]
        std = statistics.stdev(self.values) if len(self.values) > 1 else 0.0
        return [f"{statistics.mean(self.values):.4f}", f"{std:.4f}", str(len(self.values)), paper_text]


@dataclass
class PaperTable:
    name: str                       # file stem: table3, tables4-6, table7, ablation
    title: str
    row_header: str
    columns: list[str]
    rows: list[tuple[str, list[Cell]]]
    note: str

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", f"| {self.row_header} | " + " | ".join(self.columns) + " |",
                 "|---" * (len(self.columns) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(cell.text() for cell in cells) + " |" for label, cells in self.rows]
        return "\n".join(lines + ["", self.note, ""])

    def write_csv(self, path: str | Path) -> None:
        head = [self.row_header] + [f"{c} {part}" for c in self.columns for part in ("mean", "std", "seeds", "paper")]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(head)
            writer.writerows([label] + [x for cell in cells for x in cell.csv_fields()] for label, cells in self.rows)


def paper_setting(arm: ArmSummary) -> bool:
    """Whether an arm ran as the paper's did: default KD settings and, with fakes, cDR-RS-subsampled,
    filtered fakes (relabelled by the teacher, for regression) entering training as one shuffled set
    with the real images."""
    if arm.identity.get("distill_settings"):
        return False
    if arm.kind in ("nokd", "kd"):
        return True
    fakes = arm.identity.get("fakes") or {}
    subsampled, filtered, relabelled = steps_of(fakes)
    return (arm.kind == "cgankd" and fakes.get("origin") == "gan" and subsampled and filtered
            and (relabelled or arm.metric == "acc") and default_mixing(arm.identity))


def default_mixing(identity: dict) -> bool:
    """Fakes mixed into the real set as one shuffled set, each weighing as much as a real image."""
    mixing = identity.get("mixing") or {}
    return (not mixing.get("fake_only") and mixing.get("fake_weight", 1.0) == 1.0 and mixing.get("fake_share") is None
            and not mixing.get("aux_bn") and not mixing.get("bn_recalibrate"))


def _cells(row: Row, columns: list[Column], lookup: Lookup) -> list[Cell]:
    """One row's cells. Paper numbers go beside arms in the paper's setting, and into the empty cells
    of a row that is the paper's setting (its only row, or its cGAN-KD arm in the paper's setting)."""
    row_is_paper = not row.label or any(paper_setting(a) for a in row.cells.values() if a.kind == "cgankd")
    cells = []
    for column in columns:
        arm = row.cells.get(column)
        shows_paper = paper_setting(arm) if arm is not None else row_is_paper
        cells.append(Cell(list(arm.values) if arm else [], lookup(column.title) if shows_paper else None))
    return cells


def _note(sources: str | None, columns: Sequence[str] = ()) -> str:
    text = "Cells: mean ± std over seeds of the last epoch's test metric, with the seed count."
    if any(c.startswith(("control", "+ extra real")) for c in columns):
        text += (" control: real data only, as many steps as the cGAN-KD run; + extra real: held-out real images "
                 "in place of the fakes.")
    if sources:
        text += (f' "paper N": the paper\'s published number ({sources}), not measured here, beside arms run in '
                 'the paper\'s setting; "≈" marks a value read off one of its plots.')
    return text


def _by_student(arms: list[ArmSummary]) -> dict[str, list[ArmSummary]]:
    out: dict[str, list[ArmSummary]] = {}
    for arm in arms:
        out.setdefault(arm.arch, []).append(arm)
    return out


def _pair_label(student: str, row: Row, teacher: str | None = None) -> str:
    pair = f"{teacher} → {student}" if teacher else student
    return f"{pair}; {row.label}" if row.label else pair


def student_rows(arms: list[ArmSummary], names: dict[str, str]) -> list[tuple[str, Row]]:
    """(student, row): every arm without a KD teacher, one row per student and fake-set variant."""
    plain = [a for a in arms if not a.identity.get("teacher")]
    return [(student, row) for student, group in _by_student(plain).items() for row in build_rows(group, names)]


def pair_rows(arms: list[ArmSummary], names: dict[str, str]) -> list[tuple[str, Teacher, Row]]:
    """(student, teacher, row) per teacher -> student pair: a row per fake set the pair's KD arms
    used (one row when none did), with NOKD, cGAN-KD alone and the controls shared into it."""
    out = []
    for student, group in _by_student(arms).items():
        teachers = {a.identity["teacher"]: teacher_of(a) for a in group if a.identity.get("teacher")}
        for fingerprint, teacher in teachers.items():
            mine = [a for a in group if a.identity.get("teacher") in (None, fingerprint)]
            variants = [variant_key(a.identity) for a in mine
                        if a.identity.get("teacher") and a.kind in ("cgankd", "control")]
            rows = build_rows(mine, names, variants=variants, own_row=lambda a: bool(a.identity.get("teacher")))
            out += [(student, teacher, row) for row in rows
                    if any(a.identity.get("teacher") for a in row.cells.values())]
    return out


def teacher_labels(teachers: list[Teacher], preset: str | None) -> dict[str, str]:
    """Teacher fingerprint -> row name: architecture (a fingerprint added where two teachers share
    one), its measured test metric and the paper's."""
    labels = {}
    for t in teachers:
        name = t.name + (f" #{t.fingerprint[:6]}" if sum(u.name == t.name for u in teachers) > 1 else "")
        known = paper.teacher(preset, t.arch)
        notes = ([f"test {t.test_value:.2f}"] if t.test_value is not None else []) + ([known.text()] if known else [])
        labels[t.fingerprint] = name + (f" ({'; '.join(notes)})" if notes else "")
    return labels


def _table(name: str, title: str, row_header: str, rows: list[tuple[str, Row, Lookup]], sources: str) -> PaperTable:
    columns = table_columns([row for _, row, _ in rows], _REQUIRED)
    table_rows = [(label, _cells(row, columns, lookup)) for label, row, lookup in rows]
    has_paper = any(cell.paper for _, cells in table_rows for cell in cells)
    titles = [c.title for c in columns]
    return PaperTable(name, title, row_header, titles, table_rows, _note(sources if has_paper else None, titles))


def classification_tables(arms: list[ArmSummary], names: dict[str, str]) -> list[PaperTable]:
    """Table 3 shape (students) and Tables 4–6 shape (teacher -> student pairs), where arms fit."""
    preset, unit = arms[0].preset, metric_title("acc", arms[0].preset)
    tables = []
    students = student_rows(arms, names)
    if students:
        rows = [(_pair_label(s, row), row, lambda t, s=s: paper.table3(preset, s, t)) for s, row in students]
        tables.append(_table("table3", f"Table 3 shape: NOKD vs cGAN-KD per student — {unit}", "student", rows,
                             "the paper, Table 3"))
    pairs = pair_rows(arms, names)
    if pairs:
        labels = teacher_labels(list({t.fingerprint: t for _, t, _ in pairs}.values()), preset)
        rows = [(_pair_label(s, row, labels[t.fingerprint]), row,
                 lambda x, s=s, a=t.arch: paper.kd_table(preset, a, s, x)) for s, t, row in pairs]
        tables.append(_table("tables4-6", f"Tables 4–6 shape: KD methods and cGAN-KD + KD per teacher → student "
                              f"— {unit}", "teacher → student", rows, "the paper, Tables 4–6 and Table 3"))
    return tables


def regression_tables(arms: list[ArmSummary], names: dict[str, str]) -> list[PaperTable]:
    """Table 7 shape: students (and teacher -> student pairs for + KD arms), test MAE."""
    preset = arms[0].preset
    rows = [(_pair_label(s, row), row, lambda t, s=s: paper.table7(preset, s, t))
            for s, row in student_rows(arms, names)]
    pairs = pair_rows(arms, names)
    labels = teacher_labels(list({t.fingerprint: t for _, t, _ in pairs}.values()), preset)
    rows += [(_pair_label(s, row, labels[t.fingerprint]), row, lambda x, s=s: paper.table7(preset, s, x))
             for s, t, row in pairs]
    if not rows:
        return []
    header = "student (teacher → student)" if pairs else "student"
    return [_table("table7", f"Table 7 shape: NOKD vs cGAN-KD per student — {metric_title('mae', preset)}",
                   header, rows, "the paper, Table 7")]


def ablation_table(sweeps: list[Ablation]) -> PaperTable:
    """Rows = ablation sweeps (one or more; students), columns = NOKD and each processing step;
    error or MAE."""
    first = sweeps[0].first
    preset = first.preset
    labels = list(dict.fromkeys(bar.label for sweep in sweeps for bar in sweep.bars))
    order = {step: n for n, step in enumerate(ABLATION_STEPS)}
    steps = {bar.label: bar.step for sweep in sweeps for bar in sweep.bars}
    labels.sort(key=lambda label: (order.get(steps[label], len(order)), label))
    rows = []
    for sweep in sweeps:
        paper_ok = paper_setting_sweep(sweep)
        nokd = Cell(sweep.nokd.errors if sweep.nokd else [],
                    paper.ablation(preset, sweep.arch, "NOKD") if paper_ok else None)
        bars = {bar.label: bar for bar in sweep.bars}
        cells = [Cell(bars[label].arm.errors if label in bars else [],
                      paper.ablation(preset, sweep.arch, steps[label]) if paper_ok and label in bars else None)
                 for label in labels]
        rows.append((sweep.name, [nokd] + cells))
    has_paper = any(cell.paper for _, cells in rows for cell in cells)
    title = f"Ablation shape: each processing step of the fakes — {metric_title(first.metric, preset, error=True)}"
    return PaperTable("ablation", title, "student", ["NOKD"] + labels, rows,
                      _note("the paper's ablation study, read off its plots" if has_paper else None))


def paper_setting_sweep(sweep: Ablation) -> bool:
    """An ablation compares with the paper's when its fakes enter training as the paper's do and no
    KD method is added."""
    identity = sweep.first.identity
    return not identity.get("distill") and not identity.get("distill_settings") and default_mixing(identity)


def section_title(dataset: str, preset: str | None) -> str:
    """E.g. 'CIFAR-100 (preset cifar100; data cifar)', or the data file's stem without a paper preset."""
    shown = PAPER_DATASETS.get(preset or "", preset)
    return f"{shown} (preset {preset}; data {dataset})" if shown else f"data {dataset}"
