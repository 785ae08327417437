"""Pretraining the demo's acoustic encoder for CTC on unlabelled read speech.

The papers start every experiment from HuBERT-large, pretrained on 60,000 hours of
Libri-Light before any emotion corpus is seen, and fine-tune it for 100 epochs. The demo's
tiny random-init HuBERT has no such start: trained from scratch in every fold it needed 30
epochs per job and still transcribed poorly (WER 0.65). This step gives it one: a CTC
pretraining on the demo's read-speech corpus (:func:`mlser.demo.read_speech.generate_read_speech`:
no emotion labels, no utterance of any emotion corpus), run once and shared by every fold
and experiment, so each stage-1 job fine-tunes from it as the papers' do from HuBERT-large.
It differs from HuBERT's self-supervised objective (supervised CTC here, so the CTC head is
pretrained too): it stands in for the pretrained checkpoint, not for its recipe. The paper
config downloads the real checkpoint instead and never runs this step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mlser.atomic import atomic_path
from mlser.data.audio import load_audio
from mlser.data.batching import SAMPLE_RATE, Batch, Example, batches_of, collate
from mlser.models.losses import ctc_loss
from mlser.models.multilevel import MultiLevelSER
from mlser.models.specs import build_model

#: the parts of a multi-level model this step trains and hands on
PRETRAINED_PARTS = ("acoustic.", "ctc_head.")


def read_speech_examples(root: str | os.PathLike[str]) -> list[Example]:
    """The utterances of a read-speech corpus (``utterances.tsv``) as unlabelled examples."""
    table_path = Path(root) / "utterances.tsv"
    table = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False)
    missing = {"utt_id", "path", "text"} - set(table.columns)
    if missing:
        raise ValueError(f"{table_path}: missing columns {sorted(missing)}")
    return [
        Example(r.utt_id, load_audio(Path(root) / r.path, SAMPLE_RATE), r.text, -100, -100, -100)
        for r in table.itertuples(index=False)
    ]


def split_examples(
    examples: list[Example], valid_share: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """A random held-out share for choosing the epoch (by CER)."""
    order = np.random.default_rng(seed).permutation(len(examples))
    n_valid = max(1, round(valid_share * len(examples)))
    valid = {int(i) for i in order[:n_valid]}
    return (
        [e for i, e in enumerate(examples) if i not in valid],
        [e for i, e in enumerate(examples) if i in valid],
    )


def pretraining_stage(acoustic_encoder: str) -> dict[str, Any]:
    """The stage block of the model this step trains: the acoustic encoder and CTC head."""
    return {"acoustic_encoder": acoustic_encoder, "fusion": "none", "tasks": ["ser", "asr"]}


def scoring_order(examples: list[Example], max_seconds: float) -> tuple[list[list[int]], list[str]]:
    """Length-bucketed index batches of ``examples`` in a fixed order, and the reference
    transcripts in that order (the order :func:`transcribe` returns hypotheses in)."""
    position = {id(e): i for i, e in enumerate(examples)}
    groups = batches_of(examples, max_seconds, 0, shuffle=False)
    order = [[position[id(e)] for e in g] for g in groups]
    return order, [examples[i].text for g in order for i in g]


def ctc_step(device: torch.device) -> Callable[[MultiLevelSER, Batch], torch.Tensor]:
    """CTC loss of one batch (the model's emotion heads are not used)."""

    def step(model: MultiLevelSER, batch: Batch) -> torch.Tensor:
        batch = batch.to(device)
        features, mask = model.acoustic(batch.waveforms, batch.lengths)
        targets, lengths = model.tokenizer.batch_encode(batch.texts)
        return ctc_loss(
            model.ctc_head(features), mask.sum(-1), targets.to(device), lengths.to(device)
        )

    return step


@torch.no_grad()
def transcribe(
    model: MultiLevelSER, examples: list[Example], batches: list[list[int]], device: torch.device
) -> list[str]:
    """Greedy transcripts of ``examples`` in the order of ``batches`` (index lists)."""
    model.eval()
    out: list[str] = []
    for group in batches:
        batch = collate([examples[i] for i in group]).to(device)
        out += model.transcribe(batch.waveforms, batch.lengths)
    return out


def acoustic_ctc_state(model: MultiLevelSER) -> dict[str, torch.Tensor]:
    """CPU copies of the acoustic encoder's and CTC head's weights (what this step hands
    on), by their names in the model."""
    return {
        k: v.detach().cpu().clone()
        for k, v in model.state_dict().items()
        if k.startswith(PRETRAINED_PARTS)
    }


def save_pretrained(path: str | os.PathLike[str], state: dict[str, Any], spec: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save({"spec": spec, "state_dict": state}, tmp)


def load_pretrained(model: MultiLevelSER, path: str | os.PathLike[str]) -> list[str]:
    """Copy a pretrained acoustic encoder and CTC head into ``model``; returns the names
    loaded. The architectures must match (same ``models.acoustic`` spec)."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    state = saved["state_dict"]
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if mismatched:
        raise ValueError(
            f"{path}: pretrained weights do not fit this model's acoustic encoder "
            f"(e.g. {mismatched[:3]}); was it pretrained with other `models.acoustic` settings?"
        )
    model.load_state_dict(state, strict=False)
    return sorted(state)


def run_pretraining(
    *,
    corpus: str | os.PathLike[str],
    acoustic_encoder: str,
    models: dict[str, Any],
    training: dict[str, Any],
    out: str | os.PathLike[str],
    checkpoint_dir: str | os.PathLike[str],
    device: torch.device | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Pretrain ``models.acoustic[acoustic_encoder]`` for CTC on the read speech at
    ``corpus``; keep the epoch with the lowest held-out CER; save to ``out``."""
    from mlser.evaluation import metrics
    from mlser.provenance import provenance
    from mlser.training.loop import TrainConfig, clear_checkpoints, fit

    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    seed = int(training.get("seed", 0))
    examples = read_speech_examples(corpus)
    train, valid = split_examples(examples, float(training.get("valid_share", 0.05)), seed)
    torch.manual_seed(seed)
    model = build_model(pretraining_stage(acoustic_encoder), models, num_emotions=2).to(device)
    max_seconds = float(training.get("max_batch_seconds", 20.0))
    config = TrainConfig(
        epochs=int(training["epochs"]),
        lr=float(training["lr"]),
        seed=seed,
        select_metric="neg_cer",
        lr_schedule=str(training.get("lr_schedule", "constant")),
    )
    valid_order, refs = scoring_order(valid, max_seconds)

    def batches(epoch: int) -> list[Batch]:
        return [collate(g) for g in batches_of(train, max_seconds, seed + epoch, True)]

    def validate(m: MultiLevelSER) -> dict[str, float]:
        cer = metrics.char_error_rate(refs, transcribe(m, valid, valid_order, device))
        return {"neg_cer": -cer}

    context = f"acoustic pretraining of {acoustic_encoder}"
    result = fit(model, batches, ctc_step(device), validate, config, checkpoint_dir, context, log)
    model.load_state_dict(result.best_state)
    hyps = transcribe(model, valid, valid_order, device)
    record = {
        "acoustic_encoder": acoustic_encoder,
        "train_utterances": len(train),
        "valid_utterances": len(valid),
        "best_epoch": result.best_epoch,
        "valid_cer": metrics.char_error_rate(refs, hyps),
        "valid_wer": metrics.word_error_rate(refs, hyps),
        "history": result.history,
        "settings": {"models": models, "training": training},
        "provenance": provenance(),
    }
    spec = {"acoustic_encoder": acoustic_encoder, "acoustic": models["acoustic"][acoustic_encoder]}
    save_pretrained(out, acoustic_ctc_state(model), spec)
    clear_checkpoints(checkpoint_dir)
    return record
