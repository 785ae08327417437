"""Metrics against values computed by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from mlser.data.transcripts import normalize_transcript
from mlser.evaluation import metrics

GOLD = ["ang", "ang", "ang", "ang", "sad", "sad", "neu", "hap"]
PRED = ["ang", "ang", "ang", "sad", "sad", "neu", "neu", "ang"]


def test_ua_is_macro_recall() -> None:
    # recalls: ang 3/4, sad 1/2, neu 1/1, hap 0/1 -> mean 0.5625
    assert metrics.unweighted_accuracy(GOLD, PRED) == pytest.approx(0.5625)
    assert metrics.per_class_recall(GOLD, PRED) == {
        "ang": 0.75,
        "hap": 0.0,
        "neu": 1.0,
        "sad": 0.5,
    }


def test_wa_is_accuracy() -> None:
    assert metrics.weighted_accuracy(GOLD, PRED) == pytest.approx(5 / 8)


def test_weighted_f1_by_hand() -> None:
    # ang: P=3/4 R=3/4 F=.75 (n4); sad: P=1/2 R=1/2 F=.5 (n2); neu: P=1/2 R=1 F=2/3 (n1); hap: 0
    expected = (0.75 * 4 + 0.5 * 2 + (2 / 3) * 1 + 0) / 8
    assert metrics.weighted_f1(GOLD, PRED) == pytest.approx(expected)


def test_confusion_matrix_rows_are_gold() -> None:
    cm = metrics.confusion_matrix(GOLD, PRED, ["neu", "hap", "ang", "sad"])
    np.testing.assert_array_equal(cm, [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 3, 1], [1, 0, 0, 1]])
    with pytest.raises(ValueError, match="'fru'"):
        metrics.confusion_matrix(["fru"], ["neu"], ["neu"])


def test_length_mismatch_and_empty_are_errors() -> None:
    with pytest.raises(ValueError, match="2 gold labels but 1"):
        metrics.weighted_accuracy(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no predictions"):
        metrics.unweighted_accuracy([], [])


def test_ua_leaves_out_classes_only_predicted() -> None:
    # recall_score(average="macro") without labels would average a 0 for "c" too (1/3)
    assert metrics.unweighted_accuracy(["a", "b"], ["a", "c"]) == 0.5
    assert metrics.per_class_recall(["a", "b"], ["a", "c"]) == {"a": 1.0, "b": 0.0}


def test_precision_of_a_class_never_predicted_is_zero_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's default zero_division warns
        assert metrics.per_class_precision(["a", "b", "b"], ["a", "a", "c"]) == {
            "a": 0.5,
            "b": 0.0,
        }
        assert metrics.weighted_f1(["a", "b"], ["a", "a"]) == pytest.approx(1 / 3)


def test_weighted_f1_keeps_its_rounding() -> None:
    # one class, P = 1/1, R = 1/5: 2PR / (P + R) is 0.33333333333333337, whereas
    # f1_score's 2TP / (2TP + FP + FN) is 0.3333333333333333; saved scores and epoch
    # ties depend on the former, bit for bit
    score = metrics.weighted_f1(["b"] * 5, ["a", "c", "c", "a", "b"])
    assert score == 2 * 1.0 * 0.2 / (1.0 + 0.2) and score != 1 / 3


def test_labels_need_not_be_strings() -> None:
    gold = pd.Series([0, 1, 1, 2], dtype=object)  # scikit-learn rejects these as they are
    pred = pd.Series([0, 2, 1, "x"], dtype=object)
    assert metrics.per_class_recall(gold, pred) == {0: 1.0, 1: 0.5, 2: 0.0}
    assert metrics.weighted_accuracy(gold, pred) == 0.5
    np.testing.assert_array_equal(
        metrics.confusion_matrix(gold, pred.replace("x", 2), [2, 1, 0]),
        [[1, 0, 0], [1, 1, 0], [0, 0, 1]],
    )


def test_confusion_matrix_rejects_an_unknown_prediction() -> None:
    # scikit-learn's confusion_matrix would leave the utterance out of the counts
    with pytest.raises(ValueError, match="'fru'"):
        metrics.confusion_matrix(["neu", "sad"], ["neu", "fru"], ["neu", "sad"])


def test_wer_normalises_and_counts_words() -> None:
    refs = ["Excuse me. [LAUGHTER]", "I don\u2019t know", "[BREATHING]"]
    hyps = ["excuse me", "i dont know now", "anything"]
    # words: 2 + 3 = 5; errors: "don't"->"dont" (1 sub) + "now" (1 ins) = 2; third ref empty
    assert metrics.word_error_rate(refs, hyps) == pytest.approx(2 / 5)


def test_cer_by_hand() -> None:
    # "abc d" vs "abd d": 1 substitution over 5 characters
    assert metrics.char_error_rate(["abc d"], ["abd d"]) == pytest.approx(1 / 5)


def test_normalize_transcript() -> None:
    assert (
        normalize_transcript("  Oh-my, [LAUGHTER] It\u2019s 5 O'CLOCK!! ") == "oh my it's o'clock"
    )


def test_metrics_from_predictions_report_only_what_was_predicted() -> None:
    from mlser.evaluation.scoring import metrics_from_predictions

    pred = pd.DataFrame(
        {
            "gold": ["ang", "sad"],
            "pred": ["ang", "ang"],
            "text": ["i am angry", "so sad"],
            "gender": [0, 1],
            "pred_gender": [-100, -100],
            "style": [0, 1],
            "pred_style": [0, 0],
        }
    )
    scores = metrics_from_predictions(pred)
    assert scores["UA"] == pytest.approx(0.5) and scores["WA"] == pytest.approx(0.5)
    assert "WER" not in scores and "GENDER_UA" not in scores  # no ASR, no gender head
    assert scores["STYLE_UA"] == pytest.approx(0.5)
    pred["transcript"] = ["i am angry", "so bad"]
    assert metrics_from_predictions(pred)["WER"] == pytest.approx(1 / 5)
    # a model that transcribes nothing at all: every word deleted, WER 1, not "no WER"
    # (its run left the table's WER mean before, biasing it down)
    pred["transcript"] = ["", None]
    assert metrics_from_predictions(pred)["WER"] == pytest.approx(1.0)
