"""The command-line entry: steps chained with ``+`` in one process."""

from __future__ import annotations

import pytest

from mlser import cli

FOLD = ["--corpus", "iemocap", "--manifest", "m.tsv", "--folds", "f.tsv", "--fold", "s1"]
TRAIN = ["train-lemer", *FOLD, "--stage", "2", "--experiment", "{}", "--models", "{}",
         "--training", "{}", "--checkpoints", "ck", "--out", "model.pt"]  # fmt: skip
SCORE = ["evaluate-lemer", *FOLD, "--scorings", "[]"]


def test_split_chain() -> None:
    assert cli.split_chain(["a", "--x", "1", "+", "b", "--y", "+", "c"]) == [
        ["a", "--x", "1"],
        ["b", "--y"],
        ["c"],
    ]
    assert cli.split_chain(["a", "--x", '{"k": "+"}']) == [["a", "--x", '{"k": "+"}']]
    for bad in (["a", "+"], ["+", "a"], ["a", "+", "+", "b"]):
        with pytest.raises(SystemExit, match="empty step"):
            cli.split_chain(bad)


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[str, object]], dict[str, int]]:
    """train-lemer and evaluate-lemer replaced by recorders returning a chosen code."""
    ran: list[tuple[str, object]] = []
    codes = {"train": 0, "evaluate": 0}

    def recorder(name: str):
        def run(args) -> int:
            ran.append((name, args.out if name == "train" else args.scorings))
            return codes[name]

        return run

    monkeypatch.setattr(cli, "cmd_train_lemer", recorder("train"))
    monkeypatch.setattr(cli, "cmd_evaluate_lemer", recorder("evaluate"))
    return ran, codes


def test_chained_steps_run_in_order_in_one_process(steps) -> None:
    ran, _ = steps
    assert cli.main([*TRAIN, "+", *SCORE]) == 0
    assert [name for name, _ in ran] == ["train", "evaluate"]


def test_chain_stops_at_the_first_failure(steps) -> None:
    ran, codes = steps
    codes["train"] = 3
    assert cli.main([*TRAIN, "+", *SCORE]) == 3
    assert [name for name, _ in ran] == ["train"]


def test_chain_parses_every_step_before_running_any(steps) -> None:
    ran, _ = steps
    with pytest.raises(SystemExit):
        cli.main([*TRAIN, "+", "evaluate-lemer", *FOLD])  # the second lacks --scorings
    assert ran == []


@pytest.mark.parametrize("scorings", ["{}", "[]", '[{"id": "x", "model": "m.pt"}]'])
def test_evaluate_lemer_names_a_malformed_scoring(scorings: str) -> None:
    with pytest.raises(SystemExit, match="--scorings"):
        cli.main(["evaluate-lemer", *FOLD, "--scorings", scorings])
