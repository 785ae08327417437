"""Command-line entry: ``python -m mlser <step> ...`` (also installed as ``mlser``).

Each Snakemake rule calls exactly one step. Steps import their heavy modules lazily so
that a rule pays only for what it uses at process start.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlser", description=__doc__)
    parser.add_subparsers(dest="step", required=True, metavar="STEP")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
