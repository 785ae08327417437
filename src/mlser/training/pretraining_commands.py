"""``mlser pretrain-acoustic`` (``workflow/rules/pretraining.smk``): the demo's acoustic
encoder pretrained for CTC on read speech."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlser.cli_args import compute_args, use_compute


def cmd_pretrain_acoustic(args: argparse.Namespace) -> int:
    import json

    from mlser.atomic import write_json
    from mlser.training.pretraining import run_pretraining

    use_compute(args)
    record = run_pretraining(
        corpus=args.corpus,
        acoustic_encoder=args.acoustic_encoder,
        models=json.loads(args.models),
        training=json.loads(args.training),
        out=args.out,
        checkpoint_dir=args.checkpoints,
    )
    write_json(f"{args.out}.json", record)
    print(f"best epoch {record['best_epoch']}: held-out CER {record['valid_cer']:.3f}")
    return 0


def _add_pretrain_acoustic(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain-acoustic", help="pretrain the demo's acoustic encoder (CTC)")
    p.add_argument("--corpus", required=True, type=Path, help="a read-speech corpus folder")
    p.add_argument("--acoustic-encoder", required=True, help="a name in models.acoustic")
    p.add_argument("--models", required=True, help="the config's models section as JSON")
    p.add_argument("--training", required=True, help="the pretraining settings as JSON")
    p.add_argument("--checkpoints", required=True, type=Path)
    compute_args(p)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_pretrain_acoustic)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_pretrain_acoustic(sub)
