"""Classical FER baselines as ready-made Pipelines from images to labels.

The families the classical FER literature used before deep nets: eigenfaces
(PCA) with SVM, LDA (fisherfaces) or nearest neighbours, and HOG or LBP
descriptors with an RBF-SVM. Each Pipeline takes images by the convention of
:mod:`skfer` (any size, grey or colour): it converts to grey and resizes to
48x48 first, so it also takes raw face crops.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from .preprocessing import (
    Flatten,
    Grayscale,
    HOGFeatures,
    LBPFeatures,
    Normalize,
    Resize,
)

__all__ = ["BASELINES", "make_baseline"]

#: Names accepted by :func:`make_baseline`, with a one-line description.
BASELINES = {
    "pca_svm": "equalised pixels -> PCA(50, whitened) -> RBF-SVM (eigenfaces + SVM)",
    "pca_lda": "equalised pixels -> PCA(50) -> LDA (fisherfaces)",
    "pca_knn": "equalised pixels -> PCA(50, whitened) -> 5-nearest neighbours",
    "hog_svm": "HOG (9 orientations, 8x8 cells, 2x2 blocks) -> RBF-SVM",
    "lbp_svm": "uniform LBP(8, 1) histograms on an 8x8 grid -> RBF-SVM",
}


def _front(size):
    return [("grayscale", Grayscale()), ("resize", Resize(size=size))]


def _pca_front(size, whiten, random_state):
    return _front(size) + [
        ("normalize", Normalize(method="equalize")),
        ("flatten", Flatten(dtype=np.float32)),
        ("pca", PCA(n_components=50, whiten=whiten, random_state=random_state)),
    ]


def make_baseline(name, *, size=(48, 48), random_state=None, **params):
    """Build a classical FER baseline Pipeline from images to labels.

    Parameters
    ----------
    name : {'pca_svm', 'pca_lda', 'pca_knn', 'hog_svm', 'lbp_svm'}
        Which family (see :data:`BASELINES`).
    size : int or (height, width), default=(48, 48)
        Faces are converted to grey and resized to this size first.
    random_state : int or None, default=None
        Seed of the randomised parts (PCA's solver).
    **params
        Step parameters in Pipeline syntax, set with ``set_params``, e.g.
        ``svc__C=1`` or ``pca__n_components=100``. Step names: ``grayscale``,
        ``resize``, then ``normalize``, ``flatten``, ``pca`` and ``svc`` /
        ``lda`` / ``knn`` for the PCA families, ``hog`` or ``lbp`` then
        ``svc`` for the descriptor families.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted; ready for ``fit``, ``cross_val_score`` or ``GridSearchCV``.

    Notes
    -----
    Defaults were chosen on CK+48 (981 images, 7 classes) under
    subject-independent ``GroupKFold(10)``, before any per-fold tuning:
    hog_svm 0.890, pca_lda 0.870, pca_svm 0.816, lbp_svm 0.737,
    pca_knn 0.621 mean accuracy (``benchmarks/bench_baselines.py``).

    Examples
    --------
    >>> from skfer.baselines import make_baseline
    >>> from skfer.datasets import make_faces
    >>> faces = make_faces(n_samples=140, random_state=0)
    >>> model = make_baseline("hog_svm", svc__C=5).fit(faces.images, faces.target)
    >>> model.predict(faces.images[:3]).shape
    (3,)
    >>> [step for step, _ in model.steps]
    ['grayscale', 'resize', 'hog', 'svc']
    """
    if name == "pca_svm":
        steps = _pca_front(size, True, random_state) + [("svc", SVC(C=10))]
    elif name == "pca_lda":
        steps = _pca_front(size, False, random_state) + [("lda", LinearDiscriminantAnalysis())]
    elif name == "pca_knn":
        steps = _pca_front(size, True, random_state) + [("knn", KNeighborsClassifier(5))]
    elif name == "hog_svm":
        steps = _front(size) + [("hog", HOGFeatures()), ("svc", SVC(C=10))]
    elif name == "lbp_svm":
        steps = _front(size) + [("lbp", LBPFeatures()), ("svc", SVC(C=1))]
    else:
        raise ValueError(
            f"Unknown baseline {name!r}; choose one of {sorted(BASELINES)}."
        )
    pipe = Pipeline(steps)
    if params:
        try:
            pipe.set_params(**params)
        except ValueError as exc:
            raise ValueError(
                f"Invalid parameter for baseline {name!r}: {exc} "
                f"Step names are {[s for s, _ in steps]}."
            ) from None
    return pipe
