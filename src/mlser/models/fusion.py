"""Fusion of acoustic (F_a) and linguistic (F_t) features into one utterance vector F.

Every strategy of gao2025 Table 6 and gao2024 Table 2 ("T2"), one class each, one signature::

    fusion(acoustic (B, Ta, Da), acoustic_mask (B, Ta),
           linguistic (B, Tl, Dl), linguistic_mask (B, Tl))
        -> FusionOutput(fused (B, out_dim), gates, gate_masks)

Masks are bool, True on valid steps; padded steps are excluded from attention keys and from
every pooling, so the output of an utterance does not depend on its batch.

``build_fusion`` names (what it is; paper row):

* ``concat``: pool each modality, concat, FC (gao2025 eq. 2); gao2025 Table 4 Exp. 13.
* ``self_attention_concat``: self-attention, pool, concat, FC; Table 6 Exp. 25, T2
  "Self-attention".
* ``self_attention_gated``: SA, pool, conventional gated fusion; Table 6 Exp. 27, T2
  "Self-attention w/ gated fusion".
* ``cross_attention``: cross-attention both ways on the projected inputs (no SA), pool the
  cross-attended sequences, concat, FC; T2 "Cross-modal attention".
* ``cross_attention_gated``: ``cross_attention`` + conventional gate; T2 "Cross-modal
  attention w/ gated fusion".
* ``self_cross_attention``: SA, CA both ways, pool s ⊕ c, concat, FC; Table 6 Exp. 26, T2
  "CmGI w/o temporal gated fusion".
* ``tgf``: SA, CA, temporal gated fusion (TGF = CmGI); Table 6 Exp. 28, T2 "CmGI".
* ``tgf_gated``: ``tgf`` + conventional gate on the pooled outputs; Table 6 Exp. 29.

Choices where the papers are silent (see each class for the equation-level ones):

* Da = 1024 (HuBERT-large) and Dl = 768 (BERT-base) differ, yet the cross-attention and the
  gates need one width d: each modality is first projected by a Linear layer to ``d_model``
  (default 256, a common fusion width in SER; ``config/paper.yaml``: the papers' d,
  HuBERT-large's 1024, "the hidden dimension of the Transformer layer", gao2024 §2.1).
* Attention is multi-head scaled dot-product attention, softmax(QK^T / sqrt(d_k)) V, with an
  output projection (``num_heads`` default 4; the paper config: 1, as the equations are,
  where the output projection composes with W^V into one linear map); one layer per SA / CA
  as in the equations: no residual, LayerNorm or FFN, since the equations show none.
  Attention dropout ``dropout``.
* Self- and cross-attention weights are separate per modality and per direction (the papers
  reuse the symbols W^Q, W^K, W^V, the usual notation for distinct matrices).
* The final FC (gao2025 eq. 2 / eq. 14) is Linear -> ReLU -> Dropout to ``out_dim``: the
  classifiers after it are FC layers too, and two stacked Linear layers without a
  non-linearity would collapse into one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mlser.models.heads import masked_mean_pool

__all__ = [
    "FUSIONS",
    "FUSION_NAMES",
    "GATE_FORMS",
    "NO_FUSION",
    "OTHER_FAMILY_FUSIONS",
    "ConcatFusion",
    "CrossAttentionFusion",
    "FusionConfig",
    "FusionKind",
    "FusionOutput",
    "GatedFusion",
    "MaskedMultiheadAttention",
    "SelfAttentionConcatFusion",
    "TemporalGatedFusion",
    "build_fusion",
    "utterance_gate_means",
]


#: ``FusionConfig.gate_form`` values (config/schema.yaml ``models.fusion.gate_form``).
GATE_FORMS = ("convex", "independent")


@dataclass
class FusionConfig:
    """Sizes of a fusion module.

    Attributes:
        acoustic_dim: Da, width of the acoustic features (1024 for HuBERT-large).
        linguistic_dim: Dl, width of the linguistic features (768 for BERT-base).
        d_model: common width d of the attention and gates.
        num_heads: attention heads (d_model must divide by it).
        out_dim: width of the fused utterance vector F.
        dropout: attention and output dropout.
        gate_form: ``"convex"`` (default): a gate g weighs one stream and 1 - g the other
            (gao2024 eqs. 5-6; gao2025 Fig. 3, where the gate of F^s is plotted and the gate of
            F^c is "totally the reverse"). ``"independent"``: the literal gao2025 equations
            (eq. 7: each pooled modality has its own gate; eq. 11: only F^c is gated).
    """

    acoustic_dim: int = 1024
    linguistic_dim: int = 768
    d_model: int = 256
    num_heads: int = 4
    out_dim: int = 256
    dropout: float = 0.1
    gate_form: Literal["convex", "independent"] = "convex"


@dataclass
class FusionOutput:
    """Result of a fusion module.

    Attributes:
        fused: (B, out_dim), the fused feature F.
        gates: gate values in [0, 1] for the gated strategies, by name:
            ``"acoustic"`` (B, Ta, d) / ``"linguistic"`` (B, Tl, d) for TGF (per time step);
            ``"utterance"`` (B, k) for a convex conventional gate, or ``"utterance_acoustic"`` /
            ``"utterance_linguistic"`` (B, k) for the independent form.
        gate_masks: (B, T) validity mask of each temporal gate, for plotting valid steps only.
    """

    fused: torch.Tensor
    gates: dict[str, torch.Tensor] = field(default_factory=dict)
    gate_masks: dict[str, torch.Tensor] = field(default_factory=dict)


def utterance_gate_means(output: FusionOutput) -> dict[str, torch.Tensor]:
    """Mean of each gate over its valid time steps and channels: (B,) per gate name.

    One number per utterance and gate, the quantity whose per-emotion KDE is gao2025 Fig. 3.
    """
    means: dict[str, torch.Tensor] = {}
    for name, gate in output.gates.items():
        if gate.dim() == 3:
            means[name] = masked_mean_pool(gate, output.gate_masks.get(name)).mean(dim=-1)
        else:
            means[name] = gate.mean(dim=-1)
    return means


class MaskedMultiheadAttention(nn.Module):
    """softmax((q W^Q)(kv W^K)^T / sqrt(d_k)) (kv W^V), multi-head, then W^O.

    Shapes: query (B, Tq, d), key_value (B, Tk, d), key_mask (B, Tk) bool -> (B, Tq, d).
    Padded keys get zero weight; padded queries produce values that callers mask out.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, width = x.shape
        return x.view(batch, steps, self.num_heads, width // self.num_heads).transpose(1, 2)

    def forward(
        self, query: torch.Tensor, key_value: torch.Tensor, key_mask: torch.Tensor
    ) -> torch.Tensor:
        q = self._split(self.q_proj(query))
        k = self._split(self.k_proj(key_value))
        v = self._split(self.v_proj(key_value))
        attn = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=key_mask[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0,
        )  # (B, heads, Tq, d_k)
        batch, _, steps, _ = attn.shape
        return self.out_proj(attn.transpose(1, 2).reshape(batch, steps, -1))


class _OutputFC(nn.Module):
    """F = FC(...) of gao2025 eqs. 2 and 14: Linear -> ReLU -> Dropout."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(torch.relu(self.proj(x)))


class _UtteranceGate(nn.Module):
    """Conventional gated fusion of two pooled vectors (gao2024 eq. 5, gao2025 eqs. 6-7).

    ``convex``: G = sigmoid(f([a; t])), output [a * G; t * (1 - G)]          (gao2024 eq. 5)
    ``independent``: g_a = sigmoid(f_a([a; t])), g_t = sigmoid(f_t([t; a])),
    output [g_a * a; g_t * t]                                                (gao2025 eq. 7)

    f is the Linear "transformation layer that maps the gate vector to the same dimension" of
    gao2024; it is applied before the sigmoid so that the gate lies in [0, 1] (gao2024 writes
    f(sigma(.)), which would leave G unbounded and make 1 - G meaningless; gao2025 eq. 7 writes
    sigma(a ⊕ t) ⊙ a without f, whose widths 2k and k do not match).

    Shapes: a (B, k), t (B, k) -> (B, 2k) and gates {name: (B, k)}.
    """

    def __init__(self, dim: int, form: Literal["convex", "independent"]) -> None:
        super().__init__()
        self.form = form
        self.f_a = nn.Linear(2 * dim, dim)
        self.f_t = nn.Linear(2 * dim, dim) if form == "independent" else None

    def forward(
        self, a: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        g_a = torch.sigmoid(self.f_a(torch.cat([a, t], dim=-1)))
        if self.f_t is None:
            return torch.cat([a * g_a, t * (1.0 - g_a)], dim=-1), {"utterance": g_a}
        g_t = torch.sigmoid(self.f_t(torch.cat([t, a], dim=-1)))
        gates = {"utterance_acoustic": g_a, "utterance_linguistic": g_t}
        return torch.cat([a * g_a, t * g_t], dim=-1), gates


class ConcatFusion(nn.Module):
    """Pooled concatenation, gao2025 eq. 2: F = FC(MeanPool(F_a) ⊕ MeanPool(F_t)).

    The plain multi-level system (gao2025 Table 4 Exp. 13; the first training stage of §3.1.1).
    Shapes: see module docstring; fused (B, out_dim), no gates.
    """

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        self.config = config
        self.fc = _OutputFC(
            config.acoustic_dim + config.linguistic_dim, config.out_dim, config.dropout
        )

    def forward(
        self,
        acoustic: torch.Tensor,
        acoustic_mask: torch.Tensor,
        linguistic: torch.Tensor,
        linguistic_mask: torch.Tensor,
    ) -> FusionOutput:
        pooled = torch.cat(
            [
                masked_mean_pool(acoustic, acoustic_mask),
                masked_mean_pool(linguistic, linguistic_mask),
            ],
            dim=-1,
        )
        return FusionOutput(fused=self.fc(pooled))


class _AttentionFusionBase(nn.Module):
    """Projection to d and self-attention per modality: s^a, s^l (gao2024 eq. 3, gao2025 A_self).

    gao2024 eq. 3 as printed takes the queries from x^a and the keys/values from x^l, i.e. it is
    the cross-attention of eq. 4; the text ("self-attention ... for learning intra-modal
    interactions", "s^a ... learned from x^a") and gao2025 eqs. 8-9 (A_self(F_a)) say
    self-attention, which is what is implemented: s^a = A_self(x^a), s^l = A_self(x^l).
    With ``self_attention=False`` there is none: s^a = x^a, s^l = x^l.
    """

    def __init__(self, config: FusionConfig, self_attention: bool = True) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.proj_a = nn.Linear(config.acoustic_dim, d)
        self.proj_t = nn.Linear(config.linguistic_dim, d)
        self.self_attn_a: MaskedMultiheadAttention | None = None
        self.self_attn_t: MaskedMultiheadAttention | None = None
        if self_attention:
            self.self_attn_a = MaskedMultiheadAttention(d, config.num_heads, config.dropout)
            self.self_attn_t = MaskedMultiheadAttention(d, config.num_heads, config.dropout)

    def _self_attend(
        self,
        acoustic: torch.Tensor,
        acoustic_mask: torch.Tensor,
        linguistic: torch.Tensor,
        linguistic_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x_a = self.proj_a(acoustic)
        x_t = self.proj_t(linguistic)
        if self.self_attn_a is None or self.self_attn_t is None:
            return x_a, x_t
        s_a = self.self_attn_a(x_a, x_a, acoustic_mask)  # (B, Ta, d)
        s_t = self.self_attn_t(x_t, x_t, linguistic_mask)  # (B, Tl, d)
        return s_a, s_t


class SelfAttentionConcatFusion(_AttentionFusionBase):
    """Self-attention then concatenation, the Table 6 baseline (gao2025 Exp. 25).

    F = FC(MeanPool(s^a) ⊕ MeanPool(s^l)). Shapes: fused (B, out_dim), no gates.
    """

    def __init__(self, config: FusionConfig) -> None:
        super().__init__(config)
        self.fc = _OutputFC(2 * config.d_model, config.out_dim, config.dropout)

    def forward(
        self,
        acoustic: torch.Tensor,
        acoustic_mask: torch.Tensor,
        linguistic: torch.Tensor,
        linguistic_mask: torch.Tensor,
    ) -> FusionOutput:
        s_a, s_t = self._self_attend(acoustic, acoustic_mask, linguistic, linguistic_mask)
        pooled = torch.cat(
            [masked_mean_pool(s_a, acoustic_mask), masked_mean_pool(s_t, linguistic_mask)], dim=-1
        )
        return FusionOutput(fused=self.fc(pooled))


class GatedFusion(_AttentionFusionBase):
    """Self-attention + conventional (utterance-level) gated fusion (gao2025 Table 6 Exp. 27).

    s̄^a = MeanPool(s^a), s̄^l = MeanPool(s^l) (gao2025 eq. 6), then the gate of gao2024 eq. 5
    (``convex``) or gao2025 eq. 7 (``independent``), see ``_UtteranceGate``; F = FC(gated).
    Table 6 adds the gate to the self-attention baseline of Exp. 25, hence the SA here.

    Shapes: fused (B, out_dim); gates ``"utterance"`` (B, d) (or the two independent gates).
    """

    def __init__(self, config: FusionConfig) -> None:
        super().__init__(config)
        self.gate = _UtteranceGate(config.d_model, config.gate_form)
        self.fc = _OutputFC(2 * config.d_model, config.out_dim, config.dropout)

    def forward(
        self,
        acoustic: torch.Tensor,
        acoustic_mask: torch.Tensor,
        linguistic: torch.Tensor,
        linguistic_mask: torch.Tensor,
    ) -> FusionOutput:
        s_a, s_t = self._self_attend(acoustic, acoustic_mask, linguistic, linguistic_mask)
        gated, gates = self.gate(
            masked_mean_pool(s_a, acoustic_mask), masked_mean_pool(s_t, linguistic_mask)
        )
        return FusionOutput(fused=self.fc(gated), gates=gates)


class _CrossAttentionBase(_AttentionFusionBase):
    """Adds the cross-attention of gao2024 eq. 4 / gao2025 eqs. 8-9 in both directions.

    c^a = F^c_{a<-t} = A_cross(query s^a, key/value s^l)   (B, Ta, d)
    c^l = F^c_{t<-a} = A_cross(query s^l, key/value s^a)   (B, Tl, d)
    """

    def __init__(self, config: FusionConfig, self_attention: bool = True) -> None:
        super().__init__(config, self_attention)
        d = config.d_model
        self.cross_attn_a = MaskedMultiheadAttention(d, config.num_heads, config.dropout)
        self.cross_attn_t = MaskedMultiheadAttention(d, config.num_heads, config.dropout)

    def _attend(
        self,
        acoustic: torch.Tensor,
        acoustic_mask: torch.Tensor,
        linguistic: torch.Tensor,
        linguistic_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        s_a, s_t = self._self_attend(acoustic, acoustic_mask, linguistic, linguistic_mask)
        c_a = self.cross_attn_a(s_a, s_t, linguistic_mask)
        c_t = self.cross_attn_t(s_t, s_a, acoustic_mask)
        return s_a, s_t, c_a, c_t


class CrossAttentionFusion(_CrossAttentionBase):
    """Self- and cross-attention without gates: CmGI without TGF (gao2025 Exp. 26).

    F = FC(MeanPool(s^a ⊕ c^a) ⊕ MeanPool(s^l ⊕ c^l)): the TGF of :class:`TemporalGatedFusion`
    with the gates removed, so that the Table 6 rows 26 and 28 differ by the gate only (the
    papers do not say what "w/o temporal gated fusion" pools). With ``utterance_gate=True`` the
    two pooled vectors pass the conventional gate first (gao2024 Table 2 "Cross-modal attention
    w/ gated fusion"). ``pool_self=False``: gao2024 Table 2's "Cross-modal attention" rows,
    read as cross-attention alone: no self-attention (the CA reads the projected inputs) and
    only the cross-attended sequences pooled, so that "CmGI w/o temporal gated fusion" (SA +
    CA) is the row that adds self-attention to it.

    Shapes: fused (B, out_dim); gates only with ``utterance_gate`` ((B, 2d)).
    """

    def __init__(
        self, config: FusionConfig, utterance_gate: bool = False, pool_self: bool = True
    ) -> None:
        super().__init__(config, self_attention=pool_self)
        d = config.d_model
        self.pool_self = pool_self
        width = 2 * d if pool_self else d
        self.gate = _UtteranceGate(width, config.gate_form) if utterance_gate else None
        self.fc = _OutputFC(2 * width, config.out_dim, config.dropout)

    def forward(
        self,
        acoustic: torch.Tensor,
        acoustic_mask: torch.Tensor,
        linguistic: torch.Tensor,
        linguistic_mask: torch.Tensor,
    ) -> FusionOutput:
        s_a, s_t, c_a, c_t = self._attend(acoustic, acoustic_mask, linguistic, linguistic_mask)
        seq_a = torch.cat([s_a, c_a], dim=-1) if self.pool_self else c_a
        seq_t = torch.cat([s_t, c_t], dim=-1) if self.pool_self else c_t
        pooled_a = masked_mean_pool(seq_a, acoustic_mask)
        pooled_t = masked_mean_pool(seq_t, linguistic_mask)
        gates: dict[str, torch.Tensor] = {}
        if self.gate is not None:
            fused_in, gates = self.gate(pooled_a, pooled_t)
        else:
            fused_in = torch.cat([pooled_a, pooled_t], dim=-1)
        return FusionOutput(fused=self.fc(fused_in), gates=gates)


class TemporalGatedFusion(_CrossAttentionBase):
    """Temporal gated fusion (TGF, gao2025 §3.2) = cross-modal gated interaction (CmGI, gao2024).

    Per modality m in {a (acoustic), t (linguistic)}, with the other modality m':

    1. s^m = A_self(proj(x^m))                      gao2025 eqs. 8-9 (inner), gao2024 eq. 3
    2. c^m = A_cross(s^m, s^m')                     gao2025 eqs. 8-9, gao2024 eq. 4
    3. g_m = sigmoid(f_m(c^m ⊕ s^m))  (B, T_m, d)   gao2025 eq. 10, gao2024 eq. 6 (G^a, G^l)
    4. ``convex`` (default):      F̃_m = (g_m ⊙ s^m) ⊕ ((1 - g_m) ⊙ c^m)   gao2024 eq. 6
       ``independent``:           F̃_m = (g_m ⊙ c^m) ⊕ s^m               gao2025 eqs. 11-12
    5. F̄_m = MeanPool(F̃_m) over valid steps       gao2025 eq. 13, gao2024 eq. 7
    6. F = FC(F̄_a ⊕ F̄_t)                          gao2025 eq. 14, gao2024 eq. 7

    Reconciling the two papers:

    * f (Linear 2d -> d) is gao2024's "transformation layer that maps the gate vector to the
      same dimension with c^a"; gao2025 eq. 10 omits it although σ(c ⊕ s) has width 2d and
      multiplies a width-d feature. It is applied before the sigmoid (gao2024 writes f(σ(.)))
      so gates are in [0, 1], which ``1 - G`` in gao2024 eq. 6 and the [0, 1] KDE of gao2025
      Fig. 3 presuppose.
    * gao2024 eq. 6 prints output^a = concat(s^a ⊙ G^a, c^l ⊙ (1 - G^a)); c^l has Tl steps and
      s^a has Ta, so it cannot be concatenated per step: c^a is meant (as in gao2025 eq. 11,
      which pairs F^s_a with F^c_{a<-t}).
    * Default ``convex`` follows gao2024 eq. 6 and gao2025 §5.4 / Fig. 3 ("the gate value of F^s";
      that of F^c is "totally the reverse", i.e. 1 - g). ``gate_form="independent"`` gives
      gao2025 eqs. 11-12 as printed, where g gates F^c and F^s passes ungated.

    ``utterance_gate=True`` adds the conventional gate (``_UtteranceGate``) on F̄_a, F̄_t before
    the FC: "TGF + gated", gao2025 Table 6 Exp. 29.

    Shapes: fused (B, out_dim); gates ``"acoustic"`` (B, Ta, d) = g_a and ``"linguistic"``
    (B, Tl, d) = g_t (the gates of F^s_a and F^s_t in the convex form), with ``gate_masks``
    holding the (B, Ta) / (B, Tl) validity masks; plus the utterance gate(s) (B, 2d) if enabled.
    """

    def __init__(self, config: FusionConfig, utterance_gate: bool = False) -> None:
        super().__init__(config)
        d = config.d_model
        self.gate_a = nn.Linear(2 * d, d)
        self.gate_t = nn.Linear(2 * d, d)
        self.utterance_gate = _UtteranceGate(2 * d, config.gate_form) if utterance_gate else None
        self.fc = _OutputFC(4 * d, config.out_dim, config.dropout)

    def _gate(
        self, gate: nn.Linear, s: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.sigmoid(gate(torch.cat([c, s], dim=-1)))
        if self.config.gate_form == "convex":
            return torch.cat([g * s, (1.0 - g) * c], dim=-1), g
        return torch.cat([g * c, s], dim=-1), g

    def forward(
        self,
        acoustic: torch.Tensor,
        acoustic_mask: torch.Tensor,
        linguistic: torch.Tensor,
        linguistic_mask: torch.Tensor,
    ) -> FusionOutput:
        s_a, s_t, c_a, c_t = self._attend(acoustic, acoustic_mask, linguistic, linguistic_mask)
        tilde_a, g_a = self._gate(self.gate_a, s_a, c_a)  # (B, Ta, 2d), (B, Ta, d)
        tilde_t, g_t = self._gate(self.gate_t, s_t, c_t)  # (B, Tl, 2d), (B, Tl, d)
        bar_a = masked_mean_pool(tilde_a, acoustic_mask)
        bar_t = masked_mean_pool(tilde_t, linguistic_mask)
        gates = {"acoustic": g_a, "linguistic": g_t}
        if self.utterance_gate is not None:
            fused_in, utterance_gates = self.utterance_gate(bar_a, bar_t)
            gates.update(utterance_gates)
        else:
            fused_in = torch.cat([bar_a, bar_t], dim=-1)
        return FusionOutput(
            fused=self.fc(fused_in),
            gates=gates,
            gate_masks={"acoustic": acoustic_mask, "linguistic": linguistic_mask},
        )


@dataclass(frozen=True)
class FusionKind:
    """One entry of :data:`FUSIONS`: how to build the module, and what it is."""

    build: Callable[[FusionConfig], nn.Module]
    description: str


#: The fusions the multi-level family builds, by the name the experiment matrix
#: (config/experiments/*.yaml) uses: the one registry :func:`build_fusion` looks up.
FUSIONS: dict[str, FusionKind] = {
    "concat": FusionKind(ConcatFusion, "pooled concatenation (gao2025 eq. 2)"),
    "self_attention_concat": FusionKind(
        SelfAttentionConcatFusion, "self-attention + concatenation (gao2025 Table 6 Exp. 25)"
    ),
    "self_attention_gated": FusionKind(
        GatedFusion, "self-attention + conventional gated fusion (Table 6 Exp. 27)"
    ),
    "cross_attention": FusionKind(
        partial(CrossAttentionFusion, pool_self=False),
        "cross-attention alone, its outputs pooled (gao2024 Table 2)",
    ),
    "cross_attention_gated": FusionKind(
        partial(CrossAttentionFusion, utterance_gate=True, pool_self=False),
        "cross-attention + conventional gate (gao2024 Table 2)",
    ),
    "self_cross_attention": FusionKind(
        CrossAttentionFusion, "self- + cross-attention, CmGI w/o TGF (Table 6 Exp. 26)"
    ),
    "tgf": FusionKind(TemporalGatedFusion, "temporal gated fusion / CmGI (Table 6 Exp. 28)"),
    "tgf_gated": FusionKind(
        partial(TemporalGatedFusion, utterance_gate=True),
        "TGF + conventional gated fusion (Table 6 Exp. 29)",
    ),
}

#: A stage with one modality (nothing to fuse).
NO_FUSION = "none"
#: Fusions of the other families, which build them themselves: LE-MER's label-guided
#: cross-attention (:mod:`mlser.models.label_embedding`) and alqurashi2024's decision rule
#: (:mod:`mlser.training.hierarchical`).
OTHER_FAMILY_FUSIONS: dict[str, str] = {
    "label_guided": "le_mer",
    "hierarchical": "hierarchical",
}
#: Every ``fusion`` name of the experiment matrix (its schema's enum; tests/test_package_layout.py).
FUSION_NAMES: tuple[str, ...] = (NO_FUSION, *FUSIONS, *OTHER_FAMILY_FUSIONS)


def build_fusion(name: str, config: FusionConfig) -> nn.Module:
    """The fusion module called ``name`` (one of ``FUSIONS``)."""
    if name not in FUSIONS:
        raise ValueError(f"unknown fusion {name!r}: expected one of {sorted(FUSIONS)}")
    return FUSIONS[name].build(config)
