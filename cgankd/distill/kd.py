"""Logit distillation: Hinton et al. 2015 (BLKD) and the loss of TAKD (Mirzadeh et al. 2020).

Both are r * task + a * T^2 * KL(p_t^T || p_s^T); regression replaces the KL by the MSE between
student and teacher outputs. TAKD's teacher → assistant → student chain is run by the trainer;
each of its two links is this loss with (1 - lambda, lambda) = (0.5, 0.5) and T = 10.
"""

from __future__ import annotations

from .base import Distiller, register_distiller


@register_distiller("kd", "BLKD")
class KD(Distiller):
    needs_teacher = True


@register_distiller("takd", "TAKD")
class TAKD(KD):
    pass
