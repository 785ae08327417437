"""Model specs: the config's ``models`` section and a stage block -> a model's config.

The experiment matrix names encoders (``acoustic_encoder: hubert_large``); the run config's
``models`` section says what each name means on this run (a checkpoint, or the demo's
random-init sizes). This module turns the two into the dataclass config a network is built
from, for every family that builds from them: :func:`multilevel_config` for
:class:`~mlser.models.multilevel.MultiLevelSER` (multi-level training and the acoustic
pretraining), :func:`lookup` for LE-MER's systems. Once built, a multi-level model carries
its whole :class:`~mlser.models.multilevel.MultiLevelSERConfig`, saved with it
(:func:`saved_config`), so nothing downstream reads the ``models`` section again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mlser.models.acoustic import AcousticEncoderConfig
from mlser.models.adapters import AdapterConfig
from mlser.models.error_correction import ErrorCorrectionConfig
from mlser.models.fusion import NO_FUSION, FusionConfig
from mlser.models.multilevel import MultiLevelSER, MultiLevelSERConfig
from mlser.models.text import TextEncoderConfig
from mlser.pretrained import load_kwargs, resolve_pretrained

__all__ = [
    "StageError",
    "build_model",
    "error_correction_config",
    "lookup",
    "merge_stage",
    "multilevel_config",
    "saved_config",
]


class StageError(ValueError):
    """A stage block or model spec this code cannot run; the message says which."""


def lookup(models: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    """The spec of encoder ``name`` in ``models[kind]`` (``acoustic`` or ``text``)."""
    table = models.get(kind, {})
    if name not in table:
        raise StageError(
            f"models.{kind}.{name}: the experiment uses the {kind} encoder {name!r}, which the "
            f"config's `models.{kind}` section does not define (it has {sorted(table)})"
        )
    return table[name]


def merge_stage(stage1: dict[str, Any], stage2: dict[str, Any]) -> dict[str, Any]:
    """The architecture after stage 2: stage-2 fields override stage-1 ones."""
    merged = dict(stage1)
    merged.update({k: v for k, v in stage2.items() if v is not None})
    return merged


def multilevel_config(
    stage: dict[str, Any],
    models: dict[str, Any],
    num_emotions: int,
    error_correction: bool | None = None,
) -> MultiLevelSERConfig:
    """The :class:`MultiLevelSERConfig` of a stage block (no adapters: a stage adds them
    after loading the weights it starts from, :meth:`MultiLevelSER.add_adapters`).

    Args:
        stage: ``acoustic_encoder`` and ``text_encoder`` (names in ``models`` or null),
            ``fusion`` (``none`` or a :data:`mlser.models.fusion.FUSIONS` name) and ``tasks``.
        models: the config's ``models`` section: ``acoustic``/``text`` name → spec,
            ``fusion`` sizes, ``error_correction`` sizes.
        error_correction: with the AEC decoder; None = whether ``aec`` is a stage task.
    """
    acoustic_cfg = text_cfg = None
    if stage.get("acoustic_encoder"):
        spec = lookup(models, "acoustic", stage["acoustic_encoder"])
        acoustic_cfg = AcousticEncoderConfig(
            pretrained_name=spec.get("pretrained"),
            hubert=dict(spec.get("hubert", {})),
            frontend=spec.get("frontend", "cnn"),
        )
    if stage.get("text_encoder"):
        spec = lookup(models, "text", stage["text_encoder"])
        text_cfg = TextEncoderConfig(
            pretrained_name=spec.get("pretrained"),
            freeze=bool(spec.get("freeze", False)),
            max_length=int(spec.get("max_length", 128)),
            train_top_layers=int(spec.get("train_top_layers", 0)),
        )
    fusion = stage.get("fusion") or NO_FUSION
    if acoustic_cfg is not None and text_cfg is not None and fusion == NO_FUSION:
        raise StageError("a stage with both encoders needs a fusion (got 'none')")
    if error_correction is None:
        error_correction = "aec" in stage.get("tasks", [])
    aec_cfg = None
    if error_correction:
        if acoustic_cfg is None or text_cfg is None:
            raise StageError("ASR error correction (task 'aec') needs speech and text encoders")
        aec_cfg = error_correction_config(models, text_cfg)
    return MultiLevelSERConfig(
        acoustic=acoustic_cfg,
        text=text_cfg,
        fusion=fusion if fusion != NO_FUSION else "concat",
        fusion_config=FusionConfig(**models.get("fusion", {})),
        num_emotions=num_emotions,
        error_correction=aec_cfg,
    )


def error_correction_config(
    models: dict[str, Any], text_cfg: TextEncoderConfig
) -> ErrorCorrectionConfig:
    """The AEC decoder's sizes from ``models.error_correction``; BOS/EOS/PAD are the text
    tokenizer's [CLS]/[SEP]/[PAD] (so no token is added to its vocabulary)."""
    from transformers import AutoTokenizer

    spec = models.get("error_correction", {})
    name = resolve_pretrained(text_cfg.tokenizer_name or text_cfg.pretrained_name)
    tokenizer = AutoTokenizer.from_pretrained(name, **load_kwargs(name))
    return ErrorCorrectionConfig(
        encoder_name=str(text_cfg.pretrained_name),
        num_decoder_layers=int(spec.get("num_decoder_layers", 8)),
        num_attention_heads=int(spec.get("num_attention_heads", 12)),
        ffn_dim=int(spec.get("ffn_dim", 3072)),
        dropout=float(spec.get("dropout", 0.1)),
        max_target_positions=max(int(spec.get("max_length", 128)), text_cfg.max_length) + 2,
        pad_id=int(tokenizer.pad_token_id),
        bos_id=int(tokenizer.cls_token_id),
        eos_id=int(tokenizer.sep_token_id),
    )


def build_model(
    stage: dict[str, Any],
    models: dict[str, Any],
    num_emotions: int,
    error_correction: bool | None = None,
) -> MultiLevelSER:
    """A fresh :class:`MultiLevelSER` for a stage block (see :func:`multilevel_config`)."""
    return MultiLevelSER(multilevel_config(stage, models, num_emotions, error_correction))


def saved_config(spec: dict[str, Any]) -> MultiLevelSERConfig:
    """The config a multi-level model file (``spec``: its saved spec) was built from.

    Files saved since #22 hold it (``spec["config"]``, :meth:`MultiLevelSERConfig.to_dict`).
    Older files hold the stage block, the run's ``models`` section, the classes, the tasks
    and the stage-2 adapters instead: their config is derived from those as training
    derived it (:func:`multilevel_config`), so they load as before.
    """
    if spec.get("config") is not None:
        return MultiLevelSERConfig.from_dict(spec["config"])
    tasks = spec.get("tasks", spec["stage"]["tasks"])
    config = multilevel_config(spec["stage"], spec["models"], len(spec["classes"]), "aec" in tasks)
    if spec.get("adapters") is not None:
        config = dataclasses.replace(config, adapters=AdapterConfig(**spec["adapters"]))
    return config
