"""Linguistic feature extractor: a pretrained text Transformer and its tokenizer.

gao2024 §2.1 / gao2025 §3.1.1: BERT-base encodes the ground-truth transcription T during
training and the ASR transcription T_ASR at inference; F_t in R^{T_t x D} is its last layer.
Any ``AutoModel`` encoder works (all-MiniLM-L6-v2 for the CPU demo). The pooler is removed:
the papers pool the token features themselves, and an unused pooler would be trainable dead
weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel

from mlser.transcripts import join_word_pieces

__all__ = ["TextEncoder", "TextEncoderConfig", "bert_base_config"]


def bert_base_config() -> dict[str, Any]:
    """``model_config`` of the paper's BERT-base (768 hidden, 12 layers, 12 heads, FFN 3072)."""
    return {
        "model_type": "bert",
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "vocab_size": 30522,
    }


@dataclass
class TextEncoderConfig:
    """How to build a :class:`TextEncoder`.

    Attributes:
        pretrained_name: hub id or local path for ``AutoModel.from_pretrained`` (paper: BERT-base;
            which casing is not stated, ``bert-base-uncased`` is the usual choice). None builds a
            random-init model from ``model_config``.
        model_config: ``AutoConfig.for_model`` kwargs including ``model_type`` (random init).
        tokenizer_name: where the tokenizer comes from; defaults to ``pretrained_name``. Loaded
            lazily, so building the model (e.g. to count parameters) never touches it.
        freeze: no gradients for the text model, and it stays in eval mode (no dropout).
        max_length: tokenizer truncation length.
    """

    pretrained_name: str | None = None
    model_config: dict[str, Any] | None = None
    tokenizer_name: str | None = None
    freeze: bool = False
    max_length: int = 128


class TextEncoder(nn.Module):
    """Token features of a text Transformer with their padding mask.

    Shapes: input_ids (B, L), attention_mask (B, L) -> features (B, L, hidden_size),
    mask (B, L) bool (True on real tokens, [CLS]/[SEP] included).
    """

    def __init__(self, config: TextEncoderConfig, model: PreTrainedModel | None = None) -> None:
        super().__init__()
        self.config = config
        if model is None:
            if config.pretrained_name is not None:
                model = AutoModel.from_pretrained(config.pretrained_name)
            elif config.model_config is not None:
                kwargs = dict(config.model_config)
                model = AutoModel.from_config(
                    AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)
                )
            else:
                raise ValueError("TextEncoderConfig needs pretrained_name or model_config")
        if getattr(model, "pooler", None) is not None:
            model.pooler = None
        self.model = model
        self._tokenizer: Any = None
        # token features of a frozen encoder, by token ids: the demo re-reads the same
        # transcripts every epoch, and the frozen MiniLM was 40% of its stage-1 forward time
        self._cache: dict[bytes, torch.Tensor] = {}
        if config.freeze:
            self.model.requires_grad_(False)
            self.model.eval()

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def pretrained_parts(self) -> list[str]:
        """Children whose weights ``from_pretrained`` gives (:mod:`mlser.model_files`)."""
        return ["model"] if self.config.pretrained_name is not None else []

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            name = self.config.tokenizer_name or self.config.pretrained_name
            if name is None:
                raise ValueError("no tokenizer: set TextEncoderConfig.tokenizer_name")
            self._tokenizer = AutoTokenizer.from_pretrained(name)
        return self._tokenizer

    def tokenize(
        self, texts: Sequence[str], device: torch.device | None = None
    ) -> dict[str, torch.Tensor]:
        """Texts -> ``input_ids`` (B, L) and ``attention_mask`` (B, L), right-padded."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.config.max_length,
            return_tensors="pt",
        )
        return {k: batch[k].to(device) for k in ("input_ids", "attention_mask")}

    def decode(self, sequences: torch.Tensor | Sequence[Sequence[int]]) -> list[str]:
        """Token ids (B, L) -> B transcripts written as the ASR writes them (a-z, ', space;
        words whole: :func:`mlser.transcripts.join_word_pieces`), whatever the tokenizer."""
        texts = self.tokenizer.batch_decode(
            sequences, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        return [join_word_pieces(t) for t in texts]

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        if self.config.freeze:
            self.model.eval()
        return self

    @property
    def cacheable(self) -> bool:
        """Whether features depend on the tokens alone: frozen, with nothing trainable inside
        (stage-2 adapters make the encoder trainable again)."""
        return self.config.freeze and not any(p.requires_grad for p in self.model.parameters())

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if self.cacheable:
            return self._cached_forward(input_ids, attention_mask), attention_mask.bool()
        out = self.model(input_ids=input_ids, attention_mask=attention_mask.long())
        return out.last_hidden_state, attention_mask.bool()

    def _cached_forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """(B, L) ids -> (B, L, H) features; rows seen before come from the cache, the rest
        run through the encoder as one batch. Padded positions are zero."""
        lengths = attention_mask.sum(1).tolist()
        keys = [input_ids[i, :n].cpu().numpy().tobytes() for i, n in enumerate(lengths)]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        if missing:
            with torch.no_grad():
                out = self.model(
                    input_ids=input_ids[missing], attention_mask=attention_mask[missing].long()
                ).last_hidden_state
            for j, i in enumerate(missing):
                if len(self._cache) >= 200_000:
                    self._cache.clear()
                self._cache[keys[i]] = out[j, : lengths[i]].detach()
        first = self._cache[keys[0]]
        features = first.new_zeros(*input_ids.shape, self.hidden_size)
        for i, key in enumerate(keys):
            features[i, : lengths[i]] = self._cache[key]
        return features
