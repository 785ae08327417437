"""Metrics of one (experiment, fold) from its predictions.tsv.

Rows whose model reads text are also scored on the test utterances whose transcript is
unseen in the fold's training data (train + valid), and on the rest (#24): blocks
``unseen_text`` and ``seen_text`` of ``n``, UA, WA and WF1, from the corpus's
``unseen_text.tsv`` (:func:`mlser.evaluation.passport.unseen_text`). A subset with no utterance
scores ``None`` (JSON null), never an error.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from mlser.data.runs import split_run
from mlser.evaluation import metrics

#: The metrics.json block of each text subset and its ``unseen_text`` flag.
TEXT_SUBSETS: dict[str, int] = {"unseen_text": 1, "seen_text": 0}

#: What each text-subset block scores (besides ``n``).
SUBSET_METRICS: tuple[str, ...] = ("UA", "WA", "WF1")


def read_unseen_text(path: str | os.PathLike[str], fold: str) -> pd.Series:
    """One fold's test utterances -> 1 where the transcript is unseen, else 0, from an
    ``unseen_text.tsv`` (``fold, utt_id, unseen_text``)."""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    rows = table[table["fold"] == split_run(str(fold))[0]]  # a seed's run: its fold
    if rows.empty:
        raise ValueError(f"{path}: no test utterance of fold {fold!r}")
    return rows.set_index("utt_id")["unseen_text"].astype(int)


def _subset_scores(gold: pd.Series, pred: pd.Series) -> dict[str, Any]:
    if len(gold) == 0:
        return {"n": 0, **dict.fromkeys(SUBSET_METRICS)}
    return {
        "n": len(gold),
        "UA": metrics.unweighted_accuracy(gold, pred),
        "WA": metrics.weighted_accuracy(gold, pred),
        "WF1": metrics.weighted_f1(gold, pred),
    }


def text_subset_metrics(pred: pd.DataFrame, unseen: pd.Series) -> dict[str, Any]:
    """``unseen_text`` and ``seen_text`` blocks of a fold's predictions; ``unseen`` maps
    every predicted ``utt_id`` to its flag (:func:`read_unseen_text`)."""
    ids = pred["utt_id"].astype(str)
    missing = ~ids.isin(unseen.index)
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} predicted utterances are not in the fold's unseen-text "
            f"list (first: {ids[missing].iloc[0]!r})"
        )
    flags = unseen.loc[ids].to_numpy()
    return {
        key: _subset_scores(pred["gold"][flags == value], pred["pred"][flags == value])
        for key, value in TEXT_SUBSETS.items()
    }


def metrics_from_predictions(pred: pd.DataFrame, unseen: pd.Series | None = None) -> dict[str, Any]:
    """UA, WA, weighted F1 of the emotion; WER/CER where the model transcribes (a
    ``transcript`` column, its empty transcripts included: all words deleted); gender and
    style UA where both gold and prediction exist (IEMOCAP); with ``unseen`` (a row that
    reads text) the same on the unseen- and seen-text subsets (:func:`text_subset_metrics`)."""
    out: dict[str, Any] = {
        "n": len(pred),
        "UA": metrics.unweighted_accuracy(pred["gold"], pred["pred"]),
        "WA": metrics.weighted_accuracy(pred["gold"], pred["pred"]),
        "WF1": metrics.weighted_f1(pred["gold"], pred["pred"]),
        "recall": metrics.per_class_recall(pred["gold"], pred["pred"]),
    }
    if "transcript" in pred:  # a model that transcribes: its empty transcripts count too
        refs, hyps = pred["text"].fillna("").tolist(), pred["transcript"].fillna("").tolist()
        out["WER"] = metrics.word_error_rate(refs, hyps)
        out["CER"] = metrics.char_error_rate(refs, hyps)
    for attr, key in (("gender", "GENDER_UA"), ("style", "STYLE_UA")):
        if f"pred_{attr}" in pred:
            ok = (pred[attr] != -100) & (pred[f"pred_{attr}"] != -100)
            if ok.any():
                out[key] = metrics.unweighted_accuracy(
                    pred.loc[ok, attr].astype(str), pred.loc[ok, f"pred_{attr}"].astype(str)
                )
    if unseen is not None:
        out.update(text_subset_metrics(pred, unseen))
    return out
