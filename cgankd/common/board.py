"""TensorBoard event files beside a run's log.jsonl (`--tensorboard`): scalars and images.

Only the writing process (rank 0) opens a writer; elsewhere, and without --tensorboard, every call
is a no-op. On resume the writer purges what an interrupted session logged after the checkpoint,
as `RunDir.truncate_log` does for log.jsonl.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import UserError


class Board:
    def __init__(self, folder: str | Path, enabled: bool, *, resume_step: int | None = None):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
        # Steps after `resume_step` (the checkpoint's) belong to the interrupted session: dropped.
        purge = None if resume_step is None else resume_step + 1
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=purge)

    def scalars(self, values: Mapping[str, Any], step: int, prefix: str = "") -> None:
        """Every number in `values` as the scalar `prefix + key` (other entries are left out)."""
        if self.writer is None:
            return
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(prefix + key, value, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """An H x W x C uint8 image."""
        if self.writer is not None:
            self.writer.add_image(tag, image, step, dataformats="HWC")

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
