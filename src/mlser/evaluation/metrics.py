"""Evaluation metrics, one definition each, as the papers use them.

* UA (unweighted accuracy): the mean of per-class recalls over the classes present in
  the gold labels (macro recall).
* WA (weighted accuracy): overall accuracy, i.e. recall weighted by class frequency.
* WF1: F1 per class weighted by support (MELD's usual figure).
* WER / CER: corpus-level edit distance (jiwer) after :func:`normalize_transcript` on
  both sides; utterances whose normalised reference is empty are left out and counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlser.data.transcripts import normalize_transcript


def _check(y_true: Sequence[str], y_pred: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    if t.shape != p.shape:
        raise ValueError(f"{len(t)} gold labels but {len(p)} predictions")
    if len(t) == 0:
        raise ValueError("no predictions to score")
    return t, p


def per_class_recall(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    """Recall of every class that occurs in ``y_true``."""
    t, p = _check(y_true, y_pred)
    return {c: float(np.mean(p[t == c] == c)) for c in sorted(set(t))}


def per_class_precision(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    """Precision of every class that occurs in ``y_true`` (0 where it is never predicted)."""
    t, p = _check(y_true, y_pred)
    return {c: float(np.sum((p == c) & (t == c)) / max(np.sum(p == c), 1)) for c in sorted(set(t))}


def unweighted_accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """UA: mean per-class recall over the gold classes."""
    return float(np.mean(list(per_class_recall(y_true, y_pred).values())))


def weighted_accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """WA: overall accuracy."""
    t, p = _check(y_true, y_pred)
    return float(np.mean(t == p))


def weighted_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """F1 per gold class, weighted by the class's support."""
    t, p = _check(y_true, y_pred)
    total = 0.0
    for c in sorted(set(t)):
        tp = np.sum((t == c) & (p == c))
        precision = tp / max(np.sum(p == c), 1)
        recall = tp / np.sum(t == c)
        f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
        total += f1 * np.sum(t == c)
    return float(total / len(t))


def selection_scores(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    """``ua``, ``wa`` and ``wf1`` of a validation pass: what a stage selects its epoch on
    (:data:`mlser.training.loop.SELECT_METRICS`) and breaks ties with."""
    return {
        "ua": unweighted_accuracy(y_true, y_pred),
        "wa": weighted_accuracy(y_true, y_pred),
        "wf1": weighted_f1(y_true, y_pred),
    }


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> np.ndarray:
    """Counts ``(len(classes), len(classes))``: row = gold, column = predicted."""
    t, p = _check(y_true, y_pred)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted((set(t) | set(p)) - set(index))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {list(classes)}")
    cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for a, b in zip(t, p, strict=True):
        cm[index[a], index[b]] += 1
    return cm


def _pairs(refs: Sequence[str], hyps: Sequence[str]) -> tuple[list[str], list[str], int]:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    kept_r, kept_h, skipped = [], [], 0
    for r, h in zip(refs, hyps, strict=True):
        r = normalize_transcript(r)
        if not r:
            skipped += 1
            continue
        kept_r.append(r)
        kept_h.append(normalize_transcript(h or ""))
    if not kept_r:
        raise ValueError("every reference is empty after normalisation")
    return kept_r, kept_h, skipped


def word_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus-level WER over normalised transcripts (empty references left out)."""
    import jiwer

    r, h, _ = _pairs(refs, hyps)
    return float(jiwer.wer(r, h))


def char_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus-level CER over normalised transcripts (empty references left out)."""
    import jiwer

    r, h, _ = _pairs(refs, hyps)
    return float(jiwer.cer(r, h))
