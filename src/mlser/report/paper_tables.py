"""The papers' tables rebuilt from our per-run scores: every printed row, our mean ± std
over its folds (each fold's value its mean over the seeds: :mod:`mlser.data.runs`), the
paper's number and the difference.

Rows this run did not score stay in the table with the reason (published result of
another paper, not wired into the training yet, not selected in this config). Written
as CSV (one line per row and metric), Markdown, LaTeX (booktabs) and HTML (the report).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from mlser.data.runs import over_folds
from mlser.experiments import PAPERS, unsupported_reason

#: Class names of the matrix's per-class metric keys -> the label codes of predictions.
CLASS_CODES: dict[str, str] = {"angry": "ang", "happy": "hap", "sad": "sad", "neutral": "neu"}
#: Columns of a table's CSV.
COLUMNS: tuple[str, ...] = (
    "paper",
    "table",
    "row_index",
    "row",
    "experiment",
    "description",
    "corpus",
    "status",
    "metric",
    "folds",
    "ours_mean",
    "ours_std",
    "paper_value",
    "diff",
)
SCORED = "scored"
PUBLISHED = "published result (not trained)"


def per_class_metric(metric: str) -> tuple[str, str] | None:
    """``("precision" | "recall", label code)`` of a ``<kind>_<class>`` metric name, else None."""
    kind, _, name = metric.partition("_")
    if kind in ("recall", "precision") and name in CLASS_CODES:
        return kind, CLASS_CODES[name]
    return None


def metric_value(scores: dict[str, Any], metric: str) -> float | None:
    """The value of a matrix metric name in one metrics.json, None where it has none.

    ``recall_<class>`` / ``precision_<class>`` read the ``recall`` / ``precision`` dicts
    (keyed by label code) or a flat key of that name.
    """
    if metric in scores and scores[metric] is not None:
        return float(scores[metric])
    per_class = per_class_metric(metric)
    if per_class is not None:
        kind, code = per_class
        value = (scores.get(kind) or {}).get(code)
        return None if value is None else float(value)
    return None


def load_scores(paths: Iterable[str | os.PathLike[str]], metrics: Sequence[str]) -> pd.DataFrame:
    """Long table ``(experiment, fold, metric, value)`` of ``metrics`` from metrics.json files."""
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            try:
                scores = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: not valid JSON ({err})") from None
        for key in ("experiment", "fold"):
            if key not in scores:
                raise ValueError(f"{path}: no {key!r} key")
        for metric in metrics:
            value = metric_value(scores, metric)
            if value is not None:
                rows.append(
                    {
                        "experiment": scores["experiment"],
                        "fold": str(scores["fold"]),
                        "metric": metric,
                        "value": value,
                    }
                )
    return pd.DataFrame(rows, columns=["experiment", "fold", "metric", "value"])


def table_spec(matrix: dict[str, dict[str, Any]], paper: str, number: int) -> dict[str, Any]:
    """The printed table ``number`` of ``paper`` (from the matrix file) with its rows in
    printed order and the corpus they are evaluated on."""
    rows = sorted(
        (e for e in matrix.values() if e["paper"] == paper and e["table"] == number),
        key=lambda e: e["row_index"],
    )
    if not rows:
        raise ValueError(f"the matrix has no rows for {paper} Table {number}")
    corpora = sorted({e["corpus"] for e in rows})
    if len(corpora) != 1:
        raise ValueError(f"{paper} Table {number} mixes corpora {corpora}")
    return {"paper": paper, "number": number, "corpus": corpora[0], "rows": [e["id"] for e in rows]}


def load_tables(directory: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    """Each paper's ``tables`` list (number, caption, metrics...) from its matrix file."""
    import yaml

    out = {}
    for paper in PAPERS:
        with open(os.path.join(directory, f"{paper}.yaml"), encoding="utf-8") as f:
            out[paper] = yaml.safe_load(f)["tables"]
    return out


def paper_table_specs(
    matrix: dict[str, dict[str, Any]], tables: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Every results/comparison table of the papers, ``tables`` being :func:`load_tables`;
    tables without rows (qualitative examples) are left out."""
    out = []
    for paper in PAPERS:
        for t in tables.get(paper, []):
            if t["kind"] == "examples":
                continue
            rows = [e for e in matrix.values() if e["paper"] == paper and e["table"] == t["number"]]
            if not rows:
                continue
            spec = table_spec(matrix, paper, t["number"])
            spec.update(caption=t["caption"], metrics=list(t["metrics"]), kind=t["kind"])
            out.append(spec)
    return out


def row_status(e: dict[str, Any], scored: bool) -> str:
    """Why a row has (or has no) numbers of ours."""
    if scored:
        return SCORED
    if e["model"]["family"] == "external":
        return PUBLISHED
    reason = unsupported_reason(e)
    return f"not run: {reason}" if reason else "not run: not selected in this config"


def build_table(
    spec: dict[str, Any], matrix: dict[str, dict[str, Any]], scores: pd.DataFrame
) -> pd.DataFrame:
    """One line per (row, metric) of the table ``spec``: mean and std (ddof=1; NaN for
    one value) over the row's folds, each fold its mean over the seeds, or over the
    seeds where the split is one fold (:func:`mlser.data.runs.over_folds`; ``folds``
    counts the folds); diff = ours - paper."""
    lines = []
    for exp_id in spec["rows"]:
        e = matrix[exp_id]
        mine = scores[scores["experiment"] == exp_id]
        for metric in spec["metrics"]:
            runs = mine[mine["metric"] == metric]
            mean, std, folds = over_folds(dict(zip(runs["fold"], runs["value"], strict=True)))
            paper = e.get("paper_results", {}).get(metric)
            lines.append(
                {
                    "paper": spec["paper"],
                    "table": spec["number"],
                    "row_index": e["row_index"],
                    "row": e["row"],
                    "experiment": exp_id,
                    "description": e["description"],
                    "corpus": e["corpus"],
                    "status": row_status(e, scored=not mine.empty),
                    "metric": metric,
                    "folds": folds,
                    "ours_mean": mean,
                    "ours_std": std,
                    "paper_value": math.nan if paper is None else float(paper),
                    "diff": mean - float(paper) if paper is not None else math.nan,
                }
            )
    return pd.DataFrame(lines, columns=list(COLUMNS))


# ---------------------------------------------------------------- rendering


def _pct(x: float, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{100 * x:+.2f}" if sign else f"{100 * x:.2f}"


def _ours(mean: float, std: float) -> str:
    if math.isnan(mean):
        return ""
    return _pct(mean) if math.isnan(std) else f"{_pct(mean)} ± {_pct(std)}"


def wide(table: pd.DataFrame) -> tuple[list[dict[str, str]], list[str]]:
    """Rows of display cells (percent) and the metric order: per metric ours, paper, Δ."""
    metrics = list(dict.fromkeys(table["metric"]))
    rows = []
    for exp_id, group in table.groupby("experiment", sort=False):
        first = group.iloc[0]
        cells = {
            "row": str(first["row"]),
            "experiment": str(exp_id),
            "description": str(first["description"]),
            "status": first["status"],
        }
        by_metric = {r.metric: r for r in group.itertuples(index=False)}
        for m in metrics:
            r = by_metric[m]
            cells[f"{m} ours"] = _ours(r.ours_mean, r.ours_std)
            cells[f"{m} paper"] = _pct(r.paper_value)
            cells[f"{m} diff"] = _pct(r.diff, sign=True)
        rows.append(cells)
    return rows, metrics


def _title(spec: dict[str, Any]) -> str:
    return f"{spec['paper']} Table {spec['number']}: {spec.get('caption', '')}".strip()


NOTE = (
    "Ours: mean ± std over folds, each fold's value its mean over the seeds (IEMOCAP "
    "leave-one-session-out: 5 folds; MELD's test split and alqurashi2024's splits are one "
    "fold, so there the ± is the spread over seeds, and none with one seed); paper: the "
    "paper's number; diff: ours − paper, in percentage points."
)


def to_markdown(table: pd.DataFrame, spec: dict[str, Any]) -> str:
    rows, metrics = wide(table)
    head = ["Row", "Experiment", "Description"]
    for m in metrics:
        head += [f"{m} ours", f"{m} paper", f"{m} diff"]
    head.append("Status")
    out = [f"### {_title(spec)}", "", NOTE, "", "| " + " | ".join(head) + " |"]
    out.append("|" + "|".join(["---"] * 3 + ["---:"] * (3 * len(metrics)) + ["---"]) + "|")
    for r in rows:
        cells = [
            r["row"].replace("|", "\\|"),
            r["experiment"],
            r["description"].replace("|", "\\|"),
        ]
        for m in metrics:
            cells += [r[f"{m} ours"], r[f"{m} paper"], r[f"{m} diff"]]
        cells.append("" if r["status"] == SCORED else r["status"])
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "−": r"$-$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(c, c) for c in text)


def _latex_metric(m: str) -> str:
    return latex_escape(m.replace("_", " "))


def to_latex(table: pd.DataFrame, spec: dict[str, Any]) -> str:
    """A booktabs table: one column group (ours, paper, Δ) per metric; rows not scored
    show the paper's numbers and a dash for ours."""
    rows, metrics = wide(table)
    lines = [
        r"% needs \usepackage{booktabs}",
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{" + latex_escape(_title(spec)) + " " + latex_escape(NOTE) + "}",
        r"\label{tab:" + f"{spec['paper']}-table{spec['number']}" + "}",
        r"\begin{tabular}{ll" + "rrr" * len(metrics) + "}",
        r"\toprule",
        " & & "
        + " & ".join(r"\multicolumn{3}{c}{" + _latex_metric(m) + "}" for m in metrics)
        + r" \\",
        "".join(rf"\cmidrule(lr){{{3 + 3 * i}-{5 + 3 * i}}}" for i in range(len(metrics))),
        "Row & Experiment & " + " & ".join(["Ours & Paper & $\\Delta$"] * len(metrics)) + r" \\",
        r"\midrule",
    ]
    for r in rows:
        cells = [latex_escape(r["row"]), latex_escape(r["experiment"])]
        for m in metrics:
            ours = r[f"{m} ours"].replace(" ± ", r" $\pm$ ") or "--"
            diff = r[f"{m} diff"].replace("-", "$-$") if r[f"{m} diff"] else ""
            cells += [ours, r[f"{m} paper"], diff]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def to_html(table: pd.DataFrame, spec: dict[str, Any]) -> str:
    """The Markdown table as a self-contained HTML page (what the Snakemake report shows)."""
    from mlser.report.html_page import markdown_page

    return markdown_page(to_markdown(table, spec), _title(spec))
