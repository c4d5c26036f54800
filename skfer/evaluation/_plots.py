"""Figures of :class:`~skfer.evaluation.CompareResults` (matplotlib, optional)."""

from __future__ import annotations

import math

import numpy as np

from ._utils import format_mean_std


def require_matplotlib():
    """Import matplotlib or raise an ImportError naming the ``plot`` extra."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "Plotting needs matplotlib, an optional dependency of skfer: install it "
            "with pip install 'skfer[plot]' (or pip install matplotlib)."
        ) from None


def new_figure(n_panels, *, panel_size, ncols_max=3, pyplot=True):
    """A figure with ``n_panels`` axes in a grid; returns (figure, list of axes)."""
    ncols = max(1, min(ncols_max, n_panels))
    nrows = max(1, math.ceil(n_panels / ncols))
    figsize = (panel_size[0] * ncols, panel_size[1] * nrows)
    if pyplot:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=figsize)
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n_panels)]
    return fig, axes


def as_axes_list(ax, n, what):
    """``ax`` (one Axes or a sequence/array of them) as a list of ``n`` Axes."""
    axes = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) < n:
        raise ValueError(
            f"plot(kind={what!r}) draws {n} panel(s) (one per model) but ax holds "
            f"{len(axes)} Axes; pass ax=None for a new figure or enough Axes."
        )
    return axes[:n]


def draw_scores(ax, results):
    """Horizontal bars: mean accuracy and macro-F1 per model, error bars = std."""
    rows = results.summary
    names = [r["model"] for r in rows][::-1]  # best on top
    y = np.arange(len(names))
    height = 0.38
    metrics = [("accuracy", "accuracy", "C0"), ("f1_macro", "macro-F1", "C1")]
    for k, (key, label, color) in enumerate(metrics):
        means = np.array([r[f"{key}_mean"] for r in rows][::-1], dtype=float)
        stds = np.array([r[f"{key}_std"] for r in rows][::-1], dtype=float)
        has_spread = np.isfinite(stds).any()
        offset = (0.5 - k) * height
        ax.barh(
            y + offset, means, height=height, color=color, label=label,
            xerr=np.nan_to_num(stds) if has_spread else None,
            error_kw={"elinewidth": 1, "capsize": 3, "ecolor": "0.25"},
        )
        for yi, m, s in zip(y + offset, means, stds, strict=True):
            text = format_mean_std(m, s)
            right = m + (s if np.isfinite(s) else 0)
            ax.text(min(right + 0.01, 1.0), yi, text, va="center", fontsize=8)
    chance = results.chance
    ax.axvline(chance, color="0.4", linestyle="--", linewidth=1,
               label=f"majority class ({chance:.3f})")
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.set_xlim(0, 1.18)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("score" + (" (mean ± std over folds)" if results.splits else " (test set)"))
    ax.set_title(_title(results), fontsize=9)
    # below the x label, whatever the axes' height (0.55 inch under the axes)
    height_in = max(ax.figure.get_figheight() * ax.get_position().height, 0.5)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.55 / height_in), ncol=3,
              fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _title(results):
    import textwrap

    head = f"{results.dataset}: " if results.dataset else ""
    return textwrap.fill(head + results.split_description, 90)


def draw_confusion(axes, results, models):
    """Row-normalised confusion matrix of each model, summed over folds."""
    from sklearn.metrics import ConfusionMatrixDisplay

    labels = [str(c) for c in results.classes]
    small = len(labels) > 6
    for ax, name in zip(axes, models, strict=True):
        cm = results.confusion_matrix(name, normalize="true")
        disp = ConfusionMatrixDisplay(cm, display_labels=labels)
        disp.plot(
            ax=ax, cmap="Blues", values_format=".2f", colorbar=False,
            xticks_rotation=45, im_kw={"vmin": 0.0, "vmax": 1.0},
            text_kw={"fontsize": 7 if small else 9},
        )
        acc = next(r for r in results.summary if r["model"] == name)["accuracy_mean"]
        ax.set_title(f"{name} (accuracy {acc:.3f})", fontsize=10)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true (rows sum to 1)")


def draw_learning_curves(axes, results, models):
    """Train/valid loss (left axis) and valid accuracy (right axis) per epoch."""
    for ax, name in zip(axes, models, strict=True):
        histories = results.histories[name]
        acc_ax = None
        for key, color, style in (("train_loss", "C0", "-"), ("valid_loss", "C1", "-")):
            curves = [[row[key] for row in h if key in row] for h in histories]
            curves = [c for c in curves if c]
            if not curves:
                continue
            for c in curves:
                ax.plot(np.arange(1, len(c) + 1), c, color=color, alpha=0.3, linewidth=1,
                        linestyle=style)
            mean = _mean_curve(curves)
            ax.plot(np.arange(1, len(mean) + 1), mean, color=color, linewidth=2,
                    label=key.replace("_", " "))
        accs = [[row["valid_acc"] for row in h if "valid_acc" in row] for h in histories]
        accs = [c for c in accs if c]
        if accs:
            acc_ax = ax.twinx()
            for c in accs:
                acc_ax.plot(np.arange(1, len(c) + 1), c, color="C2", alpha=0.3, linewidth=1)
            mean = _mean_curve(accs)
            acc_ax.plot(np.arange(1, len(mean) + 1), mean, color="C2", linewidth=2,
                        label="valid accuracy")
            acc_ax.set_ylim(0, 1)
            acc_ax.set_ylabel("validation accuracy")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        n = len(histories)
        ax.set_title(f"{name} ({n} fit{'s' if n != 1 else ''}; thin: each fold)", fontsize=10)
        handles, labels = ax.get_legend_handles_labels()
        if acc_ax is not None:
            h2, l2 = acc_ax.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        if handles:
            ax.legend(handles, labels, fontsize=8, loc="center right")
        ax.grid(alpha=0.3)


def _mean_curve(curves):
    """Mean over curves of different lengths, epoch by epoch (as long as the longest)."""
    n = max(len(c) for c in curves)
    out = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        out[i, : len(c)] = c
    return np.nanmean(out, axis=0)
