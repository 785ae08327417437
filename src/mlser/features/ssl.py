"""Self-supervised speech features, extracted once per corpus (alqurashi2024 §II-B2/3).

The paper's wav2vec 2.0 speech models are wav2vec 2.0 base (``facebook/wav2vec2-base``) and
its ASR fine-tuned variant (``facebook/wav2vec2-base-960h``). Here, as issue #8 asks, each
encoder runs frozen once over the corpus and its last layer's frames ``(T, D)`` feed the
same LSTM classifiers as the handcrafted sets; the paper instead fine-tunes the
Transformer inside each classifier (see the rule file's note). Without ``pretrained`` the
spec's ``wav2vec2`` entries build a random-init ``Wav2Vec2Model`` (the CPU demo).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from transformers import AutoModel, PreTrainedModel, Wav2Vec2Config, Wav2Vec2Model

from mlser.data.audio import load_audio
from mlser.data.batching import SAMPLE_RATE
from mlser.features.acoustic import FeatureTable, finished_table
from mlser.pretrained import load_kwargs, resolve_pretrained

__all__ = ["extract_ssl", "ssl_encoder_from_spec"]


def ssl_encoder_from_spec(spec: dict[str, Any]) -> PreTrainedModel:
    """The encoder of a ``models.acoustic.<name>`` entry: ``pretrained`` (hub id or path)
    or a random-init ``Wav2Vec2Model`` from its ``wav2vec2`` config values."""
    if spec.get("pretrained"):
        name = resolve_pretrained(spec["pretrained"])
        return AutoModel.from_pretrained(name, **load_kwargs(name))
    if "wav2vec2" not in spec:
        raise ValueError(
            "an SSL feature encoder needs `pretrained` or `wav2vec2` (random-init config) "
            f"in its models.acoustic entry; got keys {sorted(spec)}"
        )
    torch.manual_seed(0)  # the demo's random encoder is the same on every run
    return Wav2Vec2Model(Wav2Vec2Config(**spec["wav2vec2"]))


@torch.no_grad()
def extract_ssl(
    manifest: pd.DataFrame,
    model: PreTrainedModel,
    name: str,
    device: torch.device | None = None,
    log: Callable[[str], None] = print,
) -> FeatureTable:
    """``(T, D)`` last-layer frames of every utterance (one at a time: no padding, so
    each utterance's features are those of the utterance alone), stored as float16."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    start = time.perf_counter()
    model.eval().to(device)
    features: dict[str, torch.Tensor] = {}
    skipped: dict[str, str] = {}
    for r in manifest.itertuples(index=False):
        try:
            y = torch.tensor(load_audio(r.path, SAMPLE_RATE), dtype=torch.float32)
            # the wav2vec 2.0 feature extractor's normalisation (zero mean, unit variance)
            y = (y - y.mean()) / (y.std() + 1e-7)
            hidden = model(y.unsqueeze(0).to(device)).last_hidden_state[0]
        except Exception as exc:  # listed, the corpus goes on
            skipped[r.utt_id] = f"{type(exc).__name__}: {exc}"
            continue
        features[r.utt_id] = hidden.to(torch.float16).cpu()
    return finished_table(name, features, skipped, start, log)
