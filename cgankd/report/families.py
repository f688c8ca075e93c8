"""Arms that form the paper's two sweeps, found among summarised runs.

Ablation: cGAN-KD arms of one student whose fake sets differ only in the processing steps
(cDR-RS subsampling, filtering, label adjustment), beside the NOKD arm they started from.
NFAKE: cGAN-KD arms that differ only in how many fakes the student saw, beside NOKD, the
real-only control and + extra real of the same start and method.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .layout import distinguish
from .paper_results import ABLATION_STEPS
from .tables import ArmSummary

# Fake-set settings of the processing steps (and of their own parameters).
_STEP_SETTINGS = ("subsample", "rho", "adjust_labels", "cdr_rs", "fit_size", "feature_net_fingerprint",
                  "filter_burn_in")
_STEP_NAMES = ("cDR-RS", "filtering", "label adjustment")


def steps_of(fakes: dict[str, Any]) -> tuple[bool, bool, bool]:
    """Which of cDR-RS, filtering and label adjustment made this fake set."""
    return (fakes.get("subsample") == "cdr-rs", (fakes.get("rho") or 1.0) < 1.0, bool(fakes.get("adjust_labels")))


def step_label(steps: tuple[bool, bool, bool]) -> str:
    """The paper's bar names for its cumulative steps; '+ filtering + label adjustment' and the
    like for other combinations."""
    on = [name for name, used in zip(_STEP_NAMES, steps) if used]
    return "+ " + " + ".join(on) if on else ABLATION_STEPS[0]


def _is_gan_cgankd(arm: ArmSummary) -> bool:
    return arm.kind == "cgankd" and (arm.identity.get("fakes") or {}).get("origin") == "gan"


def _without(identity: dict[str, Any], top: tuple[str, ...], fake_keys: tuple[str, ...]) -> str:
    fakes = {k: v for k, v in (identity.get("fakes") or {}).items() if k not in fake_keys}
    rest = {k: v for k, v in identity.items() if k not in top and k != "fakes"}
    return json.dumps({"fakes": fakes, **rest}, sort_keys=True, default=str)


def _group(arms: list[ArmSummary], key) -> dict[str, list[ArmSummary]]:
    groups: dict[str, list[ArmSummary]] = {}
    for arm in arms:
        groups.setdefault(key(arm), []).append(arm)
    return groups


def nokd_for(init: Any, candidates: list[ArmSummary]) -> ArmSummary | None:
    """The NOKD arm a sweep started from; the student's only NOKD arm when none matches exactly."""
    nokd = [arm for arm in candidates if arm.kind == "nokd"]
    exact = [arm for arm in nokd if arm.identity == init]
    return exact[0] if exact else (nokd[0] if len(nokd) == 1 else None)


@dataclass
class Bar:
    step: str            # an ABLATION_STEPS name, or another step_label
    label: str           # what the plot and table show (the step, plus rho and any other difference)
    arm: ArmSummary


@dataclass
class Ablation:
    dataset: str
    arch: str
    nokd: ArmSummary | None
    bars: list[Bar]
    note: str = ""       # tells sweeps of one student apart (e.g. "+ BLKD, 3,000 fakes")

    @property
    def name(self) -> str:
        return self.arch + (f" ({self.note})" if self.note else "")

    @property
    def first(self) -> ArmSummary:
        return self.bars[0].arm


def _bar_label(step: str, fakes: dict[str, Any]) -> str:
    return step + (f" (rho {fakes['rho']:g})" if steps_of(fakes)[1] else "")


def _bars(arms: list[ArmSummary]) -> list[Bar]:
    steps = [step_label(steps_of(arm.identity["fakes"])) for arm in arms]
    labels = distinguish([_bar_label(step, arm.identity["fakes"]) for step, arm in zip(steps, arms)],
                         [arm.identity["fakes"] for arm in arms])
    order = {step: n for n, step in enumerate(ABLATION_STEPS)}
    bars = [Bar(step, label, arm) for step, label, arm in zip(steps, labels, arms)]
    return sorted(bars, key=lambda bar: (order.get(bar.step, len(order)), bar.label))


def _describe(identity: dict[str, Any], names: dict[str, str], with_nfake: bool) -> str:
    parts = [f"+ {names.get(identity['distill'], identity['distill'])}"] if identity.get("distill") else []
    n = _count(identity, "fakes", "nfake") if with_nfake else None
    return ", ".join(parts + ([f"{n:,} fakes"] if n else []))


def _name_sweeps(sweeps: list, names: dict[str, str], with_nfake: bool) -> None:
    """A note on each sweep whose student has more than one: its KD method (and NFAKE), else a number."""
    students: dict[tuple[str, str], list] = {}
    for sweep in sweeps:
        students.setdefault((sweep.dataset, sweep.arch), []).append(sweep)
    for twins in students.values():
        if len(twins) < 2:
            continue
        notes = [_describe(sweep.first.identity, names, with_nfake) for sweep in twins]
        for n, (sweep, note) in enumerate(zip(twins, notes), start=1):
            sweep.note = note if note and notes.count(note) == 1 else ", ".join(filter(None, [note, f"sweep {n}"]))


def ablations(rows: list[ArmSummary], method_names: dict[str, str]) -> list[Ablation]:
    """Every set of cGAN-KD arms that differ only in the fakes' processing steps (two or more)."""
    found = []
    candidates = [arm for arm in rows if _is_gan_cgankd(arm)]
    families = _group(candidates, lambda a: json.dumps([a.dataset, a.arch, _without(a.identity, (), _STEP_SETTINGS)]))
    for family in families.values():
        if len({steps_of(a.identity["fakes"]) + (a.identity["fakes"].get("rho"),) for a in family}) < 2:
            continue
        first = family[0]
        same_student = [r for r in rows if (r.dataset, r.arch) == (first.dataset, first.arch)]
        found.append(Ablation(first.dataset, first.arch, nokd_for(first.identity.get("init"), same_student),
                              _bars(family)))
    _name_sweeps(found, method_names, with_nfake=True)
    return found


@dataclass
class Point:
    n: int | None
    arm: ArmSummary


@dataclass
class NfakeSweep:
    dataset: str
    arch: str
    points: list[Point]
    nokd: ArmSummary | None
    controls: list[Point] = field(default_factory=list)
    extra_real: list[Point] = field(default_factory=list)
    note: str = ""

    @property
    def name(self) -> str:
        return self.arch + (f" ({self.note})" if self.note else "")

    @property
    def first(self) -> ArmSummary:
        return self.points[0].arm


def _count(identity: dict[str, Any], fakes_key: str, size_key: str) -> int | None:
    n = identity.get("nfake") or (identity.get(fakes_key) or {}).get(size_key)
    return int(n) if isinstance(n, (int, float)) else None


def _companion_key(identity: dict[str, Any]) -> str:
    """What an NFAKE sweep's companions share with it: start, method, schedule, data, mixing."""
    keys = ("arch", "data", "schedule", "distill", "distill_settings", "teacher", "init", "mixing")
    return json.dumps({k: identity.get(k) for k in keys}, sort_keys=True, default=str)


def _pipeline(fakes: dict[str, Any] | None) -> str:
    return json.dumps({k: v for k, v in (fakes or {}).items() if k != "nfake"}, sort_keys=True, default=str)


def nfake_sweeps(rows: list[ArmSummary], method_names: dict[str, str]) -> list[NfakeSweep]:
    """Every set of cGAN-KD arms that differ only in NFAKE (two or more counts)."""
    found = []
    candidates = [arm for arm in rows if _is_gan_cgankd(arm)]
    families = _group(candidates, lambda a: json.dumps([a.dataset, a.arch, _without(a.identity, ("nfake",),
                                                                                       ("nfake",))]))
    for family in families.values():
        points = sorted((Point(_count(a.identity, "fakes", "nfake"), a) for a in family),
                        key=lambda p: (p.n is None, p.n or 0))
        if len({p.n for p in points}) < 2:
            continue
        first = family[0].identity
        same_student = [r for r in rows if (r.dataset, r.arch) == (family[0].dataset, family[0].arch)]
        companions = [r for r in same_student if _companion_key(r.identity) == _companion_key(first)]
        controls = [Point(_count(r.identity, "matched", "nfake"), r) for r in companions if r.kind == "control"
                    and _pipeline(r.identity.get("matched")) == _pipeline(first.get("fakes"))]
        extra = [Point(_count(r.identity, "fakes", "n"), r) for r in companions if r.kind == "extra_real"]
        found.append(NfakeSweep(family[0].dataset, family[0].arch, points, nokd_for(first.get("init"), same_student),
                                sorted(controls, key=lambda p: p.n or 0), sorted(extra, key=lambda p: p.n or 0)))
    _name_sweeps(found, method_names, with_nfake=False)
    return found
