"""Codebook frames: every training utterance as one discrete code per frame (wang2023 §2.2).

Two discretisers, both fitted or applied on a fold's *training* utterances only:

* ``kmeans`` (the demo's; needs no pretrained quantizer): k-means units fitted on the
  fold's training log-mel frames (80 bands, 25 ms / 10 ms, per-utterance normalised: the
  features :class:`mlser.models.acoustic.LogMelFrontend` computes, no learned weights).
  A unit's embedding is its centroid.
* ``wav2vec2_quantizer`` (the paper's): the Gumbel quantizer of a pretrained wav2vec 2.0
  checkpoint named in config (``Wav2Vec2ForPreTraining`` or
  ``Wav2Vec2ConformerForPreTraining``: wang2023 takes it from its speech encoder, §2.2),
  in eval mode (argmax per group). A frame's code is the tuple of its group indices (one
  integer ``sum_g idx_g V^g``). Its embedding is the checkpoint's ``project_q`` of the
  concatenated group codevectors (what the quantizer returns for that frame): the
  ``proj_codevector_dim`` space in which wav2vec 2.0 pretraining's contrastive loss
  compares ``project_q(quantized)`` with ``project_hid(context features)``. The codebook
  keeps ``project_hid`` too (:attr:`Codebook.feature_projection`), so that the label-frame
  attention compares the encoder's features with the label embeddings in that space
  (:mod:`mlser.models.label_embedding`).

The codes of each class form one document; the TF-IDF of :mod:`mlser.features.label_keywords`
ranks them (tokens ``u<code>``), and the embeddings of each class's Top-K codes are the
label-frame embeddings LE-MER is initialised from.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from mlser.atomic import atomic_path
from mlser.features.label_keywords import KeywordSettings, class_documents, tfidf_top_k

METHODS: tuple[str, ...] = ("kmeans", "wav2vec2_quantizer")


@dataclass(frozen=True)
class CodebookSettings:
    """How frames are discretised.

    Attributes:
        method: ``kmeans`` or ``wav2vec2_quantizer``.
        units: k-means units (``kmeans``).
        max_fit_frames: frames sampled (with ``seed``) to fit k-means; all if fewer.
        seed: k-means initialisation and frame sampling.
        quantizer: ``from_pretrained`` name of a wav2vec 2.0 (or wav2vec 2.0-conformer)
            pretraining checkpoint with its quantizer: the speech encoder's own (§2.2).
        n_mels: log-mel bands (``kmeans``).
    """

    method: str = "kmeans"
    units: int = 256
    max_fit_frames: int = 50_000
    seed: int = 0
    quantizer: str | None = None
    n_mels: int = 80

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"codebook method {self.method!r}: expected one of {METHODS}")
        if self.method == "wav2vec2_quantizer" and not self.quantizer:
            raise ValueError("codebook method wav2vec2_quantizer needs `quantizer` (a model name)")


@dataclass
class Codebook:
    """Per-utterance frame codes of the training utterances and the code embeddings.

    Attributes:
        method: how the codes were made.
        utt_ids: the utterances coded (the fold's training partition).
        codes: one int64 array of frame codes per utterance.
        code_ids: ``(U,)`` the codes that have an embedding (sorted).
        vectors: ``(U, D)`` the embedding of each code of ``code_ids``.
        hop: samples per code frame (160 for log-mel frames, 320 for wav2vec 2.0).
        feature_projection: ``(weight (D, d_s), bias (D,))``, the quantizer checkpoint's
            ``project_hid``: maps its encoder's ``(T, d_s)`` features into the space of
            ``vectors`` (``wav2vec2_quantizer``); None where ``vectors`` have no such space
            (k-means centroids of log-mel frames).
        source: the checkpoint the codes come from ("" if none or unnamed).
    """

    method: str
    utt_ids: list[str]
    codes: list[np.ndarray]
    code_ids: np.ndarray
    vectors: np.ndarray
    hop: int
    feature_projection: tuple[np.ndarray, np.ndarray] | None = None
    source: str = ""

    def embeddings(self, codes: Sequence[int]) -> np.ndarray:
        """``(len(codes), D)`` embeddings of ``codes``."""
        where = np.searchsorted(self.code_ids, codes)
        bad = [
            c
            for c, w in zip(codes, where, strict=True)
            if w >= len(self.code_ids) or self.code_ids[w] != c
        ]
        if bad:
            raise KeyError(f"codes {bad[:5]} have no embedding in this codebook")
        return self.vectors[where]


def log_mel_frames(audio: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """``(n_frames, n_mels)`` normalised log-mel frames of one 16 kHz utterance."""
    frontend = _frontend(n_mels)
    wav = torch.as_tensor(audio, dtype=torch.float32).unsqueeze(0)
    with torch.no_grad():
        return frontend.log_mel(wav, torch.tensor([wav.shape[1]]))[0].numpy()


_FRONTENDS: dict[int, Any] = {}


def _frontend(n_mels: int) -> Any:
    from mlser.models.acoustic import LogMelFrontend

    if n_mels not in _FRONTENDS:  # its conv is unused here: only log_mel() is called
        _FRONTENDS[n_mels] = LogMelFrontend(out_dim=1, n_mels=n_mels)
    return _FRONTENDS[n_mels]


def fit_kmeans_codebook(
    utt_ids: Sequence[str], audios: Sequence[np.ndarray], settings: CodebookSettings
) -> Codebook:
    """k-means units fitted on the log-mel frames of ``audios`` (the fold's training set)."""
    from sklearn.cluster import KMeans

    frames = [log_mel_frames(a, settings.n_mels) for a in audios]
    stacked = np.concatenate(frames).astype(np.float64)
    if len(stacked) < settings.units:
        raise ValueError(
            f"{len(stacked)} training frames cannot make {settings.units} k-means units"
        )
    rng = np.random.default_rng(settings.seed)
    fit = stacked
    if len(stacked) > settings.max_fit_frames:
        fit = stacked[np.sort(rng.choice(len(stacked), settings.max_fit_frames, replace=False))]
    km = KMeans(
        n_clusters=settings.units, n_init=1, max_iter=50, random_state=settings.seed, tol=1e-4
    ).fit(fit)
    centroids = km.cluster_centers_.astype(np.float32)
    codes = [_nearest(f, centroids) for f in frames]
    return Codebook("kmeans", list(utt_ids), codes, np.arange(settings.units), centroids, hop=160)


def _nearest(frames: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    d = (
        (frames.astype(np.float32) ** 2).sum(1, keepdims=True)
        - 2 * frames.astype(np.float32) @ centroids.T
        + (centroids**2).sum(1)[None, :]
    )
    return d.argmin(1).astype(np.int64)


#: What a quantizer checkpoint must hold besides its encoder: without them
#: ``from_pretrained`` would initialise them at random, silently.
_PRETRAINING_HEADS = ("quantizer.", "project_q.", "project_hid.")


class QuantizerCoder:
    """Frame codes and code embeddings from the quantizer of a wav2vec 2.0 pretraining model.

    Args:
        model: a ``Wav2Vec2ForPreTraining`` or ``Wav2Vec2ConformerForPreTraining``
            (``from_pretrained(name)`` on the real config; any config works, e.g. a tiny
            random-init one in tests). Both hold ``quantizer`` (``codevectors``
            ``(1, G * V, codevector_dim / G)``, ``weight_proj``), ``project_q``
            (``codevector_dim -> proj_codevector_dim``) and ``project_hid``
            (``hidden_size -> proj_codevector_dim``) beside their encoder (``base_model``).
    """

    def __init__(self, model: Any) -> None:
        self.model = model.eval()
        self.encoder = model.base_model  # .wav2vec2 or .wav2vec2_conformer
        q = model.quantizer
        self.groups, self.vars = int(q.num_groups), int(q.num_vars)
        self.source = str(getattr(model.config, "_name_or_path", "") or "")

    @classmethod
    def from_pretrained(cls, name: str) -> QuantizerCoder:
        """The pretraining model of ``name`` (its class from the checkpoint's model type)."""
        from transformers import AutoModelForPreTraining

        from mlser.pretrained import load_kwargs

        model, info = AutoModelForPreTraining.from_pretrained(
            name, output_loading_info=True, **load_kwargs(name)
        )
        missing = [k for k in info["missing_keys"] if k.startswith(_PRETRAINING_HEADS)]
        if missing:
            raise ValueError(
                f"{name} has no pretrained quantizer / projections ({missing[:3]} missing): "
                "the codebook needs a wav2vec 2.0 pretraining checkpoint"
            )
        return cls(model)

    @torch.no_grad()
    def group_indices(self, audio: np.ndarray) -> np.ndarray:
        """``(T, G)`` the chosen codevector of each group for each frame of ``audio``."""
        wav = torch.as_tensor(audio, dtype=torch.float32)
        # the wav2vec 2.0 feature extractor's zero-mean unit-variance input normalisation
        wav = ((wav - wav.mean()) / torch.sqrt(wav.var() + 1e-7)).unsqueeze(0)
        w2v = self.encoder
        extract = w2v.feature_extractor(wav).transpose(1, 2)
        extract = w2v.feature_projection.layer_norm(extract)
        logits = self.model.quantizer.weight_proj(extract)  # (1, T, G * V)
        return logits.view(extract.shape[1], self.groups, self.vars).argmax(-1).numpy()

    def code_of(self, idx: np.ndarray) -> np.ndarray:
        """Group indices ``(T, G)`` -> one integer code per frame ``sum_g idx_g V^g``."""
        return (idx * (self.vars ** np.arange(self.groups))[None, :]).sum(1).astype(np.int64)

    def codevectors_of(self, codes: np.ndarray) -> np.ndarray:
        """``(len(codes), codevector_dim)`` codevectors (group vectors concatenated)."""
        table = self.model.quantizer.codevectors.detach()[0].float().numpy()  # (G * V, D / G)
        idx = (codes[:, None] // (self.vars ** np.arange(self.groups))[None, :]) % self.vars
        rows = idx + self.vars * np.arange(self.groups)[None, :]
        return table[rows].reshape(len(codes), -1).astype(np.float32)

    @torch.no_grad()
    def vectors_of(self, codes: np.ndarray) -> np.ndarray:
        """``(len(codes), proj_codevector_dim)`` ``project_q`` of the codevectors: the
        embeddings the contrastive loss of pretraining compared with ``project_hid`` of
        the context features."""
        q = self.model.project_q
        x = torch.from_numpy(self.codevectors_of(codes)).to(q.weight.dtype)
        return q(x).float().numpy()

    def feature_projection(self) -> tuple[np.ndarray, np.ndarray]:
        """``project_hid`` as ``(weight (proj_codevector_dim, hidden_size), bias)``."""
        p = self.model.project_hid
        return (
            p.weight.detach().float().numpy().copy(),
            p.bias.detach().float().numpy().copy(),
        )


def quantizer_codebook(
    utt_ids: Sequence[str], audios: Sequence[np.ndarray], coder: QuantizerCoder
) -> Codebook:
    """Codes of ``audios`` by a wav2vec 2.0 quantizer; the embeddings of the codes used
    (``project_q`` of their codevectors) and the checkpoint's ``project_hid``."""
    codes = [coder.code_of(coder.group_indices(a)) for a in audios]
    used = np.unique(np.concatenate(codes)) if codes else np.zeros(0, np.int64)
    return Codebook(
        "wav2vec2_quantizer",
        list(utt_ids),
        codes,
        used,
        coder.vectors_of(used),
        hop=320,
        feature_projection=coder.feature_projection(),
        source=coder.source,
    )


def build_codebook(
    utt_ids: Sequence[str], audios: Sequence[np.ndarray], settings: CodebookSettings
) -> Codebook:
    """The fold's codebook by ``settings.method`` (see the module doc)."""
    if settings.method == "kmeans":
        return fit_kmeans_codebook(utt_ids, audios, settings)
    return quantizer_codebook(utt_ids, audios, QuantizerCoder.from_pretrained(settings.quantizer))


def code_documents(codebook: Codebook, labels: Sequence[str], classes: Sequence[str]) -> list[str]:
    """One document of ``u<code>`` tokens per class."""
    texts = [" ".join(f"u{c}" for c in codes) for codes in codebook.codes]
    return class_documents(texts, labels, classes)


def top_codes(
    codebook: Codebook, labels: Sequence[str], classes: Sequence[str], k: int
) -> pd.DataFrame:
    """Top-K TF-IDF codes per class (keyword-table columns; ``keyword`` = ``u<code>``).

    No stop words and raw term frequency: codes have no stop list, and a frame code's
    count is what says how much of a class's audio it covers."""
    settings = KeywordSettings(k=k, stop_words=None, sublinear_tf=False)
    return tfidf_top_k(code_documents(codebook, labels, classes), classes, settings, r"\S+")


def code_ids_of(table: pd.DataFrame) -> list[int]:
    """The integer codes of a top-codes table's ``keyword`` column (``u<code>``)."""
    return [int(str(w)[1:]) for w in table["keyword"]]


def save_codebook(path: str | os.PathLike[str], codebook: Codebook) -> None:
    """Atomically save a codebook as ``.npz``."""
    lengths = np.array([len(c) for c in codebook.codes], dtype=np.int64)
    projection = {}
    if codebook.feature_projection is not None:
        weight, bias = codebook.feature_projection
        projection = {"projection_weight": weight, "projection_bias": bias}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            method=np.array(codebook.method),
            utt_ids=np.array(codebook.utt_ids),
            lengths=lengths,
            codes=np.concatenate(codebook.codes) if codebook.codes else np.zeros(0, np.int64),
            code_ids=codebook.code_ids,
            vectors=codebook.vectors,
            hop=np.array(codebook.hop),
            source=np.array(codebook.source),
            **projection,
        )


def load_codebook(path: str | os.PathLike[str]) -> Codebook:
    """A codebook saved by :func:`save_codebook`."""
    with np.load(path, allow_pickle=False) as z:
        offsets = np.concatenate([[0], np.cumsum(z["lengths"])])
        codes = [z["codes"][offsets[i] : offsets[i + 1]] for i in range(len(z["lengths"]))]
        projection = None
        if "projection_weight" in z.files:
            projection = (z["projection_weight"], z["projection_bias"])
        return Codebook(
            str(z["method"]),
            [str(u) for u in z["utt_ids"]],
            codes,
            z["code_ids"],
            z["vectors"],
            int(z["hop"]),
            projection,
            str(z["source"]) if "source" in z.files else "",
        )
