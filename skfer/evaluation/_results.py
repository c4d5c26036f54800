"""The outcome of :func:`compare`: :class:`CompareResults`, its tables, files and plots."""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path

import numpy as np

from . import _plots
from ._utils import (
    format_mean_std,
    format_score,
    jsonable,
    python_scalar,
    recall_per_class,
    write_or_return,
)

__all__ = ["CompareResults", "SCORES", "SCORE_LABELS"]

#: Metrics recorded per fold, all scores in [0, 1]; ``scoring`` is one of them.
SCORES = ("accuracy", "f1_macro", "balanced_accuracy")
#: How the reports name each of :data:`SCORES`.
SCORE_LABELS = {"accuracy": "accuracy", "f1_macro": "macro-F1",
                "balanced_accuracy": "balanced accuracy"}


class CompareResults:
    """The outcome of :func:`compare`: every fold's numbers, tables and plots.

    Built by :func:`compare`; not meant to be created by hand.

    Attributes
    ----------
    models : list of str
        Model names, in the order given.
    classes : ndarray of shape (n_classes,)
        The labels, in :data:`skfer.EMOTIONS` order when they are all
        emotion names, sorted otherwise: the order of ``recall`` and of the
        confusion matrices' rows and columns.
    records : list of dict
        One per (model, fold): ``model``, ``fold``, ``accuracy``,
        ``f1_macro``, ``balanced_accuracy``, ``fit_time``,
        ``predict_time`` (seconds), ``n_train``, ``n_test``, ``recall``
        (ndarray of shape (n_classes,), NaN for a class absent from the
        fold's test part), ``confusion_matrix`` (ndarray of shape
        (n_classes, n_classes), counts; rows are true classes) and
        ``history`` (list of per-epoch dicts for deep models, else None).
    splits : list of (ndarray, ndarray) or None
        The ``(train, test)`` indices of each fold, shared by every model;
        None for a fixed ``test`` split.
    split_description : str
        How the data were split, in words (shown in the reports).
    scoring : str
        The main score: orders the tables.
    n_samples : int
        Samples in ``X``.
    chance : float
        The majority-class rate of the evaluated labels: the accuracy of
        always predicting the most frequent class.
    dataset : str or None
        The name given to :func:`compare`.

    See Also
    --------
    compare : Builds it.

    Examples
    --------
    >>> from skfer.datasets import make_faces
    >>> from skfer.evaluation import compare
    >>> faces = make_faces(140, image_size=32, random_state=0)
    >>> res = compare({"lda": "pca_lda"}, faces.images, faces.target,
    ...               groups=faces.groups, cv=3)
    >>> res.summary[0]["model"], 0 <= res.summary[0]["accuracy_mean"] <= 1
    ('lda', True)
    >>> res.confusion_matrix("lda").shape
    (7, 7)
    >>> res.to_markdown().splitlines()[-1].split("|")[1].strip()
    'lda'
    """

    def __init__(self, *, models, classes, records, splits, split_description, scoring,
                 n_samples, chance, dataset=None):
        self.models = models
        self.classes = classes
        self.records = records
        self.splits = splits
        self.split_description = split_description
        self.scoring = scoring
        self.n_samples = n_samples
        self.chance = chance
        self.dataset = dataset

    def __repr__(self):
        return (f"CompareResults({len(self.models)} models x {self.n_folds} folds, "
                f"best: {self.best!r})")

    # ------------------------------------------------------------ numbers
    @property
    def n_folds(self):
        """Folds per model (1 for a fixed train/test split)."""
        return 1 if self.splits is None else len(self.splits)

    def _records(self, model):
        if model not in self.models:
            raise ValueError(f"Unknown model {model!r}; the models are {self.models}.")
        return [r for r in self.records if r["model"] == model]

    def scores(self, metric=None):
        """Per-fold values of one metric for every model.

        Parameters
        ----------
        metric : str or None, default=None
            ``'accuracy'``, ``'f1_macro'``, ``'balanced_accuracy'``,
            ``'fit_time'`` or ``'predict_time'``; None means ``scoring``.

        Returns
        -------
        scores : dict of str to ndarray of shape (n_folds,)

        Examples
        --------
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import compare
        >>> faces = make_faces(70, image_size=32, random_state=0)
        >>> res = compare(["hog_svm"], faces.images, faces.target, cv=2)
        >>> res.scores("f1_macro")["hog_svm"].shape
        (2,)
        """
        metric = self.scoring if metric is None else metric
        allowed = (*SCORES, "fit_time", "predict_time")
        if metric not in allowed:
            raise ValueError(f"metric must be one of {list(allowed)}, got {metric!r}.")
        return {m: np.array([r[metric] for r in self._records(m)]) for m in self.models}

    @property
    def summary(self):
        """One dict per model, best first by ``scoring``.

        Keys: ``model``, ``<metric>_mean`` and ``<metric>_std`` for
        ``accuracy``, ``f1_macro`` and ``balanced_accuracy`` (std over folds;
        NaN for one fixed split), ``fit_time`` and ``predict_time`` (mean
        seconds per fold), ``n_folds`` and ``deep`` (whether a training
        history was recorded).
        """
        rows = []
        for m in self.models:
            recs = self._records(m)
            row = {"model": m}
            for key in SCORES:
                vals = np.array([r[key] for r in recs], dtype=float)
                row[f"{key}_mean"] = float(vals.mean())
                row[f"{key}_std"] = float(vals.std()) if len(vals) > 1 else float("nan")
            row["fit_time"] = float(np.mean([r["fit_time"] for r in recs]))
            row["predict_time"] = float(np.mean([r["predict_time"] for r in recs]))
            row["n_folds"] = len(recs)
            row["deep"] = any(r["history"] is not None for r in recs)
            rows.append(row)
        rows.sort(key=lambda r: -r[f"{self.scoring}_mean"])
        return rows

    @property
    def best(self):
        """Name of the model with the highest mean ``scoring``."""
        return self.summary[0]["model"]

    def confusion_matrix(self, model, normalize="true"):
        """Confusion matrix of ``model`` summed over folds.

        Parameters
        ----------
        model : str
            A name of ``models``.
        normalize : {'true', None}, default='true'
            ``'true'``: each row (true class) divided by its total, so the
            diagonal is the recall of each class; ``None``: counts.

        Returns
        -------
        cm : ndarray of shape (n_classes, n_classes)
            Rows are true classes, columns predicted ones, in ``classes``
            order.

        Examples
        --------
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import compare
        >>> faces = make_faces(70, image_size=32, random_state=0)
        >>> res = compare(["hog_svm"], faces.images, faces.target, cv=2)
        >>> int(res.confusion_matrix("hog_svm", normalize=None).sum())
        70
        """
        if normalize not in ("true", None):
            raise ValueError(f"normalize must be 'true' or None, got {normalize!r}.")
        cm = np.sum([r["confusion_matrix"] for r in self._records(model)], axis=0)
        if normalize is None:
            return cm
        totals = cm.sum(axis=1, keepdims=True)
        return np.where(totals > 0, cm / np.maximum(totals, 1), 0.0)

    def recall(self, model):
        """Per-class recall of ``model`` pooled over folds (the confusion diagonal).

        Parameters
        ----------
        model : str
            A name of ``models``.

        Returns
        -------
        recall : dict of label to float
            In ``classes`` order; NaN for a class with no test sample.

        Examples
        --------
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import compare
        >>> faces = make_faces(70, image_size=32, random_state=0)
        >>> names = [faces.target_names[t] for t in faces.target]
        >>> res = compare(["hog_svm"], faces.images, names, cv=2)
        >>> list(res.recall("hog_svm"))[:2]
        ['angry', 'disgust']
        """
        rec = recall_per_class(self.confusion_matrix(model, normalize=None))
        return {python_scalar(c): float(v) for c, v in zip(self.classes, rec, strict=True)}

    @property
    def histories(self):
        """Training histories of the deep models: ``{model: [fold history, ...]}``.

        Each fold history is a list of per-epoch dicts with ``epoch``,
        ``train_loss``, ``valid_loss``, ``valid_acc`` and ``dur`` (the keys
        skorch recorded). Models without a history (classical ones) are
        left out.
        """
        out = {}
        for m in self.models:
            hs = [r["history"] for r in self._records(m)]
            if any(h is not None for h in hs):
                out[m] = [h for h in hs if h is not None]
        return out

    # ------------------------------------------------------------ exports
    def to_markdown(self, *, per_class=False):
        """The results as a Markdown table, best model first.

        Columns: model, accuracy (mean ± std over folds), macro-F1, fit and
        predict seconds (mean per fold); a line above says how the data
        were split and the majority-class rate.

        Parameters
        ----------
        per_class : bool, default=False
            Also add a table of each model's recall per class (pooled over
            folds).

        Returns
        -------
        text : str

        Examples
        --------
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import compare
        >>> faces = make_faces(70, image_size=32, random_state=0)
        >>> res = compare(["hog_svm"], faces.images, faces.target, cv=2)
        >>> print(res.to_markdown().splitlines()[2])
        | model | accuracy | macro-F1 | fit s | predict s |
        """
        lines = [
            f"{self.n_samples} samples, {len(self.classes)} classes; "
            f"{self.split_description}. Majority-class rate: {self.chance:.3f}.",
            "",
            "| model | accuracy | macro-F1 | fit s | predict s |",
            "|---|---|---|---|---|",
        ]
        for row in self.summary:
            cells = []
            for key in ("accuracy", "f1_macro"):
                text = format_mean_std(row[f"{key}_mean"], row[f"{key}_std"])
                if key == self.scoring:
                    text = f"**{text}**" if row["model"] == self.best else text
                cells.append(text)
            lines.append(
                f"| {row['model']} | {cells[0]} | {cells[1]} | "
                f"{row['fit_time']:.2f} | {row['predict_time']:.2f} |"
            )
        if per_class:
            names = [str(c) for c in self.classes]
            lines += [
                "",
                "Recall per class (pooled over folds: the diagonal of the confusion "
                "matrices):",
                "",
                "| model | " + " | ".join(names) + " |",
                "|---|" + "---|" * len(names),
            ]
            for row in self.summary:
                rec = self.recall(row["model"])
                lines.append(f"| {row['model']} | "
                             + " | ".join(format_score(v, 2) for v in rec.values()) + " |")
        return "\n".join(lines)

    def to_csv(self, path=None):
        """Every fold's numbers as CSV: one row per (model, fold).

        Columns: ``model``, ``fold``, ``accuracy``, ``f1_macro``,
        ``balanced_accuracy``, ``fit_time``, ``predict_time``, ``n_train``,
        ``n_test``, then ``recall_<class>`` per class (empty where the class
        had no test sample).

        Parameters
        ----------
        path : str, os.PathLike or None, default=None
            Where to write; None returns the text.

        Returns
        -------
        text : str or None
            The CSV text when ``path`` is None.

        Examples
        --------
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import compare
        >>> faces = make_faces(70, image_size=32, random_state=0)
        >>> res = compare(["hog_svm"], faces.images, faces.target, cv=2)
        >>> res.to_csv().splitlines()[0][:40]
        'model,fold,accuracy,f1_macro,balanced_ac'
        """
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        keys = ("model", "fold", *SCORES, "fit_time", "predict_time", "n_train", "n_test")
        writer.writerow([*keys, *(f"recall_{c}" for c in self.classes)])
        for r in self.records:
            writer.writerow([r[k] for k in keys]
                            + ["" if not np.isfinite(v) else float(v) for v in r["recall"]])
        return write_or_return(buf.getvalue(), path)

    def to_dict(self):
        """Everything as plain Python (lists, dicts, floats; NaN as None).

        Returns
        -------
        data : dict
            ``dataset``, ``split``, ``scoring``, ``n_samples``, ``classes``,
            ``chance``, ``summary`` (see :attr:`summary`), ``folds`` (the
            test indices of each fold, or None) and ``models``:
            ``{name: [fold record, ...]}`` with the keys of ``records``
            (``recall`` as ``{class: value}``).

        Examples
        --------
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import compare
        >>> faces = make_faces(70, image_size=32, random_state=0)
        >>> res = compare(["hog_svm"], faces.images, faces.target, cv=2)
        >>> sorted(res.to_dict()["models"]["hog_svm"][0])[:3]
        ['accuracy', 'balanced_accuracy', 'confusion_matrix']
        """
        from .. import __version__

        models = {}
        for m in self.models:
            folds = []
            for r in self._records(m):
                rec = {k: v for k, v in r.items() if k != "model"}
                rec["recall"] = {python_scalar(c): v for c, v in zip(self.classes, r["recall"],
                                                           strict=True)}
                folds.append(rec)
            models[m] = folds
        return jsonable({
            "skfer_version": __version__,
            "dataset": self.dataset,
            "split": self.split_description,
            "scoring": self.scoring,
            "n_samples": self.n_samples,
            "classes": [python_scalar(c) for c in self.classes],
            "chance": self.chance,
            "summary": self.summary,
            "folds": None if self.splits is None else [te for _, te in self.splits],
            "models": models,
        })

    def to_json(self, path=None):
        """All numbers as JSON (see :meth:`to_dict` for the layout).

        Parameters
        ----------
        path : str, os.PathLike or None, default=None
            Where to write; None returns the text.

        Returns
        -------
        text : str or None
            The JSON text when ``path`` is None.

        Examples
        --------
        >>> import json
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import compare
        >>> faces = make_faces(70, image_size=32, random_state=0)
        >>> names = [faces.target_names[t] for t in faces.target]
        >>> res = compare(["hog_svm"], faces.images, names, cv=2)
        >>> json.loads(res.to_json())["classes"][:2]
        ['angry', 'disgust']
        """
        return write_or_return(json.dumps(self.to_dict(), indent=1) + "\n", path)

    # ------------------------------------------------------------ plots
    def _deep_models(self):
        return list(self.histories)

    def plot(self, kind="scores", *, ax=None, models=None):
        """Draw the results with matplotlib (the ``plot`` extra).

        Parameters
        ----------
        kind : {'scores', 'confusion', 'learning_curves'}, default='scores'
            ``'scores'``: accuracy and macro-F1 bars per model (best on top)
            with the std over folds as error bars and the majority-class
            rate as a dashed line. ``'confusion'``: one confusion matrix per
            model (sklearn's ``ConfusionMatrixDisplay``), summed over folds
            and normalised per true class, so the diagonal is each class's
            recall. ``'learning_curves'``: per deep model, train and
            validation loss and validation accuracy per epoch (each fold
            thin, the mean bold).
        ax : matplotlib Axes, sequence of Axes or None, default=None
            Where to draw: one Axes for ``'scores'``; one Axes per model
            drawn for the others. None makes a new figure.
        models : list of str or None, default=None
            The models to draw for ``'confusion'`` and ``'learning_curves'``
            (default: all, best first; deep ones only for learning curves).

        Returns
        -------
        fig : matplotlib.figure.Figure
            The figure drawn on.

        Raises
        ------
        ImportError
            If matplotlib is not installed.
        ValueError
            For ``'learning_curves'`` without any deep model.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import compare
        >>> faces = make_faces(70, image_size=32, random_state=0)
        >>> res = compare(["hog_svm", "lbp_svm"], faces.images, faces.target, cv=2)
        >>> fig = res.plot("confusion")
        >>> len(fig.axes)
        2
        """
        return self._plot(kind, ax=ax, models=models, pyplot=True)

    def _plot(self, kind, *, ax, models, pyplot):
        _plots.require_matplotlib()
        kinds = ("scores", "confusion", "learning_curves")
        if kind not in kinds:
            raise ValueError(f"kind must be one of {list(kinds)}, got {kind!r}.")
        if kind == "scores":
            if ax is None:
                fig, (ax,) = _plots.new_figure(
                    1, panel_size=(7.5, 2.3 + 0.7 * len(self.models)), pyplot=pyplot)
            _plots.draw_scores(ax, self)
            fig = ax.figure
            fig.tight_layout()
            return fig
        order = [r["model"] for r in self.summary]
        if kind == "learning_curves":
            order = [m for m in order if m in self.histories]
            if not order:
                raise ValueError(
                    "No learning curves to draw: none of the models recorded a "
                    "training history (only deep models, such as cnn:* and rnn:*, do)."
                )
        if models is not None:
            unknown = [m for m in models if m not in order]
            if unknown:
                raise ValueError(f"Cannot draw {kind} for {unknown}; choose from {order}.")
            order = list(models)
        if ax is None:
            size = (4.6, 4.4) if kind == "confusion" else (5.5, 3.8)
            fig, axes = _plots.new_figure(len(order), panel_size=size, pyplot=pyplot)
        else:
            axes = _plots.as_axes_list(ax, len(order), kind)
        if kind == "confusion":
            _plots.draw_confusion(axes, self, order)
        else:
            _plots.draw_learning_curves(axes, self, order)
        fig = axes[0].figure
        fig.tight_layout()
        return fig

    def save(self, out_dir, *, figures="auto"):
        """Write a report folder: report.md, results.json, results.csv and figures.

        ``report.md`` holds the table (best first), the per-class recall
        table and links to the figures: ``scores.png``, ``confusion.png``
        and, when deep models were compared, ``learning_curves.png``.

        Parameters
        ----------
        out_dir : str or os.PathLike
            The folder (created if needed; files in it are overwritten).
        figures : bool or 'auto', default='auto'
            Draw the PNG figures. ``'auto'``: when matplotlib is installed
            (with a warning otherwise); ``True``: raise an ImportError
            without it; ``False``: tables only.

        Returns
        -------
        paths : dict of str to pathlib.Path
            The files written, by name (``'report'``, ``'json'``, ``'csv'``,
            ``'scores'``, ``'confusion'``, ``'learning_curves'``).

        Examples
        --------
        >>> import tempfile
        >>> from skfer.datasets import make_faces
        >>> from skfer.evaluation import compare
        >>> faces = make_faces(70, image_size=32, random_state=0)
        >>> res = compare(["hog_svm"], faces.images, faces.target, cv=2)
        >>> sorted(res.save(tempfile.mkdtemp(), figures=False))
        ['csv', 'json', 'report']
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"report": out / "report.md", "json": out / "results.json",
                 "csv": out / "results.csv"}
        self.to_json(paths["json"])
        self.to_csv(paths["csv"])
        draw = figures
        if figures == "auto":
            try:
                _plots.require_matplotlib()
                draw = True
            except ImportError as exc:
                warnings.warn(f"{exc} The report is written without figures.",
                              stacklevel=2)
                draw = False
        elif figures not in (True, False):
            raise ValueError(f"figures must be True, False or 'auto', got {figures!r}.")
        if draw:
            kinds = ["scores", "confusion"]
            if self.histories:
                kinds.append("learning_curves")
            for kind in kinds:
                fig = self._plot(kind, ax=None, models=None, pyplot=False)
                paths[kind] = out / f"{kind}.png"
                fig.savefig(paths[kind], dpi=110)
        paths["report"].write_text(self._report(paths), encoding="utf-8")
        return paths

    def _report(self, paths):
        best = self.summary[0]
        key = self.scoring
        title = f"# skfer compare: {self.dataset}" if self.dataset else "# skfer compare"
        classes = ", ".join(str(c) for c in self.classes)
        lines = [
            title,
            "",
            f"Best: **{best['model']}**, {SCORE_LABELS[key]} "
            f"{format_mean_std(best[f'{key}_mean'], best[f'{key}_std'])}.",
            f"Classes: {classes}.",
            "",
            self.to_markdown(per_class=True),
            "",
        ]
        figures = [("scores", "Scores (error bars: std over folds)"),
                   ("confusion", "Confusion matrices, summed over folds, rows "
                                 "normalised: the diagonal is each class's recall"),
                   ("learning_curves", "Learning curves of the deep models")]
        shown = [(k, cap) for k, cap in figures if k in paths]
        if shown:
            lines += ["## Figures", ""]
            for kind, caption in shown:
                lines += [f"{caption}:", "", f"![{kind}]({paths[kind].name})", ""]
        lines += [
            "## Files",
            "",
            "- `results.json`: every fold's numbers, confusion matrices, training "
            "histories and the test indices of each fold;",
            "- `results.csv`: one row per model and fold.",
            "",
            "Times are wall seconds per fold. Produced by skfer.evaluation.compare.",
            "",
        ]
        return "\n".join(lines)
