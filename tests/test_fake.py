"""Fake-set making: cut-offs, the filter, label adjustment, cDR-RS wiring, and the h5 it writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cgankd.common.errors import UserError
from cgankd.data import LabelNorm, load_dataset
from cgankd.fake import FakeSettings, TeacherJudge, class_cutoffs, global_cutoff, make_fake_set
from cgankd.models.trained import TrainedNet

from conftest import line_images, quadrant_images


class ImageBankGAN:
    """A test double for a loaded GAN: it 'generates' class c by returning quadrant images of
    class c, except that a fixed share of them show another class (the GAN's mistakes)."""

    def __init__(self, num_classes=4, wrong_share=0.3, regression=False):
        self.num_classes = None if regression else num_classes
        self.is_regression = regression
        self.label_norm = LabelNorm(-90.0, 90.0) if regression else None
        self.y2h = None
        self.wrong_share = wrong_share
        self.channels, self.img_size, self.path, self.config = 1, 28, "image bank", {}

    def generate(self, labels: torch.Tensor, *, batch_size: int = 500, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        if self.is_regression:
            shown = self.label_norm.denormalize(labels.double().numpy())
            wrong = rng.random(len(shown)) < self.wrong_share
            shown = np.where(wrong, rng.uniform(-80, 80, len(shown)), shown)
            return line_images(shown, rng)
        shown = labels.numpy().copy()
        wrong = rng.random(len(shown)) < self.wrong_share
        shown[wrong] = (shown[wrong] + rng.integers(1, self.num_classes, wrong.sum())) % self.num_classes
        return quadrant_images(shown, rng)


@pytest.fixture(scope="module")
def teacher(cls_teacher) -> str:
    return str(cls_teacher)


def test_global_cutoff_keeps_the_rho_share():
    scores = torch.arange(1000, dtype=torch.float64).flip(0)
    cut = global_cutoff(scores, 0.7)
    assert int((scores <= cut).sum()) == 700
    assert global_cutoff(scores, 1.0) == float("inf")
    with pytest.raises(ValueError):
        global_cutoff(scores, 0.0)


def test_class_cutoffs_are_per_class_quantiles():
    # Class 0 scores 0..99, class 1 scores 1000..1099: one global quantile would drop only class 1.
    scores = torch.cat([torch.arange(100.0), 1000 + torch.arange(100.0)])
    labels = torch.cat([torch.zeros(100), torch.ones(100)]).long()
    cut = class_cutoffs(scores, labels, 0.9, num_classes=3)
    assert int((scores[:100] <= cut[0]).sum()) == 90 and int((scores[100:] <= cut[1]).sum()) == 90
    assert cut[2] == float("inf")                        # no burn-in scores: keep everything


def _settings(**kw) -> FakeSettings:
    base = dict(nfake=80, subsample="none", rho=0.8, adjust_labels=False, filter_burn_in=100, batch_size=64)
    base.update(kw)
    return FakeSettings(**base)


def test_filter_drops_the_gan_mistakes_and_adjust_relabels(teacher, tiny_classification_h5):
    judge = TeacherJudge(TrainedNet.load(teacher))
    real = load_dataset(tiny_classification_h5).train
    gan = ImageBankGAN(wrong_share=0.3)
    raw = make_fake_set(gan, judge, real, _settings(rho=1.0), progress=False)
    kept = make_fake_set(gan, judge, real, _settings(rho=0.6), progress=False)
    adjusted = make_fake_set(gan, judge, real, _settings(rho=1.0, adjust_labels=True), progress=False)
    assert len(raw.labels) == len(kept.labels) == len(adjusted.labels) == 80
    assert np.bincount(raw.labels, minlength=4).tolist() == [20] * 4
    # The teacher agrees with about 70 % of raw fakes (30 % show another class).
    assert 0.55 < raw.stats["teacher_agreement_raw"] < 0.85
    teacher_says = judge.judge(torch.from_numpy(kept.images), torch.from_numpy(kept.labels))[1].numpy()
    assert (teacher_says == kept.labels).mean() > 0.95            # filtering removed the mistakes
    assert kept.stats["filter_keep_rate"] < 0.8 and raw.stats["filter_keep_rate"] == 1.0
    # Label adjustment: every label is the teacher's prediction, and about 30 % of them changed.
    teacher_adj = judge.judge(torch.from_numpy(adjusted.images), torch.from_numpy(adjusted.labels))[1].numpy()
    np.testing.assert_array_equal(teacher_adj, adjusted.labels)
    assert 0.15 < adjusted.stats["label_changed_share"] < 0.45


def test_regression_fakes_get_teacher_labels(tiny_regression_h5, reg_teacher):
    judge = TeacherJudge(TrainedNet.load(reg_teacher))
    real = load_dataset(tiny_regression_h5).train
    gan = ImageBankGAN(regression=True, wrong_share=0.3)
    fakes = make_fake_set(gan, judge, real, _settings(nfake=60, rho=0.7, adjust_labels=True, label_values=12),
                          progress=False)
    assert fakes.labels.dtype == np.float32 and len(fakes.labels) == 60
    predicted = judge.judge(torch.from_numpy(fakes.images), torch.from_numpy(fakes.labels))[1].numpy()
    np.testing.assert_allclose(predicted, fakes.labels, atol=1e-4)
    assert fakes.stats["filter_keep_rate"] < 0.9 and "teacher_mae_raw" in fakes.stats


def test_cdr_rs_path_runs_and_reports_acceptance(teacher, tiny_classification_h5):
    judge = TeacherJudge(TrainedNet.load(teacher))
    real = load_dataset(tiny_classification_h5).train
    small = {"dr": {"widths": [64, 32], "epochs": 20, "batch_size": 64, "lr": 1e-3},
             "rs": {"burn_in": 64, "batch_size": 64}}
    fakes = make_fake_set(ImageBankGAN(), judge, real, _settings(subsample="cdr-rs", cdr_rs=small, fit_size=256),
                          feature_net=judge.net, progress=False)
    assert len(fakes.labels) == 80 and 0.0 < fakes.stats["cdr_rs_acceptance_rate"] <= 1.0
    assert fakes.stats["gan_samples"] > 80


def test_bad_settings_and_mismatched_teacher(teacher, tiny_classification_h5):
    judge = TeacherJudge(TrainedNet.load(teacher))
    real = load_dataset(tiny_classification_h5).train
    for bad in (dict(rho=0.0), dict(nfake=0), dict(subsample="magic")):
        with pytest.raises(UserError):
            make_fake_set(ImageBankGAN(), judge, real, _settings(**bad), progress=False)
    with pytest.raises(UserError, match="continuous"):
        make_fake_set(ImageBankGAN(regression=True), judge, real, _settings(), progress=False)
