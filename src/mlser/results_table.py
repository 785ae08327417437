"""Our scores beside the papers': one row per (experiment, metric), mean ± std over folds."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: metrics.json keys and the matrix's paper_results keys are the same names.
METRICS: tuple[str, ...] = ("UA", "WA", "WF1", "WER", "GENDER_UA", "STYLE_UA")


def collect(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Long table ``(experiment, fold, metric, value)`` from metrics.json files."""
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            scores = json.load(f)
        for metric in METRICS:
            if metric in scores:
                rows.append(
                    {
                        "experiment": scores["experiment"],
                        "fold": scores["fold"],
                        "metric": metric,
                        "value": float(scores[metric]),
                    }
                )
    return pd.DataFrame(rows, columns=["experiment", "fold", "metric", "value"])


def summarize(long: pd.DataFrame, matrix: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Mean, std (ddof=1 over folds; 0 for one fold) and the paper's number per metric."""
    rows = []
    for (exp_id, metric), group in long.groupby(["experiment", "metric"], sort=False):
        e = matrix[exp_id]
        values = group["value"].to_numpy()
        paper = e.get("paper_results", {}).get(metric)
        mean = float(values.mean())
        rows.append(
            {
                "paper": e["paper"],
                "table": e["table"],
                "row": e["row"],
                "experiment": exp_id,
                "corpus": e["corpus"],
                "metric": metric,
                "ours_mean": mean,
                "ours_std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "folds": len(values),
                "paper_value": paper,
                "diff": None if paper is None else mean - float(paper),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = {p: i for i, p in enumerate(("gao2024", "gao2025", "wang2023", "alqurashi2024"))}
    table["_p"] = table["paper"].map(order)
    table["_m"] = table["metric"].map({m: i for i, m in enumerate(METRICS)})
    return table.sort_values(["_p", "table", "experiment", "_m"]).drop(columns=["_p", "_m"])


def to_markdown(table: pd.DataFrame) -> str:
    """Per paper table: row | metric | ours (mean ± std, %) | paper (%) | diff (points)."""
    if table.empty:
        return "No experiment was scored.\n"
    out = []
    for (paper, number), group in table.groupby(["paper", "table"], sort=False):
        out += [f"### {paper} Table {number}", ""]
        out += [
            "| row | experiment | metric | ours | paper | ours − paper |",
            "|---|---|---|---|---|---|",
        ]
        for r in group.itertuples(index=False):
            ours = f"{100 * r.ours_mean:.2f} ± {100 * r.ours_std:.2f}"
            paper_v = (
                ""
                if r.paper_value is None or np.isnan(r.paper_value)
                else f"{100 * r.paper_value:.2f}"
            )
            diff = "" if r.diff is None or np.isnan(r.diff) else f"{100 * r.diff:+.2f}"
            out.append(f"| {r.row} | {r.experiment} | {r.metric} | {ours} | {paper_v} | {diff} |")
        out.append("")
    return "\n".join(out)
