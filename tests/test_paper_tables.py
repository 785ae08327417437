"""The papers' tables: values from hand-made predictions, rows not run, output shapes."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from mlser.cli import main
from mlser.evaluation.scoring import metrics_from_predictions
from mlser.experiments import load_matrix
from mlser.report import paper_tables

REPO = Path(__file__).resolve().parents[1]
MATRIX_DIR = REPO / "config" / "experiments"

# gao2025 Table 1 row 1 (Exp-1) on two folds, by hand:
#   s1: gold neu neu hap hap, pred neu hap hap hap -> recall neu 1/2, hap 1 -> UA 0.75, WA 0.75
#   s2: gold ang sad sad sad, pred sad sad sad sad -> recall ang 0, sad 1  -> UA 0.50, WA 0.75
# mean UA 0.625, std (ddof 1) 0.25 / sqrt(2); paper 0.7032 -> diff -0.0782
FOLDS = {
    "s1": (["neu", "neu", "hap", "hap"], ["neu", "hap", "hap", "hap"]),
    "s2": (["ang", "sad", "sad", "sad"], ["sad", "sad", "sad", "sad"]),
}


def write_fold(root: Path, exp_id: str, fold: str, gold: list[str], pred: list[str]) -> Path:
    folder = root / "results" / "iemocap" / "experiments" / exp_id / fold
    folder.mkdir(parents=True)
    frame = pd.DataFrame(
        {"utt_id": [f"{fold}_{i}" for i in range(len(gold))], "gold": gold, "pred": pred}
    )
    frame.to_csv(folder / "predictions.tsv", sep="\t", index=False)
    scores = metrics_from_predictions(frame)
    scores.update(experiment=exp_id, fold=fold)
    (folder / "metrics.json").write_text(json.dumps(scores))
    return folder / "metrics.json"


@pytest.fixture(scope="module")
def matrix() -> dict:
    return load_matrix(MATRIX_DIR)


@pytest.fixture()
def table1(tmp_path: Path) -> tuple[Path, list[Path]]:
    paths = [write_fold(tmp_path, "gao2025-exp01", f, *FOLDS[f]) for f in FOLDS]
    out = tmp_path / "t1"
    main(
        [
            "paper-table",
            "--matrix",
            str(MATRIX_DIR),
            "--paper",
            "gao2025",
            "--table",
            "1",
            "--metrics",
            *map(str, paths),
            *(f"--out-{k}={out}.{k}" for k in ("csv", "md", "tex", "html")),
        ]
    )
    return out, paths


def test_mean_std_and_diff_from_hand_made_predictions(table1: tuple[Path, list[Path]]) -> None:
    out, _ = table1
    table = pd.read_csv(f"{out}.csv")
    ua = table[(table["experiment"] == "gao2025-exp01") & (table["metric"] == "UA")].iloc[0]
    assert ua["folds"] == 2
    assert ua["ours_mean"] == pytest.approx(0.625)
    assert ua["ours_std"] == pytest.approx(0.25 / math.sqrt(2))
    assert ua["paper_value"] == pytest.approx(0.7032)
    assert ua["diff"] == pytest.approx(0.625 - 0.7032)
    wa = table[(table["experiment"] == "gao2025-exp01") & (table["metric"] == "WA")].iloc[0]
    assert (wa["ours_mean"], wa["ours_std"]) == (pytest.approx(0.75), pytest.approx(0.0))
    md = Path(f"{out}.md").read_text()
    row = "| 1 | gao2025-exp01 | HuBERT, SER only (speech input) | 62.50 ± 17.68 | 70.32 | -7.82 |"
    assert row in md


def test_rows_not_run_stay_with_the_reason(table1: tuple[Path, list[Path]]) -> None:
    out, _ = table1
    table = pd.read_csv(f"{out}.csv")
    # every printed row of Table 1 (4 rows x 5 metrics), in the paper's order
    assert table["row"].astype(str).drop_duplicates().tolist() == ["1", "2", "3", "4"]
    assert len(table) == 4 * 5
    status = dict(zip(table["experiment"], table["status"], strict=False))
    assert status["gao2025-exp01"] == paper_tables.SCORED
    assert status["gao2025-exp02"] == "not run: not selected in this config"
    exp02 = table[(table["experiment"] == "gao2025-exp02") & (table["metric"] == "UA")].iloc[0]
    assert math.isnan(exp02["ours_mean"]) and exp02["paper_value"] == pytest.approx(0.7528)
    assert "not run: not selected in this config" in Path(f"{out}.md").read_text()


def test_external_and_unsupported_rows_say_why(matrix: dict, monkeypatch) -> None:
    spec = next(
        s
        for s in paper_tables.paper_table_specs(matrix, paper_tables.load_tables(MATRIX_DIR))
        if (s["paper"], s["number"]) == ("gao2024", 1)
    )
    # a row the training cannot run: the reason the matrix check gives, word for word
    monkeypatch.setattr(
        paper_tables,
        "unsupported_reason",
        lambda e: "tasks ['x'] are not wired" if e["id"] == "gao2024-t1-exp02" else None,
    )
    table = paper_tables.build_table(spec, matrix, paper_tables.load_scores([], spec["metrics"]))
    status = dict(zip(table["experiment"], table["status"], strict=False))
    assert status["gao2024-t1-exp03"] == paper_tables.PUBLISHED
    assert status["gao2024-t1-exp02"] == "not run: tasks ['x'] are not wired"
    assert status["gao2024-t1-exp01"] == "not run: not selected in this config"


def _unescaped_ampersands(line: str) -> int:
    return len(re.findall(r"(?<!\\)&", line))


def test_latex_is_booktabs_with_one_column_group_per_metric(
    table1: tuple[Path, list[Path]],
) -> None:
    out, _ = table1
    tex = Path(f"{out}.tex").read_text()
    for command in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{ll" + "rrr" * 5):
        assert command in tex
    rows = [line for line in tex.splitlines() if line.endswith(r"\\") and "multicolumn" not in line]
    # header + 4 data rows, each with 2 + 3 x 5 cells
    assert len(rows) == 5
    assert {_unescaped_ampersands(line) for line in rows} == {2 + 3 * 5 - 1}
    assert r"62.50 $\pm$ 17.68" in tex and "$-$7.82" in tex
    assert "±" not in tex.split(r"\begin{tabular}")[1]  # pdflatex-safe cells


def test_markdown_rows_have_the_header_width(table1: tuple[Path, list[Path]]) -> None:
    out, _ = table1
    lines = [line for line in Path(f"{out}.md").read_text().splitlines() if line.startswith("|")]
    widths = {len(re.split(r"(?<!\\)\|", line)) for line in lines}
    assert len(lines) == 2 + 4 and len(widths) == 1
    html = Path(f"{out}.html").read_text()
    assert html.count("<tr>") == 5 and "gao2025 Table 1" in html


def test_per_class_metrics_read_from_the_recall_dict() -> None:
    scores = {"recall": {"neu": 0.5, "ang": 0.25}, "precision_sad": 0.9, "UA": 0.4}
    assert paper_tables.metric_value(scores, "recall_neutral") == 0.5
    assert paper_tables.metric_value(scores, "recall_angry") == 0.25
    assert paper_tables.metric_value(scores, "precision_sad") == 0.9
    assert paper_tables.metric_value(scores, "precision_happy") is None
    assert paper_tables.metric_value(scores, "WER") is None


def test_bad_metrics_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "metrics.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"metrics\.json"):
        paper_tables.load_scores([bad], ["UA"])


def test_every_results_table_of_the_matrix_is_built(matrix: dict) -> None:
    specs = paper_tables.paper_table_specs(matrix, paper_tables.load_tables(MATRIX_DIR))
    got = {(s["paper"], s["number"]) for s in specs}
    assert got == {
        *(("gao2024", n) for n in (1, 2, 3)),
        *(("gao2025", n) for n in range(1, 9)),
        *(("wang2023", n) for n in (1, 2, 3)),
        *(("alqurashi2024", n) for n in (2, 3)),
    }
    assert {s["corpus"] for s in specs if s["paper"] == "gao2025" and s["number"] >= 7} == {"meld"}
