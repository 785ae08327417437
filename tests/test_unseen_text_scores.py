"""Rows that read text are also scored on the test utterances whose transcript is unseen
in the fold's training data (#24): an ``unseen_text`` and a ``seen_text`` block in
metrics.json, and the unseen-text mean ± std in results/tables/experiments.*. Rows that
read no text get neither."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_workflow import REPO, planned_jobs, snakemake

from mlser.cli import main
from mlser.evaluation.scoring import metrics_from_predictions, read_unseen_text
from mlser.report.results_table import UNSEEN_COLUMNS, collect, summarize, to_markdown

PRED = pd.DataFrame(
    {
        "utt_id": ["a", "b", "c", "d", "e", "f"],
        "gold": ["neu", "neu", "hap", "ang", "hap", "sad"],
        "pred": ["neu", "hap", "hap", "ang", "neu", "sad"],
    }
)
# fold s1: a, b, c unseen; d, e, f seen. Fold s2 flags a differently: only s1's count.
UNSEEN = pd.DataFrame(
    {
        "fold": ["s1"] * 6 + ["s2"],
        "utt_id": ["a", "b", "c", "d", "e", "f", "a"],
        "unseen_text": [1, 1, 1, 0, 0, 0, 0],
    }
)


@pytest.fixture
def unseen_tsv(tmp_path: Path) -> Path:
    path = tmp_path / "unseen_text.tsv"
    UNSEEN.to_csv(path, sep="\t", index=False)
    return path


def test_subset_metrics_by_hand(unseen_tsv: Path) -> None:
    scores = metrics_from_predictions(PRED, read_unseen_text(unseen_tsv, "s1"))
    # unseen a, b, c: recall neu 1/2, hap 1/1 -> UA 3/4; 2 of 3 right -> WA 2/3;
    # F1 neu = 2*1*(1/2)/(3/2) = 2/3 (support 2), hap = 2*(1/2)*1/(3/2) = 2/3 -> WF1 2/3
    unseen = scores["unseen_text"]
    assert unseen["n"] == 3
    assert unseen["UA"] == pytest.approx((1 / 2 + 1) / 2)
    assert unseen["WA"] == pytest.approx(2 / 3)
    assert unseen["WF1"] == pytest.approx(2 / 3)
    # seen d, e, f: recall ang 1, hap 0, sad 1 -> UA 2/3; WA 2/3; F1 1, 0, 1 -> WF1 2/3
    seen = scores["seen_text"]
    assert seen == {"n": 3, "UA": pytest.approx(2 / 3), "WA": pytest.approx(2 / 3),
                    "WF1": pytest.approx(2 / 3)}  # fmt: skip
    # the whole fold is scored as before
    assert scores["n"] == 6 and scores["UA"] == pytest.approx((1 / 2 + 1 / 2 + 1 + 1) / 4)
    assert "unseen_text" not in metrics_from_predictions(PRED)  # a row that reads no text


def test_a_fold_with_no_unseen_utterance_scores_none(tmp_path: Path) -> None:
    table = UNSEEN.assign(unseen_text=0)
    table.to_csv(tmp_path / "u.tsv", sep="\t", index=False)
    scores = metrics_from_predictions(PRED, read_unseen_text(tmp_path / "u.tsv", "s1"))
    assert scores["unseen_text"] == {"n": 0, "UA": None, "WA": None, "WF1": None}
    assert scores["seen_text"]["n"] == 6
    json.dumps(scores, allow_nan=False)  # null, never NaN


def test_an_utterance_missing_from_the_list_is_named(unseen_tsv: Path) -> None:
    pred = pd.concat([PRED, pd.DataFrame({"utt_id": ["z"], "gold": ["neu"], "pred": ["neu"]})])
    with pytest.raises(ValueError, match="'z'"):
        metrics_from_predictions(pred, read_unseen_text(unseen_tsv, "s1"))
    with pytest.raises(ValueError, match="s9"):
        read_unseen_text(unseen_tsv, "s9")


def test_hierarchical_row_scores_carry_the_subsets(unseen_tsv: Path) -> None:
    from mlser.training.hierarchical import row_scores

    scores = row_scores(PRED, read_unseen_text(unseen_tsv, "s1"))
    assert scores["unseen_text"]["UA"] == pytest.approx(0.75) and "precision" in scores
    assert "unseen_text" not in row_scores(PRED)


def _scores_dir(tmp_path: Path) -> Path:
    scores = tmp_path / "scores"
    scores.mkdir()
    PRED.to_csv(scores / "e1.tsv", sep="\t", index=False)
    (scores / "e1.json").write_text(json.dumps({"model": "m.pt", "text_source": "asr"}))
    return scores


@pytest.mark.parametrize("text", [True, False])
def test_experiment_predictions_scores_the_subsets_of_a_text_row_only(
    tmp_path: Path, unseen_tsv: Path, text: bool
) -> None:
    argv = ["experiment-predictions", "--scores", str(_scores_dir(tmp_path)), "--scored-as",
            "e1", "--experiment-id", "e1", "--fold", "s1", "--out-predictions",
            str(tmp_path / "p.tsv"), "--out-metrics", str(tmp_path / "m.json")]  # fmt: skip
    assert main(argv + (["--unseen-text", str(unseen_tsv)] if text else [])) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert ("unseen_text" in metrics, "seen_text" in metrics) == (text, text)
    if text:
        assert metrics["unseen_text"]["UA"] == pytest.approx(0.75)


def test_score_fusion_scores_the_subsets(tmp_path: Path, unseen_tsv: Path) -> None:
    classes = ["neu", "hap", "ang", "sad"]
    rng = np.random.default_rng(0)
    inputs = []
    for k in range(2):
        logits = pd.DataFrame(rng.normal(size=(6, 4)), columns=[f"logit_{c}" for c in classes])
        path = tmp_path / f"in{k}.tsv"
        pd.concat([PRED, logits], axis=1).to_csv(path, sep="\t", index=False)
        inputs.append(str(path))
    argv = ["lemer-score-fusion", "--corpus", "iemocap", "--inputs", *inputs,
            "--experiment-id", "f", "--fold", "s1", "--predictions", str(tmp_path / "p.tsv"),
            "--metrics", str(tmp_path / "m.json"), "--unseen-text", str(unseen_tsv)]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    pred = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    whole_of_the_first_three = metrics_from_predictions(pred.iloc[:3])  # a, b, c: unseen
    for m in ("UA", "WA", "WF1"):
        assert metrics["unseen_text"][m] == pytest.approx(whole_of_the_first_three[m])
    assert metrics["unseen_text"]["n"] + metrics["seen_text"]["n"] == 6


def test_evaluate_lemer_scores_the_subsets_of_the_scorings_that_name_the_list(
    tmp_path: Path, unseen_tsv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlser.training.lemer
    import mlser.training.lemer_commands

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # --device cpu sets it: restored
    monkeypatch.setattr(mlser.training.lemer, "load_system", lambda path: (object(), {}))
    monkeypatch.setattr(mlser.training.lemer, "predict", lambda *a, **k: (PRED.copy(), []))
    monkeypatch.setattr(
        mlser.training.lemer_commands, "lemer_fold", lambda *a, **k: ({"test": []}, ("neu",))
    )
    scorings = [
        {"id": i, "model": "m.pt", "text_history": 0, "predictions": str(tmp_path / f"{i}.tsv"),
         "metrics": str(tmp_path / f"{i}.json"), "attention": str(tmp_path / f"{i}.a.json"),
         "unseen_text": path}
        for i, path in (("text", str(unseen_tsv)), ("speech", None))
    ]  # fmt: skip
    argv = ["evaluate-lemer", "--corpus", "iemocap", "--manifest", "m", "--folds", "f",
            "--fold", "s1", "--scorings", json.dumps(scorings), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    text = json.loads((tmp_path / "text.json").read_text())
    assert text["unseen_text"]["UA"] == pytest.approx(0.75)
    assert "unseen_text" not in json.loads((tmp_path / "speech.json").read_text())
    scorings[0]["unseen"] = "x"  # a misspelt key is still refused
    with pytest.raises(SystemExit, match="--scorings"):
        main([*argv[:-4], "--scorings", json.dumps(scorings)])


def _metrics(tmp_path: Path, name: str, experiment: str, fold: str, ua: float, unseen) -> Path:
    scores = {"experiment": experiment, "fold": fold, "n": 10, "UA": ua, "WA": ua}
    if unseen is not None:
        scores["unseen_text"] = unseen
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(scores))
    return path


MATRIX = {
    i: {"paper": "gao2025", "table": 1, "row": r, "corpus": "iemocap", "paper_results": {}}
    for i, r in (("gao2025-exp05", "text"), ("gao2025-exp01", "speech"), ("gao2025-exp09", "t0"))
}


def test_experiments_table_unseen_columns(tmp_path: Path) -> None:
    paths = [
        # a text row: UA on its unseen subset 0.5 and 0.7 on two folds, a third has none
        _metrics(tmp_path, "t1", "gao2025-exp05", "s1", 0.6,
                 {"n": 4, "UA": 0.5, "WA": 0.5, "WF1": 0.5}),
        _metrics(tmp_path, "t2", "gao2025-exp05", "s2", 0.8,
                 {"n": 2, "UA": 0.7, "WA": 0.9, "WF1": 0.6}),
        _metrics(tmp_path, "t3", "gao2025-exp05", "s3", 0.7,
                 {"n": 0, "UA": None, "WA": None, "WF1": None}),
        _metrics(tmp_path, "s1", "gao2025-exp01", "s1", 0.5, None),  # a speech row
        # a text row whose only fold has no unseen-text utterance
        _metrics(tmp_path, "z1", "gao2025-exp09", "s1", 0.4,
                 {"n": 0, "UA": None, "WA": None, "WF1": None}),
    ]  # fmt: skip
    table = summarize(collect(paths), MATRIX)
    assert list(table.columns[-len(UNSEEN_COLUMNS) :]) == list(UNSEEN_COLUMNS)
    assert list(table.columns[: -len(UNSEEN_COLUMNS)]) == [
        "paper", "table", "row", "experiment", "corpus", "metric", "ours_mean", "ours_std",
        "folds", "seeds", "paper_value", "diff",
    ]  # fmt: skip
    by = table.set_index(["experiment", "metric"])
    text = by.loc[("gao2025-exp05", "UA")]
    assert text["ours_mean"] == pytest.approx(0.7) and text["folds"] == 3
    assert text["unseen_text_mean"] == pytest.approx(0.6)
    assert text["unseen_text_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert text["unseen_text_folds"] == 2 and text["unseen_text_n_mean"] == pytest.approx(2.0)
    assert by.loc[("gao2025-exp05", "WA"), "unseen_text_mean"] == pytest.approx(0.7)
    speech = by.loc[("gao2025-exp01", "UA")]
    assert all(pd.isna(speech[c]) for c in UNSEEN_COLUMNS)
    empty = by.loc[("gao2025-exp09", "UA")]
    assert pd.isna(empty["unseen_text_mean"]) and empty["unseen_text_n_mean"] == 0.0
    # CSV: blank cells where a line has no unseen-text score
    csv = pd.read_csv(pd.io.common.StringIO(table.to_csv(index=False)))
    line = csv[(csv["experiment"] == "gao2025-exp01") & (csv["metric"] == "UA")].iloc[0]
    assert all(math.isnan(line[c]) for c in UNSEEN_COLUMNS)
    md = to_markdown(table)
    assert "| ours, unseen text |" in md
    assert "| text | gao2025-exp05 | UA | 70.00 ± 10.00 |  |  | 60.00 ± 14.14 (n 2.0) |" in md
    assert "| speech | gao2025-exp01 | UA | 50.00 ± 0.00 |  |  |  |" in md
    assert "| t0 | gao2025-exp09 | UA | 40.00 ± 0.00 |  |  | – (n 0.0) |" in md


def test_the_plan_passes_the_unseen_list_to_text_rows_only(tmp_path: Path) -> None:
    """Default config: every scoring job of a row that reads text declares the corpus's
    unseen_text.tsv and passes it; a speech-only row's job does neither."""
    run = snakemake(tmp_path, "-n", "-p", "--cores", "2", "--configfile",
                    str(REPO / "config" / "config.yaml"))  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = {
        j["output"].split(", ")[0]: j
        for j in planned_jobs(run.stdout + run.stderr)
        if j["rule"] in ("experiment_predictions", "evaluate_hierarchical", "lemer_score_fusion")
    }
    text_rows = ("gao2025-exp05/s1", "gao2025-exp14/s1", "gao2024-t2-cmgi/s1",
                 "alqurashi2024-t2-lstm-st-d/sd", "wang2023-t2-score-fusion/s1")  # fmt: skip
    speech_rows = ("gao2025-exp01/s1", "alqurashi2024-t2-lstm-s-d/sd")
    for row, text in [(r, True) for r in text_rows] + [(r, False) for r in speech_rows]:
        job = jobs[f"results/iemocap/experiments/{row}/predictions.tsv"]
        assert ("results/iemocap/unseen_text.tsv" in job["input"].split(", ")) == text, row
        assert ("--unseen-text results/iemocap/unseen_text.tsv" in job["shell"]) == text, row
    lemer = [j for j in planned_jobs(run.stdout + run.stderr) if j["rule"] == "evaluate_lemer"]
    assert lemer and all("results/iemocap/unseen_text.tsv" in j["input"] for j in lemer)
    for job in lemer:  # a5 reads text, b5 does not
        scorings = json.loads(job["shell"].split("--scorings '")[1].split("'")[0])
        flags = {s["id"]: s["unseen_text"] for s in scorings}
        assert flags["wang2023-a5"] == "results/iemocap/unseen_text.tsv"
        assert flags["wang2023-b5"] is None
