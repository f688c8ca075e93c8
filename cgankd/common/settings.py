"""KEY=VALUE settings from the command line (`--set`, `--distill-set`) -> a dict of Python values."""

from __future__ import annotations

import ast
import json
from typing import Any

from .errors import UserError


def parse_value(text: str) -> Any:
    """JSON or a Python literal ('1e-4', '[0, 0.999]', "{'a': 1}", 'true', 'None'); otherwise the bare string."""
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError):
            continue
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    return text


def parse_settings(pairs: list[str], flag: str = "--set") -> dict[str, Any]:
    """["g_lr=1e-4", "ema=false"] -> {"g_lr": 0.0001, "ema": False}."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"{flag} {pair!r}: expected KEY=VALUE, e.g. {flag} lr=0.01")
        key, value = pair.split("=", 1)
        out[key.strip()] = parse_value(value.strip())
    return out
