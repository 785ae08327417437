"""Output heads: the CTC character head, its tokenizer, and the utterance classification heads.

gao2025 §3.1.1: the ASR branch is "a fully connected (FC) layer" on the last HuBERT layer F_a,
trained with CTC (eq. 1); §3.1.2: emotion, gender and style are "task-specific FC layers" on the
fused utterance feature F (eq. 5). For the acoustic-only systems (gao2025 Table 1) the same heads
sit on the masked mean pool of F_a.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from mlser.data.transcripts import normalize_transcript

__all__ = [
    "CTCHead",
    "CharTokenizer",
    "ClassificationHead",
    "masked_mean_pool",
]


def masked_mean_pool(features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over the valid time steps only (the papers' "MeanPool", gao2025 eqs. 6 and 13).

    Args:
        features: (B, T, D).
        mask: (B, T) bool, True on valid steps; None means every step is valid.

    Returns:
        (B, D). An utterance with no valid step pools to zeros rather than NaN.
    """
    if mask is None:
        return features.mean(dim=1)
    weights = mask.to(features.dtype).unsqueeze(-1)  # (B, T, 1)
    total = (features * weights).sum(dim=1)
    count = weights.sum(dim=1).clamp(min=1.0)
    return total / count


class CharTokenizer:
    """Character vocabulary for CTC: blank (id 0), space, apostrophe, a-z (29 symbols).

    The papers do not give the ASR output units; lower-case characters with a word-separator
    symbol are the usual choice for CTC fine-tuning of HuBERT / wav2vec 2.0 on English.
    ``normalize`` drops bracketed event tags (IEMOCAP's ``[LAUGHTER]``), lower-cases, maps
    typographic apostrophes to ``'`` and every other character outside the vocabulary to a
    space, then collapses runs of spaces, so ``decode(encode(t)) == normalize(t)``.
    """

    blank_id: int = 0
    blank_token: str = "<blank>"

    def __init__(self) -> None:
        self.vocab: tuple[str, ...] = (self.blank_token, " ", "'", *string.ascii_lowercase)
        self._id_of = {ch: i for i, ch in enumerate(self.vocab)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def normalize(self, text: str) -> str:
        """The pipeline's one transcript normalisation (:mod:`mlser.data.transcripts`)."""
        return normalize_transcript(text)

    def encode(self, text: str) -> list[int]:
        return [self._id_of[ch] for ch in self.normalize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids to text, dropping blanks; no collapsing of repeats (use ``decode_ctc`` for paths)."""
        return "".join(self.vocab[i] for i in ids if i != self.blank_id)

    def decode_ctc(self, ids: Iterable[int]) -> str:
        """A frame-level CTC path to text: merge repeated ids, then drop blanks."""
        collapsed: list[int] = []
        previous = None
        for i in ids:
            if i != previous:
                collapsed.append(int(i))
            previous = i
        return " ".join(self.decode(collapsed).split())

    def batch_encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets for ``torch.nn.functional.ctc_loss``.

        Returns:
            targets: (B, S_max) long, padded with the blank id (ignored by CTC via the lengths).
            lengths: (B,) long.
        """
        encoded = [self.encode(t) for t in texts]
        lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
        width = max([1, *(len(e) for e in encoded)])
        targets = torch.full((len(encoded), width), self.blank_id, dtype=torch.long)
        for row, ids in enumerate(encoded):
            targets[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return targets, lengths

    def greedy_decode(
        self, log_probs: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> list[str]:
        """Best-path CTC decoding.

        Args:
            log_probs: (B, T, V) frame log-probabilities.
            lengths: (B,) valid frames per utterance; None means all T.
        """
        best = log_probs.argmax(dim=-1).cpu()
        n_frames = best.shape[1]
        lens = [n_frames] * best.shape[0] if lengths is None else lengths.cpu().tolist()
        return [self.decode_ctc(row[: int(n)].tolist()) for row, n in zip(best, lens, strict=True)]


class CTCHead(nn.Module):
    """FC layer from frame features to character log-probabilities (gao2025 eq. 1).

    Dropout before the projection follows ``HubertForCTC`` (its ``final_dropout``).
    Log-softmax runs in float32 so that CTC stays stable under mixed precision.

    Shapes: features (B, T, D) -> log_probs (B, T, V), V includes the blank (id 0).
    """

    def __init__(self, hidden_size: int, vocab_size: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden_size, vocab_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.proj(self.dropout(features))
        return torch.log_softmax(logits.float(), dim=-1)


class ClassificationHead(nn.Module):
    """Task-specific FC layer (gao2025 eq. 5) for emotion, gender or style.

    Takes either an utterance vector (B, D) or frame features (B, T, D) plus a (B, T) mask, which
    are masked-mean-pooled first (acoustic-only systems). Returns logits (B, num_classes); the
    softmax of eq. 5 lives inside the cross-entropy loss.
    """

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_dim, num_classes)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if features.dim() == 3:
            features = masked_mean_pool(features, mask)
        return self.proj(self.dropout(features))
