"""The reproduction scorecard's decisions on hand-made cases."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlser.data.runs import over_folds, seed_means
from mlser.evaluation import metrics
from mlser.experiments import load_matrix
from mlser.report import scorecard
from mlser.report.paper_tables import SCORED

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
    # nothing predicted angry: precision 0, as mlser.evaluation.metrics has it
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
    cells = scorecard.cell_table(tables, {("c", "WA"): 0.06}, margin=0.01)
    assert cells["experiment"].tolist() == ["a", "b", "c"]
    assert cells["within_std"].tolist() == [True, False, True]
    assert cells["std_from"].tolist() == ["folds", "folds", "bootstrap"]
    # a: t = -0.02 / (0.03 / sqrt 5) = -1.49, two-sided p 0.21, and 0.70 is not shown above
    # 0.71: cannot tell; b: t = -3.73, p 0.02: differs; c: one fold and no distribution
    assert cells["equiv_test"].tolist() == ["t over folds", "t over folds", "none"]
    assert cells["equivalence"].tolist() == [
        scorecard.CANNOT_TELL,
        scorecard.DIFFERS,
        scorecard.NOT_TESTED,
    ]
    summary = scorecard.summary(cells, tables)
    columns = ["rows", "rows_scored", "rows_within_std", "cells_compared", "cells_within_std"]
    assert summary[columns].values.tolist() == [[2, 2, 1, 2, 1], [3, 2, 1, 1, 1]]
    assert summary["cells_differ"].tolist() == [1, 0]
    md = scorecard.to_markdown(summary, cells, pd.DataFrame(columns=["comparison"]), margin=0.01)
    assert "**2 of 3** rows" in md and "**2 of 3** cells" in md
    assert "**0** cells *reproduced within ±1*, **1** *differs*" in md
    # the largest gap first
    gaps = md.split("### Largest gaps")[1].split("###")[0].splitlines()
    assert [line.split(" | ")[3] for line in gaps if line.startswith("| p ")] == ["b", "c", "a"]
    # every cell, with its TOST verdict beside the paper's number (not only the top gaps)
    every = md.split("### Every cell")[1].splitlines()
    verdicts = [line.split(" | ")[-1].rstrip(" |") for line in every if line.startswith("| p ")]
    assert verdicts == cells["equivalence"].tolist()


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
    effects = scorecard.effects_table(comparisons, empty, {}, {}, margin=0.01)
    assert effects["verdict"].tolist() == ["not run"]
    assert "not scored" in effects["note"].iloc[0]
    assert effects["equivalence"].tolist() == [scorecard.NOT_TESTED]


# ---------------------------------------------------------------- equivalence and Holm
# t-tests over 5 folds: df = 4, one-sided critical value t(0.95, 4) = 2.132, two-sided
# t(0.975, 4) = 2.776. Paper number p = 0.70, margin m = 0.01: bounds 0.69 and 0.71.


def test_tost_over_folds_within() -> None:
    # mean 0.700; deviations -2, +2, 0, -1, +1 (x 1e-3): sum of squares 10e-6,
    # s^2 = 10e-6 / 4 = 2.5e-6, s = 1.5811e-3, se = s / sqrt(5) = 7.0711e-4
    # t_lower = (0.700 - 0.69) / se = +14.142 > 2.132: mu <= 0.69 rejected
    # t_upper = (0.700 - 0.71) / se = -14.142 < -2.132: mu >= 0.71 rejected
    r = scorecard.tost_folds([0.698, 0.702, 0.700, 0.699, 0.701], 0.70, 0.01)
    assert r["t_lower"] == pytest.approx(14.142, abs=1e-3)
    assert r["t_upper"] == pytest.approx(-14.142, abs=1e-3)
    assert r["t"] == pytest.approx(0.0, abs=1e-9) and r["p_vs_target"] == pytest.approx(1.0)
    assert r["p_equiv"] < 0.001
    verdict = scorecard.equivalence_verdict(r["p_equiv"], r["p_vs_target"], 0.01)
    assert verdict == "reproduced within ±1"


def test_tost_over_folds_differs() -> None:
    # mean 0.750; deviations -10, -5, 0, +5, +10 (x 1e-3): sum of squares 250e-6,
    # s^2 = 62.5e-6, s = 7.9057e-3, se = 3.5355e-3
    # t = (0.750 - 0.70) / se = 14.142 > 2.776: differs from 0.70 (two-sided p < 0.001)
    # t_upper = (0.750 - 0.71) / se = +11.314, not < -2.132: mu >= 0.71 kept, not within
    r = scorecard.tost_folds([0.740, 0.745, 0.750, 0.755, 0.760], 0.70, 0.01)
    assert r["t"] == pytest.approx(14.142, abs=1e-3)
    assert r["t_upper"] == pytest.approx(11.314, abs=1e-3)
    assert r["p_vs_target"] < 0.001 and r["p_equiv"] > 0.99
    assert scorecard.equivalence_verdict(r["p_equiv"], r["p_vs_target"], 0.01) == "differs"


def test_tost_over_folds_cannot_tell() -> None:
    # mean 0.700; deviations -40, +20, 0, -20, +40 (x 1e-3): sum of squares 4000e-6,
    # s^2 = 1e-3, s = 0.031623, se = 0.014142
    # t = 0: no difference shown; t_lower = 0.01 / se = 0.707 < 2.132: not within either
    r = scorecard.tost_folds([0.66, 0.72, 0.70, 0.68, 0.74], 0.70, 0.01)
    assert r["t_lower"] == pytest.approx(0.7071, abs=1e-4)
    assert r["t_upper"] == pytest.approx(-0.7071, abs=1e-4)
    assert r["p_vs_target"] == pytest.approx(1.0)
    verdict = scorecard.equivalence_verdict(r["p_equiv"], r["p_vs_target"], 0.01)
    assert verdict == "cannot tell at this n"
    # the same folds at a margin of 5 points: t_lower = 0.05 / se = 3.536 > 2.132, within
    wide = scorecard.tost_folds([0.66, 0.72, 0.70, 0.68, 0.74], 0.70, 0.05)
    assert wide["t_lower"] == pytest.approx(3.5355, abs=1e-4)
    verdict = scorecard.equivalence_verdict(wide["p_equiv"], wide["p_vs_target"], 0.05)
    assert verdict == "reproduced within ±5"
    # no spread: the t statistic is undefined, nothing is decided
    flat = scorecard.tost_folds([0.7] * 5, 0.70, 0.01)
    assert math.isnan(flat["p_equiv"])
    verdict = scorecard.equivalence_verdict(flat["p_equiv"], flat["p_vs_target"], 0.01)
    assert verdict == "cannot tell at this n"


def test_tost_bootstrap_shares() -> None:
    # 100 resamples 0.69505, 0.69515, ..., 0.70495: none at or below 0.69 or at or above
    # 0.71, so both one-sided p are 0: within ±1
    dist = 0.695 + (np.arange(100) + 0.5) / 10_000
    r = scorecard.tost_bootstrap(dist, 0.70, 0.01)
    assert r["p_equiv"] == 0.0 and r["p_vs_target"] == pytest.approx(1.0)
    # shifted by +0.01 (0.70505 ... 0.71495): half at or above 0.71 (p_equiv 0.5), none
    # at or below 0.70 (two-sided p 0): differs
    r = scorecard.tost_bootstrap(dist + 0.01, 0.70, 0.01)
    assert r["p_equiv"] == pytest.approx(0.5) and r["p_vs_target"] == 0.0
    assert scorecard.equivalence_verdict(r["p_equiv"], r["p_vs_target"], 0.01) == "differs"
    # spread x10 around 0.70 (0.6505 ... 0.7495): 40 at or below 0.69, 40 at or above
    # 0.71 (p_equiv 0.4), 50 each side of 0.70 (two-sided p 1): cannot tell
    r = scorecard.tost_bootstrap(0.70 + (dist - 0.70) * 10, 0.70, 0.01)
    assert r["p_equiv"] == pytest.approx(0.4) and r["p_vs_target"] == pytest.approx(1.0)
    verdict = scorecard.equivalence_verdict(r["p_equiv"], r["p_vs_target"], 0.01)
    assert verdict == "cannot tell at this n"


def test_holm_hand_computed() -> None:
    # sorted 0.01, 0.03, 0.04 (k = 3): 3 x 0.01 = 0.03 < 0.05 rejected; 2 x 0.03 = 0.06
    # >= 0.05 stops: 0.03 and 0.04 kept (0.04 x 1 = 0.04, raised to the running max 0.06)
    adjusted = scorecard.holm([0.01, 0.04, 0.03])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06])
    assert (adjusted < scorecard.ALPHA).tolist() == [True, False, False]
    # a claim not tested stays in k as p = 1: 0.02 x 2 = 0.04 survives, not 0.02 alone
    np.testing.assert_allclose(scorecard.holm([0.02, math.nan]), [0.04, 1.0])
    np.testing.assert_allclose(scorecard.holm([0.6, 0.5]), [1.0, 1.0])  # capped at 1


def test_effects_table_tests_equivalence_and_holm_per_paper() -> None:
    gold = ["neu", "hap", "ang", "sad"] * 5
    wrong = ["hap", "ang", "sad", "neu"] * 5
    folds = ["s1", "s2", "s3", "s4", "s5"]
    # x: every prediction wrong, y: every one right (UA +1.0), z = x (no difference)
    predictions = {
        "x": {f: fold(gold, wrong, f) for f in folds},
        "y": {f: fold(gold, gold, f) for f in folds},
        "z": {f: fold(gold, wrong, f) for f in folds},
    }
    scores = [("x", f, 0.0) for f in folds] + [("z", f, 0.0) for f in folds]
    # fold differences y - x: 0.995, 1.005, 1.0, 0.99, 1.01 (mean 1.0, s = 7.9057e-3,
    # se = 3.5355e-3): against the paper's +1.0 at ±1, t_lower = 0.01 / se = 2.83 > 2.132
    scores += [("y", f, v) for f, v in zip(folds, (0.995, 1.005, 1.0, 0.99, 1.01), strict=True)]
    fold_scores = pd.DataFrame(
        [{"experiment": e, "fold": f, "metric": "UA", "value": v} for e, f, v in scores]
    )

    def comparison(cid: str, base: str, treat: str, paper_diff: float | None, headline: bool):
        return {
            "id": cid,
            "paper": "p",
            "claim": cid,
            "baseline": base,
            "treatment": treat,
            "metric": "UA",
            "paper_diff": paper_diff,
            "direction": 1,
            "headline": headline,
        }

    comparisons = [
        comparison("big", "x", "y", 1.0, True),
        comparison("none", "x", "z", 0.05, True),
        comparison("side", "x", "y", None, False),
        comparison("absent", "x", "missing", 0.02, True),
    ]
    classes = dict.fromkeys("xyz", CLASSES)
    effects = scorecard.effects_table(
        comparisons, fold_scores, predictions, classes, n_boot=200, margin=0.01
    ).set_index("comparison")
    assert effects.loc["big", "equiv_test"] == "t over folds"
    assert effects.loc["big", "equivalence"] == "reproduced within ±1"
    # z - x is 0 on every fold: no spread, cannot tell; no paper number: not tested
    assert effects.loc["none", "equivalence"] == "cannot tell at this n"
    assert effects.loc["side", "equivalence"] == "not tested"
    # Holm over the three headline claims of p: big p_bootstrap 0 -> 3 x 0 survives;
    # none p 1 -> 1; absent not run, counted in k as p = 1
    assert effects.loc["big", "p_bootstrap"] == 0.0
    assert effects.loc["big", "holm"] == "survives" and effects.loc["big", "p_holm"] == 0.0
    assert effects.loc["none", "holm"] == "does not survive"
    assert effects.loc["absent", "holm"] == "not run"
    assert effects.loc["side", "holm"] == "not headline"
    md = scorecard.to_markdown(
        scorecard.summary(scorecard.cell_table(_empty_tables(), {}, margin=0.01), _empty_tables()),
        scorecard.cell_table(_empty_tables(), {}, margin=0.01),
        effects.reset_index(),
        margin=0.01,
    )
    big = next(line for line in md.splitlines() if line.startswith("| big (*)"))
    assert big.endswith("| reproduced within ±1 | 0.000 | survives |")


def _empty_tables() -> pd.DataFrame:
    keys = "paper table row experiment status metric folds ours_mean ours_std paper_value diff"
    return pd.DataFrame(columns=keys.split())


def test_one_split_cells_use_the_bootstrap_distribution() -> None:
    keys = "paper table row experiment status metric folds ours_mean ours_std paper_value diff"
    row = ("gao2025", 7, "r", "m", SCORED, "WF1", 1, 0.70, math.nan, 0.70, 0.0)
    tables = pd.DataFrame([dict(zip(keys.split(), row, strict=True))])
    dist = 0.695 + (np.arange(100) + 0.5) / 10_000  # as in test_tost_bootstrap_shares
    cells = scorecard.cell_table(tables, {}, margin=0.01, boot_dist={("m", "WF1"): dist})
    assert cells["equiv_test"].tolist() == ["bootstrap"]
    assert cells["equivalence"].tolist() == ["reproduced within ±1"]


def test_the_margin_comes_from_the_config_through_the_rule_and_the_cli(tmp_path: Path) -> None:
    import yaml
    from snakemake.utils import validate

    from mlser.cli import build_parser, main

    # config: the schema's default and the shipped configs' value
    cfg = {"corpora": {"iemocap": {"synthesize": {}}}}
    validate(cfg, str(REPO / "config" / "schema.yaml"))
    assert cfg["scorecard"]["equivalence_margin"] == 0.01
    for name in ("config.yaml", "paper.yaml"):
        shipped = yaml.safe_load((REPO / "config" / name).read_text())
        assert shipped["scorecard"]["equivalence_margin"] == 0.01, name
    # the rule passes it as a param to the CLI
    smk = (REPO / "workflow" / "rules" / "report.smk").read_text()
    rule = smk.split("rule scorecard:")[1].split("\nrule ")[0]
    assert 'equivalence_margin=config["scorecard"]["equivalence_margin"]' in rule
    assert "--equivalence-margin {params.equivalence_margin}" in rule
    # the CLI requires it; the library takes it as an argument with no default of its own
    given = ["scorecard", "--matrix", "m", "--comparisons", "c", "--tables", "t"]
    given += [f"--out-{k}=o" for k in ("cells", "effects", "md", "html")]
    assert (
        build_parser().parse_args([*given, "--equivalence-margin", "0.02"]).equivalence_margin
        == 0.02
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(given)
    for func in (scorecard.cell_table, scorecard.effects_table, scorecard.to_markdown):
        assert inspect.signature(func).parameters["margin"].default is inspect.Parameter.empty
    # and it decides: the fold values of test_tost_over_folds_within (mean 0.700, sd
    # 1.5811e-3, se 7.0711e-4) are within ±1 point of 0.70; at ±0.1 point t_lower =
    # 0.001 / se = 1.414 < 2.132 and t = 0: cannot tell
    keys = "paper table row experiment status metric folds ours_mean ours_std paper_value diff"
    row = ("gao2025", 1, "Exp-2", "gao2025-exp02", SCORED, "UA", 5, 0.70, 1.5811e-3, 0.70, 0.0)
    pd.DataFrame([dict(zip(keys.split(), row, strict=True))]).to_csv(
        tmp_path / "t.csv", index=False
    )
    (tmp_path / "c.yaml").write_text("comparisons: []\n")
    for margin, expected in (("0.01", "reproduced within ±1"), ("0.001", "cannot tell at this n")):
        out = tmp_path / margin
        args = ["scorecard", "--matrix", str(MATRIX_DIR), "--comparisons", str(tmp_path / "c.yaml")]
        args += ["--tables", str(tmp_path / "t.csv"), "--equivalence-margin", margin]
        args += [f"--out-{k}={out}.{k}" for k in ("cells", "effects", "md", "html")]
        assert main(args) == 0
        assert pd.read_csv(f"{out}.cells")["equivalence"].tolist() == [expected]
        assert f"TOST ±{float(margin) * 100:g}" in Path(f"{out}.md").read_text()


# ---------------------------------------------------------------- seeds (#24)


def test_the_seeds_of_a_fold_are_one_sample_of_its_test_set() -> None:
    """A fold's seeds share its test set: the bootstrap resamples it once for all of them
    (two identical seeds give one seed's distribution, not a narrower one)."""
    rng = np.random.default_rng(1)
    gold = rng.choice(["neu", "hap", "ang", "sad"], 200).tolist()
    pred = [g if rng.random() < 0.6 else "neu" for g in gold]
    one = scorecard.bootstrap_metric({"s1": fold(gold, pred)}, "UA", CLASSES, n_boot=300)
    both = {"s1": fold(gold, pred), "s1_seed1": fold(gold, pred)}
    two = scorecard.bootstrap_metric(both, "UA", CLASSES, n_boot=300)
    assert np.allclose(one, two)
    diff = scorecard.paired_bootstrap(both, both, "UA", CLASSES, n_boot=50)
    assert diff["diff"] == 0


def test_tests_count_folds_not_seeds() -> None:
    """The scorecard reads the tables' folds and std, counted over folds where the
    tables are built (runs.over_folds): two folds under two seeds are two folds (bootstrap,
    not a t-test over four runs); one split under three seeds is one fold (bootstrap std)."""
    # UA by hand: s1 0.5 / 0.7 (seeds 0, 1) -> 0.6; s2 0.8 / 0.8 -> 0.8: two folds,
    # std (ddof 1) of (0.6, 0.8) = 0.1414; MELD-like one split under three seeds: one fold
    runs = {
        ("a", "UA"): {"s1": 0.5, "s1_seed1": 0.7, "s2": 0.8, "s2_seed1": 0.8},
        ("m", "WF1"): {"official": 0.4, "official_seed1": 0.5, "official_seed2": 0.6},
        ("b", "UA"): {"s1": 0.3, "s2": 0.4, "s3": 0.5},
    }
    lines = []
    for (exp_id, metric), values in runs.items():
        mean, std, folds = over_folds(values)
        lines.append({"paper": "p", "table": 1, "row": exp_id, "experiment": exp_id,
                      "status": SCORED, "metric": metric, "folds": folds, "ours_mean": mean,
                      "ours_std": std, "paper_value": 0.6, "diff": mean - 0.6})  # fmt: skip
    dist = np.full(100, 0.6)
    boot = {("a", "UA"): dist, ("m", "WF1"): dist}
    cells = scorecard.cell_table(
        pd.DataFrame(lines), {("m", "WF1"): 0.05}, margin=0.01, boot_dist=boot
    ).set_index("experiment")
    assert cells.loc["a", "folds"] == 2 and cells.loc["a", "std"] == pytest.approx(0.2 / 2**0.5)
    assert cells.loc["a", "equiv_test"] == "bootstrap"  # 2 folds < MIN_T_FOLDS, not 4 runs
    assert cells.loc["m", "folds"] == 1 and cells.loc["m", "std_from"] == "bootstrap"
    assert cells.loc["m", "std"] == 0.05
    assert cells.loc["b", "equiv_test"] == "t over folds"  # one seed: a run is a fold
    assert cells.loc["b", "std"] == pytest.approx(0.1)
    assert seed_means({"s1": 0.5, "s1_seed1": 0.7, "s2": 0.8}) == {
        "s1": pytest.approx(0.6), "s2": 0.8,
    }  # fmt: skip
