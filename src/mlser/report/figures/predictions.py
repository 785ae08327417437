"""Figures drawn from per-fold predictions.tsv files: confusion matrices (gao2025 Fig. 2)
and kernel densities of the fusion gates per emotion (gao2025 Fig. 3, gao2024 CmGI).

A panel whose experiment this run did not score is drawn as an empty box that says so,
so that a figure always has the paper's layout.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlser.data.runs import split_run
from mlser.evaluation.metrics import confusion_matrix
from mlser.report.figures.style import (
    COLUMN_WIDTH,
    EMOTION_COLOURS,
    PAGE_WIDTH,
    apply_style,
    emotion_order,
    save_figure,
)

#: Colours of the two gates (the paper: blue acoustic, green linguistic).
GATE_COLOURS = {"gate_acoustic": "#0072B2", "gate_linguistic": "#009E73"}
GATE_LABELS = {"gate_acoustic": "acoustic gate", "gate_linguistic": "linguistic gate"}


def read_predictions(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """The predictions of several folds, one frame, with a ``fold`` column (the folder
    name: results/{corpus}/experiments/{exp}/{fold}/predictions.tsv)."""
    frames = []
    for path in paths:
        frame = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
        for column in ("utt_id", "gold", "pred"):
            if column not in frame:
                raise ValueError(f"{path}: no {column!r} column")
        frames.append(frame.assign(fold=os.path.basename(os.path.dirname(os.fspath(path)))))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _not_run(
    ax: Any, label: str, why: str = "not run in\nthis configuration", square: bool = False
) -> None:
    ax.set_title(label)
    if square:
        ax.set_box_aspect(1)
    ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=7, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(True)
        ax.spines[side].set_color("#bbbbbb")


def confusion_figure(
    panels: Sequence[dict[str, Any]], classes: Sequence[str], stem: str | os.PathLike[str]
) -> dict[str, Any]:
    """One confusion matrix per panel (``label``, ``predictions``: a frame or None),
    summed over folds: row-normalised colour, cell text = count and row %. Returns the
    count matrices by label."""
    apply_style()
    import matplotlib.pyplot as plt

    order = emotion_order(classes)
    n = len(panels)
    cols = 2 if n == 4 else n
    rows = int(np.ceil(n / cols))
    width = 4.6 if cols == 2 else COLUMN_WIDTH * cols / 1.5
    fig, axes = plt.subplots(
        rows, cols, figsize=(width, width / cols * rows + 0.3), layout="constrained"
    )
    axes = np.atleast_1d(axes).ravel()
    counts = {}
    image = None
    for k, (ax, panel) in enumerate(zip(axes, panels, strict=False)):
        pred = panel.get("predictions")
        if pred is None or pred.empty:
            _not_run(ax, panel["label"], square=True)
            continue
        cm = confusion_matrix(pred["gold"].astype(str), pred["pred"].astype(str), order)
        counts[panel["label"]] = cm
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(order)):
            for j in range(len(order)):
                ax.text(
                    j,
                    i,
                    f"{cm[i, j]}\n{100 * norm[i, j]:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=6 if len(order) <= 4 else 4.5,
                    color="white" if norm[i, j] > 0.55 else "black",
                )
        ax.set_xticks(range(len(order)), order)
        ax.set_yticks(range(len(order)), order)
        # outer labels only (inner ones collide with titles), unless the neighbour is empty
        below, left = k + cols, k - 1
        if below >= n or panels[below].get("predictions") is None:
            ax.set_xlabel("predicted")
        if k % cols == 0 or panels[left].get("predictions") is None:
            ax.set_ylabel("gold")
        ua = np.mean(np.diag(norm)[cm.sum(axis=1) > 0])
        ax.set_title(f"{panel['label']}\nUA {100 * ua:.1f}%, n = {cm.sum()}")
    for ax in axes[len(panels) :]:
        ax.remove()
    if image is not None:
        fig.colorbar(image, ax=list(axes[: len(panels)]), shrink=0.5, label="share of gold row")
    save_figure(fig, stem)
    return counts


def gate_figure(
    predictions: pd.DataFrame | None,
    classes: Sequence[str],
    stem: str | os.PathLike[str],
    title: str,
) -> dict[str, dict[str, int]]:
    """Kernel density of the per-utterance mean gate values (acoustic, linguistic), one
    panel per gold emotion, pooled over folds. Returns the number of utterances per
    emotion and gate."""
    apply_style()
    import matplotlib.pyplot as plt
    from scipy.stats import gaussian_kde

    order = emotion_order(classes)
    cols = min(len(order), 4)
    rows = int(np.ceil(len(order) / cols))
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(PAGE_WIDTH, 1.5 * rows + 0.5),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    axes = axes.ravel()
    gates = [g for g in GATE_COLOURS if predictions is not None and g in predictions]
    used: dict[str, dict[str, int]] = {}
    if predictions is None or predictions.empty or not gates:
        why = (
            "not run in\nthis configuration"
            if predictions is None or predictions.empty
            else "no gate columns in the predictions"
        )
        for ax, emotion in zip(axes, order, strict=False):
            _not_run(ax, emotion, why)
    else:
        grid = np.linspace(0, 1, 201)
        for ax, emotion in zip(axes, order, strict=False):
            ax.set_title(emotion, color=EMOTION_COLOURS.get(emotion, "black"))
            used[emotion] = {}
            for gate in gates:
                values = pd.to_numeric(
                    predictions.loc[predictions["gold"] == emotion, gate], errors="coerce"
                ).dropna()
                values = values.to_numpy(dtype=float)
                used[emotion][gate] = len(values)
                if len(values) >= 2 and np.ptp(values) > 0:
                    ax.plot(grid, gaussian_kde(values)(grid), color=GATE_COLOURS[gate], lw=1.2)
                for v in values if len(values) < 2 or np.ptp(values) == 0 else []:
                    ax.axvline(v, color=GATE_COLOURS[gate], lw=1.0)  # too few for a density
            ax.set_xlim(0, 1)
            ax.set_xlabel("gate value")
        axes[0].set_ylabel("density")
        handles = [
            plt.Line2D([], [], color=GATE_COLOURS[g], lw=1.2, label=GATE_LABELS[g]) for g in gates
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    for ax in axes[len(order) :]:
        ax.remove()
    fig.suptitle(title)
    save_figure(fig, stem)
    return used


def per_fold_figure(
    scores: pd.DataFrame, metric: str, stem: str | os.PathLike[str], title: str
) -> None:
    """``metric`` per fold (dots) and its mean (bar) per experiment; ``scores`` is the
    long table of mlser.report.paper_tables.load_scores."""
    apply_style()
    import matplotlib.pyplot as plt

    mine = scores[scores["metric"] == metric]
    # a run's dot takes its fold's colour, whatever its seed (s1, s1_seed1, ...)
    mine = mine.assign(fold=[split_run(f)[0] for f in mine["fold"]])
    experiments = list(dict.fromkeys(mine["experiment"]))
    folds = sorted(mine["fold"].unique())
    fig, ax = plt.subplots(
        figsize=(PAGE_WIDTH, 0.25 * max(len(experiments), 2) + 0.9), layout="constrained"
    )
    palette = plt.get_cmap("tab10")
    for i, exp_id in enumerate(experiments):
        rows = mine[mine["experiment"] == exp_id]
        ax.barh(i, rows["value"].mean(), color="#dddddd", height=0.6)
        for r in rows.itertuples(index=False):
            ax.plot(r.value, i, "o", ms=3.5, color=palette(folds.index(r.fold) % 10))
    ax.set_yticks(range(len(experiments)), experiments)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{metric} (bar: mean over runs, folds x seeds)")
    handles = [
        plt.Line2D([], [], ls="", marker="o", ms=3.5, color=palette(k % 10), label=f)
        for k, f in enumerate(folds)
    ]
    if handles:
        fig.legend(handles=handles, title="fold", loc="outside right upper", frameon=False)
    ax.set_title(title)
    save_figure(fig, stem)
