"""The multi-level steps of ``workflow/rules/multilevel.smk`` (gao2024, gao2025):
``train-multilevel``, ``evaluate-multilevel``, ``experiment-predictions`` and
``evaluate-on-transcripts``."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlser.cli_args import (
    fold_args,
    stage_args,
    stage_kwargs,
    unseen_arg,
    unseen_flags,
    use_compute,
)


def load_fold(args: argparse.Namespace) -> tuple[dict, tuple[str, ...]]:
    from mlser.data.batching import fold_examples
    from mlser.data.folds import read_folds
    from mlser.data.labels import classes_for
    from mlser.data.manifest import read_manifest

    classes = classes_for(args.corpus)
    data = fold_examples(read_manifest(args.manifest), read_folds(args.folds), args.fold, classes)
    return data, classes


def cmd_train_multilevel(args: argparse.Namespace) -> int:
    from mlser.training.multilevel import run_stage

    use_compute(args)
    data, classes = load_fold(args)
    record = run_stage(
        **stage_kwargs(args), data=data, classes=classes, acoustic_init=args.acoustic_init
    )
    print(
        f"best epoch {record['best_epoch']}, valid {record['select_metric'].upper()} "
        f"{record['best_valid']:.4f}"
    )
    return 0


def _add_train_multilevel(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-multilevel", help="train stage 1 or 2 of a multi-level model")
    stage_args(p)
    p.add_argument(
        "--acoustic-init", type=Path, default=None, help="stage 1: a pretrained acoustic encoder"
    )
    p.set_defaults(func=cmd_train_multilevel)


def cmd_evaluate_multilevel(args: argparse.Namespace) -> int:
    """Score every model of one test fold in one process (one start-up of torch and
    transformers for all of them): ``<out>/<id>.tsv`` predictions and ``<out>/<id>.json``
    (model, text source) per scoring."""
    import gc
    import json

    from mlser.atomic import atomic_path, write_json, write_text
    from mlser.experiments import TEXT_SOURCES
    from mlser.training.multilevel import evaluate

    scorings = json.loads(args.scorings)
    for s in scorings:
        if s.get("text_source") not in TEXT_SOURCES or not {"id", "model"} <= set(s):
            raise SystemExit(
                f"--scorings: {s!r} needs an id, a model and a text_source in {TEXT_SOURCES}"
            )
    use_compute(args)
    data, _ = load_fold(args)
    with atomic_path(args.out) as tmp:
        tmp.mkdir()
        for s in scorings:
            pred = evaluate(
                model_path=s["model"],
                data=data["test"],
                text_source=s["text_source"],
                max_seconds=args.max_batch_seconds,
            )
            write_text(tmp / f"{s['id']}.tsv", pred.to_csv(sep="\t", index=False))
            write_json(tmp / f"{s['id']}.json", {k: s[k] for k in ("model", "text_source")})
            print(f"{s['id']}: {len(pred)} test utterances scored with {s['model']}", flush=True)
            del pred
            gc.collect()  # one model in memory at a time
    return 0


def _add_evaluate_multilevel(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate-multilevel", help="predictions of every model of a test fold")
    fold_args(p)
    p.add_argument(
        "--scorings",
        required=True,
        help='JSON list of {"id", "model", "text_source"} (ground_truth, asr, asr_corrected, none)',
    )
    p.add_argument("--max-batch-seconds", type=float, default=60.0)
    p.add_argument("--out", required=True, type=Path, help="folder: <id>.tsv and <id>.json")
    p.set_defaults(func=cmd_evaluate_multilevel)


def read_transcripts(path: Path) -> dict[str, str]:
    """``utt_id -> transcript`` of a row's predictions.tsv (a model that transcribes)."""
    import pandas as pd

    table = pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)
    missing = {"utt_id", "transcript"} - set(table.columns)
    if missing:
        raise SystemExit(f"{path}: no column(s) {sorted(missing)}: not a transcribing model's")
    return dict(zip(table["utt_id"], table["transcript"], strict=True))


def _write_row(pred_text: str, scores: dict, args: argparse.Namespace) -> None:
    """A row's predictions.tsv and metrics.json (with the provenance of this run)."""
    import json

    from mlser.atomic import write_text
    from mlser.provenance import provenance

    scores["provenance"] = provenance()
    write_text(args.out_predictions, pred_text)
    write_text(args.out_metrics, json.dumps(scores, indent=2, sort_keys=True, default=str) + "\n")
    print(json.dumps({k: v for k, v in scores.items() if k != "recall"}, default=str))


def cmd_evaluate_on_transcripts(args: argparse.Namespace) -> int:
    """A text-only row's model scored on another row's ASR transcripts of the same run
    (gao2025 Fig. 2(b): BERT, trained on the ground truth, reads HuBERT's transcripts)."""
    from mlser.evaluation.scoring import metrics_from_predictions
    from mlser.training.multilevel import evaluate

    transcripts = read_transcripts(args.transcripts)
    use_compute(args)
    data, _ = load_fold(args)
    pred = evaluate(
        model_path=args.model,
        data=data["test"],
        text_source="asr",
        max_seconds=args.max_batch_seconds,
        transcripts=transcripts,
    )
    scores = metrics_from_predictions(pred)
    scores.update(experiment=args.experiment_id, fold=args.fold, text_source="asr")
    # the WER is of the transcripts read: the transcribing row's
    scores.update(model=str(args.model), transcripts_of=args.transcripts_of)
    _write_row(pred.to_csv(sep="\t", index=False), scores, args)
    return 0


def _add_evaluate_on_transcripts(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate-on-transcripts",
        help="a text-only model's predictions on another model's ASR transcripts",
    )
    fold_args(p)
    p.add_argument("--model", required=True, type=Path, help="the text-only row's model.pt")
    p.add_argument(
        "--transcripts", required=True, type=Path, help="predictions.tsv of a transcribing row"
    )
    p.add_argument("--experiment-id", required=True, help="the text-only row")
    p.add_argument("--transcripts-of", required=True, help="the transcribing row")
    p.add_argument("--max-batch-seconds", type=float, default=60.0)
    p.add_argument("--out-predictions", required=True, type=Path)
    p.add_argument("--out-metrics", required=True, type=Path)
    p.set_defaults(func=cmd_evaluate_on_transcripts)


def cmd_experiment_predictions(args: argparse.Namespace) -> int:
    """One row's predictions and metrics, from its fold's scores (pandas only, no torch).

    Rows scored by the same model with the same test-time text share one scoring: each
    gets a copy of its predictions and the metrics under its own id.
    """
    import json

    import pandas as pd

    from mlser.evaluation.scoring import metrics_from_predictions

    table = Path(args.scores) / f"{args.scored_as}.tsv"
    if not table.is_file():
        raise SystemExit(f"{args.scores}: no scoring {args.scored_as!r} (the fold's scores)")
    text = table.read_text(encoding="utf-8")
    pred = pd.read_csv(table, sep="\t", keep_default_na=False)
    scores = metrics_from_predictions(pred, unseen_flags(args))
    source = json.loads(table.with_name(f"{args.scored_as}.json").read_text(encoding="utf-8"))
    scores.update(experiment=args.experiment_id, fold=args.fold)
    if args.experiment_id != args.scored_as:
        scores["predictions_of"] = args.scored_as
    scores.update(text_source=source["text_source"], model=source["model"])
    _write_row(text, scores, args)
    return 0


def _add_experiment_predictions(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experiment-predictions", help="one row's predictions and metrics from its fold's scores"
    )
    p.add_argument("--scores", required=True, type=Path, help="evaluate-multilevel's folder")
    p.add_argument("--scored-as", required=True, help="the scoring this row's predictions are")
    p.add_argument("--experiment-id", required=True)
    p.add_argument("--fold", required=True)
    p.add_argument("--out-predictions", required=True, type=Path)
    p.add_argument("--out-metrics", required=True, type=Path)
    unseen_arg(p)
    p.set_defaults(func=cmd_experiment_predictions)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_train_multilevel(sub)
    _add_evaluate_multilevel(sub)
    _add_experiment_predictions(sub)
    _add_evaluate_on_transcripts(sub)
