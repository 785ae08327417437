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
from typing import Any, Literal

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel

from mlser.data.transcripts import join_word_pieces
from mlser.models.adapters import ADAPTER_ATTR
from mlser.pretrained import load_kwargs, resolve_pretrained

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
            which casing is not stated, ``bert-base-uncased`` is the usual choice), or
            ``package:<module>`` (:func:`mlser.pretrained.resolve_pretrained`). None builds a
            random-init model from ``model_config``.
        model_config: ``AutoConfig.for_model`` kwargs including ``model_type`` (random init).
        tokenizer_name: where the tokenizer comes from; defaults to ``pretrained_name``. Loaded
            lazily, so building the model (e.g. to count parameters) never touches it.
        freeze: no gradients for the text model, and it stays in eval mode (no dropout).
        max_length: tokenizer truncation length.
        truncation_side: which end the tokenizer cuts beyond ``max_length`` (``"left"``
            keeps the current utterance at the end of a dialogue history); None = the
            tokenizer's own.
        train_top_layers: with ``freeze``, the top k Transformer layers train all the same
            (BERT-family encoders): the papers fine-tune BERT, and with it frozen the
            losses that act only through it (gao2025's contrastive loss, wang2023's Eq. 3)
            cannot act; the frozen bottom's features are computed once per text.
    """

    pretrained_name: str | None = None
    model_config: dict[str, Any] | None = None
    tokenizer_name: str | None = None
    freeze: bool = False
    max_length: int = 128
    train_top_layers: int = 0
    truncation_side: Literal["right", "left"] | None = None


def _trains(layer: nn.Module) -> bool:
    """Whether a Transformer layer's own weights train (its stage-2 adapter aside)."""
    return any(p.requires_grad for n, p in layer.named_parameters() if ADAPTER_ATTR not in n)


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
                name = resolve_pretrained(config.pretrained_name)
                model = AutoModel.from_pretrained(name, **load_kwargs(name))
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
            for layer in self.top_layers:
                layer.requires_grad_(True)
                layer.train()

    @property
    def top_layers(self) -> list[nn.Module]:
        """The ``train_top_layers`` Transformer layers that train on a frozen encoder."""
        k = self.config.train_top_layers if self.config.freeze else 0
        if not k:
            return []
        layers = getattr(getattr(self.model, "encoder", None), "layer", None)
        if not isinstance(layers, nn.ModuleList) or not 0 < k <= len(layers):
            raise ValueError(
                f"train_top_layers={k}: needs a BERT-style encoder (encoder.layer) with at "
                f"least {k} layers, not {type(self.model).__name__}"
            )
        return list(layers)[-k:]

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def pretrained_parts(self) -> list[str]:
        """Children whose weights ``from_pretrained`` gives (:mod:`mlser.training.model_files`)."""
        return ["model"] if self.config.pretrained_name is not None else []

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            name = resolve_pretrained(self.config.tokenizer_name or self.config.pretrained_name)
            if name is None:
                raise ValueError("no tokenizer: set TextEncoderConfig.tokenizer_name")
            self._tokenizer = AutoTokenizer.from_pretrained(name, **load_kwargs(name))
            if self.config.truncation_side is not None:
                self._tokenizer.truncation_side = self.config.truncation_side
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
        words whole: :func:`mlser.data.transcripts.join_word_pieces`), whatever the tokenizer."""
        texts = self.tokenizer.batch_decode(
            sequences, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        return [join_word_pieces(t) for t in texts]

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        if self.config.freeze:
            self.model.eval()
            for layer in self.top_layers:  # unless frozen again (stage 2)
                layer.train(mode and _trains(layer))
        return self

    def _frozen_below(self) -> int | None:
        """How many bottom layers' features depend on the tokens alone: all of them on a
        frozen encoder with nothing trainable inside, all but the top ``train_top_layers``
        where only those train; None where anything else trains (stage-2 adapters in
        every layer make the encoder trainable again)."""
        if not self.config.freeze:
            return None
        top = {id(p) for layer in self.top_layers for p in layer.parameters()}
        if any(p.requires_grad for p in self.model.parameters() if id(p) not in top):
            return None
        n = len(self.top_layers)
        if n and not any(p.requires_grad for layer in self.top_layers for p in layer.parameters()):
            n = 0  # the top layers were frozen again (stage 2)
        return n

    @property
    def cacheable(self) -> bool:
        """Whether features depend on the tokens alone: frozen, with nothing trainable inside
        (stage-2 adapters make the encoder trainable again)."""
        return self._frozen_below() == 0

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        top = self._frozen_below()
        if top is not None:
            features = self._cached_forward(input_ids, attention_mask, top)
            if top:
                features = self._top_forward(features, attention_mask)
            return features, attention_mask.bool()
        out = self.model(input_ids=input_ids, attention_mask=attention_mask.long())
        return out.last_hidden_state, attention_mask.bool()

    def _top_forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The trainable top layers on the frozen bottom's (B, L, H) features."""
        from transformers.masking_utils import create_bidirectional_mask

        mask = create_bidirectional_mask(
            config=self.model.config, inputs_embeds=hidden, attention_mask=attention_mask.long()
        )
        for layer in self.top_layers:
            out = layer(hidden, mask)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def _cached_forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, top: int = 0
    ) -> torch.Tensor:
        """(B, L) ids -> (B, L, H) features below the ``top`` trainable layers; rows seen
        before come from the cache, the rest run through the encoder as one batch. Padded
        positions are zero."""
        lengths = attention_mask.sum(1).tolist()
        # the depth is part of the key: features below 1 layer are not those below 0
        keys = [
            bytes([top]) + input_ids[i, :n].cpu().numpy().tobytes() for i, n in enumerate(lengths)
        ]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        if missing:
            with torch.no_grad():
                result = self.model(
                    input_ids=input_ids[missing],
                    attention_mask=attention_mask[missing].long(),
                    output_hidden_states=bool(top),
                )
            # hidden_states[0] is the embeddings' output, [n] the n-th layer's
            out = result.hidden_states[-1 - top] if top else result.last_hidden_state
            for j, i in enumerate(missing):
                if len(self._cache) >= 200_000:
                    self._cache.clear()
                self._cache[keys[i]] = out[j, : lengths[i]].detach()
        first = self._cache[keys[0]]
        features = first.new_zeros(*input_ids.shape, self.hidden_size)
        for i, key in enumerate(keys):
            features[i, : lengths[i]] = self._cache[key]
        return features
