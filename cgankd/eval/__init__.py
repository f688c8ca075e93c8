"""Evaluation: eval-net features, FID / intra-FID, class share and label score of generators."""
