"""Runs: one fold trained under one seed (#24).

A config's ``seeds: [0, 1, 2]`` repeats every trained row on every fold under each
seed. A run is named after its fold, with ``_seed<N>`` appended for every seed but 0:
seed 0's run keeps the fold's name, so its files are those of a run made without
seeds, and adding seeds to a finished run trains only the new ones. The run name is
the ``{fold}`` of every per-fold path from training to scoring, so a stage-1
checkpoint is shared by the rows of one seed, and a scorecard that pairs rows by fold
name pairs them by (seed, fold).

A seed changes what training draws (initialisation, batch order, dropout), never the
data: every run of a fold trains, selects and tests on that fold's partitions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np

#: What separates a fold's name from its seed in a run's name.
SEED_MARK = "_seed"

#: Training seed distance between replicates: the trainers seed epoch ``e`` from
#: ``seed + e``, so replicates 1 apart would replay each other's epochs shifted by one.
SEED_STRIDE = 1_000

_RUN = re.compile(rf"^(?P<fold>.+?){SEED_MARK}(?P<seed>[1-9][0-9]*)$")


def run_name(fold: str, seed: int) -> str:
    """The run of ``fold`` under ``seed``: the fold's name for seed 0."""
    if seed < 0:
        raise ValueError(f"seeds are non-negative, got {seed}")
    return fold if seed == 0 else f"{fold}{SEED_MARK}{seed}"


def split_run(run: str) -> tuple[str, int]:
    """``run_name``'s inverse: ``"s1_seed2"`` -> ``("s1", 2)``, ``"s1"`` -> ``("s1", 0)``."""
    m = _RUN.match(run)
    return (m["fold"], int(m["seed"])) if m else (run, 0)


def run_names(folds: list[str], seeds: list[int]) -> list[str]:
    """Every run of ``folds`` under ``seeds``, seed by seed (seed 0's runs first)."""
    return [run_name(f, s) for s in seeds for f in folds]


def run_training(training: dict, run: str) -> dict:
    """A trainer's settings for ``run``: its ``seed`` moved to the run's replicate."""
    _, replicate = split_run(run)
    if replicate == 0:
        return training
    return {**training, "seed": int(training.get("seed", 0)) + SEED_STRIDE * replicate}


def seed_means(values: Mapping[str, float]) -> dict[str, float]:
    """Per-run values -> each fold's mean over its seeds (``s1``, ``s1_seed1`` -> ``s1``)."""
    groups: dict[str, list[float]] = {}
    for run, value in values.items():
        groups.setdefault(split_run(run)[0], []).append(float(value))
    return {fold: float(np.mean(v)) for fold, v in groups.items()}


def over_folds(values: Mapping[str, float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof=1) and number of folds of per-run values: the spread over
    folds, each fold's value its mean over its seeds. A split of one fold (MELD's test
    split, alqurashi2024's splits) spreads over its seeds instead. The std is NaN for a
    single value, the mean NaN for none."""
    if not values:
        return math.nan, math.nan, 0
    means = list(seed_means(values).values())
    spread = means if len(means) > 1 else [float(v) for v in values.values()]
    std = float(np.std(spread, ddof=1)) if len(spread) > 1 else math.nan
    return float(np.mean(means)), std, len(means)
