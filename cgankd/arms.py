"""The identity of an experiment arm: what a student run did, apart from its seed.

Two runs belong to the same row of a table exactly when their identities are equal. A run's
identity is recorded in its config.json (`arm`) when it starts, from its settings and from the
provenance of what it trained on: the fake set's attributes (GAN, subsampling, rho, label
adjustment, NFAKE used, or extra *real* images for the positive control), the KD method and
teacher, and the identity of the checkpoint it started from. Report and demo both group runs by
it and name rows with `arm_label`, so a table cannot merge arms that differ in any of these.

Plain data in, plain data out: every layer may use this module.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

# Settings of a fake set's provenance that make two fake sets different arms. The fake-make seed
# is not among them: fake sets made per student seed with otherwise equal settings are one arm.
FAKE_SET_KEYS = ("subsample", "rho", "adjust_labels", "nfake", "filter_burn_in", "label_values", "fit_size",
                 "cdr_rs")


def fake_set_identity(attrs: dict[str, Any]) -> dict[str, Any]:
    """What makes a fake (or extra-real) set what it is, from the attributes `fake make` (or the
    extra-real writer) recorded in its h5 file."""
    if attrs.get("origin") == "real":
        return {"origin": "real", "labels": attrs.get("labels", "true"), "n": attrs.get("n"),
                "source": attrs.get("source_fingerprint"), "teacher": attrs.get("teacher_fingerprint")}
    inputs = (attrs.get("provenance") or {}).get("inputs", {})
    settings = (attrs.get("provenance") or {}).get("settings", attrs)
    return {"origin": "gan", "gan": attrs.get("gan"), "gan_iteration": attrs.get("gan_iteration"),
            "gan_fingerprint": inputs.get("gan", {}).get("fingerprint"),
            "teacher_fingerprint": inputs.get("teacher", {}).get("fingerprint"),
            "feature_net_fingerprint": inputs.get("feature_net", {}).get("fingerprint"),
            **{k: settings.get(k) for k in FAKE_SET_KEYS}}


def arm_identity(*, arch: str, schedule: dict[str, Any], distill: str | None, distill_settings: dict[str, Any],
                 teacher: str | None, fakes: dict[str, Any] | None, nfake: int | None, mixing: dict[str, Any],
                 matched: dict[str, Any] | None, init: dict[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """The identity of a run (everything but its seed). `fakes` / `matched` are fake-set identities
    (`fake_set_identity`) of --fake / --same-steps-as, `mixing` how fakes enter training (fake_only,
    fake_weight, fake_share, aux_bn, bn_recalibrate), `init` the identity of the --init checkpoint,
    `teacher` a fingerprint of the teacher checkpoint."""
    if fakes is not None:
        kind = "extra_real" if fakes["origin"] == "real" else "cgankd"
    elif matched is not None:
        kind = "control"
    elif init is not None:
        kind = "finetune"
    else:
        kind = "kd" if distill else "nokd"
    return {"kind": kind, "arch": arch, "data": data, "schedule": schedule, "distill": distill,
            "distill_settings": distill_settings, "teacher": teacher, "fakes": fakes, "nfake": nfake,
            "mixing": mixing, "matched": matched, "init": init}


def arm_key(identity: dict[str, Any]) -> str:
    """A short stable hash of an identity (equal identities, equal keys)."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def fake_set_label(fakes: dict[str, Any], nfake: int | None) -> str:
    """E.g. 'cDR-RS, filter rho 0.9, relabelled, 3,000 fakes' or '3,000 extra real, true labels'."""
    if fakes["origin"] == "real":
        return f"{_count(nfake or fakes.get('n'))} extra real, {fakes.get('labels', 'true')} labels"
    steps = ["cDR-RS" if fakes.get("subsample") == "cdr-rs" else "no subsampling",
             f"filter rho {fakes['rho']:g}" if (fakes.get("rho") or 1.0) < 1.0 else "no filter",
             "relabelled" if fakes.get("adjust_labels") else "GAN labels",
             f"{_count(nfake or fakes.get('nfake'))} fakes"]
    return ", ".join(steps)


def arm_label(identity: dict[str, Any], method_names: dict[str, str] | None = None) -> str:
    """A readable row name; `method_names` maps a KD method to its table name (kd -> BLKD)."""
    shown = method_title(identity, method_names)
    plus = f" + {shown}" if shown else ""
    kind = identity["kind"]
    if kind == "nokd":
        return "NOKD"
    if kind == "kd":
        return shown
    if kind == "finetune":
        return f"finetune{plus} (real only, same schedule)"
    if kind == "control":
        return (f"control{plus} (real only, same steps as {fake_set_label(identity['matched'], identity['nfake'])}"
                f"{mixing_label(identity)})")
    if kind == "extra_real":
        return f"+ extra real{plus} ({fake_set_label(identity['fakes'], identity['nfake'])}{mixing_label(identity)})"
    return f"cGAN-KD{plus} ({fake_set_label(identity['fakes'], identity['nfake'])}{mixing_label(identity)})"


def method_title(identity: dict[str, Any], method_names: dict[str, str] | None = None) -> str | None:
    """The run's KD method by its table name, with the settings it set ("BLKD [logit_std=True]");
    None without a method."""
    method = identity.get("distill")
    if not method:
        return None
    shown, settings = (method_names or {}).get(method, method), _distill_settings_label(identity)
    return f"{shown} [{settings}]" if settings else shown


def _distill_settings_label(identity: dict[str, Any]) -> str:
    """The KD settings a run set explicitly (--distill-set), as "key=value, ..." ("" when none).
    Unset values and file fingerprints (TAKD's assistant) stay in the identity, out of the label."""
    settings = sorted((identity.get("distill_settings") or {}).items())
    return ", ".join(f"{k}={v}" for k, v in settings if v is not None and not isinstance(v, dict))


def mixing_label(identity: dict[str, Any]) -> str:
    """How the fakes entered training, when not as one shuffled set with real images."""
    mixing = identity.get("mixing") or {}
    parts = []
    if mixing.get("fake_only"):
        parts.append("fakes only")
    if mixing.get("fake_weight", 1.0) != 1.0:
        parts.append(f"fake weight {mixing['fake_weight']:g}")
    if mixing.get("fake_share") is not None:
        parts.append(f"{mixing['fake_share']:.0%} of each batch fake")
    if mixing.get("aux_bn"):
        parts.append("own BN for fakes")
    if mixing.get("bn_recalibrate"):
        parts.append("BN recalibrated on real")
    return "".join(f", {p}" for p in parts)


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out


def distinct_labels(identities: Iterable[dict[str, Any]], method_names: dict[str, str] | None = None) -> list[str]:
    """`arm_label` of each identity; where two different identities would share a label, each gets
    the settings in which it differs from the others of that label appended, so rows never merge."""
    identities = list(identities)
    labels = [arm_label(i, method_names) for i in identities]
    out = list(labels)
    for label in set(labels):
        same = [n for n, lab in enumerate(labels) if lab == label]
        flats = [_flat(identities[n]) for n in same]
        if len({arm_key(identities[n]) for n in same}) < 2:
            continue
        keys = sorted({k for f in flats for k in f if len({json.dumps(g.get(k), default=str) for g in flats}) > 1})
        for n, flat in zip(same, flats):
            out[n] = f"{label} [{', '.join(f'{k}={flat.get(k)}' for k in keys[:3])}]"
    return out
