"""Where each arm goes in a paper-shaped table: its column, and the row it shares with the arms
it is compared with.

A column is what was done (NOKD, a KD method on real data, the real-only control, + extra real,
cGAN-KD, each optionally + a KD method). A row is one student (Table 3, 7) or one teacher ->
student pair (Tables 4–6), split further by the fake set and its settings ("variant"): arms that
used fakes (cGAN-KD, control) sit in the row of their fake set, NOKD in the rows of the cGAN-KD
runs that started from it, + extra real and finetune in the rows whose runs share their start and
schedule, and a column's only arm without fakes in every row. No cell ever holds two arms: an
arm that finds its cell taken, or fits no row, gets a row of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..arms import fake_set_label, method_title, mixing_label
from .tables import ArmSummary

# Column groups, left to right; a KD method's own columns follow the ones without a method.
_KIND_ORDER = {"nokd": 0, "kd": 1, "finetune": 2, "control": 3, "extra_real": 4, "cgankd": 5}
# KD methods in the order of the paper's tables (RepDistiller's); others follow alphabetically.
_METHOD_ORDER = ("kd", "hint", "attention", "similarity", "correlation", "vid", "rkd", "pkt", "abound", "factor",
                 "fsp", "nst", "crd", "sskd", "takd", "reviewkd")
_KIND_TITLE = {"finetune": "finetune", "control": "control", "extra_real": "+ extra real", "cgankd": "cGAN-KD"}
FAKE_KINDS = ("cgankd", "control")     # arms tied to one fake set (used, or matched in steps)


@dataclass(frozen=True)
class Column:
    kind: str
    method: str | None
    settings: str      # non-default KD settings (JSON), "" for the method's defaults
    title: str

    @property
    def order(self) -> tuple:
        """NOKD, KD methods on real data, the arms without a method, then each method's arms."""
        group = {"nokd": 0, "kd": 1}.get(self.kind, 2 if self.method is None else 3)
        method = self.method or ""
        rank = _METHOD_ORDER.index(method) if method in _METHOD_ORDER else len(_METHOD_ORDER)
        return (group, rank, method, self.settings, _KIND_ORDER.get(self.kind, 9))


def column_of(identity: dict[str, Any], method_names: dict[str, str]) -> Column:
    kind, method = identity.get("kind", ""), identity.get("distill")
    shown = method_title(identity, method_names)
    chosen = identity.get("distill_settings") or {}
    settings = json.dumps(chosen, sort_keys=True, default=str) if chosen else ""   # the column's key
    if kind == "nokd":
        title = "NOKD"
    elif kind == "kd":
        title = shown
    else:
        title = _KIND_TITLE.get(kind, kind) + (f" + {shown}" if shown else "")
    return Column(kind, method, settings, title)


def fake_set_of(identity: dict[str, Any]) -> dict[str, Any] | None:
    """The fake set an arm used (cGAN-KD, + extra real) or matched its steps to (control)."""
    return identity.get("fakes") or identity.get("matched")


def variant_key(identity: dict[str, Any]) -> str:
    """What a cGAN-KD arm and its control share: the fake set and every setting but the method."""
    shared = {"set": fake_set_of(identity), **{k: identity.get(k) for k in ("nfake", "mixing", "schedule", "init",
                                                                            "data")}}
    return json.dumps(shared, sort_keys=True, default=str)


def variant_label(identity: dict[str, Any]) -> str:
    fakes = fake_set_of(identity)
    return (fake_set_label(fakes, identity.get("nfake")) if fakes else "real only") + mixing_label(identity)


# What an arm without fakes shares with a fake-set row it is compared in (NOKD: it is the row's init).
_CONTEXT_KEYS = ("init", "schedule", "mixing", "data")


@dataclass
class Row:
    variant: str                   # the fake-set variant key, "" for a row of arms without fakes
    context: dict[str, Any] | None = None   # _CONTEXT_KEYS of the variant's arms
    label: str = ""                # the variant named for a reader ("" when the pair has one row)
    cells: dict[Column, ArmSummary] = field(default_factory=dict)


def _fits(arm: ArmSummary, row: Row) -> bool:
    """NOKD fits the row whose runs started from it; other arms without fakes (+ extra real,
    finetune) the row whose runs share their start, schedule, mixing and data."""
    if row.context is None:
        return False
    if arm.kind == "nokd":
        return row.context["init"] is not None and arm.identity == row.context["init"]
    return all(arm.identity.get(k) == row.context[k] for k in _CONTEXT_KEYS)


def _place_shared(arms: list[ArmSummary], rows: list[Row], column: Column) -> list[ArmSummary]:
    """Arms without a fake set, of one column, into rows: each into the rows it fits (where it is
    the only one that fits); a column's only arm, if it fits no row, into every row. Returns the
    arms that no row took."""
    placed: set[int] = set()
    for row in rows:
        fitting = [n for n, arm in enumerate(arms) if _fits(arm, row)]
        if len(fitting) == 1 and column not in row.cells:
            row.cells[column] = arms[fitting[0]]
            placed.add(fitting[0])
    if len(arms) == 1 and not placed:
        for row in rows:
            row.cells.setdefault(column, arms[0])
        placed.add(0)
    return [arm for n, arm in enumerate(arms) if n not in placed]


def build_rows(arms: list[ArmSummary], method_names: dict[str, str], *, variants: Iterable[str] | None = None,
               own_row: Callable[[ArmSummary], bool] = lambda arm: True) -> list[Row]:
    """The rows of one student (or teacher -> student pair). `variants` limits the fake-set rows to
    those keys (default: every fake set present); an arm without fakes that no row takes gets a row
    of its own when `own_row(arm)`."""
    fake_arms = [a for a in arms if a.kind in FAKE_KINDS]
    keys = list(dict.fromkeys(variants if variants is not None else (variant_key(a.identity) for a in fake_arms)))
    rows = [Row(key) for key in keys] or [Row("")]
    by_key = {row.variant: row for row in rows}
    leftovers: list[ArmSummary] = []
    for arm in fake_arms:
        row, column = by_key.get(variant_key(arm.identity)), column_of(arm.identity, method_names)
        if row is None:
            continue
        row.context = {k: arm.identity.get(k) for k in _CONTEXT_KEYS}
        if column in row.cells:
            leftovers.append(arm)
        else:
            row.cells[column] = arm
    shared: dict[Column, list[ArmSummary]] = {}
    for arm in arms:
        if arm.kind not in FAKE_KINDS:
            shared.setdefault(column_of(arm.identity, method_names), []).append(arm)
    for column, group in shared.items():
        leftovers += [arm for arm in _place_shared(group, rows, column) if own_row(arm)]
    rows = [row for row in rows if row.cells]
    rows += [Row("", label=arm.arm, cells={column_of(arm.identity, method_names): arm}) for arm in leftovers]
    _name_variants(rows)
    return rows


def _name_variants(rows: list[Row]) -> None:
    """Readable variant labels when a pair has several rows."""
    fake_rows = [row for row in rows if row.variant]
    if len(rows) < 2 or not fake_rows:
        return
    labels = [variant_label(next(iter(row.cells.values())).identity) for row in fake_rows]
    for row, label in zip(fake_rows, distinguish(labels, [json.loads(row.variant) for row in fake_rows])):
        row.label = label


def distinguish(labels: list[str], details: list[dict[str, Any]]) -> list[str]:
    """`labels`, where equal ones get the settings in which their `details` differ appended."""
    out = list(labels)
    for label in set(labels):
        same = [n for n, other in enumerate(labels) if other == label]
        if len(same) < 2:
            continue
        flats = [_flat(details[n]) for n in same]
        keys = sorted({k for f in flats for k in f if len({json.dumps(g.get(k), default=str) for g in flats}) > 1})
        for n, flat in zip(same, flats):
            out[n] = f"{label} [{', '.join(f'{k}={flat.get(k)}' for k in keys[:3])}]"
    return out


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {prefix.rstrip("."): value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(_flat(item, f"{prefix}{key}."))
    return out


def table_columns(rows: list[Row], required: Iterable[Column] = ()) -> list[Column]:
    """The columns of a table: those any row fills, plus the required ones, in column order."""
    columns = set(required) | {column for row in rows for column in row.cells}
    return sorted(columns, key=lambda c: c.order)
