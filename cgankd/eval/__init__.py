"""Evaluation tools shared by the stages: the Frechet distance between feature sets (FID in any eval net's
feature space)."""
