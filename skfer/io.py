"""Save and load any fitted skfer model in one file that runs no code when opened.

A model file (``.skfer`` by convention) is a zip archive holding:

- ``manifest.json``: format, skfer version, model kind, classes, creation
  time and the caller's metadata;
- ``model.skops``: the scikit-learn side of the model (Pipeline,
  transformers, SVC, PCA...) written with :mod:`skops.io`, in which every
  fitted deep estimator has been replaced by a small placeholder;
- ``nets/<i>/config.json`` and ``nets/<i>/weights.safetensors``: each deep
  estimator (JSON parameters, safetensors weights), put back in place of its
  placeholder on load.

A bare deep estimator (``est.save(path)``, or :func:`save_model` of one) is
a model file with one net and no ``model.skops``. :func:`load_model` reads
them all, the unzipped folder of one, and the folders and zips of
``config.json`` + ``weights.safetensors`` that skfer 0.1's
``CNNClassifier.save`` wrote.

Neither part is a pickle. skops rebuilds objects from a description and
refuses types it does not trust; :func:`load_model` trusts, beyond skops'
own list, only skfer's estimator classes, scikit-learn's estimator classes
and numpy's scalar and dtype classes, checked by name against the file
before anything is built. The container (members, size limits, format
versions) is ``skfer._modelfile``; the nets' two members are
``skfer.neural``'s. See ``docs/io.rst`` for the safety argument.
"""

from __future__ import annotations

import copy
import importlib

from sklearn.base import BaseEstimator

from ._modelfile import (
    MAX_BINARY_BYTES,
    NET_CONFIG,
    SKOPS,
    broken_file_error,
    check_member_size,
    describe,
    net_member,
    read_model_file,
    write_model_file,
)

__all__ = ["load_model", "save_model"]


class _NetPlaceholder:
    """Stands for a fitted deep estimator inside the skops part of a model file.

    Parameters
    ----------
    member : str
        Folder of the zip (``'nets/0'``) holding the estimator's
        ``config.json`` and ``weights.safetensors``.
    estimator : str
        Class name of the estimator it stands for (for messages only).
    """

    def __init__(self, member, estimator):
        self.member = member
        self.estimator = estimator

    def __repr__(self):
        return f"_NetPlaceholder(member={self.member!r}, estimator={self.estimator!r})"


#: scikit-learn classes that are not estimators but are held by fitted ones,
#: whose constructors only store their arguments.
_SKLEARN_HELPERS = frozenset({"sklearn.calibration._CalibratedClassifier"})


def _type_name(cls):
    # The name skops gives a type: module and class name.
    return f"{cls.__module__}.{cls.__name__}"


# --------------------------------------------------------------------- save
def _is_fitted_net(obj):
    from .neural import BaseNeuralClassifier

    return isinstance(obj, BaseNeuralClassifier) and obj.__sklearn_is_fitted__()


def _swap_nets(obj, nets, memo):
    """``obj`` with each fitted deep estimator replaced by a placeholder.

    Containers and estimators on the way to a deep estimator are shallow
    copies; the caller's model is left untouched. ``nets`` collects
    ``(member, estimator)`` pairs.
    """
    key = id(obj)
    if key in memo:
        return memo[key]
    memo[key] = obj  # cycles resolve to the original object
    out = obj
    if _is_fitted_net(obj):
        out = _NetPlaceholder(member=f"nets/{len(nets)}", estimator=type(obj).__name__)
        nets.append((out.member, obj))
    elif type(obj) in (list, tuple):
        items = [_swap_nets(v, nets, memo) for v in obj]
        if any(a is not b for a, b in zip(items, obj, strict=True)):
            out = type(obj)(items)
    elif type(obj) is dict:
        items = {k: _swap_nets(v, nets, memo) for k, v in obj.items()}
        if any(items[k] is not v for k, v in obj.items()):
            out = items
    elif isinstance(obj, BaseEstimator):
        changed = {}
        for name, value in vars(obj).items():
            new = _swap_nets(value, nets, memo)
            if new is not value:
                changed[name] = new
        if changed:
            out = copy.copy(obj)
            out.__dict__.update(changed)
    memo[key] = out
    return out


def save_model(model, path, *, metadata=None):
    """Save a fitted skfer model (classical or deep) to one safe file.

    Parameters
    ----------
    model : estimator
        A fitted model: a Pipeline such as those of
        :func:`skfer.models.make_model` (classical or deep, preprocessing
        included), or a bare :class:`~skfer.neural.CNNClassifier`,
        :class:`~skfer.neural.RNNClassifier` or
        :class:`~skfer.neural.SequenceClassifier`, or any scikit-learn
        estimator built from skfer, scikit-learn and numpy parts.
    path : str or os.PathLike
        The file to write (``.skfer`` by convention; an existing file is
        replaced). Missing parent folders are created.
    metadata : dict or None, default=None
        JSON-serialisable information stored in the manifest (the training
        data set, scores...); :func:`load_model` returns the whole manifest
        as ``model.skfer_manifest_``.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``model`` is not fitted.
    TypeError
        If ``model`` is not a scikit-learn estimator or ``metadata`` is not
        JSON-serialisable.

    See Also
    --------
    load_model : Read the file back.
    skfer.neural.CNNClassifier.save : The same file for a bare deep estimator.

    Notes
    -----
    The scikit-learn parts are written with :func:`skops.io.dumps` and each
    fitted deep estimator as ``config.json`` + ``weights.safetensors``, all
    in one zip; see the module docstring. A bare deep estimator is written
    as :meth:`~skfer.neural.CNNClassifier.save` writes it, without the
    skops part. Parameters the format cannot store (callbacks, a
    ``RandomState`` instance) are saved as None with a warning, and the
    deep estimators' training history is not kept.

    Examples
    --------
    >>> import tempfile
    >>> from skfer.datasets import make_faces
    >>> from skfer.io import load_model, save_model
    >>> from skfer.models import make_model
    >>> faces = make_faces(n_samples=140, random_state=0)
    >>> model = make_model("hog_svm").fit(faces.images, faces.target)
    >>> path = save_model(model, tempfile.mkdtemp() + "/hog_svm.skfer")
    >>> path.name
    'hog_svm.skfer'
    >>> loaded = load_model(path)
    >>> bool((loaded.predict(faces.images) == model.predict(faces.images)).all())
    True
    >>> loaded.skfer_manifest_["kind"], loaded.skfer_manifest_["classes"][:2]
    ('classical', [0, 1])
    """
    import skops.io as sio
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from .neural._persist import net_members
    from .neural._persist import save as save_net

    if not isinstance(model, BaseEstimator):
        raise TypeError(
            f"save_model() expects a fitted scikit-learn estimator or Pipeline, got "
            f"{type(model).__name__}."
        )
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise NotFittedError(
            f"This {type(model).__name__} is not fitted: call fit() before save_model()."
        ) from None
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict or None, got {type(metadata).__name__}.")
    if _is_fitted_net(model):
        return save_net(model, path, metadata=metadata, stacklevel=3)

    nets = []
    swapped = _swap_nets(model, nets, {})
    members = {SKOPS: sio.dumps(swapped)}
    for member, est in nets:
        members.update(net_members(est, member, stacklevel=3))
    return write_model_file(path, model, members=members, nets=[m for m, _ in nets],
                            root=SKOPS, metadata=metadata)


# --------------------------------------------------------------------- load
def _resolve(name):
    """The class a skops type name refers to, importing only skfer, sklearn, numpy."""
    module, _, attr = name.rpartition(".")
    if not module or module.split(".")[0] not in ("skfer", "sklearn", "numpy"):
        return None
    try:
        obj = importlib.import_module(module)
        return getattr(obj, attr)
    except Exception:  # any failure: not a type we know, so not trusted
        return None


def _is_trusted_type(name):
    """Whether skfer trusts the type ``name`` that skops does not trust by default.

    Trusted: skfer's own estimators (and its nets' ``nn.Module`` classes, which
    an unfitted deep estimator may name as its architecture) and the file's
    net placeholders; scikit-learn's estimator classes; numpy's scalar and
    dtype classes. Functions are never trusted, nor other classes of these
    libraries (a class is called with arguments from the file when skops
    rebuilds it through ``__reduce__``: ``numpy.memmap`` would open a file).
    """
    import numpy as np

    if name == _type_name(_NetPlaceholder):
        return True
    obj = _resolve(name)
    if not isinstance(obj, type) or _type_name(obj) != name:
        return False
    root = name.split(".")[0]
    if root == "skfer":
        import torch

        return issubclass(obj, (BaseEstimator, torch.nn.Module))
    if root == "sklearn":
        return issubclass(obj, BaseEstimator) or name in _SKLEARN_HELPERS
    return issubclass(obj, (np.generic, np.dtype))


def _check_types(untrusted, trusted, path):
    """The type names to pass to skops: refuse the file if one is not trusted."""
    user = set(trusted or ())
    refused = [t for t in untrusted if t not in user and not _is_trusted_type(t)]
    if refused:
        raise ValueError(
            f"'{path}' holds types that skfer does not trust: {refused}. A model file "
            "can make the loader build these objects; only if you trust where the file "
            f"comes from, load it with load_model(path, trusted={refused!r})."
        )
    return list(untrusted)


def _restore_nets(obj, nets, seen):
    """Put the loaded deep estimators back in place of their placeholders (in place)."""
    if isinstance(obj, _NetPlaceholder):
        if obj.member not in nets:
            raise ValueError(f"its {SKOPS} refers to a net {obj.member!r} that it lacks")
        return nets[obj.member]
    if id(obj) in seen:
        return obj
    seen.add(id(obj))
    if type(obj) is list:
        obj[:] = [_restore_nets(v, nets, seen) for v in obj]
    elif type(obj) is tuple:
        items = tuple(_restore_nets(v, nets, seen) for v in obj)
        if any(a is not b for a, b in zip(items, obj, strict=True)):
            return items
    elif type(obj) is dict:
        for k, v in obj.items():
            obj[k] = _restore_nets(v, nets, seen)
    elif isinstance(obj, BaseEstimator):
        for k, v in list(vars(obj).items()):
            new = _restore_nets(v, nets, seen)
            if new is not v:
                obj.__dict__[k] = new
    return obj


def _check_skops_archive(data, path):
    """Bound the members of the skops part (itself a zip) before skops inflates them."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except Exception as exc:  # BadZipFile, a truncated or damaged archive
        raise broken_file_error(path, f"{SKOPS} cannot be read ({exc})") from None
    for info in infos:
        check_member_size(path, f"{SKOPS}/{info.filename}", info.file_size, info.compress_size)
    total = sum(info.file_size for info in infos)
    if total > MAX_BINARY_BYTES:
        raise broken_file_error(
            path, f"{SKOPS} would be {total} bytes uncompressed, more than skfer reads "
            f"({MAX_BINARY_BYTES} bytes)")


def _check_described(model, manifest, path):
    """The loaded model is the one the manifest describes (class, steps, classes)."""
    if manifest.get("legacy"):
        return
    found = describe(model)
    said = manifest.get("estimator")
    if said is not None and said.rpartition(".")[2] != type(model).__name__:
        raise broken_file_error(
            path, f"its manifest.json says it holds a {said.rpartition('.')[2]}, but it holds "
            f"a {type(model).__name__}")
    names = [[n for n, _ in steps] for steps in (manifest.get("steps"), found["steps"])
             if steps is not None]
    if "steps" in manifest and (len(names) == 1 or len(names) == 2 and names[0] != names[1]):
        raise broken_file_error(
            path, f"its manifest.json's steps {str(manifest.get('steps'))[:80]} are not the "
            f"model's {str(found['steps'])[:80]}")
    if "classes" in manifest and manifest["classes"] != found["classes"]:
        raise broken_file_error(
            path, f"its manifest.json's classes {str(manifest['classes'])[:80]} are not the "
            f"model's {str(found['classes'])[:80]}")


def load_model(path, *, trusted=None, custom_objects=None, device=None):
    """Load any skfer model file, running no code from the file.

    Parameters
    ----------
    path : str or os.PathLike
        A model file written by :func:`save_model` or by a deep estimator's
        ``save`` (``.skfer``), the unzipped folder of one, or a folder or
        zip written by skfer 0.1's ``CNNClassifier.save``.
    trusted : list of str or None, default=None
        Further type names (``'module.Class'``) to trust, beyond skops' own
        list and skfer's (skfer's, scikit-learn's estimator classes, numpy's
        scalar types). A file holding any other type is refused with an
        error that names them; pass them here only for a file whose origin
        you trust.
    custom_objects : list of classes or None, default=None
        Classes that a deep estimator in the file refers to (an
        ``architecture`` passed as a class) and that live outside skfer,
        ``torch.nn`` and ``torch.optim``: they are not imported by name,
        pass them here. Classes of those modules are imported by name, and
        only subclasses of ``torch.nn.Module`` or ``torch.optim.Optimizer``:
        a config naming a function or another class is refused, since what
        it names is called with arguments from the file.
    device : str, torch.device or None, default=None
        Where to put the deep estimators' nets (``'cpu'``, ``'cuda'``); None:
        each estimator's own ``device`` resolved on this machine, falling
        back to the CPU without CUDA.

    Returns
    -------
    model : estimator
        The fitted model; it predicts as the saved one did. Its attribute
        ``skfer_manifest_`` holds the file's manifest (``skfer_version``,
        ``kind`` ('classical' or 'deep'), ``classes``, ``created``,
        ``metadata``...; for a skfer 0.1 net folder, which has none, a
        stand-in with ``'legacy': True``).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a skfer model file or is broken (one error naming
        the file and the problem: not a zip, a member missing, larger than
        its limit or compressed as a zip bomb, bad JSON or safetensors, NaN
        or infinite weights, a value that its estimator would refuse, a
        manifest that does not describe the model), uses a format version
        newer than this skfer reads, or holds a type that is not trusted.

    Warns
    -----
    UserWarning
        If the file was written by a newer skfer in a format version this
        skfer reads (it is loaded; the message names both versions).

    See Also
    --------
    save_model : Write the file.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skfer.io import load_model, save_model
    >>> from skfer.neural import CNNClassifier
    >>> X = np.random.default_rng(0).integers(0, 255, (20, 8, 8)).astype(np.uint8)
    >>> y = np.array(["happy", "sad"] * 10)
    >>> clf = CNNClassifier(architecture="simple", module__channels=(4,), max_epochs=1,
    ...                     validation_fraction=None, random_state=0).fit(X, y)
    >>> path = save_model(clf, tempfile.mkdtemp() + "/cnn.skfer")
    >>> loaded = load_model(path, device="cpu")
    >>> bool((loaded.predict_proba(X) == clf.predict_proba(X)).all())
    True
    >>> loaded.skfer_manifest_["kind"], loaded.skfer_manifest_["classes"]
    ('deep', ['happy', 'sad'])
    """
    from .neural._load import loads as net_loads

    if trusted is not None and (
        isinstance(trusted, str) or not all(isinstance(t, str) for t in trusted)
    ):
        raise TypeError(
            f"trusted must be a list of type names such as ['mymodule.MyClass'], got {trusted!r}."
        )

    def load_net(model_file, folder):
        config, state = model_file.read_net(folder)
        return net_loads(config, state, custom_objects=custom_objects, device=device,
                         source=path, member=net_member(folder, NET_CONFIG))

    with read_model_file(path) as model_file:
        manifest = model_file.manifest
        if model_file.root != SKOPS:
            model = load_net(model_file, model_file.root)
        else:
            import skops.io as sio  # only here: importing it takes seconds

            # Types are checked before anything is built, nets included.
            data = model_file.read(SKOPS)
            _check_skops_archive(data, path)
            try:
                untrusted = sio.get_untrusted_types(data=data)
            except Exception as exc:  # skops reads a zip of JSON: a broken file
                raise broken_file_error(path, f"{SKOPS} cannot be read ({exc})") from None
            accepted = _check_types(untrusted, trusted, path)
            nets = {folder: load_net(model_file, folder) for folder in model_file.nets}
            try:
                model = sio.loads(data, trusted=accepted)
            except Exception as exc:
                raise broken_file_error(path, f"{SKOPS} cannot be read ({exc})") from None
            try:
                model = _restore_nets(model, nets, set())
            except ValueError as exc:
                raise broken_file_error(path, str(exc)) from None
            if not isinstance(model, BaseEstimator):
                raise broken_file_error(path, f"its {SKOPS} holds a {type(model).__name__}, "
                                              "not an estimator")
    _check_described(model, manifest, path)
    try:
        model.skfer_manifest_ = manifest
    except AttributeError:  # pragma: no cover - objects without a __dict__
        pass
    return model
