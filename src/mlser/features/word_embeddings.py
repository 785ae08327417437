"""Contextual word embeddings of the transcripts, extracted once per corpus (alqurashi2024 §II-C).

The paper's text model reads BERT's word embeddings ("a matrix t × 768", extracted with
Embedding4BERT) through an LSTM; BERT itself is not trained. Here the frozen encoder named
in the config's ``models.text`` section (BERT-base on the paper config, MiniLM on the demo)
gives one ``(T, D)`` sequence per utterance: its last layer over the word pieces, [CLS] and
[SEP] left out. Stored as float16 (IEMOCAP's 5.5k utterances × BERT fit in ~100 MB).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch

from mlser.features.acoustic import FeatureTable, finished_table
from mlser.models.text import TextEncoder, TextEncoderConfig
from mlser.pretrained import resolve_pretrained

__all__ = ["extract_word_embeddings", "text_encoder_from_spec"]


def text_encoder_from_spec(spec: dict[str, Any]) -> TextEncoder:
    """A frozen :class:`TextEncoder` for a ``models.text.<name>`` config entry."""
    return TextEncoder(
        TextEncoderConfig(
            pretrained_name=resolve_pretrained(spec["pretrained"]),
            freeze=True,
            max_length=int(spec.get("max_length", 128)),
        )
    )


@torch.no_grad()
def extract_word_embeddings(
    manifest: pd.DataFrame,
    encoder: TextEncoder,
    name: str,
    batch_size: int = 32,
    log: Callable[[str], None] = print,
    device: torch.device | None = None,
) -> FeatureTable:
    """``(T, D)`` word-piece features of every manifest transcript.

    An empty transcript has no word pieces: it is listed in ``skipped``.
    """
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    start = time.perf_counter()
    encoder.eval().to(device)
    features: dict[str, torch.Tensor] = {}
    skipped: dict[str, str] = {}
    rows = [r for r in manifest.itertuples(index=False)]
    for r in rows:
        if not str(r.text).strip():
            skipped[r.utt_id] = "empty transcript"
    rows = [r for r in rows if r.utt_id not in skipped]
    for i in range(0, len(rows), batch_size):
        group = rows[i : i + batch_size]
        batch = encoder.tokenize([str(r.text) for r in group], device)
        hidden, mask = encoder(batch["input_ids"], batch["attention_mask"])
        for k, r in enumerate(group):
            n = int(mask[k].sum())
            # positions 0 and n-1 are [CLS] and [SEP]
            words = hidden[k, 1 : max(n - 1, 2)]
            features[r.utt_id] = words.to(torch.float16).cpu().clone()
    return finished_table(name, features, skipped, start, log)
