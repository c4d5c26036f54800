"""Safe persistence: ``config.json`` + ``weights.safetensors``, no pickle."""

from __future__ import annotations

import importlib
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

FORMAT = "skfer-neural"
FORMAT_VERSION = 1
_CONFIG = "config.json"
_WEIGHTS = "weights.safetensors"
#: Modules whose classes ``load`` imports by name; others must be passed in.
#: Only classes are imported this way, and only torch modules and optimizers
#: (see :func:`_import_class`): a config naming a function is refused.
_TRUSTED = ("skfer.", "torch.nn.", "torch.optim.")


class _Unencodable(Exception):
    pass


def _class_path(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _encode(value):
    """JSON form of a parameter value, keeping tuples, dict keys and classes."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, type):
        return {"__class__": _class_path(value)}
    if isinstance(value, torch.device):
        return str(value)
    raise _Unencodable(type(value).__name__)


def _import_class(path, custom):
    for cls in custom:
        if _class_path(cls) == path:
            return cls
    # a class saved from a script (``__main__``) and now imported from a module
    same_name = [c for c in custom if c.__qualname__ == path.rpartition(".")[2]]
    if len(same_name) == 1:
        return same_name[0]
    if not path.startswith(_TRUSTED):
        raise ValueError(
            f"The saved estimator uses the class '{path}', which is outside skfer, "
            "torch.nn and torch.optim; load() does not import it by name (importing runs that module's "
            "code). Import it yourself and pass it: "
            f"load(path, custom_objects=[{path.rsplit('.', 1)[-1]}])."
        )
    module, _, name = path.rpartition(".")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise ValueError(f"The saved estimator names the class '{path}', which does not exist.") from None
    # The saved config is data: whatever it names is later called with
    # arguments it also gives (the architecture is built as body(**kwargs)).
    # Only torch modules and optimizers may be named, never a function.
    if not (isinstance(obj, type) and issubclass(obj, (torch.nn.Module, torch.optim.Optimizer))):
        raise ValueError(
            f"The saved estimator names '{path}', which is not a torch.nn.Module or "
            "torch.optim.Optimizer class; refusing to load it."
        )
    return obj


def _decode(value, custom):
    if isinstance(value, list):
        return [_decode(v, custom) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(v, custom) for v in value["__tuple__"])
        if "__dict__" in value:
            return {_decode(k, custom): _decode(v, custom) for k, v in value["__dict__"]}
        if "__class__" in value:
            return _import_class(value["__class__"], custom)
        raise ValueError(f"Unexpected object in config.json: {value!r}")
    return value


def _classes_to_json(classes):
    kind = classes.dtype.kind
    if kind in "US" or kind == "O":
        return {"dtype": "str" if kind != "O" else "object", "values": [str(c) for c in classes]}
    return {"dtype": classes.dtype.str, "values": classes.tolist()}


def _classes_from_json(spec):
    if spec["dtype"] == "object":
        return np.array(spec["values"], dtype=object)
    if spec["dtype"] == "str":
        return np.array(spec["values"], dtype=str)
    return np.array(spec["values"], dtype=np.dtype(spec["dtype"]))


def dumps(estimator):
    """The two files of the safe format as bytes: ``(config_json, weights)``.

    Used by :meth:`save` and by :func:`skfer.io.save_model` (which stores
    them inside its own zip).
    """
    from safetensors.torch import save as st_save

    from .. import __version__
    from ._base import BaseNeuralClassifier

    if not isinstance(estimator, BaseNeuralClassifier):  # pragma: no cover
        raise TypeError("save() expects a skfer.neural estimator.")
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    params = {}
    dropped = []
    for key, value in estimator.get_params(deep=False).items():
        try:
            params[key] = _encode(value)
        except _Unencodable:
            params[key] = None
            dropped.append(key)
    if dropped:
        warnings.warn(
            f"save(): parameters {dropped} hold objects that the safe format cannot "
            "store (e.g. callbacks, RandomState instances); they are saved as None.",
            UserWarning,
            stacklevel=4,
        )
    body, body_kwargs = estimator._module_spec_
    module = estimator.net_.module_
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skfer_version": __version__,
        "torch_version": torch.__version__,
        "estimator": type(estimator).__name__,
        "params": params,
        "classes": _classes_to_json(np.asarray(estimator.classes_)),
        "input_shape": list(estimator.input_shape_),
        "input_scale": estimator.input_scale_,
        "input_mean": list(estimator.input_mean_),
        "input_std": list(estimator.input_std_),
        "n_features_in": getattr(estimator, "n_features_in_", None),
        "feature_names_in": (
            [str(f) for f in estimator.feature_names_in_]
            if hasattr(estimator, "feature_names_in_")
            else None
        ),
        "module": {
            "body": _class_path(body),
            "body_kwargs": _encode(body_kwargs),
            "scale": module.scale,
            "channels_last": bool(module.channels_last),
        },
        "device": estimator.device_,
    }
    state = {
        k: v.detach().to("cpu").contiguous()
        for k, v in module.state_dict().items()
    }
    weights = st_save(state, metadata={"format": "pt", "skfer": FORMAT})
    config_bytes = json.dumps(config, indent=2).encode("utf-8")
    return config_bytes, weights


def save(estimator, path):
    """Write ``estimator`` to ``path`` (folder, or zip when it ends in ``.zip``)."""
    config_bytes, weights = dumps(estimator)
    path = Path(path)
    if path.suffix.lower() == ".zip":
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_CONFIG, config_bytes)
            zf.writestr(_WEIGHTS, weights)
    else:
        path.mkdir(parents=True, exist_ok=True)
        (path / _CONFIG).write_bytes(config_bytes)
        (path / _WEIGHTS).write_bytes(weights)
    return path


def _read(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No saved estimator at '{path}'.")
    if path.is_dir():
        try:
            return (path / _CONFIG).read_bytes(), (path / _WEIGHTS).read_bytes()
        except FileNotFoundError as exc:
            raise ValueError(
                f"'{path}' is not a saved skfer estimator: {exc.filename} is missing."
            ) from None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if not {_CONFIG, _WEIGHTS} <= names:
                raise ValueError(
                    f"'{path}' is not a saved skfer estimator: it must hold {_CONFIG} "
                    f"and {_WEIGHTS}, found {sorted(names)[:5]}."
                )
            return zf.read(_CONFIG), zf.read(_WEIGHTS)
    raise ValueError(
        f"'{path}' is neither a folder nor a zip file written by skfer's save()."
    )


def load(path, *, custom_objects=None, device=None):
    """Load an estimator written by ``save`` (no pickle: no code runs on load).

    Parameters
    ----------
    path : str or os.PathLike
        A folder or ``.zip`` file holding ``config.json`` and
        ``weights.safetensors``.
    custom_objects : list of classes or None, default=None
        Classes that the saved estimator refers to (an ``architecture``
        passed as a class) and that live outside skfer, ``torch.nn`` and
        ``torch.optim``: they are not imported by name, pass them here.
        Classes of those modules are imported by name, and only subclasses
        of ``torch.nn.Module`` or ``torch.optim.Optimizer``: a config naming
        a function or another class is refused, since what it names is
        called with arguments from the file.
    device : str, torch.device or None, default=None
        Where to put the net. None: the estimator's ``device`` parameter
        resolved on this machine (``'auto'``: CUDA if available, else CPU);
        a CUDA device saved on a machine without CUDA falls back to CPU.

    Returns
    -------
    estimator : CNNClassifier, RNNClassifier or SequenceClassifier
        Fitted; predicts as the saved one did. Callbacks, the training
        history and a ``RandomState`` ``random_state`` are not stored.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from skfer.neural import CNNClassifier, load
    >>> X = np.random.default_rng(0).integers(0, 255, (20, 8, 8)).astype(np.uint8)
    >>> y = np.array(["a", "b"] * 10)
    >>> clf = CNNClassifier(architecture="simple", module__channels=(4,), max_epochs=1,
    ...                     validation_fraction=None, random_state=0).fit(X, y)
    >>> path = clf.save(tempfile.mkdtemp() + "/model.zip")
    >>> clf2 = load(path)
    >>> bool((clf2.predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    config_bytes, weights = _read(path)
    return loads(config_bytes, weights, custom_objects=custom_objects, device=device,
                 source=path)


def loads(config_bytes, weights, *, custom_objects=None, device=None, source="<bytes>"):
    """Rebuild an estimator from the bytes of :func:`dumps` (see :func:`load`).

    ``source`` only names the origin in error messages.
    """
    from safetensors.torch import load as st_load

    from . import _estimators
    from ._base import resolve_device

    path = source
    try:
        config = json.loads(config_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"config.json in '{path}' is not valid JSON: {exc}") from None
    if config.get("format") != FORMAT:
        raise ValueError(f"'{path}' was not written by skfer's save() (format {config.get('format')!r}).")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"'{path}' uses format version {config['format_version']}, newer than this "
            f"skfer understands ({FORMAT_VERSION}); upgrade skfer."
        )
    custom = list(custom_objects or [])
    est_cls = getattr(_estimators, config["estimator"], None)
    if est_cls is None or config["estimator"] not in _estimators.__all__:
        raise ValueError(f"Unknown estimator {config['estimator']!r} in '{path}'.")
    params = {k: _decode(v, custom) for k, v in config["params"].items()}
    est = est_cls(**params)
    est.classes_ = _classes_from_json(config["classes"])
    est.input_shape_ = tuple(config["input_shape"])
    est.input_scale_ = config["input_scale"]
    est.input_mean_ = list(config["input_mean"])
    est.input_std_ = list(config["input_std"])
    if config.get("n_features_in") is not None:
        est.n_features_in_ = int(config["n_features_in"])
    if config.get("feature_names_in") is not None:
        est.feature_names_in_ = np.array(config["feature_names_in"], dtype=object)
    from sklearn.preprocessing import LabelEncoder

    est._label_encoder = LabelEncoder()
    est._label_encoder.classes_ = est.classes_

    if device is None:
        dev = est.device
        try:
            est.device_ = resolve_device(dev)
        except ValueError:
            warnings.warn(
                f"The saved estimator asks for device={dev!r}, which is not available "
                "here; loading it on the CPU.",
                UserWarning,
                stacklevel=3,
            )
            est.device_ = "cpu"
    else:
        est.device_ = resolve_device(device)

    mod = config["module"]
    body = _import_class(mod["body"], custom)
    body_kwargs = _decode(mod["body_kwargs"], custom)
    est._module_spec_ = (body, body_kwargs)
    n_classes = len(est.classes_)
    net = est._make_net(
        body,
        body_kwargs,
        scale=mod["scale"],
        augment=None,
        n_classes=n_classes,
        valid_split=None,
        criterion_kwargs={},
    )
    net.set_params(module__channels_last=bool(mod["channels_last"]))
    net.initialize()
    state = st_load(bytes(weights))
    missing, unexpected = net.module_.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"The weights in '{path}' do not fit the saved architecture "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})."
        )
    net.module_.to(est.device_)
    net.module_.eval()
    est.net_ = net
    return est


__all__ = ["dumps", "load", "loads", "save"]
