"""Shared machinery of the deep estimators (not public)."""

from __future__ import annotations

import copy
import numbers
import os
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._data import (
    TensorBatches,
    ValidationSplit,
    check_augment,
    check_votes,
    hard_targets,
    split_indices,
)
from ._net import InputModel, SkferNet, SoftmaxMSELoss, TimeBudget, softmax

#: Keyword-argument prefixes routed to the net (see the class docstrings).
PREFIXES = ("module__", "optimizer__")

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}
_LOSSES = ("cross_entropy", "mse")
_SCHEDULES = ("constant", "cosine", "step", "plateau")  # or None

#: sklearn constraint of an architecture parameter: a name or a class, checked
#: by :func:`skfer.nets.get_architecture`, which also explains why a module
#: instance is refused (hence its hidden constraint: the instance reaches it).
ARCHITECTURE = [str, type, Hidden(torch.nn.Module)]

#: sklearn constraint of an int-or-tuple parameter such as ``hidden_sizes``
#: (its entries are checked by :func:`as_tuple_param`).
INT_OR_TUPLE = [Interval(Integral, 1, None, closed="left"), "array-like"]


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _compile_keys():
    import inspect

    return tuple(p for p in inspect.signature(torch.compile).parameters if p != "model")


def check_compile(value, owner):
    """Validate the ``compile`` parameter; return ``torch.compile`` kwargs or None (off).

    False (or None): off; True: ``torch.compile`` with its defaults; a dict:
    its keyword arguments, checked against ``torch.compile``'s signature.
    """
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, dict):
        keys = _compile_keys()
        unknown = sorted(str(k) for k in value if k not in keys)
        if unknown:
            raise ValueError(
                f"{owner}: compile has unknown keys {unknown}; it takes the keyword "
                f"arguments of torch.compile: {list(keys)}."
            )
        mode = value.get("mode")
        if mode is not None and not isinstance(mode, str):
            raise ValueError(f"{owner}: compile['mode'] must be a str or None, got {mode!r}.")
        backend = value.get("backend")
        if backend is not None and not (isinstance(backend, str) or callable(backend)):
            raise ValueError(
                f"{owner}: compile['backend'] must be a backend name such as 'inductor' "
                f"or 'eager', or a callable, got {backend!r}."
            )
        return dict(value)
    raise ValueError(
        f"{owner}: compile must be False, True or a dict of torch.compile keyword "
        f"arguments (e.g. {{'mode': 'max-autotune'}} or {{'backend': 'eager'}}), got {value!r}."
    )


def resolve_device(device):
    """``'auto'`` -> ``'cuda'`` when available else ``'cpu'``; others checked."""
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:<index>' or a torch.device, got {device!r}."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available on this machine; use "
            "device='auto' (CUDA when available, else CPU) or device='cpu'."
        )
    return str(dev)


def _is_flat_candidate(X):
    """Whether ``X`` should go through sklearn's 2-D validation."""
    if sp.issparse(X):
        return True
    if isinstance(X, np.ndarray):
        return X.dtype != object and X.ndim <= 2 or (X.dtype == object and X.ndim == 2)
    if isinstance(X, (str, bytes)) or X is None:
        return False
    if hasattr(X, "__array__") or hasattr(X, "iloc"):
        try:
            arr = np.asarray(X)
        except Exception:
            return False
        return arr.ndim <= 2
    if isinstance(X, (list, tuple)) and len(X) and all(
        isinstance(r, (list, tuple)) and all(isinstance(v, numbers.Number) for v in r)
        for r in X[:5]
    ):
        return True
    return False


def _channel_stats(X, scale, channel_axis):
    """Per-channel mean and std of ``X * scale`` (float64, chunked)."""
    n = X.shape[0]
    c = X.shape[channel_axis]
    s = np.zeros(c)
    ss = np.zeros(c)
    count = 0
    channel_axis %= X.ndim
    axes = tuple(a for a in range(X.ndim) if a != channel_axis)
    for start in range(0, n, 2048):
        chunk = np.asarray(X[start : start + 2048], dtype=np.float64) * scale
        s += chunk.sum(axis=axes)
        ss += np.square(chunk).sum(axis=axes)
        count += chunk.size // c
    mean = s / count
    std = np.sqrt(np.maximum(ss / count - mean**2, 0.0))
    std[std < 1e-6] = 1.0
    return mean.tolist(), std.tolist()


def _float_scale(X):
    """1/255 when a float image set looks like [0, 255] (its max exceeds 1)."""
    return 1.0 / 255.0 if X.size and float(np.max(X)) > 1.0 else 1.0


class BaseNeuralClassifier(ClassifierMixin, BaseEstimator):
    """Common code of :class:`CNNClassifier`, :class:`RNNClassifier`, :class:`SequenceClassifier`.

    Subclasses define ``__init__`` (explicit keyword-only parameters plus
    ``**kwargs`` for ``module__*``/``optimizer__*``, stored by
    :meth:`_store_prefixed`), ``_to_tensor_layout`` and ``_module_spec``.
    Public for ``isinstance`` checks: every skfer deep estimator is one.

    Examples
    --------
    >>> from skfer.neural import BaseNeuralClassifier, CNNClassifier, RNNClassifier
    >>> isinstance(CNNClassifier(), BaseNeuralClassifier)
    True
    >>> issubclass(RNNClassifier, BaseNeuralClassifier)
    True
    """

    _input_ndim = 4  # ndim of the tensor the body receives (N, C, H, W)

    # ------------------------------------------------------------ params
    def _store_prefixed(self, kwargs):
        # Stored as given; names are checked in fit (STYLE: __init__ validates nothing).
        self._prefixed_params = dict(kwargs)

    def _check_prefixed(self):
        bad = sorted(k for k in self._prefixed_params if not k.startswith(PREFIXES))
        if bad:
            raise TypeError(
                f"{type(self).__name__} got unexpected parameter(s) {bad}; besides "
                "its named parameters it takes only module__<name> (arguments of "
                "the architecture) and optimizer__<name> (arguments of the optimizer)."
            )

    def __getattr__(self, name):
        # Only called when normal lookup fails: expose module__x / optimizer__x.
        if name.startswith(PREFIXES):
            prefixed = self.__dict__.get("_prefixed_params", {})
            if name in prefixed:
                return prefixed[name]
        elif name == "_prefixed_params":
            return {}
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_params(self, deep=True):
        """Get parameters, including the ``module__*`` and ``optimizer__*`` ones.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of nested estimators.

        Returns
        -------
        params : dict
        """
        params = super().get_params(deep=deep)
        params.update(self.__dict__.get("_prefixed_params", {}))
        return params

    def set_params(self, **params):
        """Set parameters; ``module__<name>`` and ``optimizer__<name>`` are accepted.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
        """
        known = self.__dict__.get("_prefixed_params", {})
        prefixed = {k: v for k, v in params.items() if k.startswith(PREFIXES) or k in known}
        if prefixed:
            # copy on write: a clone never shares this dict
            self._prefixed_params = {**self.__dict__.get("_prefixed_params", {}), **prefixed}
        rest = {k: v for k, v in params.items() if k not in prefixed}
        if rest:
            super().set_params(**rest)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_") and hasattr(self, "classes_")

    #: sklearn's constraints of the parameters every deep estimator takes,
    #: checked by ``_validate_params`` when ``fit`` starts (``_fit_context``);
    #: subclasses add theirs (``{**BaseNeuralClassifier._parameter_constraints,
    #: ...}``). What constraints cannot express is checked by
    #: :meth:`_validate_params_values`.
    _parameter_constraints: dict = {
        "optimizer": [StrOptions(set(_OPTIMIZERS)), type],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions(set(_SCHEDULES)), None],
        "loss": [StrOptions(set(_LOSSES))],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "augment": [bool, dict, None],
        "standardize": [StrOptions({"image", "dataset"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "early_stopping": [bool],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "test_time_flip": [bool],
        # an estimator reaches the code check, which says to save it first
        "pretrained": [str, os.PathLike, None, Hidden(BaseEstimator)],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "device": [str, torch.device, None],
        "mixed_precision": [StrOptions({"auto"}), bool],
        "channels_last": [StrOptions({"auto"}), bool],
        "compile": [bool, dict, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
    }

    def _validate_params_values(self):
        """Check what the constraints cannot express; return the augment dict.

        Called by ``fit`` after sklearn's ``_validate_params``: the value
        types and ranges are known to be right here.
        """
        name = type(self).__name__
        if isinstance(self.optimizer, type) and not issubclass(
            self.optimizer, torch.optim.Optimizer
        ):
            raise ValueError(
                f"{name}: optimizer must be one of {sorted(_OPTIMIZERS)} or a "
                f"torch.optim.Optimizer class, got {self.optimizer!r}."
            )
        pre = self.pretrained
        if pre is not None and not isinstance(pre, (str, os.PathLike)):
            raise ValueError(
                f"{name}: pretrained must be None or the path of a saved skfer model "
                f"(a .skfer file, a folder or a .zip), got {type(pre).__name__}. To "
                "start from a fitted estimator, save it first: est.save('model.skfer')."
            )
        check_compile(self.compile, name)
        return check_augment(self.augment)

    # ------------------------------------------------------------ input
    def _check_y(self, y, n_samples):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        check_consistent_length(np.empty(n_samples), y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__}: y holds only 1 class ({str(classes[0])!r}) in its "
                f"{len(y)} labels: a classifier needs two or more; give samples of at "
                "least two classes."
            )
        return y

    def _validate_flat(self, X, reset):
        return validate_data(
            self,
            X,
            reset=reset,
            dtype=(np.float32, np.float64, np.uint8),
            ensure_all_finite=True,
            ensure_min_samples=1,
        )

    def _forget_n_features(self, reset):
        if reset:
            for attr in ("n_features_in_", "feature_names_in_"):
                if hasattr(self, attr):
                    delattr(self, attr)

    def _scale_for(self, X, reset):
        """Factor bringing ``X`` to [0, 1]; see the class docstrings."""
        if X.dtype == np.uint8:
            if reset:
                self.input_scale_ = None
            return 1.0 / 255.0
        if reset:
            self.input_scale_ = _float_scale(X)
            return self.input_scale_
        if self.input_scale_ is not None:
            return self.input_scale_
        return _float_scale(X)

    # ------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, votes=None):
        """Train a new net on ``X``, ``y`` (from scratch: every call re-initialises).

        Parameters
        ----------
        X : images
            See the class docstring for the accepted layouts.
        y : array-like of shape (n_samples,)
            Class labels (ints or strings). With ``votes``, the majority
            label of each sample: it sets ``classes_`` and is what
            ``score`` compares predictions with.
        votes : array-like of shape (n_samples, n_classes) or None, default=None
            Soft targets: one probability distribution over the classes per
            sample, such as the annotators' vote shares of FER+
            (:func:`skfer.datasets.load_ferplus` returns them as ``votes``).
            Columns are the classes in ``classes_`` order, i.e. the sorted
            labels of ``y``. Rows must be non-negative, finite and sum to 1
            (within 1e-3; they are renormalised exactly). The net is then
            trained with the cross-entropy against these distributions
            instead of the one-hot labels (``loss='cross_entropy'`` only);
            ``label_smoothing`` mixes each distribution with the uniform one
            and ``class_weight`` weights each class's term, as
            :class:`torch.nn.CrossEntropyLoss` does for probability
            targets. The validation split (``validation_fraction``) is
            stratified, and ``valid_acc`` scored, by each row's most voted
            class; ``valid_loss`` is the cross-entropy against the votes.
            Routed by :class:`~sklearn.pipeline.Pipeline` as
            ``pipe.fit(X, y, clf__votes=V)`` and sliced per fold by
            ``cross_validate(..., params={"clf__votes": V})`` and
            ``GridSearchCV(...).fit(X, y, clf__votes=V)``, like
            ``sample_weight``.

        Returns
        -------
        self : object
            The fitted estimator; the trained skorch net is ``net_``.

        Raises
        ------
        ValueError
            If ``votes`` has another shape than (n_samples, n_classes),
            holds NaN, infinity or negative values, has rows that do not sum
            to 1, or comes with ``loss='mse'``.
        """
        self._check_prefixed()
        augment = self._validate_params_values()
        X_arr = self._to_tensor_layout(X, reset=True)
        y = self._check_y(y, len(X_arr))
        self._label_encoder = LabelEncoder().fit(y)
        self.classes_ = self._label_encoder.classes_
        y_enc = self._label_encoder.transform(y).astype(np.int64)
        n_classes = len(self.classes_)
        if votes is not None:
            votes = check_votes(votes, len(X_arr), self.classes_, type(self).__name__)
            if self.loss != "cross_entropy":
                raise ValueError(
                    f"{type(self).__name__}: votes= trains with the cross-entropy "
                    f"against the vote distributions, but loss={self.loss!r}; use "
                    "loss='cross_entropy', or fit on the labels y alone."
                )

        scale = self._scale_for(X_arr, reset=True)
        self.input_mean_, self.input_std_ = _channel_stats(X_arr, scale, channel_axis=-3)
        self.device_ = resolve_device(self.device)

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        split_seed = int(rng.randint(np.iinfo(np.int32).max))
        has_valid = (
            self.validation_fraction is not None
            and split_indices(
                y_enc if votes is None else hard_targets(votes),
                self.validation_fraction,
                split_seed,
            )[0]
            is not None
        )

        body, body_kwargs = self._module_spec(n_classes)
        self._module_spec_ = (body, body_kwargs)
        criterion_kwargs = self._criterion_kwargs(y_enc, n_classes)
        X_t = torch.from_numpy(X_arr)
        y_t = torch.from_numpy(y_enc if votes is None else votes)
        devices = []
        if torch.device(self.device_).type == "cuda":
            devices = [torch.device(self.device_).index or torch.cuda.current_device()]
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            if devices:
                torch.cuda.manual_seed_all(seed)
            self.net_ = self._make_net(
                body,
                body_kwargs,
                scale=scale,
                augment=augment,
                n_classes=n_classes,
                valid_split=ValidationSplit(self.validation_fraction, split_seed)
                if has_valid
                else None,
                criterion_kwargs=criterion_kwargs,
                soft_targets=votes is not None,
            )
            if self.pretrained is None:
                self.n_pretrained_ = 0
                self.net_.fit(X_t, y_t)
            else:
                self.net_.initialize()
                self.n_pretrained_ = _copy_pretrained(
                    self.net_.module_, self.pretrained, n_classes, name=type(self).__name__
                )
                self.net_.partial_fit(X_t, y_t)
        return self

    def _criterion_kwargs(self, y_enc, n_classes):
        kwargs = {"label_smoothing": float(self.label_smoothing)}
        cw = self.class_weight
        if cw is None:
            return kwargs
        if cw == "balanced":
            w = compute_class_weight("balanced", classes=np.arange(n_classes), y=y_enc)
        else:
            unknown = [k for k in cw if k not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(
                    f"class_weight has labels {unknown} that are not in the training "
                    f"classes {self.classes_.tolist()}."
                )
            w = np.array([float(cw.get(c, 1.0)) for c in self.classes_.tolist()])
        kwargs["weight"] = torch.as_tensor(w, dtype=torch.float32)
        return kwargs

    def _use_channels_last(self):
        if self.channels_last == "auto":
            return self._input_ndim == 4 and torch.device(self.device_).type == "cuda" and (
                self._channels_last_helps()
            )
        return bool(self.channels_last) and self._input_ndim == 4

    def _channels_last_helps(self):
        return True

    def _make_net(self, body, body_kwargs, *, scale, augment, n_classes, valid_split,
                  criterion_kwargs, soft_targets=False):
        from skorch.callbacks import EarlyStopping, LRScheduler, ProgressBar

        on_cuda = torch.device(self.device_).type == "cuda"
        callbacks = []
        monitor = "valid_loss" if valid_split is not None else "train_loss"
        if self.lr_schedule == "cosine":
            callbacks.append(
                ("lr_schedule", LRScheduler(torch.optim.lr_scheduler.CosineAnnealingLR,
                                            T_max=self.max_epochs))
            )
        elif self.lr_schedule == "step":
            callbacks.append(
                ("lr_schedule", LRScheduler(torch.optim.lr_scheduler.StepLR,
                                            step_size=max(1, self.max_epochs // 3), gamma=0.1))
            )
        elif self.lr_schedule == "plateau":
            callbacks.append(
                ("lr_schedule", LRScheduler(torch.optim.lr_scheduler.ReduceLROnPlateau,
                                            monitor=monitor, factor=0.1,
                                            patience=max(1, self.patience // 2)))
            )
        # The user's callbacks run before the two that stop training (by
        # raising at the end of an epoch), so they also see the last epoch.
        callbacks += copy.deepcopy(list(self.callbacks)) if self.callbacks else []
        if self.early_stopping and valid_split is not None:
            callbacks.append(
                ("early_stopping", EarlyStopping(monitor="valid_loss", patience=self.patience,
                                                 load_best=True, sink=print))
            )
        if self.max_time is not None:
            callbacks.append(("time_budget", TimeBudget(self.max_time)))
        if self.verbose and self.verbose >= 2:
            callbacks.append(("progress_bar", ProgressBar()))

        optimizer = self.optimizer
        opt_kwargs = {"weight_decay": float(self.weight_decay)}
        if optimizer in ("sgd", "rmsprop"):
            opt_kwargs["momentum"] = 0.9
        if isinstance(optimizer, str):
            optimizer = _OPTIMIZERS[optimizer]
        for key, value in self._prefixed_params.items():
            if key.startswith("optimizer__"):
                opt_kwargs[key[len("optimizer__"):]] = value

        criterion = torch.nn.CrossEntropyLoss if self.loss == "cross_entropy" else SoftmaxMSELoss
        net = SkferNet(
            module=InputModel,
            module__body=body,
            module__body_kwargs=body_kwargs,
            module__scale=scale,
            module__mean=self.input_mean_,
            module__std=self.input_std_,
            module__per_image=self.standardize == "image",
            module__augment=augment or None,
            module__channels_last=self._use_channels_last(),
            criterion=criterion,
            optimizer=optimizer,
            lr=float(self.lr),
            max_epochs=int(self.max_epochs),
            batch_size=int(self.batch_size),
            iterator_train=TensorBatches,
            iterator_train__shuffle=True,
            iterator_train__drop_single=True,
            iterator_valid=TensorBatches,
            dataset=_dataset_cls(),
            train_split=valid_split,
            callbacks=callbacks,
            predict_nonlinearity=softmax,
            verbose=int(self.verbose),
            device=self.device_,
            classes=list(range(n_classes)),
            mixed_precision=bool(self.mixed_precision) and on_cuda,
            channels_last=self._use_channels_last(),
            compile_forward=check_compile(self.compile, type(self).__name__),
            # soft targets (fit(..., votes=)) are scored by their most voted class
            **({"callbacks__valid_acc__target_extractor": hard_targets}
               if soft_targets else {}),
            **{f"criterion__{k}": v for k, v in criterion_kwargs.items()},
            **{f"optimizer__{k}": v for k, v in opt_kwargs.items()},
        )
        return net

    def _body_kwargs(self, base, cls):
        """Merge the data-derived ``base`` arguments with the user's ``module__*``."""
        user = {
            k[len("module__"):]: v
            for k, v in self._prefixed_params.items()
            if k.startswith("module__")
        }
        clash = sorted(set(user) & set(base))
        if clash:
            raise ValueError(
                f"{type(self).__name__}: module__{clash[0]} is set by the estimator "
                f"from the data or from its own parameters and cannot be passed as "
                f"module__{clash[0]}."
            )
        kwargs = {**base, **user}
        import inspect

        try:
            sig = inspect.signature(cls)
        except (TypeError, ValueError):  # pragma: no cover
            return kwargs
        if not any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
            unknown = sorted(set(user) - set(sig.parameters))
            if unknown:
                raise ValueError(
                    f"{type(self).__name__}: module__{unknown[0]} is not an argument of "
                    f"{cls.__name__}; its arguments are "
                    f"{[p for p in sig.parameters if p not in base]}."
                )
        return kwargs

    # ------------------------------------------------------------ predict
    def _predict_tensor(self, X):
        check_is_fitted(self)
        X_arr = self._to_tensor_layout(X, reset=False)
        scale = self._scale_for(X_arr, reset=False)
        module = self.net_.module_
        if abs(module.scale - scale) > 1e-12:
            # float images at predict on another scale than at fit (see docstring)
            ratio = scale / module.scale
            X_arr = X_arr.astype(np.float32) * np.float32(ratio)
        return torch.from_numpy(X_arr)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : images
            In the layout and size seen by ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        X_t = self._predict_tensor(X)
        return self._proba_of_tensor(X_t, flip=getattr(self, "test_time_flip", False))

    def _proba_of_tensor(self, X_t, *, flip=False):
        """Softmax outputs of the net on the prepared tensor ``X_t``, in batches.

        What skorch's ``predict_proba`` computes, without its per-call
        machinery (datasets, iterators, switching every submodule's mode):
        at batch 1 that machinery costs as much as the net. With ``flip``,
        each batch goes through the net once together with its mirror
        image and the two probabilities are averaged.
        """
        net = self.net_
        module = net.module_
        batch_size = net.get_params_for("iterator_valid").get("batch_size", net.batch_size)
        n = len(X_t)
        if batch_size is None or batch_size == -1 or batch_size >= n:
            batch_size = max(n, 1)
        if flip:  # the batch is doubled by its mirror images
            batch_size = max(1, batch_size // 2)
        if module.training:
            module.eval()
        nonlin = net._get_predict_nonlinearity()
        out = np.empty((n, len(self.classes_)), np.float64)
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                xb = X_t[start:start + batch_size].to(net.device, non_blocking=True)
                m = len(xb)
                if flip:
                    xb = torch.cat([xb, torch.flip(xb, dims=[-1])])
                yp = net.infer(xb)
                if isinstance(yp, tuple):
                    yp = yp[0]
                p = nonlin(yp).to(torch.float64).cpu().numpy()
                out[start:start + m] = (p[:m] + p[m:]) if flip else p
        return out / out.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : images

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted labels, of the same type as the ``y`` given to ``fit``.

        Parameters
        ----------
        X : images

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # ------------------------------------------------------------ persistence
    def save(self, path, *, metadata=None):
        """Save the fitted estimator to a ``.skfer`` model file (no pickle).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (``.skfer`` by convention; an existing file is
            replaced, missing parent folders are created). It is the model
            file of :func:`skfer.io.save_model`, holding only this net
            (``config.json`` + ``weights.safetensors``): read it back with
            :func:`skfer.io.load_model`, or start another fit from it with
            ``pretrained=path``.
        metadata : dict or None, default=None
            JSON-serialisable information stored in the file's manifest.

        Returns
        -------
        path : pathlib.Path
            The file written.

        Notes
        -----
        Parameters the format cannot store (callbacks, a ``RandomState``
        instance) are saved as None with a warning; the training history is
        not kept.
        """
        from ._persist import save

        return save(self, path, metadata=metadata, stacklevel=3)

    def __setstate__(self, state):
        super().__setstate__(state)
        net = self.__dict__.get("net_")
        if net is not None and "device_" in self.__dict__:
            # skorch maps a CUDA-trained net to the CPU (with a DeviceWarning)
            # when CUDA is missing; follow it.
            self.device_ = str(net.device)


def _pretrained_state(path):
    """The module state dict of the net in the skfer model file at ``path``."""
    from ._persist import read_pretrained_state

    return read_pretrained_state(path)


def _output_layer_keys(module, n_classes):
    """State-dict keys of the layer that produces the logits (the last one with n_classes outputs)."""
    last = None
    for name, sub in module.body.named_modules():
        w = getattr(sub, "weight", None)
        if isinstance(w, torch.nn.Parameter) and w.ndim >= 2 and w.shape[0] == n_classes:
            last = name
    if last is None:
        return set()
    prefix = f"body.{last}." if last else "body."
    return {k for k in module.state_dict() if k.startswith(prefix) and k.count(".") == prefix.count(".")}


def _copy_pretrained(module, path, n_classes, name):
    """Copy the weights of ``path`` whose names and shapes match into ``module``.

    The output layer is never copied: its rows mean the pretrained model's
    classes, which need not be this estimator's even when their number matches.
    """
    source = _pretrained_state(path)
    target = module.state_dict()
    output = _output_layer_keys(module, n_classes)
    matched = {
        k: v for k, v in source.items()
        if k.startswith("body.") and k not in output and k in target
        and tuple(v.shape) == tuple(target[k].shape)
    }
    n_body = sum(1 for k in target if k.startswith("body.") and k not in output)
    if not matched:
        raise ValueError(
            f"{name}: no weight of the pretrained model at '{path}' fits this net "
            "(different architecture or module__ parameters?). Use the architecture "
            "and module parameters the pretrained model was trained with."
        )
    with torch.no_grad():
        for k, v in matched.items():
            target[k].copy_(v.to(target[k].device, target[k].dtype))
    if len(matched) < n_body:
        skipped = sorted(
            k[len("body."):] for k in target
            if k.startswith("body.") and k not in matched and k not in output
        )
        warnings.warn(
            f"{name}: pretrained weights copied for {len(matched)} of {n_body} tensors; "
            f"not copied: {skipped[:6]}{' ...' if len(skipped) > 6 else ''}.",
            UserWarning,
            stacklevel=4,
        )
    return len(matched)


def _dataset_cls():
    from ._data import ArrayDataset

    return ArrayDataset


def to_contiguous(arr):
    """C-contiguous and writeable (torch.from_numpy warns on read-only arrays).

    The result may share memory with the caller's array: nothing downstream
    writes into it.
    """
    if not arr.flags.writeable:
        return np.array(arr, order="C")
    return np.ascontiguousarray(arr)


def as_tuple_param(value, name, owner):
    """Validate an int-or-tuple parameter such as ``hidden_sizes``."""
    if _is_int(value):
        value = (int(value),)
    try:
        value = tuple(value)
    except TypeError:
        value = None
    if not value or not all(_is_int(v) and v > 0 for v in value):
        raise ValueError(
            f"{owner}: {name} must be a positive int or a tuple of positive ints, got {value!r}."
        )
    return tuple(int(v) for v in value)


__all__ = ["BaseNeuralClassifier", "PREFIXES", "resolve_device"]
