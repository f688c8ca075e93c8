"""Turn GAN samples into a fake training set: cDR-RS subsampling, teacher filtering, label adjustment."""

from .filtering import class_cutoffs, global_cutoff
from .judge import TeacherJudge
from .make import FakeSettings, make_fake_set

__all__ = ["FakeSettings", "TeacherJudge", "class_cutoffs", "global_cutoff", "make_fake_set"]
