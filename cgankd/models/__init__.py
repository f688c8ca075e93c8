"""The model zoo: RepDistiller's CIFAR nets (plus DenseNets) behind one registry.

`build_model(name, num_classes=..., in_channels=..., img_size=..., task=...)` builds any of
`model_names()`; every net follows the KD forward contract of `base.KDNet`.
"""

from . import densenet, mobilenetv2, resnet, resnetv2, shufflenetv1, shufflenetv2, vgg, wrn  # noqa: F401  (registration)
from .base import IMG_SIZES, KDNet
from .checkpoint import load_model, save_model_checkpoint
from .heads import TASKS, make_head
from .registry import build_model, model_names, register

__all__ = ["IMG_SIZES", "KDNet", "TASKS", "build_model", "load_model", "make_head", "model_names",
           "register", "save_model_checkpoint"]
