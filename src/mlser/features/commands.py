"""The feature steps: ``extract-features``, ``extract-word-embeddings`` and
``extract-ssl-features`` (``workflow/rules/hierarchical.smk``), ``label-keywords`` and
``codebook`` (``workflow/rules/lemer.smk``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mlser.cli_args import compute_args, fold_args, use_compute


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

    use_compute(args)
    _save_features(args, extract_acoustic(read_manifest(args.manifest), args.feature_set))
    return 0


def _add_extract_features(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract-features", help="one acoustic feature set of every utterance")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--feature-set", required=True, help="mfcc39_mean, handcrafted8, gemaps...")
    compute_args(p)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--summary", required=True, type=Path, help="JSON: size, time, skipped")
    p.set_defaults(func=cmd_extract_features)


def cmd_extract_word_embeddings(args: argparse.Namespace) -> int:
    import json

    from mlser.data.manifest import read_manifest
    from mlser.features.word_embeddings import extract_word_embeddings, text_encoder_from_spec

    use_compute(args)
    encoder = text_encoder_from_spec(json.loads(args.text_spec))
    name = f"text-{args.encoder}"
    _save_features(args, extract_word_embeddings(read_manifest(args.manifest), encoder, name))
    return 0


def _add_extract_word_embeddings(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract-word-embeddings", help="text-encoder word features (cached)")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--encoder", required=True, help="the models.text name (e.g. bert_base)")
    p.add_argument("--text-spec", required=True, help="that models.text entry as JSON")
    compute_args(p)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--summary", required=True, type=Path, help="JSON: size, time, skipped")
    p.set_defaults(func=cmd_extract_word_embeddings)


def cmd_extract_ssl_features(args: argparse.Namespace) -> int:
    import json

    from mlser.data.manifest import read_manifest
    from mlser.features.ssl import extract_ssl, ssl_encoder_from_spec

    use_compute(args)
    model = ssl_encoder_from_spec(json.loads(args.spec))
    name = f"ssl-{args.encoder}"
    _save_features(args, extract_ssl(read_manifest(args.manifest), model, name))
    return 0


def _add_extract_ssl_features(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract-ssl-features", help="frozen SSL encoder frames (cached)")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--encoder", required=True, help="the models.acoustic name")
    p.add_argument("--spec", required=True, help="that models.acoustic entry as JSON")
    compute_args(p)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--summary", required=True, type=Path, help="JSON: size, time, skipped")
    p.set_defaults(func=cmd_extract_ssl_features)


def _fold_train_rows(args: argparse.Namespace):
    from mlser.data.folds import partition, read_folds
    from mlser.data.manifest import read_manifest

    return partition(read_manifest(args.manifest), read_folds(args.folds), args.fold, "train")


def cmd_label_keywords(args: argparse.Namespace) -> int:
    import json

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


def _add_label_keywords(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label-keywords", help="LE-MER: Top-K TF-IDF words per class of a fold")
    fold_args(p)
    p.add_argument("--settings", required=True, help="KeywordSettings as JSON")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_label_keywords)


def cmd_codebook(args: argparse.Namespace) -> int:
    import json

    from mlser.data.audio import load_audio
    from mlser.data.labels import classes_for
    from mlser.features.codebook import CodebookSettings, build_codebook, save_codebook, top_codes
    from mlser.features.label_keywords import write_keywords

    use_compute(args)
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


def _add_codebook(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("codebook", help="LE-MER: frame codes of a fold and its Top-K codes")
    fold_args(p)
    p.add_argument("--settings", required=True, help="CodebookSettings as JSON")
    p.add_argument("--table-k", type=int, required=True, help="codes ranked per class")
    p.add_argument("--out-codebook", required=True, type=Path)
    p.add_argument("--out-codes", required=True, type=Path)
    p.set_defaults(func=cmd_codebook)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_extract_features(sub)
    _add_extract_word_embeddings(sub)
    _add_extract_ssl_features(sub)
    _add_label_keywords(sub)
    _add_codebook(sub)
