"""Stage 1 -> stage 2 (adapters) -> scoring on a tiny model, and that no test-fold
utterance reaches training or model selection."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlser.data import Example
from mlser.multilevel_training import StageError, evaluate, load_model, loss_weights, run_stage

CLASSES = ("neu", "hap", "ang", "sad")
MODELS = {
    "acoustic": {
        "tiny": {
            "frontend": "logmel",
            "hubert": {
                "hidden_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "intermediate_size": 64,
                "feat_extract_norm": "layer",
                "do_stable_layer_norm": True,
                "num_conv_pos_embeddings": 8,
                "num_conv_pos_embedding_groups": 4,
            },
        }
    },
    "adapter": {"bottleneck": 4},
}
TRAINING = {"epochs": 2, "lr": 1e-3, "max_batch_seconds": 4, "loss_weights": {"asr": 1.0}}


def examples(n: int, seed: int, poison: bool = False) -> list[Example]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        audio = rng.standard_normal(int(rng.integers(4000, 12000))).astype(np.float32) * 0.1
        if poison:
            audio[:] = np.nan
        out.append(
            Example(
                f"u{seed}_{i:03d}",
                audio,
                "poison" if poison else "hello there",
                i % 4,
                i % 2,
                (i // 2) % 2,
            )
        )
    return out


def experiment(stage2: dict | None = None) -> dict:
    stage1 = {
        "acoustic_encoder": "tiny",
        "text_encoder": None,
        "fusion": "none",
        "strategy": "full_finetune",
        "tasks": ["ser", "asr"],
    }
    return {"id": "test-exp", "fold": "s1", "model": {"stage1": stage1, "stage2": stage2}}


def test_two_stages_then_scoring_never_touch_the_test_fold(tmp_path) -> None:
    data = {"train": examples(12, 0), "valid": examples(4, 1), "test": examples(6, 2, poison=True)}
    record = run_stage(
        stage_number=1,
        experiment=experiment(),
        data=data,
        classes=CLASSES,
        models=MODELS,
        training=TRAINING,
        out=tmp_path / "s1.pt",
        checkpoint_dir=tmp_path / "ck1",
        device=torch.device("cpu"),
        log=lambda s: None,
    )
    assert record["best_epoch"] in (1, 2)
    assert not (tmp_path / "ck1").exists()  # checkpoints cleared after success
    written = json.loads((tmp_path / "s1.pt.json").read_text())
    assert written["settings"]["training"] == TRAINING
    assert written["provenance"]["packages"]["torch"] == torch.__version__
    stage1_pred = evaluate(
        model_path=tmp_path / "s1.pt", data=examples(4, 5), text_source="none", max_seconds=4
    )
    # heads the model was not trained on never reach a metric
    assert set(stage1_pred["pred_gender"]) == {-100} == set(stage1_pred["pred_style"])
    assert (stage1_pred["transcript"] != "").any()  # trained for ASR: transcripts exist
    stage2 = {"strategy": "adapters", "tasks": ["ser", "gender", "style"]}
    record2 = run_stage(
        stage_number=2,
        experiment=experiment(stage2),
        data=data,
        classes=CLASSES,
        models=MODELS,
        training={**TRAINING, "epochs": 1},
        out=tmp_path / "s2.pt",
        checkpoint_dir=tmp_path / "ck2",
        init=tmp_path / "s1.pt",
        device=torch.device("cpu"),
        log=lambda s: None,
    )
    # adapters only: far fewer trainable parameters than the whole model
    assert record2["trainable_parameters"] < record["trainable_parameters"]
    _, spec = load_model(tmp_path / "s2.pt")
    assert spec["adapters"] == {"bottleneck": 4}
    assert spec["tasks"] == ["asr", "gender", "ser", "style"]
    clean = examples(6, 3)
    pred = evaluate(model_path=tmp_path / "s2.pt", data=clean, text_source="none", max_seconds=4)
    assert list(pred["utt_id"]) == sorted(e.utt_id for e in clean)
    assert np.allclose(pred[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0, atol=1e-5)
    assert set(pred["pred_gender"]) <= {0, 1} and set(pred["pred_style"]) <= {0, 1}
    # the same model scored again gives the same numbers (save/load is exact)
    again = evaluate(model_path=tmp_path / "s2.pt", data=clean, text_source="none", max_seconds=4)
    assert pred.equals(again)


def test_unsupported_tasks_are_named() -> None:
    with pytest.raises(StageError, match=r"\['aec', 'cl'\]"):
        loss_weights(["ser", "asr", "aec", "cl"], {"asr": 0.1})
    weights = loss_weights(["ser", "style"], {"asr": 0.1, "gender": 0.1, "style": 0.2})
    assert (weights.asr, weights.gender, weights.style) == (0.0, 0.0, 0.2)
