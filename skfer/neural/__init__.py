"""Deep facial expression classifiers: scikit-learn estimators wrapping skorch.

* :class:`CNNClassifier`: images ``(n, H, W[, C])`` to labels with a
  convolutional net from :mod:`skfer.nets` (``'simple'``, ``'vgg'``,
  ``'resnet'``, ``'mini_xception'`` or your own ``nn.Module`` class);
* :class:`RNNClassifier`: reads each image as a sequence of rows
  (LSTM(128) -> LSTM(64) -> Dense by default);
* :class:`SequenceClassifier`: frame sequences ``(n, T, H, W[, C])``, a CNN
  per frame and an LSTM/GRU over time;
* :class:`BaseNeuralClassifier`: what the three share (``fit``,
  ``predict_proba``, ``save``...), for ``isinstance`` checks.

``estimator.save(path)`` writes a ``.skfer`` model file (JSON and
safetensors, no pickle) that :func:`skfer.io.load_model` reads back, as it
reads every skfer model file; ``load`` is its deprecated alias.

Each estimator builds a skorch ``NeuralNetClassifier`` inside ``fit`` (kept
as ``net_``) and follows scikit-learn's API: ``clone``, ``GridSearchCV``
(architecture hyperparameters as ``module__<name>``), Pipelines, pickling.
"""

from ._base import BaseNeuralClassifier
from ._estimators import CNNClassifier, RNNClassifier, SequenceClassifier
from ._load import load

__all__ = [
    "BaseNeuralClassifier",
    "CNNClassifier",
    "RNNClassifier",
    "SequenceClassifier",
    "load",
]
