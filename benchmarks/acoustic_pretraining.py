"""The demo's acoustic pretraining: transcription quality for its CPU time (issue #10, target 5).

The demo's tiny HuBERT starts from a CTC pretraining on synthetic read speech
(``mlser.training.pretraining``); how well it transcribes decides whether BERT on the ASR
transcript can help at all (gao2025: "with a high-quality ASR system (WER of around 13%),
the ASR transcriptions can serve as a reliable substitute for ground-truth text"). This
script trains variants of that pretraining in one run, each on its own read-speech corpus
(seed 3, as the demo's), and scores every one on one common held-out corpus (another
seed: sentences and voices drawn afresh), so the CER/WER figures compare:

* ``800x12@0.001`` the demo's setting before the seventh session of 2026-11-30;
* ``800x12@0.003cos`` the same passes with a cosine decay from a higher rate;
* ``4800x3@0.003cos`` six times the sentences, a quarter of the passes (adopted).

A variant is ``UTTERANCESxEPOCHS@LR`` with ``cos`` for the cosine decay. Seconds are the
training's (synthesis apart: eSpeak writes about 80 utterances a second). The model is the
demo's acoustic encoder (``config/config.yaml``). Usage::

    python benchmarks/acoustic_pretraining.py --threads 1              # ~9 min on 1 core
    python benchmarks/acoustic_pretraining.py --variants 200x2@0.003cos 400x1@0.003cos
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from workload import demo_acoustic_spec, machine, parser, save_json

from mlser.data.batching import Example
from mlser.demo.read_speech import ReadSpeechSpec, generate_read_speech
from mlser.evaluation import metrics
from mlser.training.multilevel import build_model
from mlser.training.pretraining import (
    load_pretrained,
    pretraining_stage,
    read_speech_examples,
    run_pretraining,
    scoring_order,
    transcribe,
)

DEFAULT_VARIANTS = ("800x12@0.001", "800x12@0.003cos", "4800x3@0.003cos")


def parse_variant(text: str) -> dict[str, Any]:
    """``"4800x3@0.003cos"`` -> utterances 4800, epochs 3, lr 0.003, cosine schedule."""
    match = re.fullmatch(r"(\d+)x(\d+)@([0-9.eE-]+?)(cos)?", text)
    if not match:
        raise ValueError(f"variant {text!r}: expected UTTERANCESxEPOCHS@LR[cos]")
    return {
        "utterances": int(match[1]),
        "epochs": int(match[2]),
        "lr": float(match[3]),
        "lr_schedule": "cosine" if match[4] else "constant",
    }


def held_out_scores(
    model_path: Path, models: dict[str, Any], examples: list[Example]
) -> dict[str, float]:
    """Greedy CER / WER of a pretrained encoder on the read-speech ``examples``."""
    model = build_model(pretraining_stage("hubert_large"), models, num_emotions=2)
    load_pretrained(model, model_path)
    order, refs = scoring_order(examples, 20.0)
    hyps = transcribe(model, examples, order, torch.device("cpu"))
    return {
        "cer": metrics.char_error_rate(refs, hyps),
        "wer": metrics.word_error_rate(refs, hyps),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    ap.add_argument("--held-out", type=int, default=300, help="utterances scored (seed 1003)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    variants = {v: parse_variant(v) for v in args.variants}
    if args.threads:
        torch.set_num_threads(args.threads)
    models = {"acoustic": {"hubert_large": demo_acoustic_spec()}}
    results: dict[str, Any] = {"benchmark": "acoustic_pretraining", "variants": {}}
    results["machine"] = machine(torch.device("cpu"))
    with tempfile.TemporaryDirectory(prefix="mlser-pretraining-") as tmp:
        folder = Path(tmp)
        held_out = folder / "held_out"
        generate_read_speech(held_out, ReadSpeechSpec(seed=1003, utterances=args.held_out))
        held_out_examples = read_speech_examples(held_out)
        for name, v in variants.items():
            corpus = folder / f"read{v['utterances']}"
            if not corpus.exists():
                generate_read_speech(corpus, ReadSpeechSpec(seed=3, utterances=v["utterances"]))
            training = {k: v[k] for k in ("epochs", "lr", "lr_schedule")}
            training.update(max_batch_seconds=20, seed=0)
            started = time.perf_counter()
            record = run_pretraining(
                corpus=corpus,
                acoustic_encoder="hubert_large",
                models=models,
                training=training,
                out=folder / f"{name}.pt",
                checkpoint_dir=folder / f"{name}-checkpoints",
                device=torch.device("cpu"),
                log=lambda s: None,
            )
            seconds = time.perf_counter() - started
            scores = held_out_scores(folder / f"{name}.pt", models, held_out_examples)
            results["variants"][name] = {
                **v,
                "passes": v["utterances"] * v["epochs"],
                "seconds": seconds,
                "best_epoch": record["best_epoch"],
                **scores,
            }
            print(f"{name}: {seconds:.0f} s, held-out CER {scores['cer']:.3f}", flush=True)
    rows = results["variants"]
    first = next(iter(rows.values()))
    print("\n| variant | utterance passes | seconds | time ratio | held-out CER | WER |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['passes']} | {r['seconds']:.0f} | "
            f"{r['seconds'] / first['seconds']:.2f}x | {r['cer']:.3f} | {r['wer']:.3f} |"
        )
    save_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
