"""The networks of the four papers as small nn.Modules built from dataclass configs.

Names are imported from their modules on first use (PEP 562): a step that needs one
model does not pay for importing every other one (transformers' HuBERT costs seconds).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "AcousticEncoder": "mlser.models.acoustic",
    "AcousticEncoderConfig": "mlser.models.acoustic",
    "LogMelFrontend": "mlser.models.acoustic",
    "demo_hubert_config": "mlser.models.acoustic",
    "hubert_large_config": "mlser.models.acoustic",
    "lengths_to_mask": "mlser.models.acoustic",
    "mel_filterbank": "mlser.models.acoustic",
    "AdapterConfig": "mlser.models.adapters",
    "BottleneckAdapter": "mlser.models.adapters",
    "add_adapters": "mlser.models.adapters",
    "count_parameters": "mlser.models.adapters",
    "find_adapter_sites": "mlser.models.adapters",
    "FUSIONS": "mlser.models.fusion",
    "ConcatFusion": "mlser.models.fusion",
    "CrossAttentionFusion": "mlser.models.fusion",
    "FusionConfig": "mlser.models.fusion",
    "FusionOutput": "mlser.models.fusion",
    "GatedFusion": "mlser.models.fusion",
    "MaskedMultiheadAttention": "mlser.models.fusion",
    "SelfAttentionConcatFusion": "mlser.models.fusion",
    "TemporalGatedFusion": "mlser.models.fusion",
    "build_fusion": "mlser.models.fusion",
    "utterance_gate_means": "mlser.models.fusion",
    "CharTokenizer": "mlser.models.heads",
    "ClassificationHead": "mlser.models.heads",
    "CTCHead": "mlser.models.heads",
    "masked_mean_pool": "mlser.models.heads",
    "LossWeights": "mlser.models.losses",
    "MultiTaskLoss": "mlser.models.losses",
    "MultiTaskTargets": "mlser.models.losses",
    "ctc_loss": "mlser.models.losses",
    "multitask_loss": "mlser.models.losses",
    "MultiLevelSER": "mlser.models.multilevel",
    "MultiLevelSERConfig": "mlser.models.multilevel",
    "MultiLevelSEROutput": "mlser.models.multilevel",
    "demo_config": "mlser.models.multilevel",
    "format_parameter_counts": "mlser.models.multilevel",
    "minilm_path": "mlser.models.multilevel",
    "paper_config": "mlser.models.multilevel",
    "parameter_counts": "mlser.models.multilevel",
    "TextEncoder": "mlser.models.text",
    "TextEncoderConfig": "mlser.models.text",
    "bert_base_config": "mlser.models.text",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
