"""``mlser synthesize``: a demo corpus in its release layout (rules
``synthesize_corpus`` in ``workflow/rules/corpora.smk`` and ``synthesize_read_speech`` in
``workflow/rules/pretraining.smk``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlser.cli_args import print_json


def cmd_synthesize(args: argparse.Namespace) -> int:
    import json

    spec = json.loads(args.spec) if args.spec else {}
    if args.corpus == "iemocap":
        from mlser.demo.iemocap import DemoIemocapSpec, generate_iemocap

        summary = generate_iemocap(args.out, DemoIemocapSpec.from_dict(spec))
    elif args.corpus == "read_speech":
        from mlser.demo.read_speech import ReadSpeechSpec, generate_read_speech

        summary = generate_read_speech(args.out, ReadSpeechSpec.from_dict(spec))
    else:
        from mlser.demo.meld import DemoMeldSpec, generate_meld

        summary = generate_meld(args.out, DemoMeldSpec.from_dict(spec))
    print_json(summary)
    return 0


def _add_synthesize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synthesize", help="generate a demo corpus in its release layout")
    p.add_argument("corpus", choices=["iemocap", "meld", "read_speech"])
    p.add_argument("--out", required=True, type=Path, help="release root to create")
    p.add_argument("--spec", default="", help="generator settings as a JSON object")
    p.set_defaults(func=cmd_synthesize)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_synthesize(sub)
