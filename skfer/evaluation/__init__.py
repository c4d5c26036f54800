"""Fair comparisons of FER models: same folds, honest splits, readable reports.

* :func:`compare`: several estimators (classical baselines and deep nets
  alike) on exactly the same folds, subject-independent when subjects are
  known, or on one fixed train/test split; returns a
  :class:`CompareResults` with accuracy, macro-F1, per-class recall,
  confusion matrices, fit/predict times and the deep models' training
  histories, exported as Markdown, CSV, JSON, figures or a report folder.
* :func:`cross_dataset`: fit once on one dataset and score on others, with
  labels mapped by name to one emotion vocabulary and classes absent from
  training reported, not dropped.
* :data:`EMOTIONS`, :func:`canonical_emotion`, :func:`map_labels`: the
  vocabulary and label mapping (also available as ``skfer.EMOTIONS`` ...).

The ``skfer compare`` command line runs :func:`compare` on a dataset and
writes the report folder (:meth:`CompareResults.save`).
"""

from .._emotions import EMOTIONS, canonical_emotion, map_labels
from ._compare import compare
from ._cross_dataset import CrossDatasetResults, cross_dataset
from ._results import CompareResults

__all__ = [
    "EMOTIONS",
    "CompareResults",
    "CrossDatasetResults",
    "canonical_emotion",
    "compare",
    "cross_dataset",
    "map_labels",
]
