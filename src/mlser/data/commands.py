"""The corpus steps of ``workflow/rules/corpora.smk``: ``prepare`` (a release tree read into
``manifest.tsv`` + ``rejects.tsv``), ``folds`` and ``corpus-counts``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def cmd_prepare(args: argparse.Namespace) -> int:
    import json

    from mlser.atomic import write_text

    start = time.perf_counter()
    if args.corpus == "iemocap":
        from mlser.data.corpora.iemocap import prepare_iemocap

        summary = prepare_iemocap(args.root, args.out, workers=args.workers)
    else:
        from mlser.data.corpora.meld import prepare_meld

        overrides = {
            k: getattr(args, k)
            for k in ("train_csv", "dev_csv", "test_csv", "train_dir", "dev_dir", "test_dir")
            if getattr(args, k) is not None
        }
        summary = prepare_meld(args.root, args.out, workers=args.workers, **overrides)
    print(summary.format())
    record = summary.as_dict()
    record["seconds"] = round(time.perf_counter() - start, 2)
    write_text(Path(args.out) / "prepare_summary.json", json.dumps(record, indent=2, default=str))
    return 0


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="read a release tree into manifest.tsv + rejects.tsv")
    p.add_argument("corpus", choices=["iemocap", "meld"])
    p.add_argument("--root", required=True, type=Path, help="the release folder")
    p.add_argument("--out", required=True, type=Path, help="folder for manifest.tsv etc.")
    p.add_argument("--workers", type=int, default=1, help="processes for audio decoding")
    for name in ("train-csv", "dev-csv", "test-csv", "train-dir", "dev-dir", "test-dir"):
        p.add_argument(f"--{name}", type=Path, default=None, help=f"MELD only: the {name}")
    p.set_defaults(func=cmd_prepare)


def cmd_folds(args: argparse.Namespace) -> int:
    import sys

    from mlser.data import folds
    from mlser.data.manifest import read_manifest
    from mlser.evaluation.passport import PassportError, check_folds

    manifest = read_manifest(args.manifest)
    table = folds.build_folds(
        manifest,
        args.schemes,
        validation=args.validation,
        valid_share=args.valid_share,
        seed=args.seed,
    )
    try:  # here, not only in the passport: every training reads folds.tsv (#24)
        check_folds(manifest, table)
    except PassportError as exc:
        print(f"mlser folds: {args.manifest}: {exc}", file=sys.stderr)
        return 2
    folds.write_folds(table, args.out)
    print(table.groupby(["fold", "partition"]).size().unstack(fill_value=0).to_string())
    return 0


def _add_folds(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("folds", help="fold definitions (train/valid/test) from a manifest")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--schemes", nargs="+", required=True, help="loso, sd, si, official")
    p.add_argument("--validation", default="stratified", choices=["stratified", "next_session"])
    p.add_argument("--valid-share", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_folds)


def cmd_corpus_counts(args: argparse.Namespace) -> int:
    import json

    from mlser.atomic import write_text
    from mlser.data.corpus_counts import count_table, to_markdown
    from mlser.data.folds import read_folds
    from mlser.data.manifest import read_manifest, read_rejects

    repaired = {}
    if args.summary is not None:  # what the reader repaired in the rows it kept
        summary = json.loads(args.summary.read_text())
        if "c1_mapped" in summary:
            repaired["transcripts with cp1252 punctuation as C1 controls"] = summary["c1_mapped"]
    table = count_table(
        read_manifest(args.manifest),
        read_folds(args.folds),
        read_rejects(args.rejects),
        repaired,
    )
    write_text(args.out_csv, table.to_csv(index=False))
    write_text(args.out_md, to_markdown(table))
    print(table.to_string(index=False))
    return 0


def _add_corpus_counts(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus-counts", help="class counts per session/split and fold")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--rejects", required=True, type=Path)
    p.add_argument("--folds", required=True, type=Path)
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.add_argument("--summary", type=Path, help="the reader's prepare_summary.json")
    p.set_defaults(func=cmd_corpus_counts)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_prepare(sub)
    _add_folds(sub)
    _add_corpus_counts(sub)
