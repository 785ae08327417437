"""`mlser predict` and `mlser export`: every bad input gets its own clear error (or a
correct result) without stopping the others, and an exported folder predicts exactly
what the pipeline's model does. Tiny random-init models built here, not trained ones."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from mlser import cli
from mlser.inference.export import (
    ExportError,
    LoadedModel,
    export_loaded,
    export_model,
    load_any,
    load_exported,
)
from mlser.inference.predict import PredictOptions, _combine, chunks, expand_inputs, predict_files
from mlser.models.acoustic import AcousticEncoderConfig
from mlser.models.adapters import AdapterConfig
from mlser.models.fusion import FusionConfig
from mlser.models.multilevel import MultiLevelSER, MultiLevelSERConfig, minilm_path
from mlser.models.text import TextEncoderConfig
from mlser.training.model_files import save_model_file
from mlser.training.multilevel import build_model

CLASSES = ("neu", "hap", "ang", "sad")
TASKS = ("asr", "gender", "ser", "style")
HUBERT = {
    "hidden_size": 16,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "num_conv_pos_embeddings": 8,
    "num_conv_pos_embedding_groups": 4,
}
MODELS = {"acoustic": {"tiny": {"frontend": "logmel", "hubert": HUBERT}}}
STAGE = {"acoustic_encoder": "tiny", "text_encoder": None, "fusion": "none", "tasks": ["ser"]}
CPU = torch.device("cpu")


def _randomise_heads(model: torch.nn.Module) -> None:
    # zero-initialised adapter up-projections would hide a weight that failed to load
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bottleneck_adapter.up" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline model.pt: acoustic-only with stage-2 adapters, as train_stage2 saves it."""
    torch.manual_seed(0)
    model = build_model(STAGE, MODELS, len(CLASSES))
    model.add_adapters(AdapterConfig(bottleneck=4))
    _randomise_heads(model)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    spec = {
        "stage": STAGE,
        "tasks": ["asr", "gender", "ser", "style"],
        "models": MODELS,
        "classes": list(CLASSES),
        "adapters": {"bottleneck": 4},
    }
    save_model_file(path, spec, model, {})
    return path


@pytest.fixture(scope="module")
def fused() -> LoadedModel:
    """HuBERT + a tiny random BERT (MiniLM's tokenizer) + TGF: gates, and text from ASR."""
    torch.manual_seed(0)
    text = TextEncoderConfig(
        model_config={
            "model_type": "bert",
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "vocab_size": 30522,
        },
        tokenizer_name=minilm_path(),
        max_length=16,
    )
    config = MultiLevelSERConfig(
        acoustic=AcousticEncoderConfig(hubert=HUBERT, frontend="logmel"),
        text=text,
        fusion="tgf",
        fusion_config=FusionConfig(d_model=16, num_heads=2, out_dim=16),
    )
    model = MultiLevelSER(config).eval()
    return LoadedModel(model, CLASSES, TASKS, Path("in-memory"))


def tone(seconds: float, sr: int = 16000, freq: float = 180.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(len(t))).astype(
        np.float32
    )


def predict(loaded: LoadedModel, paths: list[Path], **options) -> pd.DataFrame:
    rows = predict_files(loaded, expand_inputs(paths), PredictOptions(**options), CPU)
    return pd.DataFrame(list(rows)).set_index("file")


def probs(table: pd.DataFrame) -> np.ndarray:
    return table[[f"p_{c}" for c in CLASSES]].to_numpy(dtype=float)


# ---------------------------------------------------------------- export round trip


def test_exported_folder_predicts_what_the_pipeline_model_does(checkpoint, tmp_path) -> None:
    wavs = []
    for i, seconds in enumerate((0.8, 1.7, 2.5)):
        wavs.append(tmp_path / f"u{i}.wav")
        sf.write(wavs[-1], tone(seconds, freq=150 + 60 * i), 16000)
    out = tmp_path / "exported"
    export_model(checkpoint, out, origin={"experiment": "test-exp", "fold": "s1"})
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= names
    assert {"label_map.json", "README.md"} <= names
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "neu", "1": "hap", "2": "ang", "3": "sad"}
    assert config["origin"]["experiment"] == "test-exp"
    assert config["adapters"]["bottleneck"] == 4
    # loadable with no pipeline config: the folder alone rebuilds it
    loaded = load_exported(out)
    assert loaded.classes == CLASSES and loaded.tasks == TASKS
    ours, theirs = predict(load_any(checkpoint), wavs), predict(loaded, wavs)
    np.testing.assert_allclose(probs(ours), probs(theirs), atol=1e-6)
    assert (
        (
            ours[["emotion", "gender", "style", "transcript"]]
            == theirs[["emotion", "gender", "style", "transcript"]]
        )
        .all()
        .all()
    )
    # an exported folder can be exported again, unchanged
    again = export_model(out, tmp_path / "again")
    np.testing.assert_allclose(probs(predict(again, wavs)), probs(ours), atol=1e-6)


def test_fused_text_model_round_trip_with_tokenizer_and_gates(fused, tmp_path) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(1.2), 16000)
    loaded = export_loaded(fused, tmp_path / "fused")
    assert (tmp_path / "fused" / "tokenizer.json").is_file()
    before, after = predict(fused, [wav]), predict(loaded, [wav])
    assert {"gate_acoustic", "gate_linguistic"} <= set(before.columns)
    np.testing.assert_allclose(probs(before), probs(after), atol=1e-6)
    np.testing.assert_allclose(before["gate_acoustic"], after["gate_acoustic"], atol=1e-6)


def test_model_with_error_correction_round_trips_its_decoder(fused, tmp_path) -> None:
    from dataclasses import replace

    from mlser.models.error_correction import ErrorCorrectionConfig

    torch.manual_seed(1)
    aec = ErrorCorrectionConfig(num_decoder_layers=1, num_attention_heads=2, ffn_dim=16)
    model = MultiLevelSER(replace(fused.model.config, error_correction=aec)).eval()
    loaded = export_loaded(LoadedModel(model, CLASSES, TASKS, Path("mem")), tmp_path / "aec")
    assert loaded.model.error_correction.encoder is loaded.model.text.model  # still shared
    ours, theirs = model.state_dict(), loaded.model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    hyps = ["oay i celbrat it"]
    assert model.correct(hyps, 2, 6) == loaded.model.correct(hyps, 2, 6)


def test_an_export_in_the_first_format_still_loads(fused, tmp_path) -> None:
    """Format 1 flattened the encoders' configs by hand (``model_type`` beside the
    architecture, ``pretrained_source``); a folder written so loads the same model."""
    export_loaded(fused, tmp_path / "old")
    path = tmp_path / "old" / "config.json"
    config = json.loads(path.read_text())
    assert config["mlser_format"] == 2
    a, t = config["acoustic"], config["text"]
    model_config = dict(t["model_config"])
    config.update(
        mlser_format=1,
        acoustic={
            "model_type": "hubert",
            "hubert": a["hubert"],
            "frontend": a["frontend"],
            "n_mels": a["n_mels"],
            "normalize_waveform": a["normalize_waveform"],
            "pretrained_source": None,
        },
        text={
            "model_type": model_config.pop("model_type"),
            "model_config": model_config,
            "freeze": t["freeze"],
            "train_top_layers": t["train_top_layers"],
            "max_length": t["max_length"],
            "pretrained_source": None,
        },
    )
    path.write_text(json.dumps(config))
    ours, theirs = fused.model.state_dict(), load_exported(tmp_path / "old").model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_export_refuses_weights_that_do_not_match(checkpoint, tmp_path) -> None:
    export_model(checkpoint, tmp_path / "ok")
    config = json.loads((tmp_path / "ok" / "config.json").read_text())
    config["acoustic"]["hubert"]["intermediate_size"] = 48
    (tmp_path / "ok" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match=r"(?s)model.safetensors: does not match .*size mismatch"):
        load_exported(tmp_path / "ok")
    with pytest.raises(ExportError, match="not an exported mlser model"):
        load_exported(tmp_path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ExportError, match=r"junk\.pt: not a trained mlser model"):
        load_any(tmp_path / "junk.pt")


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    x = tone(1.5)
    files = {name: d / name for name in ("good.wav", "empty.wav", "zero.wav", "text.wav")}
    sf.write(files["good.wav"], x, 16000)
    files["empty.wav"].write_bytes(b"")
    sf.write(files["zero.wav"], np.zeros(0, np.float32), 16000)
    files["text.wav"].write_text("not audio at all\n" * 10)
    files["truncated.wav"] = d / "truncated.wav"
    full = files["good.wav"].read_bytes()
    files["truncated.wav"].write_bytes(full[: len(full) // 2])
    files["silence.wav"] = d / "silence.wav"
    sf.write(files["silence.wav"], np.zeros(16000, np.float32), 16000)
    files["blip.wav"] = d / "blip.wav"
    sf.write(files["blip.wav"], x[:200], 16000)
    files["nan.wav"] = d / "nan.wav"
    sf.write(files["nan.wav"], np.full(8000, np.nan, np.float32), 16000, subtype="FLOAT")
    files["stereo.wav"] = d / "stereo.wav"
    sf.write(files["stereo.wav"], np.stack([x, x], axis=1), 16000)
    files["48k.wav"], files["8k.flac"] = d / "48k.wav", d / "8k.flac"
    sf.write(files["48k.wav"], tone(1.5, sr=48000), 48000)
    sf.write(files["8k.flac"], tone(1.5, sr=8000), 8000)
    files["long.wav"] = d / "long.wav"
    sf.write(files["long.wav"], tone(7.0), 16000)
    files["speech.mp3"] = d / "speech.mp3"
    with av.open(str(files["speech.mp3"]), "w") as container:
        stream = container.add_stream("mp3", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(x[None, :], format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    files["missing.wav"] = d / "missing.wav"
    return files


def test_each_bad_input_gets_its_own_error_and_the_rest_are_predicted(checkpoint, inputs):
    table = predict(load_any(checkpoint), list(inputs.values()), max_seconds=5)
    status = table["status"].to_dict()
    error = table["error"].fillna("").to_dict()
    expected_errors = {
        "missing.wav": "missing",
        "empty.wav": "empty (zero-byte file)",
        "zero.wav": "zero-length audio",
        "text.wav": "not audio or unreadable",
        "truncated.wav": "truncated (data chunk declares",
        "blip.wav": "too short: 12.5 ms",
        "nan.wav": "NaN or infinite",
        "long.wav": "too long: 7 s (the limit is 5 s",
    }
    assert len(table) == len(inputs)  # nothing dropped
    for name, path in inputs.items():
        if name in expected_errors:
            assert status[str(path)] == "error", name
            assert expected_errors[name] in error[str(path)], (name, error[str(path)])
        else:
            assert status[str(path)] == "ok", (name, error[str(path)])
    ok = table[table["status"] == "ok"]
    np.testing.assert_allclose(probs(ok).sum(axis=1), 1.0, atol=1e-5)
    assert (
        table.loc[str(inputs["48k.wav"]), "seconds"],
        table.loc[str(inputs["8k.flac"]), "seconds"],
    ) == (1.5, 1.5)
    # stereo with two equal channels is the mono signal: the same prediction
    np.testing.assert_allclose(
        probs(table.loc[[str(inputs["stereo.wav"])]]), probs(table.loc[[str(inputs["good.wav"])]])
    )
    assert "silent" in table.loc[str(inputs["silence.wav"]), "warning"]
    assert set(ok["gender"]) <= {"F", "M"} and set(ok["style"]) <= {"improvised", "scripted"}


def test_long_files_are_cut_into_equal_chunks_and_averaged(checkpoint, inputs) -> None:
    loaded = load_any(checkpoint)
    whole = predict(loaded, [inputs["long.wav"]], chunk_seconds=10)
    cut = predict(loaded, [inputs["long.wav"]], chunk_seconds=3)
    assert (whole["chunks"].item(), cut["chunks"].item()) == (1, 3)
    assert cut["seconds"].item() == 7.0
    assert not np.allclose(probs(whole), probs(cut))  # the chunks were predicted apart
    assert [len(c) for c in chunks(np.arange(10), 4)] == [4, 3, 3]


def test_chunk_predictions_are_weighted_by_length(fused) -> None:
    parts = pd.DataFrame(
        {
            "samples": [3000, 1000],
            **{f"p_{c}": [1.0 if c == "neu" else 0.0, 0.0] for c in CLASSES[:1]},
            "p_hap": [0.0, 1.0],
            "p_ang": [0.0, 0.0],
            "p_sad": [0.0, 0.0],
            "transcript": ["hello", "there"],
            "pred_gender": [1, 0],
            "pred_style": [0, 1],
            "gate_acoustic": [0.2, 0.6],
        }
    )
    row = _combine(Path("f.wav"), parts, fused)
    assert (row["p_neu"], row["p_hap"], row["emotion"]) == (0.75, 0.25, "neu")
    assert row["gate_acoustic"] == pytest.approx(0.3)
    assert (row["gender"], row["style"], row["transcript"]) == ("M", "improvised", "hello there")
    assert (row["seconds"], row["chunks"]) == (0.25, 2)


def test_directories_are_expanded_and_an_empty_one_is_reported(tmp_path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    sf.write(tmp_path / "a" / "b" / "x.wav", tone(0.5), 16000)
    (tmp_path / "a" / "notes.txt").write_text("skip me")
    found = expand_inputs([tmp_path / "a", tmp_path / "empty"])
    assert found[0] == (tmp_path / "a" / "b" / "x.wav", None)
    assert found[1][0] == tmp_path / "empty" and "no audio files" in found[1][1]


def test_cli_exit_status_and_jsonl(checkpoint, inputs, tmp_path, capsys) -> None:
    good, bad = str(inputs["good.wav"]), str(inputs["empty.wav"])
    out = tmp_path / "pred.jsonl"
    assert cli.main(["predict", str(checkpoint), good, "--format", "jsonl", "--out", str(out)]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["status"] == "ok" and row["emotion"] in CLASSES and "error" not in row
    assert cli.main(["predict", str(checkpoint), bad, good]) == 1
    captured = capsys.readouterr()
    assert f"{bad}: empty (zero-byte file)" in captured.err
    table = pd.read_csv(pd.io.common.StringIO(captured.out), sep="\t")
    assert list(table["status"]) == ["error", "ok"]
    assert cli.main(["predict", str(tmp_path / "nowhere"), good]) == 2
    assert "no such model file or exported folder" in capsys.readouterr().err
    assert cli.main(["predict", str(checkpoint), good, "--chunk-seconds", "0.001"]) == 2
    assert "--chunk-seconds 0.001: must be at least 0.025" in capsys.readouterr().err
    assert cli.main(["export", str(checkpoint), str(tmp_path / "cli-export")]) == 0
    assert cli.main(["predict", str(tmp_path / "cli-export"), good]) == 0


def test_a_failed_export_leaves_no_folder_behind(checkpoint, tmp_path, monkeypatch) -> None:
    import mlser.inference.export

    def mismatch(a, b, where):
        raise ExportError(f"{where}: emotion differs from the source model by 0.5")

    monkeypatch.setattr(mlser.inference.export, "check_same_outputs", mismatch)
    out = tmp_path / "sub" / "exported"
    assert cli.main(["export", str(checkpoint), str(out)]) == 2
    assert not out.exists() and list(out.parent.iterdir()) == []  # no partial, no temporary
