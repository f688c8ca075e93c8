"""cDR-RS subsampling: feature extractors, the conditional density-ratio model, rejection sampling."""

from .cdr_rs import CDRRS, PAPER_SETTINGS, cdr_rs_settings, make_extractor
from .density_ratio import DensityRatioModel, csp_loss, train_density_ratio
from .features import ClassifierFeatures, FeatureExtractor, SparseAE, SparseAENet, train_sparse_ae
from .rejection import RejectionStats, rejection_sample, rejection_sample_per_label

__all__ = ["CDRRS", "ClassifierFeatures", "DensityRatioModel", "FeatureExtractor", "PAPER_SETTINGS",
           "RejectionStats", "SparseAE", "SparseAENet", "cdr_rs_settings", "csp_loss", "make_extractor",
           "rejection_sample", "rejection_sample_per_label", "train_density_ratio", "train_sparse_ae"]
