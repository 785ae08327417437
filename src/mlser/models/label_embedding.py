"""LE-MER: label-embedding enhanced multimodal emotion recognition (wang2023, §2, Eqs. 1-12).

Inputs are encoder outputs (the encoders live elsewhere): text token features
``H_t`` ``(B, l_t, d_t)`` from BERT and speech frame features ``H_s`` ``(B, l_s, d_s)``
from wav2vec 2.0, each with a padding mask (1/True = real). Label keywords come in as
tensors: the text encoder's embeddings of each class's Top-K TF-IDF words ``(C, K, d)``
and the wav2vec 2.0 codebook embeddings of each class's Top-K TF-IDF frames ``(C, K, d)``.

How the equations are read (paper numbering):

* Label embeddings ``L_t``, ``L_s`` ``(C, d)``: the mean of the K keyword embeddings of
  each class (§2.1/§2.2, "by averaging"). Table 1 compares *initialisations* (random /
  label words / TF-IDF; random / BERT / codebook), so they are learnable parameters
  initialised from that mean (``learnable_label_embeddings``); random init if no
  keywords are given (normal, std 0.02, BERT's initialiser; paper silent on the law).
* Eq. (1)/(4): ``G = cos(H, L)`` ``(B, l, C)``; rows of padding are 0.
* Eq. (2)/(5): ``p_g = softmax(MeanPool_l(G))`` with the mean over real steps only;
  Eq. (3)/(6): ``L_g = CE(y, p_g)`` i.e. cross-entropy on the pooled cosines as logits
  (no temperature in the paper; ``label_logit_scale`` = 1 keeps it so).
* Eq. (7): ``A_r = softmax(H_t W H_s^T)``, softmax over frames, padded frames excluded.
  The paper writes ``H_t H_s^T W`` with ``W ∈ R^{d_s×d_t}``, which only type-checks as the
  bilinear form used here (``W`` = a bias-free ``Linear(d_s, d_t)`` on ``H_s``). No
  ``1/sqrt(d)`` in the paper: ``cross_attention_scale`` = 1 by default.
* Eq. (8): ``H'_s = A_r H_s`` ``(B, l_t, d_s)`` (the paper's ``H_s^T`` is a transposition
  typo), ``H_m = [H_t, H'_s]`` concatenated on features ``(B, l_t, d_t + d_s)``.
* Eq. (9): ``A_l = G_t G_s^T`` ``(B, l_t, l_s)``.
* Eq. (10): ``L_c = ||A_l - A_r||^2`` "implemented with the mean squared error": the mean
  over the real (token, frame) cells of each utterance, then over the batch (so a
  sample's term does not depend on how much padding the batch adds). Both maps receive
  gradients as written; ``detach_label_attention`` treats ``A_l`` as a fixed target.
* Eq. (11): ``v = MaxPool_{l_t}(H_m)`` over real tokens, ``L_m = CE(y, Linear(v))``.
* Eq. (12): ``L = mu1 L_m + mu2 L_c + mu3 L_g^t + mu4 L_g^s`` with (1, 0.5, 0.2, 0.2) (§3.2).
* Table 3 (``attention``): the speech is aligned with ``A_r`` pulled toward ``A_l`` by
  ``L_c`` (``constraint``, C1), with ``A_r + A_l`` (``sum``, C2), ``A_l`` alone
  (``label_only``, C3) or ``A_r`` alone (``vanilla_only``, C4); ``L_c`` is part of the
  loss only in C1 (C2-C4 list no attention constraint). ``A_l`` enters as computed
  (Eq. 9, unnormalised, zero on padding): the paper does not normalise it.

Where the label embeddings and the features meet (Eqs. 1/4). The paper states that the
speech label embeddings ``L_s`` have the dimension ``d_s`` of ``H_s``; a wav2vec 2.0
codebook does not (wav2vec2-conformer-rel-pos-large: 768-d codevectors, 1024-d
features). Its pretraining did align the two in one space: the contrastive loss compares
``project_hid(H_s)`` with ``project_q(codevector)`` (both ``proj_codevector_dim``, 768).
So a codebook-initialised ``L_s`` is the mean of the key frames' ``project_q`` codevectors
(:mod:`mlser.features.codebook`), and Eq. (4) becomes ``G_s = cos(project_hid(H_s), L_s)``, with
``project_hid`` (weight and bias) taken from the same checkpoint
(``speech_feature_projection``; it trains on as part of the wav2vec 2.0 model). Eqs.
(7)-(8) still use ``H_s`` itself. Mapping ``L_s`` back into the ``d_s`` space instead has
no pretrained map (``project_hid`` is ``d_s -> 768``, not invertible) and would compare
them in a space pretraining never aligned. The alignment holds for the checkpoint as
released: the 2nd-stage pre-training (unit prediction, not the contrastive loss) moves
``H_s`` before fine-tuning starts. Other keyword embeddings of another size than
the features (BERT's 768-d words for speech labels, B4; k-means log-mel centroids on the
demo) get a bias-free linear map of the label embeddings into the feature space (paper
silent; a new layer, trained at the new layers' rate); same for text.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mlser.models.heads import masked_mean_pool, nn

#: How ``A_l`` enters the fusion (wang2023 Table 3, C1-C4).
ATTENTION_MODES: tuple[str, ...] = ("constraint", "sum", "label_only", "vanilla_only")

__all__ = [
    "ATTENTION_MODES",
    "LEMEROutput",
    "LabelAttention",
    "LabelEmbeddingConfig",
    "LabelEnhancedMER",
    "LabelGuidedCrossAttention",
    "attention_constraint_loss",
    "label_embeddings_from_keywords",
]


@dataclass
class LabelEmbeddingConfig:
    """Hyper-parameters of LE-MER.

    Attributes:
        num_classes: ``C`` (IEMOCAP: 4).
        text_dim: ``d_t`` (BERT-base: 768).
        speech_dim: ``d_s`` (wav2vec2.0-conformer-base: 768).
        text_label_dim: keyword-embedding dim if not ``d_t`` (None = ``d_t``).
        speech_label_dim: keyword-embedding dim if not ``d_s`` (None = ``d_s``).
        speech_feature_projection: compare ``H_s`` and ``L_s`` in the label space, through
            an affine ``d_s -> speech_label_dim`` map of the features (wav2vec 2.0's
            ``project_hid``, see the module doc), not in the feature space.
        learnable_label_embeddings: label embeddings are trained (Table 1: an initialisation).
        label_logit_scale: multiplies the pooled cosines of Eqs. (2)/(5) (paper: 1).
        cross_attention_scale: multiplies the scores of Eq. (7) (paper: 1).
        detach_label_attention: stop gradients through ``A_l`` in Eq. (10) (paper: no).
        dropout: on ``v`` before the classifier (paper silent; 0.1 as in BERT heads).
        mu_fusion, mu_constraint, mu_text_label, mu_speech_label: ``mu1..mu4`` of Eq. (12).
        attention: one of :data:`ATTENTION_MODES` (Table 3; paper's LE-MER: constraint).
    """

    num_classes: int = 4
    text_dim: int = 768
    speech_dim: int = 768
    text_label_dim: int | None = None
    speech_label_dim: int | None = None
    speech_feature_projection: bool = False
    learnable_label_embeddings: bool = True
    label_logit_scale: float = 1.0
    cross_attention_scale: float = 1.0
    detach_label_attention: bool = False
    dropout: float = 0.1
    mu_fusion: float = 1.0
    mu_constraint: float = 0.5
    mu_text_label: float = 0.2
    mu_speech_label: float = 0.2
    attention: str = "constraint"

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_MODES:
            raise ValueError(f"attention {self.attention!r}: expected one of {ATTENTION_MODES}")


def label_embeddings_from_keywords(keywords: Tensor, keyword_mask: Tensor | None = None) -> Tensor:
    """Average the K keyword embeddings of each class (wang2023 §2.1/§2.2).

    Args:
        keywords: ``(C, K, D)`` keyword (token or codebook-frame) embeddings.
        keyword_mask: ``(C, K)`` 1 = real keyword, for classes with fewer than K.

    Returns:
        ``(C, D)`` label embeddings.
    """
    if keywords.dim() != 3:
        raise ValueError(f"keywords must be (C, K, D), got {tuple(keywords.shape)}")
    if keyword_mask is None:
        return keywords.mean(dim=1)
    m = keyword_mask.to(keywords.dtype).unsqueeze(-1)
    return (keywords * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


class LabelAttention(nn.Module):
    """Label-token (Eqs. 1-3) or label-frame (Eqs. 4-6) attention of one modality.

    Args:
        feature_dim: ``d`` of the sequence features.
        num_classes: ``C``.
        label_dim: dim of the keyword embeddings (None = ``feature_dim``).
        keywords: optional ``(C, K, label_dim)`` keyword embeddings to initialise from.
        keyword_mask: optional ``(C, K)`` mask of ``keywords``.
        learnable: label embeddings are a parameter (else a buffer).
        logit_scale: scale of the pooled cosines used as logits (paper: 1).
        project_features: map the features into the label space (``feature_projection``,
            ``Linear(feature_dim, label_dim)`` with bias) instead of the labels into the
            feature space.
        projection: ``(weight (label_dim, feature_dim), bias (label_dim,))`` to start
            ``feature_projection`` from (wav2vec 2.0's ``project_hid``); needs
            ``project_features``.
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        label_dim: int | None = None,
        keywords: Tensor | None = None,
        keyword_mask: Tensor | None = None,
        learnable: bool = True,
        logit_scale: float = 1.0,
        project_features: bool = False,
        projection: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        super().__init__()
        label_dim = label_dim or feature_dim
        if keywords is not None:
            init = label_embeddings_from_keywords(keywords.detach().float(), keyword_mask)
            if init.shape != (num_classes, label_dim):
                raise ValueError(
                    f"keywords give {tuple(init.shape)}, expected {(num_classes, label_dim)}"
                )
        else:
            init = torch.randn(num_classes, label_dim) * 0.02
        if learnable:
            self.label_embeddings = nn.Parameter(init.clone())
        else:
            self.register_buffer("label_embeddings", init.clone())
        if projection is not None and not project_features:
            raise ValueError("a feature projection was given to a label attention without one")
        self.feature_projection: nn.Linear | None = None
        self.label_projection: nn.Linear | None = None
        if project_features:
            self.feature_projection = nn.Linear(feature_dim, label_dim)
            if projection is not None:
                weight, bias = projection
                if tuple(weight.shape) != (label_dim, feature_dim):
                    raise ValueError(
                        f"feature projection {tuple(weight.shape)}: expected "
                        f"{(label_dim, feature_dim)} (label dim, feature dim); is the "
                        "codebook's checkpoint the speech encoder's?"
                    )
                with torch.no_grad():
                    self.feature_projection.weight.copy_(weight)
                    self.feature_projection.bias.copy_(bias)
        elif label_dim != feature_dim:
            self.label_projection = nn.Linear(label_dim, feature_dim, bias=False)
        self.logit_scale = logit_scale

    def labels(self) -> Tensor:
        """``(C, d)`` label embeddings ``L_t`` / ``L_s`` in the space they are compared in
        (the feature space, or the label space with ``feature_projection``)."""
        emb = self.label_embeddings
        return emb if self.label_projection is None else self.label_projection(emb)

    def project(self, features: Tensor) -> Tensor:
        """``(B, l, d)`` features -> the space of :meth:`labels` ``(B, l, d')``."""
        return features if self.feature_projection is None else self.feature_projection(features)

    def forward(self, features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Args:
            features: ``(B, l, d)`` token / frame features ``H``.
            mask: ``(B, l)`` 1 = real.

        Returns:
            ``G`` ``(B, l, C)`` cosine attention (Eq. 1/4; 0 on padding) and the
            ``(B, C)`` logits ``MeanPool(G)`` whose softmax is ``p_g`` (Eq. 2/5).
        """
        g = F.normalize(self.project(features), dim=-1) @ F.normalize(self.labels(), dim=-1).T
        g = g * mask.to(g.dtype).unsqueeze(-1)
        return g, self.logit_scale * masked_mean_pool(g, mask)


class LabelGuidedCrossAttention(nn.Module):
    """Cross attention ``A_r`` (Eq. 7), aligned speech (Eq. 8) and ``A_l`` (Eq. 9).

    Args:
        text_dim: ``d_t``.
        speech_dim: ``d_s``.
        scale: multiplies the bilinear scores of Eq. (7) (paper: 1).
        attention: which map aligns the speech (:data:`ATTENTION_MODES`).
    """

    def __init__(
        self, text_dim: int, speech_dim: int, scale: float = 1.0, attention: str = "constraint"
    ) -> None:
        super().__init__()
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention {attention!r}: expected one of {ATTENTION_MODES}")
        self.w = nn.Linear(speech_dim, text_dim, bias=False)  # W of Eq. (7)
        self.scale = scale
        self.attention = attention

    def forward(
        self,
        text: Tensor,
        text_mask: Tensor,
        speech: Tensor,
        speech_mask: Tensor,
        g_text: Tensor,
        g_speech: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Args:
            text: ``(B, l_t, d_t)`` ``H_t``; text_mask ``(B, l_t)``.
            speech: ``(B, l_s, d_s)`` ``H_s``; speech_mask ``(B, l_s)``.
            g_text: ``(B, l_t, C)`` ``G_t``; g_speech: ``(B, l_s, C)`` ``G_s``.

        Returns:
            ``H_m`` ``(B, l_t, d_t + d_s)``, ``A_r`` and ``A_l``, both ``(B, l_t, l_s)``;
            rows of padded tokens and columns of padded frames are 0.
        """
        scores = self.scale * (text @ self.w(speech).transpose(1, 2))
        frame_ok = speech_mask.bool().unsqueeze(1)
        a_r = torch.softmax(scores.masked_fill(~frame_ok, float("-inf")), dim=-1)
        a_r = a_r * text_mask.to(a_r.dtype).unsqueeze(-1)
        a_l = g_text @ g_speech.transpose(1, 2)  # padded rows of G are 0 already
        align = {"sum": a_r + a_l, "label_only": a_l}.get(self.attention, a_r)
        h_m = torch.cat([text, align @ speech], dim=-1)
        return h_m, a_r, a_l


def attention_constraint_loss(
    a_label: Tensor,
    a_cross: Tensor,
    text_mask: Tensor | None = None,
    speech_mask: Tensor | None = None,
) -> Tensor:
    """Attention constraint ``L_c = ||A_l - A_r||^2`` (wang2023 Eq. 10) as an MSE.

    Args:
        a_label: ``(B, l_t, l_s)`` label-guided attention ``A_l``.
        a_cross: ``(B, l_t, l_s)`` cross attention ``A_r``.
        text_mask: ``(B, l_t)``; speech_mask: ``(B, l_s)``; None = no padding.

    Returns:
        Scalar: per utterance the mean squared difference over real (token, frame)
        cells, then the mean over utterances. Without padding equals ``F.mse_loss``.
    """
    b, lt, ls = a_label.shape
    tm = a_label.new_ones(b, lt) if text_mask is None else text_mask.to(a_label.dtype)
    sm = a_label.new_ones(b, ls) if speech_mask is None else speech_mask.to(a_label.dtype)
    cell = tm.unsqueeze(-1) * sm.unsqueeze(1)
    sq = (a_label - a_cross).pow(2) * cell
    return (sq.sum(dim=(1, 2)) / cell.sum(dim=(1, 2)).clamp(min=1.0)).mean()


@dataclass
class LEMEROutput:
    """Outputs of :class:`LabelEnhancedMER` (attention maps kept for figures).

    Attributes:
        logits: ``(B, C)`` fused emotion logits (Eq. 11).
        loss: total Eq. (12) loss, None without labels.
        losses: the four terms ``fusion`` (L_m), ``constraint`` (L_c), ``text_label``
            (L_g^t), ``speech_label`` (L_g^s); empty without labels.
        text_label_logits: ``(B, C)`` pooled label-token cosines (Eq. 2 before softmax).
        speech_label_logits: ``(B, C)`` pooled label-frame cosines (Eq. 5).
        g_text: ``(B, l_t, C)`` label-token attention ``G_t``.
        g_speech: ``(B, l_s, C)`` label-frame attention ``G_s``.
        a_cross: ``(B, l_t, l_s)`` cross attention ``A_r``.
        a_label: ``(B, l_t, l_s)`` label-guided attention ``A_l``.
    """

    logits: Tensor
    loss: Tensor | None
    losses: dict[str, Tensor]
    text_label_logits: Tensor
    speech_label_logits: Tensor
    g_text: Tensor
    g_speech: Tensor
    a_cross: Tensor
    a_label: Tensor


class LabelEnhancedMER(nn.Module):
    """LE-MER head on top of text and speech encoder features (wang2023 Fig. 2).

    Args:
        config: :class:`LabelEmbeddingConfig`.
        text_keywords: ``(C, K, d)`` text-encoder embeddings of each class's keywords.
        speech_keywords: ``(C, K, d)`` codebook embeddings of each class's key frames.
        text_keyword_mask, speech_keyword_mask: ``(C, K)`` masks for ragged keyword lists.
        speech_projection: ``(weight (d, d_s), bias (d,))`` of the features' map into the
            codebook space (``config.speech_feature_projection``; wav2vec 2.0's
            ``project_hid``).
    """

    def __init__(
        self,
        config: LabelEmbeddingConfig,
        text_keywords: Tensor | None = None,
        speech_keywords: Tensor | None = None,
        text_keyword_mask: Tensor | None = None,
        speech_keyword_mask: Tensor | None = None,
        speech_projection: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        c = config
        self.text_label = LabelAttention(
            c.text_dim,
            c.num_classes,
            c.text_label_dim,
            text_keywords,
            text_keyword_mask,
            c.learnable_label_embeddings,
            c.label_logit_scale,
        )
        self.speech_label = LabelAttention(
            c.speech_dim,
            c.num_classes,
            c.speech_label_dim,
            speech_keywords,
            speech_keyword_mask,
            c.learnable_label_embeddings,
            c.label_logit_scale,
            c.speech_feature_projection,
            speech_projection,
        )
        self.cross = LabelGuidedCrossAttention(
            c.text_dim, c.speech_dim, c.cross_attention_scale, c.attention
        )
        self.dropout = nn.Dropout(c.dropout)
        self.classifier = nn.Linear(c.text_dim + c.speech_dim, c.num_classes)

    def forward(
        self,
        text: Tensor,
        text_mask: Tensor,
        speech: Tensor,
        speech_mask: Tensor,
        labels: Tensor | None = None,
    ) -> LEMEROutput:
        """Args:
            text: ``(B, l_t, d_t)`` token features ``H_t``; text_mask ``(B, l_t)``.
            speech: ``(B, l_s, d_s)`` frame features ``H_s``; speech_mask ``(B, l_s)``.
            labels: ``(B,)`` class ids, for the losses.

        Returns:
            :class:`LEMEROutput`.
        """
        g_t, text_logits = self.text_label(text, text_mask)
        g_s, speech_logits = self.speech_label(speech, speech_mask)
        h_m, a_r, a_l = self.cross(text, text_mask, speech, speech_mask, g_t, g_s)
        # Eq. (11): max over real tokens only.
        h_m = h_m.masked_fill(~text_mask.bool().unsqueeze(-1), float("-inf"))
        v = h_m.max(dim=1).values
        logits = self.classifier(self.dropout(v))
        loss, losses = None, {}
        if labels is not None:
            target_l = a_l.detach() if self.config.detach_label_attention else a_l
            losses = {
                "fusion": F.cross_entropy(logits, labels),
                "constraint": attention_constraint_loss(target_l, a_r, text_mask, speech_mask),
                "text_label": F.cross_entropy(text_logits, labels),
                "speech_label": F.cross_entropy(speech_logits, labels),
            }
            c = self.config
            mu_c = c.mu_constraint if c.attention == "constraint" else 0.0
            loss = (
                c.mu_fusion * losses["fusion"]
                + mu_c * losses["constraint"]
                + c.mu_text_label * losses["text_label"]
                + c.mu_speech_label * losses["speech_label"]
            )
        return LEMEROutput(
            logits=logits,
            loss=loss,
            losses=losses,
            text_label_logits=text_logits,
            speech_label_logits=speech_logits,
            g_text=g_t,
            g_speech=g_s,
            a_cross=a_r,
            a_label=a_l,
        )
