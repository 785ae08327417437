"""alqurashi2024's figures from the hierarchical rows' outputs.

* Fig. 2: of the emotional utterances the speech model called neutral, the share the text
  model re-classified correctly (and the rest), per speech+text system (metrics.json).
* Fig. 3: precision-recall curve of the neutral class per speech+text system, the
  consistency/confidence threshold swept from 0 (the speech-only baseline) to 1 (the text
  model decides every speech-neutral utterance), the given thresholds marked
  (predictions.tsv of the un-thresholded rows).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mlser.report.figures.style import COLUMN_WIDTH, EMOTION_COLOURS, apply_style, save_figure
from mlser.training.hierarchical import neutral_precision_recall

__all__ = ["correction_figure", "precision_recall_figure"]

#: The threshold grid of the Fig. 3 curve.
CURVE_THRESHOLDS = np.round(np.linspace(0.0, 1.0, 201), 4)


def correction_figure(
    metrics: Sequence[str | os.PathLike[str]],
    labels: Sequence[str],
    stem: str | os.PathLike[str],
) -> None:
    """Fig. 2: corrected vs uncorrected speech-neutral misclassifications, in percent."""
    import matplotlib.pyplot as plt

    apply_style()
    rows = []
    for path, label in zip(metrics, labels, strict=True):
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
        total, corrected = m["speech_neutral_emotional"], m["text_corrected"]
        rows.append((f"{label} (n={total})", 100 * corrected / total if total else None))
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 0.45 * len(rows) + 0.8))
    y = np.arange(len(rows))
    for i, (_, share) in enumerate(rows):
        if share is None:  # no emotional utterance was called neutral: nothing to correct
            ax.text(1, i, "no emotional utterance called neutral", va="center", fontsize=6)
            continue
        ax.barh(i, share, color=EMOTION_COLOURS["sad"], label="corrected by text model")
        ax.barh(i, 100 - share, left=share, color="#DDDDDD", label="not corrected")
        inside = share >= 15
        ax.text(
            share / 2 if inside else share + 1,
            i,
            f"{share:.1f}%",
            ha="center" if inside else "left",
            va="center",
            color="white" if inside else "black",
            fontsize=7,
        )
    ax.set_yticks(y, [name for name, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
    ax.set_xlim(0, 100)
    ax.set_xlabel("emotional utterances the speech model called neutral (%)")
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    ax.legend(
        unique.values(),
        unique.keys(),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.38 if len(rows) < 3 else -0.28),
        ncol=2,
    )
    save_figure(fig, stem)


def precision_recall_figure(
    predictions: Sequence[str | os.PathLike[str]],
    labels: Sequence[str],
    thresholds: Sequence[float],
    stem: str | os.PathLike[str],
) -> None:
    """Fig. 3: neutral precision vs recall over the threshold, ``thresholds`` marked."""
    import matplotlib.pyplot as plt

    apply_style()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, COLUMN_WIDTH * 0.95))
    markers = "osD^v<>"
    for k, (path, label) in enumerate(zip(predictions, labels, strict=True)):
        pred = pd.read_csv(path, sep="\t", dtype={"utt_id": str})
        curve = neutral_precision_recall(pred, CURVE_THRESHOLDS)
        if curve["precision"].isna().all():  # the system never says neutral
            label = f"{label}: never predicts neutral"
        (line,) = ax.plot(curve["recall"], curve["precision"], lw=1, label=label)
        colour = line.get_color()
        # the curve's ends: threshold 0 (speech-only baseline), 1 (text model decides)
        for t, marker in ((0, "s"), (-1, "^")):
            ax.plot(
                curve["recall"].iloc[t],
                curve["precision"].iloc[t],
                marker,
                ms=3,
                mfc="none",
                color=colour,
            )
        marks = neutral_precision_recall(pred, thresholds)
        ax.scatter(
            marks["recall"],
            marks["precision"],
            marker=markers[k % len(markers)],
            s=14,
            color=colour,
            zorder=3,
        )
        # thresholds that give the same point share one label
        for (r, p), group in marks.groupby(["recall", "precision"], sort=False):
            ts = group["threshold"].tolist()
            text = f"{ts[0]:.2f}" if len(ts) == 1 else f"{ts[0]:.2f}–{ts[-1]:.2f}"
            ax.annotate(
                text, (r, p), textcoords="offset points", xytext=(3, -9), fontsize=6, color=colour
            )
    ax.set_xlabel("neutral recall")
    ax.set_ylabel("neutral precision")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3, lw=0.5)
    ax.plot([], [], "ks", ms=3, mfc="none", label="threshold 0 (speech only)")
    ax.plot([], [], "k^", ms=3, mfc="none", label="threshold 1 (text decides)")
    # below the axes: a curve may run through any corner
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=6)
    save_figure(fig, stem)
