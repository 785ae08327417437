"""Hierarchical SER with text re-classification of "neutral" (alqurashi2024, §II, §III-C).

Three classifiers (§II-A):

* Model 1 (speech, level 1): neutral vs emotional, trained on all utterances.
* Model 2 (speech, level 2): happy / angry / sad, trained on emotional utterances only.
* Model 3 (text, level 2): 4-way (neutral, happy, angry, sad) over text-encoder word
  features, trained on all utterances; it re-classifies what Model 1 calls neutral.

Each is "LSTMs followed by two fully connected networks" (§II-B1, §II-C); for speech the
inputs are MFCC / handcrafted / (e)GeMAPS LLD / SSL frame features of any dimension, for
text the BERT word embeddings (``t × 768``). Where the paper is silent (and hyper-parameters
were tuned with Optuna) the usual choices are made: the utterance vector is the last
layer's final hidden state (both directions if bidirectional), ReLU and dropout between
the two FC layers. Padding is handled with packed sequences, so an utterance's output does
not depend on the batch it is in. The paper's utterance-level MFCC mean (39-d) and 8
handcrafted features are single vectors: pass them as ``(B, D)``, read as length-1
sequences. The wav2vec 2.0 variants of Model 1/2 are fine-tuned SSL classifiers and are
not built here.

Decision rule ("Modality Consistency and Confidence", §III-C; Algorithm 1 itself is not in
the available text, so this follows the prose): an utterance Model 1 predicts emotional
gets Model 2's emotion. An utterance Model 1 predicts neutral keeps *neutral* if the text
model's neutral probability reaches the threshold (the text model is "sufficiently
consistent" with the speech model; ``>=`` is read for "reaches"); otherwise its label is
the text model's arg-max over all four classes ("determined by the text model output,
which includes emotional and neutral classes"). The paper sweeps 0.25, 0.30, 0.35, 0.40;
``threshold=None`` is the proposed system without thresholds (Model 3 decides every
speech-neutral utterance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

__all__ = [
    "PAPER_THRESHOLDS",
    "HierarchicalConfig",
    "HierarchicalDecision",
    "HierarchicalSER",
    "LSTMClassifier",
    "LSTMClassifierConfig",
    "hierarchical_decision",
    "hierarchical_targets",
]

#: Consistency/confidence thresholds swept in alqurashi2024 §III-C.
PAPER_THRESHOLDS: tuple[float, ...] = (0.25, 0.30, 0.35, 0.40)

#: Level-1 classes of Model 1, in output order.
LEVEL1_CLASSES: tuple[str, ...] = ("neutral", "emotional")


@dataclass
class LSTMClassifierConfig:
    """LSTM + two FC layers (paper: LSTMs, two FC, Adam, CE; the rest Optuna-tuned).

    Attributes:
        input_dim: feature size per step (39 MFCC, 8 handcrafted, 18/25 LLDs, 768 BERT...).
        num_classes: 2 (Model 1), 3 (Model 2), 4 (Model 3).
        hidden_size, num_layers, bidirectional, fc_dim, dropout: paper silent (Optuna);
            small defaults.
    """

    input_dim: int = 39
    num_classes: int = 2
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    fc_dim: int = 64
    dropout: float = 0.2


class LSTMClassifier(nn.Module):
    """Sequence classifier: LSTM → last hidden state → FC → ReLU → dropout → FC."""

    def __init__(self, config: LSTMClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            config.input_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        out_dim = config.hidden_size * (2 if config.bidirectional else 1)
        self.head = nn.Sequential(
            nn.Linear(out_dim, config.fc_dim),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.fc_dim, config.num_classes),
        )

    def forward(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        """Args:
            features: ``(B, T, D)`` frame/word features, or ``(B, D)`` one vector each.
            mask: ``(B, T)`` 1 = real step (right padding); None = no padding.

        Returns:
            ``(B, num_classes)`` logits.
        """
        if features.dim() == 2:
            features = features.unsqueeze(1)
            mask = None
        b, t, _ = features.shape
        if mask is None:
            lengths = torch.full((b,), t, dtype=torch.long)
        else:
            lengths = mask.long().sum(dim=1).clamp(min=1).cpu()
        # Packing makes the LSTM stop at each utterance's last real step.
        packed = pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        # h_n[-2:] are the last layer's forward and backward states when bidirectional.
        last = torch.cat([h_n[-2], h_n[-1]], dim=-1) if self.config.bidirectional else h_n[-1]
        return self.head(last)


@dataclass
class HierarchicalConfig:
    """The three classifiers of the hierarchy.

    Attributes:
        level1: Model 1, speech, neutral vs emotional (``num_classes`` = 2).
        level2: Model 2, speech, the emotional classes (``num_classes`` = 3).
        text: Model 3, text-encoder features, all classes (``num_classes`` = 4).
        neutral_index: index of neutral in the 4-class label set.
        emotion_indices: 4-class indices of Model 2's outputs, in its output order.
    """

    level1: LSTMClassifierConfig = field(
        default_factory=lambda: LSTMClassifierConfig(input_dim=39, num_classes=2)
    )
    level2: LSTMClassifierConfig = field(
        default_factory=lambda: LSTMClassifierConfig(input_dim=39, num_classes=3)
    )
    text: LSTMClassifierConfig = field(
        default_factory=lambda: LSTMClassifierConfig(input_dim=768, num_classes=4)
    )
    # mlser.data.labels.IEMOCAP_4CLASS = ("neu", "hap", "ang", "sad")
    neutral_index: int = 0
    emotion_indices: tuple[int, ...] = (1, 2, 3)


@dataclass
class HierarchicalDecision:
    """Outcome of :func:`hierarchical_decision` for ``N`` utterances.

    Attributes:
        labels: ``(N,)`` final class indices in the 4-class set.
        speech_neutral: ``(N,)`` Model 1 said neutral.
        kept_neutral: ``(N,)`` speech-neutral and the text model's neutral probability
            reached the threshold, so neutral was kept.
        from_text: ``(N,)`` speech-neutral and the label is the text model's arg-max.
        changed: ``(N,)`` speech-neutral but the final label is not neutral.
    """

    labels: Tensor
    speech_neutral: Tensor
    kept_neutral: Tensor
    from_text: Tensor
    changed: Tensor


def hierarchical_decision(
    p_level1: Tensor,
    p_level2: Tensor,
    p_text: Tensor,
    threshold: float | None,
    neutral_index: int = 0,
    emotion_indices: Sequence[int] = (1, 2, 3),
) -> HierarchicalDecision:
    """The paper's prediction rule with the consistency/confidence threshold (§II-A2, §III-C).

    Args:
        p_level1: ``(N, 2)`` Model 1 probabilities, columns (neutral, emotional).
        p_level2: ``(N, E)`` Model 2 probabilities over ``emotion_indices``' classes.
        p_text: ``(N, 4)`` Model 3 probabilities over the 4-class set.
        threshold: neutral is kept when ``p_text[:, neutral_index] >= threshold``;
            None = always take the text model's arg-max (the un-thresholded system).
        neutral_index: neutral's index in the 4-class set.
        emotion_indices: 4-class index of each Model 2 output.

    Returns:
        :class:`HierarchicalDecision`. Ties in an arg-max go to the lowest index, so an
        exact 0.5/0.5 Model 1 output counts as neutral.
    """
    p_level1, p_level2, p_text = (torch.as_tensor(p) for p in (p_level1, p_level2, p_text))
    emo_map = torch.as_tensor(list(emotion_indices), dtype=torch.long)
    if p_level2.size(-1) != emo_map.numel():
        raise ValueError("p_level2 columns must match emotion_indices")
    speech_neutral = p_level1.argmax(dim=-1) == 0
    emotion_label = emo_map[p_level2.argmax(dim=-1)]
    text_label = p_text.argmax(dim=-1)
    if threshold is None:
        consistent = torch.zeros_like(speech_neutral)
    else:
        consistent = p_text[:, neutral_index] >= threshold
    kept_neutral = speech_neutral & consistent
    from_text = speech_neutral & ~consistent
    labels = torch.where(speech_neutral, text_label, emotion_label)
    labels = torch.where(kept_neutral, torch.full_like(labels, neutral_index), labels)
    return HierarchicalDecision(
        labels=labels,
        speech_neutral=speech_neutral,
        kept_neutral=kept_neutral,
        from_text=from_text,
        changed=speech_neutral & (labels != neutral_index),
    )


def hierarchical_targets(
    labels: Tensor,
    neutral_index: int = 0,
    emotion_indices: Sequence[int] = (1, 2, 3),
    ignore_index: int = -100,
) -> tuple[Tensor, Tensor]:
    """Training targets of Model 1 and Model 2 from 4-class labels (§II-A1).

    Returns:
        ``(N,)`` level-1 targets (0 neutral, 1 emotional) and ``(N,)`` level-2 targets
        (position in ``emotion_indices``; ``ignore_index`` for neutral, which Model 2 is
        not trained on).
    """
    level1 = (labels != neutral_index).long()
    level2 = torch.full_like(labels, ignore_index)
    for pos, idx in enumerate(emotion_indices):
        level2 = torch.where(labels == idx, torch.full_like(labels, pos), level2)
    return level1, level2


class HierarchicalSER(nn.Module):
    """Container of the three classifiers plus the decision rule.

    The classifiers are trained separately (Model 2 on emotional utterances only, see
    :func:`hierarchical_targets`); :meth:`forward` returns all three probability sets and
    :meth:`predict` applies :func:`hierarchical_decision`.
    """

    def __init__(self, config: HierarchicalConfig) -> None:
        super().__init__()
        self.config = config
        self.level1 = LSTMClassifier(config.level1)
        self.level2 = LSTMClassifier(config.level2)
        self.text = LSTMClassifier(config.text)

    def forward(
        self,
        speech: Tensor,
        speech_mask: Tensor | None,
        text: Tensor,
        text_mask: Tensor | None,
    ) -> dict[str, Tensor]:
        """Args:
            speech: ``(B, T_s, D_s)`` (or ``(B, D_s)``) speech features; speech_mask ``(B, T_s)``.
            text: ``(B, T_t, D_t)`` text-encoder word features; text_mask ``(B, T_t)``.

        Returns:
            ``{"level1": (B, 2), "level2": (B, 3), "text": (B, 4)}`` probabilities.
        """
        return {
            "level1": self.level1(speech, speech_mask).softmax(-1),
            "level2": self.level2(speech, speech_mask).softmax(-1),
            "text": self.text(text, text_mask).softmax(-1),
        }

    @torch.no_grad()
    def predict(
        self,
        speech: Tensor,
        speech_mask: Tensor | None,
        text: Tensor,
        text_mask: Tensor | None,
        threshold: float | None,
    ) -> HierarchicalDecision:
        """Final 4-class predictions with the given threshold (see module docstring)."""
        p = self(speech, speech_mask, text, text_mask)
        return hierarchical_decision(
            p["level1"],
            p["level2"],
            p["text"],
            threshold,
            self.config.neutral_index,
            self.config.emotion_indices,
        )
