"""The row passport (mlser.evaluation.row_passport): each row's runs and the checked
model selection behind them, on hand-made folds, training records and metrics files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlser.data.folds import digest
from mlser.evaluation.passport import PassportError
from mlser.evaluation.row_passport import row_passports, to_markdown

PARTS = {"train": ["a1", "a2", "a3", "a4"], "valid": ["v1", "v2"], "test": ["t1", "t2", "t3"]}
STAGE1 = "results/iemocap/stage1/abc/s1/model.pt"
STAGE2 = "results/iemocap/stage2/gao2025-exp17/s1/model.pt"


def _folds() -> pd.DataFrame:
    rows = [(u, "s1", p) for p, ids in PARTS.items() for u in ids]
    return pd.DataFrame(rows, columns=["utt_id", "fold", "partition"])


def _record(
    root: Path, model: str, selected: list[str], init: str | None = None, metric: str = "ua"
) -> None:
    path = root / f"{model}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = sorted(selected)
    record = {
        "stage": 2 if init else 1,
        "select_metric": metric,
        "tie_break": ["wf1", "earlier epoch"],
        "best_epoch": 3,
        "selected_on": {"utterances": len(ids), "sha256": digest(ids), "ids": ids},
        "init": init,
        "provenance": {"pretrained": {"minilm": {"source": "package:minilm", "weights": None}}},
    }
    path.write_text(json.dumps(record))


def _metrics(root: Path, row: str, run: str, scored: tuple = ("t1", "t2", "t3"), **fields):
    """A run's metrics.json and the predictions.tsv beside it (``scored``: their ids)."""
    path = root / "results/iemocap/experiments" / row / run / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"experiment": row, "n": len(scored), **fields}))
    pd.DataFrame({"utt_id": scored, "pred": "neu"}).to_csv(
        path.parent / "predictions.tsv", sep="\t", index=False
    )
    return path


def _passports(root: Path, *metrics: Path) -> dict:
    return row_passports("iemocap", metrics, _folds(), {}, root=root)


def test_each_row_states_its_runs_and_the_checked_selection_of_every_model(tmp_path):
    _record(tmp_path, STAGE1, ["v1", "v2"])
    _record(tmp_path, STAGE2, ["v2", "v1"], init=STAGE1)
    exp17 = _metrics(tmp_path, "gao2025-exp17", "s1", model=STAGE2, text_source="asr",
                     unseen_text={"n": 2})  # fmt: skip
    # a row combined by the fusion, not itself selected: only the fusion's file is passed
    _metrics(tmp_path, "gao2025-exp13", "s1", model=STAGE1, text_source="asr")
    fusion = _metrics(tmp_path, "fusion", "s1", ("t1", "t2"), combines=[
        "results/iemocap/experiments/gao2025-exp13/s1/predictions.tsv"])  # fmt: skip
    out = _passports(tmp_path, exp17, fusion)
    row = out["rows"]["gao2025-exp17"]
    # stage 2 and the stage 1 it started from: both selected on the whole valid partition
    assert [m["model"] for m in row["runs"][0]["models"]] == [STAGE2, STAGE1]
    assert row["selections_checked"] == row["selections"] == 2
    assert row["selected_on"] == ["valid"]
    assert row["runs"][0]["models"][0]["selection"]["whole_partition"] is True
    assert row["runs"][0]["n_test_partition"] == 3
    # the fusion's numbers come from the combined row's model: that one is checked
    assert [m["model"] for m in out["rows"]["fusion"]["runs"][0]["models"]] == [STAGE1]
    md = to_markdown(out)
    assert "| gao2025-exp17 | s1 | 0 | 2/2 checked | valid | ua | 3 / 3 | asr | 2 | " in md
    assert "| fusion | s1 | 0 | 1/1 checked | valid | ua | 2 / 3 | – | – | package:minilm |" in md


def test_a_test_utterance_scored_by_a_selection_stops_it_named(tmp_path):
    """A planted leak two models back: the stage-1 model the scored stage 2 started from
    selected its epoch on a test utterance."""
    _record(tmp_path, STAGE1, ["v1", "v2", "t2"])
    _record(tmp_path, STAGE2, ["v1", "v2"], init=STAGE1)
    metrics = _metrics(tmp_path, "gao2025-exp17", "s1", model=STAGE2)
    with pytest.raises(PassportError, match=rf"{STAGE1}: .* fold s1's test partition: t2"):
        _passports(tmp_path, metrics)


def test_an_utterance_outside_the_fold_or_an_altered_record_stops_it(tmp_path):
    _record(tmp_path, STAGE1, ["v1", "x9"])
    metrics = _metrics(tmp_path, "gao2025-exp13", "s1", model=STAGE1)
    with pytest.raises(PassportError, match="fold s1 does not hold: x9"):
        _passports(tmp_path, metrics)
    record = json.loads((tmp_path / f"{STAGE1}.json").read_text())
    record["selected_on"]["ids"] = ["t1", "v1"]  # the digest still says v1, x9
    (tmp_path / f"{STAGE1}.json").write_text(json.dumps(record))
    with pytest.raises(PassportError, match="do not match their digest"):
        _passports(tmp_path, metrics)


def test_only_a_label_free_selection_may_read_train(tmp_path):
    """LE-MER's pre-training selects on a fixed tenth of train by its masked-unit loss (no
    labels): stated as train. A labelled metric on train data is stopped."""
    _record(tmp_path, STAGE1, ["a1"], metric="neg_ssl_loss")
    _record(tmp_path, STAGE2, ["v1"], init=STAGE1)
    metrics = _metrics(tmp_path, "wang2023-b5", "s1_seed1", model=STAGE2)
    row = _passports(tmp_path, metrics)["rows"]["wang2023-b5"]
    assert row["selected_on"] == ["train", "valid"] and row["seeds"] == [1]
    _record(tmp_path, STAGE1, ["a1", "v1"], metric="ua")
    with pytest.raises(PassportError, match=r"\(ua\) scored 1 utterance\(s\) of fold s1's train"):
        _passports(tmp_path, metrics)


def test_a_record_from_before_the_check_is_stated_unchecked(tmp_path):
    _record(tmp_path, STAGE1, ["v1"])
    old = json.loads((tmp_path / f"{STAGE1}.json").read_text())
    del old["selected_on"]
    (tmp_path / f"{STAGE1}.json").write_text(json.dumps(old))
    metrics = _metrics(tmp_path, "gao2025-exp13", "s1", model=STAGE1)
    row = _passports(tmp_path, metrics)["rows"]["gao2025-exp13"]
    assert (row["selections_checked"], row["selections"]) == (0, 1)
    assert "predates" in row["runs"][0]["models"][0]["selection"]["why"]


def test_predictions_outside_the_test_partition_or_a_row_without_a_model_stop_it(tmp_path):
    _record(tmp_path, STAGE1, ["v1"])
    metrics = _metrics(tmp_path, "gao2025-exp13", "s1", ("t1", "v2"), model=STAGE1)
    with pytest.raises(PassportError, match="outside fold s1's test partition: v2"):
        _passports(tmp_path, metrics)
    nameless = _metrics(tmp_path, "alqurashi2024-x", "s1")
    with pytest.raises(PassportError, match="names no trained model"):
        _passports(tmp_path, nameless)
    gone = _metrics(tmp_path, "gao2025-exp14", "s1", model="results/iemocap/stage1/gone/model.pt")
    with pytest.raises(PassportError, match=r"gone/model\.pt: no training record"):
        _passports(tmp_path, gone)


def test_the_step_exits_naming_the_leak(tmp_path):
    _record(tmp_path, STAGE1, ["t3"])
    metrics = _metrics(tmp_path, "gao2025-exp13", "s1", model=STAGE1)
    folds = tmp_path / "folds.tsv"
    _folds().to_csv(folds, sep="\t", index=False)
    (tmp_path / "passport.json").write_text("{}")
    out = {"--out-json": tmp_path / "out.json", "--out-md": tmp_path / "out.md"}
    args = {"--corpus": "iemocap", "--folds": folds, "--passport": tmp_path / "passport.json"}
    args |= {"--metrics": metrics, "--root": tmp_path, **out}
    cmd = [sys.executable, "-m", "mlser", "row-passport"]
    cmd += [str(x) for kv in args.items() for x in kv]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 2
    assert "test partition: t3" in done.stderr
    assert not (tmp_path / "out.json").exists()
