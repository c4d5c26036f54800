"""Image transformers: reading, face cropping and alignment, resizing, colour,
intensity normalisation and features (pixels, HOG, LBP).

All take images by the convention described in :mod:`skfer`.
"""

from ._basic import Grayscale, ImageReader, Normalize, Resize
from ._faces import FaceAligner, FaceCropper, detect_faces
from ._features import Flatten, HOGFeatures, LBPFeatures

__all__ = [
    "FaceAligner",
    "FaceCropper",
    "Flatten",
    "Grayscale",
    "HOGFeatures",
    "ImageReader",
    "LBPFeatures",
    "Normalize",
    "Resize",
    "detect_faces",
]
