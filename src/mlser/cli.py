"""Command-line entry: ``python -m mlser <step> ...`` (also installed as ``mlser``).

Each Snakemake rule calls one step, or a chain of steps joined by ``+`` that share one
process (``train-lemer ... + evaluate-lemer ...``). Steps import their heavy modules inside
the step function so that a rule pays only for what it uses at process start.

A step's code and its options sit together in the commands module of its part of the
pipeline: ``data/commands.py`` has prepare, folds and corpus-counts,
``training/lemer_commands.py`` train-lemer, evaluate-lemer and lemer-score-fusion, ...
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """Every step, added by the commands modules in the order ``--help`` lists them (the
    pipeline's): corpora, pretrained models and pretraining, features and the three model
    families, the report, then the trained models outside the DAG."""
    from mlser import pretrained_commands
    from mlser.data import commands as data_commands
    from mlser.demo import commands as demo_commands
    from mlser.evaluation import commands as evaluation_commands
    from mlser.features import commands as features_commands
    from mlser.inference import commands as inference_commands
    from mlser.report import commands as report_commands
    from mlser.training import (
        hierarchical_commands,
        lemer_commands,
        multilevel_commands,
        pretraining_commands,
    )

    parser = argparse.ArgumentParser(prog="mlser", description=__doc__)
    sub = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    for module in (
        demo_commands,
        data_commands,
        evaluation_commands,
        pretrained_commands,
        pretraining_commands,
        multilevel_commands,
        features_commands,
        hierarchical_commands,
        lemer_commands,
        report_commands,
        inference_commands,
    ):
        module.register(sub)
    return parser


#: Separates steps that run one after the other in one process (``step-a ... + step-b ...``).
CHAIN = "+"


def split_chain(argv: Sequence[str]) -> list[list[str]]:
    """``[a, x, +, b, y]`` -> ``[[a, x], [b, y]]``; an empty step is an error."""
    steps: list[list[str]] = [[]]
    for token in argv:
        if token == CHAIN:
            steps.append([])
        else:
            steps[-1].append(token)
    if any(not step for step in steps):
        raise SystemExit(f"mlser: an empty step in the chain {' '.join(argv)!r}")
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step, or several joined by ``+``: a rule that trains and then scores pays
    for torch's and transformers' imports (5-7 s on 2 cores) once. Every step's
    arguments are parsed before the first runs; the chain stops at the first failure."""
    parser = build_parser()
    chain = [
        parser.parse_args(step) for step in split_chain(sys.argv[1:] if argv is None else argv)
    ]
    for args in chain:
        code = int(args.func(args) or 0)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
