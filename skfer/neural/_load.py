"""Rebuild a fitted deep estimator from its saved ``config.json`` and weights.

The reading half of :mod:`skfer.neural._persist`, kept apart because it
needs the estimator classes: ``_persist`` sits below ``_base`` (which uses it
for ``save`` and ``pretrained=``), this module above ``_estimators``.
:func:`skfer.io.load_model` calls :func:`loads` for every net of a model
file; :func:`load` is the deprecated ``skfer.neural.load``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.preprocessing import LabelEncoder

from .._modelfile import (
    NET_CONFIG,
    NET_WEIGHTS,
    SKOPS,
    broken_file_error,
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


def _numbers(values, key, what, source):
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise broken_file_error(source, f"{what}'s '{key}' holds non-numbers: {values[:4]}")
    return values


def loads(config, state, *, custom_objects=None, device=None, source="<memory>",
          member=NET_CONFIG):
    """A fitted estimator from a net's parsed ``config.json`` and its state dict.

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
        If the config is of the wrong shape, names a class that is not
        allowed, or the weights do not fit its architecture.
    """
    custom = list(custom_objects or [])
    what = member
    name = _field(config, "estimator", (str,), what, source)
    if name not in _estimators.__all__:
        raise broken_file_error(source, f"{what} names an unknown estimator {name!r}")
    est_cls = getattr(_estimators, name)
    params = _field(config, "params", (dict,), what, source)
    mod = _field(config, "module", (dict,), what, source)
    body_path = _field(mod, "body", (str,), f"{what}'s module", source)
    try:  # these name what is wrong, not where: add the file and member
        params = {k: decode(v, custom) for k, v in params.items()}
        body = import_class(body_path, custom)
        body_kwargs = decode(mod.get("body_kwargs", {"__dict__": []}), custom)
        classes = classes_from_json(config.get("classes"))
    except ValueError as exc:
        raise ValueError(f"'{source}' ({what}): {exc}") from None
    if not isinstance(body_kwargs, dict):
        raise broken_file_error(source, f"{what}'s module body_kwargs is not an object")
    try:
        est = est_cls(**params)
        est._check_prefixed()
    except TypeError as exc:
        raise broken_file_error(source, f"{what}'s params do not fit {name} ({exc})") from None
    est.classes_ = classes
    shape = _field(config, "input_shape", (list,), what, source)
    if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise broken_file_error(source, f"{what}'s 'input_shape' is {shape!r}, not positive ints")
    est.input_shape_ = tuple(shape)
    est.input_scale_ = _field(config, "input_scale", (int, float), what, source, optional=True)
    est.input_mean_ = list(_numbers(_field(config, "input_mean", (list,), what, source),
                                    "input_mean", what, source))
    est.input_std_ = list(_numbers(_field(config, "input_std", (list,), what, source),
                                   "input_std", what, source))
    n_features = _field(config, "n_features_in", (int,), what, source, optional=True)
    if n_features is not None:
        est.n_features_in_ = int(n_features)
    feature_names = _field(config, "feature_names_in", (list,), what, source, optional=True)
    if feature_names is not None:
        est.feature_names_in_ = np.array([str(f) for f in feature_names], dtype=object)
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

    scale = _field(mod, "scale", (int, float), f"{what}'s module", source, optional=True)
    channels_last = _field(mod, "channels_last", (bool,), f"{what}'s module", source)
    est._module_spec_ = (body, body_kwargs)
    try:
        net = est._make_net(body, body_kwargs, scale=scale, augment=None,
                            n_classes=len(est.classes_), valid_split=None,
                            criterion_kwargs={})
        net.set_params(module__channels_last=channels_last)
        net.initialize()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise broken_file_error(
            source, f"the architecture of {what} cannot be built ({exc})"
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
