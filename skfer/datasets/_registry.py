"""Load any supported dataset by name (used by the command line)."""

from __future__ import annotations

from pathlib import Path

DATASETS = {
    "fer2013": "FER2013 Kaggle csv (.csv, .csv.gz, .tar.gz, .zip) or its image folders",
    "ferplus": "FER2013 pixels with FER+ labels: a folder holding fer2013.csv[.gz] and fer2013new.csv",
    "ckplus": "CK+48 folder layout <emotion>/SXXX_YYY_ZZZZZZZZ.png (subjects as groups)",
    "jaffe": "JAFFE folder of KA.AN1.39.tiff files (subjects as groups)",
    "folder": "any folder of <class>/<image> files",
}


def _find(root, patterns, what):
    root = Path(root)
    for pattern in patterns:
        hits = sorted(root.glob(pattern))
        if hits:
            return hits[0]
    raise FileNotFoundError(
        f"No {what} found under '{root}' (looked for {', '.join(patterns)}). "
        "Pass the folder that holds it with --data."
    )


def load_dataset(name, path, *, verbose=0, ferplus_mode="majority"):
    """Load a FER dataset by name, the way the ``skfer`` command does.

    Parameters
    ----------
    name : {'fer2013', 'ferplus', 'ckplus', 'jaffe', 'folder'}
        Which loader to use (see the keys of ``DATASETS``).
    path : str or os.PathLike
        The file or folder the loader reads. For ``'fer2013'`` a csv file or
        a folder holding ``fer2013.csv[.gz]`` (searched two levels deep);
        for ``'ferplus'`` a folder holding both ``fer2013.csv[.gz]`` and
        ``fer2013new.csv`` (searched two levels deep, so the root of a data
        folder with ``fer2013/`` and ``ferplus/`` inside works).
    verbose : int, default=0
        Progress bars while reading.
    ferplus_mode : str, default='majority'
        For ``'ferplus'``: the ``mode`` of :func:`load_ferplus`
        (``'reference_majority'`` is the FERPlus reference protocol that
        published FER+ accuracies use; ``skfer compare`` and ``skfer
        train`` default to it).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        As the named loader returns it: ``images``, ``target``,
        ``target_names``, ``groups`` (subjects, or None) and ``split``
        (the dataset's own split per sample, or None).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from skfer.datasets import load_dataset
    >>> root = Path(tempfile.mkdtemp())
    >>> for label in ("happy", "sad"):
    ...     (root / label).mkdir()
    ...     Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / label / "a.png")
    >>> data = load_dataset("folder", root)
    >>> data.images.shape, data.target_names
    ((2, 8, 8), ['happy', 'sad'])
    """
    from ._fer2013 import load_fer2013, load_ferplus
    from ._folders import load_ckplus, load_image_folder, load_jaffe

    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Dataset path '{path}' does not exist.")
    csv_patterns = ("fer2013.csv", "fer2013.csv.gz", "*/fer2013.csv", "*/fer2013.csv.gz",
                    "*/*/fer2013.csv", "*/*/fer2013.csv.gz")
    if name == "fer2013":
        if path.is_dir() and not (path / "train").is_dir():
            path = _find(path, csv_patterns, "FER2013 csv (fer2013.csv or fer2013.csv.gz)")
        return load_fer2013(path, verbose=verbose)
    if name == "ferplus":
        if not path.is_dir():
            raise ValueError(
                f"For ferplus, --data must be a folder holding fer2013.csv[.gz] and "
                f"fer2013new.csv, got the file '{path}'."
            )
        fer = _find(path, csv_patterns, "FER2013 csv (fer2013.csv or fer2013.csv.gz)")
        new = _find(path, ("fer2013new.csv", "*/fer2013new.csv", "*/*/fer2013new.csv"),
                    "FER+ labels (fer2013new.csv)")
        return load_ferplus(fer, new, mode=ferplus_mode)
    if name == "ckplus":
        return load_ckplus(path, verbose=verbose)
    if name == "jaffe":
        return load_jaffe(path, verbose=verbose)
    return load_image_folder(path, verbose=verbose)
