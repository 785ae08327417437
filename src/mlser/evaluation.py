"""Metrics of one (experiment, fold) from its predictions.tsv."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlser import metrics


def metrics_from_predictions(pred: pd.DataFrame) -> dict[str, Any]:
    """UA, WA, weighted F1 of the emotion; WER/CER where transcripts exist; gender and
    style UA where both gold and prediction exist (IEMOCAP)."""
    out: dict[str, Any] = {
        "n": len(pred),
        "UA": metrics.unweighted_accuracy(pred["gold"], pred["pred"]),
        "WA": metrics.weighted_accuracy(pred["gold"], pred["pred"]),
        "WF1": metrics.weighted_f1(pred["gold"], pred["pred"]),
        "recall": metrics.per_class_recall(pred["gold"], pred["pred"]),
    }
    if "transcript" in pred and (pred["transcript"].fillna("") != "").any():
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
    return out
