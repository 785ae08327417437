"""The protocol passport (#24): digests, overlaps, and the folds that must stop it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from mlser import cli
from mlser.data.folds import loso_folds, speaker_dependent_fold, write_folds
from mlser.data.manifest import MANIFEST_COLUMNS, Reject, write_manifest, write_rejects
from mlser.evaluation.passport import (
    SAMPLE_RATE,
    PassportError,
    build_passport,
    check_folds,
    digest,
    to_markdown,
    unseen_text,
)

# two sessions, two speakers each; session 1's scripted lines come back in session 2
ROWS = [
    # utt_id, text, emotion, style, session, speaker
    ("Ses01F_a", "Hello there.", "neu", "scripted", "1", "Ses01_F"),
    ("Ses01F_b", "I am SO happy [LAUGHTER]", "hap", "scripted", "1", "Ses01_F"),
    ("Ses01M_a", "where is it", "ang", "improvised", "1", "Ses01_M"),
    ("Ses01M_b", "go away", "sad", "improvised", "1", "Ses01_M"),
    ("Ses02F_a", "hello, there", "neu", "scripted", "2", "Ses02_F"),
    ("Ses02F_b", "i am so happy", "hap", "scripted", "2", "Ses02_F"),
    ("Ses02M_a", "nothing like it", "ang", "improvised", "2", "Ses02_M"),
    ("Ses02M_b", "[BREATHING]", "sad", "improvised", "2", "Ses02_M"),
]


def manifest() -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=["utt_id", "text", "emotion", "style", "session", "speaker"])
    return df.assign(
        path=df["utt_id"] + ".wav", duration=1.0, gender=df["speaker"].str[-1], split=""
    ).loc[:, list(MANIFEST_COLUMNS)]


def two_folds() -> pd.DataFrame:
    """s1 tests session 1, s2 session 2; the other session trains, one utterance validates."""
    rows = []
    for test, train in (("1", "2"), ("2", "1")):
        ids = {s: [r[0] for r in ROWS if r[4] == s] for s in ("1", "2")}
        rows += [(f"s{test}", u, "test") for u in ids[test]]
        rows += [(f"s{test}", u, "valid" if u.endswith("M_b") else "train") for u in ids[train]]
    return pd.DataFrame(rows, columns=["fold", "utt_id", "partition"])


REJECTS = pd.DataFrame({"id": ["x"], "path": ["x.wav"], "reason": ["empty_audio: empty"]})


def test_digest_is_stable_and_order_independent() -> None:
    ids = ["b", "a", "c"]
    assert digest(ids) == digest(["c", "b", "a"]) == digest(pd.Series(["a", "c", "b"]))
    # the documented form: ids sorted, one per line (`LC_ALL=C sort | sha256sum`)
    assert digest(ids) == hashlib.sha256(b"a\nb\nc\n").hexdigest()
    assert digest(ids) != digest(["a", "b"])
    # the passport's digests do not depend on the folds file's row order
    folds = two_folds()
    one = build_passport("iemocap", manifest(), folds, REJECTS)
    other = build_passport("iemocap", manifest(), folds.sample(frac=1, random_state=3), REJECTS)
    for fold in ("s1", "s2"):
        assert one["folds"][fold]["partitions"] == other["folds"][fold]["partitions"]
    test_s1 = one["folds"]["s1"]["partitions"]["test"]
    assert test_s1["sha256"] == digest(["Ses01F_a", "Ses01F_b", "Ses01M_a", "Ses01M_b"])


def test_text_overlap_by_hand() -> None:
    p = build_passport("iemocap", manifest(), two_folds(), REJECTS)
    # s1 tests session 1: "hello there" and "i am so happy" (after normalisation) are in
    # session 2's train; "where is it" and "go away" are not: 2 of 4
    s1 = p["folds"]["s1"]["text_overlap"]
    assert (s1["n_test"], s1["n_seen_in_training"], s1["share"]) == (4, 2, 0.5)
    assert s1["by_style"] == {
        "improvised": {"n_test": 2, "n_seen_in_training": 0},
        "scripted": {"n_test": 2, "n_seen_in_training": 2},
    }
    # s2: the two scripted lines are seen; "[BREATHING]" normalises to nothing: unseen
    s2 = p["folds"]["s2"]["text_overlap"]
    assert (s2["n_test"], s2["n_seen_in_training"], s2["n_test_empty_text"]) == (4, 2, 1)
    table = unseen_text(manifest(), two_folds())
    unseen = table.loc[table["unseen_text"] == 1].groupby("fold")["utt_id"].apply(list)
    assert unseen.to_dict() == {
        "s1": ["Ses01M_a", "Ses01M_b"],
        "s2": ["Ses02M_a", "Ses02M_b"],
    }


def test_valid_counts_as_training_for_text_overlap() -> None:
    folds = two_folds()
    # session 2's "i am so happy" moves to valid of s1: still seen in training
    folds.loc[(folds["fold"] == "s1") & (folds["utt_id"] == "Ses02F_b"), "partition"] = "valid"
    p = build_passport("iemocap", manifest(), folds, REJECTS)
    assert p["folds"]["s1"]["text_overlap"]["n_seen_in_training"] == 2


def copies(n: int = 3) -> pd.DataFrame:
    m = pd.concat([manifest()] * n, ignore_index=True)
    return m.assign(utt_id=[f"{u}_{i}" for i, u in enumerate(m["utt_id"])])


def test_loso_fold_has_no_speaker_overlap_with_test() -> None:
    folds = loso_folds(copies(), valid_share=0.5, seed=0)
    p = build_passport("iemocap", copies(), folds, REJECTS)
    for fold in ("s1", "s2"):
        overlap = p["folds"][fold]["speaker_overlap"]
        assert overlap["train/test"] == {"n": 0, "speakers": [], "enforced": True}
        assert overlap["valid/test"] == {"n": 0, "speakers": [], "enforced": True}
        # valid is drawn from the training sessions: shared by design, not enforced
        assert overlap["train/valid"]["enforced"] is False
        assert overlap["train/valid"]["n"] == 2
        assert p["folds"][fold]["validation"]["method"] == "stratified"


def test_passport_states_labels_rejects_and_provenance() -> None:
    summary = {"out_of_protocol": {"fru": 3}, "n_out_of_protocol": 3, "rejects": {"empty": 1}}
    p = build_passport(
        "iemocap",
        manifest(),
        two_folds(),
        REJECTS,
        summary=summary,
        select_metric="ua",
        config_digest="f" * 64,
        provenance={"packages": {"pandas": "x"}},
    )
    assert p["labels"]["classes"] == ["neu", "hap", "ang", "sad"]
    assert p["labels"]["label_map"]["exc"] == "hap"
    assert p["labels"]["n_out_of_protocol"] == 3
    assert p["class_counts"] == {"neu": 2, "hap": 2, "ang": 2, "sad": 2}
    assert p["rejects"] == {"n": 1, "reasons": {"empty": 1}}
    assert p["sample_rate"] == SAMPLE_RATE == 16_000
    assert p["folds"]["s1"]["select_metric"] == "ua"
    assert p["provenance"] == {"packages": {"pandas": "x"}, "config_digest": "f" * 64}
    assert set(p["metrics"]) == {"UA", "WA", "WF1", "folds"}
    md = to_markdown(p)
    for phrase in ("exc into hap", "16000 Hz", "Rejected: 1", "f" * 64, "not pooled"):
        assert phrase in md, phrase
    json.dumps(p)  # JSON-able as it is


def test_sample_rate_is_the_models_rate() -> None:
    from mlser.data import batching as data

    assert data.SAMPLE_RATE == SAMPLE_RATE


def test_test_utterance_in_training_stops_naming_fold_partitions_and_utterance() -> None:
    folds = two_folds()
    leak = pd.DataFrame([{"fold": "s2", "utt_id": "Ses02M_a", "partition": "valid"}])
    folds = pd.concat([folds, leak], ignore_index=True)
    wanted = r"fold s2: utterances in both valid and test: Ses02M_a"
    with pytest.raises(PassportError, match=wanted):
        build_passport("iemocap", manifest(), folds, REJECTS)


def test_speaker_shared_by_loso_test_and_train_stops_naming_the_speaker() -> None:
    m = manifest()
    # a session-1 utterance labelled with session 2's speaker: s2 tests a speaker s2 trains on
    m.loc[m["utt_id"] == "Ses01F_a", "speaker"] = "Ses02_F"
    with pytest.raises(PassportError) as err:
        check_folds(m, two_folds())
    text = str(err.value)
    assert "fold s2 (loso): speakers in both train and test: Ses02_F" in text
    assert "Ses02F_a" in text  # the first test utterance of that speaker
    # and s1: the speaker is in its test partition and in its training data
    assert "fold s1 (loso): speakers in both train and test: Ses02_F" in text


def test_si_fold_must_keep_valid_speakers_out_of_training() -> None:
    m = manifest()
    folds = pd.DataFrame(
        {
            "fold": "si",
            "utt_id": m["utt_id"],
            "partition": ["train"] * 4 + ["train", "test", "valid", "valid"],
        }
    )
    with pytest.raises(PassportError, match=r"fold si \(si\): speakers in both train and test"):
        check_folds(m, folds)
    folds.loc[folds["utt_id"] == "Ses02F_a", "partition"] = "test"
    check_folds(m, folds)  # every speaker in one partition: passes


def test_sd_speaker_overlap_is_stated_not_enforced() -> None:
    m = copies(10)
    folds = speaker_dependent_fold(m, seed=0)
    p = build_passport("iemocap", m, folds, REJECTS)
    overlap = p["folds"]["sd"]["speaker_overlap"]
    assert overlap["train/test"]["n"] > 0
    assert not any(o["enforced"] for o in overlap.values())
    assert "stated, not enforced" in p["folds"]["sd"]["note"]


def test_meld_official_speaker_overlap_is_stated_not_enforced() -> None:
    m = manifest().assign(speaker="Joey", split=["train"] * 4 + ["dev"] * 2 + ["test"] * 2)
    parts = ["train"] * 4 + ["valid"] * 2 + ["test"] * 2
    folds = pd.DataFrame({"fold": "official", "utt_id": m["utt_id"], "partition": parts})
    p = build_passport("meld", m.assign(emotion="joy"), folds, REJECTS, select_metric="wf1")
    assert p["folds"]["official"]["speaker_overlap"]["train/test"]["speakers"] == ["Joey"]
    assert p["folds"]["official"]["validation"]["method"] == "official"


def _files(tmp_path: Path, folds: pd.DataFrame, m: pd.DataFrame | None = None) -> list[str]:
    write_manifest(manifest() if m is None else m, tmp_path / "manifest.tsv")
    write_folds(folds, tmp_path / "folds.tsv")
    write_rejects([Reject("x", "x.wav", "empty_audio: empty")], tmp_path / "rejects.tsv")
    (tmp_path / "prepare_summary.json").write_text(json.dumps({"rejects": {"empty_audio": 1}}))
    args = ["--manifest", str(tmp_path / "manifest.tsv"), "--folds", str(tmp_path / "folds.tsv")]
    return args


def _passport_args(tmp_path: Path, args: list[str]) -> list[str]:
    return [
        "passport",
        "--corpus",
        "iemocap",
        *args,
        "--rejects",
        str(tmp_path / "rejects.tsv"),
        "--summary",
        str(tmp_path / "prepare_summary.json"),
        "--select-metric",
        "ua",
        "--config-digest",
        "abc123",
        "--unseen-text",
        "results/iemocap/unseen_text.tsv",
        "--out-json",
        str(tmp_path / "passport.json"),
        "--out-md",
        str(tmp_path / "passport.md"),
    ]


def test_cli_writes_passport_and_unseen_list(tmp_path: Path) -> None:
    args = _files(tmp_path, two_folds())
    assert cli.main(_passport_args(tmp_path, args)) == 0
    p = json.loads((tmp_path / "passport.json").read_text())
    assert p["provenance"]["config_digest"] == "abc123"
    assert p["provenance"]["packages"]["pandas"]
    assert p["rejects"] == {"n": 1, "reasons": {"empty_audio": 1}}
    md = (tmp_path / "passport.md").read_text()
    assert "results/iemocap/unseen_text.tsv" in md and "| s1 | 4 | 2 | 50.0% |" in md
    assert cli.main(["unseen-text", *args, "--out", str(tmp_path / "unseen.tsv")]) == 0
    table = pd.read_csv(tmp_path / "unseen.tsv", sep="\t")
    assert list(table.columns) == ["fold", "utt_id", "unseen_text"]
    assert table.groupby("fold")["unseen_text"].sum().to_dict() == {"s1": 2, "s2": 2}


def test_cli_stops_on_a_planted_test_utterance_in_train(tmp_path: Path, capsys) -> None:
    _files(tmp_path, two_folds())
    # the pipeline's folds.tsv, edited: a test utterance of s1 also trains s1
    with (tmp_path / "folds.tsv").open("a") as f:
        f.write("s1\tSes01M_b\ttrain\n")
    args = ["--manifest", str(tmp_path / "manifest.tsv"), "--folds", str(tmp_path / "folds.tsv")]
    assert cli.main(_passport_args(tmp_path, args)) == 2
    err = capsys.readouterr().err
    assert "fold s1: utterances in both train and test: Ses01M_b" in err
    assert not (tmp_path / "passport.json").exists()
    assert cli.main(["unseen-text", *args, "--out", str(tmp_path / "u.tsv")]) == 2
    assert "fold s1: utterances in both train and test: Ses01M_b" in capsys.readouterr().err


def test_cli_stops_on_a_planted_speaker_leak_in_the_manifest(tmp_path: Path, capsys) -> None:
    m = manifest()
    m.loc[m["utt_id"] == "Ses02M_a", "speaker"] = "Ses01_M"  # session 2 row, session 1 voice
    args = _files(tmp_path, two_folds(), m)
    assert cli.main(_passport_args(tmp_path, args)) == 2
    err = capsys.readouterr().err
    assert "fold s1 (loso): speakers in both train and test: Ses01_M" in err
    assert "fold s2 (loso): speakers in both train and test: Ses01_M" in err
    assert "their test utterances: Ses02M_a" in err


def test_folds_step_stops_on_a_speaker_leak_before_any_training(tmp_path: Path, capsys) -> None:
    """`mlser folds` (rule make_folds, read by every training) checks the folds it built:
    a manifest whose session-2 row carries a session-1 speaker writes no folds.tsv."""
    m = manifest()
    write_manifest(m, tmp_path / "manifest.tsv")
    args = ["folds", "--manifest", str(tmp_path / "manifest.tsv"), "--schemes", "loso"]
    assert cli.main([*args, "--out", str(tmp_path / "ok.tsv")]) == 0
    m.loc[m["utt_id"] == "Ses02M_a", "speaker"] = "Ses01_M"
    write_manifest(m, tmp_path / "manifest.tsv")
    assert cli.main([*args, "--out", str(tmp_path / "folds.tsv")]) == 2
    assert "fold s1 (loso): speakers in both train and test: Ses01_M" in capsys.readouterr().err
    assert not (tmp_path / "folds.tsv").exists()


def test_passport_names_the_fetched_pretrained_models(tmp_path: Path) -> None:
    """The run's pretrained models in the passport: source, revision, commit, weights and
    the weight files' SHA-256, from each fetched folder's record (#24)."""
    folder = tmp_path / "resources" / "bert-base-uncased"
    folder.mkdir(parents=True)
    record = {
        "source": "bert-base-uncased",
        "revision": "86b5e0934494bd15c9632b12f734a8a67f723594",
        "commit": "86b5e0934494bd15c9632b12f734a8a67f723594",
        "files": {"model.safetensors": {"sha256": "ab" * 32}, "vocab.txt": {"sha256": "cd"}},
    }
    (folder / ".mlser_fetch.json").write_text(json.dumps(record))
    args = _files(tmp_path, two_folds())
    assert cli.main([*_passport_args(tmp_path, args), "--pretrained", str(folder)]) == 0
    pretrained = json.loads((tmp_path / "passport.json").read_text())["provenance"]["pretrained"]
    assert pretrained == {
        "bert-base-uncased": {
            "source": "bert-base-uncased",
            "revision": record["revision"],
            "commit": record["commit"],
            "weights": "pretrained",
            "sha256": {"model.safetensors": "ab" * 32},
        }
    }
    md = (tmp_path / "passport.md").read_text()
    assert "- pretrained `bert-base-uncased`: bert-base-uncased, revision `86b5e09" in md
