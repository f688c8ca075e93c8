"""Hinge GAN losses; the weighted form is CcGAN's vicinal discriminator loss.

D: mean(w_real * relu(1 - D(x_real))) + mean(w_fake * relu(1 + D(x_fake)))
   with w = 1 (plain hinge, and CcGAN's hard vicinity HVDL) or w = exp(-nu (y - target)^2) (soft, SVDL).
G: -mean(D(G(z, y))).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hinge_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor, w_real: torch.Tensor | None = None,
                 w_fake: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss on reals, loss on fakes); their sum is the discriminator loss."""
    loss_real = F.relu(1.0 - real_out.view(-1))
    loss_fake = F.relu(1.0 + fake_out.view(-1))
    if w_real is not None:
        loss_real = w_real.view(-1) * loss_real
    if w_fake is not None:
        loss_fake = w_fake.view(-1) * loss_fake
    return loss_real.mean(), loss_fake.mean()


def hinge_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    return -fake_out.mean()
