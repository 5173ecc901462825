"""Charts: grouped bars of the thesis-layout tables, training curves, Dice against
compute, and the CycleGAN's diagram."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fluoseg.errors import InputError
from fluoseg.viz.mpl import new_figure

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure


def grouped_bar_figure(
    table: pd.DataFrame,
    metric: str = "DC",
    *,
    errors: pd.DataFrame | None = None,
    ax: Any = None,
    title: str | None = None,
) -> Figure:
    """Grouped bars of a thesis-layout table: one group per class, one bar per row.

    Args:
        table: rows = models, columns like ``"DC Nuclei"`` (see ``fluoseg.thesis``).
        metric: column prefix: ``"DC"``, ``"Precision"`` or ``"Recall"``.
        errors: same layout, bar half-heights (e.g. standard deviations); NaN = none.
        ax: draw into this matplotlib axes instead of a new figure (then no legend
            is drawn: the caller places one).
        title: axes title (default: the metric).
    """
    cols = [c for c in table.columns if str(c).startswith(f"{metric} ")]
    if not cols:
        raise InputError(
            f"no {metric!r} columns in the table: expected columns like "
            f"'{metric} Nuclei', got {list(table.columns)}"
        )
    classes = [c[len(metric) + 1 :] for c in cols]
    own = ax is None
    if ax is None:
        fig = new_figure(max(5.0, 1.6 * len(classes) + 0.4 * len(table)), 3.6)
        ax = fig.subplots()
    else:
        fig = ax.figure
    n = len(table)
    width = 0.8 / max(n, 1)
    xs = np.arange(len(classes))
    for k, (label, row) in enumerate(table[cols].iterrows()):
        vals = row.to_numpy(dtype=float)
        err = None
        if errors is not None and label in errors.index:
            err = errors.loc[label].reindex(cols).to_numpy(dtype=float)
            err = np.where(np.isfinite(err), err, 0.0)
        ok = np.isfinite(vals)
        ax.bar(
            xs[ok] + (k - (n - 1) / 2) * width,
            vals[ok],
            width,
            yerr=None if err is None else err[ok],
            capsize=3,
            label=str(label),
        )
    ax.set_xticks(xs, classes)
    if own:
        ax.legend(fontsize=8, loc="upper right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric)
    ax.set_title(title or metric, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


def metrics_bar_figure(
    table: pd.DataFrame,
    metrics: Sequence[str] = ("DC", "Precision", "Recall"),
    *,
    errors: pd.DataFrame | None = None,
) -> Figure:
    """One grouped bar chart per metric, side by side, with a shared legend below."""
    fig = new_figure(4.2 * len(metrics), 3.2 + 0.22 * len(table))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        grouped_bar_figure(table, metric, errors=errors, ax=ax)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8)
    return fig


def history_figure(
    history: pd.DataFrame, columns: Sequence[str] | None = None, *, title: str = ""
) -> Figure:
    """Training curves: the history's loss-like columns against the epoch."""
    if columns is None:
        columns = [c for c in history.columns if "loss" in str(c).lower()]
    missing = [c for c in columns if c not in history.columns]
    if missing or not columns:
        raise InputError(
            f"history has no columns {missing or 'with loss in the name'}: "
            f"its columns are {list(history.columns)}"
        )
    if "epoch" in history.columns:
        x = np.asarray(history["epoch"])
        x = x + 1 if len(x) and x.min() == 0 else x  # keras's CSV counts from 0
    else:
        x = np.arange(1, len(history) + 1)
    fig = new_figure(5.5, 3.2)
    ax = fig.subplots()
    for c in columns:
        ax.plot(x, history[c], marker="o", ms=3, label=str(c))
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def dice_compute_figure(
    minutes: Sequence[float],
    dice: np.ndarray,
    reference: Sequence[float] | None = None,
    title: str = "",
    class_names: Sequence[str] = ("nuclei", "golgi"),
) -> Figure:
    """Test Dice per class against training minutes (log scale), with an optional
    dashed reference per class (e.g. the thesis's, after 28.6 GPU-hours)."""
    d = np.asarray(dice, dtype=float)
    if d.ndim != 2 or d.shape[0] != len(minutes) or d.shape[1] != len(class_names):
        raise InputError(
            f"dice of shape {d.shape}: expected ({len(minutes)}, {len(class_names)})"
        )
    fig = new_figure(6, 3)
    ax = fig.subplots()
    for i, name in enumerate(class_names):
        ax.plot(minutes, d[:, i], "o-", color=f"C{i}", label=f"{name}, this machine")
        if reference is not None:
            ax.axhline(reference[i], color=f"C{i}", ls="--", label=f"{name}, thesis")
    ax.set(xscale="log", xlabel="training minutes", ylabel="test Dice", title=title)
    ax.legend(fontsize=7)
    return fig


def cyclegan_diagram() -> Figure:
    """The CycleGAN's two cycles: image -> G_S -> mask -> G_I -> image (judged by
    D_S) and mask -> G_I -> image -> G_S -> mask (judged by D_I), cycle L1 dashed."""
    fig = new_figure(9, 3.2)
    ax = fig.subplots()
    rows = [("image i", "G_S", "mask G_S(i)", "G_I", "G_I(G_S(i))", "D_S"),
            ("mask s", "G_I", "image G_I(s)", "G_S", "G_S(G_I(s))", "D_I")]  # fmt: skip
    for r, (a, g1, b, g2, c, d) in enumerate(rows):
        yy = 1 - r
        for xx, text in zip((0, 2, 4), (a, b, c), strict=True):
            ax.text(xx, yy, text, ha="center", va="center", bbox={"fc": "#dde8f5"})
        for xx, g in ((1, g1), (3, g2)):
            ax.annotate("", (xx + 0.55, yy), (xx - 0.55, yy),
                        arrowprops={"arrowstyle": "->"})  # fmt: skip
            ax.text(xx, yy + 0.12, g, ha="center")
        ax.annotate(d, (2, yy - 0.15), (2, yy - 0.42), ha="center", color="C3",
                    arrowprops={"arrowstyle": "->", "color": "C3"})  # fmt: skip
        ax.annotate("", (0, yy - 0.12), (4, yy - 0.12), arrowprops={
            "arrowstyle": "<->", "ls": "--", "color": "0.5",
            "connectionstyle": "arc3,rad=-0.25"})  # fmt: skip
    ax.text(4.75, 0.5, "cycle L1\n(dashed)", color="0.4", va="center")
    ax.set_xlim(-0.8, 5.4)
    ax.set_ylim(-0.7, 1.3)
    ax.axis("off")
    return fig
