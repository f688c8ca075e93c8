"""`cgankd fake relabel`: a set's images with the teacher's labels in place of their own.

Used for the second variant of the positive control: held-out *real* images (`cgankd data
holdout --n-extra`) labelled by the same teacher that relabels cGAN-KD's fakes, so that "+ extra
real" differs from cGAN-KD only in where the images came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..common.errors import UserError
from ..common.files import check_output_file, file_fingerprint
from ..data import read_fake_h5, write_fake_h5
from ..models.trained import TrainedNet, resolve_model_file
from .judge import TeacherJudge


def relabel(data: str | Path, teacher: str | Path, out: str | Path, *, device: str | torch.device = "cpu",
            force: bool = False) -> dict[str, Any]:
    """Write `out`: the images of the fake-format set `data` with the teacher's labels; returns
    how much the labels changed (share of class ids, or mean absolute shift)."""
    check_output_file(out, force)
    if Path(out).resolve() == Path(data).resolve():
        raise UserError(f"--out {out}: the same file as --data; write the relabelled set beside it")
    split, attrs = read_fake_h5(data)
    net = TrainedNet.load(teacher, device, role="teacher")
    task = net.task
    kind = attrs.get("task") or ("regression" if split.labels.dtype.kind == "f" else "classification")
    net.check_fits(split.images.shape[1:], kind, attrs.get("num_classes", task.num_classes), f"--data {data}")
    _, labels = TeacherJudge(net).judge(split.images, torch.as_tensor(split.labels))
    new = labels.numpy().astype(split.labels.dtype)
    changed = ({"label_changed_share": float(np.mean(new != split.labels))} if task.kind == "classification" else
               {"label_shift_mean_abs": float(np.mean(np.abs(new - split.labels)))})
    write_fake_h5(out, split.images, new, {**attrs, "labels": "teacher", "relabelled_from": str(data), **changed,
                                           "teacher_fingerprint": file_fingerprint(resolve_model_file(teacher))})
    return changed
