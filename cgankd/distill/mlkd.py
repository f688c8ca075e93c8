"""MLKD (Jin et al., "Multi-Level Logit Distillation", CVPR 2023).

Predictions are aligned at three levels, each at several temperatures ("prediction
augmentation": the base T and 2, 3, 5, 6), for a weak and a strong view of every image:

- instance level ("kd"): T^2 * KL(teacher || student) per image, as in KD;
- batch level ("bc"): the B x B Gram matrix P P^T of the softened outputs (how the images of the
  batch relate), squared error summed and divided by B;
- class level ("cc"): the C x C matrix P^T P (how the classes co-occur), divided by C.

Scale of the class level. Each entry of P^T P is a sum over the batch, so the term grows as B^2 / C:
at the authors' CIFAR-100 setting (batch 64, 100 classes) B^2 / C is 41, at batch 128 and 10 classes
1,638, 40 times more. There, with the authors' weights, it stops a student from learning at all
(docs/kd.md: a resnet8 from scratch on 3,000 Fashion-MNIST images stays below 37 % test accuracy
after 30 epochs; without the class level it is at 79 % after 9 of 10). `cc_weight` scales the term
(1: the authors' code); `class_level_scale` gives the weight that brings it to the authors'
magnitude at another batch size and class count.

loss = r * (CE(weak) + CE(strong)) + a * (all terms), as in the authors' code
(Jin-Ying/Multi-Level-Logit-Distillation, distillers/KD_ours.py): the instance level on both
views (student on a view against the teacher on the same view), the batch and class levels on
the weak view. Two slips of that code are not copied: it uses the weak view in place of the
strong one for two of the strong-view instance terms (T = 2 and 6), and it standardises only
the instance level under logit standardisation (here `logit_std` z-scores the logits of every
level, so that the whole loss ignores shifts and scales of either net's logits).

Confidence masking. The authors' code marks the samples whose teacher confidence (max softmax of
the weak view) is at most the batch median, and the classes whose summed teacher probability is
at most the median over classes. It multiplies already batch-averaged terms by these masks and
averages again, so each mask acts as one factor: the share of samples (or classes) at or below
the median, 1/2 when they are distinct. That factor is kept as computed there: it scales the
weak view's instance and batch terms (samples) and its class term (classes).

The strong view. The trainer hands over the weak view: the batch as the pipeline made it
(device-side crop and flip, normalised). The strong view is made from it on the device, in one
batched pass (no per-image Python), in the spirit of MLKD's FixMatch-style RandAugment(2) +
Cutout: each image gets `strong_ops` ops drawn with replacement from rotate (+-30 degrees),
shear x / y (+-0.3), translate x / y (+-0.3 of the side), brightness and contrast (factors 0.05 to
0.95, towards black / towards the image mean) and identity, each at a uniform random magnitude in
MLKD's range, then a cutout square of up to `strong_cutout` of the side. It departs from MLKD's
view in four ways: it works on normalised tensors, so the ops that need pixel units (posterize,
solarize, equalize, autocontrast) and colour / sharpness are left out, which leaves geometric
ops a larger share of the draws (5 of 8 rather than 5 of 14); black is taken as each image's
per-channel minimum, and the cutout is filled with 0 (the dataset mean, as MLKD's grey is for
CIFAR); the geometric ops act about the image centre, not PIL's top-left corner; and the strong
view reuses the weak view's crop and flip instead of drawing its own.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._common import soft_kl
from ._logit import prepared, refuse_unused_weights
from .base import Distiller, register_distiller

# RandAugment ops that act on normalised tensors, with MLKD's magnitude ranges.
OPS = ("identity", "rotate", "shear_x", "shear_y", "translate_x", "translate_y", "brightness", "contrast")
RANGES = {"rotate": (-30.0, 30.0), "shear_x": (-0.3, 0.3), "shear_y": (-0.3, 0.3),
          "translate_x": (-0.3, 0.3), "translate_y": (-0.3, 0.3), "brightness": (0.05, 0.95),
          "contrast": (0.05, 0.95)}
NEUTRAL = {"rotate": 0.0, "shear_x": 0.0, "shear_y": 0.0, "translate_x": 0.0, "translate_y": 0.0,
           "brightness": 1.0, "contrast": 1.0}


def draw_ops(b: int, n_ops: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Per-image magnitude of every op: drawn in its range where chosen, neutral elsewhere."""
    picks = torch.randint(0, len(OPS), (b, n_ops), device=device)
    params = {}
    for k, name in enumerate(OPS):
        if name == "identity":
            continue
        low, high = RANGES[name]
        value = torch.rand(b, device=device) * (high - low) + low
        params[name] = torch.where((picks == k).any(dim=1), value, torch.full_like(value, NEUTRAL[name]))
    return params


def affine_theta(p: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, 2, 3) output-to-input maps (affine_grid units) of rotation, shear and translation."""
    angle = p["rotate"] * (math.pi / 180)
    cos, sin = torch.cos(angle), torch.sin(angle)
    one = torch.ones_like(cos)
    rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    shear = torch.stack([torch.stack([one, p["shear_x"]], 1), torch.stack([p["shear_y"], one], 1)], 1)
    shift = torch.stack([2 * p["translate_x"], 2 * p["translate_y"]], 1)[:, :, None]  # [-1, 1] spans the side
    return torch.cat([rotation @ shear, shift], dim=2)


def cutout(x: torch.Tensor, max_frac: float) -> torch.Tensor:
    """Zero a square of side U(0, max_frac) * W around a uniform random centre (clipped at the edges)."""
    b, _, h, w = x.shape
    side = torch.rand(b, 1, 1, device=x.device) * max_frac * w
    cy = torch.rand(b, 1, 1, device=x.device) * h
    cx = torch.rand(b, 1, 1, device=x.device) * w
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((rows - cy).abs() <= side / 2) & ((cols - cx).abs() <= side / 2) & (side >= 1)
    return x.masked_fill(inside[:, None], 0.0)


def strong_view(x: torch.Tensor, n_ops: int = 2, max_cutout: float = 0.5) -> torch.Tensor:
    """A strongly augmented copy of a normalised (B, C, H, W) batch (see the module docstring)."""
    x = x.float()
    p = draw_ops(len(x), n_ops, x.device)
    black = x.amin(dim=(2, 3), keepdim=True)
    grid = F.affine_grid(affine_theta(p), list(x.shape), align_corners=False)
    x = F.grid_sample(x - black, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + black
    x = black + p["brightness"].view(-1, 1, 1, 1) * (x - black)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + p["contrast"].view(-1, 1, 1, 1) * (x - mean)
    return cutout(x, max_cutout) if max_cutout > 0 else x


def median_share(values: torch.Tensor) -> torch.Tensor:
    """Share of `values` at or below their median (numpy's linear-interpolation percentile 50)."""
    return (values <= torch.quantile(values, 0.5)).float().mean()


def class_level(p_s: torch.Tensor, p_t: torch.Tensor) -> torch.Tensor:
    """Squared difference of the C x C class-correlation matrices, summed, divided by C."""
    return (p_t.t() @ p_t - p_s.t() @ p_s).square().sum() / p_s.shape[1]


def class_level_scale(batch_size: int, num_classes: int, ref_batch: int = 64, ref_classes: int = 100) -> float:
    """The cc_weight that gives the class level, which grows as B^2 / C, the magnitude it has at the
    authors' CIFAR-100 setting (batch 64, 100 classes)."""
    return (ref_batch ** 2 / ref_classes) / (batch_size ** 2 / num_classes)


def batch_level(p_s: torch.Tensor, p_t: torch.Tensor) -> torch.Tensor:
    """Squared difference of the B x B sample-correlation matrices, summed, divided by B."""
    return (p_t @ p_t.t() - p_s @ p_s.t()).square().sum() / p_s.shape[0]


def multi_level_terms(s_weak: torch.Tensor, t_weak: torch.Tensor, s_strong: torch.Tensor, t_strong: torch.Tensor,
                      temperatures: tuple[float, ...], sample_share: torch.Tensor, class_share: torch.Tensor
                      ) -> dict[str, torch.Tensor]:
    """The instance ("kd"), batch ("bc") and class ("cc") terms summed over the temperatures."""
    terms = {"kd": 0.0, "bc": 0.0, "cc": 0.0}
    for T in temperatures:
        p_s, p_t = F.softmax(s_weak / T, dim=1), F.softmax(t_weak / T, dim=1)
        terms["kd"] = terms["kd"] + sample_share * soft_kl(s_weak, t_weak, T) + soft_kl(s_strong, t_strong, T)
        terms["bc"] = terms["bc"] + sample_share * batch_level(p_s, p_t)
        terms["cc"] = terms["cc"] + class_share * class_level(p_s, p_t)
    return terms


@register_distiller("mlkd", "MLKD")
class MLKD(Distiller):
    needs_teacher = True
    classification_only = True

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        refuse_unused_weights(self, ("b",), "r (CE on each view) and a (every alignment term)")

    def temperatures(self) -> tuple[float, ...]:
        return (self.opts["T"], *self.opts["extra_T"])

    def forward_train(self, x, y, index=None):
        o = self.opts
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            x_strong = strong_view(x, o["strong_ops"], o["strong_cutout"])
        if x.is_contiguous(memory_format=torch.channels_last):
            x_strong = x_strong.contiguous(memory_format=torch.channels_last)
        x_strong = x_strong.to(x.dtype)
        s_weak, s_strong = self.student(x), self.student(x_strong)
        _, t_both = self.teacher_forward(torch.cat([x, x_strong]), features=False)
        t_weak, t_strong = t_both.chunk(2)
        with torch.autocast(x.device.type, enabled=False):
            p_teacher = F.softmax(t_weak.float(), dim=1)
            sample_share, class_share = median_share(p_teacher.amax(dim=1)), median_share(p_teacher.sum(dim=0))
            s_weak_, t_weak_ = prepared(s_weak, t_weak, o["logit_std"])
            s_strong_, t_strong_ = prepared(s_strong, t_strong, o["logit_std"])
            terms = multi_level_terms(s_weak_, t_weak_, s_strong_, t_strong_, self.temperatures(),
                                      sample_share, class_share)
        weight = self.sample_weight(index)
        losses = {"ce": o["r"] * (self.task.loss(s_weak, y, weight) + self.task.loss(s_strong, y, weight))}
        terms["cc"] = o["cc_weight"] * terms["cc"]
        losses.update({name: o["a"] * term for name, term in terms.items()})
        return s_weak, losses
