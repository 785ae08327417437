"""Batching: padding with true lengths, and length bucketing's cap and coverage."""

from __future__ import annotations

import numpy as np
import torch

from mlser.data.batching import (
    IGNORE,
    Example,
    collate,
    fixed_size_batches,
    length_bucketed_batches,
    padded_share,
)


def test_collate_pads_with_zeros_and_keeps_lengths() -> None:
    a = Example("a", np.ones(3, dtype=np.float32), "x", 1, 0, 1)
    b = Example("b", np.full(5, 0.5, dtype=np.float32), "y", 2, IGNORE, IGNORE)
    batch = collate([a, b])
    assert batch.waveforms.shape == (2, 5)
    assert batch.lengths.tolist() == [3, 5]
    assert batch.waveforms[0, 3:].abs().sum() == 0
    assert batch.gender.tolist() == [0, IGNORE]
    assert torch.equal(batch.emotion, torch.tensor([1, 2]))


def test_length_buckets_respect_the_cap_and_cover_everything() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(16_000, 16_000 * 12, size=300)
    batches = length_bucketed_batches(lengths, max_padded=16_000 * 40, seed=1)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(300))
    for b in batches:
        assert len(b) * lengths[b].max() <= 16_000 * 40 or len(b) == 1
    plain = fixed_size_batches(300, 8, seed=1)
    assert padded_share(batches, lengths) < padded_share(plain, lengths) / 2
    assert length_bucketed_batches(lengths, 16_000 * 40, seed=2) != batches


def test_single_overlong_utterance_gets_its_own_batch() -> None:
    batches = length_bucketed_batches([10, 1000, 12], max_padded=100, seed=0, shuffle=False)
    assert sorted(map(sorted, batches)) == [[0, 2], [1]]
