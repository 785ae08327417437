"""wang2023 figures: Figure 3 (effect of K) and Figure 4 (label attention of an utterance).

* Figure 3: WA and UA (mean over the folds run) of the system rebuilt with each K of a
  sweep, from the sweep points' ``metrics.json``.
* Figure 4: for one test utterance, ``G_t`` and ``G_s`` averaged over the classes
  (the paper's ``~G_t``, ``~G_s``): one weight per token and per speech frame, from the
  ``attention.json`` saved by ``evaluate-lemer``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mlser.report.figures.style import COLUMN_WIDTH, apply_style, save_figure

_POINT = re.compile(r"sweeps/(?P<sweep>[^/]+)/(?P<value>\d+)/(?P<fold>[^/]+)/metrics\.json$")


def sweep_table(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """``value, fold, WA, UA`` of every sweep point (value read from the path)."""
    rows = []
    for path in paths:
        m = _POINT.search(Path(path).as_posix())
        if m is None:
            raise ValueError(
                f"{path}: not a sweep point (…/sweeps/<id>/<value>/<fold>/metrics.json)"
            )
        scores = json.loads(Path(path).read_text())
        rows.append((int(m["value"]), m["fold"], scores["WA"], scores["UA"]))
    return pd.DataFrame(rows, columns=["value", "fold", "WA", "UA"]).sort_values(["value", "fold"])


def k_sweep_figure(paths: Sequence[str | os.PathLike[str]], stem: str | os.PathLike[str]) -> None:
    """Figure 3: WA and UA (percent, mean over folds) against K."""
    apply_style()
    import matplotlib.pyplot as plt

    table = sweep_table(paths)
    mean = table.groupby("value")[["WA", "UA"]].mean() * 100
    folds = table["fold"].nunique()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.2))
    for metric, marker in (("WA", "o"), ("UA", "s")):
        ax.plot(mean.index, mean[metric], marker=marker, label=metric)
    ax.set_xticks(list(mean.index))
    sweep = _POINT.search(Path(paths[0]).as_posix())["sweep"]  # type: ignore[index]
    ax.set_xlabel("K (keywords per class)" if "text" in sweep else "K (key frames per class)")
    ax.set_ylabel("%")
    ax.set_title(f"Effect of K, mean over {folds} fold{'s' if folds > 1 else ''}")
    ax.legend(frameon=False)
    save_figure(fig, stem)


def attention_figure(path: str | os.PathLike[str], stem: str | os.PathLike[str]) -> None:
    """Figure 4: class-averaged ``G_t`` over tokens and ``G_s`` over frames of one saved
    utterance (of those with both maps, the one whose tokens' weights differ most)."""
    apply_style()
    import matplotlib.pyplot as plt

    saved = json.loads(Path(path).read_text())
    utts = [u for u in saved["utterances"] if "g_text" in u and "g_speech" in u]
    if not utts:
        raise ValueError(f"{path}: no utterance with both label-token and label-frame maps")

    def current(u: dict) -> tuple[int, int]:
        # the current utterance only: the history before its [SEP] is context
        seps = [i for i, t in enumerate(u["tokens"]) if t == "[SEP]"]
        start = seps[-2] + 1 if len(seps) >= 2 else 1  # after [CLS] or the history
        return start, seps[-1] if seps else len(u["tokens"])

    def spread(u: dict) -> float:
        start, end = current(u)
        g = np.asarray(u["g_text"]).mean(axis=1)[start:end]
        return float(g.max() - g.min()) if len(g) else 0.0

    def plain(u: dict) -> bool:  # no event token such as [LAUGHTER] in the utterance
        start, end = current(u)
        return "[" not in u["tokens"][start:end]

    # the saved utterance whose words the label-token map tells apart most
    u = max(utts, key=lambda u: (plain(u), spread(u)))
    g_t = np.asarray(u["g_text"]).mean(axis=1)
    g_s = np.asarray(u["g_speech"]).mean(axis=1)
    tokens = list(u["tokens"])
    start, end = current(u)
    fig, (ax_s, ax_t) = plt.subplots(2, 1, figsize=(COLUMN_WIDTH, 2.8))
    seconds = np.arange(len(g_s)) * u["seconds"] / max(len(g_s), 1)
    ax_s.plot(seconds, g_s, color="#0072B2")
    ax_s.set_xlabel("time (s)")
    ax_s.set_ylabel(r"$\tilde{G}_s$")
    ax_s.set_title(f"{u['utt_id']}")
    ax_t.bar(range(end - start), g_t[start:end], color="#D55E00")
    ax_t.set_xticks(range(end - start))
    ax_t.set_xticklabels(tokens[start:end], rotation=60, ha="right")
    ax_t.set_ylabel(r"$\tilde{G}_t$")
    fig.tight_layout()
    save_figure(fig, stem)


def labels_figure(
    keywords: str | os.PathLike[str],
    frame_codes: str | os.PathLike[str],
    codebook: str | os.PathLike[str],
    stem: str | os.PathLike[str],
    show_words: int = 9,
    show_frames: int = 20,
) -> None:
    """Figure 1: per class the semantic label (its Top-K keywords) and the tonal label
    (the embeddings of its Top-K key frames side by side: for k-means units of log-mel
    frames, a spectrogram made of the class's key frames)."""
    apply_style()
    import matplotlib.pyplot as plt

    from mlser.features.codebook import code_ids_of, load_codebook
    from mlser.features.label_keywords import keywords_by_class, read_keywords
    from mlser.report.figures.style import EMOTION_COLOURS, emotion_order

    kw, fc, cb = read_keywords(keywords), read_keywords(frame_codes), load_codebook(codebook)
    classes = emotion_order(kw["class"].unique())
    words = keywords_by_class(kw, classes)
    import textwrap

    fig, axes = plt.subplots(
        len(classes),
        2,
        figsize=(COLUMN_WIDTH * 2, 0.9 * len(classes)),
        gridspec_kw={"width_ratios": [1.3, 1]},
    )
    for row, (cls, ws) in enumerate(zip(classes, words, strict=True)):
        ax_w, ax_f = axes[row]
        ax_w.axis("off")
        colour = EMOTION_COLOURS.get(cls, "black")
        text = textwrap.fill(f"{cls}: " + ", ".join(ws[:show_words]), width=48)
        ax_w.text(0, 0.5, text, va="center", color=colour)
        codes = code_ids_of(fc[fc["class"] == cls].sort_values("rank"))[:show_frames]
        ax_f.imshow(cb.embeddings(codes).T, aspect="auto", origin="lower", cmap="magma")
        ax_f.set_yticks([])
        ax_f.set_xticks([])
    axes[0, 0].set_title("semantic label (Top-K TF-IDF words)")
    axes[0, 1].set_title(f"tonal label (Top-{show_frames} key frames, {cb.method})")
    fig.tight_layout()
    save_figure(fig, stem)
