"""The demo's acoustic pretraining: read speech, a CTC run, and weights handed to stage 1."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mlser.demo.read_speech import ReadSpeechSpec, generate_read_speech
from mlser.demo.text import vocabulary
from mlser.training.multilevel import build_model
from mlser.training.pretraining import (
    load_pretrained,
    read_speech_examples,
    run_pretraining,
    scoring_order,
)

ACOUSTIC = {
    "frontend": "logmel",
    "hubert": {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": True,
        "num_conv_pos_embeddings": 8,
        "num_conv_pos_embedding_groups": 4,
    },
}
MODELS = {"acoustic": {"tiny": ACOUSTIC}}
STAGE = {"acoustic_encoder": "tiny", "fusion": "none", "tasks": ["ser", "asr"]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("read") / "rs"
    generate_read_speech(root, ReadSpeechSpec(utterances=12, voices=("f1", "m2")))
    return root


def test_read_speech_is_unlabelled_demo_language_and_reproducible(corpus, tmp_path) -> None:
    examples = read_speech_examples(corpus)
    assert len(examples) == 12
    assert {e.emotion for e in examples} == {-100}  # no emotion label exists
    words = {w for e in examples for w in e.text.split()}
    assert words <= vocabulary()
    again = tmp_path / "again"
    generate_read_speech(again, ReadSpeechSpec(utterances=12, voices=("f1", "m2")))
    assert (again / "utterances.tsv").read_text() == (corpus / "utterances.tsv").read_text()


TRAINING = {"epochs": 2, "lr": 1e-3, "max_batch_seconds": 8, "valid_share": 0.25}


def _pretrain(corpus: Path, out: Path, **training) -> dict:
    return run_pretraining(
        corpus=corpus,
        acoustic_encoder="tiny",
        models=MODELS,
        training={**TRAINING, **training},
        out=out / "pre.pt",
        checkpoint_dir=out / "ck",
        device=torch.device("cpu"),
        log=lambda s: None,
    )


@pytest.fixture(scope="module")
def pretrained(corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pre")
    return out / "pre.pt", _pretrain(corpus, out)


def test_pretrained_encoder_and_ctc_head_reach_the_stage1_model(pretrained) -> None:
    path, record = pretrained
    assert record["valid_utterances"] == 3 and record["train_utterances"] == 9
    assert record["best_epoch"] in (1, 2) and record["valid_cer"] >= 0
    assert not (path.parent / "ck").exists()  # checkpoints cleared after success
    saved = torch.load(path, weights_only=False)["state_dict"]
    assert saved and all(k.startswith(("acoustic.", "ctc_head.")) for k in saved)
    torch.manual_seed(123)
    model = build_model(STAGE, MODELS, 4)
    head_before = model.emotion_head.proj.weight.clone()
    loaded = load_pretrained(model, path)
    assert loaded == sorted(saved)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    assert torch.equal(model.emotion_head.proj.weight, head_before)  # emotion heads stay fresh


def test_pretrained_weights_of_another_architecture_are_refused(pretrained) -> None:
    wider = {
        "acoustic": {"tiny": {**ACOUSTIC, "hubert": {**ACOUSTIC["hubert"], "hidden_size": 48}}}
    }
    with pytest.raises(ValueError, match=r"other `models\.acoustic` settings"):
        load_pretrained(build_model(STAGE, wider, 4), pretrained[0])


def test_the_pretraining_rate_follows_its_schedule(corpus, pretrained, tmp_path) -> None:
    """A cosine decay halves the rate in the second of two epochs: the first epoch is the
    constant run's, the second is not."""
    constant = pretrained[1]["history"]
    cosine = _pretrain(corpus, tmp_path, lr_schedule="cosine")["history"]
    assert cosine[0]["train_loss"] == constant[0]["train_loss"]
    assert cosine[1]["train_loss"] != constant[1]["train_loss"]


def test_scoring_order_lists_every_utterance_once_with_its_reference(corpus) -> None:
    examples = read_speech_examples(corpus)
    order, refs = scoring_order(examples, max_seconds=4.0)
    flat = [i for group in order for i in group]
    assert sorted(flat) == list(range(len(examples))) and len(order) > 1
    assert refs == [examples[i].text for i in flat]
    for group in order:  # a batch holds at most 4 s of padded audio, or one utterance
        longest = max(len(examples[i].audio) for i in group) / 16_000
        assert len(group) == 1 or longest * len(group) <= 4.0
