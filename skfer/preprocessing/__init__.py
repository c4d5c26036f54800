"""Image transformers: reading, face cropping and alignment, resizing, colour,
intensity normalisation and features (pixels, HOG, LBP).

All take images by the convention described in :mod:`skfer`.
"""

from ._basic import Grayscale, ImageReader, Normalize, Resize
from ._features import Flatten, HOGFeatures, LBPFeatures

__all__ = [
    "Flatten",
    "Grayscale",
    "HOGFeatures",
    "ImageReader",
    "LBPFeatures",
    "Normalize",
    "Resize",
]
