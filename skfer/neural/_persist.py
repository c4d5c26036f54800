"""One deep estimator in a model file: its ``config.json`` and ``weights.safetensors``.

* :func:`dumps` turns a fitted estimator into those two members (JSON
  parameters and fitted attributes, safetensors weights: no pickle);
* :func:`save` writes them as a net-only model file (``est.save(path)``, and
  :func:`skfer.io.save_model` of a bare net);
* :func:`read_pretrained_state` reads the weights of a model file's net for
  ``pretrained=``, without rebuilding any estimator (nor reading a
  Pipeline's skops member);
* the decoding helpers (:func:`decode`, :func:`import_class`,
  :func:`classes_from_json`) that :mod:`skfer.neural._load` rebuilds an
  estimator with.

The container (zip or folder, manifest, size limits, format versions) is
:mod:`skfer._modelfile`. This module imports no estimator class:
``skfer.neural._base`` imports it for ``save`` and ``pretrained=``.
"""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from .._modelfile import (
    NET_CONFIG,
    NET_FORMAT,
    NET_FORMAT_VERSION,
    NET_WEIGHTS,
    SKOPS,
    net_member,
    read_model_file,
    write_model_file,
)

#: Modules whose classes the loader imports by name; others must be passed in.
#: Only classes are imported this way, and only torch modules and optimizers
#: (see :func:`import_class`): a config naming a function is refused.
_TRUSTED = ("skfer.", "torch.nn.", "torch.optim.")
#: The net folder of a net-only model file.
NET_FOLDER = "nets/0"


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


def import_class(path, custom):
    """The class a config names: from ``custom`` or, by name, a torch module or optimizer.

    Parameters
    ----------
    path : str
        ``'module.Class'`` as saved.
    custom : list of classes
        The caller's ``custom_objects``.

    Returns
    -------
    cls : type

    Raises
    ------
    ValueError
        If the class is outside skfer, ``torch.nn`` and ``torch.optim`` and
        not in ``custom``, does not exist, or is not a ``torch.nn.Module`` or
        ``torch.optim.Optimizer`` class.
    """
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
            "torch.nn and torch.optim; skfer does not import it by name (importing runs that "
            "module's code). Import it yourself and pass it: "
            f"skfer.io.load_model(path, custom_objects=[{path.rsplit('.', 1)[-1]}])."
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


def decode(value, custom):
    """A parameter value from its JSON form (the inverse of the encoding of :func:`dumps`).

    Parameters
    ----------
    value : JSON value
    custom : list of classes
        The caller's ``custom_objects`` (see :func:`import_class`).

    Returns
    -------
    value : object
        Tuples, dicts with any keys and classes restored.

    Raises
    ------
    ValueError
        If ``value`` holds an object that the encoding does not produce
        (among them an int beyond 64 bits, which no parameter takes, and a
        dict key that is not hashable).
    """
    if isinstance(value, list):
        return [decode(v, custom) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"} and isinstance(value["__tuple__"], list):
            return tuple(decode(v, custom) for v in value["__tuple__"])
        if set(value) == {"__dict__"} and isinstance(value["__dict__"], list) and all(
            isinstance(kv, list) and len(kv) == 2 for kv in value["__dict__"]
        ):
            try:
                return {decode(k, custom): decode(v, custom) for k, v in value["__dict__"]}
            except TypeError:  # a list or dict as a key
                raise ValueError(
                    f"config.json holds a dict with a key that is not a value: "
                    f"{str(value)[:80]}") from None
        if set(value) == {"__class__"} and isinstance(value["__class__"], str):
            return import_class(value["__class__"], custom)
        raise ValueError(f"config.json holds an unexpected object: {str(value)[:80]}")
    if isinstance(value, int) and not isinstance(value, bool) and not (
        -(2**63) <= value < 2**63
    ):
        raise ValueError(f"config.json holds the integer {str(value)[:40]}..., beyond 64 bits")
    return value


def _classes_to_json(classes):
    kind = classes.dtype.kind
    if kind in "US" or kind == "O":
        return {"dtype": "str" if kind != "O" else "object", "values": [str(c) for c in classes]}
    return {"dtype": classes.dtype.str, "values": classes.tolist()}


#: Longest class label read from a file (a str array takes 4 bytes a
#: character for every label, the longest deciding).
MAX_LABEL_LENGTH = 1000


def classes_from_json(spec):
    """The ``classes_`` array from its JSON form ``{'dtype': ..., 'values': [...]}``.

    Parameters
    ----------
    spec : dict

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        Distinct labels: strings (``'str'``, ``'object'``), or numbers of a
        numpy bool, int or float type of at most 8 bytes.

    Raises
    ------
    ValueError
        If ``spec`` is not of that form, names another type, or its values
        are not distinct labels of that type (at least one).
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("values"), list) or not isinstance(
        spec.get("dtype"), str
    ):
        raise ValueError(f"classes is {str(spec)[:80]}, not {{'dtype': str, 'values': list}}")
    values = spec["values"]
    text = spec["dtype"] in ("str", "object")
    if not values or not all(
        isinstance(v, str) and len(v) <= MAX_LABEL_LENGTH if text
        else isinstance(v, (int, float, bool))
        for v in values
    ):
        raise ValueError(
            f"classes holds {str(values)[:80]}, not one or more "
            + (f"labels (strings of at most {MAX_LABEL_LENGTH} characters)" if text
               else "numbers")
        )
    try:
        classes = _classes_array(spec)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"classes {str(spec)[:80]} cannot be read ({exc})") from None
    if len(np.unique(classes)) != len(classes):
        raise ValueError(f"classes holds a label twice: {str(values)[:80]}")
    return classes


def _classes_array(spec):
    if spec["dtype"] == "object":
        return np.array(spec["values"], dtype=object)
    if spec["dtype"] == "str":
        return np.array(spec["values"], dtype=str)
    dtype = np.dtype(spec["dtype"])
    if dtype.kind not in "biuf" or dtype.itemsize > 8:
        raise ValueError(f"dtype {spec['dtype']!r} is not a numpy bool, int or float type")
    classes = np.array(spec["values"], dtype=dtype)
    if classes.dtype.kind == "f" and not np.isfinite(classes).all():
        raise ValueError("a label is NaN or infinite")
    return classes


def dumps(estimator, *, stacklevel=2):
    """The two members of a saved estimator: ``(config_json, weights)`` as bytes.

    Parameters
    ----------
    estimator : CNNClassifier, RNNClassifier or SequenceClassifier
        Fitted.
    stacklevel : int, default=2
        Of the warning about parameters saved as None, as seen from here (2:
        the caller's line); callers add one per frame they put between.

    Returns
    -------
    config_json : bytes
        Format, versions, class, parameters (values JSON cannot hold, such
        as callbacks, become None with a warning), fitted attributes and the
        architecture.
    weights : bytes
        The net's state dict in safetensors form, on the CPU.
    """
    from safetensors.torch import save as st_save
    from sklearn.utils.validation import check_is_fitted

    from .. import __version__

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
            stacklevel=stacklevel,
        )
    body, body_kwargs = estimator._module_spec_
    module = estimator.net_.module_
    config = {
        "format": NET_FORMAT,
        "format_version": NET_FORMAT_VERSION,
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
    weights = st_save(state, metadata={"format": "pt", "skfer": NET_FORMAT})
    config_bytes = json.dumps(config, indent=2).encode("utf-8")
    return config_bytes, weights


def net_members(estimator, folder, *, stacklevel=2):
    """The members of ``estimator`` under ``folder`` of a model file (see :func:`dumps`).

    Parameters
    ----------
    estimator : fitted deep estimator
    folder : str
        ``'nets/<i>'``.
    stacklevel : int, default=2
        See :func:`dumps`.

    Returns
    -------
    members : dict of str to bytes
        ``{folder/config.json: ..., folder/weights.safetensors: ...}``.
    """
    config, weights = dumps(estimator, stacklevel=stacklevel + 1)
    return {net_member(folder, NET_CONFIG): config, net_member(folder, NET_WEIGHTS): weights}


def save(estimator, path, *, metadata=None, stacklevel=2):
    """Write ``estimator`` alone to the model file ``path`` (a zip, ``.skfer`` by convention).

    Parameters
    ----------
    estimator : fitted deep estimator
    path : str or os.PathLike
    metadata : dict or None, default=None
        JSON-serialisable information for the manifest.
    stacklevel : int, default=2
        See :func:`dumps`.

    Returns
    -------
    path : pathlib.Path
    """
    members = net_members(estimator, NET_FOLDER, stacklevel=stacklevel + 1)
    return write_model_file(path, estimator, members=members,
                            nets=[NET_FOLDER], root=NET_FOLDER, metadata=metadata)


def read_pretrained_state(path):
    """The module state dict of the net in the model file ``path`` (for ``pretrained=``).

    Parameters
    ----------
    path : str or os.PathLike
        A model file of any kind (:func:`skfer.io.load_model` reads the same
        ones): a bare net's, or a Pipeline's, whose last net (its final deep
        estimator) is read straight from the file, without its skops member.

    Returns
    -------
    state : dict of str to torch.Tensor

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file holds no net, or is not a readable model file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"pretrained: no saved model at '{path}'.")
    with read_model_file(path) as model_file:
        if not model_file.nets:
            raise ValueError(
                f"pretrained: '{path}' holds a "
                f"{str(model_file.manifest.get('estimator')).rpartition('.')[2]}, not a "
                "skfer.neural estimator: there are no net weights to start from."
            )
        folder = model_file.root if model_file.root != SKOPS else model_file.nets[-1]
        return model_file.read_net(folder)[1]


__all__ = [
    "NET_FOLDER",
    "classes_from_json",
    "decode",
    "dumps",
    "import_class",
    "net_members",
    "read_pretrained_state",
    "save",
]
