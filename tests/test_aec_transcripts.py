"""The ASR error correction's transcripts are written as the ASR writes its words, so that
their WER compares words (gao2025 Tables 4 and 8: the AEC lowers WER 32.45 -> 29.68)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mlser.data.transcripts import join_word_pieces, normalize_transcript
from mlser.evaluation.metrics import word_error_rate
from mlser.models.multilevel import minilm_path
from mlser.models.text import TextEncoder, TextEncoderConfig

#: Contractions, possessives (singular and plural), clipped and elided words, hyphens,
#: numbers: as released, before normalisation.
SENTENCES = [
    "I don't know, it's fine.",
    "The students' books are John's.",
    "'Cause I said so -- we'll see.",
    "You've been... they're here; I'm sure he'd go, wouldn't he?",
    "A well-known 21-year-old at nine o'clock, y'all.",
    "Goin' home to get 'em [LAUGHTER]",
    "Yes ma'am, li'l one.",
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


def _tiny_aec_model():
    """A tiny HuBERT + the frozen MiniLM + a one-layer AEC decoder (concatenation)."""
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

    return MultiLevelSER(
        MultiLevelSERConfig(
            acoustic=AcousticEncoderConfig(hubert=acoustic, frontend="logmel"),
            text=text_cfg,
            fusion="concat",
            error_correction=aec,
        ),
        text=encoder,
    )


def test_a_perfect_correction_scores_wer_zero() -> None:
    """The AEC decoder returning the reference's token ids gives the reference back: the
    bug wrote "i don ' t know it ' s fine", WER 1.35 against "i don't know it's fine"."""
    model = _tiny_aec_model()
    encoder = model.text
    refs = [normalize_transcript(s) for s in SENTENCES]

    class Perfect:
        def __init__(self, sequences: torch.Tensor) -> None:
            self.sequences = sequences

    target = encoder.tokenize(refs)["input_ids"]
    model.error_correction.correct = lambda *a, **k: Perfect(target)  # type: ignore[method-assign]
    corrected = model.correct(["i don t know its fine"] * len(refs))
    assert corrected == refs
    assert word_error_rate(refs, corrected) == 0.0


def test_the_frozen_aec_corrects_as_before_when_stage_two_adapters_train() -> None:
    """gao2025 §3.3 freezes the AEC in stage 2, but it shares BERT with the emotion path,
    whose stage-2 adapters train: the AEC reads BERT without them, so its memory and its
    corrections are those of the end of stage 1, while the emotion path's text changes."""
    from mlser.models.adapters import AdapterConfig

    torch.manual_seed(0)
    model = _tiny_aec_model().eval()
    hyps = ["i don t know its fine", "the students books", "we ll see"]
    tokens = model.text.tokenize(hyps)
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    with torch.no_grad():
        memory = model.error_correction.encode(ids, mask)
        features = model.encode_text(hyps)[0]
    corrected = model.correct(hyps, beam_size=2, max_length=12)
    adapters = model.add_adapters(AdapterConfig(bottleneck=4))
    with torch.no_grad():
        for adapter in adapters:  # as if stage 2 had trained them (they start at identity)
            adapter.up.weight.normal_(0, 1.0)
        assert not torch.allclose(model.encode_text(hyps)[0], features)
        assert torch.equal(model.error_correction.encode(ids, mask), memory)
    assert model.correct(hyps, beam_size=2, max_length=12) == corrected
    assert all(a.enabled for a in adapters)  # the emotion path keeps its adapters


def test_predict_reads_the_corrected_transcript_and_export_keeps_the_text_settings() -> None:
    """`mlser predict` scores an AEC model as the pipeline does (on its corrected
    transcript, with the run's beam settings), and an export rebuilds the text encoder
    with its trainable top layer."""
    from mlser.inference.export import LoadedModel, export_config, model_from_config
    from mlser.inference.predict import _text_source

    model = _tiny_aec_model()
    model.text.config.train_top_layers = 1
    loaded = LoadedModel(model, ("neu", "hap"), ("ser", "asr"), Path("m.pt"), {"beam_size": 3})
    assert _text_source(loaded) == "asr_corrected"
    config = export_config(model, loaded.classes, loaded.tasks, {}, loaded.correction)
    assert config["correction"] == {"beam_size": 3}
    assert config["text"]["train_top_layers"] == 1
    rebuilt = model_from_config(config, minilm_path())
    assert rebuilt.text.config.train_top_layers == 1 and rebuilt.text.config.freeze
