"""Utterances as tensors: loading, padding, and batching by length.

Batches pad to the longest utterance in the batch and carry the true lengths, so every
model can build its padding mask. Two batch orders are offered: the papers' plain one
(fixed batch size, random order) and length bucketing with a cap on the padded audio
seconds per batch (the dynamic batching of SpeechBrain and fairseq), which wastes far
fewer padded frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mlser.data.audio import load_audio
from mlser.data.labels import GENDERS, STYLES

IGNORE = -100  # target of an attribute a corpus does not annotate (MELD gender/style)
SAMPLE_RATE = 16_000


@dataclass
class Example:
    """One utterance: 16 kHz mono audio, transcript and label indices."""

    utt_id: str
    audio: np.ndarray
    text: str
    emotion: int
    gender: int
    style: int


@dataclass
class Batch:
    """A padded batch.

    Attributes:
        utt_ids: B utterance ids.
        waveforms: (B, S) float32, zero after each utterance's length.
        lengths: (B,) samples per utterance.
        texts: B transcripts (ground truth, or ASR output where a stage swaps them in).
        emotion, gender, style: (B,) class indices, ``IGNORE`` where unannotated.
    """

    utt_ids: list[str]
    waveforms: torch.Tensor
    lengths: torch.Tensor
    texts: list[str]
    emotion: torch.Tensor
    gender: torch.Tensor
    style: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.utt_ids,
            self.waveforms.to(device),
            self.lengths.to(device),
            self.texts,
            self.emotion.to(device),
            self.gender.to(device),
            self.style.to(device),
        )


def _index(value: str, options: Sequence[str]) -> int:
    return options.index(value) if value in options else IGNORE


def load_examples(
    rows: pd.DataFrame, classes: Sequence[str], texts: dict[str, str] | None = None
) -> list[Example]:
    """Examples for manifest ``rows``; ``texts`` replaces transcripts (e.g. ASR output)."""
    unknown = sorted(set(rows["emotion"]) - set(classes))
    if unknown:
        raise ValueError(f"emotions {unknown} are not among the classes {list(classes)}")
    return [
        Example(
            utt_id=r.utt_id,
            audio=load_audio(r.path, SAMPLE_RATE),
            text=texts[r.utt_id] if texts is not None else r.text,
            emotion=classes.index(r.emotion),
            gender=_index(r.gender, GENDERS),
            style=_index(r.style, STYLES),
        )
        for r in rows.itertuples(index=False)
    ]


def fold_examples(
    manifest: pd.DataFrame, folds: pd.DataFrame, fold: str, classes: tuple[str, ...]
) -> dict[str, list[Example]]:
    """The train / valid / test examples of ``fold``."""
    from mlser.data.folds import PARTITIONS, partition

    return {p: load_examples(partition(manifest, folds, fold, p), classes) for p in PARTITIONS}


def collate(examples: Sequence[Example]) -> Batch:
    """Pad ``examples`` into one :class:`Batch`."""
    lengths = torch.tensor([len(e.audio) for e in examples], dtype=torch.long)
    waves = torch.zeros(len(examples), int(lengths.max()), dtype=torch.float32)
    for i, e in enumerate(examples):
        waves[i, : len(e.audio)] = torch.from_numpy(np.asarray(e.audio, dtype=np.float32))
    return Batch(
        utt_ids=[e.utt_id for e in examples],
        waveforms=waves,
        lengths=lengths,
        texts=[e.text for e in examples],
        emotion=torch.tensor([e.emotion for e in examples]),
        gender=torch.tensor([e.gender for e in examples]),
        style=torch.tensor([e.style for e in examples]),
    )


def fixed_size_batches(n: int, batch_size: int, seed: int, shuffle: bool = True) -> list[list[int]]:
    """Index batches of ``batch_size`` in a seeded random (or the given) order."""
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    return [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]


def length_bucketed_batches(
    lengths: Sequence[int], max_padded: int, seed: int, shuffle: bool = True
) -> list[list[int]]:
    """Batches of similar length whose padded size ``len(batch) * longest`` stays
    within ``max_padded`` (samples); a longer single utterance gets a batch of its own.

    Sorting is by length with a little seeded jitter so that batches differ between
    epochs; the order of the batches is shuffled.
    """
    lengths = np.asarray(lengths)
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(0.95, 1.05, size=len(lengths)) if shuffle else np.ones(len(lengths))
    order = np.argsort(lengths * jitter, kind="stable")
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        candidate = max(longest, int(lengths[i]))
        if current and candidate * (len(current) + 1) > max_padded:
            batches.append(current)
            current, candidate = [], int(lengths[i])
        current.append(int(i))
        longest = candidate
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches


def batches_of(
    examples: list[Example],
    max_seconds: float,
    seed: int,
    shuffle: bool,
    batch_size: int | None = None,
) -> list[list[Example]]:
    """Length-bucketed batches of at most ``max_seconds`` padded audio each, or with
    ``batch_size`` the papers' plain fixed-size batches in random order."""
    if batch_size:
        order = fixed_size_batches(len(examples), batch_size, seed, shuffle)
    else:
        lengths = [len(e.audio) for e in examples]
        order = length_bucketed_batches(lengths, int(max_seconds * SAMPLE_RATE), seed, shuffle)
    return [[examples[i] for i in b] for b in order]


def padded_share(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """The share of padded (wasted) samples over ``batches``."""
    lengths = np.asarray(lengths)
    padded = sum(len(b) * lengths[list(b)].max() for b in batches)
    return float(1 - sum(lengths[list(b)].sum() for b in batches) / padded)
