"""Stage-1 training throughput: the papers' plain batching vs ours, in one run.

(a) plain: fixed batch of 2 utterances in random order, padding to the longest, fp32;
(b) ours: length-bucketed batches capped in padded audio seconds (about eight utterances'
    audio per batch, so that two accumulation steps match the papers' 2 x 8), bf16
    autocast where the device supports it.

The workload is synthetic speech-shaped noise whose durations follow IEMOCAP's (mean
about 4.5 s, long tail to about 34 s: a log-normal fitted to those two figures). Model:
the demo's acoustic encoder by default, or HuBERT-large's shape (``--size large``,
random init, for a GPU). Reports utterances/s and the padded-frame share of each, and
the ratio. Usage::

    python benchmarks/stage1_throughput.py --utterances 200 --size demo
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from mlser.data import fixed_size_batches, length_bucketed_batches, padded_share
from mlser.models.acoustic import AcousticEncoder, AcousticEncoderConfig, hubert_large_config
from mlser.models.heads import CTCHead

DEMO_HUBERT = {
    "hidden_size": 128,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "intermediate_size": 512,
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "num_conv_pos_embeddings": 32,
    "num_conv_pos_embedding_groups": 8,
}


def iemocap_like_durations(n: int, seed: int) -> np.ndarray:
    """Log-normal durations with IEMOCAP's mean (~4.5 s), clipped to [0.6, 34] s."""
    rng = np.random.default_rng(seed)
    sigma = 0.65
    mu = np.log(4.5) - sigma**2 / 2
    return np.clip(rng.lognormal(mu, sigma, size=n), 0.6, 34.0)


def run(
    batches: list[list[int]], lengths: np.ndarray, model: torch.nn.Module, head, device, bf16: bool
) -> float:
    params = [p for p in list(model.parameters()) + list(head.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    start = time.perf_counter()
    for batch in batches:
        lens = torch.tensor(lengths[batch])
        wave = torch.randn(len(batch), int(lens.max())) * 0.1
        wave = wave * (torch.arange(wave.shape[1])[None] < lens[:, None])
        wave, lens = wave.to(device), lens.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            feats, mask = model(wave, lens)
            log_probs = head(feats).float()
        targets = torch.randint(1, 29, (len(batch), 20), device=device)
        loss = torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1),
            targets,
            mask.sum(-1),
            torch.full((len(batch),), 20, device=device),
            zero_infinity=True,
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--utterances", type=int, default=200)
    ap.add_argument("--size", choices=["demo", "large"], default="demo")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16_ok = device.type == "cuda" and torch.cuda.is_bf16_supported()
    seconds = iemocap_like_durations(args.utterances, args.seed)
    lengths = (seconds * 16_000).astype(int)
    hubert = DEMO_HUBERT if args.size == "demo" else hubert_large_config()
    frontend = "logmel" if args.size == "demo" else "cnn"
    plain = fixed_size_batches(len(lengths), 2, args.seed)
    # same audio per step on average: 2 utterances x mean duration x a little headroom
    cap = int(2 * lengths.mean() * 4)
    bucketed = length_bucketed_batches(lengths, cap, args.seed)
    results = {}
    for name, batches, bf16 in (("plain", plain, False), ("ours", bucketed, bf16_ok)):
        torch.manual_seed(0)
        model = AcousticEncoder(AcousticEncoderConfig(hubert=dict(hubert), frontend=frontend)).to(
            device
        )
        head = CTCHead(model.hidden_size, 29).to(device)
        model.train()
        elapsed = run(batches, lengths, model, head, device, bf16)
        results[name] = {
            "utterances_per_s": len(lengths) / elapsed,
            "padded_share": padded_share(batches, lengths),
            "batches": len(batches),
            "bf16": bf16,
        }
    results["speedup"] = results["ours"]["utterances_per_s"] / results["plain"]["utterances_per_s"]
    results["device"] = str(device)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
