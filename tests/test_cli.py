"""The command-line entry: every step the rules run is registered; steps chained with ``+``
in one process."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlser import cli
from mlser.training import lemer_commands

RULES = Path(__file__).resolve().parents[1] / "workflow" / "rules"

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

    monkeypatch.setattr(lemer_commands, "cmd_train_lemer", recorder("train"))
    monkeypatch.setattr(lemer_commands, "cmd_evaluate_lemer", recorder("evaluate"))
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


def rule_steps() -> dict[str, set[str]]:
    """Every ``python -m mlser <step>`` of workflow/rules/*.smk, and every step chained
    after it with ``+``, read from the rules' string literals -> the files naming it."""
    steps: dict[str, set[str]] = {}
    for smk in sorted(RULES.glob("*.smk")):
        for literal in re.findall(r'"([^"\n]*)"', smk.read_text(encoding="utf-8")):
            for step in re.findall(r"python -m mlser ([a-z][a-z0-9-]*)", literal) + re.findall(
                r"(?:^|\s)\+ ([a-z][a-z0-9-]*)", literal
            ):
                steps.setdefault(step, set()).add(smk.name)
    return steps


def registered_steps(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_step_of_the_rules_is_registered() -> None:
    steps = rule_steps()
    # the reader sees the rules: a step of each family, and the one only chained after +
    assert {"prepare", "train-multilevel", "train-hierarchical", "fetch-pretrained"} <= set(steps)
    assert steps["evaluate-lemer"] == {"lemer.smk"}
    registered = registered_steps(cli.build_parser())
    missing = {s: sorted(files) for s, files in steps.items() if s not in registered}
    assert not missing, f"steps the rules run but mlser does not register: {missing}"
    for step in steps:  # each runs a command of its own
        assert callable(registered[step].get_default("func")), step


def test_a_dropped_registration_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lemer_commands, "register", lambda sub: None)
    registered = registered_steps(cli.build_parser())
    assert {"train-lemer", "evaluate-lemer", "lemer-score-fusion"}.isdisjoint(registered)
    assert {"train-lemer", "evaluate-lemer"} <= set(rule_steps()) - set(registered)


def test_help_lists_every_step() -> None:
    parser = cli.build_parser()
    listed = re.findall(r"^    (\S+)", parser.format_help(), re.MULTILINE)
    assert len(listed) > 30 and sorted(listed) == sorted(registered_steps(parser))


def test_building_every_parser_imports_no_library_the_steps_use() -> None:
    # every rule job and `mlser --help` build all parsers: the commands modules import
    # what a step uses inside the step (json too: 2-4 ms of each start-up)
    code = (
        "import sys, mlser.cli; mlser.cli.build_parser(); "
        "print(*sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'transformers', 'numpy', 'pandas', 'matplotlib', 'json'}))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == []
