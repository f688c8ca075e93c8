"""cDR-RS subsampling: feature extractors, the conditional density-ratio model, rejection sampling,
and the driver that draws accepted fakes per label value."""

from .cdr_rs import CDRRS, PAPER_SETTINGS, SubsampledDraw, cdr_rs_settings, make_extractor
from .density_ratio import DensityRatioModel, FakePool, csp_loss, train_density_ratio
from .features import ClassifierFeatures, FeatureExtractor, SparseAE, SparseAENet, train_sparse_ae
from .rejection import RejectionStats, rejection_sample

__all__ = ["CDRRS", "ClassifierFeatures", "DensityRatioModel", "FakePool", "FeatureExtractor", "PAPER_SETTINGS",
           "RejectionStats", "SparseAE", "SparseAENet", "SubsampledDraw", "cdr_rs_settings", "csp_loss",
           "make_extractor", "rejection_sample", "train_density_ratio", "train_sparse_ae"]
