"""The reproduction scorecard's decisions on hand-made cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlser import metrics, scorecard
from mlser.experiments import load_matrix
from mlser.paper_tables import SCORED

REPO = Path(__file__).resolve().parents[1]
MATRIX_DIR = REPO / "config" / "experiments"
CLASSES = ("neu", "hap", "ang", "sad")


@pytest.fixture(scope="module")
def matrix() -> dict:
    return load_matrix(MATRIX_DIR)


def fold(gold: list[str], pred: list[str], prefix: str = "u") -> pd.DataFrame:
    return pd.DataFrame(
        {"utt_id": [f"{prefix}{i}" for i in range(len(gold))], "gold": gold, "pred": pred}
    )


def test_weighted_metrics_equal_mlser_metrics_with_unit_weights() -> None:
    rng = np.random.default_rng(3)
    gold = rng.choice(CLASSES, 60).tolist()
    pred = rng.choice(CLASSES, 60).tolist()
    frame = fold(gold, pred)
    g, p = scorecard._codes(frame, CLASSES)
    ones = np.ones((1, 60))
    for name, reference in (
        ("UA", metrics.unweighted_accuracy),
        ("WA", metrics.weighted_accuracy),
        ("WF1", metrics.weighted_f1),
    ):
        got = scorecard.weighted_metric(g, p, ones, name, CLASSES)[0]
        assert got == pytest.approx(reference(gold, pred)), name
    for label, code in (("neutral", "neu"), ("sad", "sad")):
        got = scorecard.weighted_metric(g, p, ones, f"precision_{label}", CLASSES)[0]
        assert got == pytest.approx(metrics.per_class_precision(gold, pred)[code]), label
        got = scorecard.weighted_metric(g, p, ones, f"recall_{label}", CLASSES)[0]
        assert got == pytest.approx(metrics.per_class_recall(gold, pred)[code]), label
    # integer weights = the utterances repeated
    w = rng.integers(0, 3, 60)
    w[:4] = 1  # every class present
    rep_g = [x for x, k in zip(gold, w, strict=True) for _ in range(k)]
    rep_p = [x for x, k in zip(pred, w, strict=True) for _ in range(k)]
    got = scorecard.weighted_metric(g, p, w[None, :].astype(float), "UA", CLASSES)[0]
    assert got == pytest.approx(metrics.unweighted_accuracy(rep_g, rep_p))
    got = scorecard.weighted_metric(g, p, w[None, :].astype(float), "precision_neutral", CLASSES)
    assert got[0] == pytest.approx(metrics.per_class_precision(rep_g, rep_p)["neu"])


def test_neutral_precision_hand_computed() -> None:
    # 3 predicted neutral, 2 of them truly neutral: precision 2/3; 4 neutral, 2 found: recall 1/2
    gold = ["neu", "neu", "hap", "neu", "neu", "sad"]
    pred = ["neu", "neu", "neu", "hap", "sad", "sad"]
    g, p = scorecard._codes(fold(gold, pred), CLASSES)
    ones = np.ones((1, 6))
    assert scorecard.weighted_metric(g, p, ones, "precision_neutral", CLASSES)[0] == pytest.approx(
        2 / 3
    )
    assert scorecard.weighted_metric(g, p, ones, "recall_neutral", CLASSES)[0] == pytest.approx(0.5)
    # nothing predicted angry: precision 0, as mlser.metrics has it
    assert scorecard.weighted_metric(g, p, ones, "precision_angry", CLASSES)[0] == 0.0
    with pytest.raises(ValueError, match="'ang' is not one of the classes"):
        scorecard.weighted_metric(g, p, ones, "precision_angry", ("neu", "hap", "joy", "sad"))
    with pytest.raises(ValueError, match="'precision_joy' cannot be computed"):
        scorecard.weighted_metric(g, p, ones, "precision_joy", CLASSES)


def test_paired_bootstrap_finds_a_clear_effect_and_no_effect() -> None:
    gold = ["neu", "hap", "ang", "sad"] * 15
    wrong = ["hap", "ang", "sad", "neu"] * 15
    base = {"s1": fold(gold[:30], wrong[:30]), "s2": fold(gold[30:], wrong[30:], "v")}
    treat = {"s1": fold(gold[:30], gold[:30]), "s2": fold(gold[30:], gold[30:], "v")}
    clear = scorecard.paired_bootstrap(base, treat, "UA", CLASSES, n_boot=300)
    assert clear["diff"] == pytest.approx(1.0)
    assert clear["ci_low"] > 0 and clear["p"] < 0.01
    assert scorecard.verdict(+1, clear["diff"], clear["p"]) == "reproduced"
    assert scorecard.verdict(-1, clear["diff"], clear["p"]) == "reversed"
    same = scorecard.paired_bootstrap(base, base, "UA", CLASSES, n_boot=300)
    assert same["diff"] == 0 and same["p"] == 1.0
    assert scorecard.verdict(+1, same["diff"], same["p"]) == "no difference"
    # one utterance of 60 better: right sign, not significant
    one = {k: v.copy() for k, v in base.items()}
    one["s1"].loc[0, "pred"] = one["s1"].loc[0, "gold"]
    small = scorecard.paired_bootstrap(base, one, "WA", CLASSES, n_boot=300)
    assert small["diff"] > 0 and small["p"] > 0.05
    assert scorecard.verdict(+1, small["diff"], small["p"]) == "same direction, not significant"
    assert scorecard.verdict(-1, small["diff"], small["p"]) == "opposite direction, not significant"
    assert scorecard.verdict(+1, math.nan, math.nan) == "not run"


def test_paired_bootstrap_refuses_different_test_sets() -> None:
    a = {"s1": fold(["neu", "hap"], ["neu", "hap"])}
    b = {"s1": fold(["neu", "hap"], ["neu", "hap"], prefix="x")}
    with pytest.raises(ValueError, match="different utterances"):
        scorecard.paired_bootstrap(a, b, "UA", CLASSES, n_boot=10)


def test_paired_fold_test() -> None:
    base = {"s1": 0.5, "s2": 0.6, "s3": 0.55, "s4": 0.52, "s5": 0.58}
    better = {
        k: v + d for (k, v), d in zip(base.items(), (0.1, 0.12, 0.09, 0.11, 0.1), strict=True)
    }
    assert scorecard.paired_fold_test(base, better) < 0.001
    assert math.isnan(scorecard.paired_fold_test({"s1": 0.5}, {"s1": 0.6}))
    # the same difference on every fold: no spread, the t statistic is undefined
    shifted = {k: v + 0.1 for k, v in base.items()}
    assert math.isnan(scorecard.paired_fold_test(base, shifted))
    assert scorecard.paired_fold_test(base, dict(base)) == 1.0


def test_within_std_uses_fold_std_or_the_bootstrap_std() -> None:
    keys = "paper table row experiment status metric folds ours_mean ours_std paper_value diff"
    rows = [
        # |diff| 0.02 <= std 0.03: within
        ("p", 1, "r1", "a", SCORED, "UA", 5, 0.70, 0.03, 0.72, -0.02),
        # |diff| 0.05 > std 0.03: not within
        ("p", 1, "r2", "b", SCORED, "UA", 5, 0.70, 0.03, 0.75, -0.05),
        # one fold: the bootstrap std 0.06 decides
        ("p", 2, "r3", "c", SCORED, "WA", 1, 0.50, math.nan, 0.55, -0.05),
        # not run, or no paper number: not compared
        ("p", 2, "r4", "d", "not run: x", "WA", 0, math.nan, math.nan, 0.5, math.nan),
        ("p", 2, "r5", "e", SCORED, "WA", 5, 0.5, 0.1, math.nan, math.nan),
    ]
    tables = pd.DataFrame([dict(zip(keys.split(), r, strict=True)) for r in rows])
    cells = scorecard.cell_table(tables, {("c", "WA"): 0.06})
    assert cells["experiment"].tolist() == ["a", "b", "c"]
    assert cells["within_std"].tolist() == [True, False, True]
    assert cells["std_from"].tolist() == ["folds", "folds", "bootstrap"]
    summary = scorecard.summary(cells, tables)
    columns = ["rows", "rows_scored", "rows_within_std", "cells_compared", "cells_within_std"]
    assert summary[columns].values.tolist() == [[2, 2, 1, 2, 1], [3, 2, 1, 1, 1]]
    md = scorecard.to_markdown(summary, cells, pd.DataFrame(columns=["comparison"]))
    assert "**2 of 3** rows" in md and "**2 of 3** cells" in md
    # the largest gap first
    gaps = md.split("### Largest gaps")[1].splitlines()
    assert [line.split(" | ")[3] for line in gaps if line.startswith("| p ")] == ["b", "c", "a"]


def test_bundled_comparisons_are_valid_and_follow_the_papers(matrix: dict) -> None:
    comparisons = scorecard.load_comparisons(MATRIX_DIR / "comparisons.yaml", matrix)
    assert len(comparisons) >= 10
    ids = {c["id"] for c in comparisons}
    for needed in ("gao2025-asr-auxiliary", "gao2025-tgf-vs-concat", "gao2025-two-stage-tgf"):
        assert needed in ids
    assert {c["paper"] for c in comparisons} == {"gao2024", "gao2025", "wang2023", "alqurashi2024"}
    tgf = next(c for c in comparisons if c["id"] == "gao2025-tgf-vs-concat")
    assert tgf["direction"] == 1 and tgf["paper_diff"] == pytest.approx(0.7962 - 0.7725)
    # alqurashi2024 §III-C: the text model raises neutral precision; overall accuracy
    # "did not exhibit an increase", so no comparison may claim a UA gain for it
    text_model = [c for c in comparisons if c["paper"] == "alqurashi2024"]
    assert text_model and {c["metric"] for c in text_model} == {"precision_neutral"}


def test_bad_comparisons_are_named(tmp_path: Path, matrix: dict) -> None:
    path = tmp_path / "c.yaml"
    cases = {
        "gao2025-nope": "not in the matrix",
        "gao2025-exp30": "differ in corpus or split",
    }
    for treatment, message in cases.items():
        path.write_text(
            "comparisons:\n  - {id: x, paper: gao2025, claim: c, baseline: gao2025-exp01,"
            f" treatment: {treatment}, metric: UA}}\n"
        )
        with pytest.raises(scorecard.ComparisonError, match=message):
            scorecard.load_comparisons(path, matrix)
    path.write_text(
        "comparisons:\n  - {id: x, paper: gao2025, claim: c, baseline: gao2025-exp01,"
        " treatment: gao2025-exp02, metric: UA, expected: lower}\n"
    )
    with pytest.raises(scorecard.ComparisonError, match=r"comparisons\[0\].*contradicts"):
        scorecard.load_comparisons(path, matrix)


def test_effects_table_marks_comparisons_not_run(matrix: dict) -> None:
    comparisons = scorecard.load_comparisons(MATRIX_DIR / "comparisons.yaml", matrix)[:1]
    empty = pd.DataFrame(columns=["experiment", "fold", "metric", "value"])
    effects = scorecard.effects_table(comparisons, empty, {}, {})
    assert effects["verdict"].tolist() == ["not run"]
    assert "not scored" in effects["note"].iloc[0]
