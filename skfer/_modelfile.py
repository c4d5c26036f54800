"""skfer's model file: the container, read and written in this one place.

A model file (``.skfer``) is a zip archive of JSON and binary members:

- ``manifest.json``: ``format`` (:data:`FORMAT`), ``format_version``, the
  skfer version that wrote it, creation time, the model's class, classes and
  Pipeline steps, ``nets`` (the net folders), ``root`` (the member holding
  the model) and the caller's metadata;
- ``model.skops``: the scikit-learn side of a model that is not a bare net
  (written and read by :mod:`skfer.io`);
- ``nets/<i>/config.json`` and ``nets/<i>/weights.safetensors``: one deep
  estimator each (written and read by ``skfer.neural``).

A folder holding the same members (an unzipped model file) is read the same
way, and so are the folders and zips of ``config.json`` +
``weights.safetensors`` that skfer 0.1's ``CNNClassifier.save`` wrote: they
read as a net-only file whose net folder is the top level.

This module knows members, sizes and versions, not models: it imports
nothing of skfer but its version. Reading runs no code from the file: JSON
is parsed, safetensors holds raw tensors, and every member's uncompressed
size is checked against :data:`MAX_JSON_BYTES` / :data:`MAX_BINARY_BYTES`
before it is read (:mod:`zipfile` never inflates a member past the size its
header declares), and a member over :data:`BOMB_FROM_BYTES` that would
inflate more than :data:`MAX_COMPRESSION_RATIO` times is refused as a zip
bomb. Every field of the manifest is checked by type, and weights holding
NaN or infinity are refused. A file that is broken in any way (not a zip, a
member missing or too large, bad JSON, JSON of the wrong shape, bad
safetensors) raises one :class:`ValueError` naming the file and the problem.

Format versions (``format_version`` of the manifest; a file records the
lowest version that describes it, and a reader refuses a version newer than
it knows with "upgrade skfer"; a file of a version it knows that a newer
skfer wrote, per its ``skfer_version``, is read with a warning naming both
versions, see :func:`warn_if_newer`):

1. skfer 0.1: ``model.skops`` plus the nets it refers to.
2. Also net-only files, without ``model.skops``: ``root`` names the net
   folder (``CNNClassifier.save`` and :func:`skfer.io.save_model` of a bare
   net write them).

A net's ``config.json`` has its own format (:data:`NET_FORMAT`, version
:data:`NET_FORMAT_VERSION`), checked by the same :func:`check_format`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

FORMAT = "skfer-model"
#: The newest container version this skfer reads (see the module docstring).
FORMAT_VERSION = 2
NET_FORMAT = "skfer-neural"
#: The newest version of a net's ``config.json`` this skfer reads.
NET_FORMAT_VERSION = 1

MANIFEST = "manifest.json"
SKOPS = "model.skops"
NET_CONFIG = "config.json"
NET_WEIGHTS = "weights.safetensors"

#: Largest uncompressed JSON member read (manifest, net configs): 8 MiB.
MAX_JSON_BYTES = 8 * 2**20
#: Largest uncompressed binary member read (``model.skops``, weights): 2 GiB.
MAX_BINARY_BYTES = 2 * 2**30
#: A member of more than :data:`BOMB_FROM_BYTES` uncompressed that deflates
#: more than this many times is refused as a zip bomb: weights (noisy floats)
#: and skops parts compress less than 2 times, zeros up to 1000 times.
MAX_COMPRESSION_RATIO = 100
#: See :data:`MAX_COMPRESSION_RATIO`: members up to 32 MiB are read whatever
#: their ratio, so memory stays within that or 100 times the file's size.
BOMB_FROM_BYTES = 32 * 2**20

_NET_FOLDER = re.compile(r"nets/[0-9]{1,6}")
_HINT = (
    "model files are written by est.save(path) or skfer.io.save_model(); "
    "the usual extension is .skfer"
)

__all__ = [
    "BOMB_FROM_BYTES",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "MAX_BINARY_BYTES",
    "MAX_COMPRESSION_RATIO",
    "MAX_JSON_BYTES",
    "NET_CONFIG",
    "NET_FORMAT",
    "NET_FORMAT_VERSION",
    "NET_WEIGHTS",
    "SKOPS",
    "ModelFile",
    "broken_file_error",
    "check_format",
    "check_member_size",
    "check_version_field",
    "describe",
    "net_member",
    "read_model_file",
    "warn_if_newer",
    "write_model_file",
]


def broken_file_error(source, problem):
    """The one error of a broken model file: ``ValueError`` naming it and the problem.

    Parameters
    ----------
    source : str or os.PathLike
        The file (or ``file:member``) at fault.
    problem : str
        What is wrong, without a final full stop.

    Returns
    -------
    error : ValueError
        To be raised by the caller.
    """
    return ValueError(f"'{source}' is not a readable skfer model file: {problem}.")


def check_format(doc, *, expected, newest, what, source):
    """Check the ``format`` and ``format_version`` of a manifest or net config.

    Parameters
    ----------
    doc : object
        The parsed JSON document.
    expected : str
        Its format name (:data:`FORMAT` or :data:`NET_FORMAT`).
    newest : int
        The newest version this skfer reads.
    what : str
        The member, for messages (``'manifest.json'``).
    source : str or os.PathLike
        The file, for messages.

    Returns
    -------
    version : int
        The document's format version.

    Raises
    ------
    ValueError
        If ``doc`` is not a JSON object of format ``expected``, or its
        version is not an int or is newer than ``newest`` (the file was
        written by a newer skfer).
    """
    if not isinstance(doc, dict):
        raise broken_file_error(source, f"{what} is a JSON {type(doc).__name__}, not an object")
    if doc.get("format") != expected:
        raise broken_file_error(source, f"{what} is of format {doc.get('format')!r}, not {expected!r}")
    version = doc.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise broken_file_error(source, f"{what} has format_version {version!r}, not a positive int")
    if version > newest:
        raise ValueError(
            f"'{source}' uses {expected} format version {version} ({what}), newer than "
            f"this skfer reads ({newest}): it was written by a newer skfer; upgrade skfer "
            "to load it."
        )
    return version


def net_member(folder, name):
    """The member name of ``name`` (``config.json``...) in the net folder ``folder``.

    Parameters
    ----------
    folder : str
        ``'nets/<i>'``, or ``''`` for the top level of a skfer 0.1 net folder.
    name : str
        :data:`NET_CONFIG` or :data:`NET_WEIGHTS`.

    Returns
    -------
    member : str
    """
    return f"{folder}/{name}" if folder else name


def _jsonable(values):
    out = []
    for v in values:
        v = v.item() if hasattr(v, "item") else v
        out.append(v if isinstance(v, (str, int, float, bool)) or v is None else str(v))
    return out


def _type_name(cls):
    return f"{cls.__module__}.{cls.__name__}"


def describe(model):
    """The manifest's description of ``model``: estimator class, steps and classes.

    Parameters
    ----------
    model : estimator
        The fitted model being saved.

    Returns
    -------
    description : dict
        ``estimator`` (``'module.Class'``), ``steps`` (``[name, class]``
        pairs of a Pipeline, else None) and ``classes`` (JSON values, or
        None without ``classes_``).
    """
    try:
        classes = _jsonable(list(model.classes_))
    except (AttributeError, TypeError):
        classes = None
    steps = getattr(model, "steps", None)
    if isinstance(steps, list):
        steps = [[name, _type_name(type(step))] for name, step in steps]
    else:
        steps = None
    return {"estimator": _type_name(type(model)), "steps": steps, "classes": classes}


def write_model_file(path, model, *, members, nets, root, metadata=None):
    """Write a model file (zip) atomically: a failed save leaves no half file.

    The file is written to a temporary file in the same folder, then renamed
    over ``path`` (:func:`os.replace`); its mode follows the umask, as any
    new file's (0644 under the usual umask 022).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (an existing file is replaced; missing parent
        folders are created).
    model : estimator
        The model saved, described in the manifest (see :func:`describe`).
    members : dict of str to bytes
        Every member but the manifest.
    nets : list of str
        The net folders (``'nets/0'``...), each with its two members in
        ``members``.
    root : str
        The member holding the model: :data:`SKOPS` or one of ``nets``.
    metadata : dict or None, default=None
        JSON-serialisable information stored in the manifest.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    IsADirectoryError
        If ``path`` is a folder.
    TypeError
        If ``metadata`` is not a JSON-serialisable dict.
    """
    from . import __version__

    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict or None, got {type(metadata).__name__}.")
    if root != SKOPS and root not in nets:  # pragma: no cover - callers' contract
        raise ValueError(f"root must be {SKOPS!r} or a net folder, got {root!r}")
    manifest = {
        "format": FORMAT,
        "format_version": 1 if root == SKOPS else 2,
        "skfer_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "kind": "deep" if nets else "classical",
        **describe(model),
        "root": root,
        "nets": list(nets),
        "metadata": metadata or {},
    }
    try:
        manifest_bytes = json.dumps(manifest, indent=2).encode("utf-8")
    except TypeError as exc:
        raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"'{path}' is a folder; give the model file's name (e.g. model.skfer)."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary file next to the final one, renamed over it once complete: an
    # interrupted save never leaves a half-written model under the final name.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(MANIFEST, manifest_bytes)
                for name, data in members.items():
                    zf.writestr(name, data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600; a model file gets the mode of any new file
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask():
    """The process's umask, read without changing it where the system tells it."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def _limit(name):
    return MAX_JSON_BYTES if name.endswith(".json") else MAX_BINARY_BYTES


def _too_large(source, name, size, limit):
    return ValueError(
        f"'{source}': member {name} would be {size} bytes uncompressed, more than "
        f"skfer reads ({limit} bytes); the file is broken or not a skfer model file."
    )


def check_member_size(source, name, size, compressed=None):
    """Refuse a member too large to read, or compressed like a zip bomb.

    Parameters
    ----------
    source : str or os.PathLike
        The file, for messages.
    name : str
        The member (its limit is :data:`MAX_JSON_BYTES` for ``.json``
        members, else :data:`MAX_BINARY_BYTES`).
    size : int
        Its uncompressed size, as the archive declares it.
    compressed : int or None, default=None
        Its compressed size (None: stored as is, a folder's file).

    Raises
    ------
    ValueError
        If ``size`` is over the limit, or over :data:`BOMB_FROM_BYTES` and
        more than :data:`MAX_COMPRESSION_RATIO` times ``compressed``.
    """
    limit = _limit(name)
    if size > limit:
        raise _too_large(source, name, size, limit)
    if compressed is not None and size > BOMB_FROM_BYTES and (
        size > MAX_COMPRESSION_RATIO * max(compressed, 1)
    ):
        raise ValueError(
            f"'{source}': member {name} would inflate from {compressed} to {size} bytes "
            f"(more than {MAX_COMPRESSION_RATIO} times), as a zip bomb does, not a model's "
            "members; the file is broken or hostile."
        )


class ModelFile:
    """An opened model file (zip or folder): its manifest and bounded member reads.

    Made by :func:`read_model_file`, used in a ``with`` block.

    Parameters
    ----------
    path : pathlib.Path
        The file or folder.
    zf : zipfile.ZipFile or None
        The open archive, None for a folder.

    Attributes
    ----------
    path : pathlib.Path
    manifest : dict
        The manifest; for a skfer 0.1 net folder or zip (which has none) a
        stand-in with ``'legacy': True``, ``root`` and ``nets`` ``['']``.
    root : str
        The member holding the model: :data:`SKOPS` or a net folder.
    nets : list of str
        The net folders, in the order they were saved.
    """

    def __init__(self, path, zf):
        self.path = path
        self._zf = zf
        self.manifest = self._read_manifest()
        self.nets = self.manifest["nets"]
        self.root = self.manifest["root"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the archive (nothing to do for a folder)."""
        if self._zf is not None:
            self._zf.close()

    def has(self, name):
        """Whether the member ``name`` exists."""
        if self._zf is not None:
            try:
                self._zf.getinfo(name)
            except KeyError:
                return False
            return True
        return (self.path / name).is_file()

    def read(self, name):
        """The bytes of the member ``name``, its size checked first.

        Parameters
        ----------
        name : str
            A member name (``'model.skops'``, ``'nets/0/config.json'``).

        Returns
        -------
        data : bytes

        Raises
        ------
        ValueError
            If the member is missing, larger than its limit, or unreadable.
        """
        if self._zf is None:
            file = self.path / name
            if not file.is_file():
                raise broken_file_error(self.path, f"{name} is missing")
            check_member_size(self.path, name, file.stat().st_size)
            try:
                return file.read_bytes()
            except OSError as exc:
                raise broken_file_error(self.path, f"{name} cannot be read ({exc})") from None
        try:
            info = self._zf.getinfo(name)
        except KeyError:
            found = sorted(self._zf.namelist())
            raise broken_file_error(self.path, f"{name} is missing (it holds {found[:6]})") from None
        check_member_size(self.path, name, info.file_size, info.compress_size)
        try:
            return self._zf.read(info)
        except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError...
            raise broken_file_error(self.path, f"{name} cannot be read ({exc})") from None

    def read_json(self, name):
        """The member ``name`` parsed as a JSON object (see :meth:`read`)."""
        try:
            doc = json.loads(self.read(name).decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, an int too long
            raise broken_file_error(self.path, f"{name} is not valid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise broken_file_error(self.path, f"{name} is a JSON {type(doc).__name__}, not an object")
        return doc

    def read_net(self, folder):
        """A net's config and weights.

        Parameters
        ----------
        folder : str
            One of :attr:`nets`.

        Returns
        -------
        config : dict
            Its ``config.json``, format checked.
        state : dict of str to torch.Tensor
            Its ``weights.safetensors``, on the CPU.

        Raises
        ------
        ValueError
            If either member is missing, too large, or broken, or a weight
            is NaN or infinite.
        """
        import torch
        from safetensors.torch import load as st_load

        where = net_member(folder, NET_CONFIG)
        config = self.read_json(where)
        check_format(config, expected=NET_FORMAT, newest=NET_FORMAT_VERSION,
                     what=where, source=self.path)
        name = net_member(folder, NET_WEIGHTS)
        data = self.read(name)
        header = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
        if not 0 < header <= min(MAX_JSON_BYTES, len(data) - 8):
            raise broken_file_error(
                self.path, f"{name} is not valid safetensors (its header says {header} bytes, "
                f"the member has {len(data)})")
        try:
            state = st_load(data)
        except Exception as exc:  # safetensors raises its own error types
            raise broken_file_error(self.path, f"{name} is not valid safetensors ({exc})") from None
        del data
        for key, tensor in state.items():
            if not (tensor.is_floating_point() or tensor.is_complex()):
                continue
            try:
                finite = bool(torch.isfinite(tensor).all())
            except RuntimeError:  # a type isfinite does not take (float8...)
                finite = bool(torch.isfinite(tensor.float()).all())
            if not finite:
                raise broken_file_error(
                    self.path, f"{name} holds NaN or infinite weights in the tensor {key!r} "
                    "(the training diverged, or the file was damaged); retrain or use "
                    "another file")
        return config, state

    def _read_manifest(self):
        if not self.has(MANIFEST):
            if self.has(NET_CONFIG) and self.has(NET_WEIGHTS):
                return self._legacy_manifest()
            raise broken_file_error(self.path, f"it has no {MANIFEST} ({_HINT})")
        manifest = self.read_json(MANIFEST)
        version = check_format(manifest, expected=FORMAT, newest=FORMAT_VERSION,
                               what=MANIFEST, source=self.path)
        nets = manifest.get("nets", [])
        if not isinstance(nets, list) or not all(
            isinstance(n, str) and _NET_FOLDER.fullmatch(n) for n in nets
        ):
            raise broken_file_error(self.path, f"{MANIFEST}'s nets is {nets!r}, not a list of 'nets/<i>'")
        root = manifest.get("root", SKOPS)
        if version == 1 and root != SKOPS or root != SKOPS and root not in nets:
            raise broken_file_error(self.path, f"{MANIFEST}'s root is {root!r}, not {SKOPS!r} or a net")
        manifest["nets"], manifest["root"] = nets, root
        _check_manifest_fields(manifest, self.path)
        warn_if_newer(manifest.get("skfer_version"), self.path)
        return manifest

    def _legacy_manifest(self):
        # skfer 0.1's CNNClassifier.save: config.json + weights.safetensors, no manifest.
        config = self.read_json(NET_CONFIG)
        check_format(config, expected=NET_FORMAT, newest=NET_FORMAT_VERSION,
                     what=NET_CONFIG, source=self.path)
        check_version_field(config, NET_CONFIG, self.path)
        warn_if_newer(config.get("skfer_version"), self.path)
        return {
            "format": FORMAT,
            "format_version": 1,
            "legacy": True,
            "skfer_version": config.get("skfer_version"),
            "kind": "deep",
            "estimator": config.get("estimator"),
            "steps": None,
            "root": "",
            "nets": [""],
            "metadata": {},
        }


def check_version_field(doc, what, source, key="skfer_version"):
    """``doc[key]``: absent (None) or a version string such as ``'0.1.0'``.

    Parameters
    ----------
    doc : dict
        A manifest or net config.
    what : str
        The member, for messages.
    source : str or os.PathLike
        The file, for messages.
    key : str, default='skfer_version'

    Returns
    -------
    version : packaging.version.Version or None

    Raises
    ------
    ValueError
        If the value is not a PEP 440 version string.
    """
    from packaging.version import InvalidVersion, Version

    value = doc.get(key)
    if value is None and key not in doc:
        return None
    try:
        if not isinstance(value, str) or len(value) > 64:
            raise InvalidVersion
        return Version(value)
    except InvalidVersion:
        raise broken_file_error(
            source, f"{what}'s {key} is {str(value)[:60]!r}, not a version such as '0.1.0'"
        ) from None


def warn_if_newer(written_by, source):
    """Warn when the file was written by a newer skfer than this one.

    The format version is what decides whether a file can be read (a newer
    one is refused, see :func:`check_format`); a newer skfer writing a
    format version that this skfer knows wrote a file it reads, so loading
    goes on, with a :class:`UserWarning` naming both versions: the newer
    skfer may have trained the model with code this one lacks.

    Parameters
    ----------
    written_by : str or None
        The file's ``skfer_version`` (already checked to be a version).
    source : str or os.PathLike
        The file, for the message.
    """
    import warnings

    from packaging.version import Version

    from . import __version__

    if written_by is None or Version(written_by) <= Version(__version__):
        return
    warnings.warn(
        f"'{source}' was written by skfer {written_by}, newer than this skfer "
        f"({__version__}); its format version is one this skfer reads, so it is loaded, "
        "but upgrade skfer if the model behaves differently than where it was made.",
        UserWarning,
        stacklevel=_stacklevel_outside_skfer(),
    )


def _stacklevel_outside_skfer():
    # the stacklevel, seen from the caller, of the first frame outside skfer
    import sys

    root = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(root):
        frame, level = frame.f_back, level + 1
    return level


_JSON_SCALARS = (str, int, float, bool, type(None))


def _check_manifest_fields(manifest, source):
    """Every field of a manifest read back, of the type and values skfer writes."""
    from datetime import datetime

    def bad(key, expected):
        value = str(manifest[key])[:60]
        return broken_file_error(source, f"{MANIFEST}'s {key} is {value!r}, not {expected}")

    check_version_field(manifest, MANIFEST, source)
    created = manifest.get("created")
    if "created" in manifest:
        try:
            datetime.fromisoformat(created)
        except (TypeError, ValueError):
            raise bad("created", "an ISO date and time") from None
    kind = "deep" if manifest["nets"] else "classical"
    if "kind" in manifest and manifest["kind"] != kind:
        raise bad("kind", f"{kind!r} (its nets are {manifest['nets']})")
    estimator = manifest.get("estimator")
    if "estimator" in manifest and not (
        isinstance(estimator, str) and re.fullmatch(r"[A-Za-z_][\w.]{0,199}", estimator)
    ):
        raise bad("estimator", "a class name such as 'sklearn.pipeline.Pipeline'")
    steps = manifest.get("steps")
    if steps is not None and not (
        isinstance(steps, list) and all(
            isinstance(st, list) and len(st) == 2 and all(isinstance(v, str) for v in st)
            for st in steps
        )
    ):
        raise bad("steps", "null or a list of [name, class] pairs")
    classes = manifest.get("classes")
    if classes is not None and not (
        isinstance(classes, list) and all(isinstance(c, _JSON_SCALARS) for c in classes)
    ):
        raise bad("classes", "null or a list of labels")
    if not isinstance(manifest.setdefault("metadata", {}), dict):
        raise bad("metadata", "an object")


def read_model_file(path):
    """Open a model file (a ``.skfer`` zip, its unzipped folder, or a skfer 0.1 net).

    Parameters
    ----------
    path : str or os.PathLike
        The file or folder.

    Returns
    -------
    model_file : ModelFile
        Use it in a ``with`` block (it holds the open archive).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a skfer model file or is broken (see the module
        docstring), or was written by a newer skfer.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Model file not found: '{path}'.")
    if path.is_dir():
        return ModelFile(path, None)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise broken_file_error(path, f"it is not a zip archive ({exc}; {_HINT})") from None
    try:
        return ModelFile(path, zf)
    except BaseException:
        zf.close()
        raise
