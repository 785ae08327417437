"""Contextual word embeddings of the transcripts, extracted once per corpus (alqurashi2024 §II-C).

The paper's text model reads BERT's word embeddings ("a matrix t × 768", t the utterance
length, extracted with Embedding4BERT) through an LSTM; BERT itself is not trained. Here
the frozen encoder named in the config's ``models.text`` section (BERT-base on the paper
config, MiniLM on the demo) gives one ``(t, D)`` sequence per utterance the way
Embedding4BERT's ``extract_word_embeddings`` does by default:

* each token's vector is the **sum of the last four layers'** hidden states
  (``mode="sum", layers=[-1, -2, -3, -4]``);
* a word's vector is the **mean of its word pieces** (a piece starting with ``##`` joins
  the word before it), so ``t`` counts words, not pieces;
* ``[CLS]`` and ``[SEP]`` stay, as the first and last "words" (Embedding4BERT wraps the
  text in them and keeps them).

The text is the release's transcript whole, IEMOCAP's event tokens (``[LAUGHTER]``)
included: the paper says "text transcripts" and nothing of them (a reading; the
multi-level family's BERT drops them).

Stored as float16 (IEMOCAP's 5.5k utterances × BERT fit in ~100 MB).
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

__all__ = ["LAST_LAYERS", "extract_word_embeddings", "text_encoder_from_spec", "word_spans"]


def text_encoder_from_spec(spec: dict[str, Any]) -> TextEncoder:
    """A frozen :class:`TextEncoder` for a ``models.text.<name>`` config entry."""
    return TextEncoder(
        TextEncoderConfig(
            pretrained_name=resolve_pretrained(spec["pretrained"]),
            freeze=True,
            max_length=int(spec.get("max_length", 128)),
        )
    )


#: hidden states summed per token (Embedding4BERT's default ``layers=[-1, -2, -3, -4]``)
LAST_LAYERS = 4


def word_spans(tokens: list[str]) -> list[tuple[int, int]]:
    """``[start, end)`` of each word in WordPiece ``tokens``: a ``##`` piece continues the
    word before it (Embedding4BERT's merge rule)."""
    spans: list[tuple[int, int]] = []
    for i, token in enumerate(tokens):
        if token.startswith("##") and spans:
            spans[-1] = (spans[-1][0], i + 1)
        else:
            spans.append((i, i + 1))
    return spans


@torch.no_grad()
def extract_word_embeddings(
    manifest: pd.DataFrame,
    encoder: TextEncoder,
    name: str,
    batch_size: int = 32,
    log: Callable[[str], None] = print,
    device: torch.device | None = None,
) -> FeatureTable:
    """``(t, D)`` word features of every manifest transcript (see the module doc).

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
        out = encoder.model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=True,
        )
        # hidden_states[0] is the embeddings' output, [-1] the last layer's
        hidden = torch.stack(out.hidden_states[-LAST_LAYERS:]).sum(0)
        for k, r in enumerate(group):
            n = int(batch["attention_mask"][k].sum())
            tokens = encoder.tokenizer.convert_ids_to_tokens(batch["input_ids"][k, :n].tolist())
            words = [hidden[k, a:b].mean(0) for a, b in word_spans(tokens)]
            features[r.utt_id] = torch.stack(words).to(torch.float16).cpu().clone()
    return finished_table(name, features, skipped, start, log)
