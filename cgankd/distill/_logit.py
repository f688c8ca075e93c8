"""Logit standardisation (Sun et al., "Logit Standardization in Knowledge Distillation", CVPR 2024).

Each net's logits are z-scored per sample, over the classes, before the temperature softmax:
softmax(Z(z) / T) with Z(z) = (z - mean(z)) / std(z). The student then has to match the
teacher's logit relations, not their range: the loss no longer changes when either net's logits
are shifted or scaled. T is the paper's "base temperature" (2 in the authors' scripts); each
sample's effective temperature is T * std(z).
"""

from __future__ import annotations

import torch

from ..common.errors import UserError

# The authors' code divides by std + 1e-7 and uses the unbiased (n - 1) standard deviation.
STD_EPS = 1e-7


def standardize(logits: torch.Tensor) -> torch.Tensor:
    """(B, C) logits z-scored along the classes, in float32."""
    logits = logits.float()
    mean = logits.mean(dim=1, keepdim=True)
    return (logits - mean) / (logits.std(dim=1, keepdim=True) + STD_EPS)


def prepared(s_logits: torch.Tensor, t_logits: torch.Tensor, logit_std: bool
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Both nets' logits in float32, standardised when `logit_std`."""
    if logit_std:
        return standardize(s_logits), standardize(t_logits)
    return s_logits.float(), t_logits.float()


def refuse_unused_weights(distiller, unused: tuple[str, ...], own: str) -> None:
    """One clear error when a generic weight (a, b) is set on a method that weighs its terms itself."""
    for key in unused:
        if distiller.opts[key]:
            raise UserError(f"--distill {distiller.name}: weight {key} does not apply; its weights are {own}")
