"""Conditional GANs: BigGAN (class labels) and CcGAN (continuous labels), their training loop,
checkpoints and sampling."""
