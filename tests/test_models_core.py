"""Core tests of mlser.models: shapes, padding invariance, gradient flow, losses, counts.

Tiny random-init configs on CPU. Padding-invariance checks run in float64 so that the
tolerance measures structure (a leak of padding shows up as O(1e-2) or more), not float32
rounding; one full-model check also runs in float32.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import pytest
import torch
from test_lemer_paper_setup import TINY_CONFORMER as PAPER_SETUP_CONFORMER
from transformers import HubertModel

from mlser.models import (
    FUSIONS,
    AcousticEncoder,
    AcousticEncoderConfig,
    AdapterConfig,
    CharTokenizer,
    ClassificationHead,
    CTCHead,
    FusionConfig,
    LogMelFrontend,
    LossWeights,
    MultiLevelSER,
    MultiLevelSERConfig,
    MultiLevelSEROutput,
    MultiTaskTargets,
    TemporalGatedFusion,
    TextEncoder,
    TextEncoderConfig,
    add_adapters,
    build_fusion,
    count_parameters,
    ctc_loss,
    find_adapter_sites,
    masked_mean_pool,
    mel_filterbank,
    minilm_path,
    multitask_loss,
    parameter_counts,
    utterance_gate_means,
)
from mlser.models.adapters import ADAPTER_ATTR

TINY_HUBERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (8, 8, 8, 8, 8, 8, 16),  # HuBERT's kernels and strides, narrow channels
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "conv_bias": True,
    "num_conv_pos_embeddings": 8,
    "num_conv_pos_embedding_groups": 2,
    "mask_time_prob": 0.0,
    "layerdrop": 0.0,
}
TINY_BERT = {
    "model_type": "bert",
    "hidden_size": 24,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 48,
    "max_position_embeddings": 64,
}
TINY_FUSION = FusionConfig(acoustic_dim=32, linguistic_dim=24, d_model=16, num_heads=2, out_dim=12)
SHORT, LONG = 5_900, 9_100  # samples: 18 and 28 frames; SHORT has an odd number of mel frames
F64_ATOL = 1e-9  # float64: any padding leak is orders of magnitude larger
SHORT_TEXT, LONG_TEXT = "i am so happy", "well that is not what i was told about the meeting at all"


def tiny_acoustic(frontend: str = "cnn", **overrides: object) -> AcousticEncoder:
    torch.manual_seed(0)
    return AcousticEncoder(
        AcousticEncoderConfig(hubert={**TINY_HUBERT, **overrides}, frontend=frontend)
    )


def tiny_text(freeze: bool = False) -> TextEncoder:
    torch.manual_seed(0)
    return TextEncoder(
        TextEncoderConfig(model_config=TINY_BERT, tokenizer_name=minilm_path(), freeze=freeze)
    )


def tiny_model(fusion: str = "tgf", text: bool = True, frontend: str = "cnn") -> MultiLevelSER:
    torch.manual_seed(0)
    config = MultiLevelSERConfig(
        acoustic=AcousticEncoderConfig(hubert=TINY_HUBERT, frontend=frontend),
        text=TextEncoderConfig(model_config=TINY_BERT, tokenizer_name=minilm_path())
        if text
        else None,
        fusion=fusion,
        fusion_config=FusionConfig(d_model=16, num_heads=2, out_dim=12),
    )
    return MultiLevelSER(config)


def padded_pair(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """The short utterance alone (1, SHORT) and batched with a longer one (2, LONG)."""
    gen = torch.Generator().manual_seed(1)
    short = torch.randn(1, SHORT, generator=gen, dtype=dtype)
    batch = torch.randn(2, LONG, generator=gen, dtype=dtype)
    batch[0, :SHORT] = short[0]
    batch[0, SHORT:] = 0.3  # the collator's pad value must not matter
    return short, batch


def assert_no_grad(module: torch.nn.Module) -> None:
    for name, p in module.named_parameters():
        assert p.grad is None, f"{name} got a gradient"


def assert_all_grad(module: torch.nn.Module) -> None:
    for name, p in module.named_parameters():
        assert p.requires_grad, f"{name} is frozen"
        assert p.grad is not None, f"{name} got no gradient"


# --------------------------------------------------------------------------- heads / tokenizer


def test_char_tokenizer_round_trip() -> None:
    tok = CharTokenizer()
    assert tok.vocab_size == 29 and tok.vocab[0] == "<blank>" and tok.blank_id == 0
    raw = "Hello, World!  [LAUGHTER] It’s OK-ish."
    assert tok.normalize(raw) == "hello world it's ok ish"
    ids = tok.encode(raw)
    assert 0 not in ids and max(ids) < tok.vocab_size
    assert tok.decode(ids) == tok.normalize(raw)
    hello = tok.encode("hello")
    path = [0, hello[0], hello[0], 0, hello[1], hello[2], 0, hello[3], hello[3], hello[4], 0]
    assert tok.decode_ctc(path) == "hello"
    targets, lengths = tok.batch_encode(["ab", "hello"])
    assert targets.shape == (2, 5) and lengths.tolist() == [2, 5]
    assert tok.decode(targets[1].tolist()) == "hello"
    log_probs = torch.log(torch.nn.functional.one_hot(torch.tensor([path]), 29).double() + 1e-9)
    assert tok.greedy_decode(log_probs) == ["hello"]
    assert tok.greedy_decode(log_probs, torch.tensor([4])) == ["h"]  # path [_, h, h, _]


def test_masked_mean_pool_and_heads() -> None:
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[True, True, False]])
    assert torch.allclose(masked_mean_pool(x, mask), torch.tensor([[2.0, 3.0]]))
    assert torch.allclose(masked_mean_pool(x, None), x.mean(1))
    assert masked_mean_pool(x, torch.zeros(1, 3, dtype=torch.bool)).abs().sum() == 0
    ctc = CTCHead(2, 29)
    assert ctc(x).shape == (1, 3, 29)
    assert torch.allclose(ctc(x).exp().sum(-1), torch.ones(1, 3))
    head = ClassificationHead(2, 4).eval()
    assert torch.allclose(head(x, mask), head(masked_mean_pool(x, mask)))


# --------------------------------------------------------------------------- acoustic


def test_logmel_frame_count_equals_cnn_arithmetic() -> None:
    cnn = HubertModel(HubertModel.config_class(**TINY_HUBERT)).eval()
    frontend = LogMelFrontend(out_dim=16)
    for n in [400, 401, 719, 720, 721, 1040, 3_333, 16_000, 16_001, 23_457]:
        expected = int(cnn._get_feat_extract_output_lengths(torch.tensor(n)))
        assert expected == (n - 400) // 320 + 1
        with torch.no_grad():
            cnn_frames = cnn.feature_extractor(torch.randn(1, n)).shape[-1]
            feats, lengths = frontend(torch.randn(1, n), torch.tensor([n]))
        assert cnn_frames == expected
        assert feats.shape == (1, expected, 16) and int(lengths) == expected
    fbank = mel_filterbank(80, 400, 16_000)
    assert fbank.shape == (201, 80) and (fbank >= 0).all() and (fbank.sum(0) > 0).all()


@pytest.mark.parametrize("frontend", ["cnn", "logmel"])
def test_acoustic_encoder_shapes(frontend: str) -> None:
    enc = tiny_acoustic(frontend)
    _, batch = padded_pair(torch.float32)
    lengths = torch.tensor([SHORT, LONG])
    feats, mask = enc(batch, lengths)
    assert feats.shape == (2, (LONG - 400) // 320 + 1, 32)
    assert mask.dtype == torch.bool
    assert mask.sum(1).tolist() == [(SHORT - 400) // 320 + 1, (LONG - 400) // 320 + 1]
    assert torch.equal(enc.output_lengths(lengths), mask.sum(1))
    with pytest.raises(ValueError, match="shorter than one frame"):
        enc(torch.randn(1, 300))


@pytest.mark.parametrize("frontend", ["cnn", "logmel"])
def test_acoustic_encoder_padding_invariance(frontend: str) -> None:
    enc = tiny_acoustic(frontend).double().eval()
    short, batch = padded_pair()
    with torch.no_grad():
        alone, mask_alone = enc(short)
        batched, mask_batched = enc(batch, torch.tensor([SHORT, LONG]))
    n = alone.shape[1]
    assert mask_alone.all() and mask_batched[0, :n].all() and not mask_batched[0, n:].any()
    torch.testing.assert_close(batched[0, :n], alone[0], atol=F64_ATOL, rtol=0)


def test_acoustic_gradient_flow_cnn_frozen() -> None:
    enc = tiny_acoustic("cnn").train()
    feats, mask = enc(*(padded_pair(torch.float32)[1], torch.tensor([SHORT, LONG])))
    masked_mean_pool(feats, mask).pow(2).sum().backward()
    assert_no_grad(enc.hubert.feature_extractor)
    assert not any(p.requires_grad for p in enc.hubert.feature_extractor.parameters())
    assert_all_grad(enc.hubert.feature_projection)
    assert_all_grad(enc.hubert.encoder)


def test_acoustic_gradient_flow_logmel() -> None:
    enc = tiny_acoustic("logmel").train()
    assert enc.hubert.feature_extractor is None
    feats, mask = enc(*(padded_pair(torch.float32)[1], torch.tensor([SHORT, LONG])))
    masked_mean_pool(feats, mask).pow(2).sum().backward()
    assert_all_grad(enc)


# --------------------------------------------------------------------------- text


def test_text_encoder_shapes_and_padding_invariance() -> None:
    enc = tiny_text().double().eval()
    alone = enc.tokenize([SHORT_TEXT])
    both = enc.tokenize([SHORT_TEXT, LONG_TEXT])
    with torch.no_grad():
        f_alone, m_alone = enc(alone["input_ids"], alone["attention_mask"])
        f_both, m_both = enc(both["input_ids"], both["attention_mask"])
    n = f_alone.shape[1]
    assert f_both.shape == (2, both["input_ids"].shape[1], 24) and f_both.shape[1] > n
    assert m_both.dtype == torch.bool and m_both[0].sum() == n and m_alone.all()
    torch.testing.assert_close(f_both[0, :n], f_alone[0], atol=F64_ATOL, rtol=0)


@pytest.mark.parametrize("freeze", [False, True])
def test_text_encoder_gradient_flow(freeze: bool) -> None:
    enc = tiny_text(freeze=freeze).train()
    assert enc.model.training is not freeze
    tokens = enc.tokenize([SHORT_TEXT, LONG_TEXT])
    feats, mask = enc(tokens["input_ids"], tokens["attention_mask"])
    if freeze:
        assert not feats.requires_grad
        assert count_parameters(enc)[0] == 0
        assert_no_grad(enc)
    else:
        masked_mean_pool(feats, mask).pow(2).sum().backward()
        assert_all_grad(enc)  # the pooler is gone, so no trainable parameter is dead


def test_frozen_text_encoder_caches_features_and_matches_the_encoder() -> None:
    enc = tiny_text(freeze=True).double()
    assert enc.cacheable
    tokens = enc.tokenize([SHORT_TEXT, LONG_TEXT])
    with torch.no_grad():
        direct = enc.model(**tokens).last_hidden_state
    first, mask = enc(tokens["input_ids"], tokens["attention_mask"])
    assert len(enc._cache) == 2
    # the same rows again, reversed and padded differently: all from the cache
    again = enc.tokenize([LONG_TEXT, SHORT_TEXT, SHORT_TEXT])
    second, mask2 = enc(again["input_ids"], again["attention_mask"])
    assert len(enc._cache) == 2
    n = int(mask[0].sum())
    torch.testing.assert_close(first[mask], direct[mask], atol=F64_ATOL, rtol=0)
    torch.testing.assert_close(second[1, :n], direct[0, :n], atol=F64_ATOL, rtol=0)
    torch.testing.assert_close(second[0], direct[1], atol=F64_ATOL, rtol=0)
    assert not second[~mask2].any()  # padding is zero


def test_text_encoder_with_trainable_parameters_is_not_cached() -> None:
    enc = tiny_text(freeze=True)
    enc.model.encoder.layer[0].output.dense.weight.requires_grad_(True)  # as an adapter would
    assert not enc.cacheable
    tokens = enc.tokenize([SHORT_TEXT])
    feats, _ = enc(tokens["input_ids"], tokens["attention_mask"])
    assert feats.requires_grad and not enc._cache


def test_frozen_encoder_with_a_trainable_top_layer_matches_the_encoder_and_trains_it() -> None:
    """``train_top_layers=1``: the frozen bottom runs once per text (cached), the top layer
    on it; the features equal the whole encoder's whatever the padding, only the top
    layer gets gradients, and adapters in every layer (stage 2) turn the cache off."""
    from mlser.models.adapters import AdapterConfig, add_adapters

    torch.manual_seed(0)
    config = TextEncoderConfig(
        model_config=TINY_BERT, tokenizer_name=minilm_path(), freeze=True, train_top_layers=1
    )
    enc = TextEncoder(config).double().eval()
    assert not enc.cacheable  # the top layer trains
    tokens = enc.tokenize([SHORT_TEXT, LONG_TEXT])
    with torch.no_grad():
        direct = enc.model(**tokens).last_hidden_state
    feats, mask = enc(tokens["input_ids"], tokens["attention_mask"])
    assert len(enc._cache) == 2
    torch.testing.assert_close(feats[mask], direct[mask], atol=F64_ATOL, rtol=0)
    alone = enc.tokenize([SHORT_TEXT])  # no padding: the same features
    n = int(mask[0].sum())
    torch.testing.assert_close(enc(**alone)[0][0], direct[0, :n], atol=F64_ATOL, rtol=0)
    assert len(enc._cache) == 2
    enc.train()
    assert enc.top_layers[0].training and not enc.model.embeddings.training
    masked_mean_pool(*enc(**tokens)).pow(2).sum().backward()
    top = {id(p) for p in enc.top_layers[0].parameters()}
    for name, p in enc.model.named_parameters():
        assert (p.grad is not None) == (id(p) in top), name
    add_adapters(enc.model, AdapterConfig(bottleneck=4))
    assert enc._frozen_below() is None  # stage 2: every layer has a trainable adapter
    assert not enc.train().top_layers[0].training  # frozen again: no dropout


def test_minilm_text_encoder_loads_offline() -> None:
    enc = TextEncoder(TextEncoderConfig(pretrained_name=minilm_path(), freeze=True))
    tokens = enc.tokenize(["that's great"])
    feats, mask = enc(**tokens)
    assert feats.shape == (1, mask.shape[1], 384) and enc.hidden_size == 384


# --------------------------------------------------------------------------- fusion


def fusion_inputs(dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    acoustic = torch.randn(2, 11, 32, generator=gen, dtype=dtype)
    linguistic = torch.randn(2, 7, 24, generator=gen, dtype=dtype)
    acoustic_mask = torch.arange(11) < torch.tensor([[6], [11]])
    linguistic_mask = torch.arange(7) < torch.tensor([[4], [7]])
    return {
        "acoustic": acoustic,
        "acoustic_mask": acoustic_mask,
        "linguistic": linguistic,
        "linguistic_mask": linguistic_mask,
    }


@pytest.mark.parametrize("name", sorted(FUSIONS))
@pytest.mark.parametrize("gate_form", ["convex", "independent"])
def test_fusion_shapes_gates_and_padding_invariance(name: str, gate_form: str) -> None:
    torch.manual_seed(0)
    config = replace(TINY_FUSION, gate_form=gate_form)
    fusion = build_fusion(name, config).double().eval()
    x = fusion_inputs()
    with torch.no_grad():
        out = fusion(**x)
        alone = fusion(
            x["acoustic"][:1, :6],
            x["acoustic_mask"][:1, :6],
            x["linguistic"][:1, :4],
            x["linguistic_mask"][:1, :4],
        )
    assert out.fused.shape == (2, 12)
    torch.testing.assert_close(out.fused[:1], alone.fused, atol=F64_ATOL, rtol=0)
    for gate in out.gates.values():
        assert ((gate >= 0) & (gate <= 1)).all()
    if name in {"tgf", "tgf_gated"}:
        assert out.gates["acoustic"].shape == (2, 11, 16)
        assert out.gates["linguistic"].shape == (2, 7, 16)
        assert torch.equal(out.gate_masks["acoustic"], x["acoustic_mask"])
        torch.testing.assert_close(out.gates["acoustic"][0, :6], alone.gates["acoustic"][0])
    if name in {"self_attention_gated", "cross_attention_gated"}:
        widths = {g.shape for g in out.gates.values()}
        assert widths == {(2, 16)}
    if name == "tgf_gated":
        assert {g.shape for k, g in out.gates.items() if k.startswith("utterance")} == {(2, 32)}
    if name in {"concat", "self_attention_concat", "cross_attention", "self_cross_attention"}:
        assert out.gates == {}
    means = utterance_gate_means(out)
    assert all(m.shape == (2,) and ((m >= 0) & (m <= 1)).all() for m in means.values())


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_fusion_gradient_flow(name: str) -> None:
    torch.manual_seed(0)
    fusion = build_fusion(name, TINY_FUSION).train()
    x = fusion_inputs(torch.float32)
    x["acoustic"].requires_grad_(True)
    fusion(**x).fused.pow(2).sum().backward()
    assert_all_grad(fusion)
    # Padded frames must not influence the output, so they get exactly zero gradient.
    assert x["acoustic"].grad[0, 6:].abs().max() == 0
    assert x["acoustic"].grad[0, :6].abs().max() > 0


@pytest.mark.parametrize("gate_form", ["convex", "independent"])
def test_tgf_follows_the_equations(gate_form: str) -> None:
    """Recompute TGF from its sub-modules: gao2025 eqs. 8-14 / gao2024 eqs. 3-7."""
    torch.manual_seed(0)
    config = replace(TINY_FUSION, gate_form=gate_form)
    tgf = TemporalGatedFusion(config).double().eval()
    x = fusion_inputs()
    a, ma, t, mt = x["acoustic"], x["acoustic_mask"], x["linguistic"], x["linguistic_mask"]
    with torch.no_grad():
        out = tgf(**x)
        s_a = tgf.self_attn_a(tgf.proj_a(a), tgf.proj_a(a), ma)
        s_t = tgf.self_attn_t(tgf.proj_t(t), tgf.proj_t(t), mt)
        c_a = tgf.cross_attn_a(s_a, s_t, mt)  # F^c_{a<-t}: acoustic queries
        c_t = tgf.cross_attn_t(s_t, s_a, ma)
        g_a = torch.sigmoid(tgf.gate_a(torch.cat([c_a, s_a], -1)))  # eq. 10
        g_t = torch.sigmoid(tgf.gate_t(torch.cat([c_t, s_t], -1)))
        if gate_form == "convex":  # gao2024 eq. 6
            f_a = torch.cat([g_a * s_a, (1 - g_a) * c_a], -1)
            f_t = torch.cat([g_t * s_t, (1 - g_t) * c_t], -1)
        else:  # gao2025 eqs. 11-12
            f_a = torch.cat([g_a * c_a, s_a], -1)
            f_t = torch.cat([g_t * c_t, s_t], -1)
        pooled = torch.cat([masked_mean_pool(f_a, ma), masked_mean_pool(f_t, mt)], -1)  # eq. 13
        fused = torch.relu(tgf.fc.proj(pooled))  # eq. 14
    torch.testing.assert_close(out.fused, fused)
    torch.testing.assert_close(out.gates["acoustic"], g_a)
    torch.testing.assert_close(out.gates["linguistic"], g_t)
    # Saturated gates: convex TGF keeps only the self-attended stream F^s.
    with torch.no_grad():
        tgf.gate_a.weight.zero_()
        tgf.gate_a.bias.fill_(50.0)
        sat = tgf(**x)
    assert torch.allclose(sat.gates["acoustic"], torch.ones_like(sat.gates["acoustic"]))


def test_cross_attention_rows_are_cross_attention_alone() -> None:
    """gao2024 Table 2: "Cross-modal attention" is CA on the projected inputs, pooled;
    "CmGI w/o temporal gated fusion" is the row that adds self-attention to it."""
    torch.manual_seed(0)
    ca = build_fusion("cross_attention", TINY_FUSION).double().eval()
    assert ca.self_attn_a is None and ca.self_attn_t is None
    assert build_fusion("self_cross_attention", TINY_FUSION).self_attn_a is not None
    x = fusion_inputs()
    a_mask, t_mask = x["acoustic_mask"], x["linguistic_mask"]
    with torch.no_grad():
        x_a, x_t = ca.proj_a(x["acoustic"]), ca.proj_t(x["linguistic"])
        c_a = ca.cross_attn_a(x_a, x_t, t_mask)
        c_t = ca.cross_attn_t(x_t, x_a, a_mask)
        pooled = [masked_mean_pool(c_a, a_mask), masked_mean_pool(c_t, t_mask)]
        torch.testing.assert_close(ca(**x).fused, ca.fc(torch.cat(pooled, dim=-1)))


def test_build_fusion_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown fusion"):
        build_fusion("late", TINY_FUSION)


# --------------------------------------------------------------------------- adapters


def test_adapters_every_layer_identity_at_init_and_checkpoint_compatible() -> None:
    enc = tiny_acoustic("cnn").double().eval()
    post_ln = tiny_acoustic("cnn", do_stable_layer_norm=False)
    assert len(find_adapter_sites(post_ln)) == 2
    short, _ = padded_pair()
    stage1_state = copy.deepcopy(enc.state_dict())
    with torch.no_grad():
        before, _ = enc(short)
    adapters = add_adapters(enc, AdapterConfig(bottleneck=4))
    assert len(adapters) == TINY_HUBERT["num_hidden_layers"]
    assert all(hasattr(layer, ADAPTER_ATTR) for layer in enc.hubert.encoder.layers)
    with torch.no_grad():
        after, _ = enc(short)
    torch.testing.assert_close(after, before, atol=0, rtol=0)  # zero-init up-projection
    missing, unexpected = enc.load_state_dict(stage1_state, strict=False)
    assert unexpected == [] and missing and all(ADAPTER_ATTR in k for k in missing)
    # (trainable, total): only the adapters train; 2 layers x (32*4+4 + 4*32+32)
    assert count_parameters(enc)[0] == 2 * (32 * 4 + 4 + 4 * 32 + 32)
    # The hook is a bound method: a deep copy runs its own adapters, not the original's.
    twin = copy.deepcopy(enc)
    with torch.no_grad():
        for layer in twin.hubert.encoder.layers:
            getattr(layer, ADAPTER_ATTR).up.weight.normal_()
        assert torch.equal(enc(short)[0], before)
        assert not torch.allclose(twin(short)[0], before)
    with pytest.raises(ValueError, match="already has an adapter"):
        add_adapters(enc, AdapterConfig(bottleneck=4))


def batch_targets(model: MultiLevelSER) -> MultiTaskTargets:
    ctc_targets, ctc_lengths = model.tokenizer.batch_encode(["hi", "no"])
    return MultiTaskTargets(
        emotion=torch.tensor([0, 3]),
        ctc_targets=ctc_targets,
        ctc_target_lengths=ctc_lengths,
        gender=torch.tensor([0, 1]),
        style=torch.tensor([1, 0]),
    )


def run_training_step(model: MultiLevelSER, weights: LossWeights) -> MultiLevelSEROutput:
    _, wave = padded_pair(torch.float32)
    model.train()
    out = model(wave, torch.tensor([SHORT, LONG]), texts=[SHORT_TEXT, LONG_TEXT])
    multitask_loss(out, batch_targets(model), weights).total.backward()
    return out


def test_multilevel_stage1_gradient_flow() -> None:
    model = tiny_model("tgf")
    run_training_step(model, LossWeights())
    assert_no_grad(model.acoustic.hubert.feature_extractor)
    for name, module in model.named_children():
        if name == "acoustic":
            assert_all_grad(module.hubert.encoder)
            assert_all_grad(module.hubert.feature_projection)
        else:
            assert_all_grad(module)


def test_multilevel_stage2_adapters_only_in_encoders() -> None:
    model = tiny_model("tgf")
    adapters = model.add_adapters(AdapterConfig(bottleneck=4))
    assert len(adapters) == TINY_HUBERT["num_hidden_layers"] + TINY_BERT["num_hidden_layers"]
    run_training_step(model, LossWeights.stage2())
    for encoder in (model.acoustic, model.text):
        for name, p in encoder.named_parameters():
            if ADAPTER_ATTR in name:
                assert p.requires_grad and p.grad is not None, name
            else:
                assert not p.requires_grad and p.grad is None, name
    assert all(a.up.weight.grad.abs().sum() > 0 for a in adapters)
    for module in (model.fusion, model.emotion_head, model.gender_head, model.style_head):
        assert_all_grad(module)
    adapter_params = sum(count_parameters(a)[1] for a in adapters)
    head_params = sum(
        count_parameters(m)[1]
        for m in (
            model.fusion,
            model.ctc_head,
            model.emotion_head,
            model.gender_head,
            model.style_head,
        )
    )
    assert count_parameters(model)[0] == adapter_params + head_params


def test_the_model_config_round_trips_through_json_and_rebuilds_the_same_model() -> None:
    """One config per model, adapters and error correction included: through JSON and
    back it builds the model that was grown by hand (built, then adapters added), weights
    drawn in the same order and frozen the same way; its standalone form (architectures
    written out, no pretrained source) takes the same weights."""
    import json

    from mlser.models.error_correction import ErrorCorrectionConfig

    aec = ErrorCorrectionConfig(num_decoder_layers=1, num_attention_heads=2, ffn_dim=16)
    config = replace(tiny_model("tgf").config, error_correction=aec)
    torch.manual_seed(0)
    grown = MultiLevelSER(config)
    grown.add_adapters(AdapterConfig(bottleneck=4))
    assert grown.config.adapters == AdapterConfig(bottleneck=4) and config.adapters is None
    data = json.loads(json.dumps(grown.config.to_dict()))
    again = MultiLevelSERConfig.from_dict(data)
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(data, sort_keys=True)
    torch.manual_seed(0)
    rebuilt = MultiLevelSER(again)
    ours, theirs = grown.state_dict(), rebuilt.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)

    def trainable(m: MultiLevelSER) -> set[str]:
        return {n for n, p in m.named_parameters() if p.requires_grad}

    assert trainable(rebuilt) == trainable(grown)
    assert not any(n.startswith("error_correction.") for n in trainable(rebuilt))
    standalone = grown.standalone_config()
    assert standalone.text.pretrained_name is None and standalone.acoustic.pretrained_name is None
    assert standalone.text.model_config["hidden_size"] == TINY_BERT["hidden_size"]
    MultiLevelSER(standalone).load_state_dict(grown.state_dict())  # strict: the same layers
    with pytest.raises(ValueError, match=r"not MultiLevelSERConfig fields: \['adapter'\]"):
        MultiLevelSERConfig.from_dict({**data, "adapter": {"bottleneck": 4}})


# --------------------------------------------------------------------------- full model


def test_multilevel_shapes_and_inference_path() -> None:
    model = tiny_model("tgf").eval()
    _, wave = padded_pair(torch.float32)
    lengths = torch.tensor([SHORT, LONG])
    with torch.no_grad():
        out = model(wave, lengths, texts=[SHORT_TEXT, LONG_TEXT])
        asr = model(wave, lengths)  # no text: the model's own transcripts (inference)
    frames = (LONG - 400) // 320 + 1
    assert out.emotion_logits.shape == (2, 4)
    assert out.gender_logits.shape == (2, 2) and out.style_logits.shape == (2, 2)
    assert out.ctc_log_probs.shape == (2, frames, 29)
    assert out.ctc_lengths.tolist() == [(SHORT - 400) // 320 + 1, frames]
    assert out.fused.shape == (2, 12)
    assert out.gates["acoustic"].shape == (2, frames, 16)
    assert out.transcripts is None
    assert asr.transcripts == model.transcribe(wave, lengths) and len(asr.transcripts) == 2


def test_acoustic_only_model() -> None:
    model = tiny_model(text=False, frontend="logmel").eval()
    _, wave = padded_pair(torch.float32)
    with torch.no_grad():
        out = model(wave, torch.tensor([SHORT, LONG]))
    assert model.text is None and model.fusion is None
    assert out.emotion_logits.shape == (2, 4) and out.fused.shape == (2, 32) and out.gates == {}


@pytest.mark.parametrize("frontend", ["cnn", "logmel"])
@pytest.mark.parametrize(("dtype", "atol"), [(torch.float64, F64_ATOL), (torch.float32, 1e-5)])
def test_multilevel_padding_invariance(dtype: torch.dtype, atol: float, frontend: str) -> None:
    model = tiny_model("tgf", frontend=frontend).to(dtype).eval()
    short, batch = padded_pair(dtype)
    with torch.no_grad():
        alone = model(short, texts=[SHORT_TEXT])
        both = model(batch, torch.tensor([SHORT, LONG]), texts=[SHORT_TEXT, LONG_TEXT])
    for field_name in ("emotion_logits", "gender_logits", "style_logits", "fused"):
        torch.testing.assert_close(
            getattr(both, field_name)[:1], getattr(alone, field_name), atol=atol, rtol=0
        )
    n = alone.ctc_log_probs.shape[1]
    torch.testing.assert_close(both.ctc_log_probs[:1, :n], alone.ctc_log_probs, atol=atol, rtol=0)


# --------------------------------------------------------------------------- losses


def hand_output() -> MultiLevelSEROutput:
    """Tiny tensors whose losses are worked out by hand in ``test_losses_hand_computed``."""
    frames = torch.tensor(
        [
            [[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]],  # utterance 1: 2 valid frames
            [[0.2, 0.8], [0.9, 0.1], [0.3, 0.7]],  # utterance 2: 3 valid frames
        ]
    )  # columns: blank, "a"
    ln3, ln4 = math.log(3.0), math.log(4.0)
    return MultiLevelSEROutput(
        emotion_logits=torch.tensor([[0.0, ln3], [0.0, ln3]]),
        gender_logits=torch.zeros(2, 2),
        style_logits=torch.tensor([[0.0, ln4], [0.0, ln4]]),
        ctc_log_probs=frames.log(),
        ctc_lengths=torch.tensor([2, 3]),
        acoustic_mask=torch.ones(2, 3, dtype=torch.bool),
        fused=torch.zeros(2, 1),
    )


def test_losses_hand_computed() -> None:
    out = hand_output()
    targets = MultiTaskTargets(
        emotion=torch.tensor([1, 0]),
        ctc_targets=torch.tensor([[1, 0], [1, 1]]),
        ctc_target_lengths=torch.tensor([1, 2]),
        gender=torch.tensor([0, 1]),
        style=torch.tensor([0, 0]),
    )
    # Emotion: softmax([0, ln 3]) = [1/4, 3/4]; targets 1 and 0.
    emotion = (-math.log(0.75) - math.log(0.25)) / 2  # 0.836988
    # CTC, utterance 1 ("a", 2 frames): paths aa, _a, a_ -> 0.4*0.7 + 0.6*0.7 + 0.4*0.3 = 0.82.
    # Utterance 2 ("aa", 3 frames): only a_a -> 0.8*0.9*0.7 = 0.504.
    # reduction="mean": divide by target lengths (1, 2), then average over the batch.
    asr = (-math.log(0.82) / 1 + -math.log(0.504) / 2) / 2  # 0.270520
    gender = math.log(2.0)  # uniform logits
    style = math.log(5.0)  # softmax([0, ln 4])[0] = 1/5
    weights = LossWeights()
    loss = multitask_loss(out, targets, weights)
    assert loss.parts["emotion"].item() == pytest.approx(emotion, abs=1e-6)
    assert loss.parts["asr"].item() == pytest.approx(asr, abs=1e-6)
    assert loss.parts["gender"].item() == pytest.approx(gender, abs=1e-6)
    assert loss.parts["style"].item() == pytest.approx(style, abs=1e-6)
    total = 1.0 * emotion + 0.1 * asr + 0.1 * gender + 0.1 * style  # gao2025 §4.2 weights
    assert loss.total.item() == pytest.approx(total, abs=1e-6)
    assert total == pytest.approx(1.0942985, abs=1e-6)
    direct = ctc_loss(
        out.ctc_log_probs, out.ctc_lengths, targets.ctc_targets, targets.ctc_target_lengths
    )
    assert direct.item() == pytest.approx(asr, abs=1e-6)
    # Stage-1 weights (eq. 4) skip gender and style, so their targets may be absent.
    stage1 = multitask_loss(
        out,
        MultiTaskTargets(targets.emotion, targets.ctc_targets, targets.ctc_target_lengths),
        LossWeights.stage1(),
    )
    assert set(stage1.parts) == {"emotion", "asr"}
    assert stage1.total.item() == pytest.approx(emotion + 0.1 * asr, abs=1e-6)
    with pytest.raises(ValueError, match="'gender'"):
        multitask_loss(out, MultiTaskTargets(targets.emotion), LossWeights(asr=0.0, style=0.0))


def test_ctc_reduction_is_a_stated_setting_computed_by_hand() -> None:
    """Two frames, vocabulary {blank, a}, uniform: "a" has 3 paths of probability 1/4 each
    (a-, -a, aa), so -log(3/4); the second utterance has one frame and target "a":
    -log(1/2)."""
    log_probs = torch.log_softmax(torch.zeros(2, 2, 2), -1)
    lengths, targets, target_lengths = (
        torch.tensor([2, 1]),
        torch.tensor([[1], [1]]),
        torch.tensor([1, 1]),
    )
    per_utterance = torch.tensor([-math.log(3 / 4), -math.log(1 / 2)])
    expected = {
        "mean": per_utterance.mean(),  # each divided by its target length (1 here)
        "batchmean": per_utterance.sum() / 2,
        "sum": per_utterance.sum(),
    }
    for reduction, value in expected.items():
        got = ctc_loss(log_probs, lengths, targets, target_lengths, reduction=reduction)
        assert got.item() == pytest.approx(value.item(), abs=1e-6), reduction
    # vocabulary {blank, a, b}, two frames, target "ab": one path, (1/3)^2; mean divides by 2
    three = torch.log_softmax(torch.zeros(1, 2, 3), -1)
    ab = (torch.tensor([2]), torch.tensor([[1, 2]]), torch.tensor([2]))
    mean = ctc_loss(three, *ab, reduction="mean")
    assert mean.item() == pytest.approx(-math.log(1 / 9) / 2, abs=1e-6)
    assert ctc_loss(three, *ab, reduction="batchmean").item() == pytest.approx(-math.log(1 / 9))
    with pytest.raises(ValueError, match="'median'"):
        ctc_loss(log_probs, lengths, targets, target_lengths, reduction="median")


def test_ctc_impossible_alignment_is_zeroed() -> None:
    log_probs = torch.log_softmax(torch.zeros(1, 1, 2), -1)  # 1 frame cannot emit "aa"
    loss = ctc_loss(log_probs, torch.tensor([1]), torch.tensor([[1, 1]]), torch.tensor([2]))
    assert loss.item() == 0.0


# --------------------------------------------------------------------------- parameter counts


def test_parameter_counts_paper_and_demo() -> None:
    counts = parameter_counts()
    paper, demo = counts["paper"], counts["demo"]
    assert paper["acoustic"] == 315_438_720  # HuBERT-large as configured by transformers
    assert paper["acoustic"] - paper["acoustic_trainable"] == 4_210_176  # the frozen CNN
    assert paper["text"] == 109_482_240 - (768 * 768 + 768)  # BERT-base minus its pooler
    adapters = 24 * (2 * 1024 * 64 + 64 + 1024) + 12 * (2 * 768 * 64 + 64 + 768)
    assert paper["adapters"] == adapters == 4_361_472
    assert paper["total"] == sum(paper[k] for k in ("acoustic", "text", "fusion", "heads"))
    assert paper["stage2_trainable"] == adapters + paper["fusion"] + paper["heads"]
    assert demo["text"] == 22_713_216 - (384 * 384 + 384)  # all-MiniLM-L6-v2 minus pooler
    assert demo["acoustic_trainable"] == demo["acoustic"]  # log-mel: no CNN to freeze


def test_a_batch_shorter_than_one_specaugment_span_trains_unmasked() -> None:
    """A training batch of clips shorter than `mask_time_length` frames (MELD has clips
    under 0.2 s) used to raise in transformers' mask sampling; it is left unmasked."""
    enc = tiny_acoustic(mask_time_prob=0.5, mask_time_length=10).train()
    wave = torch.randn(2, 1600)  # 0.1 s: a few frames
    lengths = torch.tensor([1600, 1200])
    hidden, mask = enc(wave, lengths)
    assert hidden.shape[1] <= 10 and mask.shape == hidden.shape[:2]
    long_wave = torch.randn(1, 16000)  # 1 s: masked as before (no error, spans drawn)
    enc(long_wave, torch.tensor([16000]))


# wang2023's wav2vec2-conformer-rel-pos-large in miniature: relative positions, 2 layers
TINY_CONFORMER = {
    **PAPER_SETUP_CONFORMER,
    "num_hidden_layers": 2,
    "conv_dim": (32, 32),
    "conv_depthwise_kernel_size": 7,
    "position_embeddings_type": "relative",
    "layerdrop": 0.0,
}


def test_conformer_encoder_padding_invariance() -> None:
    # transformers' conformer convolves over padded frames: an utterance's last frames read
    # its batch neighbour's padding unless the encoder masks them
    torch.manual_seed(0)
    enc = AcousticEncoder(
        AcousticEncoderConfig(hubert=TINY_CONFORMER, architecture="wav2vec2_conformer")
    )
    with torch.no_grad():  # non-trivial running statistics, as after training
        for layer in enc.hubert.encoder.layers:
            bn = layer.conv_module.batch_norm
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
    enc = enc.double().eval()
    short, batch = padded_pair()
    with torch.no_grad():
        alone, _ = enc(short)
        batched, mask = enc(batch, torch.tensor([SHORT, LONG]))
    n = alone.shape[1]
    assert n < batched.shape[1] and not mask[0, n:].any()
    torch.testing.assert_close(batched[0, :n], alone[0], atol=F64_ATOL, rtol=0)


def test_masked_batch_norm_trains_on_real_frames_only() -> None:
    from mlser.models.acoustic import FrameMask, MaskedBatchNorm1d

    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    x[0, :, 4:] = 50.0  # padding the statistics must not see
    masked = MaskedBatchNorm1d(3).double().train()
    masked.frame_mask = FrameMask()
    masked.frame_mask.value = mask
    plain = torch.nn.BatchNorm1d(3).double().train()
    real = torch.cat([x[0, :, :4], x[1]], dim=1).unsqueeze(0)  # (1, 3, 10): the real frames
    out, expected = masked(x), plain(real)[0]
    torch.testing.assert_close(torch.cat([out[0, :, :4], out[1]], dim=1), expected)
    torch.testing.assert_close(masked.running_mean, plain.running_mean)
    torch.testing.assert_close(masked.running_var, plain.running_var)
    assert int(masked.num_batches_tracked) == 1
