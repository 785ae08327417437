"""What moved between two finished runs of the pipeline (issue #21's before/after tables).

Reads each run's ``results/{corpus}/experiments/{exp}/{fold}/metrics.json`` and
``predictions.tsv``, keeps the (experiment, fold) runs that both scored, and prints:

(a) per row and metric (UA, WA, WF1, WER; percent), the mean over those folds before
    and after, and the change;
(b) the scorecard's comparisons (``config/experiments/comparisons.yaml``) whose two rows
    both runs scored, recomputed with *this* checkout's code on each run's files: our
    difference and the verdict before and after.

One code base scores both runs, so a change in the scorecard's own rules cannot pass
for a change in the models: only the runs' predictions and metrics differ. A run may be
partial (e.g. only the rows a fix touches rerun at the old commit); rows and folds
scored by one run only are counted and left out.

Usage::

    python benchmarks/compare_runs.py /path/to/before /path/to/after
    python benchmarks/compare_runs.py BEFORE AFTER --out-rows rows.csv --out-verdicts v.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
METRICS = ("UA", "WA", "WF1", "WER")


class Run(NamedTuple):
    """One run's scored (experiment, fold)s: fold scores and predictions.tsv paths."""

    scores: pd.DataFrame
    predictions: list[Path]


def scored_runs(root: Path) -> dict[tuple[str, str], Path]:
    """``{(experiment, fold): metrics.json}`` of every scored run (metrics and
    predictions both written) under ``root/results``."""
    out = {}
    for path in sorted(root.glob("results/*/experiments/*/*/metrics.json")):
        if (path.parent / "predictions.tsv").is_file():
            out[(path.parent.parent.name, path.parent.name)] = path
    return out


def load_runs(runs: dict[tuple[str, str], Path], keys: list[tuple[str, str]]) -> Run:
    """``keys``' fold scores (``mlser.report.paper_tables.load_scores``: experiment, fold,
    metric, value as a fraction) and their predictions.tsv paths."""
    from mlser.report.paper_tables import load_scores

    paths = [runs[k] for k in keys]
    return Run(load_scores(paths, list(METRICS)), [p.parent / "predictions.tsv" for p in paths])


def row_changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per (experiment, metric): folds, mean before, mean after, change (after - before),
    in percent, over the folds scored in both (``Run.scores`` frames)."""
    merged = before.merge(after, on=["experiment", "fold", "metric"], suffixes=("_b", "_a"))
    table = merged.groupby(["experiment", "metric"], sort=True).agg(
        folds=("fold", "nunique"), before=("value_b", "mean"), after=("value_a", "mean")
    )
    table[["before", "after"]] *= 100.0
    table["change"] = table["after"] - table["before"]
    return table.reset_index()


def verdict_changes(
    before: Run, after: Run, matrix_dir: Path, *, n_boot: int = 2000, margin: float = 0.01
) -> pd.DataFrame:
    """The comparisons whose two rows both runs scored, before and after: our difference,
    verdict and equivalence verdict (``mlser.report.scorecard.effects_table``)."""
    from mlser.data.labels import classes_for
    from mlser.experiments import load_matrix
    from mlser.report import scorecard

    matrix = load_matrix(matrix_dir)
    scored = set(before.scores["experiment"]) & set(after.scores["experiment"])
    comparisons = [
        c
        for c in scorecard.load_comparisons(matrix_dir / "comparisons.yaml", matrix)
        if c["baseline"] in scored and c["treatment"] in scored
    ]
    columns = ["comparison", "metric", "paper_diff", "ours_diff", "verdict", "equivalence"]
    if not comparisons:
        return pd.DataFrame(columns=columns)
    classes_of = {i: classes_for(e["corpus"]) for i, e in matrix.items()}
    effects = [
        scorecard.effects_table(
            comparisons,
            run.scores,
            scorecard.group_predictions(run.predictions),
            classes_of,
            n_boot=n_boot,
            margin=margin,
        )[columns]
        for run in (before, after)
    ]
    both = effects[0].merge(
        effects[1].drop(columns="paper_diff"), on=["comparison", "metric"], suffixes=("_b", "_a")
    )
    both["moved"] = both["verdict_b"] != both["verdict_a"]
    return both


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before", type=Path, help="working directory of the first run")
    p.add_argument("after", type=Path, help="working directory of the second run")
    p.add_argument("--matrix", type=Path, default=REPO / "config" / "experiments")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--margin", type=float, default=0.01, help="equivalence margin (0.01 = 1 point)")
    p.add_argument("--out-rows", type=Path, help="write the row table as CSV")
    p.add_argument("--out-verdicts", type=Path, help="write the verdict table as CSV")
    args = p.parse_args(argv)
    before, after = scored_runs(args.before), scored_runs(args.after)
    keys = sorted(set(before) & set(after))
    print(
        f"scored runs: {len(before)} before, {len(after)} after, {len(keys)} in both"
        f" ({len(set(before) - set(after))} before only, {len(set(after) - set(before))}"
        " after only)"
    )
    runs = load_runs(before, keys), load_runs(after, keys)
    rows = row_changes(runs[0].scores, runs[1].scores)
    verdicts = verdict_changes(*runs, args.matrix, n_boot=args.n_boot, margin=args.margin)
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(rows.round(1).to_string(index=False))
        if len(verdicts):
            print(verdicts.round(3).to_string(index=False))
            print(f"verdicts moved: {int(verdicts['moved'].sum())} of {len(verdicts)}")
    for path, table in ((args.out_rows, rows), (args.out_verdicts, verdicts)):
        if path is not None:
            table.to_csv(path, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
