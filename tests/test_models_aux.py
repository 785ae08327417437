"""Tests of the AEC, contrastive, LE-MER and hierarchical modules (tiny, CPU)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlser.models.contrastive import ContrastiveConfig, ContrastiveLoss, info_nce
from mlser.models.error_correction import (
    ErrorCorrectionConfig,
    ErrorCorrectionModel,
    beam_search,
    greedy_decode,
    to_encoder_inputs,
)
from mlser.models.heads import masked_mean_pool
from mlser.models.hierarchical import (
    PAPER_THRESHOLDS,
    HierarchicalConfig,
    HierarchicalSER,
    LSTMClassifier,
    LSTMClassifierConfig,
    hierarchical_decision,
    hierarchical_targets,
)
from mlser.models.label_embedding import (
    LabelEmbeddingConfig,
    LabelEnhancedMER,
    attention_constraint_loss,
    label_embeddings_from_keywords,
)

ATOL = 1e-5
PAD, BOS, EOS = 0, 1, 2


# ---------------------------------------------------------------- AEC ---------------------


def _tiny_bert() -> nn.Module:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=100,
        pad_token_id=PAD,
    )
    return transformers.BertModel(cfg, add_pooling_layer=False)


def _tiny_aec(**kw) -> ErrorCorrectionModel:
    torch.manual_seed(0)
    cfg = ErrorCorrectionConfig(
        num_decoder_layers=2,
        num_attention_heads=2,
        ffn_dim=64,
        max_target_positions=32,
        pad_id=PAD,
        bos_id=BOS,
        eos_id=EOS,
        **kw,
    )
    return ErrorCorrectionModel(cfg, _tiny_bert())


def _pair_batch() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Utterance 0 is short, utterance 1 long, right-padded in both source and target."""
    g = torch.Generator().manual_seed(1)
    src = torch.randint(3, 100, (2, 9), generator=g)
    src_mask = torch.ones(2, 9, dtype=torch.long)
    src_mask[0, 5:] = 0  # padded ids stay random: only the mask may hide them
    tgt = torch.randint(3, 100, (2, 8), generator=g)
    tgt[:, 0] = BOS
    tgt_mask = torch.ones(2, 8, dtype=torch.long)
    tgt[0, 4], tgt_mask[0, 5:] = EOS, 0
    tgt[1, 7] = EOS
    return src, src_mask, tgt, tgt_mask


def test_aec_shapes_and_loss_ignores_padding() -> None:
    model = _tiny_aec(dropout=0.0).eval()
    src, src_mask, tgt, tgt_mask = _pair_batch()
    out = model(src, src_mask, tgt, tgt_mask)
    assert out.logits.shape == (2, 7, 100)
    # Loss equals a hand-built CE over the real target tokens only.
    labels = tgt[:, 1:].masked_fill(tgt_mask[:, 1:] == 0, -100)
    expected = F.cross_entropy(out.logits.reshape(-1, 100), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)
    n_real = int(tgt_mask[:, 1:].sum())
    assert n_real == 4 + 7


def test_aec_padding_invariance() -> None:
    model = _tiny_aec().eval()
    src, src_mask, tgt, tgt_mask = _pair_batch()
    with torch.no_grad():
        both = model(src, src_mask, tgt, tgt_mask)
        alone = model(src[:1, :5], src_mask[:1, :5], tgt[:1, :5], tgt_mask[:1, :5])
    torch.testing.assert_close(both.logits[0, :4], alone.logits[0], atol=ATOL, rtol=0)


def test_aec_tied_embeddings_share_the_encoder_matrix() -> None:
    model = _tiny_aec(tie_encoder_embeddings=True)
    assert model.token_embedding is None
    assert model._word_embedding() is model.encoder.get_input_embeddings()
    n_enc = sum(p.numel() for p in model.encoder.parameters())
    n_all = sum(p.numel() for p in model.parameters())
    untied = _tiny_aec(tie_encoder_embeddings=False)
    assert sum(p.numel() for p in untied.parameters()) - n_all == 100 * 32
    assert n_all > n_enc


def test_aec_gradient_flow_frozen_encoder() -> None:
    model = _tiny_aec(freeze_encoder=True, tie_encoder_embeddings=False).train()
    src, src_mask, tgt, tgt_mask = _pair_batch()
    model(src, src_mask, tgt, tgt_mask).loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    trainable = [(n, p) for n, p in model.named_parameters() if not n.startswith("encoder.")]
    assert trainable
    for name, p in trainable:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_aec_gradient_flow_trainable_encoder() -> None:
    model = _tiny_aec().train()
    src, src_mask, tgt, tgt_mask = _pair_batch()
    model(src, src_mask, tgt, tgt_mask).loss.backward()
    emb = model.encoder.get_input_embeddings().weight
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert model.decoder.layers[0].multihead_attn.in_proj_weight.grad is not None


class _MarkovStub(nn.Module):
    """Hand-set decoder: next-token probabilities depend on the last token only.

    Vocab: 0 pad, 1 BOS, 2 EOS, 3 A, 4 B. After BOS: A .55, B .40, EOS .05.
    After A: EOS .40, A .30, B .30.  After B: EOS .90, A .05, B .05.
    Greedy takes A then EOS (p = .55 * .40 = .22); the best sequence is B EOS (.36).
    """

    def __init__(self) -> None:
        super().__init__()
        eps = 1e-9
        table = torch.full((5, 5), eps)
        table[BOS, [EOS, 3, 4]] = torch.tensor([0.05, 0.55, 0.40])
        table[3, [EOS, 3, 4]] = torch.tensor([0.40, 0.30, 0.30])
        table[4, [EOS, 3, 4]] = torch.tensor([0.90, 0.05, 0.05])
        table[EOS, EOS] = table[PAD, EOS] = 1.0
        self.register_buffer("log_table", (table / table.sum(-1, keepdim=True)).log())

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> Tensor:
        return torch.zeros(src_ids.size(0), 1, 1)

    def next_token_logits(self, tgt_ids: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        return self.log_table[tgt_ids[:, -1]]


def test_beam_search_beats_greedy_on_hand_set_model() -> None:
    stub = _MarkovStub()
    src = torch.zeros(1, 1, dtype=torch.long)
    mask = torch.ones(1, 1, dtype=torch.long)
    greedy = greedy_decode(stub, src, mask, max_len=5, bos_id=BOS, eos_id=EOS)
    assert greedy.sequences == [[3]]
    assert greedy.log_probs.item() == pytest.approx(math.log(0.55 * 0.40), abs=1e-5)
    beam = beam_search(stub, src, mask, 2, 5, BOS, EOS, length_penalty=0.0)
    assert beam.sequences == [[4]]
    assert beam.log_probs.item() == pytest.approx(math.log(0.40 * 0.90), abs=1e-5)
    assert beam.scores.item() == pytest.approx(math.log(0.36), abs=1e-5)
    # beam 1 is greedy
    one = beam_search(stub, src, mask, 1, 5, BOS, EOS, length_penalty=0.0)
    assert one.sequences == [[3]]
    # length normalisation: score = logp / len**alpha, len counts EOS
    beam_lp = beam_search(stub, src, mask, 2, 5, BOS, EOS, length_penalty=1.0)
    assert beam_lp.scores.item() == pytest.approx(math.log(0.36) / 2, abs=1e-5)
    # a batch of three identical sources decodes identically
    b3 = beam_search(stub, src.repeat(3, 1), mask.repeat(3, 1), 2, 5, BOS, EOS, 0.0)
    assert b3.sequences == [[4]] * 3


class _CopyStub(nn.Module):
    """Hand-set decoder that copies its source tokens, then emits EOS; it records the
    batch size of every decoding step."""

    def __init__(self) -> None:
        super().__init__()
        self.step_sizes: list[int] = []

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> Tensor:
        return src_ids[..., None].float()

    def next_token_logits(self, tgt_ids: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        self.step_sizes.append(tgt_ids.size(0))
        done = tgt_ids.size(1) - 1  # tokens emitted so far (after BOS)
        logits = torch.full((tgt_ids.size(0), 20), -30.0)
        for i in range(tgt_ids.size(0)):
            n = int(memory_mask[i].sum())
            logits[i, int(memory[i, done, 0]) if done < n else EOS] = 0.0
        return logits


def test_greedy_decoding_drops_finished_rows() -> None:
    stub = _CopyStub()
    src = torch.tensor([[7, 0, 0], [8, 9, 10]])
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]])
    out = greedy_decode(stub, src, mask, max_len=10, bos_id=BOS, eos_id=EOS)
    assert out.sequences == [[7], [8, 9, 10]]
    # row 0 ends with its second token (EOS); the last two steps decode row 1 alone
    assert stub.step_sizes == [2, 2, 1, 1]
    assert out.log_probs.tolist() == pytest.approx([0.0, 0.0], abs=1e-6)


def test_aec_next_token_logits_are_the_last_position_of_decode() -> None:
    model = _tiny_aec().eval()
    src, src_mask, tgt, _ = _pair_batch()
    memory = model.encode(src, src_mask)
    for t in (1, 3):
        full = model.decode(tgt[:, :t], memory, src_mask)
        assert full.shape[:2] == (tgt.size(0), t)
        torch.testing.assert_close(
            model.next_token_logits(tgt[:, :t], memory, src_mask), full[:, -1]
        )


class _Uncached:
    """The same AEC without its key/value cache: decoding re-runs the whole prefix."""

    def __init__(self, model: ErrorCorrectionModel) -> None:
        self.encode, self.next_token_logits = model.encode, model.next_token_logits


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-LN", "post-LN"])
def test_aec_cached_step_equals_the_whole_prefix_decode(norm_first: bool) -> None:
    """Each cached step's logits are decode()'s last position on the whole prefix, padded
    source included; after a reorder (a beam's) the rows follow their prefixes."""
    model = _tiny_aec(norm_first=norm_first).eval()
    src, src_mask, tgt, _ = _pair_batch()
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        cache = model.start_cache(memory, src_mask)
        for t in range(1, 6):
            logits, cache = model.next_token_logits_cached(tgt[:, t - 1], cache)
            full = model.decode(tgt[:, :t], memory, src_mask)[:, -1]
            torch.testing.assert_close(logits, full, atol=ATOL, rtol=1e-5)
        swap = torch.tensor([1, 0])
        logits, _ = model.next_token_logits_cached(tgt[swap, 5], cache.select(swap))
        full = model.decode(tgt[swap, :6], memory[swap], src_mask[swap])[:, -1]
        torch.testing.assert_close(logits, full, atol=ATOL, rtol=1e-5)


def test_aec_decoding_with_the_cache_equals_decoding_without() -> None:
    """Greedy (rows dropping out as they finish) and beam search (beams reordered every
    step): the cache changes the cost, not the corrections."""
    model = _tiny_aec().eval()
    g = torch.Generator().manual_seed(3)
    src, src_mask = torch.randint(3, 100, (6, 9), generator=g), torch.ones(6, 9, dtype=torch.long)
    src_mask[2, 3:], src_mask[4, 6:] = 0, 0
    with torch.no_grad():
        model.output_bias[EOS] = 0.1  # some rows finish after 5 tokens, others run to 12
    for beam in (1, 3):
        fast = model.correct(src, src_mask, beam_size=beam, max_len=12)
        assert {len(s) for s in fast.sequences} == {5, 12}, beam
        slow = (
            greedy_decode(_Uncached(model), src, src_mask, 12, BOS, EOS)
            if beam == 1
            else beam_search(_Uncached(model), src, src_mask, beam, 12, BOS, EOS, 1.0)
        )
        assert fast.sequences == slow.sequences, beam
        torch.testing.assert_close(fast.log_probs, slow.log_probs, atol=1e-4, rtol=0)


def test_beam_search_max_len_cuts_unfinished() -> None:
    stub = _MarkovStub()
    src, mask = torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1, dtype=torch.long)
    out = beam_search(stub, src, mask, 2, 1, BOS, EOS, length_penalty=0.0)
    # One step: EOS (.05) finished; A (.55) and B (.40) cut live; A wins.
    assert out.sequences == [[3]]
    assert out.log_probs.item() == pytest.approx(math.log(0.55), abs=1e-5)


def test_aec_decoding_batched_equals_alone_and_beam1_equals_greedy() -> None:
    model = _tiny_aec().eval()
    src, src_mask, _, _ = _pair_batch()
    both = beam_search(model, src, src_mask, 3, 6, BOS, EOS, 1.0)
    alone = beam_search(model, src[:1, :5], src_mask[:1, :5], 3, 6, BOS, EOS, 1.0)
    assert both.sequences[0] == alone.sequences[0]
    assert both.scores[0].item() == pytest.approx(alone.scores[0].item(), abs=ATOL)
    greedy = greedy_decode(model, src, src_mask, 6, BOS, EOS)
    beam1 = beam_search(model, src, src_mask, 1, 6, BOS, EOS, 0.0)
    assert greedy.sequences == beam1.sequences
    torch.testing.assert_close(greedy.log_probs, beam1.log_probs, atol=ATOL, rtol=0)
    assert model.correct(src, src_mask, beam_size=1, max_len=6).sequences == greedy.sequences
    assert all(len(s) <= 6 for s in both.sequences)


def test_a_correction_stops_at_its_length_cap() -> None:
    """A decoder that never emits [SEP] stops at max_len_a * S + max_len_b tokens, not at
    max_len (the rehearsal's random-weight AEC decoded 128 steps per utterance)."""
    model = _tiny_aec(max_len_a=1.0, max_len_b=2).eval()
    with torch.no_grad():
        model.output_bias[EOS] = -1e4  # never finishes
    src, src_mask = to_encoder_inputs([[3, 4], [5, 6, 7, 8]], BOS, EOS, PAD)  # S = 6
    for beam in (1, 3):
        out = model.correct(src, src_mask, beam_size=beam, max_len=30)
        assert [len(s) for s in out.sequences] == [8, 8], beam


def test_aec_learns_a_correction_and_decodes_it() -> None:
    """End to end: teacher forcing fits hypothesis → reference; both decoders recover it."""
    torch.manual_seed(0)
    model = _tiny_aec(dropout=0.0)
    # token 19 is an "ASR error" that the reference spells 5
    src, src_mask = to_encoder_inputs([[3, 19, 4], [6, 7], [19, 8, 9, 10]], BOS, EOS, PAD)
    refs = [[3, 5, 4], [6, 7], [5, 8, 9, 10]]
    tgt, tgt_mask = to_encoder_inputs(refs, BOS, EOS, PAD)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = model(src, src_mask, tgt, tgt_mask).loss
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    model.eval()
    assert model.correct(src, src_mask, beam_size=3, max_len=10).sequences == refs
    assert model.correct(src, src_mask, beam_size=1, max_len=10).sequences == refs


def test_to_encoder_inputs() -> None:
    ids, mask = to_encoder_inputs([[5, 6], []], BOS, EOS, PAD)
    assert ids.tolist() == [[BOS, 5, 6, EOS], [BOS, EOS, PAD, PAD]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


# ---------------------------------------------------------------- contrastive -------------


def test_info_nce_hand_computed_2x2() -> None:
    gt = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # norms differ: cosine ignores them
    asr = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    tau = 0.5
    # cos matrix [[1, 1/√2], [0, 1/√2]] → logits [[2, √2], [0, √2]]
    r2 = math.sqrt(2.0)
    row0 = -math.log(math.exp(2) / (math.exp(2) + math.exp(r2)))
    row1 = -math.log(math.exp(r2) / (math.exp(0) + math.exp(r2)))
    expected = (row0 + row1) / 2
    assert info_nce(gt, asr, tau).item() == pytest.approx(expected, abs=1e-6)
    col0 = -math.log(math.exp(2) / (math.exp(2) + math.exp(0)))
    col1 = math.log(2.0)
    sym = 0.5 * (expected + (col0 + col1) / 2)
    assert info_nce(gt, asr, tau, symmetric=True).item() == pytest.approx(sym, abs=1e-6)


def test_info_nce_3x3_identity_and_module_pooling() -> None:
    x = torch.eye(3)
    # positives cos 1, negatives cos 0: loss = log(1 + 2 e^{-1/τ})
    tau = 0.5
    assert info_nce(x, x, tau).item() == pytest.approx(math.log(1 + 2 * math.exp(-2)), rel=1e-5)
    # module: padded token features pool to the same vectors as unpadded ones
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]])
    garbage = feats.masked_fill(mask.unsqueeze(-1) == 0, 1e3)
    loss_fn = ContrastiveLoss(ContrastiveConfig(temperature=0.2))
    pooled = torch.stack([feats[i, : int(mask[i].sum())].mean(0) for i in range(3)])
    torch.testing.assert_close(masked_mean_pool(garbage, mask), pooled)
    asr = torch.randn(3, 4, generator=g)
    torch.testing.assert_close(loss_fn(garbage, asr, gt_mask=mask), info_nce(pooled, asr, 0.2))


def test_contrastive_gradient_flow() -> None:
    gt = torch.randn(4, 8, requires_grad=True)
    asr = torch.randn(4, 8, requires_grad=True)
    ContrastiveLoss()(gt, asr).backward()
    assert gt.grad is not None and gt.grad.abs().sum() > 0
    assert asr.grad is not None and asr.grad.abs().sum() > 0


# ---------------------------------------------------------------- LE-MER ------------------


def _lemer(**kw) -> tuple[LabelEnhancedMER, LabelEmbeddingConfig]:
    torch.manual_seed(0)
    cfg = LabelEmbeddingConfig(num_classes=4, text_dim=16, speech_dim=12, **kw)
    tk = torch.randn(4, 3, 16)
    sk = torch.randn(4, 5, cfg.speech_label_dim or 12)
    return LabelEnhancedMER(cfg, tk, sk), cfg


def _lemer_batch() -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(3)
    text = torch.randn(2, 7, 16, generator=g)
    speech = torch.randn(2, 11, 12, generator=g)
    tm = torch.ones(2, 7, dtype=torch.long)
    sm = torch.ones(2, 11, dtype=torch.long)
    tm[0, 4:], sm[0, 6:] = 0, 0
    text[0, 4:], speech[0, 6:] = 7.0, -7.0  # padding content must not matter
    return text, tm, speech, sm, torch.tensor([2, 1])


def test_lemer_shapes_and_equations() -> None:
    model, cfg = _lemer(dropout=0.0)
    model.eval()
    text, tm, speech, sm, y = _lemer_batch()
    out = model(text, tm, speech, sm, y)
    assert out.logits.shape == (2, 4)
    assert out.g_text.shape == (2, 7, 4) and out.g_speech.shape == (2, 11, 4)
    assert out.a_cross.shape == out.a_label.shape == (2, 7, 11)
    # Eq. (1): cosine with the class means of the keywords
    lt = model.text_label.labels()
    cos = F.cosine_similarity(text[1, :, None, :], lt[None], dim=-1)
    torch.testing.assert_close(out.g_text[1], cos, atol=ATOL, rtol=0)
    # Eq. (2): mean over the 4 real tokens only
    torch.testing.assert_close(out.text_label_logits[0], out.g_text[0, :4].mean(0))
    # Eq. (7): rows over real frames sum to 1, padded frames get 0
    torch.testing.assert_close(out.a_cross[0, :4].sum(-1), torch.ones(4))
    assert out.a_cross[0, :, 6:].abs().max() == 0
    # Eq. (9)
    torch.testing.assert_close(out.a_label, out.g_text @ out.g_speech.transpose(1, 2))
    # Eq. (12) with mu = (1, .5, .2, .2)
    ls = out.losses
    total = (
        ls["fusion"] + 0.5 * ls["constraint"] + 0.2 * ls["text_label"] + 0.2 * ls["speech_label"]
    )
    torch.testing.assert_close(out.loss, total)
    torch.testing.assert_close(ls["text_label"], F.cross_entropy(out.text_label_logits, y))
    assert (cfg.mu_fusion, cfg.mu_constraint, cfg.mu_text_label, cfg.mu_speech_label) == (
        1.0,
        0.5,
        0.2,
        0.2,
    )


def test_lemer_padding_invariance() -> None:
    model, _ = _lemer()
    model.eval()
    text, tm, speech, sm, y = _lemer_batch()
    with torch.no_grad():
        both = model(text, tm, speech, sm, y)
        alone = model(text[:1, :4], tm[:1, :4], speech[:1, :6], sm[:1, :6], y[:1])
    torch.testing.assert_close(both.logits[0], alone.logits[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(both.g_text[0, :4], alone.g_text[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(both.g_speech[0, :6], alone.g_speech[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(both.a_cross[0, :4, :6], alone.a_cross[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(both.a_label[0, :4, :6], alone.a_label[0], atol=ATOL, rtol=0)
    per_utt = attention_constraint_loss(both.a_label[:1], both.a_cross[:1], tm[:1], sm[:1])
    torch.testing.assert_close(per_utt, alone.losses["constraint"], atol=ATOL, rtol=0)


def test_attention_constraint_mse_hand_made() -> None:
    a_l = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    a_r = torch.tensor([[[0.5, 0.5], [1.0, 0.0]]])
    # (0.25 + 2.25 + 4 + 16) / 4
    assert attention_constraint_loss(a_l, a_r).item() == pytest.approx(5.625)
    assert attention_constraint_loss(a_l, a_r).item() == pytest.approx(F.mse_loss(a_l, a_r).item())
    # A padded frame column and token row with garbage change nothing.
    a_l_p = torch.full((1, 3, 3), 99.0)
    a_r_p = torch.zeros(1, 3, 3)
    a_l_p[:, :2, :2], a_r_p[:, :2, :2] = a_l, a_r
    tm, sm = torch.tensor([[1, 1, 0]]), torch.tensor([[1, 1, 0]])
    assert attention_constraint_loss(a_l_p, a_r_p, tm, sm).item() == pytest.approx(5.625)
    # Batch: per-utterance means averaged: utt 2 has one real cell with diff 1 → (5.625 + 1)/2
    a_l_b = torch.cat([a_l_p, torch.zeros(1, 3, 3)])
    a_r_b = torch.cat([a_r_p, torch.ones(1, 3, 3)])
    tm_b = torch.cat([tm, torch.tensor([[1, 0, 0]])])
    sm_b = torch.cat([sm, torch.tensor([[1, 0, 0]])])
    assert attention_constraint_loss(a_l_b, a_r_b, tm_b, sm_b).item() == pytest.approx(3.3125)


def test_lemer_gradient_flow_and_options() -> None:
    model, _ = _lemer(speech_label_dim=6)  # codebook dim ≠ feature dim → projection
    model.train()
    text, tm, speech, sm, y = _lemer_batch()
    text.requires_grad_(True)
    out = model(text, tm, speech, sm, y)
    out.loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert text.grad is not None
    frozen, _ = _lemer(learnable_label_embeddings=False)
    names = {n for n, _ in frozen.named_parameters()}
    assert "text_label.label_embeddings" not in names
    assert "text_label.label_embeddings" in dict(frozen.named_buffers())


def test_label_embeddings_from_keywords_masked() -> None:
    kw = torch.tensor([[[1.0, 0.0], [3.0, 0.0]], [[0.0, 2.0], [9.0, 9.0]]])
    emb = label_embeddings_from_keywords(kw, torch.tensor([[1, 1], [1, 0]]))
    assert emb.tolist() == [[2.0, 0.0], [0.0, 2.0]]


# ---------------------------------------------------------------- hierarchical ------------


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_classifier_padding_invariance_and_grads(bidirectional: bool) -> None:
    torch.manual_seed(0)
    cfg = LSTMClassifierConfig(
        input_dim=5, num_classes=3, hidden_size=8, num_layers=2, bidirectional=bidirectional
    )
    model = LSTMClassifier(cfg).eval()
    x = torch.randn(3, 10, 5)
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[0, 4:], mask[2, 7:] = 0, 0
    x = x.masked_fill(mask.unsqueeze(-1) == 0, 5.0)
    with torch.no_grad():
        both = model(x, mask)
        alone0 = model(x[:1, :4], None)
        alone2 = model(x[2:, :7], mask[2:, :7])
    assert both.shape == (3, 3)
    torch.testing.assert_close(both[0], alone0[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(both[2], alone2[0], atol=ATOL, rtol=0)
    # utterance-level vectors (paper's mean MFCC) are length-1 sequences
    v = torch.randn(2, 5)
    torch.testing.assert_close(model(v), model(v[:, None, :]))
    model.train()
    F.cross_entropy(model(x, mask), torch.tensor([0, 1, 2])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name


# Four-class order (neu, hap, ang, sad); Model 2 outputs (hap, ang, sad).
P1 = torch.tensor(
    [
        [0.2, 0.8],  # u0 emotional → Model 2
        [0.9, 0.1],  # u1..u6 speech-neutral
        [0.7, 0.3],
        [0.6, 0.4],
        [0.8, 0.2],
        [0.55, 0.45],
        [0.5, 0.5],  # tie → neutral
    ]
)
P2 = torch.tensor([[0.1, 0.7, 0.2]] + [[0.6, 0.2, 0.2]] * 6)
PT = torch.tensor(
    [
        [0.90, 0.05, 0.03, 0.02],  # u0: ignored (emotional by speech)
        [0.45, 0.30, 0.15, 0.10],  # u1: text agrees → neutral at every threshold
        [0.38, 0.42, 0.10, 0.10],  # u2: neutral up to .35, happy at .40 / no threshold
        [0.28, 0.12, 0.50, 0.10],  # u3: neutral at .25, angry from .30
        [0.10, 0.10, 0.10, 0.70],  # u4: sad always
        [0.32, 0.36, 0.16, 0.16],  # u5: neutral at .25/.30, happy from .35
        [0.25, 0.50, 0.125, 0.125],  # u6: exactly .25 → kept at .25 (>=), happy above
    ]
)
N, H, A, S = 0, 1, 2, 3


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.25, [A, N, N, N, S, N, N]),
        (0.30, [A, N, N, A, S, N, H]),
        (0.35, [A, N, N, A, S, H, H]),
        (0.40, [A, N, H, A, S, H, H]),
        (None, [A, N, H, A, S, H, H]),
    ],
)
def test_hierarchical_decision_rule(threshold: float | None, expected: list[int]) -> None:
    d = hierarchical_decision(P1, P2, PT, threshold)
    assert d.labels.tolist() == expected
    assert d.speech_neutral.tolist() == [False] + [True] * 6
    assert d.changed.tolist() == [lab != N and i > 0 for i, lab in enumerate(expected)]
    assert not (d.kept_neutral & d.from_text).any()
    assert ((d.kept_neutral | d.from_text) == d.speech_neutral).all()
    if threshold is None:
        assert not d.kept_neutral.any()  # u1 neutral because the text arg-max says so
        assert d.from_text[1:].all()


def test_hierarchical_thresholds_monotone_and_targets() -> None:
    assert PAPER_THRESHOLDS == (0.25, 0.30, 0.35, 0.40)
    n_changed = [int(hierarchical_decision(P1, P2, PT, t).changed.sum()) for t in PAPER_THRESHOLDS]
    assert n_changed == sorted(n_changed) == [1, 3, 4, 5]
    lvl1, lvl2 = hierarchical_targets(torch.tensor([0, 1, 2, 3, 0]))
    assert lvl1.tolist() == [0, 1, 1, 1, 0]
    assert lvl2.tolist() == [-100, 0, 1, 2, -100]


def test_hierarchical_ser_end_to_end() -> None:
    torch.manual_seed(0)
    cfg = HierarchicalConfig(
        level1=LSTMClassifierConfig(input_dim=6, num_classes=2, hidden_size=8, fc_dim=8),
        level2=LSTMClassifierConfig(input_dim=6, num_classes=3, hidden_size=8, fc_dim=8),
        text=LSTMClassifierConfig(input_dim=10, num_classes=4, hidden_size=8, fc_dim=8),
    )
    model = HierarchicalSER(cfg).eval()
    sp, tx = torch.randn(3, 9, 6), torch.randn(3, 5, 10)
    sm, tm = torch.ones(3, 9), torch.ones(3, 5)
    sm[1, 3:], tm[1, 2:] = 0, 0
    probs = model(sp, sm, tx, tm)
    assert {k: tuple(v.shape) for k, v in probs.items()} == {
        "level1": (3, 2),
        "level2": (3, 3),
        "text": (3, 4),
    }
    d = model.predict(sp, sm, tx, tm, 0.3)
    ref = hierarchical_decision(probs["level1"], probs["level2"], probs["text"], 0.3)
    assert d.labels.tolist() == ref.labels.tolist()
    alone = model.predict(sp[1:2, :3], None, tx[1:2, :2], None, 0.3)
    assert alone.labels[0] == d.labels[1]
