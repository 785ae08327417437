"""ASR error correction (AEC) of gao2025, §3.3 and §4.2.

The ASR hypothesis ``T_ASR`` is encoded by BERT; its last-layer features are the memory
of an 8-layer Transformer decoder that generates the corrected transcription over the
BERT vocabulary, decoded with beam search. The loss ``L_AEC`` of Eq. (16) is the
token-level cross-entropy of the reference given the hypothesis (teacher forcing).

The paper fixes: BERT-base encoder, 8 decoder layers, beam-search decoding, the same BERT
shared with emotion recognition (pass that module as ``encoder``). It is silent on the
decoder's width, heads, FFN size, embeddings, normalisation and beam settings; the
choices below are the usual ones and are marked "paper silent" where they are made.

Conventions: token masks follow Hugging Face (``1``/``True`` = real token, ``0`` =
padding); sequences are right-padded. The reference ``tgt_ids`` is the BERT-tokenised
reference *with* its special tokens, ``[CLS] w1 .. wn [SEP]``: ``[CLS]`` serves as BOS
and ``[SEP]`` as EOS, so no new tokens are added to the BERT vocabulary (paper silent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlser.models.adapters import adapters_disabled

__all__ = [
    "DecodeOutput",
    "DecoderCache",
    "ErrorCorrectionConfig",
    "ErrorCorrectionModel",
    "ErrorCorrectionOutput",
    "Seq2SeqLike",
    "beam_search",
    "greedy_decode",
    "to_encoder_inputs",
]

IGNORE_INDEX = -100


@dataclass
class ErrorCorrectionConfig:
    """Hyper-parameters of the AEC module.

    Attributes:
        encoder_name: Hugging Face id of the encoder (paper: BERT-base, §4.2). Only used by
            :meth:`ErrorCorrectionModel.from_pretrained_encoder`; tests pass a tiny encoder.
        num_decoder_layers: Transformer decoder layers (paper: 8).
        num_attention_heads: decoder heads (paper silent; BERT-base's 12).
        ffn_dim: decoder feed-forward width (paper silent; BERT-base's 3072).
        dropout: decoder dropout (paper silent; BERT's 0.1).
        max_target_positions: learned decoder position embeddings (paper silent; BERT's 512).
        tie_encoder_embeddings: decoder input embeddings *and* output projection share the
            encoder's word-embedding matrix (paper silent; weight tying as in BERT's MLM head).
            If False the decoder owns an embedding matrix, still tied to its output layer.
        freeze_encoder: set ``requires_grad=False`` on the encoder at construction.
        norm_first: pre-LN decoder layers (paper silent; pre-LN trains a from-scratch
            decoder stably without warm-up tricks).
        pad_id, bos_id, eos_id: BERT's ``[PAD]``, ``[CLS]``, ``[SEP]`` (bert-base-uncased ids).
        label_smoothing: for ``L_AEC`` (paper silent; 0 = plain cross-entropy).
        max_len_a, max_len_b: a correction stops after ``max_len_a * S + max_len_b``
            tokens, ``S`` the batch's longest hypothesis in tokens (fairseq's
            ``--max-len-a/b``; the paper is silent). A correction rewrites a hypothesis
            rather than doubling it; without the cap a decoder that never emits [SEP] (an
            untrained one: the rehearsal's random weights) decodes every step up to
            ``max_len``: at BERT-base size on a CPU, before the key/value cache, 5 min to
            correct 6 utterances.
    """

    encoder_name: str = "bert-base-uncased"
    num_decoder_layers: int = 8
    num_attention_heads: int = 12
    ffn_dim: int = 3072
    dropout: float = 0.1
    max_target_positions: int = 512
    tie_encoder_embeddings: bool = True
    freeze_encoder: bool = False
    norm_first: bool = True
    pad_id: int = 0
    bos_id: int = 101
    eos_id: int = 102
    label_smoothing: float = 0.0
    max_len_a: float = 2.0
    max_len_b: int = 10


@dataclass
class ErrorCorrectionOutput:
    """Result of a teacher-forced pass.

    Attributes:
        logits: ``(B, T-1, V)`` next-token logits for ``tgt_ids[:, 1:]``.
        loss: scalar ``L_AEC`` (mean over non-padding target tokens), or None without targets.
    """

    logits: Tensor
    loss: Tensor | None


@dataclass
class DecodeOutput:
    """Best hypothesis per utterance.

    Attributes:
        sequences: ``B`` token-id lists, without BOS and EOS.
        scores: ``(B,)`` the score the search ranked by (length-normalised log-probability
            for beam search; the plain sum for greedy decoding).
        log_probs: ``(B,)`` summed token log-probabilities, EOS included when emitted.
    """

    sequences: list[list[int]]
    scores: Tensor
    log_probs: Tensor


@dataclass
class DecoderCache:
    """What decoding one token per step reuses (the usual key/value cache).

    Attributes:
        self_k, self_v: per decoder layer, ``(B, H, t, D/H)`` self-attention keys and
            values of the ``t`` tokens decoded so far.
        cross_k, cross_v: per decoder layer, ``(B, H, S, D/H)`` keys and values of the
            memory, projected once.
        memory_mask: ``(B, 1, 1, S)`` True where a source token is real (attended).
    """

    self_k: list[Tensor]
    self_v: list[Tensor]
    cross_k: list[Tensor]
    cross_v: list[Tensor]
    memory_mask: Tensor

    @property
    def length(self) -> int:
        """Tokens decoded so far."""
        return int(self.self_k[0].size(2)) if self.self_k else 0

    def select(self, index: Tensor, memory_too: bool = True) -> DecoderCache:
        """The cache of rows ``index`` (beams reordered, finished rows dropped).
        ``memory_too=False`` keeps the memory's keys and values as they are: right where
        ``index`` only moves rows among those of one utterance (a beam search's reorder),
        whose memory is the same, and spares copying them every step."""
        self_k = [t.index_select(0, index) for t in self.self_k]
        self_v = [t.index_select(0, index) for t in self.self_v]
        if not memory_too:
            return DecoderCache(self_k, self_v, self.cross_k, self.cross_v, self.memory_mask)
        cross_k = [t.index_select(0, index) for t in self.cross_k]
        cross_v = [t.index_select(0, index) for t in self.cross_v]
        return DecoderCache(self_k, self_v, cross_k, cross_v, self.memory_mask[index])


class Seq2SeqLike(Protocol):
    """What :func:`beam_search` and :func:`greedy_decode` need from a model."""

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> Tensor:
        """``(B, S)`` ids and mask → ``(B, S, D)`` memory."""
        ...

    def next_token_logits(self, tgt_ids: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        """``(B, T)`` prefix, ``(B, S, D)`` memory, ``(B, S)`` mask → ``(B, V)`` logits of
        the token after the prefix."""
        ...


class ErrorCorrectionModel(nn.Module):
    """BERT encoder + Transformer decoder for ASR error correction (gao2025 §3.3).

    Args:
        config: see :class:`ErrorCorrectionConfig`.
        encoder: any Hugging Face encoder returning ``last_hidden_state`` (BertModel or
            ``AutoModel``); in the paper the BERT also used for emotion features.
    """

    def __init__(self, config: ErrorCorrectionConfig, encoder: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        if config.freeze_encoder:
            self.encoder.requires_grad_(False)
        d_model = int(encoder.config.hidden_size)
        vocab = int(encoder.config.vocab_size)
        self.d_model, self.vocab_size = d_model, vocab
        # Own embeddings only when untied; tied ones are looked up on the encoder each call
        # so that a shared BERT is not registered twice.
        self.token_embedding: nn.Embedding | None = (
            None
            if config.tie_encoder_embeddings
            else nn.Embedding(vocab, d_model, padding_idx=config.pad_id)
        )
        self.position_embedding = nn.Embedding(config.max_target_positions, d_model)
        # BERT-style embedding block (sum → LayerNorm → dropout): BERT's word vectors are
        # small-norm, so they are normalised rather than scaled by sqrt(d).
        self.embedding_norm = nn.LayerNorm(d_model)
        self.embedding_dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerDecoderLayer(
            d_model,
            config.num_attention_heads,
            config.ffn_dim,
            config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=config.norm_first,
        )
        self.decoder = nn.TransformerDecoder(
            layer,
            config.num_decoder_layers,
            norm=nn.LayerNorm(d_model) if config.norm_first else None,
        )
        self.output_bias = nn.Parameter(torch.zeros(vocab))

    @classmethod
    def from_pretrained_encoder(cls, config: ErrorCorrectionConfig) -> ErrorCorrectionModel:
        """Build with ``AutoModel.from_pretrained(config.encoder_name)`` (local cache)."""
        from transformers import AutoModel

        from mlser.pretrained import load_kwargs

        encoder = AutoModel.from_pretrained(
            config.encoder_name, add_pooling_layer=False, **load_kwargs(config.encoder_name)
        )
        return cls(config, encoder)

    def _word_embedding(self) -> nn.Embedding:
        if self.token_embedding is not None:
            return self.token_embedding
        return self.encoder.get_input_embeddings()

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> Tensor:
        """Encode the ASR hypothesis.

        Args:
            src_ids: ``(B, S)`` BERT token ids of ``T_ASR``.
            src_mask: ``(B, S)`` 1 for real tokens, 0 for padding.

        Returns:
            ``(B, S, D)`` last-layer encoder features (the decoder memory).

        The encoder is read without the stage-2 adapters it may hold for the emotion path
        (:func:`mlser.models.adapters.adapters_disabled`): the AEC is frozen in stage 2
        (gao2025 §3.3), and with the shared BERT frozen too it corrects exactly as at the
        end of stage 1.
        """
        with adapters_disabled(self.encoder):
            out = self.encoder(input_ids=src_ids, attention_mask=src_mask.long())
        return out.last_hidden_state

    def decode(
        self,
        tgt_ids: Tensor,
        memory: Tensor,
        memory_mask: Tensor,
        tgt_mask: Tensor | None = None,
        last_only: bool = False,
    ) -> Tensor:
        """Causal decoder pass.

        Args:
            tgt_ids: ``(B, T)`` decoder input (starts with BOS).
            memory: ``(B, S, D)`` from :meth:`encode`.
            memory_mask: ``(B, S)`` 1 for real source tokens.
            tgt_mask: ``(B, T)`` 1 for real target tokens; None = no padding.
            last_only: project only the last position to the vocabulary (decoding).

        Returns:
            ``(B, T, V)`` logits (``(B, 1, V)`` with ``last_only``); position ``t``
            predicts token ``t+1``.
        """
        t = tgt_ids.size(1)
        if t > self.config.max_target_positions:
            raise ValueError(f"target length {t} > max_target_positions")
        positions = torch.arange(t, device=tgt_ids.device)
        x = self._word_embedding()(tgt_ids) + self.position_embedding(positions)[None]
        x = self.embedding_dropout(self.embedding_norm(x))
        # Bool masks throughout (True = blocked) so PyTorch does not mix mask kinds.
        causal = torch.ones(t, t, dtype=torch.bool, device=tgt_ids.device).triu(1)
        tgt_pad = None if tgt_mask is None else ~tgt_mask.bool()
        h = self.decoder(
            x,
            memory,
            tgt_mask=causal,
            tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=~memory_mask.bool(),
            tgt_is_causal=True,
        )
        if last_only:
            h = h[:, -1:]
        return F.linear(h, self._word_embedding().weight, self.output_bias)

    def next_token_logits(self, tgt_ids: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        """``decode(...)[:, -1]`` for decoding: the ``(B, V)`` logits of the next token.

        Only the last position goes through the vocabulary projection (``V`` = BERT's
        30,522 tokens): projecting every position of the prefix at every step was most
        of the cost of greedy and beam decoding.
        """
        return self.decode(tgt_ids, memory, memory_mask, last_only=True)[:, -1]

    def start_cache(self, memory: Tensor, memory_mask: Tensor) -> DecoderCache:
        """An empty :class:`DecoderCache` for decoding against ``memory`` ``(B, S, D)``
        (``memory_mask`` ``(B, S)``, 1 = real token): each layer's cross-attention keys
        and values are projected here, once, instead of at every step."""
        cross_k, cross_v = [], []
        for layer in self.decoder.layers:
            attn = layer.multihead_attn
            _, w_k, w_v = attn.in_proj_weight.chunk(3)
            _, b_k, b_v = attn.in_proj_bias.chunk(3)
            cross_k.append(self._heads(F.linear(memory, w_k, b_k), attn.num_heads))
            cross_v.append(self._heads(F.linear(memory, w_v, b_v), attn.num_heads))
        empty = memory.new_zeros(memory.size(0), 0, 0, 0)
        n = len(self.decoder.layers)
        return DecoderCache([empty] * n, [empty] * n, cross_k, cross_v,
                            memory_mask.bool()[:, None, None, :])  # fmt: skip

    @staticmethod
    def _heads(x: Tensor, heads: int) -> Tensor:
        """``(B, T, D)`` -> ``(B, H, T, D/H)``."""
        b, t, d = x.shape
        return x.view(b, t, heads, d // heads).transpose(1, 2)

    def next_token_logits_cached(
        self, tokens: Tensor, cache: DecoderCache
    ) -> tuple[Tensor, DecoderCache]:
        """Decode one more token per row with ``cache``: the ``(B, V)`` logits of the token
        after ``tokens`` ``(B,)`` (the last token of each prefix), and the cache grown by
        it. The same numbers as :meth:`next_token_logits` on the whole prefix (up to float
        rounding), at the cost of one position instead of ``t``: decoding a ``T``-token
        correction costs ``O(T)`` decoder passes of one token, not ``O(T^2)``."""
        t = cache.length
        if t + 1 > self.config.max_target_positions:
            raise ValueError(f"target length {t + 1} > max_target_positions")
        x = self._word_embedding()(tokens[:, None]) + self.position_embedding.weight[t][None, None]
        x = self.embedding_dropout(self.embedding_norm(x))
        self_k, self_v = [], []
        for i, layer in enumerate(self.decoder.layers):
            sa_in = layer.norm1(x) if layer.norm_first else x
            attn = layer.self_attn
            q, k, v = F.linear(sa_in, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
            k = torch.cat([cache.self_k[i], self._heads(k, attn.num_heads)], dim=2) if t else (
                self._heads(k, attn.num_heads))  # fmt: skip
            v = torch.cat([cache.self_v[i], self._heads(v, attn.num_heads)], dim=2) if t else (
                self._heads(v, attn.num_heads))  # fmt: skip
            self_k.append(k)
            self_v.append(v)
            sa = self._attend(attn, q, k, v, None)
            x = x + layer.dropout1(sa) if layer.norm_first else layer.norm1(x + layer.dropout1(sa))
            ca_in = layer.norm2(x) if layer.norm_first else x
            cross = layer.multihead_attn
            w_q = cross.in_proj_weight.chunk(3)[0]
            b_q = cross.in_proj_bias.chunk(3)[0]
            ca = self._attend(
                cross, F.linear(ca_in, w_q, b_q), cache.cross_k[i], cache.cross_v[i],
                cache.memory_mask,
            )  # fmt: skip
            x = x + layer.dropout2(ca) if layer.norm_first else layer.norm2(x + layer.dropout2(ca))
            ff_in = layer.norm3(x) if layer.norm_first else x
            ff = layer.linear2(layer.dropout(layer.activation(layer.linear1(ff_in))))
            x = x + layer.dropout3(ff) if layer.norm_first else layer.norm3(x + layer.dropout3(ff))
        if self.decoder.norm is not None:
            x = self.decoder.norm(x)
        logits = F.linear(x[:, -1], self._word_embedding().weight, self.output_bias)
        grown = DecoderCache(self_k, self_v, cache.cross_k, cache.cross_v, cache.memory_mask)
        return logits, grown

    def _attend(
        self, attn: nn.MultiheadAttention, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None
    ) -> Tensor:
        """``(B, 1, D)`` query against ``(B, H, t, D/H)`` keys and values (``mask``: True =
        attended), through ``attn``'s output projection: ``(B, 1, D)``."""
        q = self._heads(q, attn.num_heads)
        # the module drops attention weights while training: so does this step
        dropout = attn.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        b, h, one, hd = out.shape
        return attn.out_proj(out.transpose(1, 2).reshape(b, one, h * hd))

    def forward(
        self,
        src_ids: Tensor,
        src_mask: Tensor,
        tgt_ids: Tensor,
        tgt_mask: Tensor | None = None,
    ) -> ErrorCorrectionOutput:
        """Teacher-forced training pass on (hypothesis, reference) pairs.

        Args:
            src_ids, src_mask: ``(B, S)`` ASR hypothesis and its mask.
            tgt_ids: ``(B, T)`` reference ``[CLS] .. [SEP]`` (right-padded).
            tgt_mask: ``(B, T)`` 1 for real reference tokens; None = no padding.

        Returns:
            logits ``(B, T-1, V)`` and ``L_AEC``: cross-entropy of ``tgt_ids[:, 1:]``
            ignoring padding, averaged over real target tokens.
        """
        memory = self.encode(src_ids, src_mask)
        dec_in = tgt_ids[:, :-1]
        dec_mask = None if tgt_mask is None else tgt_mask[:, :-1]
        logits = self.decode(dec_in, memory, src_mask, dec_mask)
        labels = tgt_ids[:, 1:]
        if tgt_mask is not None:
            labels = labels.masked_fill(~tgt_mask[:, 1:].bool(), IGNORE_INDEX)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
            label_smoothing=self.config.label_smoothing,
        )
        return ErrorCorrectionOutput(logits=logits, loss=loss)

    @torch.no_grad()
    def correct(
        self,
        src_ids: Tensor,
        src_mask: Tensor,
        beam_size: int = 5,
        max_len: int = 128,
        length_penalty: float = 1.0,
    ) -> DecodeOutput:
        """Beam-search the corrected transcription (``beam_size=1`` → greedy), at most
        ``max_len`` tokens and the config's ``max_len_a * S + max_len_b``."""
        longest = int(src_mask.sum(dim=1).max()) if src_mask.numel() else 0
        max_len = min(max_len, int(self.config.max_len_a * longest + self.config.max_len_b))
        if beam_size == 1:
            return greedy_decode(
                self, src_ids, src_mask, max_len, self.config.bos_id, self.config.eos_id
            )
        return beam_search(
            self,
            src_ids,
            src_mask,
            beam_size,
            max_len,
            self.config.bos_id,
            self.config.eos_id,
            length_penalty,
        )


def _normalise(score: float, length: int, length_penalty: float) -> float:
    # GNMT-style score / len**alpha; len counts generated tokens incl. EOS (not BOS).
    return score / (length**length_penalty)


@torch.no_grad()
def beam_search(
    model: Seq2SeqLike,
    src_ids: Tensor,
    src_mask: Tensor,
    beam_size: int,
    max_len: int,
    bos_id: int,
    eos_id: int,
    length_penalty: float = 1.0,
) -> DecodeOutput:
    """Batched beam search (works per utterance with ``B = 1``).

    Each step expands the ``K = beam_size`` live prefixes of each utterance, keeps the
    ``2K`` best continuations: those ending in EOS become finished hypotheses (ranked by
    ``sum log p / len**length_penalty``, ``len`` = generated tokens incl. EOS), the best
    ``K`` others stay live. An utterance is done once it has ``K`` finished hypotheses and
    the worst of the best ``K`` is at least the best live one's ``score / cur_len**lp``:
    exact for ``length_penalty <= 0``, the Hugging Face heuristic otherwise. Live beams
    left at ``max_len`` generated tokens are finished without EOS. A model with a key/value
    cache (``start_cache``, as :class:`ErrorCorrectionModel`) decodes one token per step,
    its cache reordered with the beams; any other :class:`Seq2SeqLike` is re-run on the
    whole prefix. Only the last position is projected to the vocabulary.

    Args:
        model: has ``encode`` and ``decode`` (see :class:`Seq2SeqLike`).
        src_ids: ``(B, S)`` source ids.
        src_mask: ``(B, S)`` 1 = real token.
        beam_size: ``K >= 1``.
        max_len: most tokens generated per hypothesis (EOS included).
        bos_id, eos_id: start and end tokens.
        length_penalty: exponent ``alpha`` of the length normalisation; 0 = raw log-prob.

    Returns:
        :class:`DecodeOutput` with the best hypothesis of each utterance.
    """
    if beam_size < 1 or max_len < 1:
        raise ValueError("beam_size and max_len must be >= 1")
    b, k = src_ids.size(0), beam_size
    memory = model.encode(src_ids, src_mask)
    memory = memory.repeat_interleave(k, dim=0)
    memory_mask = src_mask.repeat_interleave(k, dim=0)
    seqs = torch.full((b * k, 1), bos_id, dtype=torch.long, device=src_ids.device)
    scores = torch.zeros(b, k, device=src_ids.device)
    scores[:, 1:] = float("-inf")  # all beams start identical: expand only the first
    # finished[i]: (normalised score, raw log-prob, tokens without BOS/EOS)
    finished: list[list[tuple[float, float, list[int]]]] = [[] for _ in range(b)]
    done = [False] * b
    cache = model.start_cache(memory, memory_mask) if hasattr(model, "start_cache") else None
    for step in range(max_len):
        cur_len = step + 1
        if cache is not None:
            logits, cache = model.next_token_logits_cached(seqs[:, -1], cache)
        else:
            logits = model.next_token_logits(seqs, memory, memory_mask)
        logp = F.log_softmax(logits.float(), dim=-1)
        vocab = logp.size(-1)
        cand = (scores.unsqueeze(-1) + logp.view(b, k, vocab)).view(b, k * vocab)
        n_cand = min(2 * k, k * vocab)
        top_scores, top_idx = cand.topk(n_cand, dim=1)
        top_beam, top_tok = top_idx // vocab, top_idx % vocab
        new_scores = torch.full((b, k), float("-inf"), device=src_ids.device)
        new_beam = torch.zeros(b, k, dtype=torch.long, device=src_ids.device)
        new_tok = torch.full((b, k), eos_id, dtype=torch.long, device=src_ids.device)
        ts, tb, tt = top_scores.tolist(), top_beam.tolist(), top_tok.tolist()
        for i in range(b):
            if done[i]:
                continue
            n_alive = 0
            for s, beam, tok in zip(ts[i], tb[i], tt[i], strict=True):
                if s == float("-inf"):
                    break
                if tok == eos_id:
                    hyp = seqs[i * k + beam, 1:].tolist()
                    finished[i].append((_normalise(s, cur_len, length_penalty), s, hyp))
                else:
                    new_scores[i, n_alive], new_beam[i, n_alive] = s, beam
                    new_tok[i, n_alive] = tok
                    n_alive += 1
                    if n_alive == k:
                        break
            finished[i].sort(key=lambda h: h[0], reverse=True)
            best_alive = float(new_scores[i, 0])
            if best_alive == float("-inf"):
                done[i] = True
            elif len(finished[i]) >= k:
                worst_kept = finished[i][k - 1][0]
                done[i] = worst_kept >= _normalise(best_alive, cur_len, length_penalty)
        if all(done) or step == max_len - 1:
            if not all(done):
                # Out of length: the live beams of unfinished utterances compete as they are.
                for i in range(b):
                    if done[i]:
                        continue
                    for j in range(k):
                        s = float(new_scores[i, j])
                        if s == float("-inf"):
                            continue
                        hyp = seqs[i * k + int(new_beam[i, j]), 1:].tolist()
                        hyp.append(int(new_tok[i, j]))
                        finished[i].append((_normalise(s, cur_len, length_penalty), s, hyp))
            break
        flat = (torch.arange(b, device=src_ids.device)[:, None] * k + new_beam).view(-1)
        seqs = torch.cat([seqs[flat], new_tok.view(-1, 1)], dim=1)
        if cache is not None:  # each utterance's beams stay in its own rows
            cache = cache.select(flat, memory_too=False)
        scores = new_scores
    best = [
        max(f, key=lambda h: h[0]) if f else (float("-inf"), float("-inf"), []) for f in finished
    ]
    return DecodeOutput(
        sequences=[h[2] for h in best],
        scores=torch.tensor([h[0] for h in best]),
        log_probs=torch.tensor([h[1] for h in best]),
    )


@torch.no_grad()
def greedy_decode(
    model: Seq2SeqLike,
    src_ids: Tensor,
    src_mask: Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
) -> DecodeOutput:
    """Batched greedy decoding: argmax token each step until EOS or ``max_len`` tokens.

    Args and returns as :func:`beam_search`; ``scores == log_probs`` (no length penalty).
    A model with a key/value cache decodes one token per step (see :func:`beam_search`).
    """
    b = src_ids.size(0)
    memory = model.encode(src_ids, src_mask)
    seqs = torch.full((b, 1), bos_id, dtype=torch.long, device=src_ids.device)
    total = torch.zeros(b, device=src_ids.device)
    alive = torch.ones(b, dtype=torch.bool, device=src_ids.device)
    # the cache holds the rows still decoding, in order
    cache = model.start_cache(memory, src_mask) if hasattr(model, "start_cache") else None
    for _ in range(max_len):
        # Only the rows still decoding go through the decoder and the vocabulary
        # projection (most of the cost); finished rows keep emitting EOS so that the
        # batch stays rectangular.
        rows = alive.nonzero().squeeze(1)
        if cache is not None:
            logits, cache = model.next_token_logits_cached(seqs[rows, -1], cache)
        else:
            logits = model.next_token_logits(seqs[rows], memory[rows], src_mask[rows])
        best_lp, best_tok = F.log_softmax(logits.float(), dim=-1).max(dim=-1)
        tok = torch.full((b,), eos_id, dtype=torch.long, device=src_ids.device)
        tok[rows] = best_tok
        total[rows] += best_lp
        seqs = torch.cat([seqs, tok[:, None]], dim=1)
        still = tok[rows] != eos_id
        alive = alive & (tok != eos_id)
        if not alive.any():
            break
        if cache is not None:
            cache = cache.select(still.nonzero().squeeze(1))
    sequences = []
    for row in seqs[:, 1:].tolist():
        sequences.append(row[: row.index(eos_id)] if eos_id in row else row)
    return DecodeOutput(sequences=sequences, scores=total.cpu(), log_probs=total.cpu())


def to_encoder_inputs(
    sequences: Sequence[Sequence[int]],
    bos_id: int,
    eos_id: int,
    pad_id: int,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """Re-wrap decoded tokens as ``[CLS] .. [SEP]`` for the emotion BERT (gao2025 §3.3).

    Returns:
        ``(B, L)`` right-padded ids and ``(B, L)`` long attention mask.
    """
    rows = [[bos_id, *s, eos_id] for s in sequences]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros(len(rows), width, dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask
