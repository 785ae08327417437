"""One look for every figure: sized for a paper column, saved as PDF and PNG atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: Width of one column of a two-column paper (IEEE/Interspeech), in inches.
COLUMN_WIDTH = 3.4
#: Width of a figure that spans both columns, in inches.
PAGE_WIDTH = 7.0
#: Emotion order of every axis and legend (IEMOCAP 4 classes first, then MELD's rest).
EMOTION_ORDER = ("neu", "hap", "ang", "sad", "sur", "fea", "dis", "joy")
#: One colour per emotion, the same in every figure (colour-blind-safe Okabe-Ito).
EMOTION_COLOURS = {
    "neu": "#999999",
    "hap": "#E69F00",
    "joy": "#E69F00",
    "ang": "#D55E00",
    "sad": "#0072B2",
    "sur": "#CC79A7",
    "fea": "#009E73",
    "dis": "#56B4E9",
}


def apply_style() -> None:
    """Set matplotlib's non-interactive backend and the shared rc parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 150,
            "savefig.dpi": 300,
            "savefig.bbox": "tight",
            "font.size": 8,
            "axes.titlesize": 8,
            "axes.labelsize": 8,
            "legend.fontsize": 7,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "pdf.fonttype": 42,  # embed TrueType: journals reject Type 3 fonts
        }
    )


def emotion_order(labels: Any) -> list[str]:
    """``labels`` sorted in :data:`EMOTION_ORDER` (unknown ones last, alphabetically)."""
    known = [e for e in EMOTION_ORDER if e in set(labels)]
    return known + sorted(set(labels) - set(known))


def save_figure(fig: Any, stem: str | os.PathLike[str]) -> list[Path]:
    """Write ``fig`` to ``stem.pdf`` and ``stem.png`` (each atomically) and close it."""
    import matplotlib.pyplot as plt

    from mlser.atomic import atomic_path

    out = []
    for ext in ("pdf", "png"):
        path = Path(f"{os.fspath(stem)}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext)
        out.append(path)
    plt.close(fig)
    return out
