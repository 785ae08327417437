"""The manifest: one TSV per corpus, written once by ``prepare``, read by every later rule.

Columns (in this order): ``utt_id, path, duration, text, emotion, gender, style,
session, speaker, split``. ``session`` is the IEMOCAP session (1-5) or the MELD
dialogue id; ``split`` is MELD's official split (``train``/``dev``/``test``) and
empty for IEMOCAP, whose folds are derived from ``session`` (see :mod:`mlser.data.folds`).
Utterances that could not be used are never dropped silently: they go to a rejects
TSV (``id, path, reason``) beside the manifest.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlser.atomic import write_text

MANIFEST_COLUMNS: tuple[str, ...] = (
    "utt_id",
    "path",
    "duration",
    "text",
    "emotion",
    "gender",
    "style",
    "session",
    "speaker",
    "split",
)
REJECT_COLUMNS: tuple[str, ...] = ("id", "path", "reason")


class ManifestError(ValueError):
    """A manifest file that does not have the expected form."""


@dataclass(frozen=True)
class Reject:
    """One utterance (or file) that was left out, and why."""

    id: str
    path: str
    reason: str


def _to_tsv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    # QUOTE_MINIMAL keeps tabs/newlines inside transcripts from breaking rows.
    df.to_csv(buf, sep="\t", index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return buf.getvalue()


def write_manifest(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Validate and atomically write a manifest; rows are sorted by ``utt_id``."""
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"manifest for {path} lacks columns {missing}")
    dup = df["utt_id"][df["utt_id"].duplicated()].tolist()
    if dup:
        raise ManifestError(f"manifest for {path} has duplicate utt_id values: {dup[:5]}")
    out = df.loc[:, list(MANIFEST_COLUMNS)].sort_values("utt_id", kind="stable")
    write_text(path, _to_tsv(out))


def read_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest`, checking its columns."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}: run `python -m mlser prepare` first")
    df = pd.read_csv(
        path,
        sep="\t",
        dtype={
            "utt_id": str,
            "path": str,
            "text": str,
            "emotion": str,
            "gender": str,
            "style": str,
            "session": str,
            "speaker": str,
            "split": str,
        },
        keep_default_na=False,
    )
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"{path}: missing columns {missing}")
    df["duration"] = df["duration"].astype(float)
    return df


def write_rejects(rejects: list[Reject], path: str | os.PathLike[str]) -> None:
    """Atomically write the rejects report (header only when nothing was rejected)."""
    df = pd.DataFrame([r.__dict__ for r in rejects], columns=list(REJECT_COLUMNS))
    write_text(path, _to_tsv(df.sort_values(["id", "reason"], kind="stable")))


def read_rejects(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a rejects report."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
