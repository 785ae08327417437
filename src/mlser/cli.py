"""Command-line entry: ``python -m mlser <step> ...`` (also installed as ``mlser``).

Each Snakemake rule calls exactly one step. Steps import their heavy modules inside
the step function so that a rule pays only for what it uses at process start.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def cmd_synthesize(args: argparse.Namespace) -> int:
    from mlser import demo_corpus

    spec = json.loads(args.spec) if args.spec else {}
    if args.corpus == "iemocap":
        summary = demo_corpus.generate_iemocap(
            args.out, demo_corpus.DemoIemocapSpec.from_dict(spec)
        )
    else:
        summary = demo_corpus.generate_meld(args.out, demo_corpus.DemoMeldSpec.from_dict(spec))
    _print_json(summary)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text

    start = time.perf_counter()
    if args.corpus == "iemocap":
        from mlser.corpora.iemocap import prepare_iemocap

        summary = prepare_iemocap(args.root, args.out, workers=args.workers)
    else:
        from mlser.corpora.meld import prepare_meld

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


def cmd_folds(args: argparse.Namespace) -> int:
    from mlser import folds
    from mlser.manifest import read_manifest

    manifest = read_manifest(args.manifest)
    table = folds.build_folds(
        manifest,
        args.schemes,
        validation=args.validation,
        valid_share=args.valid_share,
        seed=args.seed,
    )
    folds.write_folds(table, args.out)
    print(table.groupby(["fold", "partition"]).size().unstack(fill_value=0).to_string())
    return 0


def cmd_corpus_counts(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text
    from mlser.corpus_counts import count_table, to_markdown
    from mlser.folds import read_folds
    from mlser.manifest import read_manifest, read_rejects

    table = count_table(
        read_manifest(args.manifest), read_folds(args.folds), read_rejects(args.rejects)
    )
    write_text(args.out_csv, table.to_csv(index=False))
    write_text(args.out_md, to_markdown(table))
    print(table.to_string(index=False))
    return 0


def _load_fold(args: argparse.Namespace) -> tuple[dict, tuple[str, ...]]:
    from mlser.folds import read_folds
    from mlser.labels import classes_for
    from mlser.manifest import read_manifest
    from mlser.multilevel_training import fold_examples

    classes = classes_for(args.corpus)
    data = fold_examples(read_manifest(args.manifest), read_folds(args.folds), args.fold, classes)
    return data, classes


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def cmd_train_multilevel(args: argparse.Namespace) -> int:
    from mlser.multilevel_training import run_stage

    _set_threads(args.threads)
    experiment = {**json.loads(args.experiment), "fold": args.fold}
    data, classes = _load_fold(args)
    record = run_stage(
        stage_number=args.stage,
        experiment=experiment,
        data=data,
        classes=classes,
        models=json.loads(args.models),
        training=json.loads(args.training),
        out=args.out,
        checkpoint_dir=args.checkpoints,
        init=args.init,
    )
    print(f"best epoch {record['best_epoch']}, valid UA {record['best_valid_ua']:.4f}")
    return 0


def cmd_evaluate_multilevel(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text
    from mlser.evaluation import metrics_from_predictions
    from mlser.multilevel_training import evaluate, write_json

    _set_threads(args.threads)
    data, _ = _load_fold(args)
    pred = evaluate(
        model_path=args.model,
        data=data["test"],
        text_source=args.text_source,
        max_seconds=args.max_batch_seconds,
    )
    write_text(args.predictions, pred.to_csv(sep="\t", index=False))
    scores = metrics_from_predictions(pred)
    from mlser.provenance import provenance

    scores.update(experiment=args.experiment_id, fold=args.fold, text_source=args.text_source)
    scores.update(model=str(args.model), provenance=provenance())
    write_json(args.metrics, scores)
    print(json.dumps({k: v for k, v in scores.items() if k != "recall"}, default=str))
    return 0


def cmd_experiments_table(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text
    from mlser.experiments import load_matrix
    from mlser.results_table import collect, summarize, to_markdown

    table = summarize(collect(args.metrics), load_matrix(args.matrix))
    write_text(args.out_csv, table.to_csv(index=False))
    write_text(args.out_md, to_markdown(table))
    print(to_markdown(table))
    return 0


# ------------------------------------------------------------------ LE-MER (wang2023)


def _fold_train_rows(args: argparse.Namespace):
    from mlser.folds import partition, read_folds
    from mlser.manifest import read_manifest

    return partition(read_manifest(args.manifest), read_folds(args.folds), args.fold, "train")


def cmd_label_keywords(args: argparse.Namespace) -> int:
    from mlser.label_keywords import KeywordSettings, label_keywords, write_keywords
    from mlser.labels import classes_for

    start = time.perf_counter()
    rows = _fold_train_rows(args)
    settings = KeywordSettings.from_dict(json.loads(args.settings))
    table = label_keywords(rows["text"], rows["emotion"], classes_for(args.corpus), settings)
    write_keywords(table, args.out)
    print(table.to_string(index=False))
    print(f"{len(rows)} training transcripts, {time.perf_counter() - start:.2f} s")
    return 0


def cmd_codebook(args: argparse.Namespace) -> int:
    from mlser.audio import load_audio
    from mlser.codebook import CodebookSettings, build_codebook, save_codebook, top_codes
    from mlser.label_keywords import write_keywords
    from mlser.labels import classes_for

    _set_threads(args.threads)
    start = time.perf_counter()
    rows = _fold_train_rows(args)
    settings = CodebookSettings(**json.loads(args.settings))
    audios = [load_audio(p) for p in rows["path"]]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(max(1, args.threads)):  # k-means' OpenMP/BLAS threads too
        codebook = build_codebook(rows["utt_id"].tolist(), audios, settings)
    table = top_codes(codebook, rows["emotion"].tolist(), classes_for(args.corpus), args.table_k)
    save_codebook(args.out_codebook, codebook)
    write_keywords(table, args.out_codes)
    print(table.groupby("class").head(10).to_string(index=False))
    print(f"{len(rows)} training utterances, {time.perf_counter() - start:.2f} s")
    return 0


def _lemer_fold(args: argparse.Namespace) -> tuple[dict, tuple[str, ...]]:
    """The fold's examples, each text with its dialogue history where the stage asks."""
    from mlser.data import load_examples
    from mlser.dialogue_context import with_history
    from mlser.folds import PARTITIONS, partition, read_folds
    from mlser.labels import classes_for
    from mlser.manifest import read_manifest

    classes = classes_for(args.corpus)
    manifest, folds = read_manifest(args.manifest), read_folds(args.folds)
    texts = with_history(manifest, args.corpus, args.text_history) if args.text_history else None
    data = {
        p: load_examples(partition(manifest, folds, args.fold, p), classes, texts)
        for p in PARTITIONS
    }
    return data, classes


def cmd_train_lemer(args: argparse.Namespace) -> int:
    from mlser.lemer_training import run_lemer_stage

    _set_threads(args.threads)
    experiment = {**json.loads(args.experiment), "fold": args.fold}
    data, classes = _lemer_fold(args)
    record = run_lemer_stage(
        stage_number=args.stage,
        experiment=experiment,
        data=data,
        classes=classes,
        models=json.loads(args.models),
        training=json.loads(args.training),
        out=args.out,
        checkpoint_dir=args.checkpoints,
        init=args.init,
        keywords=args.keywords,
        frame_codes=args.frame_codes,
        codebook=args.codebook,
    )
    print(f"best epoch {record['best_epoch']}, valid {record['best_valid']:.4f}")
    return 0


def _write_scores(args: argparse.Namespace, pred, extra: dict) -> None:
    from mlser.atomic import write_text
    from mlser.evaluation import metrics_from_predictions
    from mlser.multilevel_training import write_json
    from mlser.provenance import provenance

    write_text(args.predictions, pred.to_csv(sep="\t", index=False))
    scores = metrics_from_predictions(pred)
    scores.update(experiment=args.experiment_id, fold=args.fold, **extra)
    scores.update(provenance=provenance())
    write_json(args.metrics, scores)
    print(json.dumps({k: v for k, v in scores.items() if k != "recall"}, default=str))


def cmd_evaluate_lemer(args: argparse.Namespace) -> int:
    import torch

    from mlser.atomic import write_text
    from mlser.lemer_training import load_system, predict

    _set_threads(args.threads)
    data, classes = _lemer_fold(args)
    system, _spec = load_system(args.model)
    pred, maps = predict(
        system, data["test"], classes, args.max_batch_seconds, torch.device("cpu"), args.keep_maps
    )
    write_text(args.attention, json.dumps({"classes": list(classes), "utterances": maps}) + "\n")
    _write_scores(args, pred, {"model": str(args.model), "text_history": args.text_history})
    return 0


def cmd_lemer_score_fusion(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlser.labels import classes_for
    from mlser.lemer_training import score_fusion

    preds = [pd.read_csv(p, sep="\t") for p in args.inputs]
    pred = score_fusion(preds, classes_for(args.corpus))
    _write_scores(args, pred, {"combines": [str(p) for p in args.inputs]})
    return 0


def cmd_keyword_tables(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlser.atomic import write_text
    from mlser.label_keywords import keywords_markdown, read_keywords
    from mlser.labels import classes_for

    tables = {f: read_keywords(p) for f, p in zip(args.fold_names, args.tables, strict=True)}
    k = args.show
    shown = {f: t[t["rank"] <= k] for f, t in tables.items()}
    both = pd.concat([t.assign(fold=f) for f, t in shown.items()], ignore_index=True)
    write_text(args.out_csv, both[["fold", *both.columns[:-1]]].to_csv(index=False))
    write_text(args.out_md, keywords_markdown(shown, classes_for(args.corpus)))
    print(keywords_markdown(shown, classes_for(args.corpus)))
    return 0


def cmd_figure_wang2023(args: argparse.Namespace) -> int:
    from mlser.figures import wang2023

    if args.figure == "k-sweep":
        wang2023.k_sweep_figure(args.inputs, args.out)
    elif args.figure == "labels":
        wang2023.labels_figure(*args.inputs[:3], args.out)
    else:
        wang2023.attention_figure(args.inputs[0], args.out)
    return 0


def _fold_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--folds", required=True, type=Path)
    p.add_argument("--fold", required=True)
    p.add_argument("--threads", type=int, default=1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlser", description=__doc__)
    sub = parser.add_subparsers(dest="step", required=True, metavar="STEP")

    p = sub.add_parser("synthesize", help="generate a demo corpus in its release layout")
    p.add_argument("corpus", choices=["iemocap", "meld"])
    p.add_argument("--out", required=True, type=Path, help="release root to create")
    p.add_argument("--spec", default="", help="generator settings as a JSON object")
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("prepare", help="read a release tree into manifest.tsv + rejects.tsv")
    p.add_argument("corpus", choices=["iemocap", "meld"])
    p.add_argument("--root", required=True, type=Path, help="the release folder")
    p.add_argument("--out", required=True, type=Path, help="folder for manifest.tsv etc.")
    p.add_argument("--workers", type=int, default=1, help="processes for audio decoding")
    for name in ("train-csv", "dev-csv", "test-csv", "train-dir", "dev-dir", "test-dir"):
        p.add_argument(f"--{name}", type=Path, default=None, help=f"MELD only: the {name}")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("folds", help="fold definitions (train/valid/test) from a manifest")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--schemes", nargs="+", required=True, help="loso, sd, si, official")
    p.add_argument("--validation", default="stratified", choices=["stratified", "next_session"])
    p.add_argument("--valid-share", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_folds)

    p = sub.add_parser("corpus-counts", help="class counts per session/split and fold")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--rejects", required=True, type=Path)
    p.add_argument("--folds", required=True, type=Path)
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.set_defaults(func=cmd_corpus_counts)

    p = sub.add_parser("train-multilevel", help="train stage 1 or 2 of a multi-level model")
    _fold_args(p)
    p.add_argument("--stage", type=int, choices=[1, 2], required=True)
    p.add_argument("--experiment", required=True, help="the experiment row as JSON")
    p.add_argument("--models", required=True, help="the config's models section as JSON")
    p.add_argument("--training", required=True, help="the stage's training settings as JSON")
    p.add_argument("--init", type=Path, default=None, help="stage 2: the model to start from")
    p.add_argument("--checkpoints", required=True, type=Path, help="epoch checkpoints (resume)")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_train_multilevel)

    p = sub.add_parser("evaluate-multilevel", help="predictions and metrics on a test fold")
    _fold_args(p)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--experiment-id", required=True)
    p.add_argument("--text-source", required=True, choices=["ground_truth", "asr", "none"])
    p.add_argument("--max-batch-seconds", type=float, default=60.0)
    p.add_argument("--predictions", required=True, type=Path)
    p.add_argument("--metrics", required=True, type=Path)
    p.set_defaults(func=cmd_evaluate_multilevel)

    p = sub.add_parser("experiments-table", help="our scores beside the papers' numbers")
    p.add_argument("--matrix", required=True, type=Path, help="config/experiments")
    p.add_argument("--metrics", nargs="+", required=True, type=Path)
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.set_defaults(func=cmd_experiments_table)

    p = sub.add_parser("label-keywords", help="LE-MER: Top-K TF-IDF words per class of a fold")
    _fold_args(p)
    p.add_argument("--settings", required=True, help="KeywordSettings as JSON")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_label_keywords)

    p = sub.add_parser("codebook", help="LE-MER: frame codes of a fold and its Top-K codes")
    _fold_args(p)
    p.add_argument("--settings", required=True, help="CodebookSettings as JSON")
    p.add_argument("--table-k", type=int, required=True, help="codes ranked per class")
    p.add_argument("--out-codebook", required=True, type=Path)
    p.add_argument("--out-codes", required=True, type=Path)
    p.set_defaults(func=cmd_codebook)

    for name, func, help_ in (
        ("train-lemer", cmd_train_lemer, "LE-MER: train one stage of a wang2023 row"),
        ("evaluate-lemer", cmd_evaluate_lemer, "LE-MER: predictions, metrics, attention maps"),
    ):
        p = sub.add_parser(name, help=help_)
        _fold_args(p)
        p.add_argument("--text-history", type=int, default=0, help="previous turns spliced")
        if name == "train-lemer":
            p.add_argument("--stage", type=int, choices=[1, 2], required=True)
            p.add_argument("--experiment", required=True, help="the experiment row as JSON")
            p.add_argument("--models", required=True, help="the config's models as JSON")
            p.add_argument("--training", required=True, help="the stage's training as JSON")
            p.add_argument("--init", type=Path, default=None)
            p.add_argument("--keywords", type=Path, default=None)
            p.add_argument("--frame-codes", type=Path, default=None)
            p.add_argument("--codebook", type=Path, default=None)
            p.add_argument("--checkpoints", required=True, type=Path)
            p.add_argument("--out", required=True, type=Path)
        else:
            p.add_argument("--model", required=True, type=Path)
            p.add_argument("--experiment-id", required=True)
            p.add_argument("--max-batch-seconds", type=float, default=60.0)
            p.add_argument("--keep-maps", type=int, default=4, help="utterances whose maps to save")
            p.add_argument("--attention", required=True, type=Path)
            p.add_argument("--predictions", required=True, type=Path)
            p.add_argument("--metrics", required=True, type=Path)
        p.set_defaults(func=func)

    p = sub.add_parser("lemer-score-fusion", help="LE-MER: sum of unimodal logits")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--inputs", nargs="+", required=True, type=Path, help="predictions.tsv")
    p.add_argument("--experiment-id", required=True)
    p.add_argument("--fold", required=True)
    p.add_argument("--predictions", required=True, type=Path)
    p.add_argument("--metrics", required=True, type=Path)
    p.set_defaults(func=cmd_lemer_score_fusion)

    p = sub.add_parser("keyword-tables", help="LE-MER: keyword tables of folds (CSV + Markdown)")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--tables", nargs="+", required=True, type=Path)
    p.add_argument("--fold-names", nargs="+", required=True)
    p.add_argument("--show", type=int, default=9, help="keywords shown per class")
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.set_defaults(func=cmd_keyword_tables)

    p = sub.add_parser("figure-wang2023", help="wang2023 Figures 1, 3 and 4")
    p.add_argument("figure", choices=["labels", "k-sweep", "attention"])
    p.add_argument("--inputs", nargs="+", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path, help="output stem (.pdf and .png)")
    p.set_defaults(func=cmd_figure_wang2023)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
