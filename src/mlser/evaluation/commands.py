"""The protocol checks: ``passport`` and ``unseen-text`` (``workflow/rules/corpora.smk``),
``row-passport`` (``workflow/rules/report.smk``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_passport(args: argparse.Namespace) -> int:
    import json

    from mlser.data.folds import read_folds
    from mlser.data.manifest import read_manifest, read_rejects
    from mlser.evaluation.passport import PassportError, build_passport, to_markdown
    from mlser.provenance import fetched_records, provenance

    summary = json.loads(args.summary.read_text()) if args.summary is not None else None
    try:
        passport = build_passport(
            args.corpus,
            read_manifest(args.manifest),
            read_folds(args.folds),
            read_rejects(args.rejects),
            summary=summary,
            validation=args.validation,
            valid_share=args.valid_share,
            select_metric=args.select_metric,
            config_digest=args.config_digest,
            provenance={**provenance(), "pretrained": fetched_records(args.pretrained)},
            unseen_path=args.unseen_text,
            seeds=args.seeds,
            test_peek=args.test_peek,
        )
    except PassportError as exc:
        print(f"mlser passport: {args.folds}: {exc}", file=sys.stderr)
        return 2
    return _written(args, passport, to_markdown(passport))


def _written(args: argparse.Namespace, passport: dict, markdown: str) -> int:
    """Write a passport's JSON and Markdown (``--out-json``, ``--out-md``) and show it."""
    from mlser.atomic import write_json, write_text

    write_json(args.out_json, passport)
    write_text(args.out_md, markdown)
    print(markdown)
    return 0


def _add_passport(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("passport", help="protocol passport of a corpus (checked folds)")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--folds", required=True, type=Path)
    p.add_argument("--rejects", required=True, type=Path)
    p.add_argument("--summary", type=Path, help="the reader's prepare_summary.json")
    p.add_argument("--validation", default="stratified", choices=["stratified", "next_session"])
    p.add_argument("--valid-share", type=float, default=0.1)
    p.add_argument("--select-metric", default="ua", choices=["ua", "wa", "wf1"])
    p.add_argument("--config-digest", default=None, help="SHA-256 of the resolved config")
    p.add_argument("--unseen-text", default=None, help="the unseen-text list it names")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="the config's seeds")
    p.add_argument(
        "--test-peek",
        action="store_true",
        help="the trainings record per-epoch test scores (the report's bound, never selected on)",
    )
    p.add_argument(
        "--pretrained",
        nargs="*",
        default=[],
        type=Path,
        help="the run's fetched pretrained folders: their sources, revisions and digests",
    )
    p.add_argument("--out-json", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.set_defaults(func=cmd_passport)


def cmd_unseen_text(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text
    from mlser.data.folds import read_folds
    from mlser.data.manifest import read_manifest
    from mlser.evaluation.passport import PassportError, check_folds, unseen_text

    manifest, folds = read_manifest(args.manifest), read_folds(args.folds)
    try:
        check_folds(manifest, folds)
    except PassportError as exc:
        print(f"mlser unseen-text: {args.folds}: {exc}", file=sys.stderr)
        return 2
    table = unseen_text(manifest, folds)
    write_text(args.out, table.to_csv(sep="\t", index=False))
    print(table.groupby("fold", sort=False)["unseen_text"].agg(["size", "sum"]).to_string())
    return 0


def _add_unseen_text(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("unseen-text", help="per fold: test utterances whose text is unseen")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--folds", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_unseen_text)


def cmd_row_passport(args: argparse.Namespace) -> int:
    import json

    from mlser.data.folds import read_folds
    from mlser.evaluation.passport import PassportError
    from mlser.evaluation.row_passport import row_passports, to_markdown

    try:
        passports = row_passports(
            args.corpus,
            args.metrics,
            read_folds(args.folds),
            json.loads(args.passport.read_text()),
            root=args.root,
        )
    except PassportError as exc:
        print(f"mlser row-passport: {args.corpus}: {exc}", file=sys.stderr)
        return 2
    return _written(args, passports, to_markdown(passports))


def _add_row_passport(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "row-passport", help="per reported row: its runs and their checked model selection"
    )
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--folds", required=True, type=Path)
    p.add_argument("--passport", required=True, type=Path, help="the corpus passport.json")
    p.add_argument("--metrics", nargs="+", required=True, type=Path, help="the rows' metrics.json")
    p.add_argument(
        "--root", default=Path("."), type=Path, help="folder the model paths are relative to"
    )
    p.add_argument("--out-json", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.set_defaults(func=cmd_row_passport)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_passport(sub)
    _add_unseen_text(sub)
    _add_row_passport(sub)
