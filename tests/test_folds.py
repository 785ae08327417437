"""Fold definitions: no test speaker/session leaks into training or model selection."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from mlser.data import folds


def make_manifest(n_per_speaker: int = 12) -> pd.DataFrame:
    rows = []
    emotions = ["neu", "hap", "ang", "sad"]
    for session, gender in itertools.product(range(1, 6), "FM"):
        for i in range(n_per_speaker):
            rows.append(
                {
                    "utt_id": f"Ses0{session}F_impro01_{gender}{i:03d}",
                    "emotion": emotions[i % 4],
                    "gender": gender,
                    "session": str(session),
                    "speaker": f"Ses0{session}_{gender}",
                    "split": "",
                }
            )
    return pd.DataFrame(rows)


def parts(table: pd.DataFrame, fold: str) -> dict[str, set[str]]:
    sub = table[table["fold"] == fold]
    return {p: set(sub.loc[sub["partition"] == p, "utt_id"]) for p in folds.PARTITIONS}


@pytest.mark.parametrize("validation", ["stratified", "next_session"])
def test_loso_keeps_test_session_out_of_train_and_valid(validation: str) -> None:
    manifest = make_manifest()
    table = folds.build_folds(manifest, ["loso"], validation=validation)
    assert folds.fold_names(table) == ["s1", "s2", "s3", "s4", "s5"]
    session = manifest.set_index("utt_id")["session"]
    speaker = manifest.set_index("utt_id")["speaker"]
    for k in range(1, 6):
        p = parts(table, f"s{k}")
        assert set(session[list(p["test"])]) == {str(k)}
        for part in ("train", "valid"):
            assert str(k) not in set(session[list(p[part])])
            assert not set(speaker[list(p[part])]) & set(speaker[list(p["test"])])
        # every utterance is used exactly once per fold
        assert p["train"] | p["valid"] | p["test"] == set(manifest["utt_id"])
        assert not p["train"] & p["valid"]


def test_loso_stratified_validation_covers_each_training_session_and_class() -> None:
    table = folds.build_folds(make_manifest(20), ["loso"], valid_share=0.1, seed=3)
    valid = parts(table, "s1")["valid"]
    # 4 training sessions x 4 classes, 10 utterances per (session, class) -> 1 each
    assert len(valid) == 16
    again = folds.build_folds(make_manifest(20), ["loso"], valid_share=0.1, seed=3)
    pd.testing.assert_frame_equal(table, again)
    other = folds.build_folds(make_manifest(20), ["loso"], valid_share=0.1, seed=4)
    assert parts(other, "s1")["valid"] != valid


def test_loso_next_session_validates_on_one_whole_session() -> None:
    manifest = make_manifest()
    table = folds.build_folds(manifest, ["loso"], validation="next_session")
    session = manifest.set_index("utt_id")["session"]
    assert set(session[list(parts(table, "s5")["valid"])]) == {"1"}
    assert set(session[list(parts(table, "s2")["valid"])]) == {"3"}


def test_speaker_independent_split_is_alqurashi2024s() -> None:
    manifest = make_manifest()
    p = parts(folds.build_folds(manifest, ["si"]), "si")
    m = manifest.set_index("utt_id")
    assert set(m.loc[list(p["train"]), "session"]) == {"1", "2", "3", "4"}
    assert set(m.loc[list(p["valid"]), "speaker"]) == {"Ses05_M"}
    assert set(m.loc[list(p["test"]), "speaker"]) == {"Ses05_F"}


def test_speaker_dependent_split_is_80_10_10_stratified() -> None:
    manifest = make_manifest(20)  # 200 utterances, 50 per class
    p = parts(folds.build_folds(manifest, ["sd"]), "sd")
    assert (len(p["train"]), len(p["valid"]), len(p["test"])) == (160, 20, 20)
    emo = manifest.set_index("utt_id")["emotion"]
    assert emo[list(p["test"])].value_counts().to_dict() == {e: 5 for e in emo.unique()}


def test_meld_official_split_maps_dev_to_valid() -> None:
    manifest = pd.DataFrame(
        {
            "utt_id": ["train_dia0_utt0", "dev_dia0_utt0", "test_dia0_utt0"],
            "emotion": ["joy", "anger", "neutral"],
            "split": ["train", "dev", "test"],
            "session": ["train_0", "dev_0", "test_0"],
        }
    )
    p = parts(folds.build_folds(manifest, ["official"]), "official")
    assert p == {
        "train": {"train_dia0_utt0"},
        "valid": {"dev_dia0_utt0"},
        "test": {"test_dia0_utt0"},
    }


def test_bad_schemes_and_folds_are_named() -> None:
    manifest = make_manifest()
    with pytest.raises(folds.FoldError, match=r"unknown fold scheme.*'kfold'"):
        folds.build_folds(manifest, ["kfold"])
    table = folds.build_folds(manifest, ["loso"])
    with pytest.raises(folds.FoldError, match="no fold 's9'"):
        folds.partition(manifest, table, "s9", "train")


def test_write_read_roundtrip(tmp_path) -> None:
    table = folds.build_folds(make_manifest(), ["loso", "si"])
    folds.write_folds(table, tmp_path / "folds.tsv")
    back = folds.read_folds(tmp_path / "folds.tsv")
    pd.testing.assert_frame_equal(back, table.astype(str))


def test_planned_fold_names_are_the_built_ones() -> None:
    table = folds.build_folds(make_manifest(), ["loso", "sd", "si"])
    planned = [n for s in ("loso", "sd", "si") for n in folds.scheme_fold_names(s)]
    assert folds.fold_names(table) == planned
