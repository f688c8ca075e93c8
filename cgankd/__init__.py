"""cgankd: cGAN-KD (Ding et al., arXiv 2104.03164) as one package.

Conditional GANs generate samples; cDR-RS subsampling, teacher filtering and label
adjustment turn them into a fake training set; students train on real + fake data.
"""

__version__ = "0.1.0"
