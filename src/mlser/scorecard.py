"""The reproduction scorecard: how close our numbers come to the papers', across tables.

* Per cell (row x metric) with a paper number and a score of ours: is |ours - paper| within
  our standard deviation? The std is over folds where there are several (IEMOCAP LOSO);
  for a single test split (MELD) it is the bootstrap std over test utterances.
* The largest gaps.
* The papers' headline comparisons (config/experiments/comparisons.yaml): does our
  difference treatment - baseline go the paper's way? Tested by a paired t-test over folds
  (where there are >= 2) and a paired bootstrap over test utterances, resampled within
  each fold, of the mean-over-folds metric difference.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlser.paper_tables import CLASS_CODES, SCORED, per_class_metric

#: Metrics of a whole prediction set that a comparison or a bootstrap std can use; the
#: per-class ``precision_<class>`` / ``recall_<class>`` of the papers' tables (class as
#: in ``CLASS_CODES``: neutral, happy, angry, sad) can be used too (``is_bootstrap_metric``).
BOOTSTRAP_METRICS: tuple[str, ...] = ("UA", "WA", "WF1")
COMPARISON_KEYS = {"id", "paper", "claim", "baseline", "treatment", "metric", "expected"}
#: Two-sided significance level of the headline tests.
ALPHA = 0.05


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
        out.append({**c, "paper_diff": paper_diff, "direction": direction})
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
    counts): UA, WA, WF1 or a class's precision / recall as in mlser.metrics, vectorised
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
        # the class, as mlser.metrics' precision does
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
    return {fold: _codes(p, classes) for fold, p in predictions.items()}


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
    per_fold = []
    for gold, pred in _fold_arrays(predictions, classes).values():
        w = rng.multinomial(len(gold), np.full(len(gold), 1 / len(gold)), size=n_boot)
        per_fold.append(weighted_metric(gold, pred, w.astype(float), metric, classes))
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
    rng = np.random.default_rng(seed)
    folds = sorted(set(baseline) & set(treatment))
    if not folds:
        raise ValueError("no fold is scored for both systems")
    observed, diffs = [], []
    for fold in folds:
        b = baseline[fold].set_index("utt_id")
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
        w = rng.multinomial(len(gb), np.full(len(gb), 1 / len(gb)), size=n_boot).astype(float)
        diffs.append(
            weighted_metric(gt, pt, w, metric, classes)
            - weighted_metric(gb, pb, w, metric, classes)
        )
    d = np.mean(diffs, axis=0)
    p = min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))
    low, high = np.quantile(d, [0.025, 0.975])
    return {"diff": float(np.mean(observed)), "ci_low": float(low), "ci_high": float(high), "p": p}


def group_predictions(
    paths: Sequence[str | os.PathLike[str]],
) -> dict[str, dict[str, pd.DataFrame]]:
    """``{experiment: {fold: predictions}}`` from results/{corpus}/experiments/{exp}/{fold}/
    predictions.tsv paths."""
    from mlser.figures.predictions import read_predictions

    out: dict[str, dict[str, pd.DataFrame]] = {}
    for path in paths:
        fold_dir = os.path.dirname(os.fspath(path))
        exp_id, fold = os.path.basename(os.path.dirname(fold_dir)), os.path.basename(fold_dir)
        out.setdefault(exp_id, {})[fold] = read_predictions([path])
    return out


def bootstrap_stds(
    tables: pd.DataFrame,
    predictions: dict[str, dict[str, pd.DataFrame]],
    classes_of: dict[str, Sequence[str]],
    n_boot: int = 1000,
) -> dict[tuple[str, str], float]:
    """Bootstrap std over test utterances of the one-fold cells (experiment, metric)
    that have a paper number, for the metrics computable from predictions."""
    cells = tables[
        (tables["status"] == SCORED)
        & (tables["folds"] == 1)
        & tables["paper_value"].notna()
        & tables["metric"].map(is_bootstrap_metric)
    ]
    out = {}
    for exp_id, metric in set(zip(cells["experiment"], cells["metric"], strict=True)):
        if exp_id in predictions:
            dist = bootstrap_metric(predictions[exp_id], metric, classes_of[exp_id], n_boot)
            out[(exp_id, metric)] = float(np.std(dist, ddof=1))
    return out


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


def cell_table(tables: pd.DataFrame, boot_std: dict[tuple[str, str], float]) -> pd.DataFrame:
    """Every (row, metric) cell scored by us with a paper number, with the std used and
    whether the paper's number lies within it. ``boot_std`` fills the std of one-fold
    rows, keyed (experiment, metric)."""
    cells = tables[(tables["status"] == SCORED) & tables["paper_value"].notna()].copy()
    cells = cells[cells["ours_mean"].notna()]
    std = []
    for r in cells.itertuples(index=False):
        if r.folds > 1:
            std.append((r.ours_std, "folds"))
        else:
            value = boot_std.get((r.experiment, r.metric), math.nan)
            std.append((value, "bootstrap" if not math.isnan(value) else "none"))
    cells["std"] = [s for s, _ in std]
    cells["std_from"] = [k for _, k in std]
    cells["within_std"] = (cells["diff"].abs() <= cells["std"]) & cells["std"].notna()
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
) -> pd.DataFrame:
    """One line per headline comparison: paper's and our difference, fold-paired p,
    bootstrap interval and p, and the verdict. ``predictions[exp][fold]``;
    ``classes_of[exp]`` the label set of the experiment's corpus."""
    rows = []
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
            continue
        per_fold = {}
        for key in ("baseline", "treatment"):
            s = fold_scores[
                (fold_scores["experiment"] == c[key]) & (fold_scores["metric"] == c["metric"])
            ]
            per_fold[key] = dict(zip(s["fold"], s["value"], strict=True))
        boot = paired_bootstrap(base, treat, c["metric"], classes_of[c["baseline"]], n_boot=n_boot)
        p_folds = paired_fold_test(per_fold["baseline"], per_fold["treatment"])
        rows.append(
            {
                **line,
                "ours_diff": boot["diff"],
                "folds": len(set(base) & set(treat)),
                "p_folds": p_folds,
                "ci_low": boot["ci_low"],
                "ci_high": boot["ci_high"],
                "p_bootstrap": boot["p"],
                "verdict": verdict(c["direction"], boot["diff"], boot["p"]),
                "note": "",
            }
        )
    return pd.DataFrame(rows)


def _pct(x: float, sign: bool = False) -> str:
    if x is None or math.isnan(x):
        return "–"
    return f"{100 * x:+.2f}" if sign else f"{100 * x:.2f}"


def _p(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.3f}"


def to_markdown(
    summ: pd.DataFrame, cells: pd.DataFrame, effects: pd.DataFrame, top: int = 10
) -> str:
    """The scorecard as Markdown: totals, per table, largest gaps, headline effects."""
    n, k = len(cells), int(cells["within_std"].sum()) if len(cells) else 0
    rows = cells.groupby(["paper", "table", "experiment"])["within_std"].all() if n else []
    out = [
        "## Reproduction scorecard",
        "",
        f"**{int(sum(rows))} of {len(rows)}** rows we scored lie within our std of the paper's "
        f"numbers on every metric, **{k} of {n}** cells (row × metric) (std over folds; "
        "bootstrap std over test utterances for one test split).",
        "",
        "| paper | table | rows | rows scored | rows within std | cells compared "
        "| cells within std |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summ.itertuples(index=False):
        out.append(
            f"| {r.paper} | {r.table} | {r.rows} | {r.rows_scored} | {r.rows_within_std} "
            f"| {r.cells_compared} | {r.cells_within_std} |"
        )
    out += ["", f"### Largest gaps (top {top}, percentage points)", ""]
    out += ["| paper | table | row | experiment | metric | ours | paper | diff | std |"]
    out += ["|---|---:|---|---|---|---:|---:|---:|---:|"]
    if len(cells):
        gaps = cells.reindex(cells["diff"].abs().sort_values(ascending=False).index).head(top)
        for r in gaps.itertuples(index=False):
            out.append(
                f"| {r.paper} | {r.table} | {r.row} | {r.experiment} | {r.metric} "
                f"| {_pct(r.ours_mean)} | {_pct(r.paper_value)} | {_pct(r.diff, True)} "
                f"| {_pct(r.std)} |"
            )
    out += [
        "",
        "### Headline comparisons (treatment − baseline)",
        "",
        f"Verdict: *reproduced* = our difference has the paper's sign and the paired "
        f"bootstrap over test utterances gives p < {ALPHA}; p (folds) is a paired t-test "
        "over folds.",
        "",
        "| comparison | claim | metric | paper diff | our diff | 95% CI | p (folds) "
        "| p (bootstrap) | verdict |",
        "|---|---|---|---:|---:|---|---:|---:|---|",
    ]
    for r in effects.itertuples(index=False):
        ci = "–" if math.isnan(r.ci_low) else f"[{_pct(r.ci_low, True)}, {_pct(r.ci_high, True)}]"
        paper_diff = _pct(r.paper_diff, True) if not math.isnan(r.paper_diff) else r.expected
        out.append(
            f"| {r.comparison} | {r.claim} | {r.metric} | {paper_diff} | "
            f"{_pct(r.ours_diff, True)} | {ci} | {_p(r.p_folds)} | {_p(r.p_bootstrap)} "
            f"| {r.verdict}{' (' + r.note + ')' if r.note else ''} |"
        )
    return "\n".join(out) + "\n"
