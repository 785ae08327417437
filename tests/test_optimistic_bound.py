"""The optimistic bound (#24): each epoch's test scores go into the training history
only; the selection, the kept weights and the training itself are those of a run
without them."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mlser.training.loop import PEEK_PREFIX, TrainConfig, fit

# validation UA peaks at epoch 2, test UA at epoch 4: a selection that read the test
# scores would keep epoch 4
VALID = {1: 0.40, 2: 0.70, 3: 0.50, 4: 0.45}
TEST = {1: 0.30, 2: 0.50, 3: 0.55, 4: 0.90}


def _run(tmp: Path, peek: bool):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 3))
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    epoch = {"n": 0}

    def batches(e: int):
        epoch["n"] = e
        return [torch.arange(i, i + 8) for i in range(0, 32, 8)]

    def step_loss(m, idx):
        return nn.functional.cross_entropy(m(x[idx]), y[idx])

    def validate(m):
        return {"ua": VALID[epoch["n"]], "wa": 0.5}

    def test_scores(m):
        m(x)  # a forward pass, as scoring does
        return {"ua": TEST[epoch["n"]], "wa": 0.5}

    config = TrainConfig(epochs=4, lr=0.01, select_metric="ua")
    return fit(
        model, batches, step_loss, validate, config, tmp, log=lambda s: None,
        peek=test_scores if peek else None,
    ), model  # fmt: skip


def test_test_scores_are_recorded_and_never_select(tmp_path: Path) -> None:
    plain, plain_model = _run(tmp_path / "plain", peek=False)
    peeked, peeked_model = _run(tmp_path / "peek", peek=True)
    assert plain.best_epoch == peeked.best_epoch == 2
    assert [h[f"{PEEK_PREFIX}ua"] for h in peeked.history] == [TEST[e] for e in range(1, 5)]
    assert all(f"{PEEK_PREFIX}ua" not in h for h in plain.history)
    # the same weights kept, and the same training: peeking draws nothing from the RNG
    for k, v in plain.best_state.items():
        assert torch.equal(v, peeked.best_state[k]), k
    for a, b in zip(plain_model.parameters(), peeked_model.parameters(), strict=True):
        assert torch.equal(a, b)
