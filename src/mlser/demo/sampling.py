"""Seeded draws shared by the demo generators: one item, and labels in fixed proportions.

Generates no corpus; the text, voice and corpus modules draw through these so that the
same ``numpy`` generator state gives the same choice everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    """One item of ``items``, drawn uniformly with ``rng``."""
    return str(items[int(rng.integers(len(items)))])


def quota(n: int, probs: Mapping[str, float]) -> list[str]:
    """``n`` labels in the given proportions (largest remainder), in a fixed order."""
    labels = list(probs)
    p = np.array([probs[k] for k in labels], dtype=float)
    raw = n * p / p.sum()
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return [lab for lab, c in zip(labels, counts, strict=True) for _ in range(c)]
