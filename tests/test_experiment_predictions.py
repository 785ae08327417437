"""One process scores every model of a fold; each row then gets its own predictions and
metrics from that fold's scores, the same as scoring it alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from test_multilevel_training import CLASSES, MODELS, TRAINING, examples, experiment

from mlser.cli import main
from mlser.evaluation.scoring import metrics_from_predictions
from mlser.training.multilevel import evaluate, run_stage

PRED = pd.DataFrame(
    {
        "utt_id": ["a", "b", "c", "d"],
        "gold": ["neu", "hap", "ang", "ang"],
        "pred": ["neu", "ang", "ang", "ang"],
        "text": ["x y", "z", "w", "v"],
        "transcript": ["x", "z", "", "v"],
        "gender": [0, 1, 0, 1],
        "pred_gender": [0, 1, 1, 1],
        "style": [0, 0, 1, 1],
        "pred_style": [-100, -100, -100, -100],
    }
)


def _row(tmp_path: Path, experiment_id: str) -> dict:
    out = tmp_path / experiment_id
    code = main(
        ["experiment-predictions", "--scores", str(tmp_path / "scores"), "--scored-as", "e1",
         "--experiment-id", experiment_id, "--fold", "s1",
         "--out-predictions", str(out / "p.tsv"), "--out-metrics", str(out / "m.json")]
    )  # fmt: skip
    assert code == 0
    assert (out / "p.tsv").read_text() == (tmp_path / "scores/e1.tsv").read_text()
    return json.loads((out / "m.json").read_text())


def test_rows_sharing_a_scoring_get_its_metrics_under_their_own_id(tmp_path) -> None:
    (tmp_path / "scores").mkdir()
    PRED.to_csv(tmp_path / "scores/e1.tsv", sep="\t", index=False)
    (tmp_path / "scores/e1.json").write_text(json.dumps({"model": "m.pt", "text_source": "asr"}))
    first, second = _row(tmp_path, "e1"), _row(tmp_path, "e2")
    assert "predictions_of" not in first and second.pop("predictions_of") == "e1"
    assert (first.pop("experiment"), second.pop("experiment")) == ("e1", "e2")
    for m in (first, second):
        m.pop("provenance")
    assert first == second
    # hand-computed: recalls neu 1, hap 0, ang 1 -> UA over the classes present 2/3; WA 3/4
    assert first["UA"] == pytest.approx(2 / 3) and first["WA"] == pytest.approx(0.75)
    assert (first["text_source"], first["model"], first["fold"]) == ("asr", "m.pt", "s1")
    assert first == {
        **json.loads(json.dumps(metrics_from_predictions(PRED))),
        "fold": "s1",
        "text_source": "asr",
        "model": "m.pt",
    }


def test_a_missing_scoring_is_named(tmp_path) -> None:
    (tmp_path / "scores").mkdir()
    with pytest.raises(SystemExit, match=r"scores: no scoring 'e1'"):
        _row(tmp_path, "e1")


def _fold_files(tmp_path: Path) -> tuple[Path, Path]:
    """A manifest and folds table of 8 training, 4 validation and 4 test utterances."""
    rows = []
    for i, ex in enumerate(examples(16, 7)):
        path = tmp_path / "wav" / f"{ex.utt_id}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, ex.audio, 16000)
        session = 1 if i < 4 else 2
        rows.append(
            {"utt_id": ex.utt_id, "path": str(path), "duration": len(ex.audio) / 16000,
             "text": "hello there", "emotion": CLASSES[i % 4], "gender": "FM"[i % 2],
             "style": ("improvised", "scripted")[(i // 2) % 2], "session": session,
             "speaker": f"Ses0{session}_F", "split": ""}
        )  # fmt: skip
    manifest = tmp_path / "manifest.tsv"
    pd.DataFrame(rows).to_csv(manifest, sep="\t", index=False)
    parts = ["test"] * 4 + ["valid"] * 4 + ["train"] * 8
    folds = tmp_path / "folds.tsv"
    pd.DataFrame({"fold": "s1", "utt_id": [r["utt_id"] for r in rows], "partition": parts}).to_csv(
        folds, sep="\t", index=False
    )
    return manifest, folds


def test_one_process_scores_each_model_as_scoring_it_alone(tmp_path) -> None:
    data = {"train": examples(8, 0), "valid": examples(4, 1), "test": examples(4, 2)}
    models = []
    for seed in (0, 1):
        out = tmp_path / f"m{seed}.pt"
        run_stage(
            stage_number=1, experiment=experiment(), data=data, classes=CLASSES, models=MODELS,
            training={**TRAINING, "epochs": 1, "seed": seed}, out=out,
            checkpoint_dir=tmp_path / f"ck{seed}", device=torch.device("cpu"), log=lambda s: None,
        )  # fmt: skip
        models.append(out)
    manifest, folds = _fold_files(tmp_path)
    scorings = [
        {"id": "a", "model": str(models[0]), "text_source": "none"},
        {"id": "b", "model": str(models[1]), "text_source": "none"},
    ]
    code = main(
        ["evaluate-multilevel", "--corpus", "iemocap", "--manifest", str(manifest),
         "--folds", str(folds), "--fold", "s1", "--scorings", json.dumps(scorings),
         "--max-batch-seconds", "4", "--out", str(tmp_path / "scores")]
    )  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "scores").iterdir()) == [
        "a.json", "a.tsv", "b.json", "b.tsv"
    ]  # fmt: skip
    from mlser.cli import build_parser
    from mlser.training.multilevel_commands import load_fold

    args = build_parser().parse_args(
        ["evaluate-multilevel", "--corpus", "iemocap", "--manifest", str(manifest),
         "--folds", str(folds), "--fold", "s1", "--scorings", "[]", "--out", "x"]
    )  # fmt: skip
    test = load_fold(args)[0]["test"]
    assert len(test) == 4
    tables = {}
    for s, model in zip(scorings, models, strict=True):
        alone = evaluate(model_path=model, data=test, text_source="none", max_seconds=4)
        together = pd.read_csv(tmp_path / f"scores/{s['id']}.tsv", sep="\t", keep_default_na=False)
        assert list(together["utt_id"]) == list(alone["utt_id"])
        probs = [f"p_{c}" for c in CLASSES]
        np.testing.assert_allclose(together[probs], alone[probs], rtol=1e-5, atol=1e-6)
        assert json.loads((tmp_path / f"scores/{s['id']}.json").read_text()) == {
            "model": str(model), "text_source": "none"
        }  # fmt: skip
        tables[s["id"]] = together
    # two differently seeded models: their scorings are not one copied table
    assert not np.allclose(tables["a"][probs], tables["b"][probs])


def test_a_bad_scoring_is_refused_before_any_output(tmp_path) -> None:
    manifest, folds = _fold_files(tmp_path)
    bad = json.dumps([{"id": "a", "model": "m.pt", "text_source": "subtitles"}])
    with pytest.raises(SystemExit, match=r"text_source in"):
        main(
            ["evaluate-multilevel", "--corpus", "iemocap", "--manifest", str(manifest),
             "--folds", str(folds), "--fold", "s1", "--scorings", bad,
             "--out", str(tmp_path / "scores")]
        )  # fmt: skip
    assert not (tmp_path / "scores").exists()
