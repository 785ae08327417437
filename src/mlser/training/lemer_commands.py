"""The LE-MER steps of ``workflow/rules/lemer.smk`` (wang2023): ``train-lemer``,
``evaluate-lemer`` (often chained: ``train-lemer ... + evaluate-lemer ...``) and
``lemer-score-fusion``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from mlser.cli_args import (
    fold_args,
    stage_args,
    stage_kwargs,
    torch_device,
    unseen_arg,
    use_compute,
)


def lemer_fold(
    args: argparse.Namespace, history: int, partitions: Sequence[str] | None = None
) -> tuple[dict, tuple[str, ...]]:
    """The fold's examples (of ``partitions``, default all), each text with ``history``
    previous turns (0: none)."""
    from mlser.data.batching import load_examples
    from mlser.data.dialogue_context import with_history
    from mlser.data.folds import PARTITIONS, partition, read_folds
    from mlser.data.labels import classes_for
    from mlser.data.manifest import read_manifest

    classes = classes_for(args.corpus)
    manifest, folds = read_manifest(args.manifest), read_folds(args.folds)
    texts = with_history(manifest, args.corpus, history) if history else None
    data = {
        p: load_examples(partition(manifest, folds, args.fold, p), classes, texts)
        for p in (PARTITIONS if partitions is None else partitions)
    }
    return data, classes


def cmd_train_lemer(args: argparse.Namespace) -> int:
    from mlser.training.lemer import run_lemer_stage

    use_compute(args)
    data, classes = lemer_fold(args, args.text_history)
    record = run_lemer_stage(
        **stage_kwargs(args),
        data=data,
        classes=classes,
        keywords=args.keywords,
        frame_codes=args.frame_codes,
        codebook=args.codebook,
    )
    print(f"best epoch {record['best_epoch']}, valid {record['best_valid']:.4f}")
    return 0


def _add_train_lemer(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-lemer", help="LE-MER: train one stage of a wang2023 row")
    stage_args(p)
    p.add_argument("--text-history", type=int, default=0, help="previous turns spliced")
    p.add_argument("--keywords", type=Path, default=None)
    p.add_argument("--frame-codes", type=Path, default=None)
    p.add_argument("--codebook", type=Path, default=None)
    p.set_defaults(func=cmd_train_lemer)


def write_scores(
    predictions: Path,
    metrics: Path,
    experiment_id: str,
    fold: str,
    pred,
    extra: dict,
    unseen_text: Path | None = None,
) -> None:
    import json

    from mlser.atomic import write_json, write_text
    from mlser.evaluation.scoring import metrics_from_predictions, read_unseen_text
    from mlser.provenance import provenance

    write_text(predictions, pred.to_csv(sep="\t", index=False))
    unseen = None if unseen_text is None else read_unseen_text(unseen_text, fold)
    scores = metrics_from_predictions(pred, unseen)
    scores.update(experiment=experiment_id, fold=fold, **extra)
    scores.update(provenance=provenance())
    write_json(metrics, scores)
    print(json.dumps({k: v for k, v in scores.items() if k != "recall"}, default=str))


#: What each ``evaluate-lemer --scorings`` entry names: the row, its model, the dialogue
#: history its texts carry, and where its three outputs go.
LEMER_SCORING_KEYS = ("id", "model", "text_history", "predictions", "metrics", "attention")

#: What an entry may name besides: for a row that reads text, the corpus's unseen-text
#: list (its metrics then score the unseen- and seen-text subsets too, #24).
LEMER_SCORING_OPTIONAL = ("unseen_text",)


def cmd_evaluate_lemer(args: argparse.Namespace) -> int:
    """Score LE-MER models on one test fold in one process (torch and transformers
    imported once for all of them): each scoring's predictions, metrics and attention
    maps. The test partition is read once per dialogue-history length."""
    import json

    scorings = json.loads(args.scorings)
    if not isinstance(scorings, list) or not scorings:
        raise SystemExit("--scorings: a non-empty JSON list of scorings")
    for s in scorings:
        if (
            not isinstance(s, dict)
            or not set(LEMER_SCORING_KEYS) <= set(s)
            or not set(s) <= {*LEMER_SCORING_KEYS, *LEMER_SCORING_OPTIONAL}
        ):
            raise SystemExit(
                f"--scorings: {s!r} needs exactly the keys {LEMER_SCORING_KEYS}"
                f" (and may name {LEMER_SCORING_OPTIONAL})"
            )
    import gc

    from mlser.atomic import write_text
    from mlser.training.lemer import load_system, predict

    use_compute(args)
    device = torch_device(args.device)  # as the trainers: CUDA where this process sees one
    folds: dict[int, tuple[dict, tuple[str, ...]]] = {}
    for s in scorings:
        history = int(s["text_history"])
        if history not in folds:
            folds[history] = lemer_fold(args, history, ["test"])  # scoring reads no training audio
        data, classes = folds[history]
        system, _spec = load_system(Path(s["model"]))
        pred, maps = predict(
            system, data["test"], classes, args.max_batch_seconds, device, args.keep_maps
        )
        maps_json = json.dumps({"classes": list(classes), "utterances": maps}) + "\n"
        write_text(Path(s["attention"]), maps_json)
        extra = {"model": str(s["model"]), "text_history": history}
        unseen = Path(s["unseen_text"]) if s.get("unseen_text") else None
        write_scores(
            Path(s["predictions"]), Path(s["metrics"]), s["id"], args.fold, pred, extra, unseen
        )
        del system, pred, maps
        gc.collect()  # one model in memory at a time
    return 0


def _add_evaluate_lemer(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate-lemer", help="LE-MER: predictions, metrics, attention maps of a fold's models"
    )
    fold_args(p)
    p.add_argument(
        "--scorings",
        required=True,
        help=f"JSON list of {{{', '.join(LEMER_SCORING_KEYS)}}}, optionally "
        f"{', '.join(LEMER_SCORING_OPTIONAL)}",
    )
    p.add_argument("--max-batch-seconds", type=float, default=60.0)
    p.add_argument("--keep-maps", type=int, default=4, help="utterances whose maps to save")
    p.set_defaults(func=cmd_evaluate_lemer)


def cmd_lemer_score_fusion(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlser.data.labels import classes_for
    from mlser.evaluation.score_fusion import score_fusion

    preds = [pd.read_csv(p, sep="\t") for p in args.inputs]
    pred = score_fusion(preds, classes_for(args.corpus))
    extra = {"combines": [str(p) for p in args.inputs]}
    write_scores(
        args.predictions,
        args.metrics,
        args.experiment_id,
        args.fold,
        pred,
        extra,
        args.unseen_text,
    )
    return 0


def _add_lemer_score_fusion(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lemer-score-fusion", help="LE-MER: sum of unimodal logits")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--inputs", nargs="+", required=True, type=Path, help="predictions.tsv")
    p.add_argument("--experiment-id", required=True)
    p.add_argument("--fold", required=True)
    p.add_argument("--predictions", required=True, type=Path)
    p.add_argument("--metrics", required=True, type=Path)
    unseen_arg(p)
    p.set_defaults(func=cmd_lemer_score_fusion)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_train_lemer(sub)
    _add_evaluate_lemer(sub)
    _add_lemer_score_fusion(sub)
