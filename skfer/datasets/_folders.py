"""Loaders for image-folder datasets: generic class folders, CK+ and JAFFE."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .._image import map_images, read_image, stack_images

__all__ = ["load_image_folder", "load_ckplus", "load_ckplus_sequences", "load_jaffe"]

_IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".gif",
    ".pgm",
    ".ppm",
    ".pbm",
)


def _is_hidden(path, root=None):
    """Whether ``path`` (or a folder between ``root`` and it) is hidden (``.name``)."""
    parts = (
        Path(path).relative_to(root).parts if root is not None else (Path(path).name,)
    )
    return any(p.startswith(".") for p in parts)


def _check_dir(root, what):
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{what} folder not found: '{root}'.")
    if not root.is_dir():
        raise ValueError(f"{what} path '{root}' is a file; expected a folder.")
    return root


def _normalise_extensions(extensions):
    if isinstance(extensions, str):
        extensions = (extensions,)
    return tuple(
        e.lower() if e.startswith(".") else "." + e.lower() for e in extensions
    )


def _image_files(folder, extensions):
    """Image files under ``folder`` (recursively), sorted, hidden ones skipped."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in extensions and not _is_hidden(p, folder)
    )


def _check_size(size):
    if size is None:
        return None
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(
            f"size must be None or (height, width), got {size!r}."
        ) from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {size!r}.")
    return h, w


def _read_stack(paths, mode, size, verbose, desc, n_jobs=None):
    """Read image files (resizing to ``size`` with INTER_AREA); stack when possible."""
    import cv2

    size = _check_size(size)

    def read(path):
        img = read_image(path, mode=mode)
        if size is not None and img.shape[:2] != size:
            img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        return img

    images = map_images(read, list(paths), n_jobs=n_jobs, verbose=verbose, desc=desc)
    return stack_images(images)


_FOLDER_DESCR = """\
Image-folder dataset
--------------------

Images read from ``{root}``, one sub-folder per class
(``<class>/<image>``); ``target_names`` are the sorted folder names.
"""


def load_image_folder(
    root,
    *,
    mode="gray",
    size=None,
    extensions=_IMAGE_EXTENSIONS,
    verbose=0,
    n_jobs=None,
):
    """Load a ``root/<class>/<image>`` folder tree as a labelled dataset.

    Each sub-folder of ``root`` is a class; its images (searched
    recursively) are that class's samples. Hidden files and folders (names
    starting with ``.``) and files whose extension is not in ``extensions``
    are ignored, and so are class folders left without images.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding one sub-folder per class.
    mode : {'gray', 'rgb', 'unchanged'}, default='gray'
        How images are read, see :func:`skfer._image.read_image`.
    size : tuple of (int, int) or None, default=None
        ``(height, width)``: resize every image to it (``cv2.INTER_AREA``) so
        that they stack into one array. ``None`` keeps the stored sizes.
    extensions : tuple of str, default=('.png', '.jpg', '.jpeg', '.bmp', \
'.tif', '.tiff', '.webp', '.gif', '.pgm', '.ppm', '.pbm')
        File extensions taken as images (case-insensitive).
    verbose : int, default=0
        Show a tqdm progress bar while reading when > 0.
    n_jobs : int or None, default=None
        Threads used to read the files (``None``: 1, ``-1``: all cores).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        images : ndarray of shape (n_samples, H, W[, C]), uint8, or list
            A list of arrays when the images' sizes differ and ``size`` is
            None.
        target : ndarray of shape (n_samples,), int
            Index into ``target_names``.
        target_names : list of str
            Sorted class folder names.
        filenames : ndarray of shape (n_samples,), str
            The file of each image.
        groups : None
            Subjects are unknown.
        split : None
            No split.
        DESCR : str
            Description of the dataset.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.
    ValueError
        If ``root`` holds no images in class sub-folders.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, cv2
    >>> from skfer.datasets import load_image_folder
    >>> root = tempfile.mkdtemp()
    >>> for cls, shape in [("happy", (40, 40)), ("sad", (48, 48))]:
    ...     os.makedirs(os.path.join(root, cls))
    ...     _ = cv2.imwrite(os.path.join(root, cls, "a.png"),
    ...                     np.zeros(shape, np.uint8))
    >>> data = load_image_folder(root, size=(48, 48))
    >>> data.images.shape, data.target.tolist(), data.target_names
    ((2, 48, 48), [0, 1], ['happy', 'sad'])
    >>> type(load_image_folder(root).images).__name__  # sizes differ
    'list'
    """
    root = _check_dir(root, "Image")
    extensions = _normalise_extensions(extensions)
    classes, paths, target = [], [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not _is_hidden(p)):
        files = _image_files(folder, extensions)
        if not files:
            continue
        target.extend([len(classes)] * len(files))
        classes.append(folder.name)
        paths.extend(files)
    if not paths:
        raise ValueError(
            f"No images found under '{root}': expected class sub-folders "
            f"(root/<class>/<image>) holding files with extensions {list(extensions)}."
        )
    images = _read_stack(paths, mode, size, verbose, "Reading images", n_jobs)
    return Bunch(
        images=images,
        target=np.asarray(target, dtype=np.int64),
        target_names=classes,
        filenames=np.array([str(p) for p in paths], dtype=str),
        groups=None,
        split=None,
        DESCR=_FOLDER_DESCR.format(root=root),
    )


# ---------------------------------------------------------------------------
# CK+
# ---------------------------------------------------------------------------

_CKPLUS_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)$")

_CKPLUS_DESCR = """\
CK+ (extended Cohn-Kanade), 48x48 crops
---------------------------------------

Posed expression sequences of 118 subjects (Lucey et al., 2010), in the
common ``CK+48`` crop set: the last frames (towards the apex) of 327 labelled
sequences, in folders anger, contempt, disgust, fear, happy, sadness,
surprise. Files are ``SXXX_YYY_ZZZZZZZZ.png``: subject, sequence, frame.
Frames of one subject are near-identical, so evaluate subject-independently
(e.g. ``GroupKFold`` with ``groups``), or the score is inflated to ~100%.
Terms: CK+ agreement, non-commercial research use.
"""


def _scan_ckplus(path):
    root = _check_dir(path, "CK+")
    rows = []  # (class name, subject, sequence, frame, path)
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not _is_hidden(p)):
        for f in _image_files(folder, _IMAGE_EXTENSIONS):
            m = _CKPLUS_NAME.match(f.stem)
            if m is None:
                raise ValueError(
                    f"CK+ file '{f}' is not named SXXX_YYY_ZZZZZZZZ (subject, "
                    "sequence, frame), e.g. S010_004_00000017.png."
                )
            subject, seq, frame = m.groups()
            rows.append((folder.name, subject, f"{subject}_{seq}", int(frame), f))
    if not rows:
        raise ValueError(
            f"No CK+ images found under '{root}': expected <emotion>/SXXX_YYY_ZZZZZZZZ.png."
        )
    return rows


def load_ckplus(path, *, verbose=0):
    """Load CK+ (the 48x48 ``CK+48`` crop set) as individual frames.

    Parameters
    ----------
    path : str or os.PathLike
        The ``CK+48`` folder: ``path/<emotion>/SXXX_YYY_ZZZZZZZZ.png``.
    verbose : int, default=0
        Show a progress bar while reading when > 0.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        images : ndarray of shape (n_samples, H, W), uint8, or list
            Grey frames (48x48 for CK+48); a list if sizes differ.
        target : ndarray of shape (n_samples,), int
            Index into ``target_names``.
        target_names : list of str
            Sorted emotion folder names (anger, contempt, disgust, fear,
            happy, sadness, surprise).
        groups : ndarray of shape (n_samples,), str
            Subject id, e.g. ``'S010'``: group by it for evaluation.
        sequence : ndarray of shape (n_samples,), str
            Sequence id, e.g. ``'S010_004'``.
        frame : ndarray of shape (n_samples,), int
            Frame number within the sequence.
        filenames : ndarray of shape (n_samples,), str
            The file of each frame.
        split : None
            CK+ has no official split.
        DESCR : str
            Description of the dataset.

    See Also
    --------
    load_ckplus_sequences : The same frames grouped into sequences.

    Examples
    --------
    >>> from skfer.datasets import load_ckplus
    >>> data = load_ckplus("ckplus/CK+48")  # doctest: +SKIP
    >>> data.images.shape, len(set(data.groups))  # doctest: +SKIP
    ((981, 48, 48), 118)
    """
    rows = _scan_ckplus(path)
    classes = sorted({r[0] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    images = _read_stack([r[4] for r in rows], "gray", None, verbose, "Reading CK+")
    return Bunch(
        images=images,
        target=np.array([index[r[0]] for r in rows], dtype=np.int64),
        target_names=classes,
        groups=np.array([r[1] for r in rows], dtype=str),
        sequence=np.array([r[2] for r in rows], dtype=str),
        frame=np.array([r[3] for r in rows], dtype=np.int64),
        filenames=np.array([str(r[4]) for r in rows], dtype=str),
        split=None,
        DESCR=_CKPLUS_DESCR,
    )


def load_ckplus_sequences(path, *, verbose=0):
    """Load CK+ (``CK+48``) as short frame sequences, one sample per sequence.

    Frames are sorted by frame number. All sequences get the same length
    ``T``, the smallest number of frames any sequence has (3 in CK+48):
    longer sequences keep their last ``T`` frames, the apex end.

    Parameters
    ----------
    path : str or os.PathLike
        The ``CK+48`` folder: ``path/<emotion>/SXXX_YYY_ZZZZZZZZ.png``.
    verbose : int, default=0
        Show a progress bar while reading when > 0.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        sequences : ndarray of shape (n_sequences, T, H, W), uint8
            Grey frames in time order.
        target : ndarray of shape (n_sequences,), int
            Index into ``target_names``.
        target_names : list of str
            Sorted emotion folder names.
        groups : ndarray of shape (n_sequences,), str
            Subject id of each sequence.
        sequence : ndarray of shape (n_sequences,), str
            Sequence id, e.g. ``'S010_004'``; sequences are sorted by it.
        frames : ndarray of shape (n_sequences, T), int
            Frame numbers kept.
        DESCR : str
            Description of the dataset.

    Raises
    ------
    ValueError
        If one sequence appears under two emotions, or frames differ in size.

    See Also
    --------
    load_ckplus : The frames as individual samples.

    Examples
    --------
    >>> from skfer.datasets import load_ckplus_sequences
    >>> data = load_ckplus_sequences("ckplus/CK+48")  # doctest: +SKIP
    >>> data.sequences.shape  # doctest: +SKIP
    (327, 3, 48, 48)
    """
    data = load_ckplus(path, verbose=verbose)
    if isinstance(data.images, list):
        shapes = sorted({im.shape for im in data.images})
        raise ValueError(
            f"CK+ frames have different sizes {shapes[:5]}; they must match."
        )
    seq_ids = sorted(set(data.sequence.tolist()))
    members = {s: [] for s in seq_ids}
    for i, s in enumerate(data.sequence.tolist()):
        members[s].append(i)
    T = min(len(v) for v in members.values())
    idx = np.empty((len(seq_ids), T), dtype=np.int64)
    for k, s in enumerate(seq_ids):
        rows = sorted(members[s], key=lambda i: data.frame[i])
        labels = {int(data.target[i]) for i in rows}
        if len(labels) > 1:
            names = [data.target_names[t] for t in sorted(labels)]
            raise ValueError(
                f"CK+ sequence {s} appears under several emotions: {names}."
            )
        idx[k] = rows[-T:]
    return Bunch(
        sequences=data.images[idx],
        target=data.target[idx[:, 0]],
        target_names=data.target_names,
        groups=data.groups[idx[:, 0]],
        sequence=np.array(seq_ids, dtype=str),
        frames=data.frame[idx],
        split=None,
        DESCR=_CKPLUS_DESCR
        + f"\nGrouped into sequences of the last T={T} frames, sorted by frame.\n",
    )


# ---------------------------------------------------------------------------
# JAFFE
# ---------------------------------------------------------------------------

_JAFFE_CODES = {
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
#: JAFFE class names: the FER2013 names of its 7 codes, sorted.
JAFFE_CLASSES = tuple(sorted(_JAFFE_CODES.values()))

_JAFFE_NAME = re.compile(
    r"^([A-Za-z]{2})\.([A-Za-z]{2})(\d*)\.(\d+)\.(tiff?|png|jpe?g|bmp)$", re.IGNORECASE
)

_JAFFE_DESCR = """\
JAFFE (Japanese Female Facial Expression) database
--------------------------------------------------

213 grey 256x256 images of 10 Japanese female models posing 7 expressions
(Lyons et al., 1998). Files are named ``KA.AN1.39.tiff``: model ``KA``,
expression code ``AN`` (AN angry, DI disgust, FE fear, HA happy, NE neutral,
SA sad, SU surprise) with repetition ``1``, image number ``39``.
``target_names`` are the FER2013 names of the codes, sorted alphabetically
(which is also the codes' alphabetical order). Evaluate grouped by model.
"""


def load_jaffe(path, *, size=None, verbose=0):
    """Load the JAFFE database from a folder of ``KA.AN1.39.tiff`` files.

    Files are searched recursively under ``path``; files whose names do not
    follow the JAFFE pattern (``README``...) are ignored. Extensions
    ``.tiff``, ``.tif``, ``.png``, ``.jpg``, ``.jpeg`` and ``.bmp`` are read.

    Parameters
    ----------
    path : str or os.PathLike
        Folder holding the JAFFE images (e.g. ``jaffedbase/``).
    size : tuple of (int, int) or None, default=None
        ``(height, width)`` to resize every image to (``cv2.INTER_AREA``).
    verbose : int, default=0
        Show a progress bar while reading when > 0.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        images : ndarray of shape (n_samples, H, W), uint8, or list
            Grey images (256x256 in the original); a list if sizes differ.
        target : ndarray of shape (n_samples,), int
            Index into ``target_names``.
        target_names : list of str
            ``['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad',
            'surprise']``: the FER2013 names, sorted alphabetically (not in
            FER2013's label order; map with
            ``[skfer.FER2013_CLASSES.index(n) for n in target_names]``).
        groups : ndarray of shape (n_samples,), str
            The model (subject) code, e.g. ``'KA'``.
        filenames : ndarray of shape (n_samples,), str
            The file of each image.
        split : None
            JAFFE has no official split.
        DESCR : str
            Description of the dataset.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If no JAFFE-named image is found, or a name has an unknown
        expression code.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, cv2
    >>> from skfer.datasets import load_jaffe
    >>> root = tempfile.mkdtemp()
    >>> for name in ["KA.AN1.39.tiff", "KA.HA2.30.tiff", "YM.SU1.58.tiff"]:
    ...     _ = cv2.imwrite(os.path.join(root, name), np.zeros((8, 8), np.uint8))
    >>> data = load_jaffe(root)
    >>> data.images.shape, data.groups.tolist()
    ((3, 8, 8), ['KA', 'KA', 'YM'])
    >>> [data.target_names[t] for t in data.target]
    ['angry', 'happy', 'surprise']
    """
    root = _check_dir(path, "JAFFE")
    rows = []
    for f in sorted(
        p for p in root.rglob("*") if p.is_file() and not _is_hidden(p, root)
    ):
        m = _JAFFE_NAME.match(f.name)
        if m is None:
            continue
        subject, code = m.group(1).upper(), m.group(2).upper()
        if code not in _JAFFE_CODES:
            raise ValueError(
                f"JAFFE file '{f}' has the unknown expression code {code!r}; "
                f"known codes: {sorted(_JAFFE_CODES)}."
            )
        rows.append((_JAFFE_CODES[code], subject, f))
    if not rows:
        raise ValueError(
            f"No JAFFE images found under '{path}': expected files named like "
            "KA.AN1.39.tiff (model.expression+repetition.number.ext)."
        )
    index = {c: i for i, c in enumerate(JAFFE_CLASSES)}
    images = _read_stack([r[2] for r in rows], "gray", size, verbose, "Reading JAFFE")
    return Bunch(
        images=images,
        target=np.array([index[r[0]] for r in rows], dtype=np.int64),
        target_names=list(JAFFE_CLASSES),
        groups=np.array([r[1] for r in rows], dtype=str),
        filenames=np.array([str(r[2]) for r in rows], dtype=str),
        split=None,
        DESCR=_JAFFE_DESCR,
    )
