"""skfer: facial expression recognition for the scikit-learn world.

Image convention
----------------
Every image transformer in :mod:`skfer.preprocessing` takes ``X`` as any of:
an ndarray ``(n_samples, H, W)`` or ``(n_samples, H, W, C)`` with ``C`` in
1, 3 or 4 (``uint8`` or float); a list of such images whose sizes may differ;
or a list of file paths. Colour order is RGB throughout. ``uint8`` stays
``uint8``; other integer and float images become ``float32`` with the same
values. A transformer returns an ndarray when all output images share one
shape, a list otherwise, and documents what it returns. Estimators that also
take flat input ``(n_samples, n_features)`` turn it back into images with an
``image_shape`` parameter (``None``: square grey, 2304 -> 48x48).
See ``docs/image_convention.rst``.
"""

__version__ = "0.1.0.dev0"

from ._emotions import EMOTIONS, canonical_emotion, map_labels

#: The seven FER2013 expression names, in FER2013's label order (0..6): the
#: first seven of :data:`EMOTIONS`.
FER2013_CLASSES = EMOTIONS[:7]

__all__ = ["EMOTIONS", "FER2013_CLASSES", "__version__", "canonical_emotion", "map_labels"]
