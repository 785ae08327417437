"""Fold definitions: which utterances train, select (validate) and test each model.

Every fold is a set of rows ``(fold, utt_id, partition)`` with partition in
``train``/``valid``/``test``. Schemes:

* ``loso`` (IEMOCAP, all four papers): five folds ``s1``..``s5``; fold ``sN`` tests on
  session N and trains on the other four. Model selection never looks at the test
  session: ``valid`` is drawn from the training sessions only, either as a stratified
  share of their utterances (``validation="stratified"``, the default) or as one whole
  training session, the next one after the test session (``validation="next_session"``).
* ``sd`` (alqurashi2024, speaker-dependent): all sessions pooled, stratified 80/10/10.
* ``si`` (alqurashi2024, speaker-independent): sessions 1-4 train, the male speaker of
  session 5 validates, the female speaker of session 5 tests.
* ``official`` (MELD): the release's train/dev/test split, dev used for selection.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from mlser.atomic import write_text
from mlser.data.runs import split_run

PARTITIONS: tuple[str, ...] = ("train", "valid", "test")
FOLD_COLUMNS: tuple[str, ...] = ("fold", "utt_id", "partition")


class FoldError(ValueError):
    """A fold scheme that cannot be built from the manifest at hand."""


def digest(ids: Iterable[str]) -> str:
    """SHA-256 of utterance ids sorted by code point, each followed by a newline (any order
    in): a partition's digest in the passports, and a selection's in a training record."""
    text = "".join(f"{i}\n" for i in sorted(ids))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stratified_pick(df: pd.DataFrame, share: float, seed: int, by: list[str]) -> pd.Index:
    """Pick about ``share`` of the rows of every group of ``by`` (at least one per group of 2+)."""
    rng = np.random.default_rng(seed)
    picked: list[str] = []
    for _, group in df.groupby(by, sort=True):
        ids = np.sort(group.index.to_numpy())
        n = round(len(ids) * share)
        if n == 0 and len(ids) >= 2 and share > 0:
            n = 1
        picked.extend(rng.choice(ids, size=n, replace=False).tolist())
    return pd.Index(sorted(picked))


def _rows(fold: str, parts: dict[str, pd.Index]) -> pd.DataFrame:
    frames = [
        pd.DataFrame({"fold": fold, "utt_id": list(ids), "partition": part})
        for part, ids in parts.items()
    ]
    return pd.concat(frames, ignore_index=True)


def loso_folds(
    manifest: pd.DataFrame,
    *,
    validation: str = "stratified",
    valid_share: float = 0.1,
    seed: int = 0,
) -> pd.DataFrame:
    """Leave-one-session-out folds ``s1``..``sN`` over the manifest's sessions."""
    m = manifest.set_index("utt_id")
    sessions = sorted(m["session"].unique(), key=lambda s: (len(s), s))
    if len(sessions) < 2:
        raise FoldError(f"leave-one-session-out needs 2+ sessions, manifest has {sessions}")
    out = []
    for i, test_session in enumerate(sessions):
        test = m.index[m["session"] == test_session]
        rest = m[m["session"] != test_session]
        if validation == "stratified":
            valid = _stratified_pick(rest, valid_share, seed + i, ["session", "emotion"])
        elif validation == "next_session":
            nxt = sessions[(i + 1) % len(sessions)]
            valid = rest.index[rest["session"] == nxt]
        else:
            raise FoldError(f"unknown validation method {validation!r}")
        train = rest.index.difference(valid)
        out.append(_rows(f"s{test_session}", {"train": train, "valid": valid, "test": test}))
    return pd.concat(out, ignore_index=True)


def speaker_dependent_fold(manifest: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """alqurashi2024 SD: all sessions pooled, stratified by emotion into 80/10/10."""
    m = manifest.set_index("utt_id")
    held = _stratified_pick(m, 0.2, seed, ["emotion"])
    rest = m.index.difference(held)
    test = _stratified_pick(m.loc[held], 0.5, seed + 1, ["emotion"])
    valid = held.difference(test)
    return _rows("sd", {"train": rest, "valid": valid, "test": test})


def speaker_independent_fold(manifest: pd.DataFrame, *, test_session: str = "5") -> pd.DataFrame:
    """alqurashi2024 SI: four sessions train; the held-out session's male speaker
    validates and its female speaker tests, so no speaker is in two partitions."""
    m = manifest.set_index("utt_id")
    if test_session not in set(m["session"]):
        raise FoldError(f"speaker-independent split needs session {test_session} in the manifest")
    held = m["session"] == test_session
    return _rows(
        "si",
        {
            "train": m.index[~held],
            "valid": m.index[held & (m["gender"] == "M")],
            "test": m.index[held & (m["gender"] == "F")],
        },
    )


def official_split_fold(manifest: pd.DataFrame) -> pd.DataFrame:
    """MELD's own train/dev/test split as one fold ``official``."""
    m = manifest.set_index("utt_id")
    mapping = {"train": "train", "dev": "valid", "test": "test"}
    unknown = sorted(set(m["split"]) - set(mapping))
    if unknown:
        raise FoldError(f"official split: unknown split values {unknown} in the manifest")
    return _rows("official", {p: m.index[m["split"] == s] for s, p in mapping.items()})


def build_folds(
    manifest: pd.DataFrame,
    schemes: list[str],
    *,
    validation: str = "stratified",
    valid_share: float = 0.1,
    seed: int = 0,
) -> pd.DataFrame:
    """All folds of the named ``schemes`` (``loso``, ``sd``, ``si``, ``official``)."""
    builders = {
        "loso": lambda: loso_folds(
            manifest, validation=validation, valid_share=valid_share, seed=seed
        ),
        "sd": lambda: speaker_dependent_fold(manifest, seed=seed),
        "si": lambda: speaker_independent_fold(manifest),
        "official": lambda: official_split_fold(manifest),
    }
    unknown = [s for s in schemes if s not in builders]
    if unknown:
        raise FoldError(f"unknown fold scheme(s) {unknown}; known: {sorted(builders)}")
    folds = pd.concat([builders[s]() for s in schemes], ignore_index=True)
    check_disjoint(folds)
    return folds


def scheme_fold_names(scheme: str) -> list[str]:
    """The folds a scheme produces, known before any data is read (for planning the DAG).

    ``loso`` assumes IEMOCAP's five sessions, as every release has.
    """
    names = {"loso": [f"s{i}" for i in range(1, 6)], "sd": ["sd"], "si": ["si"]}
    names["official"] = ["official"]
    if scheme not in names:
        raise FoldError(f"unknown fold scheme {scheme!r}; known: {sorted(names)}")
    return names[scheme]


def check_disjoint(folds: pd.DataFrame) -> None:
    """Raise if an utterance sits in two partitions of one fold."""
    dup = folds[folds.duplicated(["fold", "utt_id"], keep=False)]
    if not dup.empty:
        raise FoldError(
            f"utterances in two partitions of one fold: {dup.head().to_dict('records')}"
        )


def fold_names(folds: pd.DataFrame) -> list[str]:
    """Fold names in file order."""
    return list(dict.fromkeys(folds["fold"]))


def write_folds(folds: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Atomically write the folds table as TSV."""
    write_text(path, folds.loc[:, list(FOLD_COLUMNS)].to_csv(sep="\t", index=False))


def read_folds(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a folds table."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def partition(manifest: pd.DataFrame, folds: pd.DataFrame, fold: str, part: str) -> pd.DataFrame:
    """The manifest rows of partition ``part`` of fold ``fold``, in manifest order.

    ``fold`` may name a run (``s1_seed2``, ``mlser.data.runs``): every seed's run of a
    fold has that fold's partitions."""
    run = fold
    fold, _ = split_run(run)
    if fold not in set(folds["fold"]):
        raise FoldError(f"no fold {fold!r} (run {run!r}); folds are {fold_names(folds)}")
    if part not in PARTITIONS:
        raise FoldError(f"no partition {part!r}; partitions are {PARTITIONS}")
    ids = set(folds.loc[(folds["fold"] == fold) & (folds["partition"] == part), "utt_id"])
    return manifest[manifest["utt_id"].isin(ids)]
