"""Utterance-level acoustic feature sets of alqurashi2024 §II-B1, extracted once per corpus.

* ``mfcc39_mean``: 39 MFCCs (librosa, 16 kHz) averaged over frames, one 39-d vector per
  utterance ("39 dimensional MFCCs ... the mean of the frames").
* ``handcrafted8``: the eight features of Sahu 2019 (the paper's ref. [15], librosa):
  signal mean and std, RMS energy mean and std, pause (share of low-energy frames),
  harmonic mean (HPSS), and the maximum and std of the autocorrelation of the
  centre-clipped signal (pitch).
* ``gemaps``: openSMILE's GeMAPS v01b functionals (62-d), the paper's set (§II-B1 names
  GeMAPS, computed with openSMILE).
* ``egemaps``: openSMILE's eGeMAPS v02 functionals (88-d), the extended set.

Each set is a ``(D,)`` vector per utterance; a table maps utterance id to vector and lists
the utterances whose audio could not be processed (never dropped silently).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from mlser.atomic import atomic_path
from mlser.data.audio import load_audio
from mlser.data.batching import SAMPLE_RATE

__all__ = [
    "ACOUSTIC_FEATURE_SETS",
    "FeatureTable",
    "extract_acoustic",
    "finished_table",
    "handcrafted8",
    "load_feature_table",
    "mfcc39_mean",
    "save_feature_table",
]


@dataclass
class FeatureTable:
    """Features of one corpus for one feature set.

    Attributes:
        name: the feature set (``mfcc39_mean``, ``gemaps``, ``text-bert_base``...).
        features: utterance id -> ``(D,)`` vector or ``(T, D)`` sequence (float32).
        skipped: utterance id -> why no features exist for it.
        seconds: wall-clock extraction time.
    """

    name: str
    features: dict[str, torch.Tensor]
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def dim(self) -> int:
        first = next(iter(self.features.values()))
        return int(first.shape[-1])


def mfcc39_mean(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``(39,)`` frame-mean of 39 librosa MFCCs."""
    import librosa

    return librosa.feature.mfcc(y=y, sr=sr, n_mfcc=39).mean(axis=1)


def handcrafted8(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``(8,)`` Sahu 2019's features: [sig_mean, sig_std, rmse_mean, rmse_std, silence,
    harmonic, auto_corr_max, auto_corr_std] (same constants as his extraction code)."""
    import librosa

    sig_mean = float(np.mean(np.abs(y)))
    sig_std = float(np.std(y))
    rmse = librosa.feature.rms(y=y + 0.0001)[0]
    silence = float(np.mean(rmse <= 0.4 * rmse.mean()))
    harmonic = float(np.mean(librosa.effects.hpss(y)[0]) * 1000)
    # centre clipping at 45 % of the mean amplitude keeps the pitch peaks of the waveform
    clip = 0.45 * sig_mean
    clipped = np.where(y >= clip, y - clip, np.where(y <= -clip, y + clip, 0.0))
    auto = librosa.autocorrelate(clipped)
    return np.array(
        [
            sig_mean,
            sig_std,
            float(rmse.mean()),
            float(rmse.std()),
            silence,
            harmonic,
            float(1000 * np.max(auto) / len(auto)),
            float(np.std(auto)),
        ]
    )


def _opensmile(feature_set: str) -> Callable[[np.ndarray, int], np.ndarray]:
    import opensmile

    smile = opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, feature_set),
        feature_level=opensmile.FeatureLevel.Functionals,
    )

    def extract(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        return smile.process_signal(y, sr).to_numpy()[0]

    return extract


#: Feature set name -> factory of its ``(waveform, sr) -> (D,)`` extractor.
ACOUSTIC_FEATURE_SETS: dict[str, Callable[[], Callable[..., np.ndarray]]] = {
    "mfcc39_mean": lambda: mfcc39_mean,
    "handcrafted8": lambda: handcrafted8,
    "gemaps": lambda: _opensmile("GeMAPSv01b"),
    "egemaps": lambda: _opensmile("eGeMAPSv02"),
}


def extract_acoustic(
    manifest: pd.DataFrame, feature_set: str, log: Callable[[str], None] = print
) -> FeatureTable:
    """``feature_set`` for every manifest utterance; failures are listed in ``skipped``."""
    if feature_set not in ACOUSTIC_FEATURE_SETS:
        raise ValueError(
            f"unknown acoustic feature set {feature_set!r}; known: {sorted(ACOUSTIC_FEATURE_SETS)}"
        )
    start = time.perf_counter()
    extract = ACOUSTIC_FEATURE_SETS[feature_set]()
    features: dict[str, torch.Tensor] = {}
    skipped: dict[str, str] = {}
    for r in manifest.itertuples(index=False):
        try:
            vec = np.asarray(extract(load_audio(r.path, SAMPLE_RATE), SAMPLE_RATE), np.float32)
        except Exception as exc:  # one bad file must not stop the corpus; it is listed
            skipped[r.utt_id] = f"{type(exc).__name__}: {exc}"
            continue
        if not np.isfinite(vec).all():
            skipped[r.utt_id] = "non-finite feature values"
            continue
        features[r.utt_id] = torch.tensor(vec)
    return finished_table(feature_set, features, skipped, start, log)


def finished_table(
    name: str,
    features: dict[str, torch.Tensor],
    skipped: dict[str, str],
    start: float,
    log: Callable[[str], None] = print,
) -> FeatureTable:
    """The table of an extraction begun at ``start`` (perf_counter); logs each skipped
    utterance, and fails if none could be processed."""
    for utt, why in skipped.items():
        log(f"{name}: skipped {utt}: {why}")
    if not features:
        raise ValueError(f"{name}: no utterance could be processed")
    return FeatureTable(name, features, skipped, time.perf_counter() - start)


def save_feature_table(path: str | os.PathLike[str], table: FeatureTable) -> None:
    """Atomically save ``table`` (torch file)."""
    payload: dict[str, Any] = {
        "name": table.name,
        "features": table.features,
        "skipped": table.skipped,
        "seconds": table.seconds,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_feature_table(path: str | os.PathLike[str]) -> FeatureTable:
    """A table written by :func:`save_feature_table`."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return FeatureTable(saved["name"], saved["features"], saved["skipped"], saved["seconds"])
