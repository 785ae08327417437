"""Bottleneck adapters for the second fine-tuning stage (gao2025 §3.1.2, Fig. 1).

"These adapters are double-layer linear layers inserted into each Transformer layer of HuBERT
and BERT"; in stage 2 the feature extractors are frozen and only the adapters (plus the layers
after the encoders) learn gender, style and emotion.

Choices where the paper is silent:

* Placement: one adapter per layer on the output of the feed-forward sub-layer, before its
  residual addition and LayerNorm (Houlsby et al. 2019's FFN adapter, also Pfeiffer's single
  per-layer adapter). This is the same spot in post-LN layers (BERT, HuBERT-base) and pre-LN
  layers (HuBERT-large).
* Adapter: x + W_up(act(W_down x)), bottleneck 64 by default (reduction 16 for d=1024), ReLU;
  W_up is zero-initialised so inserting adapters leaves the stage-1 model's function unchanged.
* Mechanism: a forward hook on the host's FFN output module, with the adapter registered as a
  sub-module of the Transformer layer (``<layer>.bottleneck_adapter``). The host's parameter
  names are unchanged, so a stage-1 checkpoint loads into an adapted model
  (``strict=False`` reports only the adapter keys as missing). The hook is a bound method of
  the adapter, so ``copy.deepcopy`` of the model copies it correctly. The ``adapters`` library
  does not support HuBERT, hence this small module.
* :func:`adapters_disabled` lets a reader of the encoder see it as stage 1 left it: the
  frozen AEC reads BERT that way (gao2025 §3.3 freezes the AEC in stage 2, so its
  corrections must not drift as the adapters that share its BERT learn).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "ADAPTER_ATTR",
    "AdapterConfig",
    "BottleneckAdapter",
    "adapters_disabled",
    "add_adapters",
    "count_parameters",
    "find_adapter_sites",
]

#: Attribute under which each Transformer layer holds its adapter.
ADAPTER_ATTR = "bottleneck_adapter"

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


@dataclass
class AdapterConfig:
    """Attributes:
    bottleneck: width of the down-projection.
    activation: ``"relu"``, ``"gelu"`` or ``"tanh"``.
    dropout: dropout on the bottleneck activations.
    """

    bottleneck: int = 64
    activation: str = "relu"
    dropout: float = 0.0


class BottleneckAdapter(nn.Module):
    """x + up(dropout(act(down(x)))); shapes (..., dim) -> (..., dim)."""

    def __init__(self, dim: int, config: AdapterConfig) -> None:
        super().__init__()
        self.down = nn.Linear(dim, config.bottleneck)
        self.activation = _ACTIVATIONS[config.activation]()
        self.dropout = nn.Dropout(config.dropout)
        self.up = nn.Linear(config.bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.enabled = True  # see adapters_disabled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.dropout(self.activation(self.down(x))))

    def hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        """Forward hook for the host FFN module: its output goes through the adapter."""
        return self(output) if self.enabled else output


def _out_features(module: nn.Module) -> int:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"no Linear layer in {type(module).__name__}")
    return linears[-1].out_features


def find_adapter_sites(model: nn.Module) -> list[tuple[str, nn.Module, nn.Module]]:
    """Every Transformer layer of ``model`` with the FFN output module an adapter wraps.

    Recognised layers: wav2vec2-family (HuBERT, wav2vec 2.0, WavLM: ``attention`` +
    ``feed_forward``, whose output is the FFN output) and BERT-family (BERT, RoBERTa, MiniLM:
    ``intermediate`` + ``output.dense``, the FFN's second Linear).

    Returns:
        (layer name, layer module, host module) per layer, in model order.
    """
    sites: list[tuple[str, nn.Module, nn.Module]] = []
    for name, module in model.named_modules():
        if hasattr(module, "attention") and isinstance(
            getattr(module, "feed_forward", None), nn.Module
        ):
            sites.append((name, module, module.feed_forward))
        elif hasattr(module, "intermediate") and isinstance(
            getattr(getattr(module, "output", None), "dense", None), nn.Linear
        ):
            sites.append((name, module, module.output.dense))
    return sites


def add_adapters(
    model: nn.Module, config: AdapterConfig, freeze: bool = True
) -> list[BottleneckAdapter]:
    """Insert a :class:`BottleneckAdapter` into every Transformer layer of ``model``.

    Args:
        model: any module containing HuBERT- or BERT-family layers (an encoder, or a whole
            model: every recognised layer gets one).
        config: adapter sizes.
        freeze: set ``requires_grad=False`` on every other parameter of ``model`` first, so
            only the adapters train (stage 2).

    Returns:
        The new adapters, in layer order.
    """
    sites = find_adapter_sites(model)
    if not sites:
        raise ValueError(f"no HuBERT- or BERT-style Transformer layers in {type(model).__name__}")
    if freeze:
        model.requires_grad_(False)
    adapters: list[BottleneckAdapter] = []
    for name, layer, host in sites:
        if hasattr(layer, ADAPTER_ATTR):
            raise ValueError(f"layer {name!r} already has an adapter")
        reference = next(host.parameters())
        adapter = BottleneckAdapter(_out_features(host), config).to(
            device=reference.device, dtype=reference.dtype
        )
        layer.add_module(ADAPTER_ATTR, adapter)
        host.register_forward_hook(adapter.hook)
        adapters.append(adapter)
    return adapters


@contextmanager
def adapters_disabled(model: nn.Module) -> Iterator[None]:
    """Within the block, every adapter inside ``model`` passes its input through unchanged
    (the host layers compute as before adapters were added)."""
    adapters = [m for m in model.modules() if isinstance(m, BottleneckAdapter)]
    states = [a.enabled for a in adapters]
    for a in adapters:
        a.enabled = False
    try:
        yield
    finally:
        for a, state in zip(adapters, states, strict=True):
            a.enabled = state


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; shared parameters are counted once."""
    trainable = total = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total
