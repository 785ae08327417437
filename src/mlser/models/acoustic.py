"""Acoustic feature extractor: HuBERT with a frozen front end and a fine-tuned Transformer.

gao2024 §2.1 / §3.2 and gao2025 §4.2: HuBERT-large (7 CNN layers + 24 Transformer layers, d=1024);
"we froze the CNN layers in HuBERT while fine-tuning the Transformer layers". The output
F_a in R^{T_a x D} is the last Transformer layer (gao2025 §3.1.1).

Two front ends feed the same ``HubertModel`` feature projection + Transformer:

* ``"cnn"``: HuBERT's raw-waveform CNN, frozen (the paper configuration).
* ``"logmel"``: an 80-band log-mel spectrogram (window 400 / hop 160 samples at 16 kHz) and a
  stride-2 convolution to the CNN's output width. Measured in this project, a tiny random-init
  HuBERT with the raw-waveform CNN stays on the CTC all-blank plateau for minutes of CPU time,
  while this front end learns; it is for the small random-init demo, not for the paper run.
  Its frame count equals the CNN's length arithmetic (floor((L - 400) / 320) + 1 for HuBERT's
  kernels/strides), so masks, CTC lengths and downstream shapes are the same for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from transformers import HubertModel

from mlser.pretrained import load_kwargs, resolve_pretrained

__all__ = [
    "ARCHITECTURES",
    "FRONTENDS",
    "AcousticEncoder",
    "AcousticEncoderConfig",
    "FrameMask",
    "LogMelFrontend",
    "MaskedBatchNorm1d",
    "MaskedDepthwiseConv1d",
    "demo_hubert_config",
    "hubert_large_config",
    "lengths_to_mask",
    "mel_filterbank",
]


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool padding mask, True on valid positions."""
    max_len = int(lengths.max()) if max_len is None else max_len
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def hubert_large_config() -> dict[str, Any]:
    """``HubertConfig`` kwargs of the paper's acoustic model (facebook/hubert-large-ll60k).

    hidden 1024, 24 layers, 16 heads, FFN 4096; layer-norm CNN and pre-LN ("stable layer norm")
    Transformer, as in the released large checkpoints.
    """
    return {
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": True,
        "conv_bias": True,
    }


def demo_hubert_config() -> dict[str, Any]:
    """A small random-init HuBERT for CPU demos: 4 layers of width 256, the large layout."""
    return {
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": True,
        "conv_bias": True,
        "num_conv_pos_embeddings": 32,
        "num_conv_pos_embedding_groups": 8,
    }


def mel_filterbank(
    n_mels: int,
    n_fft: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, peak 1 (no area normalisation).

    Returns:
        (n_fft // 2 + 1, n_mels): multiply a power spectrum (..., n_freqs) by it.
    """
    f_max = sample_rate / 2 if f_max is None else f_max

    def hz_to_mel(hz: float) -> float:
        return 2595.0 * math.log10(1.0 + hz / 700.0)

    mel_points = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2, dtype=torch.float64)
    hz_points = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)  # (n_mels + 2,)
    freqs = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lower, center, upper = hz_points[:-2], hz_points[1:-1], hz_points[2:]
    rising = (freqs[:, None] - lower[None, :]) / (center - lower)[None, :]
    falling = (upper[None, :] - freqs[:, None]) / (upper - center)[None, :]
    return torch.clamp(torch.minimum(rising, falling), min=0.0).to(torch.float32)


class LogMelFrontend(nn.Module):
    """Log-mel spectrogram + stride-2 convolution, a drop-in for HuBERT's CNN feature encoder.

    STFT with a 400-sample periodic Hann window (n_fft 400), hop 160, no centring: mel frame i
    covers samples [160 i, 160 i + 400), so valid frames never see padding, and
    n_mel = floor((L - 400) / 160) + 1. Log mel energies are normalised per utterance and per
    band over the valid frames (CMVN: needs no corpus statistics and is padding-invariant);
    padded frames are then zeroed, which is what the convolution's own zero padding sees at the
    end of an unpadded utterance. Conv1d(kernel 3, stride 2, padding 1) + GELU gives
    floor((n_mel - 1) / 2) + 1 = floor((L - 400) / 320) + 1 frames, HuBERT's CNN arithmetic.

    Shapes: waveform (B, N), lengths (B,) -> features (B, T, out_dim), out_lengths (B,).
    """

    def __init__(
        self,
        out_dim: int,
        n_mels: int = 80,
        sample_rate: int = 16_000,
        win_length: int = 400,
        hop_length: int = 160,
    ) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.win_length = win_length
        self.hop_length = hop_length
        # Non-persistent: both are functions of the constructor arguments, not learned weights.
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        self.register_buffer(
            "fbank", mel_filterbank(n_mels, win_length, sample_rate), persistent=False
        )
        self.conv = nn.Conv1d(n_mels, out_dim, kernel_size=3, stride=2, padding=1)
        self.activation = nn.GELU()

    def num_mel_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        return torch.div(lengths - self.win_length, self.hop_length, rounding_mode="floor") + 1

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Sample counts (B,) -> output frame counts (B,)."""
        n_mel = self.num_mel_frames(lengths)
        return torch.div(n_mel - 1, 2, rounding_mode="floor") + 1

    def log_mel(self, waveform: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel features (B, n_mel_frames, n_mels), zero on padded frames."""
        # float32 at least (the STFT has no half-precision kernel), float64 kept for exact tests.
        dtype = torch.promote_types(waveform.dtype, torch.float32)
        spec = torch.stft(
            waveform.to(dtype),
            n_fft=self.win_length,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(dtype),
            center=False,
            return_complex=True,
        )  # (B, n_freqs, n_frames)
        power = spec.abs().pow(2).transpose(1, 2)  # (B, n_frames, n_freqs)
        log_mel = torch.log(torch.clamp(power @ self.fbank.to(dtype), min=1e-10))
        mask = lengths_to_mask(self.num_mel_frames(lengths), log_mel.shape[1]).unsqueeze(-1)
        weights = mask.to(log_mel.dtype)
        count = weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        mean = (log_mel * weights).sum(dim=1, keepdim=True) / count
        var = ((log_mel - mean).pow(2) * weights).sum(dim=1, keepdim=True) / count
        return ((log_mel - mean) / torch.sqrt(var + 1e-5)) * weights

    def forward(
        self, waveform: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.log_mel(waveform, lengths).transpose(1, 2)  # (B, n_mels, n_frames)
        out = self.activation(self.conv(feats.to(self.conv.weight.dtype)))
        return out.transpose(1, 2), self.output_lengths(lengths)


@dataclass
class AcousticEncoderConfig:
    """How to build an :class:`AcousticEncoder`.

    Attributes:
        pretrained_name: hub id or local path for ``HubertModel.from_pretrained`` (paper:
            ``facebook/hubert-large-ll60k``), or ``package:<module>``
            (:func:`mlser.pretrained.resolve_pretrained`); None builds a random-init model
            from ``hubert``.
        hubert: ``HubertConfig`` kwargs (random init) or overrides passed to ``from_pretrained``.
        frontend: ``"cnn"`` (frozen HuBERT CNN, the paper) or ``"logmel"`` (demo, see module doc).
        n_mels: mel bands of the log-mel front end.
        normalize_waveform: zero-mean / unit-variance per utterance over its valid samples, as the
            HuBERT-large feature extractor does (``do_normalize``); the papers are silent.
        architecture: the transformers model class: ``hubert`` (gao2024/2025), or
            ``wav2vec2`` / ``wav2vec2_conformer`` (wang2023); all three share the feature
            encoder / projection / time-masking / encoder interface used here.
    """

    pretrained_name: str | None = None
    hubert: dict[str, Any] = field(default_factory=dict)
    frontend: Literal["cnn", "logmel"] = "cnn"
    n_mels: int = 80
    normalize_waveform: bool = True
    architecture: Literal["hubert", "wav2vec2", "wav2vec2_conformer"] = "hubert"


#: ``AcousticEncoderConfig.frontend`` values (config/schema.yaml ``models.acoustic.<name>``).
FRONTENDS = ("cnn", "logmel")
#: ``AcousticEncoderConfig.architecture`` -> the transformers (config, model) class names
#: (config/schema.yaml ``models.acoustic.<name>.architecture``).
ARCHITECTURES: dict[str, tuple[str, str]] = {
    "hubert": ("HubertConfig", "HubertModel"),
    "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2Model"),
    "wav2vec2_conformer": ("Wav2Vec2ConformerConfig", "Wav2Vec2ConformerModel"),
}


def _model_classes(architecture: str) -> tuple[Any, Any]:
    """(config class, model class) of an ``architecture``."""
    import transformers

    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {architecture!r}: expected one of {sorted(ARCHITECTURES)}"
        )
    cfg, model = ARCHITECTURES[architecture]
    return getattr(transformers, cfg), getattr(transformers, model)


class FrameMask:
    """The (B, T) bool padding mask of the batch being encoded, shared with the conformer's
    convolution modules, which transformers calls without one."""

    def __init__(self) -> None:
        self.value: torch.Tensor | None = None


class MaskedDepthwiseConv1d(nn.Conv1d):
    """wav2vec2-conformer's depthwise time convolution with the padded frames zeroed first.

    transformers feeds the convolution module every frame, padding included, and by then the
    padding is no longer zero (the first feed-forward block and the module's layer norm add
    their biases), so a kernel of 31 frames reads the batch neighbour's padding into an
    utterance's last 15 frames. Zeroed, it reads what an utterance alone reads: the
    convolution's own zero padding. Shapes: (B, C, T) -> (B, C, T).
    """

    frame_mask: FrameMask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.frame_mask.value
        if mask is not None:
            x = x * mask.unsqueeze(1).to(x.dtype)
        return super().forward(x)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """wav2vec2-conformer's batch norm with its training statistics (and so its running
    averages) over the real frames only, not the padding. Eval mode is per-frame and needs no
    mask. Shapes: (B, C, T) -> (B, C, T).
    """

    frame_mask: FrameMask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.frame_mask.value
        if mask is None or not self.training or not self.track_running_stats:
            return super().forward(x)
        weights = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        n = weights.sum()
        mean = (x * weights).sum(dim=(0, 2)) / n
        var = ((x - mean[:, None]).pow(2) * weights).sum(dim=(0, 2)) / n
        with torch.no_grad():
            self.num_batches_tracked += 1
            momentum = (
                self.momentum
                if self.momentum is not None
                else 1.0 / float(self.num_batches_tracked)
            )
            unbiased = var * n / (n - 1).clamp(min=1.0)
            self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
            self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        out = (x - mean[:, None]) / torch.sqrt(var[:, None] + self.eps)
        if self.affine:
            out = out * self.weight[:, None] + self.bias[:, None]
        return out


def _mask_conformer_convolutions(model: nn.Module, frame_mask: FrameMask) -> None:
    """Swap each conformer layer's depthwise convolution and batch norm for their masked
    versions (same parameter names, so checkpoints and model files load unchanged)."""
    swaps = (("depthwise_conv", MaskedDepthwiseConv1d), ("batch_norm", MaskedBatchNorm1d))
    for layer in model.encoder.layers:
        for name, cls in swaps:
            old = getattr(layer.conv_module, name)
            old.__class__ = cls  # keeps its weights, buffers and device
            old.frame_mask = frame_mask


class AcousticEncoder(nn.Module):
    """HuBERT frame features with a padding mask; CNN frozen, Transformer trainable.

    With ``frontend="logmel"`` the CNN is removed (``hubert.feature_extractor`` is None) and a
    trainable :class:`LogMelFrontend` produces the (B, T, conv_dim[-1]) features that HuBERT's
    feature projection expects. The model is driven through its feature projection, SpecAugment
    (``_mask_hidden_states``, training only, padded frames excluded) and encoder; the padded
    frames are zeroed and masked out of attention by HuBERT's encoder, so an utterance's features
    do not depend on what it is batched with. That holds for the layer-norm CNN of the large
    models; the group-norm CNN of HuBERT-base normalises over time, padding included. The
    conformer's convolution modules take no mask in transformers: their depthwise convolution
    and batch norm are swapped for masked ones (:class:`MaskedDepthwiseConv1d`,
    :class:`MaskedBatchNorm1d`) that read the mask of the batch being encoded.
    SpecAugment follows the HubertConfig (``mask_time_prob``, 0.05 by default, as in the
    released checkpoints; the papers are silent) and draws its masks from numpy's global RNG
    (transformers' ``_compute_mask_indices``): seed numpy too for repeatable training.

    Shapes: waveform (B, N) float at 16 kHz, lengths (B,) samples ->
    features (B, T, hidden_size), mask (B, T) bool with T = conv arithmetic of N.
    """

    def __init__(self, config: AcousticEncoderConfig, hubert: HubertModel | None = None) -> None:
        super().__init__()
        self.config = config
        if hubert is None:
            config_cls, model_cls = _model_classes(config.architecture)
            if config.pretrained_name is not None:
                name = resolve_pretrained(config.pretrained_name)
                hubert = model_cls.from_pretrained(name, **load_kwargs(name), **config.hubert)
            else:
                hubert = model_cls(config_cls(**config.hubert))
        self.hubert = hubert
        self._frame_mask = FrameMask()
        if config.architecture == "wav2vec2_conformer":
            _mask_conformer_convolutions(hubert, self._frame_mask)
        self.logmel: LogMelFrontend | None = None
        if config.frontend == "cnn":
            # frozen in every stage: gao2025 §4.2 "We froze the CNN layers in HuBERT"; gao2024's
            # "first finetuned ... Then, we froze the CNN" can be read as stage 2 only (a reading)
            hubert.feature_extractor._freeze_parameters()
        elif config.frontend == "logmel":
            self.logmel = LogMelFrontend(out_dim=hubert.config.conv_dim[-1], n_mels=config.n_mels)
            # The CNN would be dead weight: drop it so parameter counts and optimisers ignore it.
            hubert.feature_extractor = None
        else:
            raise ValueError(f"unknown frontend {config.frontend!r}: expected one of {FRONTENDS}")

    @classmethod
    def from_pretrained(
        cls, name: str, frontend: Literal["cnn", "logmel"] = "cnn", **hubert_kwargs: Any
    ) -> AcousticEncoder:
        """Load pretrained HuBERT weights (downloads unless ``name`` is a local directory)."""
        return cls(
            AcousticEncoderConfig(pretrained_name=name, hubert=hubert_kwargs, frontend=frontend)
        )

    @property
    def hidden_size(self) -> int:
        return int(self.hubert.config.hidden_size)

    def pretrained_parts(self) -> list[str]:
        """Children whose weights ``from_pretrained`` gives (:mod:`mlser.training.model_files`)."""
        return ["hubert"] if self.config.pretrained_name is not None else []

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Sample counts (B,) -> frame counts (B,) of the active front end."""
        if self.logmel is not None:
            return self.logmel.output_lengths(lengths)
        return self.hubert._get_feat_extract_output_lengths(lengths).to(torch.long)

    def _normalize(self, waveform: torch.Tensor, sample_mask: torch.Tensor) -> torch.Tensor:
        weights = sample_mask.to(waveform.dtype)
        count = weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        mean = (waveform * weights).sum(dim=1, keepdim=True) / count
        var = ((waveform - mean).pow(2) * weights).sum(dim=1, keepdim=True) / count
        return (waveform - mean) / torch.sqrt(var + 1e-7) * weights

    def forward(
        self, waveform: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, mask = self._projected(waveform, lengths)
        # SpecAugment draws spans of `mask_time_length` frames, and transformers raises on
        # a batch shorter than one span: a batch of clips under 0.2 s (MELD has some;
        # HuBERT-large's span is 10 frames of 20 ms) trains unmasked instead of crashing
        if hidden.shape[1] > int(getattr(self.hubert.config, "mask_time_length", 0)):
            hidden = self.hubert._mask_hidden_states(hidden, attention_mask=mask)
        return self._encode(hidden, mask), mask

    def masked_forward(
        self, waveform: torch.Tensor, lengths: torch.Tensor, mask_prob: float, mask_length: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masked prediction's forward (wav2vec 2.0 / HuBERT pre-training), in train and
        eval mode alike: spans of ``mask_length`` frames covering about ``mask_prob`` of
        each utterance (transformers' ``_compute_mask_indices``, numpy's global RNG, at
        least 2 spans) replaced by the learned mask embedding before the Transformer.

        Returns features (B, T, H), the padding mask (B, T) and the masked frames (B, T)
        bool (none among the padding).
        """
        from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices

        hidden, mask = self._projected(waveform, lengths)
        if getattr(self.hubert, "masked_spec_embed", None) is None:
            raise ValueError(
                "masked prediction needs the encoder's mask embedding: build it with "
                "mask_time_prob > 0 (transformers creates `masked_spec_embed` only then)"
            )
        span = min(int(mask_length), int(mask.sum(1).min()))  # a clip shorter than a span
        masked = (
            torch.from_numpy(
                _compute_mask_indices(
                    tuple(hidden.shape[:2]),
                    mask_prob,
                    span,
                    attention_mask=mask.long(),
                    min_masks=2,
                )
            ).to(device=hidden.device, dtype=torch.bool)
            & mask
        )
        hidden = hidden.masked_fill(masked.unsqueeze(-1), 0.0) + masked.unsqueeze(-1).to(
            hidden.dtype
        ) * self.hubert.masked_spec_embed.to(hidden.dtype)
        return self._encode(hidden, mask), mask, masked

    def _encode(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The Transformer (or conformer) layers: (B, T, H), (B, T) -> (B, T, H)."""
        self._frame_mask.value = mask
        try:
            return self.hubert.encoder(hidden, attention_mask=mask)[0]
        finally:
            self._frame_mask.value = None

    def _projected(
        self, waveform: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The front end and feature projection: (B, T, H) before the Transformer, (B, T)
        padding mask."""
        batch, n_samples = waveform.shape
        if lengths is None:
            lengths = torch.full((batch,), n_samples, dtype=torch.long, device=waveform.device)
        lengths = lengths.to(device=waveform.device, dtype=torch.long)
        sample_mask = lengths_to_mask(lengths, n_samples)
        # Whatever the collator padded with, the model must only ever see zeros there.
        waveform = waveform * sample_mask.to(waveform.dtype)
        if self.config.normalize_waveform:
            waveform = self._normalize(waveform, sample_mask)

        frame_lengths = self.output_lengths(lengths)
        if bool((frame_lengths < 1).any()):
            raise ValueError(
                f"utterances shorter than one frame (400 samples at 16 kHz): {lengths.tolist()}"
            )
        if self.logmel is not None:
            extract, _ = self.logmel(waveform, lengths)
        else:
            extract = self.hubert.feature_extractor(waveform).transpose(1, 2)
        mask = lengths_to_mask(frame_lengths, extract.shape[1])

        hidden = self.hubert.feature_projection(extract)
        if isinstance(hidden, tuple):  # transformers 4.x wav2vec2-style projections return a pair
            hidden = hidden[0]
        return hidden, mask
