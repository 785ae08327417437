"""Contrastive alignment of ground-truth-text and ASR-text features (gao2025 §3.3, Eq. 15).

Eq. (15), for one utterance with ground-truth features ``F_t^GT`` and the features
``F_t^ASR`` of its (corrected) ASR transcription, with in-batch negatives::

    L_c = -log( exp(cos(F^GT, F^ASR) / tau) / sum_{i=1..N} exp(cos(F^GT, F^ASR(i)) / tau) )

i.e. InfoNCE with the ground-truth text as anchor and the ``N`` ASR transcriptions of the
batch as candidates (the positive included in the sum). How it is read here:

* one-directional (GT → ASR) as written; ``symmetric=True`` adds the ASR → GT direction
  and averages the two (CLIP-style), an option the paper does not use;
* averaged over the ``N`` anchors of the batch (paper silent; the usual mean);
* features are the time-pooled BERT features (the paper's ``F_t ∈ R^D`` after "time
  pooling", Eq. 6: a mean over real tokens, special tokens included), no projection head;
* ``tau`` is not given in the paper: default 0.07, the usual InfoNCE value (MoCo/CLIP init).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlser.models.heads import masked_mean_pool

__all__ = ["ContrastiveConfig", "ContrastiveLoss", "info_nce"]


@dataclass
class ContrastiveConfig:
    """Attributes:
    temperature: ``tau`` of Eq. (15) (paper silent; 0.07).
    symmetric: also contrast ASR → GT and average (paper: False).
    """

    temperature: float = 0.07
    symmetric: bool = False


def info_nce(
    anchor: Tensor, positive: Tensor, temperature: float = 0.07, symmetric: bool = False
) -> Tensor:
    """InfoNCE of Eq. (15) with cosine similarity and in-batch negatives.

    Args:
        anchor: ``(N, D)`` pooled ground-truth-text features ``F_t^GT``.
        positive: ``(N, D)`` pooled ASR-text features ``F_t^ASR``; row ``i`` pairs with
            ``anchor[i]``, the other rows are its negatives.
        temperature: ``tau > 0``.
        symmetric: average with the ASR → GT direction.

    Returns:
        Scalar loss, mean over the ``N`` anchors.
    """
    if anchor.shape != positive.shape or anchor.dim() != 2:
        raise ValueError(f"expected two (N, D) tensors, got {anchor.shape}, {positive.shape}")
    # logits[i, j] = cos(F^GT_i, F^ASR_j) / tau
    logits = F.normalize(anchor, dim=-1) @ F.normalize(positive, dim=-1).T / temperature
    targets = torch.arange(anchor.size(0), device=anchor.device)
    loss = F.cross_entropy(logits, targets)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.T, targets))
    return loss


class ContrastiveLoss(nn.Module):
    """``L_c`` of gao2025 Eq. (15) as a module (no parameters).

    Accepts pooled ``(N, D)`` features or token features ``(N, T, D)`` plus a ``(N, T)``
    mask, which are mean-pooled over real tokens first (padding never enters).
    """

    def __init__(self, config: ContrastiveConfig | None = None) -> None:
        super().__init__()
        self.config = config or ContrastiveConfig()

    def forward(
        self,
        gt_features: Tensor,
        asr_features: Tensor,
        gt_mask: Tensor | None = None,
        asr_mask: Tensor | None = None,
    ) -> Tensor:
        """Args:
            gt_features: ``(N, D)`` or ``(N, T_gt, D)`` ground-truth-text features.
            asr_features: ``(N, D)`` or ``(N, T_asr, D)`` ASR / AEC-text features.
            gt_mask, asr_mask: ``(N, T)`` token masks for 3-D inputs.

        Returns:
            Scalar loss.
        """
        if gt_features.dim() == 3:
            gt_features = masked_mean_pool(gt_features, gt_mask)
        if asr_features.dim() == 3:
            asr_features = masked_mean_pool(asr_features, asr_mask)
        return info_nce(gt_features, asr_features, self.config.temperature, self.config.symmetric)
