"""The ASR error correction's transcripts are written as the ASR writes its words, so that
their WER compares words (gao2025 Tables 4 and 8: the AEC lowers WER 32.45 -> 29.68)."""

from __future__ import annotations

import pytest
import torch

from mlser.metrics import word_error_rate
from mlser.models.multilevel import minilm_path
from mlser.models.text import TextEncoder, TextEncoderConfig
from mlser.transcripts import join_word_pieces, normalize_transcript

#: Contractions, possessives (singular and plural), clipped and elided words, hyphens,
#: numbers: as released, before normalisation.
SENTENCES = [
    "I don't know, it's fine.",
    "The students' books are John's.",
    "'Cause I said so -- we'll see.",
    "You've been... they're here; I'm sure he'd go, wouldn't he?",
    "A well-known 21-year-old at nine o'clock, y'all.",
    "Goin' home to get 'em [LAUGHTER]",
]


def _minilm() -> TextEncoder:
    return TextEncoder(TextEncoderConfig(pretrained_name=minilm_path(), freeze=True))


def _byte_bpe_tokenizer():
    """A byte-level BPE tokenizer (RoBERTa's kind), trained here on the test sentences:
    it decodes words whole, which the decoding must leave as they are."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>", "<pad>"])
    tok.train_from_iterator([normalize_transcript(s) for s in SENTENCES], trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


@pytest.mark.parametrize("kind", ["wordpiece", "byte_bpe"])
def test_decoded_token_ids_are_the_asr_form_of_the_words(kind: str) -> None:
    encoder = _minilm()
    if kind == "byte_bpe":
        encoder._tokenizer = _byte_bpe_tokenizer()
    refs = [normalize_transcript(s) for s in SENTENCES]
    ids = encoder.tokenize(refs)["input_ids"]
    assert encoder.decode(ids) == refs


def test_wordpiece_output_is_joined_and_whole_words_are_left_alone() -> None:
    assert join_word_pieces("i don ' t know it ' s fine") == "i don't know it's fine"
    assert join_word_pieces("the students ' books") == "the students' books"
    assert join_word_pieces("' cause i said") == "'cause i said"
    for s in SENTENCES:  # text written whole (a byte-level BPE's decoding) is unchanged
        assert join_word_pieces(normalize_transcript(s)) == normalize_transcript(s)


def test_a_perfect_correction_scores_wer_zero() -> None:
    """The AEC decoder returning the reference's token ids gives the reference back: the
    bug wrote "i don ' t know it ' s fine", WER 1.35 against "i don't know it's fine"."""
    from mlser.models.error_correction import ErrorCorrectionConfig
    from mlser.models.multilevel import MultiLevelSER, MultiLevelSERConfig

    text_cfg = TextEncoderConfig(pretrained_name=minilm_path(), freeze=True, max_length=32)
    encoder = TextEncoder(text_cfg)
    tok = encoder.tokenizer
    aec = ErrorCorrectionConfig(
        encoder_name=minilm_path(),
        num_decoder_layers=1,
        num_attention_heads=2,
        ffn_dim=16,
        pad_id=tok.pad_token_id,
        bos_id=tok.cls_token_id,
        eos_id=tok.sep_token_id,
    )
    acoustic = {
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": True,
        "num_conv_pos_embeddings": 8,
        "num_conv_pos_embedding_groups": 4,
    }
    from mlser.models.acoustic import AcousticEncoderConfig

    model = MultiLevelSER(
        MultiLevelSERConfig(
            acoustic=AcousticEncoderConfig(hubert=acoustic, frontend="logmel"),
            text=text_cfg,
            fusion="concat",
            error_correction=aec,
        ),
        text=encoder,
    )
    refs = [normalize_transcript(s) for s in SENTENCES]

    class Perfect:
        def __init__(self, sequences: torch.Tensor) -> None:
            self.sequences = sequences

    target = encoder.tokenize(refs)["input_ids"]
    model.error_correction.correct = lambda *a, **k: Perfect(target)  # type: ignore[method-assign]
    corrected = model.correct(["i don t know its fine"] * len(refs))
    assert corrected == refs
    assert word_error_rate(refs, corrected) == 0.0
