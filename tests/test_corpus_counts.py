"""Corpus counts: per split, fold partition, rejects and what the reader repaired."""

from __future__ import annotations

import json

import pandas as pd

from mlser import cli
from mlser.data.corpus_counts import count_table


def _tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    manifest = pd.DataFrame(
        {
            "utt_id": ["a", "b", "c", "d"],
            "emotion": ["neu", "joy", "neu", "neu"],
            "split": ["train", "train", "dev", "test"],
        }
    )
    folds = pd.DataFrame(
        {
            "fold": ["official"] * 4,
            "utt_id": ["a", "b", "c", "d"],
            "partition": ["train", "train", "valid", "test"],
        }
    )
    rejects = pd.DataFrame({"id": ["x"], "path": ["x.mp4"], "reason": ["missing"]})
    return manifest, folds, rejects


def test_counts_by_hand_with_rejects_and_repairs() -> None:
    table = count_table(*_tables(), {"transcripts with cp1252 punctuation as C1 controls": 3})
    rows = {(r.group, r.key): r for r in table.itertuples()}
    assert (rows["split", "train"].neu, rows["split", "train"].joy) == (1, 1)
    assert rows["fold", "official/valid"].total == 1
    assert rows["all", "all"].total == 4
    assert rows["rejected", "all"].total == 1
    assert rows["repaired", "transcripts with cp1252 punctuation as C1 controls"].total == 3


def test_cli_lists_the_readers_c1_repairs_from_its_summary(tmp_path) -> None:
    manifest, folds, rejects = _tables()
    for name, frame in (("m.tsv", manifest), ("f.tsv", folds), ("r.tsv", rejects)):
        frame.to_csv(tmp_path / name, sep="\t", index=False)
    full = manifest.assign(
        path="", duration=1.0, text="", gender=-100, style=-100, session="", speaker=""
    )
    full.to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    (tmp_path / "s.json").write_text(json.dumps({"c1_mapped": 2, "c1_mapped_chars": 5}))
    args = ["corpus-counts", "--manifest", str(tmp_path / "m.tsv"), "--folds"]
    args += [str(tmp_path / "f.tsv"), "--rejects", str(tmp_path / "r.tsv"), "--summary"]
    args += [str(tmp_path / "s.json"), "--out-csv", str(tmp_path / "c.csv")]
    assert cli.main([*args, "--out-md", str(tmp_path / "c.md")]) == 0
    out = pd.read_csv(tmp_path / "c.csv")
    repaired = out[out["group"] == "repaired"]
    assert repaired["total"].tolist() == [2]
    assert "cp1252 punctuation" in (tmp_path / "c.md").read_text()
