"""Deep facial expression classifiers: scikit-learn estimators wrapping skorch.

* :class:`CNNClassifier`: images ``(n, H, W[, C])`` to labels with a
  convolutional net from :mod:`skfer.nets` (``'simple'``, ``'vgg'``,
  ``'resnet'``, ``'mini_xception'`` or your own ``nn.Module`` class);
* :class:`RNNClassifier`: reads each image as a sequence of rows
  (LSTM(128) -> LSTM(64) -> Dense by default);
* :class:`SequenceClassifier`: frame sequences ``(n, T, H, W[, C])``, a CNN
  per frame and an LSTM/GRU over time;
* :func:`load`: the safe counterpart of ``estimator.save(path)``
  (``config.json`` + ``weights.safetensors``, no pickle).

Each estimator builds a skorch ``NeuralNetClassifier`` inside ``fit`` (kept
as ``net_``) and follows scikit-learn's API: ``clone``, ``GridSearchCV``
(architecture hyperparameters as ``module__<name>``), Pipelines, pickling.
"""

from ._estimators import CNNClassifier, RNNClassifier, SequenceClassifier
from ._persist import load

__all__ = ["CNNClassifier", "RNNClassifier", "SequenceClassifier", "load"]
