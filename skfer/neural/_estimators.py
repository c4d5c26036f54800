"""CNNClassifier, RNNClassifier and SequenceClassifier."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._image import as_pixel_dtype, check_images, image_shape_of
from ..nets import RowRNN, SequenceNet, accepts_argument, get_architecture
from ._base import (
    ARCHITECTURE,
    INT_OR_TUPLE,
    BaseNeuralClassifier,
    _is_flat_candidate,
    as_tuple_param,
    to_contiguous,
)

__all__ = ["CNNClassifier", "RNNClassifier", "SequenceClassifier"]

_COMMON_PARAMS = """\
    optimizer : {{'adam', 'adamw', 'sgd', 'rmsprop'}} or torch.optim.Optimizer class, default='adam'
        The optimizer. ``'sgd'`` and ``'rmsprop'`` use momentum 0.9 unless
        ``optimizer__momentum`` says otherwise.
    lr : float, default={lr}
        Learning rate (the starting one, under a schedule).
    weight_decay : float, default={weight_decay}
        L2 penalty passed to the optimizer.
    lr_schedule : {{'cosine', 'step', 'plateau', 'constant', None}}, default='cosine'
        ``'cosine'``: cosine annealing from ``lr`` towards 0 over
        ``max_epochs``; ``'step'``: times 0.1 every ``max_epochs // 3``
        epochs; ``'plateau'``: times 0.1 when the validation loss (the
        training loss without validation) has not improved for
        ``patience // 2`` epochs; ``'constant'`` or None: fixed ``lr``.
    loss : {{'cross_entropy', 'mse'}}, default='cross_entropy'
        Cross-entropy on the logits, or mean squared error between the
        softmax probabilities and one-hot targets.
    label_smoothing : float, default=0.1
        Label smoothing in [0, 1) (for both losses): the targets give
        ``label_smoothing / n_classes`` to every class. It helps small data
        sets; set 0 for plain cross-entropy.
    batch_size : int, default={batch_size}
        Mini-batch size for training and prediction.
    max_epochs : int, default={max_epochs}
        Epochs to train (fewer when early stopping stops).
    augment : bool or dict, default=True
        Data augmentation of training batches only, done on whole batches
        as tensor operations. ``True``: ``{{'hflip': True, 'rotation': 15,
        'shift': 0.1, 'scale': 0.15}}`` (mirror with probability 1/2, rotate
        up to 15 degrees, shift up to 10% of the size, zoom by up to 15%).
        A dict enables exactly its keys: ``'hflip'`` (bool), ``'rotation'``
        (degrees), ``'shift'``, ``'scale'``, ``'crop'`` (random crop of a
        window of up to this fraction smaller, resized back),
        ``'brightness'``, ``'contrast'`` (fractions; they have no effect
        with ``standardize='image'``). ``False`` or None: off.
    standardize : {{'image', 'dataset'}}, default='image'
        How the net's input is standardised (after scaling to [0, 1] and
        augmentation): ``'image'``: each image (each frame) by its own mean
        and standard deviation, which removes differences in brightness and
        contrast between photos and subjects and generalises better across
        people; ``'dataset'``: each channel by the
        training set's mean and standard deviation (``input_mean_``,
        ``input_std_``), keeping absolute intensities. Use ``'dataset'``
        for flat feature vectors rather than pictures.
    validation_fraction : float or None, default=0.1
        Fraction of the training data held out (stratified by class when
        every class allows it, drawn with ``random_state``) to report the
        validation loss and accuracy per epoch and for early stopping.
        None: train on everything, no validation. Fewer than 4 samples
        disable it.
    early_stopping : bool, default=True
        Stop when the validation loss has not improved for ``patience``
        epochs and restore the weights of the best epoch (needs
        ``validation_fraction``).
    patience : int, default={patience}
        Epochs without improvement before stopping.
    max_time : float or None, default=None
        Wall-clock budget of training in seconds: training stops after the
        epoch during which it is exceeded (then, with early stopping, the
        best epoch's weights are restored). None: no budget. Under a
        ``'cosine'`` or ``'step'`` schedule, set ``max_epochs`` to what fits
        the budget so the schedule completes.
    test_time_flip : bool, default=False
        Average :meth:`predict_proba` over each image and its mirror image
        (left-right flip): a cheap, usual gain of about one point of accuracy
        on FER2013, at twice the prediction time.
    pretrained : str, os.PathLike or None, default=None
        Start from the weights of a ``.skfer`` model file written by
        :meth:`save` or :func:`skfer.io.save_model` (such an estimator, alone
        or as a Pipeline's last step; skfer 0.1's folders and zips too), e.g.
        a net trained on FER2013 to fine-tune on CK+. Every weight whose
        name and shape match is copied in before training; the others (the
        output layer when the classes differ) keep their random
        initialisation. The number copied is ``n_pretrained_``. None: train
        from scratch.
    class_weight : None, 'balanced' or dict, default=None
        Weights of the classes in the loss: ``'balanced'`` is
        ``n_samples / (n_classes * count)`` per class (for imbalanced data
        such as FER2013, where disgust is 1.5%); a dict maps labels to
        weights (missing labels weigh 1).
    device : {{'auto', 'cpu', 'cuda'}}, 'cuda:<index>' or torch.device, default='auto'
        Where to train and predict; ``'auto'``: CUDA when available, else
        CPU. The resolved device is ``device_``.
    mixed_precision : 'auto' or bool, default='auto'
        Autocast to bfloat16 (float16 with a gradient scaler on GPUs without
        bfloat16) on CUDA; ``'auto'`` and ``True`` do so on CUDA only (no
        effect on CPU).
    channels_last : 'auto' or bool, default='auto'
        Use the ``channels_last`` memory format for convolutions;
        ``'auto'``: on CUDA for convolutional nets.
    compile : bool or dict, default=False
        Run the net's forward pass (training, validation and prediction)
        through ``torch.compile``: ``True`` with its defaults (the
        ``'inductor'`` backend, which needs a C++ compiler on CPU and Triton
        on CUDA), or a dict of its keyword arguments, e.g.
        ``{{'mode': 'max-autotune'}}`` or ``{{'backend': 'eager'}}``.
        ``False`` or None: off. Compilation happens on the first batches of
        ``fit`` (and again for prediction), seconds to minutes, so it pays
        off for long GPU trainings only. The fitted ``net_.module_`` stays
        the uncompiled module (same weights, same state dict keys); the
        compiled wrapper is not pickled and is rebuilt after loading.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, shuffling, dropout, augmentation
        and validation split: with an int, repeated fits on CPU give
        identical nets; torch's global random state is left as it was.
    verbose : int, default=0
        0: silent; 1: a table with one row per epoch (losses, validation
        accuracy, time); 2: also a progress bar per epoch.
    callbacks : list or None, default=None
        The user's own skorch callbacks (instances or ``(name, callback)``
        pairs), added to the built-in ones; copied at each fit.
    **kwargs : module__<name>, optimizer__<name>
        Arguments of the architecture's constructor (``module__dropout=0.3``,
        ``module__channels=(32, 64)``) and of the optimizer
        (``optimizer__momentum=0.8``). See "Notes"."""

_NOTES = """\
    **module__ and optimizer__ parameters.** Like skorch, the estimator
    takes ``module__<name>`` and ``optimizer__<name>`` keyword arguments on
    top of its named ones. They are kept in one private dict (so that
    ``__init__`` sets no attribute besides its parameters), readable as
    attributes (``est.module__dropout``), and reported by ``get_params``
    and accepted by ``set_params``, ``clone`` and ``GridSearchCV``
    (``param_grid={{'module__dropout': [0.2, 0.5]}}``, or
    ``'clf__module__dropout'`` in a Pipeline), whether or not they were set
    before. They are checked against the architecture's signature at fit;
    ``n_classes``, ``in_channels`` and ``input_shape`` come from the data
    and cannot be set this way. Keyword arguments without one of the two
    prefixes are stored like the others (``__init__`` validates nothing)
    but make ``fit`` raise a ``TypeError``.

    **Input scaling.** ``uint8`` images are divided by 255. Float images
    whose maximum exceeds 1 are taken as [0, 255] and divided by 255,
    others as [0, 1]; the factor decided at fit (``input_scale_``) is used
    for float images at predict time (after a fit on ``uint8`` images,
    ``input_scale_`` is None and float images are scaled by the same rule
    at predict). The scaled images are then standardised per channel with
    the training mean and standard deviation (``input_mean_``,
    ``input_std_``, kept in the net's buffers) or, by default, each image by
    its own (see ``standardize``).

    **Training.** ``fit`` builds a new skorch
    :class:`~skorch.classifier.NeuralNetClassifier` (``net_``) around
    ``InputModel(architecture)`` every time, on a dataset held as one
    tensor from which batches are sliced (no per-sample Python in the
    loop). ``net_.history`` holds the per-epoch losses and accuracies.
    ``fit(X, y, votes=V)`` trains on soft targets instead of one-hot
    labels: ``V`` holds one probability distribution per sample (such as
    FER+'s annotator votes), columns in ``classes_`` order, and the loss is
    the cross-entropy against it; ``y`` (the majority labels) still sets
    ``classes_`` and scoring. ``Pipeline``, ``cross_validate`` and
    ``GridSearchCV`` route and slice ``clf__votes`` like ``sample_weight``.

    **Persistence.** A fitted estimator (or a Pipeline holding one) can be
    pickled with ``joblib``/``pickle``; one trained on CUDA unpickles on a
    CPU-only machine (skorch moves it to the CPU with a ``DeviceWarning``
    and ``device_`` follows). :meth:`save` writes a ``.skfer`` model file,
    which runs no code on load (a JSON config and safetensors weights in a
    zip; read it with :func:`skfer.io.load_model`)."""

_COMMON_ATTRS = """\
    classes_ : ndarray of shape (n_classes,)
        The class labels (ints or strings, as given to ``fit``).
    net_ : skorch.NeuralNetClassifier
        The trained skorch net; ``net_.module_`` is the torch module,
        ``net_.history`` the training history.
    input_shape_ : tuple
        {input_shape_doc}
    input_scale_ : float or None
        Factor applied to float images (see Notes); None after a fit on
        ``uint8`` images.
    input_mean_, input_std_ : list of float
        Per-channel mean and standard deviation of the scaled training images.
    device_ : str
        The device used, resolved from ``device``.
    n_pretrained_ : int
        Weight tensors copied from ``pretrained`` (0 without it).
    n_features_in_ : int
        Number of features of flat input, only set when ``fit`` got flat input.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only set for a DataFrame with string column names."""

_DEFAULTS = dict(lr="1e-3", weight_decay="1e-4", batch_size="32", max_epochs="80",
                 patience="15")


class _ImageClassifier(BaseNeuralClassifier):
    """Deep estimators of single images: :class:`CNNClassifier`, :class:`RNNClassifier`."""

    _parameter_constraints = {
        **BaseNeuralClassifier._parameter_constraints,
        "image_shape": [None, "array-like"],  # entries checked by image_shape_of
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def _to_tensor_layout(self, X, reset):
        """Validate images once; return ``(n, C, H, W)`` and set or check ``input_shape_``.

        The array is uint8 or float32 with C in 1, 3; ``input_shape_`` is
        ``(H, W, C)``. Image input is validated by
        :func:`skfer._image.check_images`, flat input by sklearn's
        ``validate_data`` (then reshaped by :func:`skfer._image.image_shape_of`).
        """
        name = type(self).__name__
        if _is_flat_candidate(X):
            X = self._validate_flat(X, reset)
            n_features = X.shape[1]
            if self.image_shape is not None:
                shape = image_shape_of(n_features, self.image_shape)
            elif not reset and hasattr(self, "input_shape_") and int(
                np.prod(self.input_shape_)
            ) == n_features:
                shape = image_shape_of(n_features, self.input_shape_)  # (H, W, 1) -> (H, W)
            else:
                shape = image_shape_of(n_features)
            images = as_pixel_dtype(X.reshape((X.shape[0], *shape)))
        else:
            self._forget_n_features(reset)
            images, _ = check_images(X)
            if isinstance(images, list):
                sizes = sorted({tuple(im.shape) for im in images})[:4]
                raise ValueError(
                    f"{name} needs images of one size and channel count, got several "
                    f"(e.g. {sizes}). Resize them first, e.g. with "
                    "skfer.preprocessing.Resize(size=(48, 48)) (and Grayscale() for a "
                    "common channel count)."
                )
        if images.ndim == 4 and images.shape[-1] == 4:
            images = images[..., :3]  # RGBA: the alpha channel is dropped
        if images.ndim == 3:
            images = images[..., np.newaxis]
        shape = tuple(int(s) for s in images.shape[1:])
        if reset:
            self.input_shape_ = shape
        elif shape != tuple(self.input_shape_):
            fit_shape = tuple(self.input_shape_)
            hint = (
                f"Resize them to {fit_shape[0]}x{fit_shape[1]} first, e.g. with "
                f"skfer.preprocessing.Resize(size=({fit_shape[0]}, {fit_shape[1]}))"
            )
            if shape[2] != fit_shape[2]:
                hint += (
                    ", and convert to "
                    + ("grey with skfer.preprocessing.Grayscale()" if fit_shape[2] == 1 else "RGB")
                )
            raise ValueError(
                f"{name} was fitted on images of shape {fit_shape} (H, W, C) but got "
                f"images of shape {shape}. {hint}, in the same preprocessing as for fit."
            )
        return to_contiguous(np.moveaxis(images, -1, 1))


class CNNClassifier(_ImageClassifier):
    _doc_template = """Convolutional neural network classifier for face images.

    Images ``(n_samples, H, W[, C])`` (grey or RGB, ``uint8`` or float; the
    output of skfer's transformers) to labels, with a convolutional net from
    :mod:`skfer.nets` chosen by name or passed as a class, trained by a
    skorch ``NeuralNetClassifier`` built inside ``fit`` (kept as ``net_``).

    Parameters
    ----------
    architecture : str or torch.nn.Module class, default='mini_xception'
        ``'simple'`` (conv 32 -> pool -> conv 64 -> pool -> dense 128 ->
        dense 64), ``'vgg'`` (four blocks of two 3x3 convs with batch norm,
        64 to 512 channels), ``'resnet'`` (ResNet-18 with a 3x3 stem and no
        early max-pool) or ``'mini_xception'`` (depthwise-separable, ~57k
        parameters, the fast choice on CPU); see :mod:`skfer.nets`. A class
        is built as ``cls(n_classes=..., in_channels=..., **module__*)``
        (plus ``input_shape=(H, W)`` when it takes that argument) and must
        return logits ``(N, n_classes)`` from ``(N, C, H, W)`` floats.
    image_shape : tuple or None, default=None
        Shape ``(H, W)`` or ``(H, W, C)`` of one image for flat input
        ``(n_samples, H * W * C)``; one entry may be -1 (inferred, as in
        numpy's reshape: ``(1, -1)`` reads each row as a 1 x n_features
        image). None: the shape seen at fit when the sizes match, else a
        square grey image. Ignored for image input.
{common}

    Attributes
    ----------
{attrs}

    See Also
    --------
    RNNClassifier : Reads each image as a sequence of rows.
    SequenceClassifier : Frame sequences, CNN per frame plus LSTM/GRU.
    skfer.nets : The architectures.

    Notes
    -----
    RGBA images lose their alpha channel. All images must share one size:
    predict on another size (or channel count) than fit raises a
    ``ValueError``; resize first with ``skfer.preprocessing.Resize``.

    **Defaults.** They were chosen on CK+48 (981 grey 48x48 faces) with
    subject-independent folds: ``'mini_xception'``, per-image
    standardisation, flip/rotation/shift/zoom augmentation, label smoothing
    0.1, batch 32 and Adam at 1e-3 with a cosine schedule over 80 epochs
    reach about 0.94 on the first 3 of 10 GroupKFold folds (HOG + linear SVM:
    0.90 on the same folds), at 4 to 6 minutes per fold on one CPU thread.
    On a GPU and with FER2013-sized data, ``'vgg'`` or ``'resnet'`` are
    stronger. The cosine schedule spans ``max_epochs``: to train within a
    time budget, lower ``max_epochs`` rather than interrupting.

{notes}

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.neural import CNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 60, size=(60, 12, 12)).astype(np.uint8)
    >>> y = np.array(["left", "right"] * 30)
    >>> X[y == "left", :, :4] += 150          # a bright band on the left...
    >>> X[y == "right", :, -4:] += 150        # ...or on the right
    >>> clf = CNNClassifier(architecture="simple", module__channels=(8, 16),
    ...                     max_epochs=10, augment=False, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    >>> clf.predict(X[:2]), clf.input_shape_
    (array(['left', 'right'], dtype='<U5'), (12, 12, 1))
    """

    _parameter_constraints = {
        **_ImageClassifier._parameter_constraints,
        "architecture": ARCHITECTURE,
    }

    def __init__(
        self,
        *,
        architecture="mini_xception",
        image_shape=None,
        optimizer="adam",
        lr=1e-3,
        weight_decay=1e-4,
        lr_schedule="cosine",
        loss="cross_entropy",
        label_smoothing=0.1,
        batch_size=32,
        max_epochs=80,
        augment=True,
        standardize="image",
        validation_fraction=0.1,
        early_stopping=True,
        patience=15,
        max_time=None,
        test_time_flip=False,
        pretrained=None,
        class_weight=None,
        device="auto",
        mixed_precision="auto",
        channels_last="auto",
        compile=False,
        random_state=None,
        verbose=0,
        callbacks=None,
        **kwargs,
    ):
        self.architecture = architecture
        self.image_shape = image_shape
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.loss = loss
        self.label_smoothing = label_smoothing
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.augment = augment
        self.standardize = standardize
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.max_time = max_time
        self.test_time_flip = test_time_flip
        self.pretrained = pretrained
        self.class_weight = class_weight
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self._store_prefixed(kwargs)

    def _validate_params_values(self):
        augment = super()._validate_params_values()
        get_architecture(self.architecture)
        return augment

    def _module_spec(self, n_classes):
        cls = get_architecture(self.architecture)
        h, w, c = self.input_shape_
        base = {"n_classes": n_classes, "in_channels": c}
        if accepts_argument(cls, "input_shape"):
            base["input_shape"] = (h, w)
        return cls, self._body_kwargs(base, cls)


class RNNClassifier(_ImageClassifier):
    _doc_template = """Recurrent classifier that reads each image as a sequence of rows.

    Each row of an image ``(H, W[, C])`` is one time step of ``W * C``
    values; stacked recurrent layers (LSTM or GRU) read the ``H`` steps and
    a dense softmax layer classifies the final state. The classic layout is
    LSTM(128) -> LSTM(64) -> Dense, the default. The net is
    :class:`skfer.nets.RowRNN`, trained by a skorch ``NeuralNetClassifier``
    built inside ``fit`` (kept as ``net_``).

    Parameters
    ----------
    hidden_sizes : int or tuple of int, default=(128, 64)
        Width of each recurrent layer; the number of entries is the number
        of stacked layers.
    cell : {{'lstm', 'gru'}}, default='lstm'
        Recurrent cell.
    bidirectional : bool, default=False
        Read each sequence in both directions (the state widths double).
    direction : {{'top_down', 'bottom_up', 'left_right', 'right_left'}}, default='top_down'
        Reading order: rows from the top or from the bottom, or columns
        (then a time step is a column of ``H * C`` values).
    image_shape : tuple or None, default=None
        Shape of one image for flat input, as in :class:`CNNClassifier`
        (``(1, -1)``: each sample is a single row, one time step).
{common}

    Attributes
    ----------
{attrs}

    See Also
    --------
    CNNClassifier : Convolutional nets.
    skfer.nets.RowRNN : The architecture.

    Notes
    -----
    ``module__dropout`` sets the dropout between recurrent layers and before
    the output layer.

{notes}

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.neural import RNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 60, size=(60, 10, 10)).astype(np.uint8)
    >>> y = np.array([0, 1] * 30)
    >>> X[y == 0, :3] += 150                  # bright top rows...
    >>> X[y == 1, -3:] += 150                 # ...or bright bottom rows
    >>> clf = RNNClassifier(hidden_sizes=(16,), max_epochs=15, lr=1e-2,
    ...                     augment=False, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **_ImageClassifier._parameter_constraints,
        "hidden_sizes": INT_OR_TUPLE,
        "cell": [StrOptions({"lstm", "gru"})],
        "bidirectional": [bool],
        "direction": [StrOptions({"top_down", "bottom_up", "left_right", "right_left"})],
    }

    def __init__(
        self,
        *,
        hidden_sizes=(128, 64),
        cell="lstm",
        bidirectional=False,
        direction="top_down",
        image_shape=None,
        optimizer="adam",
        lr=1e-3,
        weight_decay=1e-4,
        lr_schedule="cosine",
        loss="cross_entropy",
        label_smoothing=0.1,
        batch_size=32,
        max_epochs=80,
        augment=True,
        standardize="image",
        validation_fraction=0.1,
        early_stopping=True,
        patience=15,
        max_time=None,
        test_time_flip=False,
        pretrained=None,
        class_weight=None,
        device="auto",
        mixed_precision="auto",
        channels_last="auto",
        compile=False,
        random_state=None,
        verbose=0,
        callbacks=None,
        **kwargs,
    ):
        self.hidden_sizes = hidden_sizes
        self.cell = cell
        self.bidirectional = bidirectional
        self.direction = direction
        self.image_shape = image_shape
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.loss = loss
        self.label_smoothing = label_smoothing
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.augment = augment
        self.standardize = standardize
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.max_time = max_time
        self.test_time_flip = test_time_flip
        self.pretrained = pretrained
        self.class_weight = class_weight
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self._store_prefixed(kwargs)

    def _validate_params_values(self):
        augment = super()._validate_params_values()
        as_tuple_param(self.hidden_sizes, "hidden_sizes", type(self).__name__)
        return augment

    def _channels_last_helps(self):
        return False

    def _module_spec(self, n_classes):
        h, w, c = self.input_shape_
        base = {
            "n_classes": n_classes,
            "in_channels": c,
            "input_shape": (h, w),
            "hidden_sizes": as_tuple_param(self.hidden_sizes, "hidden_sizes", "RNNClassifier"),
            "cell": self.cell,
            "bidirectional": self.bidirectional,
            "direction": self.direction,
        }
        return RowRNN, self._body_kwargs(base, RowRNN)


class SequenceClassifier(BaseNeuralClassifier):
    _doc_template = """Classifier of frame sequences: a CNN encodes each frame, an LSTM/GRU reads them.

    For short videos such as CK+ onset-to-apex frames
    (:func:`skfer.datasets.load_ckplus_sequences`): each frame goes through
    a convolutional encoder from :mod:`skfer.nets` (built without its output
    layer), stacked recurrent layers read the frame features in time order
    and a dense softmax layer classifies the final state. The net is
    :class:`skfer.nets.SequenceNet`, trained by a skorch
    ``NeuralNetClassifier`` built inside ``fit`` (kept as ``net_``).

    Input: an ndarray ``(n_samples, T, H, W)`` (grey; a 4-D array is always
    read this way) or ``(n_samples, T, H, W, C)``, or a list of sequences
    ``(T_i, H, W[, C])`` (lengths may differ when ``n_frames`` is set).
    Flat input ``(n_samples, T * H * W * C)`` has no natural frame layout
    and needs ``sequence_shape``.

    Parameters
    ----------
    encoder : str or torch.nn.Module class, default='simple'
        Frame encoder: an architecture name of :mod:`skfer.nets` or a class
        accepting ``n_classes=None`` (then returning features) and exposing
        ``feature_dim``. Its own arguments go in ``module__encoder_kwargs``
        (``'simple'`` defaults to ``{{'channels': (32, 64), 'hidden': (128,)}}``).
    hidden_sizes : int or tuple of int, default=(64,)
        Widths of the stacked recurrent layers.
    cell : {{'lstm', 'gru'}}, default='lstm'
        Recurrent cell.
    bidirectional : bool, default=False
        Read the frames in both directions.
    n_frames : int or None, default=None
        Resample every sequence to this many frames (evenly spaced indices,
        first and last included; short sequences repeat frames). None: use
        the sequences as they are (they must share one length).
    sequence_shape : tuple or None, default=None
        ``(T, H, W)`` or ``(T, H, W, C)`` for flat input; one entry may be
        -1. None: the shape seen at fit when the sizes match, else flat
        input is refused.
{common}

    Attributes
    ----------
{attrs}

    See Also
    --------
    CNNClassifier : Single images.
    skfer.nets.SequenceNet : The architecture.

    Notes
    -----
    The frame size and channels at predict must match fit; the number of
    frames may differ (the recurrent layers read any length) unless
    ``n_frames`` fixes it. Augmentation applies the same random transform
    to all frames of a sequence.

{notes}

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.neural import SequenceClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 40, size=(40, 4, 8, 8)).astype(np.uint8)
    >>> y = np.array(["right", "left"] * 20)
    >>> for t in range(4):                  # a bright column moves right or left
    ...     X[y == "right", t, :, 2 * t] = 200
    ...     X[y == "left", t, :, 6 - 2 * t] = 200
    >>> clf = SequenceClassifier(module__encoder_kwargs={{"channels": (4,), "hidden": (8,)}},
    ...                          hidden_sizes=(8,), max_epochs=20, lr=1e-2,
    ...                          augment=False, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    """

    _input_ndim = 5

    _parameter_constraints = {
        **BaseNeuralClassifier._parameter_constraints,
        "encoder": ARCHITECTURE,
        "hidden_sizes": INT_OR_TUPLE,
        "cell": [StrOptions({"lstm", "gru"})],
        "bidirectional": [bool],
        "n_frames": [Interval(Integral, 1, None, closed="left"), None],
        "sequence_shape": [None, "array-like"],  # entries checked by image_shape_of
    }

    def __init__(
        self,
        *,
        encoder="simple",
        hidden_sizes=(64,),
        cell="lstm",
        bidirectional=False,
        n_frames=None,
        sequence_shape=None,
        optimizer="adam",
        lr=1e-3,
        weight_decay=1e-4,
        lr_schedule="cosine",
        loss="cross_entropy",
        label_smoothing=0.1,
        batch_size=32,
        max_epochs=80,
        augment=True,
        standardize="image",
        validation_fraction=0.1,
        early_stopping=True,
        patience=15,
        max_time=None,
        test_time_flip=False,
        pretrained=None,
        class_weight=None,
        device="auto",
        mixed_precision="auto",
        channels_last="auto",
        compile=False,
        random_state=None,
        verbose=0,
        callbacks=None,
        **kwargs,
    ):
        self.encoder = encoder
        self.hidden_sizes = hidden_sizes
        self.cell = cell
        self.bidirectional = bidirectional
        self.n_frames = n_frames
        self.sequence_shape = sequence_shape
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.loss = loss
        self.label_smoothing = label_smoothing
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.augment = augment
        self.standardize = standardize
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.max_time = max_time
        self.test_time_flip = test_time_flip
        self.pretrained = pretrained
        self.class_weight = class_weight
        self.device = device
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self._store_prefixed(kwargs)

    def _validate_params_values(self):
        augment = super()._validate_params_values()
        get_architecture(self.encoder)
        as_tuple_param(self.hidden_sizes, "hidden_sizes", type(self).__name__)
        return augment

    def _to_tensor_layout(self, X, reset):
        """Validate frame sequences once; return ``(n, T, C, H, W)``, set or check ``input_shape_``.

        Frames are validated by :func:`skfer._image.check_images` (flat
        input by sklearn's ``validate_data``, reshaped by
        :func:`skfer._image.image_shape_of`); ``input_shape_`` is
        ``(T, H, W, C)``.
        """
        name = type(self).__name__
        flat = _is_flat_candidate(X)
        if flat:
            X = self._validate_flat(X, reset)
            n_features = X.shape[1]
            if self.sequence_shape is not None:
                shape = image_shape_of(n_features, self.sequence_shape,
                                       name="sequence_shape", frames=True)
            elif not reset and hasattr(self, "input_shape_") and int(
                np.prod(self.input_shape_)
            ) == n_features:
                shape = image_shape_of(n_features, self.input_shape_, frames=True)
            else:
                raise ValueError(
                    f"{name} got flat input of shape {X.shape}, which has no frame "
                    "layout. Pass sequences (n_samples, T, H, W[, C]), or set "
                    "sequence_shape=(T, H, W[, C]) to reshape each row."
                )
            seqs = X.reshape((X.shape[0], *shape))
        else:
            self._forget_n_features(reset)
            if isinstance(X, np.ndarray) and X.dtype != object:
                seqs = X
            else:
                try:
                    items = [np.asarray(s) for s in X]
                except TypeError:
                    raise ValueError(
                        f"{name} expects frame sequences (n_samples, T, H, W[, C]) or a "
                        f"list of (T, H, W[, C]) arrays, got {type(X).__name__}."
                    ) from None
                if not items:
                    raise ValueError(f"{name}: X holds 0 sequences; at least 1 is required.")
                items = [_resample(s, self.n_frames) if s.ndim in (3, 4) else s for s in items]
                shapes = sorted({s.shape for s in items})
                if len(shapes) > 1:
                    lengths = sorted({s.shape[0] for s in items})
                    hint = (
                        "set n_frames to resample them to one length"
                        if len({s.shape[1:] for s in items}) == 1
                        else "resize the frames to one size first (skfer.preprocessing.Resize)"
                    )
                    raise ValueError(
                        f"{name}: sequences differ in shape (e.g. {shapes[:3]}, lengths "
                        f"{lengths[:5]}); {hint}."
                    )
                seqs = np.stack(items)
        if seqs.ndim not in (4, 5):
            raise ValueError(
                f"{name} expects frame sequences (n_samples, T, H, W) or "
                f"(n_samples, T, H, W, C), got an array of shape {seqs.shape}."
            )
        if seqs.shape[0] == 0 or seqs.shape[1] == 0:
            raise ValueError(f"{name}: empty input of shape {seqs.shape}.")
        seqs = _resample_axis1(seqs, self.n_frames)
        n, t = seqs.shape[:2]
        frames = seqs.reshape((n * t, *seqs.shape[2:]))
        if flat:  # checked by validate_data; the shape by image_shape_of
            frames = as_pixel_dtype(frames)
        else:
            frames = check_images(frames, name="frames")[0]
        if frames.ndim == 4 and frames.shape[-1] == 4:
            frames = frames[..., :3]  # RGBA: the alpha channel is dropped
        if frames.ndim == 3:
            frames = frames[..., np.newaxis]
        seqs = frames.reshape((n, t, *frames.shape[1:]))
        shape = tuple(int(s) for s in seqs.shape[1:])
        if reset:
            self.input_shape_ = shape
        elif shape[1:] != tuple(self.input_shape_)[1:]:
            fit_shape = tuple(self.input_shape_)
            raise ValueError(
                f"{name} was fitted on frames of shape {fit_shape[1:]} (H, W, C) but got "
                f"frames of shape {shape[1:]}. Resize them to {fit_shape[1]}x{fit_shape[2]} "
                f"first, e.g. with skfer.preprocessing.Resize(size=({fit_shape[1]}, "
                f"{fit_shape[2]})), in the same preprocessing as for fit."
            )
        return to_contiguous(np.moveaxis(seqs, -1, 2))

    def _module_spec(self, n_classes):
        _, h, w, c = self.input_shape_
        base = {
            "n_classes": n_classes,
            "in_channels": c,
            "input_shape": (h, w),
            "encoder": self.encoder,
            "hidden_sizes": as_tuple_param(self.hidden_sizes, "hidden_sizes", "SequenceClassifier"),
            "cell": self.cell,
            "bidirectional": self.bidirectional,
        }
        return SequenceNet, self._body_kwargs(base, SequenceNet)


def _resample(seq, n_frames):
    t = len(seq)
    if n_frames is None or t == n_frames:
        return seq
    idx = np.round(np.linspace(0, t - 1, n_frames)).astype(int)
    return seq[idx]


def _resample_axis1(seqs, n_frames):
    if n_frames is None or seqs.shape[1] == n_frames:
        return seqs
    idx = np.round(np.linspace(0, seqs.shape[1] - 1, n_frames)).astype(int)
    return seqs[:, idx]


def _fill_docs():
    for cls in (CNNClassifier, RNNClassifier, SequenceClassifier):
        defaults = dict(_DEFAULTS)
        shape_doc = (
            "``(T, H, W, C)`` of the sequences seen at fit (C is 1 for grey)."
            if cls is SequenceClassifier
            else "``(H, W, C)`` of the images seen at fit (C is 1 for grey)."
        )
        cls.__doc__ = cls._doc_template.format(
            common=_COMMON_PARAMS.format(**defaults),
            attrs=_COMMON_ATTRS.format(input_shape_doc=shape_doc),
            notes=_NOTES.format(),
        )


_fill_docs()
