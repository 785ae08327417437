"""Inference real-time factor: batched by length vs one utterance at a time (issue #10, target 3).

Scores synthetic utterances with IEMOCAP-like durations through the pipeline's own scoring
path, ``mlser.training.multilevel.predict`` (greedy CTC decoding, the text encoder on the
model's own transcript, fusion, emotion / gender / style heads), twice in one run:

* ``batched``: length-bucketed batches of at most ``--max-batch-seconds`` padded audio
  (the demo's ``evaluation.max_batch_seconds``, 60 s);
* ``single``: the same code with a cap below every utterance, so each utterance is its
  own batch (what a plain per-file loop does).

The model is an experiment row's stage-1 architecture: by default gao2025-exp14
(HuBERT + text encoder on the ASR transcript, temporal gated fusion). ``--size demo``
builds it with the demo config's models (tiny log-mel HuBERT + the packaged MiniLM),
random init unless ``--model`` names a trained ``model.pt``; ``--size large`` uses
HuBERT-large + BERT-base shapes, random init (timing only; for a GPU). An untrained
model's transcripts differ in length from a trained one's, which changes the text
encoder's share a little; pass ``--model results/.../model.pt`` for the real mix.

RTF = processing seconds / audio seconds (lower is faster); the ratio single / batched
is the speed-up. Usage::

    python benchmarks/inference_rtf.py --threads 2
    python benchmarks/inference_rtf.py --size large --utterances 400 --json rtf_large.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from workload import (
    REPO,
    SAMPLE_RATE,
    PeakMemory,
    gib,
    iemocap_like_durations,
    machine,
    parser,
    save_json,
)

from mlser.data.batching import Example
from mlser.data.labels import classes_for
from mlser.experiments import load_matrix
from mlser.models.multilevel import MultiLevelSER, minilm_path, paper_config
from mlser.training.multilevel import build_model, load_model, predict

WORDS = [
    "the",
    "i",
    "you",
    "it",
    "that",
    "what",
    "a",
    "to",
    "is",
    "no",
    "yes",
    "oh",
    "well",
    "know",
    "go",
    "really",
    "okay",
]
WORDS_PER_SECOND = 2.5


def synthetic_examples(seconds: np.ndarray, seed: int) -> list[Example]:
    """Noise utterances of the given durations with random word transcripts."""
    rng = np.random.default_rng(seed)
    examples = []
    for i, s in enumerate(seconds):
        audio = (rng.standard_normal(int(s * SAMPLE_RATE)) * 0.1).astype(np.float32)
        words = rng.choice(WORDS, size=max(1, int(s * WORDS_PER_SECOND)))
        examples.append(Example(f"utt{i:05d}", audio, " ".join(words), int(i % 4), 0, 0))
    return examples


def build(args: argparse.Namespace) -> tuple[MultiLevelSER, dict[str, Any]]:
    """The model to score with, and what ``predict`` needs to know about it."""
    experiment = load_matrix(REPO / "config" / "experiments")[args.experiment]
    row = experiment["model"]
    if row.get("family") != "multilevel":
        raise SystemExit(f"{args.experiment} is not a multi-level row")
    info = {
        "experiment": args.experiment,
        "text_source": row["text_source_test"],
        "tasks": tuple(row["stage1"]["tasks"]),
        "correction": {},
        "weights": "random init",
    }
    if args.model is not None:
        model, spec = load_model(args.model)
        info.update(tasks=tuple(spec["tasks"]), weights=str(args.model))
        info["correction"] = spec["models"].get("error_correction", {})
        return model, info
    if args.size == "large":
        config = paper_config(pretrained=False, fusion=row["stage1"].get("fusion") or "tgf")
        # offline: MiniLM ships BERT's uncased WordPiece vocabulary (30522 tokens)
        config.text.tokenizer_name = minilm_path()
        if not row["stage1"].get("text_encoder"):
            config.text = None
        return MultiLevelSER(config), info
    models = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    torch.manual_seed(args.seed)
    return build_model(row["stage1"], models["models"], len(classes_for("iemocap"))), info


def score(
    model: MultiLevelSER,
    examples: list[Example],
    info: dict[str, Any],
    max_seconds: float,
    device: torch.device,
) -> dict[str, Any]:
    classes = classes_for("iemocap")
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        pred = predict(
            model,
            examples,
            classes,
            info["text_source"],
            max_seconds,
            device,
            info["tasks"],
            info["correction"],
        )
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    audio = sum(len(e.audio) for e in examples) / SAMPLE_RATE
    assert len(pred) == len(examples)
    return {
        "rtf": elapsed / audio,
        "seconds": elapsed,
        "utterances_per_s": len(examples) / elapsed,
        "peak_memory_gib": gib(peak.peak),
        "max_batch_seconds": max_seconds,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--size", choices=["demo", "large"], default="demo")
    ap.add_argument("--experiment", default="gao2025-exp14", help="a multi-level row id")
    ap.add_argument("--model", type=Path, default=None, help="a trained model.pt instead")
    ap.add_argument("--utterances", type=int, default=None, help="default: demo 150, large 400")
    ap.add_argument("--max-batch-seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="default: cuda where available")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.utterances = args.utterances or (400 if args.size == "large" else 150)
    model, info = build(args)
    model.to(device).eval()
    seconds = iemocap_like_durations(args.utterances, args.seed)
    examples = synthetic_examples(seconds, args.seed)
    score(model, examples[:4], info, args.max_batch_seconds, device)  # warm-up, untimed
    results: dict[str, Any] = {
        "benchmark": "inference_rtf",
        "size": args.size,
        **{k: v for k, v in info.items() if k != "correction"},
        "utterances": args.utterances,
        "audio_seconds": round(float(seconds.sum()), 1),
        "device": str(device),
        "machine": machine(device),
        "modes": {},
    }
    # one-at-a-time first: its longer run would otherwise warm caches for the batched one
    for mode, cap in (("single", 0.0), ("batched", args.max_batch_seconds)):
        results["modes"][mode] = score(model, examples, info, cap, device)
    single, batched = results["modes"]["single"], results["modes"]["batched"]
    results["speedup"] = single["rtf"] / batched["rtf"]
    print("| mode | RTF | utt/s | seconds | peak mem (GiB) |\n|---|---|---|---|---|")
    for mode, r in results["modes"].items():
        print(
            f"| {mode} | {r['rtf']:.4f} | {r['utterances_per_s']:.1f} | {r['seconds']:.1f} "
            f"| {r['peak_memory_gib']:.2f} |"
        )
    print(
        f"\n{args.experiment} ({info['text_source']} text, {info['weights']}) on {device}: "
        f"batched RTF {batched['rtf']:.4f} vs one at a time {single['rtf']:.4f}: "
        f"{results['speedup']:.2f}x"
    )
    save_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
