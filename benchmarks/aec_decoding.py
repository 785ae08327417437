"""AEC decoding with and without the decoder's key/value cache (issue #23, target 3).

gao2025's error correction (``mlser.models.error_correction``) decodes every scored
transcript with beam search (5 beams) and, during training, the validation set greedily.
Without a cache each step re-ran the 8-layer decoder on the whole prefix, so a ``T``-token
correction cost ``O(T^2)`` token passes; with it each step runs one position per beam.
This decodes the same hypotheses both ways in one run, greedy and beam, checks that the
corrections are the same, and reports seconds and the ratio.

``--size base`` is the papers' AEC (BERT-base encoder, 8 decoder layers of width 768,
12 heads, FFN 3072, the 30,522-token vocabulary), random weights: it never emits [SEP], so
every hypothesis decodes up to the length cap (``max_len_a * S + max_len_b`` = 2 x 22 + 10
= 54 tokens for 20-word hypotheses), as in the rehearsal: an upper bound on a trained
model's length. ``--size tiny`` is a small one for a quick check.

Usage::

    python benchmarks/aec_decoding.py --threads 2            # ~2 min on 2 cores
    python benchmarks/aec_decoding.py --size tiny --threads 1
"""

from __future__ import annotations

import time
from typing import Any

import torch
from workload import machine, parser, save_json, torch_args

from mlser.models.error_correction import (
    ErrorCorrectionConfig,
    ErrorCorrectionModel,
    beam_search,
    greedy_decode,
    to_encoder_inputs,
)


class Uncached:
    """The same model seen without its cache: decoding re-runs the whole prefix."""

    def __init__(self, model: ErrorCorrectionModel) -> None:
        self.encode, self.next_token_logits = model.encode, model.next_token_logits


def build(size: str) -> ErrorCorrectionModel:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    if size == "base":
        bert, config = BertConfig(), ErrorCorrectionConfig()
    else:
        bert = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=128)  # fmt: skip
        config = ErrorCorrectionConfig(num_decoder_layers=2, num_attention_heads=4, ffn_dim=128)
    return ErrorCorrectionModel(config, BertModel(bert, add_pooling_layer=False)).eval()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--size", choices=["base", "tiny"], default="base")
    ap.add_argument("--hypotheses", type=int, default=6, help="transcripts decoded at once")
    ap.add_argument("--words", type=int, default=20, help="tokens per hypothesis")
    ap.add_argument("--beam", type=int, default=5)
    torch_args(ap)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build(args.size)
    c = model.config
    g = torch.Generator().manual_seed(1)
    hyps = torch.randint(1000, 2000, (args.hypotheses, args.words), generator=g).tolist()
    src, mask = to_encoder_inputs(hyps, c.bos_id, c.eos_id, c.pad_id)
    cap = min(128, int(c.max_len_a * src.size(1) + c.max_len_b))
    results: dict[str, Any] = {"benchmark": "aec_decoding", "size": args.size, "max_len": cap}
    results["machine"] = machine(torch.device("cpu"))
    print("| search | decoder | seconds | tokens per hypothesis |\n|---|---|---|---|")
    for search, beam in (("greedy", 1), (f"beam {args.beam}", args.beam)):
        out = {}
        for name, m in (("cached", model), ("whole prefix", Uncached(model))):
            started = time.perf_counter()
            with torch.no_grad():
                if beam == 1:
                    decoded = greedy_decode(m, src, mask, cap, c.bos_id, c.eos_id)
                else:
                    decoded = beam_search(m, src, mask, beam, cap, c.bos_id, c.eos_id, 1.0)
            seconds = time.perf_counter() - started
            out[name] = {"seconds": round(seconds, 3), "sequences": decoded.sequences}
            mean_len = sum(map(len, decoded.sequences)) / len(decoded.sequences)
            print(f"| {search} | {name} | {seconds:.2f} | {mean_len:.0f} |")
        same = out["cached"]["sequences"] == out["whole prefix"]["sequences"]
        ratio = out["whole prefix"]["seconds"] / out["cached"]["seconds"]
        print(f"{search}: {ratio:.2f}x faster with the cache; same corrections: {same}")
        results[search] = {
            "cached_s": out["cached"]["seconds"],
            "whole_prefix_s": out["whole prefix"]["seconds"],
            "ratio": round(ratio, 2),
            "same_corrections": same,
        }
    save_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
