"""Multi-task objective of the multi-level SER system (gao2025 eqs. 4, 5, 16, 17; §4.2).

L = λ_e L_e + λ_ASR L_ASR + λ_g L_g + λ_s L_s, with L_e, L_g, L_s cross-entropies (eq. 5) and
L_ASR the CTC loss (eq. 1). Paper values (§4.2): λ_e = 1 and every auxiliary weight 0.1; stage 1
(eq. 4) uses emotion + ASR, stage 2 (eq. 17) emotion + gender + style. The AEC and contrastive
terms (eqs. 15-16) belong to the ASR-error module, not here.

Choices where the papers are silent: the CTC reduction (:data:`CTC_REDUCTIONS`, a setting of
each training stage: ``ctc_reduction``), which decides what λ_ASR = 0.1 means: ``mean`` (the
default: each utterance's loss divided by its target length, then averaged over the batch,
on the scale of the cross-entropies), ``batchmean`` (summed over each utterance's characters,
averaged over the batch: ESPnet's CTC, tens of times larger) or ``sum`` (Hugging Face's
``ctc_loss_reduction`` default); and ``zero_infinity=True`` (an utterance whose transcript
cannot fit its frames contributes 0 instead of inf); the cross-entropies are unweighted batch
means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from mlser.models.multilevel import MultiLevelSEROutput

__all__ = [
    "CTC_REDUCTIONS",
    "LossWeights",
    "MultiTaskLoss",
    "MultiTaskTargets",
    "ctc_loss",
    "multitask_loss",
]

CTC_REDUCTIONS = ("mean", "batchmean", "sum")


@dataclass
class LossWeights:
    """λ of each term; a term with weight 0 is not computed (its targets may be absent)."""

    emotion: float = 1.0
    asr: float = 0.1
    gender: float = 0.1
    style: float = 0.1

    @classmethod
    def stage1(cls) -> LossWeights:
        """gao2025 eq. 4: λ_e L_e + λ_ASR L_ASR."""
        return cls(emotion=1.0, asr=0.1, gender=0.0, style=0.0)

    @classmethod
    def stage2(cls) -> LossWeights:
        """gao2025 eq. 17 (without L_c): λ_e L_e + λ_g L_g + λ_s L_s."""
        return cls(emotion=1.0, asr=0.0, gender=0.1, style=0.1)


@dataclass
class MultiTaskTargets:
    """Labels of a batch.

    Attributes:
        emotion: (B,) class indices.
        ctc_targets: (B, S) character ids, padded (see ``CharTokenizer.batch_encode``).
        ctc_target_lengths: (B,).
        gender: (B,) class indices.
        style: (B,) class indices.
    """

    emotion: torch.Tensor
    ctc_targets: torch.Tensor | None = None
    ctc_target_lengths: torch.Tensor | None = None
    gender: torch.Tensor | None = None
    style: torch.Tensor | None = None


@dataclass
class MultiTaskLoss:
    """``total``: the weighted sum to back-propagate; ``parts``: each unweighted term."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


def ctc_loss(
    log_probs: torch.Tensor,
    input_lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int = 0,
    reduction: str = "mean",
) -> torch.Tensor:
    """CTC of gao2025 eq. 1 on batch-first log-probs.

    Args:
        log_probs: (B, T, V) log-softmax outputs.
        input_lengths: (B,) valid frames.
        targets: (B, S) padded target ids (no blanks inside the valid part).
        target_lengths: (B,).
        reduction: one of :data:`CTC_REDUCTIONS` (module docstring).
    """
    if reduction not in CTC_REDUCTIONS:
        raise ValueError(f"ctc_reduction {reduction!r}: one of {CTC_REDUCTIONS}")
    loss = F.ctc_loss(
        log_probs.transpose(0, 1).float(),
        targets,
        input_lengths,
        target_lengths,
        blank=blank,
        reduction="mean" if reduction == "mean" else "sum",
        zero_infinity=True,
    )
    return loss / log_probs.shape[0] if reduction == "batchmean" else loss


def multitask_loss(
    output: MultiLevelSEROutput,
    targets: MultiTaskTargets,
    weights: LossWeights,
    ctc_reduction: str = "mean",
) -> MultiTaskLoss:
    """λ_e CE(emotion) + λ_ASR CTC + λ_g CE(gender) + λ_s CE(style).

    Raises:
        ValueError: a term has a positive weight but its targets or its head are missing.
    """

    def need(name: str, *items: object) -> None:
        if any(item is None for item in items):
            raise ValueError(
                f"loss weight for {name!r} is positive but its targets or head are None"
            )

    parts: dict[str, torch.Tensor] = {}
    if weights.emotion:
        parts["emotion"] = F.cross_entropy(output.emotion_logits, targets.emotion)
    if weights.asr:
        need("asr", targets.ctc_targets, targets.ctc_target_lengths, output.ctc_log_probs)
        parts["asr"] = ctc_loss(
            output.ctc_log_probs,
            output.ctc_lengths,
            targets.ctc_targets,
            targets.ctc_target_lengths,
            reduction=ctc_reduction,
        )
    # Unannotated targets are -100 (MELD has no gender/style); a batch without any
    # annotated target contributes no term rather than a NaN.
    if weights.gender:
        need("gender", targets.gender, output.gender_logits)
        if (targets.gender != -100).any():
            parts["gender"] = F.cross_entropy(output.gender_logits, targets.gender)
    if weights.style:
        need("style", targets.style, output.style_logits)
        if (targets.style != -100).any():
            parts["style"] = F.cross_entropy(output.style_logits, targets.style)
    if not parts:
        raise ValueError("every loss weight is zero")
    total = sum(getattr(weights, name) * value for name, value in parts.items())
    return MultiTaskLoss(total=total, parts=parts)
