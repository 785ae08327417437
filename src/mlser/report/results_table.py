"""Our scores beside the papers': one row per (experiment, metric), mean ± std over folds
(where the config has several seeds, each fold's value is its mean over them; a split of
one fold spreads over its seeds: :func:`mlser.data.runs.over_folds`).

Rows whose model reads text carry an ``unseen_text`` block per fold (UA, WA, WF1 on the
test utterances whose transcript is unseen in training, :mod:`mlser.evaluation.scoring`); their
UA, WA and WF1 lines get that metric's mean ± std over the folds on this subset and the
subset's mean size, in columns after the others (blank for every other line, and the
mean blank where no fold had an unseen-text utterance).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlser.data.runs import over_folds, split_run

#: metrics.json keys and the matrix's paper_results keys are the same names.
METRICS: tuple[str, ...] = ("UA", "WA", "WF1", "WER", "GENDER_UA", "STYLE_UA")

#: The metrics.json block of a text row's unseen-text subset.
UNSEEN = "unseen_text"

#: The columns :func:`summarize` adds after the others, for a text row's lines.
UNSEEN_COLUMNS: tuple[str, ...] = (
    "unseen_text_mean",
    "unseen_text_std",
    "unseen_text_folds",
    "unseen_text_n_mean",
)

_LONG = ["experiment", "fold", "metric", "value", "unseen_text", "unseen_text_n"]


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def collect(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Long table ``(experiment, fold, metric, value, unseen_text, unseen_text_n)`` from
    metrics.json files: the last two the metric on the unseen-text subset and its size
    where the file has that block and the metric (NaN otherwise, and the value NaN where
    the subset is empty)."""
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            scores = json.load(f)
        unseen = scores.get(UNSEEN) or {}
        for metric in METRICS:
            if metric in scores:
                on_unseen = metric in unseen
                rows.append(
                    {
                        "experiment": scores["experiment"],
                        "fold": scores["fold"],
                        "metric": metric,
                        "value": float(scores[metric]),
                        "unseen_text": _number(unseen[metric]) if on_unseen else np.nan,
                        "unseen_text_n": float(unseen["n"]) if on_unseen else np.nan,
                    }
                )
    return pd.DataFrame(rows, columns=_LONG)


def _spread(runs: pd.Series, values: pd.Series) -> tuple[float, float, int]:
    """:func:`mlser.data.runs.over_folds` of per-run values, the std 0 for one value."""
    mean, std, folds = over_folds(dict(zip(runs.astype(str), values, strict=True)))
    return mean, 0.0 if np.isnan(std) else std, folds


def _unseen_summary(group: pd.DataFrame) -> dict[str, Any]:
    """Mean ± std (over folds as :func:`summarize`; 0 for one value) of a metric on the
    unseen-text subset over the folds where it is not empty, how many such folds, and the
    subset's mean size over all runs; all None for a line with no unseen-text block."""
    if "unseen_text_n" not in group or group["unseen_text_n"].isna().all():
        return dict.fromkeys(UNSEEN_COLUMNS)
    scored = group.dropna(subset=["unseen_text"])
    if scored.empty:
        mean, std, folds = None, None, 0
    else:
        mean, std, folds = _spread(scored["fold"], scored["unseen_text"])
    return {
        "unseen_text_mean": mean,
        "unseen_text_std": std,
        "unseen_text_folds": folds,
        "unseen_text_n_mean": float(group["unseen_text_n"].mean()),
    }


def summarize(long: pd.DataFrame, matrix: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Mean, std (ddof=1 over folds, each fold's mean over its seeds, or over the seeds
    where the split is one fold: :func:`mlser.data.runs.over_folds`; 0 for one value) and
    the paper's number per metric; ``folds`` counts the folds, ``seeds`` the seeds."""
    rows = []
    for (exp_id, metric), group in long.groupby(["experiment", "metric"], sort=False):
        e = matrix[exp_id]
        mean, std, folds = _spread(group["fold"], group["value"])
        paper = e.get("paper_results", {}).get(metric)
        rows.append(
            {
                "paper": e["paper"],
                "table": e["table"],
                "row": e["row"],
                "experiment": exp_id,
                "corpus": e["corpus"],
                "metric": metric,
                "ours_mean": mean,
                "ours_std": std,
                "folds": folds,
                "seeds": len({split_run(str(f))[1] for f in group["fold"]}),
                "paper_value": paper,
                "diff": None if paper is None else mean - float(paper),
                **_unseen_summary(group),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["unseen_text_folds"] = table["unseen_text_folds"].astype("Int64")  # blank, not NaN
    order = {p: i for i, p in enumerate(("gao2024", "gao2025", "wang2023", "alqurashi2024"))}
    table["_p"] = table["paper"].map(order)
    table["_m"] = table["metric"].map({m: i for i, m in enumerate(METRICS)})
    return table.sort_values(["_p", "table", "experiment", "_m"]).drop(columns=["_p", "_m"])


def _blank(x: Any) -> bool:
    return x is None or pd.isna(x)


def _unseen_cell(r: Any) -> str:
    """``mean ± std (n mean)`` on the unseen-text subset, ``– (n 0)`` where every fold's
    subset is empty; blank for a line without one."""
    if _blank(getattr(r, "unseen_text_n_mean", None)):
        return ""
    n = f"(n {r.unseen_text_n_mean:.1f})"
    if _blank(r.unseen_text_mean):
        return f"– {n}"
    return f"{100 * r.unseen_text_mean:.2f} ± {100 * r.unseen_text_std:.2f} {n}"


def to_markdown(table: pd.DataFrame) -> str:
    """Per paper table: row | metric | ours (mean ± std, %) | paper (%) | diff (points) |
    ours on the test utterances whose text is unseen in training (text rows)."""
    if table.empty:
        return "No experiment was scored.\n"
    out = []
    for (paper, number), group in table.groupby(["paper", "table"], sort=False):
        out += [f"### {paper} Table {number}", ""]
        out += [
            "| row | experiment | metric | ours | paper | ours − paper | ours, unseen text |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in group.itertuples(index=False):
            ours = f"{100 * r.ours_mean:.2f} ± {100 * r.ours_std:.2f}"
            paper_v = (
                ""
                if r.paper_value is None or np.isnan(r.paper_value)
                else f"{100 * r.paper_value:.2f}"
            )
            diff = "" if r.diff is None or np.isnan(r.diff) else f"{100 * r.diff:+.2f}"
            cells = [r.row, r.experiment, r.metric, ours, paper_v, diff, _unseen_cell(r)]
            out.append("| " + " | ".join(str(c) for c in cells) + " |")
        out.append("")
    return "\n".join(out)
