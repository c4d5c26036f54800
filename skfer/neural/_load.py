"""Rebuild a fitted deep estimator from its saved ``config.json`` and weights.

The reading half of :mod:`skfer.neural._persist`, kept apart because it
needs the estimator classes: ``_persist`` sits below ``_base`` (which uses it
for ``save`` and ``pretrained=``), this module above ``_estimators``.
:func:`skfer.io.load_model` calls :func:`loads` for every net of a model
file; :func:`load` is the deprecated ``skfer.neural.load``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder

from .._image import max_pixels_limit
from .._modelfile import (
    NET_CONFIG,
    NET_WEIGHTS,
    SKOPS,
    broken_file_error,
    check_version_field,
    net_member,
    read_model_file,
)
from . import _estimators
from ._base import resolve_device
from ._persist import classes_from_json, decode, import_class


def _field(config, key, types, what, source, *, optional=False):
    """``config[key]``, checked to be of ``types`` (JSON types: a broken file otherwise)."""
    if key not in config:
        if optional:
            return None
        raise broken_file_error(source, f"{what} has no '{key}'")
    value = config[key]
    if (value is None and optional) or (
        isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    ):
        return value
    names = "/".join(t.__name__ for t in types)
    raise broken_file_error(
        source, f"{what}'s '{key}' is {str(value)[:60]!r}, not {names}"
        + (" or null" if optional else "")
    )


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v):
    try:
        return _is_number(v) and math.isfinite(float(v))
    except OverflowError:  # an int beyond float's range
        return False


def _numbers(values, key, what, source, *, n, positive=False):
    """A list of ``n`` finite numbers (positive ones if ``positive``)."""
    if len(values) != n or not all(_finite(v) and (v > 0 or not positive) for v in values):
        raise broken_file_error(
            source, f"{what}'s '{key}' is {str(values)[:60]}, not {n} finite "
            + ("positive " if positive else "") + "number" + ("s" if n > 1 else "")
            + " (one per channel)")
    return [float(v) for v in values]


def _scale(value, key, what, source):
    """A scale factor read from the file: None, or a number in (0, 1]."""
    if value is not None and not (_finite(value) and 0 < value <= 1):
        raise broken_file_error(source, f"{what}'s '{key}' is {str(value)[:60]}, "
                                        "not a number in (0, 1] (such as 1/255)")
    return None if value is None else float(value)


def _input_shape(shape, est_cls, what, source):
    """``input_shape`` checked as fit makes it: (H, W, C), or (T, H, W, C) for sequences."""
    n_axes = 4 if issubclass(est_cls, _estimators.SequenceClassifier) else 3
    layout = "(T, H, W, C)" if n_axes == 4 else "(H, W, C)"
    if len(shape) != n_axes or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ) or shape[-1] not in (1, 3):
        raise broken_file_error(
            source, f"{what}'s 'input_shape' is {str(shape)[:60]}, not positive ints "
            f"{layout} with C in 1, 3")
    limit = max_pixels_limit()
    pixels = math.prod(shape[:-1])
    if pixels > limit:
        raise broken_file_error(
            source, f"{what}'s 'input_shape' {shape} is {pixels:,} pixels a sample, more "
            f"than the image limit ({limit:,}; SKFER_MAX_PIXELS raises it)")
    return tuple(shape)


def _count_values(value, limit):
    """Whether the JSON value ``value`` holds at most ``limit`` values (iteratively)."""
    stack, count = [value], 0
    while stack:
        v = stack.pop()
        count += 1
        if count > limit:
            return False
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return True


#: Most values of a net's ``module.body_kwargs`` (skfer's have about a dozen).
_MAX_BODY_VALUES = 10_000


def _check_body_kwargs(body_kwargs, classes, shape, what, source):
    """The architecture's data-derived arguments agree with the fitted attributes."""
    if not isinstance(body_kwargs, dict) or not all(isinstance(k, str) for k in body_kwargs):
        raise broken_file_error(source, f"{what}'s module body_kwargs is not an object of "
                                        "argument names")
    expected = {"n_classes": len(classes), "in_channels": shape[-1],
                "input_shape": tuple(shape[-3:-1])}
    for key, value in expected.items():
        if key in body_kwargs and body_kwargs[key] != value:
            raise broken_file_error(
                source, f"{what}'s module body_kwargs {key}={str(body_kwargs[key])[:40]} "
                f"does not agree with its classes and input_shape ({value})")


def _probe_shapes(net, custom, body, source, what):
    """The state-dict shapes of ``net``'s module, built on torch's meta device.

    Nothing is allocated: a config describing a huge architecture is found
    out by comparing these shapes with the weights, before the real build.
    Returns None for a user's class (``custom_objects``) that cannot be
    built there.
    """
    kwargs = net.get_params_for("module")
    try:
        with torch.device("meta"):
            probe = net.module(**kwargs)
    except Exception as exc:  # the file's arguments do not build the architecture
        if body in custom:
            return None
        raise broken_file_error(
            source, f"the architecture of {what} cannot be built ({str(exc)[:200]})"
        ) from None
    return {k: tuple(v.shape) for k, v in probe.state_dict().items()}


def _check_weights_fit(expected, state, member, source):
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected == got:
        return
    missing = sorted(k for k in expected if k not in got)
    wrong = sorted(f"{k}: {got[k]} for {expected[k]}" for k in expected
                   if k in got and got[k] != expected[k])
    unexpected = sorted(k for k in got if k not in expected)
    raise broken_file_error(
        source,
        f"the weights of {net_member(member.rpartition('/')[0], NET_WEIGHTS)} "
        f"do not fit the saved architecture (missing or wrong {(missing + wrong)[:3]}, "
        f"unexpected {unexpected[:3]})",
    )


def loads(config, state, *, custom_objects=None, device=None, source="<memory>",
          member=NET_CONFIG):
    """A fitted estimator from a net's parsed ``config.json`` and its state dict.

    Every value read from the config is checked as a constructor parameter
    would be: the parameters by the estimator's own ``_parameter_constraints``,
    the fitted attributes (``classes``, ``input_shape``, ``input_mean``...)
    against what ``fit`` makes and against each other, and the architecture
    is built on torch's meta device (allocating nothing) and compared,
    tensor by tensor, with the weights before the net is built for real.

    Parameters
    ----------
    config : dict
        The net's ``config.json`` (format already checked, see
        :meth:`skfer._modelfile.ModelFile.read_net`).
    state : dict of str to torch.Tensor
        Its weights.
    custom_objects : list of classes or None, default=None
        Classes the config names from outside skfer, ``torch.nn`` and
        ``torch.optim`` (see :func:`skfer.neural._persist.import_class`).
    device : str, torch.device or None, default=None
        Where to put the net; None: the saved ``device`` parameter resolved
        here, the CPU (with a warning) when that device is missing.
    source : str, default='<memory>'
        The file, for messages.
    member : str, default='config.json'
        The config's member in the file, for messages.

    Returns
    -------
    estimator : CNNClassifier, RNNClassifier or SequenceClassifier
        Fitted; predicts as the saved one did.

    Raises
    ------
    ValueError
        If the config is of the wrong shape, holds a value its estimator
        would refuse, names a class that is not allowed, or the weights do
        not fit its architecture.
    """
    custom = list(custom_objects or [])
    what = member
    name = _field(config, "estimator", (str,), what, source)
    if name not in _estimators.__all__:
        raise broken_file_error(source, f"{what} names an unknown estimator {name[:60]!r}")
    est_cls = getattr(_estimators, name)
    for key in ("skfer_version", "torch_version"):
        check_version_field(config, what, source, key=key)
    params = _field(config, "params", (dict,), what, source)
    mod = _field(config, "module", (dict,), what, source)
    body_path = _field(mod, "body", (str,), f"{what}'s module", source)
    body_kwargs = mod.get("body_kwargs", {"__dict__": []})
    if not _count_values(body_kwargs, _MAX_BODY_VALUES):
        raise broken_file_error(source, f"{what}'s module body_kwargs holds more than "
                                        f"{_MAX_BODY_VALUES} values")
    try:  # these name what is wrong, not where: add the file and member
        params = {k: decode(v, custom) for k, v in params.items()}
        body = import_class(body_path, custom)
        body_kwargs = decode(body_kwargs, custom)
        classes = classes_from_json(config.get("classes"))
    except RecursionError:
        raise broken_file_error(source, f"{what} nests its values too deeply") from None
    except ValueError as exc:
        raise ValueError(f"'{source}' ({what}): {exc}") from None
    try:
        est = est_cls(**params)
        est._check_prefixed()
        est._validate_params()  # sklearn's parameter constraints, as fit checks them
        est._validate_params_values()
    except Exception as exc:  # TypeError, InvalidParameterError, OverflowError...
        raise broken_file_error(
            source, f"{what}'s params do not fit {name} ({' '.join(str(exc).split())[:300]})"
        ) from None
    est.classes_ = classes
    shape = _input_shape(_field(config, "input_shape", (list,), what, source), est_cls,
                         what, source)
    est.input_shape_ = shape
    n_channels = shape[-1]
    est.input_scale_ = _scale(_field(config, "input_scale", (int, float), what, source,
                                     optional=True), "input_scale", what, source)
    est.input_mean_ = _numbers(_field(config, "input_mean", (list,), what, source),
                               "input_mean", what, source, n=n_channels)
    est.input_std_ = _numbers(_field(config, "input_std", (list,), what, source),
                              "input_std", what, source, n=n_channels, positive=True)
    n_features = _field(config, "n_features_in", (int,), what, source, optional=True)
    if n_features is not None:
        flat = math.prod(shape)
        if n_features not in (flat, flat // n_channels * 4):
            raise broken_file_error(
                source, f"{what}'s 'n_features_in' is {str(n_features)[:40]}, not the "
                f"{flat} values of its input_shape {shape}")
        est.n_features_in_ = int(n_features)
    feature_names = _field(config, "feature_names_in", (list,), what, source, optional=True)
    if feature_names is not None:
        if n_features is None or len(feature_names) != n_features or not all(
            isinstance(f, str) for f in feature_names
        ):
            raise broken_file_error(
                source, f"{what}'s 'feature_names_in' is not n_features_in names")
        est.feature_names_in_ = np.array(feature_names, dtype=object)
    saved_on = _field(config, "device", (str,), what, source, optional=True)
    if saved_on is not None:
        try:
            torch.device(saved_on)
        except RuntimeError:
            raise broken_file_error(source, f"{what}'s 'device' is {saved_on[:40]!r}, not a "
                                            "torch device such as 'cpu'") from None
    est._label_encoder = LabelEncoder()
    est._label_encoder.classes_ = est.classes_

    if device is None:
        try:
            est.device_ = resolve_device(est.device)
        except ValueError:
            warnings.warn(
                f"The saved estimator asks for device={est.device!r}, which is not available "
                "here; loading it on the CPU.",
                UserWarning,
                stacklevel=3,
            )
            est.device_ = "cpu"
    else:
        est.device_ = resolve_device(device)

    scale = _scale(_field(mod, "scale", (int, float), f"{what}'s module", source),
                   "scale", f"{what}'s module", source)
    channels_last = _field(mod, "channels_last", (bool,), f"{what}'s module", source)
    _check_body_kwargs(body_kwargs, classes, shape, what, source)
    est._module_spec_ = (body, body_kwargs)
    try:
        net = est._make_net(body, body_kwargs, scale=scale, augment=None,
                            n_classes=len(est.classes_), valid_split=None,
                            criterion_kwargs={})
        net.set_params(module__channels_last=channels_last)
    except Exception as exc:  # values of the file that skorch refuses
        raise broken_file_error(
            source, f"the architecture of {what} cannot be built ({str(exc)[:200]})"
        ) from None
    expected = _probe_shapes(net, custom, body, source, what)
    if expected is not None:
        _check_weights_fit(expected, state, member, source)
    std = state.get("std")  # the input stage divides by it
    if isinstance(std, torch.Tensor) and std.is_floating_point() and not bool((std > 0).all()):
        raise broken_file_error(
            source, f"the input standard deviation 'std' of "
            f"{net_member(member.rpartition('/')[0], NET_WEIGHTS)} is not positive")
    try:
        net.initialize_for_inference()
    except Exception as exc:
        raise broken_file_error(
            source, f"the architecture of {what} cannot be built ({str(exc)[:200]})"
        ) from None
    try:
        missing, unexpected = net.module_.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of the wrong shape
        missing, unexpected = [str(exc).strip().splitlines()[-1].strip()], []
    if missing or unexpected:
        raise broken_file_error(
            source,
            f"the weights of {net_member(member.rpartition('/')[0], NET_WEIGHTS)} "
            f"do not fit the saved architecture (missing or wrong {missing[:3]}, "
            f"unexpected {unexpected[:3]})",
        )
    net.module_.to(est.device_)
    net.module_.eval()
    est.net_ = net
    return est


def load(path, *, custom_objects=None, device=None):
    """Load a deep estimator saved with ``est.save(path)`` (deprecated).

    .. deprecated:: 0.1
       Use :func:`skfer.io.load_model`, which reads every model file (bare
       nets, Pipelines, scikit-learn models, and skfer 0.1's folders and
       zips); ``skfer.neural.load`` will be removed in a future release.

    Parameters
    ----------
    path : str or os.PathLike
        A model file holding one deep estimator.
    custom_objects : list of classes or None, default=None
        See :func:`skfer.io.load_model`.
    device : str, torch.device or None, default=None
        See :func:`skfer.io.load_model`.

    Returns
    -------
    estimator : CNNClassifier, RNNClassifier or SequenceClassifier

    Examples
    --------
    >>> import tempfile, warnings, numpy as np
    >>> from skfer.neural import CNNClassifier, load
    >>> X = np.random.default_rng(0).integers(0, 255, (20, 8, 8)).astype(np.uint8)
    >>> y = np.array(["a", "b"] * 10)
    >>> clf = CNNClassifier(architecture="simple", module__channels=(4,), max_epochs=1,
    ...                     validation_fraction=None, random_state=0).fit(X, y)
    >>> path = clf.save(tempfile.mkdtemp() + "/model.skfer")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     clf2 = load(path)
    >>> caught[0].category.__name__
    'DeprecationWarning'
    >>> bool((clf2.predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    warnings.warn(
        "skfer.neural.load is deprecated and will be removed in a future release; use "
        "skfer.io.load_model(path), which reads every skfer model file.",
        DeprecationWarning,
        stacklevel=2,
    )
    with read_model_file(path) as model_file:
        if model_file.root == SKOPS:
            raise ValueError(
                f"'{path}' holds a {str(model_file.manifest.get('estimator'))}, not a bare "
                "deep estimator; load it with skfer.io.load_model(path)."
            )
        config, state = model_file.read_net(model_file.root)
    return loads(config, state, custom_objects=custom_objects, device=device, source=path,
                 member=net_member(model_file.root, NET_CONFIG))


__all__ = ["load", "loads"]
