"""FER2013 and FER+ loaders, with a vectorised parser for the Kaggle csv."""

from __future__ import annotations

import csv
import gzip
import os
import queue
import tarfile
import threading
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .. import FER2013_CLASSES
from ._folders import _IMAGE_EXTENSIONS, _is_hidden, _read_stack

__all__ = ["load_fer2013", "load_ferplus", "FERPLUS_CLASSES"]

#: The eight FER+ emotion names, in the column order of ``fer2013new.csv``.
FERPLUS_CLASSES = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
)

_SIDE = 48
_N_PIXELS = _SIDE * _SIDE
_CHUNK_BYTES = 1 << 20  # parse 1 MiB of text at a time
_FER2013_USAGES = ("Training", "PublicTest", "PrivateTest")

# Folder names of image-folder copies of FER2013 -> FER2013 label.
_FOLDER_ALIASES = {
    **{name: i for i, name in enumerate(FER2013_CLASSES)},
    "anger": 0,
    "disgusted": 1,
    "fearful": 2,
    "happiness": 3,
    "sadness": 4,
    "surprised": 5,
}

_FER2013_DESCR = """\
FER2013 facial expression dataset
---------------------------------

48x48 grey faces collected with Google image search for the ICML 2013
"Challenges in Representation Learning" facial expression challenge
(Goodfellow et al., 2013). Labels: 0 angry, 1 disgust, 2 fear, 3 happy,
4 sad, 5 surprise, 6 neutral. ``split`` holds the csv's ``Usage`` column
(``Training``, ``PublicTest``, ``PrivateTest``) or, for the image-folder
copy, the folder (``train``, ``test``). Classes are imbalanced (disgust is
about 1.5% of training); the set holds exact duplicates and a few blank
images. Faces are of many different people and no subject ids exist, so
``groups`` is None. Terms: research use; do not redistribute the pixels.
"""

_FERPLUS_DESCR = """\
FER+ (FERPlus) relabelling of FER2013
-------------------------------------

Each FER2013 image was relabelled by 10 crowd annotators into 8 emotions
(neutral, happiness, surprise, sadness, anger, disgust, fear, contempt) plus
``unknown`` and ``NF`` (not a face) (Barsoum et al., 2016, Microsoft
FERPlus). Rows are joined to FER2013 by position within each ``Usage``.
Which images are kept depends on ``mode``: ``'majority'`` and
``'probability'`` keep every usable image (an image name, at least one
emotion vote, and no more ``unknown`` + ``NF`` votes than the largest
emotion vote); ``'reference_majority'`` and ``'reference_probability'``
apply the label processing of the FERPlus reference code (votes of 1
dropped as outliers, then a strict majority, or the top emotions covering
75% of the votes), so that figures compare with the literature.
``target`` is the majority emotion, ``votes`` the normalised distribution
over the 8 emotions (columns ``target_names``), ``vote_counts`` the raw 10
vote counts, ``fer2013_index`` the row in ``load_fer2013(fer2013_path).images``.
"""


# ---------------------------------------------------------------------------
# opening the csv
# ---------------------------------------------------------------------------


def _gzip_size_hint(path):
    """Uncompressed size from the gzip trailer (mod 2**32), or None."""
    try:
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            return int.from_bytes(f.read(4), "little")
    except OSError:
        return None


def _open_csv(path):
    """Open the FER2013 csv at ``path``; return (binary file, size hint, name, closer)."""
    name = str(path)
    lower = path.name.lower()
    if lower.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        tar = tarfile.open(path, "r:*")
        members = [
            m
            for m in tar.getmembers()
            if m.isfile()
            and m.name.lower().endswith(".csv")
            and not Path(m.name).name.startswith(".")
        ]
        if not members:
            tar.close()
            raise ValueError(f"No .csv file found inside the archive '{name}'.")
        members.sort(key=lambda m: (Path(m.name).name != "fer2013.csv", m.name))
        member = members[0]
        return tar.extractfile(member), member.size, f"{name}:{member.name}", tar
    if lower.endswith(".zip"):
        zf = zipfile.ZipFile(path)
        infos = [
            i
            for i in zf.infolist()
            if i.filename.lower().endswith(".csv")
            and not Path(i.filename).name.startswith(".")
            and not i.filename.startswith("__MACOSX")
        ]
        if not infos:
            zf.close()
            raise ValueError(f"No .csv file found inside the archive '{name}'.")
        infos.sort(key=lambda i: (Path(i.filename).name != "fer2013.csv", i.filename))
        info = infos[0]
        return zf.open(info), info.file_size, f"{name}:{info.filename}", zf
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        f = gzip.open(path, "rb")
        return f, _gzip_size_hint(path), name, f
    f = open(path, "rb")  # noqa: SIM115 - closed by the caller
    return f, path.stat().st_size, name, f


# ---------------------------------------------------------------------------
# the vectorised parser
# ---------------------------------------------------------------------------


class _RowBuffer:
    """Growable ``(n, 2304)`` uint8 buffer; unused capacity is never touched."""

    def __init__(self, capacity):
        self.data = np.empty((max(int(capacity), 1), _N_PIXELS), dtype=np.uint8)
        self.n = 0

    def extend(self, rows):
        need = self.n + len(rows)
        if need > len(self.data):
            self.data.resize((max(need, 2 * len(self.data)), _N_PIXELS), refcheck=False)
        self.data[self.n : need] = rows
        self.n = need

    def finish(self):
        # shrinking a large block in place (realloc/mremap), no copy
        self.data.resize((self.n, _N_PIXELS), refcheck=False)
        return self.data.reshape(self.n, _SIDE, _SIDE)


def _strip_field(raw):
    return raw.strip().strip(b'"').strip()


class _Fer2013Parser:
    """Parse the csv text chunk by chunk; see :func:`load_fer2013`."""

    def __init__(self, name, size_hint, usage):
        self.name = name
        self.usage = usage
        self.size_hint = size_hint
        self.pixels = None  # sized from the first chunk's bytes per row
        self.labels = []
        self.usages = []
        self.seen_usages = {}
        self.n_rows = 0  # data rows seen, before filtering
        self.cols = None

    def _error(self, line, msg):
        return ValueError(f"Malformed FER2013 csv '{self.name}', line {line}: {msg}")

    def header(self, line):
        try:
            text = line.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = ""
        cols = [c.strip().strip('"').strip().lower() for c in text.split(",")]
        if "pixels" not in cols or "emotion" not in cols:
            raise ValueError(
                f"'{self.name}' is not a FER2013 csv: its header is "
                f"{line[:80]!r}, expected the columns 'emotion,pixels,Usage'."
            )
        self.cols = cols
        self.c_pix = cols.index("pixels")
        self.c_emo = cols.index("emotion")
        self.c_use = cols.index("usage") if "usage" in cols else None

    def _field_bounds(self, c, line_start, line_end, commas):
        start = line_start if c == 0 else commas[:, c - 1] + 1
        end = line_end if c == len(self.cols) - 1 else commas[:, c]
        return start, end

    def chunk(self, block, first_line):
        """Parse ``block``: whole lines ending in ``\\n``; line numbers from ``first_line``."""
        a = np.frombuffer(block, dtype=np.uint8)
        nl = np.flatnonzero(a == 10)
        starts = np.empty_like(nl)
        starts[0] = 0
        starts[1:] = nl[:-1] + 1
        ends = nl - (a[nl - 1] == 13)  # drop a '\r' before '\n'
        line_no = first_line + np.arange(len(nl))
        keep = ends > starts  # skip empty lines
        if not keep.all():
            starts, ends, line_no = starts[keep], ends[keep], line_no[keep]
        if len(starts) == 0:
            return len(nl)
        n_sep = len(self.cols) - 1
        commas = np.flatnonzero(a == 44)
        per_line = np.bincount(
            np.searchsorted(starts, commas, side="right") - 1, minlength=len(starts)
        )
        bad = np.flatnonzero(per_line != n_sep)
        if len(bad):
            i = bad[0]
            raise self._error(
                line_no[i],
                f"expected {n_sep + 1} comma-separated fields "
                f"({','.join(self.cols)}), found {per_line[i] + 1}.",
            )
        commas = commas.reshape(len(starts), n_sep)
        f0, f1 = self._field_bounds(self.c_pix, starts, ends, commas)
        empty = np.flatnonzero(f1 <= f0)
        if len(empty):
            raise self._error(line_no[empty[0]], "the pixels field is empty.")

        # mask of the bytes inside the pixel fields: alternating runs outside
        # (False) and inside (True) the fields
        bounds = np.empty(2 * len(f0) + 2, dtype=np.int64)
        bounds[0] = 0
        bounds[1:-1:2] = f0
        bounds[2:-1:2] = f1
        bounds[-1] = len(a)
        inside = np.zeros(len(bounds) - 1, dtype=bool)
        inside[1::2] = True
        region = np.repeat(inside, np.diff(bounds))
        digit = a - np.uint8(48)  # wraps for bytes below '0'
        isdig = digit < 10
        isdig &= region
        other = np.greater(region, isdig | (a == 32))  # in a field, not digit/space
        if other.any():
            other &= (a != 9) & (a != 34)  # also allow tabs and quotes
            if other.any():
                pos = int(np.flatnonzero(other)[0])
                i = np.searchsorted(starts, pos, side="right") - 1
                raise self._error(
                    line_no[i],
                    f"invalid character {chr(a[pos])!r} in the pixels field; "
                    "expected space-separated integers 0..255.",
                )
        del other, region
        # last digit of each number; the block ends in '\n', so isdig[-1] is
        # False and the negative indices below read False, never a digit
        e = np.flatnonzero(np.greater(isdig[:-1], isdig[1:]))
        d1 = isdig[e - 1]
        d2 = d1 & isdig[e - 2]
        d3 = d2 & isdig[e - 3]
        if d3.any():
            i = np.searchsorted(starts, e[np.argmax(d3)], side="right") - 1
            raise self._error(
                line_no[i], "a pixel value has more than 3 digits (> 255)."
            )
        values = digit[e].astype(np.uint16)
        t = digit[e - 1].astype(np.uint16)
        t *= d1
        t *= 10
        values += t
        t = digit[e - 2].astype(np.uint16)
        t *= d2
        t *= 100
        values += t
        del t, d1, d2, d3, isdig, digit
        counts = np.searchsorted(e, f1) - np.searchsorted(e, f0)
        bad = np.flatnonzero(counts != _N_PIXELS)
        if len(bad):
            i = bad[0]
            raise self._error(
                line_no[i],
                f"expected {_N_PIXELS} pixel values (48x48), found {counts[i]}.",
            )
        big = values > 255
        if big.any():
            i = np.searchsorted(starts, e[np.argmax(big)], side="right") - 1
            raise self._error(
                line_no[i], f"pixel value {values[np.argmax(big)]} is outside 0..255."
            )
        del e

        # the two small fields, row by row
        n = len(starts)
        e0, e1 = self._field_bounds(self.c_emo, starts, ends, commas)
        labels = np.empty(n, dtype=np.int64)
        for i, (s, t_) in enumerate(zip(e0.tolist(), e1.tolist(), strict=True)):
            raw = _strip_field(bytes(block[s:t_]))
            if not raw.isdigit() or int(raw) >= len(FER2013_CLASSES):
                raise self._error(
                    line_no[i],
                    f"emotion {raw.decode(errors='replace')!r} is not an integer 0..6.",
                )
            labels[i] = int(raw)
        if self.c_use is not None:
            u0, u1 = self._field_bounds(self.c_use, starts, ends, commas)
            usages = [
                _strip_field(bytes(block[s:t_])).decode("utf-8", errors="replace")
                for s, t_ in zip(u0.tolist(), u1.tolist(), strict=True)
            ]
        else:
            usages = [""] * n
        for u in usages:
            self.seen_usages[u] = self.seen_usages.get(u, 0) + 1
        self.n_rows += n
        pixels = values.astype(np.uint8).reshape(n, _N_PIXELS)
        if self.usage is not None:
            sel = np.fromiter((u in self.usage for u in usages), dtype=bool, count=n)
            pixels = pixels[sel]
            labels = labels[sel]
            usages = [u for u, s in zip(usages, sel, strict=True) if s]
        if self.pixels is None:
            cap = 1024
            if self.size_hint:
                cap = int(self.size_hint / (len(a) / n) * 1.02) + 16
            self.pixels = _RowBuffer(cap)
        self.pixels.extend(pixels)
        self.labels.append(labels)
        self.usages.extend(usages)
        return len(nl)

    def feed(self, f):
        first = f.readline(1 << 16)
        if not first:
            raise ValueError(f"FER2013 csv '{self.name}' is empty.")
        self.header(first.rstrip(b"\r\n"))
        line = 2
        rest = b""
        with _Prefetcher(f, _CHUNK_BYTES) as chunks:
            for data in chunks:
                block = rest + data if rest else data
                cut = block.rfind(b"\n") + 1
                rest = block[cut:]
                if cut:
                    line += self.chunk(block[:cut] if rest else block, line)
        if rest.strip():  # a last line without a newline
            self.chunk(rest + b"\n", line)


class _Prefetcher:
    """Read ``f`` in chunks on a background thread, so that decompression
    (which releases the GIL) overlaps with parsing."""

    def __init__(self, f, size):
        self.f, self.size = f, size
        self.queue = queue.Queue(maxsize=2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._work, daemon=True)

    def _put(self, item):
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self):
        try:
            while True:
                data = self.f.read(self.size)
                if not self._put(data) or not data:
                    return
        except BaseException as exc:  # handed to the reading thread
            self._put(exc)

    def __enter__(self):
        self.thread.start()
        return self

    def __iter__(self):
        while True:
            item = self.queue.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join()
        return False


def _check_usage(usage, available, name):
    """Normalise ``usage`` to a set, checking it against the usages present."""
    if usage is None:
        return None
    if isinstance(usage, str):
        wanted = [usage]
    else:
        try:
            wanted = list(usage)
        except TypeError:
            wanted = []
    if not wanted or not all(isinstance(u, str) for u in wanted):
        raise ValueError(f"usage must be None, a str, or a list of str; got {usage!r}.")
    if available is not None:
        missing = [u for u in wanted if u not in available]
        if missing:
            raise ValueError(
                f"usage {missing} not found in '{name}'; available usages: "
                f"{sorted(available)}."
            )
    return set(wanted)


def _load_fer2013_csv(path, usage):
    if usage is not None:
        _check_usage(usage, None, path)  # type check before the long parse
    try:
        f, size_hint, name, closer = _open_csv(path)
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise ValueError(
            f"Could not read '{path}' as FER2013 (a fer2013.csv, or a .zip, .tar or "
            f".gz holding it): {exc}."
        ) from None
    wanted = (
        None if usage is None else ({usage} if isinstance(usage, str) else set(usage))
    )
    parser = _Fer2013Parser(name, size_hint, wanted)
    try:
        with closer:
            parser.feed(f)
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise ValueError(f"Could not read '{name}': {exc}") from None
    if parser.n_rows == 0:
        raise ValueError(f"FER2013 csv '{name}' has a header but no data rows.")
    available = {u for u in parser.seen_usages if u}
    if usage is not None:
        _check_usage(usage, available, name)
    images = (
        parser.pixels.finish()
        if parser.pixels
        else np.empty((0, _SIDE, _SIDE), np.uint8)
    )
    target = (
        np.concatenate(parser.labels) if parser.labels else np.empty(0, dtype=np.int64)
    )
    split = (
        np.array(parser.usages, dtype=str)
        if parser.cols and parser.c_use is not None
        else None
    )
    return images, target, split, None


def _load_fer2013_folders(root, usage, verbose):
    splits = sorted(
        (p for p in root.iterdir() if p.is_dir() and not _is_hidden(p)),
        key=lambda p: ({"train": 0, "test": 1}.get(p.name.lower(), 2), p.name),
    )
    if not splits:
        raise ValueError(
            f"'{root}' holds no FER2013 csv (fer2013.csv, fer2013.csv.gz, "
            "fer2013.tar.gz) and no image folders (train/<emotion>/, test/<emotion>/)."
        )
    available = [p.name for p in splits]
    wanted = _check_usage(usage, set(available), root)
    paths, target, split = [], [], []
    for sp in splits:
        if wanted is not None and sp.name not in wanted:
            continue
        for cls in sorted(p for p in sp.iterdir() if p.is_dir() and not _is_hidden(p)):
            key = cls.name.lower()
            if key not in _FOLDER_ALIASES:
                raise ValueError(
                    f"Folder '{cls}' is not a FER2013 emotion; expected one of "
                    f"{list(FER2013_CLASSES)}."
                )
            files = sorted(
                p
                for p in cls.iterdir()
                if p.is_file()
                and not _is_hidden(p)
                and p.suffix.lower() in _IMAGE_EXTENSIONS
            )
            paths.extend(files)
            target.extend([_FOLDER_ALIASES[key]] * len(files))
            split.extend([sp.name] * len(files))
    if not paths:
        raise ValueError(
            f"No images found in the FER2013 image folders under '{root}'."
        )
    images = _read_stack(paths, "gray", None, verbose, "Reading FER2013")
    if isinstance(images, list):
        shapes = sorted({im.shape for im in images})
        raise ValueError(
            f"Images under '{root}' have different sizes {shapes[:5]}; FER2013 "
            "images are all 48x48. Use load_image_folder(..., size=(48, 48))."
        )
    filenames = np.array([str(p) for p in paths], dtype=str)
    return (
        images,
        np.asarray(target, dtype=np.int64),
        np.array(split, dtype=str),
        filenames,
    )


def load_fer2013(path, usage=None, *, verbose=0):
    """Load the FER2013 facial expression dataset.

    Reads the Kaggle csv (``emotion,pixels,Usage``) as a plain ``.csv``, a
    gzipped ``.csv.gz``, the original ``fer2013.tar.gz`` (or a ``.zip``)
    holding ``fer2013/fer2013.csv``, or the Kaggle image-folder copy
    ``path/train/<emotion>/*.jpg`` and ``path/test/<emotion>/*.jpg``.

    The csv is parsed with vectorised NumPy on the raw bytes, 1 MiB at a
    time: the full FER2013 file (35,887 rows) loads in a few seconds, and
    memory stays close to the pixels' own size (about 2.3 kB per image).

    Parameters
    ----------
    path : str or os.PathLike
        The csv file (``.csv``, ``.csv.gz``, ``.tar.gz``, ``.zip``), or a
        folder holding one of ``fer2013.csv``, ``fer2013.csv.gz``,
        ``fer2013.tar.gz``, ``fer2013/fer2013.csv``, or a folder with the
        image-folder layout (subfolders ``train``, ``test``, each with one
        folder per emotion named as in :data:`skfer.FER2013_CLASSES`).
    usage : str, list of str or None, default=None
        Keep only these ``Usage`` values (spelled as in the file:
        ``'Training'``, ``'PublicTest'``, ``'PrivateTest'``), or for the
        image-folder layout these folders (``'train'``, ``'test'``).
        ``None`` keeps all rows. A usage the file lacks raises a
        ``ValueError`` listing those it has.
    verbose : int, default=0
        Image-folder layout only: show a progress bar while reading images.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        images : ndarray of shape (n_samples, 48, 48), uint8
            Grey faces.
        target : ndarray of shape (n_samples,), int
            Labels 0..6 indexing ``target_names``.
        target_names : list of str
            ``list(skfer.FER2013_CLASSES)``: angry, disgust, fear, happy,
            sad, surprise, neutral.
        groups : None
            FER2013 has no subject ids.
        split : ndarray of shape (n_samples,), str, or None
            The ``Usage`` column (``None`` for a csv without one), or the
            split folder (``'train'``, ``'test'``).
        filenames : ndarray of str
            Image-folder layout only: the file of each image.
        DESCR : str
            Description of the dataset.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the csv is malformed (the message names the file and line: wrong
        number of fields, not exactly 2304 pixels, a value outside 0..255, a
        label outside 0..6), or a requested usage is absent.

    Examples
    --------
    A two-row csv, written on the fly:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from skfer.datasets import load_fer2013
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("emotion,pixels,Usage\\n")
    ...     _ = f.write("3," + " ".join(["255"] * 2304) + ",Training\\n")
    ...     _ = f.write("6," + " ".join(["7"] * 2304) + ",PublicTest\\n")
    >>> data = load_fer2013(path)
    >>> data.images.shape, data.images.dtype, data.target.tolist()
    ((2, 48, 48), dtype('uint8'), [3, 6])
    >>> [data.target_names[t] for t in data.target], data.split.tolist()
    (['happy', 'neutral'], ['Training', 'PublicTest'])
    >>> int(load_fer2013(path, usage="PublicTest").images[0, 0, 0])
    7

    The real file (``SKFER_DATA`` points at the shared data folder):

    >>> data = load_fer2013("fer2013/fer2013.csv.gz")  # doctest: +SKIP
    >>> data.images.shape  # doctest: +SKIP
    (32298, 48, 48)
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"FER2013 path not found: '{path}'.")
    filenames = None
    if path.is_dir():
        for cand in (
            "fer2013.csv",
            "fer2013.csv.gz",
            "fer2013.tar.gz",
            "fer2013/fer2013.csv",
            "fer2013.zip",
        ):
            if (path / cand).is_file():
                images, target, split, _ = _load_fer2013_csv(path / cand, usage)
                break
        else:
            images, target, split, filenames = _load_fer2013_folders(
                path, usage, verbose
            )
    else:
        images, target, split, _ = _load_fer2013_csv(path, usage)
    data = Bunch(
        images=images,
        target=target,
        target_names=list(FER2013_CLASSES),
        groups=None,
        split=split,
        DESCR=_FER2013_DESCR,
    )
    if filenames is not None:
        data["filenames"] = filenames
    return data


# ---------------------------------------------------------------------------
# FER+
# ---------------------------------------------------------------------------

_FERPLUS_VOTE_COLUMNS = (*FERPLUS_CLASSES, "unknown", "NF")


def _read_ferplus_csv(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"FER+ csv not found: '{path}'.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return _parse_ferplus_rows(csv.reader(f), path)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"FER+ csv '{path}' is not UTF-8 text (byte {exc.start}: {exc.reason}); "
            "pass the fer2013new.csv file of the Microsoft FERPlus repository."
        ) from None


def _parse_ferplus_rows(reader, path):
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValueError(f"FER+ csv '{path}' is empty.") from None
    need = ("Usage", "Image name", *_FERPLUS_VOTE_COLUMNS)
    missing = [c for c in need if c not in header]
    if missing:
        raise ValueError(
            f"'{path}' is not the FER+ csv (fer2013new.csv): columns {missing} "
            f"are missing; expected {','.join(need)}."
        )
    i_use, i_name = header.index("Usage"), header.index("Image name")
    i_votes = [header.index(c) for c in _FERPLUS_VOTE_COLUMNS]
    usages, names, votes = [], [], []
    for line, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            usages.append(row[i_use].strip())
            names.append(row[i_name].strip())
            counts = [int(row[i]) for i in i_votes]
        except (IndexError, ValueError):
            raise ValueError(
                f"Malformed FER+ csv '{path}', line {line}: expected "
                f"{len(header)} fields with integer vote counts, got {row!r}."
            ) from None
        if min(counts) < 0:
            col = _FERPLUS_VOTE_COLUMNS[int(np.argmin(counts))]
            raise ValueError(
                f"Malformed FER+ csv '{path}', line {line}: negative vote count "
                f"{min(counts)} for {col!r}; vote counts are numbers of annotators "
                "(0 or more)."
            )
        votes.append(counts)
    return usages, names, np.asarray(votes, dtype=np.int64).reshape(-1, len(i_votes))


_N_EMOTIONS = len(FERPLUS_CLASSES)


def _reference_majority(counts):
    """The FERPlus reference's ``majority`` processing of raw vote counts.

    Parameters
    ----------
    counts : ndarray of shape (n, 10), int
        Votes in the order of ``_FERPLUS_VOTE_COLUMNS``.

    Returns
    -------
    keep : ndarray of shape (n,), bool
        Rows whose top category (after dropping single votes) is an emotion
        with more than half of the remaining votes.
    votes : ndarray of shape (n, 8), float
        The remaining emotion votes, normalised (rows of dropped images are 0).
    """
    votes = np.where(counts <= 1, 0, counts)
    top = votes.max(axis=1)
    keep = (2 * top > votes.sum(axis=1)) & (votes.argmax(axis=1) < _N_EMOTIONS)
    emo = votes[:, :_N_EMOTIONS].astype(np.float64)
    total = emo.sum(axis=1, keepdims=True)
    return keep, np.divide(emo, total, out=np.zeros_like(emo), where=total > 0)


def _reference_probability(counts):
    """The FERPlus reference's ``probability``/``crossentropy`` processing.

    After dropping single votes, the most voted categories are taken in
    order (ties together) until they hold 75% of the votes, at most 3 of
    them; ``unknown`` or ``NF`` ends the selection, and is not taken unless
    it is the very first. The image is dropped when the selection holds at
    most half of the votes, more than 3 categories (a tie), or is headed by
    ``unknown`` / ``NF``.

    Returns
    -------
    keep : ndarray of shape (n,), bool
    votes : ndarray of shape (n, 8), float
        The selected emotions' votes, normalised (rows of dropped images are 0).
    """
    votes = np.where(counts <= 1, 0, counts)
    keep = np.zeros(len(votes), dtype=bool)
    out = np.zeros((len(votes), _N_EMOTIONS))
    for row, v in enumerate(votes.tolist()):
        total = sum(v)
        left = list(v)
        picked = [0] * len(v)
        taken = n_picked = 0
        done = False
        while 4 * taken < 3 * total and n_picked < 3 and not done:
            top = max(left)
            for i in [i for i, x in enumerate(left) if x == top]:
                picked[i], left[i] = top, 0
                taken += top
                n_picked += 1
                if i >= _N_EMOTIONS:  # unknown or not-a-face ends the selection
                    done = True
                    if sum(picked) > top:  # emotions came first: drop it
                        picked[i] = 0
                        n_picked -= 1
                    break
        head = int(np.argmax(picked))
        if 2 * sum(picked) > total and n_picked <= 3 and head < _N_EMOTIONS:
            keep[row] = True
            out[row] = np.asarray(picked[:_N_EMOTIONS]) / sum(picked[:_N_EMOTIONS])
    return keep, out


# FER2013 label -> FER+ column of the same emotion
_FER2013_TO_FERPLUS = np.array([4, 5, 6, 1, 3, 2, 0])


def _check_alignment(fer, fer_rows, emo, fer2013_path, min_rows=100, threshold=0.4):
    """Warn when FER+ majorities and FER2013 labels agree no better than chance.

    On correctly joined files they agree on about 60-70% of the rows; on files
    in different row orders on about 20% (the class frequencies' overlap).
    """
    if len(fer_rows) < min_rows or list(fer.target_names) != list(FER2013_CLASSES):
        return
    agree = float(
        np.mean(_FER2013_TO_FERPLUS[fer.target[fer_rows]] == emo.argmax(axis=1))
    )
    if agree < threshold:
        where = "" if isinstance(fer2013_path, Bunch) else f" '{fer2013_path}'"
        warnings.warn(
            f"FER+ majority labels agree with the FER2013 labels on only "
            f"{agree:.0%} of the {len(fer_rows)} joined rows (about 60-70% when "
            f"both files are in the original row order, about 20% by chance): "
            f"the FER2013 file{where} is probably not in the original Kaggle row "
            "order, so the FER+ votes are attached to the wrong images.",
            UserWarning,
            stacklevel=3,
        )


_FERPLUS_MODES = ("majority", "probability", "reference_majority", "reference_probability")


def load_ferplus(fer2013_path, ferplus_csv, mode="majority", usage=None):
    """Load FER2013 images with the FER+ (FERPlus) crowd labels.

    FER+ (``fer2013new.csv``) has one row per FER2013 row, in the same
    order, for all three usages: 10 annotators' votes over the 8 emotions of
    :data:`~skfer.datasets.FERPLUS_CLASSES`, ``unknown`` and ``NF`` (not a
    face). Since a FER2013 copy may lack a usage (ours withholds
    ``PrivateTest``), rows are joined by their position within each
    ``Usage``; the counts per usage must match.

    Which images are kept, and the vote distribution ``votes`` given with
    each, depends on ``mode``. Counts are those of the public
    ``fer2013new.csv`` joined to the FER2013 ``Training`` (28,709 rows) and
    ``PublicTest`` (3,589 rows) usages:

    ============================  ==========  ============
    mode                          Training    PublicTest
    ============================  ==========  ============
    ``'majority'``                28,381      3,553
    ``'probability'``             28,381      3,553
    ``'reference_majority'``      25,060      3,199
    ``'reference_probability'``   27,956      3,505
    ============================  ==========  ============

    ``'majority'``, ``'probability'``
        Every usable image: an ``Image name`` is set, at least one emotion
        vote was cast, and the ``unknown`` + ``NF`` votes do not exceed the
        largest emotion vote. ``votes`` are the raw emotion votes divided by
        their sum; ``target`` is their argmax (ties go to the emotion listed
        first). ``'probability'`` also returns the same distribution as
        ``probabilities``.
    ``'reference_majority'``
        The label processing of the FERPlus reference code
        (``src/ferplus.py`` of Microsoft's FERPlus repository, its
        ``majority`` mode; Barsoum et al., 2016), used for the test and
        validation sets of every training mode there, hence for the
        published FER+ accuracies. Any category (emotion, ``unknown`` or
        ``NF``) that got a single vote is set to 0 (outlier removal); the
        image is kept only when its top category is an emotion holding
        more than half of the remaining votes (``unknown`` and ``NF``
        included in the count), so never when ``unknown`` or not-a-face
        wins. ``target`` is that emotion; ``votes`` is the distribution of
        the remaining emotion votes (the reference trains on the one-hot
        ``target``; ``votes`` keeps the crowd's disagreement for soft-label
        training, see :meth:`skfer.neural.CNNClassifier.fit`).
    ``'reference_probability'``
        The reference's ``probability`` / ``crossentropy`` training modes.
        After the same outlier removal, the most voted categories are taken
        in order (tied ones together) until they hold 75% of the votes, at
        most 3 of them; ``unknown`` or ``NF`` ends the selection. The image
        is dropped when the selected categories hold at most half of the
        votes, when a tie makes them more than 3, or when ``unknown`` or
        ``NF`` comes first. ``votes`` is the selected emotions' votes,
        normalised (other emotions 0): the reference's cross-entropy target;
        ``target`` its argmax (ties to the emotion listed first).

    Parameters
    ----------
    fer2013_path : str, os.PathLike or Bunch
        Anything :func:`load_fer2013` reads, or the Bunch it returned (with
        all rows, ``usage=None``) to avoid reading the file again.
    ferplus_csv : str or os.PathLike
        The FER+ ``fer2013new.csv`` (UTF-8 text).
    mode : {'majority', 'probability', 'reference_majority', \
'reference_probability'}, default='majority'
        Which images to keep and which distribution to give; see above.
    usage : str, list of str or None, default=None
        Keep only these ``Usage`` values (``'Training'``, ``'PublicTest'``,
        ``'PrivateTest'``); ``None`` keeps all.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        images : ndarray of shape (n_samples, 48, 48), uint8
            Grey faces (FER2013's pixels).
        target : ndarray of shape (n_samples,), int
            The majority emotion, an index into ``target_names``
            (``skfer.map_labels(data.target, data.target_names)`` gives
            skfer's canonical names: ``'happy'``, ``'angry'``...).
        target_names : list of str
            The 8 FER+ emotions: neutral, happiness, surprise, sadness,
            anger, disgust, fear, contempt.
        votes : ndarray of shape (n_samples, 8), float32
            The vote distribution of each image, columns in ``target_names``
            order; rows sum to 1 and their argmax is ``target``. With integer
            ``target``, this is the ``classes_`` order of a classifier fitted
            on ``target``, so ``clf.fit(data.images, data.target,
            votes=data.votes)`` trains on the distributions.
        vote_counts : ndarray of shape (n_samples, 10), int
            Raw vote counts, columns ``vote_names``.
        vote_names : list of str
            The 8 emotions, ``'unknown'`` and ``'NF'``.
        probabilities : ndarray of shape (n_samples, 8), float32
            ``mode='probability'`` only: the same as ``votes``.
        fer2013_index : ndarray of shape (n_samples,), int
            Row of each sample in ``load_fer2013(fer2013_path).images``.
        image_names : ndarray of shape (n_samples,), str
            FER+'s ``Image name`` of each row (``'fer0000000.png'``...).
        groups : None
            FER+ has no subject ids.
        split : ndarray of shape (n_samples,), str
            The ``Usage`` of each row.
        DESCR : str
            Description of the dataset.

    Raises
    ------
    FileNotFoundError
        If a file is missing.
    ValueError
        If ``mode`` is unknown, the FER+ csv is not UTF-8, malformed or has
        a negative vote count (the message names the file and line), the
        files do not match (row counts per usage differ), or a requested
        usage is absent.

    Warns
    -----
    UserWarning
        If the FER+ majority labels agree with the FER2013 labels on fewer
        than 40% of the joined rows (at least 100): a sign that the FER2013
        file is not in the original row order, so that the positional join
        attaches votes to the wrong images. Correctly ordered files agree on
        about 60-70% of the rows, misordered ones on about 20%.

    Examples
    --------
    >>> from skfer.datasets import load_ferplus
    >>> data = load_ferplus("fer2013/fer2013.csv.gz", "ferplus/fer2013new.csv",
    ...                     mode="reference_majority")  # doctest: +SKIP
    >>> data.target_names[:3]  # doctest: +SKIP
    ['neutral', 'happiness', 'surprise']
    >>> train = data.split == "Training"  # doctest: +SKIP
    >>> int(train.sum()), data.votes.shape[1]  # doctest: +SKIP
    (25060, 8)
    """
    if mode not in _FERPLUS_MODES:
        raise ValueError(
            f"mode must be one of {', '.join(repr(m) for m in _FERPLUS_MODES)}; "
            f"got {mode!r}."
        )
    if usage is not None:
        _check_usage(usage, None, ferplus_csv)
    p_usages, p_names, p_votes = _read_ferplus_csv(ferplus_csv)
    fer = (
        fer2013_path if isinstance(fer2013_path, Bunch) else load_fer2013(fer2013_path)
    )
    if fer.split is None:
        raise ValueError(
            "The FER2013 data has no Usage column; FER+ is joined by Usage."
        )
    f_split = np.asarray(fer.split)
    p_usages = np.asarray(p_usages, dtype=str)

    fer_rows, plus_rows = [], []
    for u in dict.fromkeys(f_split.tolist()):
        f_idx = np.flatnonzero(f_split == u)
        p_idx = np.flatnonzero(p_usages == u)
        if len(f_idx) != len(p_idx):
            raise ValueError(
                f"FER2013 has {len(f_idx)} '{u}' rows but the FER+ csv "
                f"'{ferplus_csv}' has {len(p_idx)}; FER+ is joined by position "
                "within each Usage, so both must come from the same FER2013 release."
            )
        fer_rows.append(f_idx)
        plus_rows.append(p_idx)
    fer_rows = np.concatenate(fer_rows)
    plus_rows = np.concatenate(plus_rows)
    order = np.argsort(fer_rows, kind="stable")
    fer_rows, plus_rows = fer_rows[order], plus_rows[order]

    counts = p_votes[plus_rows]
    named = np.array([bool(p_names[i]) for i in plus_rows], dtype=bool)
    if mode == "reference_majority":
        keep, dist = _reference_majority(counts)
    elif mode == "reference_probability":
        keep, dist = _reference_probability(counts)
    else:
        emo = counts[:, :_N_EMOTIONS]
        emo_max = emo.max(axis=1)
        keep = (emo_max > 0) & (counts[:, -2:].sum(axis=1) <= emo_max)
        total = emo.sum(axis=1, keepdims=True)
        dist = np.divide(emo, total, out=np.zeros(emo.shape), where=total > 0)
    keep &= named
    _check_alignment(fer, fer_rows[keep], dist[keep], fer2013_path)
    if usage is not None:
        wanted = _check_usage(usage, set(f_split.tolist()), fer2013_path)
        keep &= np.isin(f_split[fer_rows], list(wanted))
    fer_rows, counts, dist = fer_rows[keep], counts[keep], dist[keep]
    votes = dist.astype(np.float32)

    data = Bunch(
        images=fer.images[fer_rows],
        target=np.argmax(dist, axis=1).astype(np.int64),
        target_names=list(FERPLUS_CLASSES),
        votes=votes,
        vote_counts=counts,
        vote_names=list(_FERPLUS_VOTE_COLUMNS),
        fer2013_index=fer_rows,
        image_names=np.array([p_names[i] for i in plus_rows[keep]], dtype=str),
        groups=None,
        split=f_split[fer_rows],
        DESCR=_FERPLUS_DESCR,
    )
    if mode == "probability":
        data["probabilities"] = votes.copy()
    return data
