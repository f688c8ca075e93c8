"""Data layer: h5 files and their checks, CIFAR-100 folders, dataset preparation, subsets and the
device-side batch pipeline. Knows no networks."""

from .h5 import (DataBundle, Split, load_dataset, read_fake_h5, read_fake_labels, write_dataset_h5, write_fake_h5)
from .labels import LabelNorm
from .pipeline import Augment, DeviceLoader, PixelNorm
from .splits import stratified_subset, train_val_split
from .validate import summarize

__all__ = ["Augment", "DataBundle", "DeviceLoader", "LabelNorm", "PixelNorm", "Split", "load_dataset",
           "read_fake_h5", "read_fake_labels", "stratified_subset", "summarize", "train_val_split", "write_dataset_h5",
           "write_fake_h5"]
