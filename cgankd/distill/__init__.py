"""Knowledge-distillation methods, one module each, all behind `Distiller`.

`build_distiller(name, student, teacher, task, cfg)` returns the method; `None` gives the
plain task loss (NOKD and cGAN-KD without KD).
"""

from .base import Distiller, build_distiller, display_name, distiller_names, register_distiller

__all__ = ["Distiller", "build_distiller", "display_name", "distiller_names", "register_distiller"]
