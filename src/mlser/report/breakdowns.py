"""Per-fold and per-class breakdowns of every experiment scored on one corpus: the
numbers behind a mean ± std (per-session UA on IEMOCAP) and the per-class recalls.

A run is a fold under a seed (``s1_seed2``: :mod:`mlser.data.runs`); the table keeps one
line per run, with its fold and seed apart, and the Markdown gives one column per fold,
the mean over that fold's seeds, so that three seeds do not read as fifteen folds."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import pandas as pd

from mlser.data.runs import over_folds, run_name, split_run
from mlser.report.figures.style import emotion_order

METRICS: tuple[str, ...] = ("UA", "WA", "WF1")


def fold_table(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """One line per (experiment, run): its fold and seed, n, UA, WA, WF1 and
    ``recall_<class>`` per class."""
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            scores = json.load(f)
        fold, seed = split_run(str(scores["fold"]))
        row = {"experiment": scores["experiment"], "fold": fold, "seed": seed, "n": scores["n"]}
        row.update({m: scores.get(m) for m in METRICS})
        row.update({f"recall_{c}": v for c, v in (scores.get("recall") or {}).items()})
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    classes = emotion_order([c[len("recall_") :] for c in table if c.startswith("recall_")])
    columns = ["experiment", "fold", "seed", "n", *METRICS, *(f"recall_{c}" for c in classes)]
    return table[columns].sort_values(["experiment", "fold", "seed"]).reset_index(drop=True)


def _pct(x: float) -> str:
    return "" if pd.isna(x) else f"{100 * x:.1f}"


def to_markdown(table: pd.DataFrame, corpus: str) -> str:
    """Two tables: the headline metric per fold (+ mean, std) and the mean per-class
    recall per experiment."""
    if table.empty:
        return f"## {corpus}\n\nNo experiment was scored on {corpus}.\n"
    metric = "UA" if corpus == "iemocap" else "WF1"
    folds = sorted(table["fold"].unique())
    seeds = table["seed"].nunique()
    per = f", each the mean of its {seeds} seeds" if seeds > 1 else ""
    out = [f"## {corpus}: {metric} per fold (%){per}", ""]
    out.append("| experiment | " + " | ".join(folds) + " | mean | std |")
    out.append("|---|" + "---:|" * (len(folds) + 2))
    for exp_id, group in table.groupby("experiment"):
        by_fold = group.groupby("fold")[metric].mean().to_dict()
        # mean and std over folds (over seeds for one fold), as the paper tables give them
        runs = zip(group["fold"], group["seed"], group[metric].astype(float), strict=True)
        mean, std, _ = over_folds({run_name(f, int(s)): v for f, s, v in runs})
        cells = [_pct(by_fold.get(f)) for f in folds]
        out.append(f"| {exp_id} | " + " | ".join([*cells, _pct(mean), _pct(std)]) + " |")
    recalls = [c for c in table if c.startswith("recall_")]
    out += ["", f"## {corpus}: recall per class (%), mean over runs", ""]
    out.append("| experiment | " + " | ".join(c[len("recall_") :] for c in recalls) + " |")
    out.append("|---|" + "---:|" * len(recalls))
    for exp_id, group in table.groupby("experiment"):
        out.append(f"| {exp_id} | " + " | ".join(_pct(group[c].mean()) for c in recalls) + " |")
    return "\n".join(out) + "\n"
