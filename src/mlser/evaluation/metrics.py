"""Evaluation metrics, one definition each, as the papers use them.

* UA (unweighted accuracy): the mean of per-class recalls over the classes present in
  the gold labels (macro recall).
* WA (weighted accuracy): overall accuracy, i.e. recall weighted by class frequency.
* WF1: F1 per class weighted by support (MELD's usual figure).
* WER / CER: corpus-level edit distance (jiwer) after :func:`normalize_transcript` on
  both sides; utterances whose normalised reference is empty are left out and counted.

UA, WA, recall, precision and the confusion matrix are scikit-learn's (imported when
first used); WF1 takes its per-class precision and recall from scikit-learn.
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


def _encode(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    """Gold and predicted labels as integer codes, the classes scored and their codes.

    ``classes`` defaults to the labels that occur in the gold labels, sorted: every
    per-class metric is taken over those, and a class only ever predicted has no recall
    (it still counts against the precision of the classes it was mistaken for). Code
    ``i`` is ``classes[i]``; a label outside them gets a code past the end. scikit-learn
    sees only the codes: it rejects an object array of labels other than strings (and
    is slow on strings), whereas these functions score any labels compared with ``==``.
    """
    t, p = _check(y_true, y_pred)
    classes = sorted(set(t)) if classes is None else list(classes)
    index = {c: i for i, c in enumerate(classes)}
    extra = len(classes)
    for label in (*t, *p):
        if label not in index:
            index[label] = extra
            extra += 1
    codes = [np.fromiter(map(index.__getitem__, a), dtype=np.int64, count=len(a)) for a in (t, p)]
    return codes[0], codes[1], classes, list(range(len(classes)))


def per_class_recall(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    """Recall of every class that occurs in ``y_true``."""
    from sklearn.metrics import recall_score

    t, p, classes, labels = _encode(y_true, y_pred)
    recall = recall_score(t, p, labels=labels, average=None, zero_division=0.0)
    return {c: float(r) for c, r in zip(classes, recall, strict=True)}


def per_class_precision(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    """Precision of every class that occurs in ``y_true`` (0 where it is never predicted)."""
    from sklearn.metrics import precision_score

    t, p, classes, labels = _encode(y_true, y_pred)
    precision = precision_score(t, p, labels=labels, average=None, zero_division=0.0)
    return {c: float(v) for c, v in zip(classes, precision, strict=True)}


def unweighted_accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """UA: mean per-class recall over the gold classes (a class only predicted does not
    count, unlike ``recall_score(average="macro")`` without ``labels``)."""
    from sklearn.metrics import recall_score

    t, p, _, labels = _encode(y_true, y_pred)
    return float(recall_score(t, p, labels=labels, average="macro", zero_division=0.0))


def weighted_accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """WA: overall accuracy."""
    from sklearn.metrics import accuracy_score

    t, p, _, _ = _encode(y_true, y_pred)
    return float(accuracy_score(t, p))


def weighted_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """F1 per gold class, weighted by the class's support.

    Precision, recall and support come from scikit-learn; F1 is ``2PR / (P + R)`` (0 where
    the class is never hit) summed class by class in sorted order, as this function always
    did. ``f1_score(average="weighted")`` is the same number mathematically, but computes
    ``2TP / (2TP + FP + FN)`` and sums pairwise, so it can differ in the last bit: that
    would move saved scores and flip exact ties between epochs
    (:data:`mlser.training.loop.TIE_BREAK`), including ties with the tie-breakers a
    checkpoint stored.
    """
    from sklearn.metrics import precision_recall_fscore_support

    t, p, _, labels = _encode(y_true, y_pred)
    precision, recall, _, support = precision_recall_fscore_support(
        t, p, labels=labels, average=None, zero_division=0.0
    )
    total = 0.0
    for prec, rec, n in zip(precision, recall, support, strict=True):
        f1 = 0.0 if rec == 0 else 2 * prec * rec / (prec + rec)
        total += f1 * n
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
    """Counts ``(len(classes), len(classes))``: row = gold, column = predicted. A label
    outside ``classes`` is an error (scikit-learn would leave its utterance out)."""
    from sklearn import metrics as skm

    t, p = _check(y_true, y_pred)
    unknown = sorted((set(t) | set(p)) - set(classes))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {list(classes)}")
    t, p, _, labels = _encode(t, p, classes)
    return skm.confusion_matrix(t, p, labels=labels).astype(np.int64, copy=False)


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
