"""Trained models outside the DAG: ``mlser predict`` and ``mlser export`` (the latter also
the rule ``export_model`` of ``workflow/rules/export.smk``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlser.cli_args import compute_args, torch_device, use_compute


def cmd_predict(args: argparse.Namespace) -> int:
    """Exit status: 0 every file predicted, 1 some file failed, 2 the model did not load."""
    from transformers.utils import logging as hf_logging

    from mlser.atomic import write_text
    from mlser.inference.export import ExportError, load_any
    from mlser.inference.predict import (
        PredictOptions,
        expand_inputs,
        predict_files,
        to_jsonl,
        to_tsv,
    )
    from mlser.models.specs import StageError

    use_compute(args)
    hf_logging.disable_progress_bar()

    def warn(message: str) -> None:
        print(f"mlser predict: {message}", file=sys.stderr)

    try:
        options = PredictOptions(args.batch_seconds, args.chunk_seconds, args.max_seconds)
    except ValueError as exc:
        warn(str(exc))
        return 2
    try:
        loaded = load_any(args.model)
        inputs = expand_inputs(args.audio)
        rows = list(predict_files(loaded, inputs, options, torch_device(args.device), warn))
    except (ExportError, StageError) as exc:
        warn(str(exc))
        return 2
    text = to_jsonl(rows) if args.format == "jsonl" else to_tsv(rows)
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_text(args.out, text)
    failed = sum(r["status"] != "ok" for r in rows)
    warn(f"{len(rows)} file(s): {len(rows) - failed} predicted, {failed} failed")
    return 1 if failed else 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="emotion, transcript, gender, style and gate values of audio files",
        description="Exit status: 0 all files predicted, 1 some failed (each is reported "
        "with its cause), 2 the model could not be loaded.",
    )
    p.add_argument("model", type=Path, help="an exported folder or a pipeline model.pt")
    p.add_argument("audio", nargs="+", type=Path, help="audio files or directories")
    p.add_argument("--format", choices=["tsv", "jsonl"], default="tsv")
    p.add_argument("--out", type=Path, default=None, help="write here (default: stdout)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-seconds", type=float, default=60.0, help="padded audio per batch")
    p.add_argument(
        "--chunk-seconds", type=float, default=30.0, help="longer files are cut into chunks"
    )
    p.add_argument("--max-seconds", type=float, default=1800.0, help="longer files are refused")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_predict)


def cmd_export(args: argparse.Namespace) -> int:
    import json

    from transformers.utils import logging as hf_logging

    from mlser.inference.export import ExportError, export_model

    use_compute(args)
    hf_logging.disable_progress_bar()
    origin = json.loads(args.origin) if args.origin else None
    try:
        loaded = export_model(args.model, args.out, origin)
    except ExportError as exc:
        print(f"mlser export: {exc}", file=sys.stderr)
        return 2
    print(f"exported {args.model} to {args.out}: emotions {', '.join(loaded.classes)}")
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a trained model as a self-contained Hugging Face folder")
    p.add_argument("model", type=Path, help="a pipeline model.pt or an exported folder")
    p.add_argument("out", type=Path, help="the folder to write")
    p.add_argument("--origin", default="", help="JSON object recorded in config.json")
    compute_args(p)
    p.set_defaults(func=cmd_export)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_predict(sub)
    _add_export(sub)
