"""The LE-MER systems of wang2023: encoders plus label embeddings, uni- or multimodal.

* Text only (Table 1, A rows): BERT token features ``H_t``; emotion logits from a linear
  layer on the masked mean of the *current* utterance's tokens (after the history's
  ``[SEP]``): the history is context for the token features, the paper does not say
  how the unimodal systems pool. With a text label embedding the label-token objective
  ``L_g^t`` (Eq. 3, mean over every token) is added.
* Speech only (B rows): the speech encoder's frames ``H_s``, the same head, and with a
  speech label embedding the label-frame objective ``L_g^s`` (Eq. 6).
* Both (Table 2/3): :class:`mlser.models.label_embedding.LabelEnhancedMER` on ``H_t`` and
  ``H_s`` (Eqs. 1-12).
* Continued pre-training ("2nd stage", B2-B5): a linear unit-prediction head on the
  speech encoder's frames, trained to predict each frame's codebook unit of the fold
  (HuBERT's masked-prediction target, with the encoder's own SpecAugment time masks;
  the loss covers every real frame, masked or not, since the encoder does not expose
  which frames it masked).

Shapes: waveforms ``(B, N)`` with lengths ``(B,)``; texts a list of B strings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlser.models.acoustic import AcousticEncoder, AcousticEncoderConfig
from mlser.models.config_dict import config_from_dict
from mlser.models.heads import ClassificationHead
from mlser.models.label_embedding import LabelAttention, LabelEmbeddingConfig, LabelEnhancedMER
from mlser.models.text import TextEncoder, TextEncoderConfig

IGNORE = -100


@dataclass
class LEMERSystemConfig:
    """What a system is made of.

    Attributes:
        text, speech: encoder configs (None = modality absent).
        num_classes: emotion classes.
        text_label, speech_label: whether the label-token / label-frame attention exists.
        text_label_dim, speech_label_dim: dims of the keyword embeddings it starts from
            (None = the encoder's).
        speech_feature_projection: the label-frame attention compares the speech features
            with ``L_s`` through a ``d_s -> speech_label_dim`` map of the features (the
            codebook checkpoint's ``project_hid``; :mod:`mlser.models.label_embedding`).
        attention: how ``A_l`` enters the fusion (multimodal only).
        mu: ``(mu1, mu2, mu3, mu4)`` of Eq. (12).
        ssl_units: size of the unit-prediction head (continued pre-training), or None.
        dropout: before the classifiers.
        speech_mask_time_prob: the speech encoder's time-mask rate in training (SpecAugment,
            or the masked unit prediction of continued pre-training); None keeps the
            encoder's own. Set on the built encoder, so the weights keep one shape
            (transformers creates ``masked_spec_embed`` only for a rate above 0).

    The config is the system's whole description: :meth:`to_dict` / :meth:`from_dict`
    carry it through JSON, training saves it with the weights, and
    :func:`mlser.training.lemer.load_system` rebuilds the system from it alone.
    """

    text: TextEncoderConfig | None = None
    speech: AcousticEncoderConfig | None = None
    num_classes: int = 4
    text_label: bool = False
    speech_label: bool = False
    text_label_dim: int | None = None
    speech_label_dim: int | None = None
    speech_feature_projection: bool = False
    attention: str = "constraint"
    mu: tuple[float, float, float, float] = (1.0, 0.5, 0.2, 0.2)
    ssl_units: int | None = None
    dropout: float = 0.1
    speech_mask_time_prob: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (encoder configs as dicts, None where absent)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LEMERSystemConfig:
        """The config :meth:`to_dict` gave; a key it does not know is an error."""
        nested = {"text": TextEncoderConfig, "speech": AcousticEncoderConfig}
        cfg = config_from_dict(cls, data, nested)
        return replace(cfg, mu=tuple(float(m) for m in cfg.mu))  # JSON gives a list


@dataclass
class SystemOutput:
    """Logits, the loss terms and (where they exist) the attention maps of a batch.

    Attributes:
        logits: ``(B, C)``.
        loss: the weighted total (None without labels); losses: its named terms.
        g_text ``(B, l_t, C)``, g_speech ``(B, l_s, C)``: label attention maps.
        a_cross, a_label ``(B, l_t, l_s)``: ``A_r`` and ``A_l`` (multimodal).
        text_mask ``(B, l_t)``, speech_mask ``(B, l_s)``, input_ids ``(B, l_t)``.
    """

    logits: Tensor
    loss: Tensor | None
    losses: dict[str, Tensor]
    g_text: Tensor | None = None
    g_speech: Tensor | None = None
    a_cross: Tensor | None = None
    a_label: Tensor | None = None
    text_mask: Tensor | None = None
    speech_mask: Tensor | None = None
    input_ids: Tensor | None = None


class LEMERSystem(nn.Module):
    """One LE-MER system (see the module doc).

    Args:
        config: :class:`LEMERSystemConfig`.
        text_keywords, speech_keywords: ``(C, K, D)`` keyword embeddings to initialise the
            label embeddings from (None = random init); masks ``(C, K)`` for ragged lists.
        speech_projection: ``(weight (D, d_s), bias (D,))`` to start the features' map into
            the codebook space from (``config.speech_feature_projection``).
    """

    def __init__(
        self,
        config: LEMERSystemConfig,
        text_keywords: Tensor | None = None,
        speech_keywords: Tensor | None = None,
        text_keyword_mask: Tensor | None = None,
        speech_keyword_mask: Tensor | None = None,
        speech_projection: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.config = c = config
        if c.text is None and c.speech is None:
            raise ValueError("an LE-MER system needs a text or a speech encoder")
        self.text = TextEncoder(c.text) if c.text is not None else None
        self.speech = AcousticEncoder(c.speech) if c.speech is not None else None
        if self.speech is not None and c.speech_mask_time_prob is not None:
            self.speech.hubert.config.mask_time_prob = float(c.speech_mask_time_prob)
        self.mer: LabelEnhancedMER | None = None
        self.text_label: LabelAttention | None = None
        self.speech_label: LabelAttention | None = None
        self.head: ClassificationHead | None = None
        if self.text is not None and self.speech is not None:
            self.mer = LabelEnhancedMER(
                LabelEmbeddingConfig(
                    num_classes=c.num_classes,
                    text_dim=self.text.hidden_size,
                    speech_dim=self.speech.hidden_size,
                    text_label_dim=c.text_label_dim,
                    speech_label_dim=c.speech_label_dim,
                    speech_feature_projection=c.speech_feature_projection,
                    dropout=c.dropout,
                    mu_fusion=c.mu[0],
                    mu_constraint=c.mu[1],
                    mu_text_label=c.mu[2],
                    mu_speech_label=c.mu[3],
                    attention=c.attention,
                ),
                text_keywords,
                speech_keywords,
                text_keyword_mask,
                speech_keyword_mask,
                speech_projection,
            )
        else:
            dim = self.text.hidden_size if self.text is not None else self.speech.hidden_size  # type: ignore[union-attr]
            self.head = ClassificationHead(dim, c.num_classes, c.dropout)
            if c.text_label and self.text is not None:
                self.text_label = LabelAttention(
                    dim, c.num_classes, c.text_label_dim, text_keywords, text_keyword_mask
                )
            if c.speech_label and self.speech is not None:
                self.speech_label = LabelAttention(
                    dim,
                    c.num_classes,
                    c.speech_label_dim,
                    speech_keywords,
                    speech_keyword_mask,
                    project_features=c.speech_feature_projection,
                    projection=speech_projection,
                )
        self.ssl_head = (
            nn.Linear(self.speech.hidden_size, c.ssl_units)
            if c.ssl_units and self.speech is not None
            else None
        )

    def encode_text(self, texts: list[str], device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        """``H_t`` ``(B, l_t, d_t)``, its mask and the input ids (a frozen encoder's
        features, or those of its frozen layers, are computed once per text: see
        :class:`mlser.models.text.TextEncoder`)."""
        assert self.text is not None
        enc = self.text.tokenize(texts, device)
        ids, att = enc["input_ids"], enc["attention_mask"]
        h, mask = self.text(ids, att)
        return h, mask, ids

    def forward(
        self, waveforms: Tensor, lengths: Tensor, texts: list[str], labels: Tensor | None = None
    ) -> SystemOutput:
        c = self.config
        h_t = t_mask = ids = h_s = s_mask = None
        if self.text is not None:
            h_t, t_mask, ids = self.encode_text(texts, waveforms.device)
        if self.speech is not None:
            h_s, s_mask = self.speech(waveforms, lengths)
        if self.mer is not None:
            out = self.mer(h_t, t_mask, h_s, s_mask, labels)  # type: ignore[arg-type]
            return SystemOutput(
                out.logits,
                out.loss,
                out.losses,
                out.g_text,
                out.g_speech,
                out.a_cross,
                out.a_label,
                t_mask,
                s_mask,
                ids,
            )
        h, mask = (h_t, t_mask) if h_t is not None else (h_s, s_mask)
        assert self.head is not None and h is not None
        pool = self._current_utterance(ids, mask) if h_t is not None else mask
        logits = self.head(h, pool)
        g_t = g_s = None
        label_logits = {}
        if self.text_label is not None:
            g_t, label_logits["text_label"] = self.text_label(h, mask)
        if self.speech_label is not None:
            g_s, label_logits["speech_label"] = self.speech_label(h, mask)
        loss, losses = None, {}
        if labels is not None:
            losses = {"fusion": F.cross_entropy(logits, labels)}
            losses.update({k: F.cross_entropy(v, labels) for k, v in label_logits.items()})
            weight = {"fusion": c.mu[0], "text_label": c.mu[2], "speech_label": c.mu[3]}
            loss = sum(weight[k] * v for k, v in losses.items())  # type: ignore[assignment]
        return SystemOutput(logits, loss, losses, g_t, g_s, None, None, t_mask, s_mask, ids)

    def _current_utterance(self, ids: Tensor, mask: Tensor) -> Tensor:
        """``(B, l_t)`` mask of the tokens after the last-but-one ``[SEP]`` (the current
        utterance behind a spliced history); all real tokens where there is no history."""
        sep = getattr(self.text.tokenizer, "sep_token_id", None)  # type: ignore[union-attr]
        if sep is None:
            return mask
        is_sep = (ids == sep) & mask.bool()
        # number of [SEP]s from here to the end, this one included
        after = is_sep.flip(1).cumsum(1).flip(1)
        current = (after <= 1) & mask.bool()
        # rows with one [SEP] (no history): every real token
        return torch.where((is_sep.sum(1) <= 1).unsqueeze(1), mask.bool(), current)

    def ssl_loss(self, waveforms: Tensor, lengths: Tensor, units: Tensor) -> Tensor:
        """Masked unit prediction (the continued pre-training, wang2023 §3.2): spans of
        frames masked at the encoder's ``mask_time_prob`` / ``mask_time_length``
        (:meth:`AcousticEncoder.masked_forward`), and the codebook unit of each masked
        real frame predicted from the Transformer's output there; unmasked frames are not
        scored (their unit is read off their own input: a copy task). ``units`` ``(B, T')``
        with ``IGNORE`` where a frame has no unit; T' may differ from T by a frame."""
        if self.speech is None or self.ssl_head is None:
            raise ValueError("this system has no speech encoder / unit head to pre-train")
        config = self.speech.hubert.config
        h, mask, masked = self.speech.masked_forward(
            waveforms, lengths, float(config.mask_time_prob), int(config.mask_time_length)
        )
        t = min(h.shape[1], units.shape[1])
        target = units[:, :t].masked_fill(~(mask[:, :t] & masked[:, :t]), IGNORE)
        logits = self.ssl_head(h[:, :t])
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE
        )
