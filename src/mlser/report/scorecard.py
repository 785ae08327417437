"""The reproduction scorecard: how close our numbers come to the papers', across tables.

* Per cell (row x metric) with a paper number and a score of ours: is |ours - paper| within
  our standard deviation? The std is over folds where there are several (IEMOCAP LOSO);
  for a single test split (MELD) it is the bootstrap std over test utterances.
* The largest gaps.
* The papers' headline comparisons (config/experiments/comparisons.yaml): does our
  difference treatment - baseline go the paper's way? Tested by a paired t-test over folds
  (where there are >= 2) and a paired bootstrap over test utterances, resampled within
  each fold, of the mean-over-folds metric difference.

Equivalence with the paper (TOST) and Holm. For a paper number p, a margin m
(``--equivalence-margin``, from the config's ``scorecard.equivalence_margin``) and our
mean mu, two one-sided tests at level 0.05 test H0: mu <= p - m and H0: mu >= p + m; the
cell reads "reproduced within ±m" when both reject, "differs" when instead the ordinary
two-sided test of mu = p rejects, else "cannot tell at this n". With >= 3 folds these are
one-sample t-tests over the per-fold values (df = folds - 1); with fewer (MELD's official
split) the bootstrap over test utterances decides: a one-sided p is the share of
resamples at or beyond its bound, the two-sided p twice the smaller share on either side
of p, as in the paired bootstrap. Cells test our number against the paper's; comparisons
test our difference treatment - baseline against the paper's (the per-fold differences,
or the paired bootstrap). The comparisons marked ``headline`` (what a paper's abstract or
conclusion claims) are Holm-corrected per paper on the verdict's bootstrap p: the i-th
smallest of k p-values times k - i + 1, a running maximum; a claim survives when that is
< 0.05, and a claim not tested stays in k with p = 1.

With several seeds (config ``seeds``, :mod:`mlser.data.runs`) the runs of a fold (one per
seed) share its test set, so they are not independent samples of it: two rows pair by
(seed, fold), each fold's value is the mean over its seeds before a t-test, the std and
the choice between t-test and bootstrap count folds, not runs (the tables are counted
over folds where they are built: :func:`mlser.data.runs.over_folds`), and the bootstrap
resamples a fold's utterances once for all of its seeds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlser.data.runs import seed_means, split_run
from mlser.report.paper_tables import CLASS_CODES, SCORED, per_class_metric

#: Metrics of a whole prediction set that a comparison or a bootstrap std can use; the
#: per-class ``precision_<class>`` / ``recall_<class>`` of the papers' tables (class as
#: in ``CLASS_CODES``: neutral, happy, angry, sad) can be used too (``is_bootstrap_metric``).
BOOTSTRAP_METRICS: tuple[str, ...] = ("UA", "WA", "WF1")
COMPARISON_KEYS = {
    "id",
    "paper",
    "claim",
    "baseline",
    "treatment",
    "metric",
    "expected",
    "headline",
}
#: Two-sided significance level of the headline tests, the level of each one-sided test of
#: the equivalence test and of Holm's correction.
ALPHA = 0.05
#: Fewest folds for the equivalence test's t-test over folds; below, the bootstrap.
MIN_T_FOLDS = 3
#: The equivalence verdicts other than "reproduced within ±m" (``within_label``).
DIFFERS = "differs"
CANNOT_TELL = "cannot tell at this n"
#: No paper number to test against, or no fold values / predictions to test with.
NOT_TESTED = "not tested"
WITHIN = "reproduced within"


class ComparisonError(ValueError):
    """A comparisons file entry that cannot be used; the message names it."""


def is_bootstrap_metric(metric: str) -> bool:
    """Whether ``metric`` can be computed from predictions (and so bootstrapped)."""
    return metric in BOOTSTRAP_METRICS or per_class_metric(metric) is not None


def load_comparisons(
    path: str | os.PathLike[str], matrix: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The headline comparisons, checked against the matrix; each gets ``direction``
    (+1: the paper finds treatment > baseline, -1: lower)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or not isinstance(data.get("comparisons"), list):
        raise ComparisonError(f"{path}: needs a top-level 'comparisons' list")
    out, seen = [], set()
    for n, c in enumerate(data["comparisons"]):
        where = f"{path}: comparisons[{n}]"
        unknown = set(c) - COMPARISON_KEYS
        missing = {"id", "paper", "claim", "baseline", "treatment", "metric"} - set(c)
        if unknown or missing:
            raise ComparisonError(
                f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
            )
        if c["id"] in seen:
            raise ComparisonError(f"{where}: id {c['id']!r} appears twice")
        seen.add(c["id"])
        if not is_bootstrap_metric(c["metric"]):
            raise ComparisonError(
                f"{where}: metric {c['metric']!r} is neither one of {BOOTSTRAP_METRICS} nor"
                f" precision_<class> / recall_<class> with a class of {sorted(CLASS_CODES)}"
            )
        for key in ("baseline", "treatment"):
            if c[key] not in matrix:
                raise ComparisonError(f"{where}: {key} {c[key]!r} is not in the matrix")
        base, treat = matrix[c["baseline"]], matrix[c["treatment"]]
        if (base["corpus"], base.get("split")) != (treat["corpus"], treat.get("split")):
            raise ComparisonError(f"{where}: baseline and treatment differ in corpus or split")
        pb = base.get("paper_results", {}).get(c["metric"])
        pt = treat.get("paper_results", {}).get(c["metric"])
        paper_diff = None if pb is None or pt is None else pt - pb
        expected = c.get("expected")
        if expected not in (None, "higher", "lower"):
            raise ComparisonError(f"{where}: expected must be 'higher' or 'lower'")
        if paper_diff is None and expected is None:
            raise ComparisonError(f"{where}: the paper prints no numbers; give `expected`")
        direction = (1 if expected == "higher" else -1) if expected else int(np.sign(paper_diff))
        if paper_diff is not None and direction != int(np.sign(paper_diff)):
            raise ComparisonError(f"{where}: expected {expected!r} contradicts the paper's numbers")
        if not isinstance(c.get("headline", False), bool):
            raise ComparisonError(f"{where}: headline must be true or false")
        out.append(
            {
                **c,
                "headline": c.get("headline", False),
                "paper_diff": paper_diff,
                "direction": direction,
            }
        )
    return out


# ---------------------------------------------------------------- bootstrap


def _codes(pred: pd.DataFrame, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    index = {c: i for i, c in enumerate(classes)}
    return (
        pred["gold"].map(index).to_numpy(dtype=int),
        pred["pred"].map(index).to_numpy(dtype=int),
    )


def weighted_metric(
    gold: np.ndarray, pred: np.ndarray, weights: np.ndarray, metric: str, classes: Sequence[str]
) -> np.ndarray:
    """``metric`` of one prediction set under each row of ``weights`` ``(B, n)`` (bootstrap
    counts): UA, WA, WF1 or a class's precision / recall as in mlser.evaluation.metrics, vectorised
    over B. ``gold`` and ``pred`` index ``classes``. Shape ``(B,)``."""
    n_classes = len(classes)
    correct = (gold == pred).astype(float)
    total = weights.sum(axis=1)
    per_class = per_class_metric(metric)
    if per_class is not None:
        kind, code = per_class
        if code not in classes:
            raise ValueError(f"metric {metric!r}: {code!r} is not one of the classes {classes}")
        c = list(classes).index(code)
        hits = weights @ ((gold == c) & (pred == c))
        denom = weights @ (pred == c if kind == "precision" else gold == c)
        # 0 where the resample holds no prediction (precision) or no utterance (recall) of
        # the class, as mlser.evaluation.metrics' precision does
        return np.divide(hits, denom, out=np.zeros_like(hits, dtype=float), where=denom > 0)
    if metric == "WA":
        return weights @ correct / total
    support = np.stack([weights @ (gold == c) for c in range(n_classes)], axis=1)
    hits = np.stack([weights @ ((gold == c) * correct) for c in range(n_classes)], axis=1)
    present = support > 0
    if metric == "UA":  # mean recall over the gold classes present in the sample
        recall = np.divide(hits, support, out=np.zeros_like(hits), where=present)
        return recall.sum(axis=1) / present.sum(axis=1)
    if metric != "WF1":
        raise ValueError(f"metric {metric!r} cannot be computed from predictions")
    predicted = np.stack([weights @ (pred == c) for c in range(n_classes)], axis=1)
    denom = predicted + support
    f1 = np.divide(2 * hits, denom, out=np.zeros_like(hits), where=denom > 0)
    return (f1 * support).sum(axis=1) / total


def _fold_arrays(
    predictions: dict[str, pd.DataFrame], classes: Sequence[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Gold and predicted codes per run, in utterance order (the seeds of a fold line up)."""
    return {
        run: _codes(p.sort_values("utt_id", kind="stable"), classes)
        for run, p in predictions.items()
    }


def _fold_weights(
    weights: dict[str, np.ndarray], run: str, n: int, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """The bootstrap weights ``(n_boot, n)`` of ``run``'s fold: drawn for its first run,
    reused by the fold's other seeds, which share its test set."""
    fold = split_run(run)[0]
    if fold not in weights:
        weights[fold] = rng.multinomial(n, np.full(n, 1 / n), size=n_boot).astype(float)
    if weights[fold].shape[1] != n:
        raise ValueError(f"run {run}: {n} test utterances, another seed of fold {fold} has "
                         f"{weights[fold].shape[1]}")  # fmt: skip
    return weights[fold]


def bootstrap_metric(
    predictions: dict[str, pd.DataFrame],
    metric: str,
    classes: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Bootstrap distribution ``(n_boot,)`` of the mean over folds of ``metric``,
    resampling utterances within each fold."""
    rng = np.random.default_rng(seed)
    per_fold, weights = [], {}
    for run, (gold, pred) in _fold_arrays(predictions, classes).items():
        w = _fold_weights(weights, run, len(gold), n_boot, rng)
        per_fold.append(weighted_metric(gold, pred, w, metric, classes))
    return np.mean(per_fold, axis=0)


def paired_bootstrap(
    baseline: dict[str, pd.DataFrame],
    treatment: dict[str, pd.DataFrame],
    metric: str,
    classes: Sequence[str],
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Paired bootstrap of treatment - baseline (mean over common folds): the same
    resampled utterances score both systems. Returns the observed difference, the 95%
    interval and the two-sided p-value (twice the smaller tail share at 0)."""
    return _paired_bootstrap(baseline, treatment, metric, classes, n_boot, seed)[0]


def _paired_bootstrap(
    baseline: dict[str, pd.DataFrame],
    treatment: dict[str, pd.DataFrame],
    metric: str,
    classes: Sequence[str],
    n_boot: int,
    seed: int,
) -> tuple[dict[str, float], np.ndarray]:
    rng = np.random.default_rng(seed)
    folds = sorted(set(baseline) & set(treatment))
    if not folds:
        raise ValueError("no fold is scored for both systems")
    observed, diffs, weights = [], [], {}
    for fold in folds:
        b = baseline[fold].set_index("utt_id").sort_index(kind="stable")
        t = treatment[fold].set_index("utt_id")
        if set(b.index) != set(t.index):
            raise ValueError(f"fold {fold}: the two systems were scored on different utterances")
        t = t.loc[b.index]
        if not (b["gold"] == t["gold"]).all():
            raise ValueError(f"fold {fold}: the gold labels of the two systems differ")
        gb, pb = _codes(b.reset_index(), classes)
        gt, pt = _codes(t.reset_index(), classes)
        ones = np.ones((1, len(gb)))
        observed.append(
            weighted_metric(gt, pt, ones, metric, classes)[0]
            - weighted_metric(gb, pb, ones, metric, classes)[0]
        )
        w = _fold_weights(weights, fold, len(gb), n_boot, rng)
        diffs.append(
            weighted_metric(gt, pt, w, metric, classes)
            - weighted_metric(gb, pb, w, metric, classes)
        )
    d = np.mean(diffs, axis=0)
    p = min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))
    low, high = np.quantile(d, [0.025, 0.975])
    summary = {"diff": float(np.mean(observed)), "ci_low": float(low), "ci_high": float(high)}
    return {**summary, "p": p}, d


def group_predictions(
    paths: Sequence[str | os.PathLike[str]],
) -> dict[str, dict[str, pd.DataFrame]]:
    """``{experiment: {fold: predictions}}`` from results/{corpus}/experiments/{exp}/{fold}/
    predictions.tsv paths."""
    from mlser.report.figures.predictions import read_predictions

    out: dict[str, dict[str, pd.DataFrame]] = {}
    for path in paths:
        fold_dir = os.path.dirname(os.fspath(path))
        exp_id, fold = os.path.basename(os.path.dirname(fold_dir)), os.path.basename(fold_dir)
        out.setdefault(exp_id, {})[fold] = read_predictions([path])
    return out


def bootstrap_distributions(
    tables: pd.DataFrame,
    predictions: dict[str, dict[str, pd.DataFrame]],
    classes_of: dict[str, Sequence[str]],
    n_boot: int = 1000,
) -> dict[tuple[str, str], np.ndarray]:
    """Bootstrap distributions over test utterances of the cells (experiment, metric)
    with fewer than ``MIN_T_FOLDS`` folds that have a paper number, for the metrics
    computable from predictions: their std and equivalence test."""
    cells = tables[
        (tables["status"] == SCORED)
        & (tables["folds"] < MIN_T_FOLDS)
        & tables["paper_value"].notna()
        & tables["metric"].map(is_bootstrap_metric)
    ]
    out = {}
    for exp_id, metric in sorted(set(zip(cells["experiment"], cells["metric"], strict=True))):
        if exp_id in predictions:
            dist = bootstrap_metric(predictions[exp_id], metric, classes_of[exp_id], n_boot)
            out[(exp_id, metric)] = dist
    return out


def bootstrap_stds(
    tables: pd.DataFrame,
    predictions: dict[str, dict[str, pd.DataFrame]],
    classes_of: dict[str, Sequence[str]],
    n_boot: int = 1000,
    dists: dict[tuple[str, str], np.ndarray] | None = None,
) -> dict[tuple[str, str], float]:
    """Bootstrap std over test utterances of the one-fold cells (experiment, metric)
    that have a paper number, for the metrics computable from predictions (from
    ``dists`` of ``bootstrap_distributions`` where given)."""
    if dists is None:
        dists = bootstrap_distributions(tables, predictions, classes_of, n_boot)
    one_fold = tables[tables["folds"] == 1]
    keys = set(zip(one_fold["experiment"], one_fold["metric"], strict=True))
    return {k: float(np.std(d, ddof=1)) for k, d in dists.items() if k in keys}


def paired_fold_test(baseline: dict[str, float], treatment: dict[str, float]) -> float:
    """Two-sided paired t-test p-value over the common folds (NaN with fewer than 2, and
    where every fold shows the same difference: the t statistic is then undefined)."""
    from scipy import stats

    folds = sorted(set(baseline) & set(treatment))
    if len(folds) < 2:
        return math.nan
    b = np.array([baseline[f] for f in folds])
    t = np.array([treatment[f] for f in folds])
    if np.allclose(t - b, (t - b)[0]):
        return 1.0 if (t - b)[0] == 0 else math.nan
    return float(stats.ttest_rel(t, b).pvalue)


def tost_t(mean: float, sd: float, n: int, target: float, margin: float) -> dict[str, float]:
    """Equivalence test of a mean over ``n`` folds (std ``sd``, ddof=1) with ``target``:
    the t statistics against target - margin (``t_lower``), target + margin (``t_upper``)
    and target (``t``), df = n - 1; ``p_equiv`` the larger of the two one-sided p-values
    (H0: mean <= target - margin, H0: mean >= target + margin), ``p_vs_target`` the
    two-sided p of mean = target. All NaN with under 2 folds or no spread (t undefined)."""
    from scipy import stats

    keys = ("t_lower", "t_upper", "t", "p_equiv", "p_vs_target")
    if n < 2 or not sd > 0:
        return dict.fromkeys(keys, math.nan)
    se, df = sd / math.sqrt(n), n - 1
    t_lower = (mean - (target - margin)) / se
    t_upper = (mean - (target + margin)) / se
    t = (mean - target) / se
    p_equiv = max(stats.t.sf(t_lower, df), stats.t.cdf(t_upper, df))
    p_vs_target = 2 * stats.t.sf(abs(t), df)
    return dict(zip(keys, map(float, (t_lower, t_upper, t, p_equiv, p_vs_target)), strict=True))


def tost_folds(values: Sequence[float], target: float, margin: float) -> dict[str, float]:
    """``tost_t`` on per-fold values."""
    v = np.asarray(values, dtype=float)
    sd = float(v.std(ddof=1)) if len(v) > 1 else math.nan
    return tost_t(float(v.mean()), sd, len(v), target, margin)


def tost_bootstrap(dist: np.ndarray, target: float, margin: float) -> dict[str, float]:
    """Equivalence test from a bootstrap distribution: ``p_equiv`` the larger of the
    shares of resamples at or below target - margin and at or above target + margin,
    ``p_vs_target`` twice the smaller share on either side of target (as
    ``paired_bootstrap``'s p at 0)."""
    d = np.asarray(dist, dtype=float)
    p_equiv = max(np.mean(d <= target - margin), np.mean(d >= target + margin))
    p_vs_target = min(1.0, 2 * min(np.mean(d <= target), np.mean(d >= target)))
    return {"p_equiv": float(p_equiv), "p_vs_target": float(p_vs_target)}


def within_label(margin: float) -> str:
    """The equivalence verdict "reproduced within ±m", m in percentage points."""
    return f"{WITHIN} ±{100 * margin:g}"


def equivalence_verdict(p_equiv: float, p_vs_target: float, margin: float) -> str:
    """The equivalence verdict: "reproduced within ±m" when both one-sided tests reject
    (p_equiv < ALPHA), "differs" when instead the two-sided test rejects, else "cannot
    tell at this n" (a NaN p rejects nothing)."""
    if p_equiv < ALPHA:
        return within_label(margin)
    return DIFFERS if p_vs_target < ALPHA else CANNOT_TELL


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input order: the i-th smallest of the
    k p-values times k - i + 1, a running maximum over i, capped at 1; a hypothesis
    survives at ALPHA when its adjusted p is below it. A NaN (not tested) counts as
    p = 1: it stays in k, so an untested claim never eases the others' bar."""
    p = np.nan_to_num(np.asarray(pvalues, dtype=float), nan=1.0)
    order = np.argsort(p, kind="stable")
    steps = (len(p) - np.arange(len(p))) * p[order]
    out = np.empty(len(p))
    out[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return out


def verdict(direction: int, diff: float, p: float) -> str:
    """The decision on one headline comparison from our difference and its p-value."""
    if math.isnan(diff):
        return "not run"
    if diff == 0:
        return "no difference"
    same = np.sign(diff) == direction
    significant = p < ALPHA
    if same:
        return "reproduced" if significant else "same direction, not significant"
    return "reversed" if significant else "opposite direction, not significant"


# ---------------------------------------------------------------- the scorecard


def _equivalence_columns(tests: list[tuple[str, dict[str, float]]], margin: float) -> dict:
    """Columns of the equivalence tests (test name, p-values) of a table's lines."""
    return {
        "equiv_margin": [margin] * len(tests),
        "equiv_test": [name for name, _ in tests],
        "p_equiv": [r.get("p_equiv", math.nan) for _, r in tests],
        "p_vs_paper": [r.get("p_vs_target", math.nan) for _, r in tests],
        "equivalence": [
            NOT_TESTED
            if name == "none"
            else equivalence_verdict(r["p_equiv"], r["p_vs_target"], margin)
            for name, r in tests
        ],
    }


def cell_table(
    tables: pd.DataFrame,
    boot_std: dict[tuple[str, str], float],
    *,
    margin: float,
    boot_dist: dict[tuple[str, str], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Every (row, metric) cell scored by us with a paper number, with the std used and
    whether the paper's number lies within it, and the equivalence test with the paper's
    number at ``margin`` (t over folds with >= ``MIN_T_FOLDS`` folds, else the bootstrap
    distribution in ``boot_dist``). ``boot_std`` fills the std of one-fold rows; both
    are keyed (experiment, metric)."""
    boot_dist = boot_dist or {}
    cells = tables[(tables["status"] == SCORED) & tables["paper_value"].notna()].copy()
    cells = cells[cells["ours_mean"].notna()]
    std, tests = [], []
    for r in cells.itertuples(index=False):
        if r.folds > 1:
            std.append((r.ours_std, "folds"))
        else:
            value = boot_std.get((r.experiment, r.metric), math.nan)
            std.append((value, "bootstrap" if not math.isnan(value) else "none"))
        if r.folds >= MIN_T_FOLDS:
            tests.append(
                ("t over folds", tost_t(r.ours_mean, r.ours_std, r.folds, r.paper_value, margin))
            )
        elif (r.experiment, r.metric) in boot_dist:
            dist = boot_dist[(r.experiment, r.metric)]
            tests.append(("bootstrap", tost_bootstrap(dist, r.paper_value, margin)))
        else:
            tests.append(("none", {}))
    cells["std"] = [s for s, _ in std]
    cells["std_from"] = [k for _, k in std]
    cells["within_std"] = (cells["diff"].abs() <= cells["std"]) & cells["std"].notna()
    for key, values in _equivalence_columns(tests, margin).items():
        cells[key] = values
    return cells.reset_index(drop=True)


def summary(cells: pd.DataFrame, tables: pd.DataFrame) -> pd.DataFrame:
    """Per paper table: rows, rows scored, cells compared, cells within std."""
    rows = []
    for (paper, number), group in tables.groupby(["paper", "table"], sort=False):
        mine = cells[(cells["paper"] == paper) & (cells["table"] == number)]
        status = group.drop_duplicates("experiment")["status"]
        rows.append(
            {
                "paper": paper,
                "table": int(number),
                "rows": len(status),
                "rows_scored": int((status == SCORED).sum()),
                "cells_compared": len(mine),
                "cells_within_std": int(mine["within_std"].sum()),
                # the equivalence tests' verdicts (TOST at the margin)
                "cells_equivalent": int(mine["equivalence"].str.startswith(WITHIN).sum()),
                "cells_differ": int((mine["equivalence"] == DIFFERS).sum()),
                # rows whose every compared metric is within std
                "rows_within_std": int(mine.groupby("experiment")["within_std"].all().sum()),
            }
        )
    return pd.DataFrame(rows)


def effects_table(
    comparisons: list[dict[str, Any]],
    fold_scores: pd.DataFrame,
    predictions: dict[str, dict[str, pd.DataFrame]],
    classes_of: dict[str, Sequence[str]],
    n_boot: int = 2000,
    *,
    margin: float,
) -> pd.DataFrame:
    """One line per comparison: paper's and our difference, fold-paired p, bootstrap
    interval and p, the verdict, the equivalence test of our difference with the paper's
    at ``margin`` (t over the fold differences with >= ``MIN_T_FOLDS`` folds, else the
    paired bootstrap), and for the headline ones the Holm-adjusted p and whether the
    claim survives it. ``predictions[exp][fold]``; ``classes_of[exp]`` the label set of
    the experiment's corpus."""
    rows, tests = [], []
    for c in comparisons:
        line = {
            "comparison": c["id"],
            "paper": c["paper"],
            "claim": c["claim"],
            "baseline": c["baseline"],
            "treatment": c["treatment"],
            "metric": c["metric"],
            "paper_diff": math.nan if c["paper_diff"] is None else c["paper_diff"],
            "expected": "higher" if c["direction"] > 0 else "lower",
            "headline": c.get("headline", False),
        }
        base, treat = predictions.get(c["baseline"]), predictions.get(c["treatment"])
        if not base or not treat:
            missing = [k for k, v in (("baseline", base), ("treatment", treat)) if not v]
            rows.append(
                {
                    **line,
                    "ours_diff": math.nan,
                    "folds": 0,
                    "p_folds": math.nan,
                    "ci_low": math.nan,
                    "ci_high": math.nan,
                    "p_bootstrap": math.nan,
                    "verdict": "not run",
                    "note": f"{' and '.join(missing)} not scored in this run",
                }
            )
            tests.append(("none", {}))
            continue
        per_fold = {}
        for key in ("baseline", "treatment"):
            s = fold_scores[
                (fold_scores["experiment"] == c[key]) & (fold_scores["metric"] == c["metric"])
            ]
            per_fold[key] = seed_means(dict(zip(s["fold"], s["value"], strict=True)))
        boot, dist = _paired_bootstrap(
            base, treat, c["metric"], classes_of[c["baseline"]], n_boot=n_boot, seed=0
        )
        p_folds = paired_fold_test(per_fold["baseline"], per_fold["treatment"])
        common = sorted(set(per_fold["baseline"]) & set(per_fold["treatment"]))
        if c["paper_diff"] is None:  # the paper prints no numbers: nothing to be within
            tests.append(("none", {}))
        elif len(common) >= MIN_T_FOLDS:
            fold_diffs = [per_fold["treatment"][f] - per_fold["baseline"][f] for f in common]
            tests.append(("t over folds", tost_folds(fold_diffs, c["paper_diff"], margin)))
        else:
            tests.append(("bootstrap", tost_bootstrap(dist, c["paper_diff"], margin)))
        rows.append(
            {
                **line,
                "ours_diff": boot["diff"],
                "folds": len({split_run(r)[0] for r in set(base) & set(treat)}),
                "p_folds": p_folds,
                "ci_low": boot["ci_low"],
                "ci_high": boot["ci_high"],
                "p_bootstrap": boot["p"],
                "verdict": verdict(c["direction"], boot["diff"], boot["p"]),
                "note": "",
            }
        )
    effects = pd.DataFrame(rows)
    for key, values in _equivalence_columns(tests, margin).items():
        effects[key] = values
    return _with_holm(effects)


def _with_holm(effects: pd.DataFrame) -> pd.DataFrame:
    """``p_holm`` and ``holm`` ("survives" / "does not survive" at ALPHA, "not run",
    "not headline"): Holm over each paper's headline comparisons, on the verdict's p."""
    effects = effects.copy()
    effects["p_holm"] = math.nan
    effects["holm"] = "not headline"
    if effects.empty:
        return effects
    for _, group in effects[effects["headline"].astype(bool)].groupby("paper", sort=False):
        adjusted = holm(group["p_bootstrap"].to_numpy(dtype=float))
        tested = group["p_bootstrap"].notna().to_numpy()
        effects.loc[group.index, "p_holm"] = np.where(tested, adjusted, math.nan)
        effects.loc[group.index, "holm"] = [
            ("survives" if a < ALPHA else "does not survive") if t else "not run"
            for a, t in zip(adjusted, tested, strict=True)
        ]
    return effects


def _pct(x: float, sign: bool = False) -> str:
    if x is None or math.isnan(x):
        return "–"
    return f"{100 * x:+.2f}" if sign else f"{100 * x:.2f}"


def _p(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.3f}"


def to_markdown(
    summ: pd.DataFrame,
    cells: pd.DataFrame,
    effects: pd.DataFrame,
    top: int = 10,
    *,
    margin: float,
) -> str:
    """The scorecard as Markdown: totals, per table, largest gaps, headline effects, with
    the equivalence tests at ``margin`` and Holm's correction."""
    n, k = len(cells), int(cells["within_std"].sum()) if len(cells) else 0
    rows = cells.groupby(["paper", "table", "experiment"])["within_std"].all() if n else []
    pm = f"±{100 * margin:g}"
    verdicts = cells["equivalence"].value_counts() if n else pd.Series(dtype=int)
    n_within = int(verdicts[verdicts.index.str.startswith(WITHIN)].sum()) if n else 0
    out = [
        "## Reproduction scorecard",
        "",
        f"**{int(sum(rows))} of {len(rows)}** rows we scored lie within our std of the paper's "
        f"numbers on every metric, **{k} of {n}** cells (row × metric) (std over folds; "
        "bootstrap std over test utterances for one test split).",
        "",
        f"Equivalence with the paper's number (TOST, margin {pm} percentage points, each one-sided "
        f"test at {ALPHA}): **{n_within}** cells *{within_label(margin)}*, "
        f"**{int(verdicts.get(DIFFERS, 0))}** *{DIFFERS}* (our number differs significantly "
        f"and is not shown within {pm}), **{int(verdicts.get(CANNOT_TELL, 0))}** "
        f"*{CANNOT_TELL}*, **{int(verdicts.get(NOT_TESTED, 0))}** {NOT_TESTED} (one split "
        f"without predictions, or a metric not computable from them). t-test over folds with "
        f">= {MIN_T_FOLDS} folds, else the bootstrap over test utterances.",
        "",
        "| paper | table | rows | rows scored | rows within std | cells compared "
        f"| cells within std | cells within {pm} | cells differ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summ.itertuples(index=False):
        out.append(
            f"| {r.paper} | {r.table} | {r.rows} | {r.rows_scored} | {r.rows_within_std} "
            f"| {r.cells_compared} | {r.cells_within_std} | {r.cells_equivalent} "
            f"| {r.cells_differ} |"
        )
    cell_header = [
        f"| paper | table | row | experiment | metric | ours | paper | diff | std | TOST {pm} |",
        "|---|---:|---|---|---|---:|---:|---:|---:|---|",
    ]
    out += ["", f"### Largest gaps (top {top}, percentage points)", "", *cell_header]
    if len(cells):
        gaps = cells.reindex(cells["diff"].abs().sort_values(ascending=False).index).head(top)
        out += [_cell_line(r) for r in gaps.itertuples(index=False)]
    out += [
        "",
        "### Headline comparisons (treatment − baseline)",
        "",
        f"Verdict: *reproduced* = our difference has the paper's sign and the paired "
        f"bootstrap over test utterances gives p < {ALPHA}; p (folds) is a paired t-test "
        f"over folds. TOST {pm}: is our difference within {pm} percentage points of the paper's "
        "(t-test over the fold differences, or the paired bootstrap for one split)? "
        "Holm: the bootstrap p adjusted over the paper's headline claims (*); "
        f"*survives* = adjusted p < {ALPHA}.",
        "",
        "| comparison | claim | metric | paper diff | our diff | 95% CI | p (folds) "
        f"| p (bootstrap) | verdict | TOST {pm} | p (Holm) | Holm |",
        "|---|---|---|---:|---:|---|---:|---:|---|---|---:|---|",
    ]
    for r in effects.itertuples(index=False):
        ci = "–" if math.isnan(r.ci_low) else f"[{_pct(r.ci_low, True)}, {_pct(r.ci_high, True)}]"
        paper_diff = _pct(r.paper_diff, True) if not math.isnan(r.paper_diff) else r.expected
        headline = " (*)" if r.headline else ""
        out.append(
            f"| {r.comparison}{headline} | {r.claim} | {r.metric} | {paper_diff} | "
            f"{_pct(r.ours_diff, True)} | {ci} | {_p(r.p_folds)} | {_p(r.p_bootstrap)} "
            f"| {r.verdict}{' (' + r.note + ')' if r.note else ''} | {r.equivalence} "
            f"| {_p(r.p_holm)} | {'–' if r.holm == 'not headline' else r.holm} |"
        )
    out += ["", f"### Every cell: ours beside the paper's number (TOST {pm})", "", *cell_header]
    out += [_cell_line(r) for r in cells.itertuples(index=False)]
    return "\n".join(out) + "\n"


def _cell_line(r: Any) -> str:
    """One scorecard cell (a row of :func:`cell_table`) as a Markdown table line."""
    return (
        f"| {r.paper} | {r.table} | {r.row} | {r.experiment} | {r.metric} "
        f"| {_pct(r.ours_mean)} | {_pct(r.paper_value)} | {_pct(r.diff, True)} "
        f"| {_pct(r.std)} | {r.equivalence} |"
    )
