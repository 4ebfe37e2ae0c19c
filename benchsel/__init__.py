"""benchsel: measure real OpenMMLab detection and segmentation models on your data, then choose."""

__version__ = "0.1.0"
