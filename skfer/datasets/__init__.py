"""Dataset loaders and a synthetic face generator.

Loaders return a :class:`sklearn.utils.Bunch` with ``images`` (uint8,
``(n, H, W)`` grey or ``(n, H, W, 3)`` RGB), ``target`` (int labels),
``target_names`` (``target_names[label]`` is the class name), ``groups``
(subject ids, or None where unknown), ``split`` (the dataset's own split per
sample, or None) and ``DESCR``. Real datasets are never shipped with skfer:
download them under their own terms and point the loaders at the files.
"""

from ._fer2013 import FERPLUS_CLASSES, load_fer2013, load_ferplus
from ._folders import (
    JAFFE_CLASSES,
    load_ckplus,
    load_ckplus_sequences,
    load_image_folder,
    load_jaffe,
)
from ._registry import DATASETS, load_dataset
from ._synthetic import make_faces

__all__ = [
    "DATASETS",
    "FERPLUS_CLASSES",
    "JAFFE_CLASSES",
    "load_ckplus",
    "load_ckplus_sequences",
    "load_dataset",
    "load_fer2013",
    "load_ferplus",
    "load_image_folder",
    "load_jaffe",
    "make_faces",
]
