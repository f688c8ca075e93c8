"""The work folder of one `cgankd fake make` run, beside its output: FAKE.h5 -> FAKE.h5.work/.

    config.json   the settings and input fingerprints the work was made with (checked on --resume)
    cdr_rs.pt     the fitted cDR-RS model (feature net + density ratio) and the GAN's stream after the fit
    state.pt      cut-offs, the group reached, the collection in progress and every random state
    parts/        the fakes of each finished group

A finished run keeps config.json and cdr_rs.pt (the fitted model is worth keeping) and drops the rest.

The state is written at most every SAVE_EVERY_S seconds (the first time at once): it holds the
collection in progress and cDR-RS's accepted surplus at every label value, so writing it after each
round made the writes grow with the square of the work. A resumed run replays from the last saved
state to the same fakes (every random state is in it), rewriting the parts it makes again; at most
SAVE_EVERY_S of work is redone.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from ..common.errors import UserError
from ..common.files import save_torch, write_json
from ..common.runs import check_same_settings
from ..subsampling import CDRRS

WORK_SUFFIX = ".work"
SAVE_EVERY_S = 60.0


def work_folder(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + WORK_SUFFIX)


class FakeWork:
    def __init__(self, out: str | Path, config: dict[str, Any], resume: bool):
        self.path = work_folder(out)
        self.config = config
        stored = self.path / "config.json"
        if stored.exists():
            if not resume:
                raise UserError(f"{self.path} holds the work of an earlier `fake make` for {out}; pass --resume "
                                "to continue it, or delete the folder to start again")
            try:
                previous = json.loads(stored.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise UserError(f"{stored}: cannot be read ({err}); delete {self.path} to start again") from None
            check_same_settings(self.path, previous, config)
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(stored, config)
        self._saved_at = -float("inf")

    def _load(self, name: str) -> Any:
        path = self.path / name
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001 - a damaged file: one line, and how to recover
            raise UserError(f"{path}: cannot be read ({type(err).__name__}); delete {self.path} to start again") \
                from None

    # ---- the fitted cDR-RS model
    def load_cdr_rs(self, device: torch.device, gan) -> CDRRS | None:
        if not (self.path / "cdr_rs.pt").exists():
            return None
        embed = gan.embed if gan.is_regression and gan.y2h is not None else None
        return CDRRS.load(self.path / "cdr_rs.pt", device, label_embed=embed)

    def save_cdr_rs(self, cdr: CDRRS, proposals_state: dict[str, int]) -> None:
        cdr.save(self.path / "cdr_rs.pt")
        save_torch(self.path / "fit_proposals.pt", proposals_state)

    def fit_proposals(self) -> dict[str, int]:
        state = self._load("fit_proposals.pt")
        if state is None:
            raise UserError(f"{self.path}: cdr_rs.pt without fit_proposals.pt; delete {self.path} to start again")
        return state

    # ---- progress
    def load_state(self) -> dict[str, Any] | None:
        return self._load("state.pt")

    def save_state(self, state: dict[str, Any]) -> None:
        """Write the state when SAVE_EVERY_S has passed since the last write (see the module doc)."""
        if time.monotonic() - self._saved_at < SAVE_EVERY_S:
            return
        save_torch(self.path / "state.pt", state)
        self._saved_at = time.monotonic()

    def save_part(self, index: int, part: tuple[torch.Tensor, ...]) -> None:
        save_torch(self.path / "parts" / f"group_{index:05d}.pt", part)

    def load_part(self, index: int) -> tuple[torch.Tensor, ...]:
        part = self._load(f"parts/group_{index:05d}.pt")
        if part is None:
            raise UserError(f"{self.path}: the fakes of group {index} are missing; delete {self.path} to start again")
        return part

    def finish(self) -> None:
        """The fake set is written: drop the progress, keep the settings and the fitted model."""
        (self.path / "state.pt").unlink(missing_ok=True)
        shutil.rmtree(self.path / "parts", ignore_errors=True)
