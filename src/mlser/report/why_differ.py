"""Why our number differs (#24): each headline row's number re-scored under the usual
confounders of SER papers, one at a time, beside the paper's.

For a row and its headline metric (UA, WA or WF1; ``config/experiments/comparisons.yaml``),
from our number, the mean over runs (folds x seeds) of the metric:

* **metric**: the other accuracy reported under a similar name (UA <-> WA; WA for WF1),
  the same runs;
* **folds pooled**: every fold's test predictions of a seed pooled into one set and
  scored once (then averaged over seeds), instead of one score per fold averaged; the
  same number for a single test split (MELD);
* **test-set epoch** (an upper bound, never our result): each run's epoch picked on the
  test set instead of the validation set, from the per-epoch test scores its training
  recorded (``test_peek``; :func:`mlser.training.loop.fit`): the run's best test score
  minus its test score at the epoch the validation set picked, averaged over runs; blank
  where the training recorded none (the LE-MER and hierarchical families). The test set
  is read as the selection reads its data (the validation text source, greedy AEC
  correction), so the bound is that gain added to our number, not a score of its own.

Each step is a difference from our number, not a running sum: the confounders are
applied one at a time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlser.data.runs import split_run
from mlser.evaluation.metrics import selection_scores
from mlser.training.loop import PEEK_PREFIX

#: The metric a headline metric is confused with.
OTHER_METRIC = {"UA": "WA", "WA": "UA", "WF1": "WA"}
COLUMNS = [
    "experiment", "metric", "runs", "ours", "other_metric", "other_metric_diff",
    "pooled_diff", "test_epoch_diff", "paper", "paper_diff",
]  # fmt: skip


class WhyDifferError(ValueError):
    """A row's files that cannot be read as a row's runs; the message names the file."""


def _run_metrics(path: Path, *metrics: str) -> list[float]:
    scores = json.loads(Path(path).read_text())
    missing = [k for k in metrics if k not in scores]
    if missing:
        raise WhyDifferError(f"{path}: no {missing}")
    return [float(scores[k]) for k in metrics]


def optimistic_gain(record: Mapping[str, Any], metric: str) -> float | None:
    """A training record's best test score over its epochs minus its test score at the
    epoch selected on the validation set; None where it recorded no test scores."""
    key = f"{PEEK_PREFIX}{metric.lower()}"
    history = record.get("history") or []
    scores = {h["epoch"]: h[key] for h in history if key in h}
    if not scores or record.get("best_epoch") not in scores:
        return None
    return max(scores.values()) - scores[record["best_epoch"]]


def row_steps(
    exp_id: str, metric: str, runs: Mapping[str, Mapping[str, Any]], paper: float | None
) -> dict[str, Any]:
    """One row's line: our number, each confounder's difference from it, the paper's.

    Args:
        runs: run name -> ``{"dir": folder of metrics.json and predictions.tsv,
            "model": the final model file (its training record beside it) or None}``.
        paper: the paper's number (a fraction), or None.
    """
    if metric not in OTHER_METRIC:
        raise WhyDifferError(f"{exp_id}: metric {metric!r} is not one of {sorted(OTHER_METRIC)}")
    other = OTHER_METRIC[metric]
    ours, alt = np.mean(
        [_run_metrics(Path(r["dir"]) / "metrics.json", metric, other) for r in runs.values()],
        axis=0,
    )
    by_seed: dict[int, list[pd.DataFrame]] = {}
    for run, r in runs.items():
        path = Path(r["dir"]) / "predictions.tsv"
        pred = pd.read_csv(path, sep="\t", keep_default_na=False, usecols=["gold", "pred"])
        by_seed.setdefault(split_run(run)[1], []).append(pred)
    pooled = np.mean(
        [
            selection_scores(p["gold"], p["pred"])[metric.lower()]
            for p in map(pd.concat, by_seed.values())
        ]
    )
    gains = []
    for r in runs.values():
        record = Path(f"{r['model']}.json") if r.get("model") else None
        gain = optimistic_gain(json.loads(record.read_text()), metric) if record else None
        gains.append(gain)
    known = [g for g in gains if g is not None]
    return {
        "experiment": exp_id,
        "metric": metric,
        "runs": len(runs),
        "ours": float(ours),
        "other_metric": other,
        "other_metric_diff": float(alt - ours),
        "pooled_diff": float(pooled - ours),
        # every run's, or none: a bound over some runs only would mix two protocols
        "test_epoch_diff": float(np.mean(known)) if known and len(known) == len(gains) else None,
        "paper": paper,
        "paper_diff": None if paper is None else float(paper - ours),
    }


def why_table(rows: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every row's line (``rows``: experiment -> ``{"metric", "paper", "runs"}``)."""
    lines = [row_steps(i, r["metric"], r["runs"], r.get("paper")) for i, r in rows.items()]
    return pd.DataFrame(lines, columns=COLUMNS)


def _points(value: Any) -> str:
    return (
        ""
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{100 * value:+.2f}")
    )


def to_markdown(table: pd.DataFrame) -> str:
    """The table a reader sees in the report (points: percentage points)."""
    lines = [
        "# Why our number differs",
        "",
        "Each headline row's number re-scored under one confounder at a time (percentage "
        "points from ours): the other accuracy; the folds' test predictions pooled "
        "instead of averaged; the epoch picked on the test set instead of the validation "
        "set, an upper bound that is never our result (blank where the training recorded "
        "no test scores).",
        "",
        "| row | metric | runs | ours | other metric | folds pooled | "
        "test-set epoch (bound) | paper − ours |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples(index=False):
        lines.append(
            f"| {r.experiment} | {r.metric} | {r.runs} | {100 * r.ours:.2f} | "
            f"{r.other_metric} {_points(r.other_metric_diff)} | {_points(r.pooled_diff)} | "
            f"{_points(r.test_epoch_diff)} | {_points(r.paper_diff)} |"
        )
    return "\n".join(lines) + "\n"


def _waterfall(ax: Any, r: Any) -> None:
    """One row's waterfall on ``ax``: our bar, each confounder's step from it (hatched:
    the upper bound), the paper's bar."""
    ours = 100 * r.ours
    steps = [
        (r.other_metric, r.other_metric_diff, ""),
        ("pooled", r.pooled_diff, ""),
        ("test epoch", r.test_epoch_diff, "//"),
    ]
    labels, x = ["ours"], 0
    ax.bar(x, ours, color="0.35", width=0.6)
    for label, diff, hatch in steps:
        x += 1
        labels.append(label)
        if diff is None or math.isnan(diff):
            ax.text(x, ours, "n/a", ha="center", va="bottom", fontsize=6)
            continue
        colour = "tab:green" if diff >= 0 else "tab:red"
        ax.bar(x, 100 * diff, bottom=ours, color=colour, width=0.6, hatch=hatch,
               edgecolor="white" if hatch else colour)  # fmt: skip
    x += 1
    labels.append("paper")
    if r.paper is not None and not math.isnan(r.paper):
        ax.bar(x, 100 * r.paper, color="0.75", width=0.6)
    ax.axhline(ours, color="0.35", lw=0.6, ls=":")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_title(f"{r.experiment} ({r.metric})")
    ax.set_ylabel(f"{r.metric} (%)")
    values = [ours] + [ours + 100 * d for _, d, _ in steps if d is not None and not math.isnan(d)]
    if r.paper is not None and not math.isnan(r.paper):
        values.append(100 * r.paper)
    low, high = min(values), max(values)
    pad = max(2.0, 0.15 * (high - low))
    ax.set_ylim(max(0.0, low - pad), min(100.0, high + pad))


def waterfall_figure(table: pd.DataFrame, stem: str | Path) -> list[Path]:
    """All rows' waterfalls in one figure, a small panel each."""
    from mlser.report.figures.style import COLUMN_WIDTH, apply_style, save_figure

    apply_style()
    import matplotlib.pyplot as plt

    n = max(len(table), 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(COLUMN_WIDTH * cols * 0.9, 2.0 * rows), squeeze=False
    )
    for ax in axes.flat[len(table) :]:
        ax.axis("off")
    for ax, r in zip(axes.flat, table.itertuples(index=False), strict=False):
        _waterfall(ax, r)
    fig.tight_layout()
    return save_figure(fig, stem)


def row_waterfalls(table: pd.DataFrame, folder: str | Path) -> list[Path]:
    """One small figure per headline row, ``folder/<row>.png`` and ``.pdf`` (the report
    lists each beside the others)."""
    from mlser.report.figures.style import COLUMN_WIDTH, apply_style, save_figure

    apply_style()
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for r in table.itertuples(index=False):
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH * 0.9, 2.2))
        _waterfall(ax, r)
        fig.tight_layout()
        written += save_figure(fig, folder / str(r.experiment))
    return written
