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

from mlser.figures.style import COLUMN_WIDTH, EMOTION_COLOURS, apply_style, save_figure
from mlser.hierarchical_training import neutral_precision_recall

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
        share = 100 * corrected / total if total else 0.0
        rows.append((f"{label} (n={total})", share))
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 0.45 * len(rows) + 0.8))
    y = np.arange(len(rows))
    shares = np.array([s for _, s in rows])
    ax.barh(y, shares, color=EMOTION_COLOURS["sad"], label="corrected by text model")
    ax.barh(y, 100 - shares, left=shares, color="#DDDDDD", label="not corrected")
    for i, s in enumerate(shares):
        ax.text(s / 2, i, f"{s:.1f}%", ha="center", va="center", color="white", fontsize=7)
    ax.set_yticks(y, [name for name, _ in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("emotional utterances the speech model called neutral (%)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(rows) < 3 else -0.2), ncol=2)
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
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, COLUMN_WIDTH * 0.8))
    markers = "osD^v<>"
    for k, (path, label) in enumerate(zip(predictions, labels, strict=True)):
        pred = pd.read_csv(path, sep="\t", dtype={"utt_id": str})
        curve = neutral_precision_recall(pred, CURVE_THRESHOLDS)
        (line,) = ax.plot(curve["recall"], curve["precision"], lw=1, label=label)
        marks = neutral_precision_recall(pred, thresholds)
        ax.scatter(
            marks["recall"],
            marks["precision"],
            marker=markers[k % len(markers)],
            s=14,
            color=line.get_color(),
            zorder=3,
        )
        for r in marks.itertuples(index=False):
            ax.annotate(
                f"{r.threshold:.2f}",
                (r.recall, r.precision),
                textcoords="offset points",
                xytext=(3, 3),
                fontsize=6,
                color=line.get_color(),
            )
    ax.set_xlabel("neutral recall")
    ax.set_ylabel("neutral precision")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(loc="lower left")
    save_figure(fig, stem)
