"""Training survives SIGKILL: resumed runs end with the weights of an uninterrupted run,
and a half-written checkpoint is never loaded. The learning-rate schedule."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import mlser.training.loop
from mlser.training.checkpoint import (
    CheckpointError,
    epoch_checkpoint,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from mlser.training.loop import NonFiniteLossError, TrainConfig, fit

# A toy stage: dropout (so the RNG matters), shuffled batches, model selection.
TOY = textwrap.dedent(
    """
    import os, signal, sys, torch
    from torch import nn
    import mlser.atomic, mlser.training.checkpoint
    from mlser.training.loop import TrainConfig, fit

    ckpt, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # optional: die inside the kill_save-th checkpoint write, half-way through the file
    # ("data") or after the file but before its digest sidecar ("sidecar")
    kill_where, kill_save = (sys.argv[4], int(sys.argv[5])) if len(sys.argv) > 4 else ("", 0)
    saves = {"n": 0}
    real_save, real_write_text = torch.save, mlser.atomic.write_text

    def dying_save(state, path):
        saves["n"] += 1
        real_save(state, path)
        if kill_where == "data" and saves["n"] == kill_save:
            data = open(path, "rb").read()
            open(path, "wb").write(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)

    def dying_write_text(path, text):
        if kill_where == "sidecar" and saves["n"] == kill_save:
            os.kill(os.getpid(), signal.SIGKILL)
        real_write_text(path, text)

    fake_torch = type("T", (), {"save": staticmethod(dying_save), "load": torch.load})
    mlser.training.checkpoint.torch = fake_torch
    mlser.training.checkpoint.write_text = dying_write_text
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(8, 8), nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3)
    )
    model[0].requires_grad_(False)  # a frozen part (as a frozen text encoder)
    counter = {"n": 0}

    def batches(epoch):
        order = torch.randperm(64, generator=torch.Generator().manual_seed(epoch))
        for i in range(0, 64, 8):
            counter["n"] += 1
            if counter["n"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            yield order[i : i + 8]

    def step_loss(m, idx):
        return nn.functional.cross_entropy(m(x[idx]), y[idx])

    def validate(m):
        return {"ua": float((m(x).argmax(1) == y).float().mean())}

    # a decaying rate: a resumed run must set each epoch's rate as the uninterrupted one did
    config = TrainConfig(epochs=6, lr=1e-2, grad_accum=2, lr_schedule="cosine")
    res = fit(model, batches, step_loss, validate, config, ckpt, context="toy", log=lambda s: None)
    torch.save({"final": model.state_dict(), "best": res.best_state, "epoch": res.best_epoch,
                "history": [h["train_loss"] for h in res.history]}, out)
    """
)


def run_toy(tmp: Path, ckpt: str, out: str, kill_at: int, *in_save: str) -> int:
    script = tmp / "toy.py"
    script.write_text(TOY)
    return subprocess.run(
        [sys.executable, str(script), str(tmp / ckpt), str(tmp / out), str(kill_at), *in_save],
        capture_output=True,
        text=True,
    ).returncode


class KilledError(Exception):
    """Stands in for a kill between two epochs of an in-process ``fit``."""


def killed_after(batches, epoch: int):
    """``batches`` that die when epoch ``epoch + 1`` starts (its checkpoint is on disk)."""

    def dying(e: int):
        if e > epoch:
            raise KilledError(f"killed after epoch {epoch}")
        return batches(e)

    return dying


def assert_same_run(tmp: Path, a: str, b: str) -> None:
    ref, resumed = torch.load(tmp / a), torch.load(tmp / b)
    assert ref["epoch"] == resumed["epoch"]
    assert ref["history"] == pytest.approx(resumed["history"])
    for key in ref["final"]:
        torch.testing.assert_close(ref["final"][key], resumed["final"][key])
        torch.testing.assert_close(ref["best"][key], resumed["best"][key])


def test_killed_training_resumes_to_the_same_result(tmp_path: Path) -> None:
    assert run_toy(tmp_path, "ref", "ref.pt", kill_at=-1) == 0
    # killed five times: at random batches (mid-epoch, mid-accumulation, early) and inside
    # checkpoint writes (a half-written file; a file without its digest); each restart
    # resumes from the last complete checkpoint
    rng = random.Random(11)
    plan = [(rng.randint(1, 10),) for _ in range(3)]
    plan += [(-1, "data", str(rng.randint(1, 2))), (-1, "sidecar", str(rng.randint(1, 2)))]
    rng.shuffle(plan)
    for kill in plan:
        assert run_toy(tmp_path, "resumed", "resumed.pt", *kill) == -signal.SIGKILL, kill
    # the killed writer's temporary is still there, and was never taken for a checkpoint
    assert [p for p in (tmp_path / "resumed").iterdir() if p.name.endswith(".tmp")]
    assert run_toy(tmp_path, "resumed", "resumed.pt", kill_at=-1) == 0
    assert_same_run(tmp_path, "ref.pt", "resumed.pt")


def _frozen_toy(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    model[0].requires_grad_(False)
    return model


def _fit_toy(
    model: torch.nn.Module, ckpt: Path, epochs: int, log=lambda s: None, kill_after: int = 0
):
    x, y = torch.randn(16, 4, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 2
    loss = lambda m, idx: torch.nn.functional.cross_entropy(m(x[idx]), y[idx])  # noqa: E731
    batches = lambda epoch: [torch.arange(8), torch.arange(8, 16)]  # noqa: E731
    if kill_after:
        batches = killed_after(batches, kill_after)
    validate = lambda m: {"ua": float((m(x).argmax(1) == y).float().mean())}  # noqa: E731
    return fit(model, batches, loss, validate, TrainConfig(epochs=epochs), ckpt, "toy", log)


def test_the_last_epoch_is_not_checkpointed_and_a_kill_before_the_save_redoes_it(
    tmp_path: Path,
) -> None:
    """The caller saves the last epoch's result: its checkpoint (at the papers' sizes
    5-7 GB) would be written only to be deleted. A run killed before that save resumes
    from the epoch before and ends with the same weights."""
    ckpt = tmp_path / "ck"
    whole = _fit_toy(_frozen_toy(0), ckpt, epochs=3)
    assert latest_checkpoint(ckpt)[0] == 2
    assert not epoch_checkpoint(ckpt, 3).exists()
    again = _fit_toy(_frozen_toy(0), ckpt, epochs=3)  # as if killed before the caller saved
    assert again.resumed_from == 2
    for key, value in whole.best_state.items():
        torch.testing.assert_close(again.best_state[key], value)


def test_frozen_parameters_are_saved_once_and_restored_on_resume(tmp_path: Path) -> None:
    ckpt = tmp_path / "ck"
    first = _frozen_toy(0)
    frozen = first[0].weight.clone()
    with pytest.raises(KilledError):
        _fit_toy(first, ckpt, epochs=3, kill_after=2)
    epoch, state = latest_checkpoint(ckpt)
    assert epoch == 2 and "0.weight" not in state["model"] and "1.weight" in state["model"]
    assert "0.weight" not in state["result"]["best_state"]
    torch.testing.assert_close(load_checkpoint(ckpt / "frozen.pt")["0.weight"], frozen)
    # a resumed run takes the frozen weights from the run's file, not from its own build
    again = _frozen_toy(1)
    result = _fit_toy(again, ckpt, epochs=3)
    assert result.resumed_from == 2
    torch.testing.assert_close(again[0].weight, frozen)
    assert set(result.best_state) == set(again.state_dict())  # the best weights are whole
    # a damaged frozen file: no resume, a fresh run from the model as built
    (ckpt / "frozen.pt").write_bytes(b"junk")
    said: list[str] = []
    fresh = _frozen_toy(2)
    built = fresh[0].weight.clone()
    assert _fit_toy(fresh, ckpt, epochs=3, log=said.append).resumed_from == 0
    assert any("not resuming" in s and "digest mismatch" in s for s in said)
    torch.testing.assert_close(fresh[0].weight, built)
    torch.testing.assert_close(load_checkpoint(ckpt / "frozen.pt")["0.weight"], built)


def test_half_written_checkpoint_is_never_loaded(tmp_path: Path) -> None:
    save_checkpoint({"epoch": 1}, epoch_checkpoint(tmp_path, 1))
    save_checkpoint({"epoch": 2}, epoch_checkpoint(tmp_path, 2))
    newest = epoch_checkpoint(tmp_path, 2)
    newest.write_bytes(newest.read_bytes()[:20])  # as if the disk filled mid-write
    with pytest.raises(CheckpointError, match="digest mismatch"):
        load_checkpoint(newest)
    epoch, state = latest_checkpoint(tmp_path)
    assert (epoch, state["epoch"]) == (1, 1)
    # a temporary left by a killed writer is not a checkpoint
    (tmp_path / ".epoch-0003.pt.abc.tmp").write_bytes(b"partial")
    assert latest_checkpoint(tmp_path)[0] == 1


def test_nonfinite_loss_stops_with_where_and_how_to_skip(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 1)

    def loss(m, batch):
        return m(batch).sum() * (float("nan") if batch[0, 0] > 0 else 1.0)

    batches = lambda epoch: [torch.full((1, 2), -1.0), torch.full((1, 2), 1.0)]  # noqa: E731
    validate = lambda m: {"ua": 0.0}  # noqa: E731
    with pytest.raises(NonFiniteLossError, match=r"exp-x, fold s2: loss is nan at epoch 1, step 2"):
        fit(model, batches, loss, validate, TrainConfig(epochs=1), tmp_path / "a", "exp-x, fold s2")
    cfg = TrainConfig(epochs=2, on_nonfinite="skip")
    result = fit(model, batches, loss, validate, cfg, tmp_path / "b", log=lambda s: None)
    assert result.skipped_batches == 2
    assert os.listdir(tmp_path / "b")


def test_nonfinite_loss_in_a_real_stage_names_experiment_fold_epoch_and_step(tmp_path) -> None:
    from mlser.data.batching import Example
    from mlser.training.multilevel import run_stage

    hubert = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    hubert |= {"intermediate_size": 32, "num_conv_pos_embeddings": 8}
    hubert |= {"num_conv_pos_embedding_groups": 4, "do_stable_layer_norm": True}
    models = {"acoustic": {"tiny": {"frontend": "logmel", "hubert": hubert}}}
    stage1 = {"acoustic_encoder": "tiny", "text_encoder": None, "fusion": "none"}
    experiment = {"id": "exp-nan", "fold": "s4", "model": {"stage1": {**stage1, "tasks": ["ser"]}}}
    audio = np.full(8000, 0.1, dtype=np.float32)
    bad = audio.copy()
    bad[100] = np.inf  # a corrupt sample that the audio reader would have refused
    train = [Example(f"u{i}", audio if i != 3 else bad, "hi", i % 4, 0, 0) for i in range(4)]
    kwargs = dict(
        stage_number=1,
        experiment=experiment,
        data={"train": train, "valid": train[:2], "test": []},
        classes=("neu", "hap", "ang", "sad"),
        models=models,
        out=tmp_path / "model.pt",
        device=torch.device("cpu"),
        log=lambda s: None,
    )
    training = {"epochs": 1, "batch_size": 1, "seed": 0}
    with pytest.raises(NonFiniteLossError) as err:
        run_stage(**kwargs, training=training, checkpoint_dir=tmp_path / "a")
    message = str(err.value)
    assert message.startswith("experiment exp-nan, stage 1, fold s4: loss is nan at epoch 1, step")
    assert "`on_nonfinite: skip`" in message
    assert not (tmp_path / "model.pt").exists()  # no garbage model left for Snakemake
    record = run_stage(
        **kwargs, training={**training, "on_nonfinite": "skip"}, checkpoint_dir=tmp_path / "b"
    )
    assert record["skipped_batches"] == 1 and (tmp_path / "model.pt").is_file()


@pytest.mark.parametrize(
    ("schedule", "factors"),
    # cosine over 4 epochs: (1 + cos(pi * k / 4)) / 2 for k = 0..3
    [("cosine", [1.0, 0.853553, 0.5, 0.146447]), ("constant", [1.0, 1.0, 1.0, 1.0])],
)
def test_lr_schedule_sets_every_groups_rate_per_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schedule: str, factors: list[float]
) -> None:
    seen: list[list[float]] = []
    real_step = mlser.training.loop._optimiser_step

    def recording_step(optimiser, params, config):
        seen.append([g["lr"] for g in optimiser.param_groups])
        real_step(optimiser, params, config)

    monkeypatch.setattr(mlser.training.loop, "_optimiser_step", recording_step)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    x, y = torch.randn(16, 4), torch.arange(16) % 2
    fit(
        model,
        lambda epoch: [torch.arange(8), torch.arange(8, 16)],
        lambda m, idx: torch.nn.functional.cross_entropy(m(x[idx]), y[idx]),
        lambda m: {"ua": float((m(x).argmax(1) == y).float().mean())},
        TrainConfig(epochs=4, lr=0.1, lr_schedule=schedule),
        tmp_path / "ck",
        "toy",
        lambda s: None,
        lr_scale=lambda name: 0.5 if name.startswith("1.") else 1.0,  # two groups
    )
    # two optimiser steps per epoch; the scaled group keeps its ratio
    expected = [sorted([0.05 * f, 0.1 * f]) for f in factors for _ in range(2)]
    assert [sorted(lrs) for lrs in seen] == [pytest.approx(e, rel=1e-5) for e in expected]


def test_unknown_lr_schedule_is_named() -> None:
    with pytest.raises(ValueError, match=r"'linear'.*constant.*cosine"):
        TrainConfig(lr_schedule="linear")


#: Validation metrics of four epochs, by hand: UA ties between epochs 2 and 3 (WA breaks
#: it), WF1 ties between epochs 1 and 4 (WA breaks it), WA is best in epoch 1.
SCRIPTED = [
    {"ua": 0.50, "wa": 0.80, "wf1": 0.70},
    {"ua": 0.60, "wa": 0.50, "wf1": 0.50},
    {"ua": 0.60, "wa": 0.60, "wf1": 0.40},
    {"ua": 0.40, "wa": 0.70, "wf1": 0.70},
]


@pytest.mark.parametrize(
    ("metric", "epoch", "stop_after"),
    [("ua", 3, 0), ("wa", 1, 0), ("wf1", 1, 0), ("ua", 3, 2), ("wf1", 1, 3)],
)
def test_selection_metric_ties_break_by_the_stated_rule_also_after_resume(
    tmp_path: Path, metric: str, epoch: int, stop_after: int
) -> None:
    """MELD selects on WF1, IEMOCAP on UA; a tie goes to TIE_BREAK's metrics, then the
    earlier epoch, and a run resumed mid-way chooses as an uninterrupted one."""
    from mlser.training.loop import selection_record

    model = torch.nn.Linear(2, 2)
    x = torch.randn(4, 2)
    calls = {"n": 0}  # validation passes so far, over both runs

    def validate(m: torch.nn.Module) -> dict[str, float]:
        calls["n"] += 1
        return SCRIPTED[calls["n"] - 1]

    def run(kill_after: int = 0):
        config = TrainConfig(epochs=4, select_metric=metric)
        loss = lambda m, b: m(b).pow(2).mean()  # noqa: E731
        batches = lambda e: [x]  # noqa: E731
        if kill_after:
            batches = killed_after(batches, kill_after)
        return fit(model, batches, loss, validate, config, tmp_path / "ck", "toy", print)

    if stop_after:
        with pytest.raises(KilledError):
            run(stop_after)
    result = run()
    assert calls["n"] == 4
    assert result.best_epoch == epoch
    record = selection_record(result, metric, ["v2", "v1"])
    assert record["select_metric"] == metric
    assert record["selected_on"]["ids"] == ["v1", "v2"]
    assert record["selected_on"]["sha256"] == hashlib.sha256(b"v1\nv2\n").hexdigest()
    assert record["best_valid"] == SCRIPTED[epoch - 1][metric]
    assert record["best_valid_ua"] == SCRIPTED[epoch - 1]["ua"]


@pytest.mark.parametrize(
    ("first", "then", "resumes"),
    [("ua", "ua", True), ("ua", "wf1", False)],
    ids=["older checkpoint, same metric", "checkpoint of another metric"],
)
def test_a_checkpoint_chosen_otherwise_is_not_resumed_from(
    tmp_path: Path, first: str, then: str, resumes: bool
) -> None:
    """A checkpoint without tie-breakers (an older version's) resumes when its best epoch is
    the one the selection picks from its history; one whose best epoch another metric
    chose is not resumed from: the run starts again and selects as an uninterrupted one."""
    from mlser.training.checkpoint import epoch_checkpoint, load_checkpoint, save_checkpoint

    calls = {"n": 0}

    def validate(m: torch.nn.Module) -> dict[str, float]:
        calls["n"] += 1
        return SCRIPTED[(calls["n"] - 1) % len(SCRIPTED)]

    x = torch.randn(4, 2)
    loss = lambda m, b: m(b).pow(2).mean()  # noqa: E731
    messages: list[str] = []

    def run(epochs: int, metric: str, kill_after: int = 0):
        config = TrainConfig(epochs=epochs, select_metric=metric, keep_checkpoints=4)
        batches = killed_after(lambda e: [x], kill_after) if kill_after else lambda e: [x]
        return fit(
            torch.nn.Linear(2, 2), batches, loss, validate, config, tmp_path / "ck",
            "toy", messages.append,
        )  # fmt: skip

    with pytest.raises(KilledError):
        run(4, first, kill_after=2)  # epochs 1-2: UA picks epoch 2
    path = epoch_checkpoint(tmp_path / "ck", 2)
    state = load_checkpoint(path)
    del state["result"]["best_tie_break"]  # as an older version wrote it
    save_checkpoint(state, path)
    calls["n"] = 2 if resumes else 0
    result = run(4, then)
    assert any("resumed from the checkpoint of epoch 2" in m for m in messages) is resumes
    assert result.best_epoch == {"ua": 3, "wf1": 1}[then]
