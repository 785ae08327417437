"""The hierarchical steps of ``workflow/rules/hierarchical.smk`` (alqurashi2024):
``train-hierarchical`` and ``evaluate-hierarchical``."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlser.cli_args import fold_args, unseen_arg, unseen_flags, use_compute


def cmd_train_hierarchical(args: argparse.Namespace) -> int:
    import json

    from mlser.atomic import write_json
    from mlser.data.folds import read_folds
    from mlser.data.labels import classes_for
    from mlser.data.manifest import read_manifest
    from mlser.data.runs import run_training
    from mlser.features.acoustic import load_feature_table
    from mlser.provenance import provenance
    from mlser.training.hierarchical import merge_tables, train_level

    use_compute(args)
    training = run_training(json.loads(args.training), args.fold)
    table = merge_tables([load_feature_table(p) for p in args.features])
    record = train_level(
        level=args.level,
        table=table,
        manifest=read_manifest(args.manifest),
        folds=read_folds(args.folds),
        fold=args.fold,
        classes=classes_for(args.corpus),
        training=training,
        out=args.out,
        probs_out=args.probs,
        checkpoint_dir=args.checkpoints,
    )
    record.update(settings={"training": training}, provenance=provenance())
    write_json(f"{args.out}.json", record)
    print(
        f"{args.level}: best epoch {record['best_epoch']}, "
        f"valid {record['select_metric'].upper()} {record['best_valid']:.4f}"
    )
    return 0


def _add_train_hierarchical(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-hierarchical", help="train one classifier of the hierarchy")
    fold_args(p)
    p.add_argument("--level", required=True, choices=["level1", "level2", "text"])
    p.add_argument("--features", nargs="+", required=True, type=Path, help="feature tables")
    p.add_argument("--training", required=True, help="training settings as JSON")
    p.add_argument("--checkpoints", required=True, type=Path, help="epoch checkpoints (resume)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--probs", required=True, type=Path, help="valid/test probabilities (TSV)")
    p.set_defaults(func=cmd_train_hierarchical)


def cmd_evaluate_hierarchical(args: argparse.Namespace) -> int:
    import json

    from mlser.atomic import write_json, write_text
    from mlser.data.folds import partition, read_folds
    from mlser.data.labels import classes_for
    from mlser.data.manifest import read_manifest
    from mlser.provenance import provenance
    from mlser.training.hierarchical import decide, read_probs, row_scores, threshold_sweep

    test = partition(read_manifest(args.manifest), read_folds(args.folds), args.fold, "test")
    gold, classes = test.set_index("utt_id")["emotion"], classes_for(args.corpus)
    threshold = None if args.threshold == "none" else float(args.threshold)
    p1, p2 = read_probs(args.level1), read_probs(args.level2)
    pt = read_probs(args.text) if args.text else None
    pred, skipped = decide(gold, p1, p2, pt, threshold, classes)
    write_text(args.predictions, pred.to_csv(sep="\t", index=False, float_format="%.6g"))
    scores = row_scores(pred, unseen_flags(args))
    if pt is not None and threshold is None and args.sweep:
        scores["threshold_sweep"] = threshold_sweep(gold, p1, p2, pt, args.sweep, classes)
    scores.update(experiment=args.experiment_id, fold=args.fold, threshold=threshold)
    scores["models"] = [p.as_posix() for p in args.models]  # for the row passport
    scores.update(skipped=skipped, provenance=provenance())
    write_json(args.metrics, scores)
    print(json.dumps({k: scores[k] for k in ("UA", "WA", "recall", "precision")}))
    return 0


def _add_evaluate_hierarchical(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate-hierarchical", help="a Table II row from its classifiers")
    fold_args(p)
    p.add_argument("--experiment-id", required=True)
    p.add_argument("--threshold", default="none", help="consistency threshold, or none")
    p.add_argument("--level1", required=True, type=Path, help="Model 1 probs.tsv")
    p.add_argument("--level2", required=True, type=Path, help="Model 2 probs.tsv")
    p.add_argument("--text", type=Path, default=None, help="Model 3 probs.tsv (speech+text)")
    p.add_argument(
        "--sweep", nargs="*", type=float, default=[], help="speech+text: thresholds to score too"
    )
    p.add_argument(
        "--models",
        nargs="+",
        required=True,
        type=Path,
        help="the classifiers whose probs these are",
    )
    p.add_argument("--predictions", required=True, type=Path)
    p.add_argument("--metrics", required=True, type=Path)
    unseen_arg(p)
    p.set_defaults(func=cmd_evaluate_hierarchical)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_train_hierarchical(sub)
    _add_evaluate_hierarchical(sub)
