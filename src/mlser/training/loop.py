"""A resumable training loop with model selection, shared by every training stage.

Resuming equals not stopping: every epoch re-seeds torch's RNG from ``(seed, epoch)``
and the batch order comes from the caller's ``batches(epoch)``, so an epoch's updates do
not depend on what ran before it in the same process. After each epoch the state
(model, optimiser, best weights, history) is checkpointed atomically; a killed job
restarts from the newest complete checkpoint (:mod:`mlser.training.checkpoint`). Parameters that
do not train (a frozen pretrained text encoder is most of a demo model's bytes) are
saved once per run beside the epoch checkpoints, not in each of them.

The last epoch is not checkpointed: its result goes straight to the caller, which saves
the model and clears the checkpoints, so that checkpoint would only be written, hashed
and deleted (at the papers' sizes 5-7 GB with AdamW's state and the best weights; a
third of a one-epoch rehearsal job). A job killed before its model is saved re-runs the
last epoch from the one before, to the same result.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlser.data.folds import digest
from mlser.training.checkpoint import (
    CheckpointError,
    epoch_checkpoint,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)

FROZEN = "frozen.pt"  # the run's non-trainable parameters, beside its epoch checkpoints
#: ``lr_schedule`` and ``on_nonfinite`` values (their enums in config/schema.yaml).
LR_SCHEDULES = ("constant", "cosine")
ON_NONFINITE = ("stop", "skip")
#: The emotion metrics a stage may select its epoch on (``corpora.<name>.select_metric``).
SELECT_METRICS = ("ua", "wa", "wf1")
#: A tie on the selection metric goes to the better of these, in order, then to the earlier
#: epoch: the demo's validation sets (~23 utterances) tie often, and UA ties are broken by
#: WA (what the IEMOCAP tables print beside it), WF1 / WA ties by each other, then UA.
TIE_BREAK: dict[str, tuple[str, ...]] = {
    "ua": ("wa", "wf1"),
    "wa": ("wf1", "ua"),
    "wf1": ("wa", "ua"),
}


class NonFiniteLossError(FloatingPointError):
    """A NaN or infinite loss; the message names where it happened."""


class NonFiniteScoreError(FloatingPointError):
    """A NaN or infinite score of a test utterance; the message names it."""


def check_finite_scores(scores: np.ndarray, utt_ids: Sequence[str], context: str) -> None:
    """Scores ``(B, C)`` of the utterances ``utt_ids`` are all finite: argmax would give a
    NaN row class 0, a prediction no metric could tell from a real one."""
    bad = ~np.isfinite(scores).all(axis=1)
    if bad.any():
        named = [u for u, b in zip(utt_ids, bad, strict=True) if b]
        raise NonFiniteScoreError(
            f"{context}: {len(named)} utterance(s) scored NaN or infinite, e.g. {named[:3]}"
        )


#: History keys of the test-set metrics recorded for the optimistic bound (``fit``'s
#: ``peek``): never a selection metric.
PEEK_PREFIX = "test_"


@dataclass
class TrainConfig:
    """Optimisation settings of one training stage.

    Attributes:
        epochs: passes over the training batches.
        lr: AdamW learning rate (the papers: 1e-5).
        weight_decay: AdamW weight decay.
        grad_accum: batches per optimiser step (the papers: 8, with batch 2).
        max_grad_norm: gradient clipping; None disables it.
        seed: the base of every epoch's seed.
        on_nonfinite: ``"stop"`` raises on a NaN/inf loss; ``"skip"`` drops that batch.
        select_metric: validation metric to maximise for model selection (ties: see
            :data:`TIE_BREAK`, then the earlier epoch).
        keep_checkpoints: epoch checkpoints kept on disk.
        lr_schedule: ``"constant"`` or ``"cosine"`` (each epoch's rate is ``lr`` times
            ``(1 + cos(pi * (epoch - 1) / epochs)) / 2``: full in the first epoch).
        warmup_steps: linear warm-up over the first optimiser steps: at (1-based) step
            ``k`` every group's rate is multiplied by ``min(1, k / warmup_steps)`` on top of
            the epoch's ``lr_factor``; 0 = none (wang2023: 8000).
        max_batches: stop each epoch after this many batches (the rehearsal of the paper
            config, #23: a couple of optimiser steps per stage); None: every batch.
    """

    epochs: int = 10
    lr: float = 1e-4
    weight_decay: float = 0.0
    grad_accum: int = 1
    max_grad_norm: float | None = 5.0
    seed: int = 0
    on_nonfinite: str = "stop"
    select_metric: str = "ua"
    keep_checkpoints: int = 1
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    max_batches: int | None = None

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule {self.lr_schedule!r}: one of {LR_SCHEDULES}")
        if self.on_nonfinite not in ON_NONFINITE:
            raise ValueError(f"on_nonfinite {self.on_nonfinite!r}: one of {ON_NONFINITE}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps {self.warmup_steps}: must be >= 0")

    def lr_factor(self, epoch: int) -> float:
        """The factor on every group's rate in (1-based) ``epoch``."""
        if self.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / self.epochs))
        return 1.0

    def warmup_factor(self, step: int) -> float:
        """The warm-up factor at (1-based) optimiser ``step``."""
        return min(1.0, step / self.warmup_steps) if self.warmup_steps else 1.0


@dataclass
class FitResult:
    """What :func:`fit` returns: the selected weights and the per-epoch history."""

    best_state: dict[str, torch.Tensor]
    best_epoch: int
    best_score: float
    history: list[dict[str, float]] = field(default_factory=list)
    #: the best epoch's :data:`TIE_BREAK` metrics, kept so that a resumed run breaks ties
    #: as an uninterrupted one does
    best_tie_break: list[float] = field(default_factory=list)
    resumed_from: int = 0
    skipped_batches: int = 0


def selection_key(metrics: dict[str, float], select_metric: str) -> tuple[float, ...]:
    """What an epoch is ranked by: the selection metric, then its tie-breakers."""
    return (
        metrics[select_metric],
        *(metrics[m] for m in TIE_BREAK.get(select_metric, ()) if m in metrics),
    )


def with_row_selection(training: dict[str, Any], block: dict[str, Any] | None) -> dict[str, Any]:
    """``training`` with the ``select_metric`` of a row's own stage block where it sets one
    (the row's override of the corpus's metric; a stage-2 block does not inherit stage 1's)."""
    if block and block.get("select_metric"):
        return {**training, "select_metric": block["select_metric"]}
    return training


def _selection_matches(result: dict[str, Any], config: TrainConfig) -> bool:
    """Whether a checkpoint's best epoch is the one ``config`` selects from its history, and
    fills in the tie-breakers of checkpoints that predate them (then ``True``)."""
    history = result.get("history", [])
    if not history:
        return True
    if any(config.select_metric not in h for h in history):
        return False
    best = max(history, key=lambda h: (selection_key(h, config.select_metric), -h["epoch"]))
    if best["epoch"] != result.get("best_epoch"):
        return False
    key = selection_key(best, config.select_metric)
    result["best_score"], result["best_tie_break"] = key[0], list(key[1:])
    return True


def selection_record(
    result: FitResult, select_metric: str, selected_on: Sequence[str]
) -> dict[str, Any]:
    """What a training record says of its model selection: the metric, the tie-breakers,
    the chosen epoch's value of it, the chosen epoch's validation UA, and the utterances
    the selection scored (``selected_on``: their ids, count and digest), which the row
    passport checks against the fold's partitions (:mod:`mlser.evaluation.row_passport`)."""
    best = next((h for h in result.history if h["epoch"] == result.best_epoch), {})
    ids = sorted(selected_on)
    return {
        "select_metric": select_metric,
        "tie_break": [*TIE_BREAK.get(select_metric, ()), "earlier epoch"],
        "best_valid": result.best_score,
        **({"best_valid_ua": best["ua"]} if "ua" in best else {}),
        "selected_on": {"utterances": len(ids), "sha256": digest(ids), "ids": ids},
    }


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _frozen_keys(model: nn.Module) -> set[str]:
    """State-dict keys of the parameters that do not train (every alias of each)."""
    return {n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}


def _changing(state: dict[str, torch.Tensor], frozen: set[str]) -> dict[str, torch.Tensor]:
    """What training changes: trainable parameters and every buffer."""
    return {k: v for k, v in state.items() if k not in frozen}


def _adamw(groups: list[dict[str, Any]], config: TrainConfig, device: torch.device):
    """AdamW, fused where torch has a fused kernel for the device (CPU, CUDA): on the
    demo's small models the per-tensor loop of the default implementation costs more
    than the update."""
    kwargs = {"lr": config.lr, "weight_decay": config.weight_decay}
    if device.type in ("cpu", "cuda"):
        kwargs["fused"] = True
    return torch.optim.AdamW(groups, **kwargs)


def fit(
    model: nn.Module,
    batches: Callable[[int], Iterable[Any]],
    step_loss: Callable[[nn.Module, Any], torch.Tensor],
    validate: Callable[[nn.Module], dict[str, float]],
    config: TrainConfig,
    checkpoint_dir: str | os.PathLike[str],
    context: str = "",
    log: Callable[[str], None] = print,
    lr_scale: Callable[[str], float] | None = None,
    peek: Callable[[nn.Module], dict[str, float]] | None = None,
) -> FitResult:
    """Train ``model`` in place, selecting the epoch with the best validation metric.

    Args:
        batches: ``batches(epoch)`` yields the training batches of a (1-based) epoch.
        step_loss: the loss of one batch (a scalar tensor with gradient).
        validate: metrics on the validation data; ``config.select_metric`` is maximised.
        checkpoint_dir: where epoch checkpoints go; an existing one is resumed from.
        context: e.g. ``"experiment gao2025-exp17, fold s3"``, named in errors.
        lr_scale: maps a parameter name to a factor on ``config.lr`` (e.g. a smaller rate
            for a pretrained encoder than for freshly initialised layers).
        peek: metrics on the test data, recorded in each epoch's history as ``test_<name>``
            for the optimistic bound of the report (the best epoch picked on the test set,
            as some papers do, #24) and never read by the selection, which sees
            ``validate``'s metrics only.
    Returns:
        A :class:`FitResult`; the model holds the weights of the last epoch.
    """
    params = _trainable(model)
    if not params:
        raise ValueError(f"{context}: the model has no trainable parameters")
    groups: dict[float, list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.setdefault(lr_scale(name) if lr_scale else 1.0, []).append(p)
    optimiser = _adamw(
        [{"params": ps, "lr": config.lr * scale} for scale, ps in sorted(groups.items())],
        config,
        params[0].device,
    )
    base_lrs = [g["lr"] for g in optimiser.param_groups]
    frozen = _frozen_keys(model)
    result = FitResult(best_state={}, best_epoch=0, best_score=-math.inf)
    start_epoch, steps_taken = 1, 0
    resumed = latest_checkpoint(checkpoint_dir)
    fixed: dict[str, torch.Tensor] = {}
    if resumed is not None and frozen:
        try:
            fixed = load_checkpoint(Path(checkpoint_dir) / FROZEN)
        except CheckpointError as err:
            log(f"{context}: not resuming, {err}")
            resumed = None
        if resumed is not None and set(fixed) != frozen:
            log(f"{context}: not resuming, {FROZEN} holds other parameters than this model's")
            resumed = None
    if resumed is not None and not _selection_matches(resumed[1]["result"], config):
        log(
            f"{context}: not resuming, the checkpoint's best epoch was not chosen by "
            f"{config.select_metric} with TIE_BREAK (a checkpoint of an older version, or "
            "of a run with another selection metric)"
        )
        resumed = None
    frozen_saved = resumed is not None
    if resumed is not None:
        epoch, state = resumed
        model.load_state_dict({**fixed, **state["model"]})  # strict: every key, once
        optimiser.load_state_dict(state["optimiser"])
        # the warm-up goes on where it stopped (older checkpoints: AdamW's own count)
        steps_taken = int(state.get("optimiser_steps", _adam_steps(optimiser)))
        result = FitResult(**state["result"])
        result.resumed_from = epoch
        start_epoch = epoch + 1
        log(f"{context}: resumed from the checkpoint of epoch {epoch}")

    for epoch in range(start_epoch, config.epochs + 1):
        # numpy too: HuBERT's SpecAugment draws its masks from numpy's global RNG
        torch.manual_seed(config.seed * 100_003 + epoch)
        np.random.seed((config.seed * 100_003 + epoch) % 2**32)
        # a function of the epoch alone, so a resumed run sets the same rates
        rates = [base * config.lr_factor(epoch) for base in base_lrs]
        for group, rate in zip(optimiser.param_groups, rates, strict=True):
            group["lr"] = rate
        model.train()
        started, total, count, step = time.perf_counter(), 0.0, 0, 0
        on_gpu = params[0].device.type == "cuda"
        if on_gpu:  # the epoch's peak, for the rehearsal's memory bill (#23)
            torch.cuda.reset_peak_memory_stats(params[0].device)
        optimiser.zero_grad(set_to_none=True)
        epoch_batches = batches(epoch)
        all_batches = len(epoch_batches) if hasattr(epoch_batches, "__len__") else None
        if config.max_batches is not None:
            epoch_batches = itertools.islice(epoch_batches, config.max_batches)
        for step, batch in enumerate(epoch_batches, start=1):
            loss = step_loss(model, batch)
            if not torch.isfinite(loss):
                if config.on_nonfinite == "skip":
                    result.skipped_batches += 1
                    optimiser.zero_grad(set_to_none=True)
                    continue
                raise NonFiniteLossError(
                    f"{context}: loss is {loss.item()} at epoch {epoch}, step {step}; "
                    "set `on_nonfinite: skip` in the stage's training config to skip "
                    "such batches instead"
                )
            (loss / config.grad_accum).backward()
            total, count = total + loss.item(), count + 1
            if step % config.grad_accum == 0:
                steps_taken += 1
                _warm_up(optimiser, rates, config, steps_taken)
                _optimiser_step(optimiser, params, config)
        if step % config.grad_accum:
            steps_taken += 1
            _warm_up(optimiser, rates, config, steps_taken)
            _optimiser_step(optimiser, params, config)

        train_seconds = time.perf_counter() - started
        model.eval()
        with torch.no_grad():
            metrics = validate(model)
        key = selection_key(metrics, config.select_metric)
        record = {"epoch": epoch, "train_loss": total / max(count, 1), **metrics}
        if peek is not None:  # after the selection key is taken: it cannot reach it
            with torch.no_grad():
                record.update({f"{PEEK_PREFIX}{k}": v for k, v in peek(model).items()})
        record["seconds"] = round(time.perf_counter() - started, 3)
        record["train_seconds"] = round(train_seconds, 3)
        if config.max_batches is not None:  # the rehearsal scales an epoch from these
            record["batches"], record["epoch_batches"] = step, all_batches
        if on_gpu:
            peak = torch.cuda.max_memory_allocated(params[0].device)
            record["peak_gpu_mb"] = round(peak / 2**20, 1)
        result.history.append(record)
        # strictly better only: of equal epochs the earlier stays
        if key > (result.best_score, *result.best_tie_break):
            result.best_score, result.best_epoch = key[0], epoch
            result.best_tie_break = list(key[1:])
            result.best_state = copy.deepcopy(_changing(model.state_dict(), frozen))
        log(
            " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
            )
        )
        if epoch == config.epochs:
            break  # the caller saves the result (module docstring)
        if frozen and not frozen_saved:
            save_checkpoint(
                {k: v for k, v in model.state_dict().items() if k in frozen},
                Path(checkpoint_dir) / FROZEN,
            )
            frozen_saved = True
        save_checkpoint(
            {
                "model": _changing(model.state_dict(), frozen),
                "optimiser": optimiser.state_dict(),
                "result": asdict(result),
                "optimiser_steps": steps_taken,
            },
            epoch_checkpoint(checkpoint_dir, epoch),
        )
        prune_checkpoints(checkpoint_dir, config.keep_checkpoints)
    if not result.best_state:
        raise RuntimeError(f"{context}: no epoch was trained (epochs={config.epochs})")
    # frozen parameters are the same in every epoch: the current ones complete the best
    result.best_state = {k: result.best_state.get(k, v) for k, v in model.state_dict().items()}
    return result


def _warm_up(
    optimiser: torch.optim.Optimizer, rates: list[float], config: TrainConfig, step: int
) -> None:
    """Every group's rate at optimiser ``step``: its epoch rate times the warm-up factor
    (untouched without a warm-up)."""
    if config.warmup_steps:
        for group, rate in zip(optimiser.param_groups, rates, strict=True):
            group["lr"] = rate * config.warmup_factor(step)


def _adam_steps(optimiser: torch.optim.Optimizer) -> int:
    """Optimiser steps taken, as AdamW counts them per parameter."""
    return max((int(s["step"]) for s in optimiser.state.values() if "step" in s), default=0)


def _optimiser_step(
    optimiser: torch.optim.Optimizer, params: list[nn.Parameter], config: TrainConfig
) -> None:
    if config.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    optimiser.step()
    optimiser.zero_grad(set_to_none=True)


def clear_checkpoints(checkpoint_dir: str | os.PathLike[str]) -> None:
    """Remove a finished stage's checkpoints (its result is saved elsewhere)."""
    directory = Path(checkpoint_dir)
    if directory.is_dir():
        prune_checkpoints(directory, keep=0)
        for name in (FROZEN, f"{FROZEN}.sha256"):
            (directory / name).unlink(missing_ok=True)
        if not any(directory.iterdir()):
            directory.rmdir()
