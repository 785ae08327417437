"""Training and scoring of the multi-level family (gao2024, gao2025).

An experiment's stage blocks (``config/experiments/*.yaml``) say which encoders, fusion,
tasks and strategy a stage uses; the config's ``models`` section says what the encoder
names mean on this run (HuBERT-large and BERT-base on the paper config, a small
random-init HuBERT and MiniLM on the demo).

* Stage 1 trains a fresh model on the stage-1 tasks (emotion + λ·CTC + λ·gender + λ·style).
* Stage 2 starts from a trained model; where the stage-2 block adds a text encoder or
  fusion (gao2024's second stage) the new parts are built and the old weights loaded;
  ``strategy: adapters`` freezes both encoders and trains bottleneck adapters (gao2025).
* Scoring runs the final model on the test partition with the test-time text source:
  ground truth, the model's own greedy CTC transcript (``asr``), or that transcript after
  the model's ASR error correction (``asr_corrected``, beam search).
* AEC and CL (gao2025 §3.3, Eq. 16/17): with ``aec`` in the stage tasks an error-correction
  decoder on the shared text encoder learns to turn the model's own greedy CTC hypotheses of
  the batch into the ground truth (λ_AEC · cross-entropy); with ``cl`` the time-pooled text
  features of the ground truth and of the hypothesis (corrected by the AEC, greedily, where
  the model has one) are aligned by InfoNCE (λ_c). The paper pre-trains its AEC on Common
  Voice + IEMOCAP transcripts; here it learns from the fold's training utterances only.

Model selection uses the fold's ``valid`` partition only (never the test session), the
model reading there what it reads at test time (:func:`selection_text_source`). The AEC, and
BERT in a model that reads ASR output at test time, read the ground truth normalised as the
ASR output is (:func:`reference_texts`); BERT in a model that reads the ground truth at test
time reads it as released, less IEMOCAP's event tags (:func:`ground_truth_texts`), as the
papers' BERT reads "the ground-truth transcription". (The other two families read the
release's text whole, tags such as ``[LAUGHTER]`` included: their papers say "transcripts"
and nothing of the tags; a reading, not something they state.)
A text-only row's model read on another model's transcripts (``transcripts`` of
:func:`predict`: gao2025 Fig. 2(b)) is the one its rows score on the ground truth, trained
on it as released: what it reads then differs in punctuation as well as in words.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import torch

from mlser.atomic import write_json
from mlser.data.batching import Batch, Example, batches_of, collate
from mlser.data.transcripts import normalize_transcript, strip_event_tags
from mlser.evaluation.metrics import selection_scores
from mlser.experiments import TEXT_SOURCES
from mlser.models.adapters import AdapterConfig, count_parameters
from mlser.models.contrastive import ContrastiveConfig, ContrastiveLoss
from mlser.models.fusion import FusionOutput, utterance_gate_means
from mlser.models.losses import LossWeights, MultiTaskTargets, multitask_loss
from mlser.models.multilevel import MultiLevelSER
from mlser.models.specs import StageError, build_model, merge_stage, saved_config
from mlser.training.loop import (
    TrainConfig,
    check_finite_scores,
    clear_checkpoints,
    fit,
    selection_record,
    with_row_selection,
)
from mlser.training.model_files import load_model_file, pretrained_state, save_model_file, size_note
from mlser.training.pretraining import load_pretrained

TASK_WEIGHTS = {"asr": "asr", "gender": "gender", "style": "style"}
ALIGNMENT_TASKS = ("aec", "cl")


def loss_weights(tasks: list[str], weights: dict[str, float]) -> LossWeights:
    """λ per task: the config's weights (default: the papers' 0.1) for the tasks the stage
    names, 0 for the rest."""
    if "ser" not in tasks:
        raise StageError(f"stage tasks {tasks} lack 'ser'")
    unknown = sorted(set(tasks) - {"ser", *TASK_WEIGHTS, *ALIGNMENT_TASKS})
    if unknown:
        raise StageError(f"stage tasks {unknown} are not supported by the multi-level training")
    paper = LossWeights()
    return LossWeights(
        emotion=float(weights.get("emotion", paper.emotion)),
        asr=float(weights.get("asr", paper.asr)) if "asr" in tasks else 0.0,
        gender=float(weights.get("gender", paper.gender)) if "gender" in tasks else 0.0,
        style=float(weights.get("style", paper.style)) if "style" in tasks else 0.0,
    )


def alignment_weights(tasks: list[str], weights: dict[str, float]) -> dict[str, float]:
    """λ_AEC and λ_c (gao2025 Eq. 16/17; the paper's 0.1 by default) for the tasks named."""
    return {t: float(weights.get(t, 0.1)) if t in tasks else 0.0 for t in ALIGNMENT_TASKS}


def reference_texts(texts: list[str]) -> list[str]:
    """Ground-truth transcripts as BERT and the AEC read them: normalised as the ASR
    output is (mlser.data.transcripts), so that the text of training and the ASR text of
    inference differ in words only, never in case, punctuation or IEMOCAP's [LAUGHTER]
    tags (the papers do not say; the manifests keep the release text as it is)."""
    return [normalize_transcript(t) for t in texts]


def ground_truth_texts(texts: list[str], release: bool) -> list[str]:
    """Ground-truth transcripts as BERT reads them: as released less event tags
    (``release``: a model that reads the ground truth at test time too; punctuation such as
    "?!" is part of what it reads), else :func:`reference_texts` (a model that reads ASR
    output at test time: training text and test text then differ in words only)."""
    return [strip_event_tags(t) for t in texts] if release else reference_texts(texts)


def _forward(
    model: MultiLevelSER,
    batch: Batch,
    text_source: str,
    texts: list[str] | None = None,
    release_text: bool = False,
) -> Any:
    """The model on ``batch``; with ``ground_truth`` BERT reads ``texts`` (the batch's
    :func:`ground_truth_texts` where not given)."""
    read = None
    if model.text is not None and text_source == "ground_truth":
        read = texts if texts is not None else ground_truth_texts(batch.texts, release_text)
    return model(batch.waveforms, batch.lengths, texts=read)


def make_step(
    weights: LossWeights,
    device: torch.device,
    alignment: dict[str, float] | None = None,
    temperature: float = 0.07,
    ctc_reduction: str = "mean",
    release_text: bool = False,
) -> Callable[[MultiLevelSER, Batch], torch.Tensor]:
    """The training loss of one batch (ground-truth text, as the papers train, in the form
    of :func:`ground_truth_texts` with ``release_text``), plus λ_AEC · L_AEC and λ_c · L_c
    where ``alignment`` weights them; ``ctc_reduction``: see :mod:`mlser.models.losses`."""
    alignment = alignment or {}
    contrastive = ContrastiveLoss(ContrastiveConfig(temperature=temperature))

    def step(model: MultiLevelSER, batch: Batch) -> torch.Tensor:
        batch = batch.to(device)
        references = reference_texts(batch.texts)  # the AEC's targets
        bert = ground_truth_texts(batch.texts, True) if release_text else references
        out = _forward(model, batch, "ground_truth", bert)
        ctc, ctc_lengths = (None, None)
        if weights.asr:
            ctc, ctc_lengths = model.tokenizer.batch_encode(batch.texts)
            ctc, ctc_lengths = ctc.to(device), ctc_lengths.to(device)
        targets = MultiTaskTargets(batch.emotion, ctc, ctc_lengths, batch.gender, batch.style)
        total = multitask_loss(out, targets, weights, ctc_reduction).total
        if alignment.get("aec") or alignment.get("cl"):
            hyps = test_time_transcripts(model, batch)
            total = total + alignment_loss(model, out, references, alignment, contrastive, hyps)
        return total

    return step


def test_time_transcripts(model: MultiLevelSER, batch: Batch) -> list[str]:
    """The model's greedy CTC transcripts of ``batch`` as inference makes them: eval mode
    (no SpecAugment, LayerDrop or dropout), no gradient. The AEC learns to correct, and the
    contrastive loss aligns with, the transcripts it meets at test time (gao2025 §4.2: the
    fine-tuned HuBERT's transcriptions), not the training pass's noisier ones; one more
    acoustic forward per batch."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model.transcribe(batch.waveforms, batch.lengths)
    finally:
        model.train(was_training)


def alignment_loss(
    model: MultiLevelSER,
    out: Any,
    references: list[str],
    alignment: dict[str, float],
    contrastive: ContrastiveLoss,
    hyps: list[str],
) -> torch.Tensor:
    """λ_AEC · L_AEC + λ_c · L_c of one batch, on the model's greedy CTC hypotheses ``hyps``
    (:func:`test_time_transcripts`)."""
    if out.ctc_log_probs is None or model.text is None or out.linguistic is None:
        raise StageError("AEC and the contrastive loss need both speech and text encoders")
    total = out.emotion_logits.new_zeros(())
    if alignment.get("aec"):
        if model.error_correction is None:
            raise StageError("task 'aec' but the model has no error-correction module")
        device = out.emotion_logits.device
        src = model.text.tokenize(hyps, device=device)
        tgt = model.text.tokenize(references, device=device)
        aec = model.error_correction(
            src["input_ids"], src["attention_mask"], tgt["input_ids"], tgt["attention_mask"]
        )
        total = total + alignment["aec"] * aec.loss
    if alignment.get("cl"):
        # gao2025 Exp-37: CL on the corrected transcript where the model corrects
        texts = hyps
        if model.error_correction is not None:
            # decoded as at test time, without dropout: the corrected transcript stands
            # in for the one the model reads at inference
            was_training = model.training
            model.eval()
            try:
                texts = model.correct(hyps, beam_size=1, max_length=model.text.config.max_length)
            finally:
                model.train(was_training)
        asr, asr_mask = model.encode_text(texts)
        total = total + alignment["cl"] * contrastive(
            out.linguistic, asr, out.linguistic_mask, asr_mask
        )
    return total


def _check_transcripts(
    model: MultiLevelSER,
    examples: list[Example],
    transcripts: Mapping[str, str],
    text_source: str,
) -> None:
    """Another model's transcripts are read by a text-only model, as ASR output, and
    cover every test utterance."""
    if model.text is None or model.acoustic is not None or text_source != "asr":
        raise StageError(
            "another model's transcripts are read by a text-only model with text source "
            f"'asr' (this one: text source {text_source!r}, "
            f"{'no text encoder' if model.text is None else 'an acoustic encoder'})"
        )
    missing = [e.utt_id for e in examples if e.utt_id not in transcripts]
    if missing:
        raise StageError(f"{len(missing)} test utterance(s) have no transcript, e.g. {missing[:3]}")


@torch.no_grad()
def predict(
    model: MultiLevelSER,
    examples: list[Example],
    classes: tuple[str, ...],
    text_source: str,
    max_seconds: float,
    device: torch.device,
    tasks: tuple[str, ...] = ("ser", "asr", "gender", "style"),
    correction: dict[str, Any] | None = None,
    release_text: bool = False,
    transcripts: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Per-utterance predictions: probabilities, labels, transcript and gate means.

    Transcripts, gender and style predictions are given only for the ``tasks`` the model
    was trained on ("" / -100 otherwise), so that untrained heads never reach a metric.
    With ``asr_corrected`` the transcript is the corrected one (its WER is the AEC's, as
    gao2025 reports it) and ``transcript_asr`` holds the hypothesis before correction;
    ``correction`` gives ``beam_size`` and ``max_length`` of the beam search;
    ``release_text``: the ground truth's form (:func:`ground_truth_texts`), as trained.
    ``transcripts``: another model's ASR transcripts by utterance id, which a text-only
    model reads with ``asr`` (gao2025 Fig. 2(b): BERT on HuBERT's transcripts); they are
    its ``transcript`` column.
    """
    if text_source not in TEXT_SOURCES:
        raise StageError(f"text source {text_source!r} is not supported yet ({TEXT_SOURCES})")
    if transcripts is not None:
        _check_transcripts(model, examples, transcripts, text_source)
    elif text_source == "asr" and model.text is not None and model.acoustic is None:
        raise StageError("a text-only model cannot read ASR transcripts of its own")
    if text_source == "none" and model.text is not None:
        raise StageError("this model reads text: its text source cannot be 'none'")
    if text_source in ("asr", "asr_corrected") and "asr" not in tasks and transcripts is None:
        raise StageError("the model was not trained for ASR: it cannot read its own transcripts")
    if text_source == "asr_corrected" and model.error_correction is None:
        raise StageError("text source 'asr_corrected' needs a model trained with task 'aec'")
    correction = correction or {}
    model.eval()
    rows: list[dict[str, Any]] = []
    for group in batches_of(examples, max_seconds, seed=0, shuffle=False):
        batch = collate(group).to(device)
        raw: list[str] | None = None
        if text_source == "asr_corrected":
            raw = model.transcribe(batch.waveforms, batch.lengths)
            corrected = model.correct(
                raw, int(correction.get("beam_size", 5)), int(correction.get("max_length", 128))
            )
            out = model(batch.waveforms, batch.lengths, texts=corrected)
            out.transcripts = corrected
        elif transcripts is not None:
            read = [transcripts[e.utt_id] for e in group]
            out = model(batch.waveforms, batch.lengths, texts=read)
            out.transcripts = read
        else:
            out = _forward(model, batch, text_source, release_text=release_text)
        probs = out.emotion_logits.softmax(-1).cpu().numpy()
        check_finite_scores(probs, [e.utt_id for e in group], "multi-level scoring")
        hyps: list[str | None] = [None] * len(group)
        if out.transcripts is not None:
            hyps = list(out.transcripts)
        elif out.ctc_log_probs is not None and "asr" in tasks:
            hyps = model.tokenizer.greedy_decode(out.ctc_log_probs, out.ctc_lengths)
        gates = utterance_gate_means(FusionOutput(out.fused, out.gates, out.gate_masks))
        gender = style = None
        if out.gender_logits is not None and "gender" in tasks:
            gender = out.gender_logits.argmax(-1).cpu().numpy()
        if out.style_logits is not None and "style" in tasks:
            style = out.style_logits.argmax(-1).cpu().numpy()
        for i, e in enumerate(group):
            row = {
                "utt_id": e.utt_id,
                "gold": classes[e.emotion],
                "pred": classes[int(probs[i].argmax())],
                **{f"p_{c}": float(probs[i, k]) for k, c in enumerate(classes)},
                "text": e.text,
                "gender": e.gender,
                "pred_gender": int(gender[i]) if gender is not None else -100,
                "style": e.style,
                "pred_style": int(style[i]) if style is not None else -100,
            }
            # only a model that transcribes has the column: an empty transcript of one
            # counts in its WER (all words deleted), not as "no ASR"
            if hyps[i] is not None:
                row["transcript"] = hyps[i]
            if raw is not None:
                row["transcript_asr"] = raw[i]
            for name, value in gates.items():
                row[f"gate_{name}"] = float(value[i])
            rows.append(row)
    return pd.DataFrame(rows).sort_values("utt_id", kind="stable").reset_index(drop=True)


def train_stage(
    model: MultiLevelSER,
    tasks: list[str],
    train: list[Example],
    valid: list[Example],
    classes: tuple[str, ...],
    training: dict[str, Any],
    checkpoint_dir: str | os.PathLike[str],
    context: str,
    device: torch.device,
    log: Callable[[str], None] = print,
    temperature: float = 0.07,
    valid_text_source: str = "ground_truth",
    test: list[Example] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place on ``tasks``; keep the weights with the best validation
    ``training["select_metric"]`` (default UA), the model reading ``valid_text_source``
    (see :func:`selection_text_source`). With ``test`` and ``training["test_peek"]``
    each epoch's history also gets the test set's metrics, read the same way (``fit``'s
    ``peek``: the report's optimistic bound, never the selection)."""
    weights = loss_weights(tasks, training.get("loss_weights", {}))
    alignment = alignment_weights(tasks, training.get("loss_weights", {}))
    config = TrainConfig(**{k: v for k, v in training.items() if k in _TRAIN_FIELDS})
    max_seconds = float(training.get("max_batch_seconds", 40.0))
    batch_size = training.get("batch_size")

    def batches(epoch: int) -> list[Batch]:
        groups = batches_of(train, max_seconds, config.seed + epoch, True, batch_size)
        return [collate(g) for g in groups]

    # greedy correction: the beam only refines what test-time scoring reads
    greedy = {"beam_size": 1, "max_length": model.text.config.max_length} if model.text else None
    release_text = valid_text_source == "ground_truth"

    def scorer(examples: list[Example]) -> Callable[[MultiLevelSER], dict[str, float]]:
        """Selection metrics on ``examples``, read as the selection reads the valid set."""

        def score(m: MultiLevelSER) -> dict[str, float]:
            pred = predict(
                m,
                examples,
                classes,
                valid_text_source,
                max_seconds,
                device,
                correction=greedy,
                release_text=release_text,
            )
            return selection_scores(pred["gold"], pred["pred"])

        return score

    # A pretrained text encoder fine-tunes at its own (smaller) rate; the papers use one
    # rate (1e-5) for everything, which text_lr defaults to.
    text_scale = float(training.get("text_lr", config.lr)) / config.lr

    def lr_scale(name: str) -> float:
        return text_scale if name.startswith("text.") and "bottleneck_adapter" not in name else 1.0

    model.to(device)
    ctc_reduction = str(training.get("ctc_reduction", "mean"))
    step = make_step(weights, device, alignment, temperature, ctc_reduction, release_text)
    peek = scorer(test) if test is not None and training.get("test_peek") else None
    result = fit(
        model, batches, step, scorer(valid), config, checkpoint_dir, context, log, lr_scale, peek
    )
    model.load_state_dict(result.best_state)
    trainable, total = count_parameters(model)
    return {
        "best_epoch": result.best_epoch,
        **selection_record(result, config.select_metric, [e.utt_id for e in valid]),
        "valid_text_source": valid_text_source,
        # the form in which BERT read the ground truth (ground_truth_texts)
        "ground_truth_text": "release" if release_text else "normalised",
        "resumed_from_epoch": result.resumed_from,
        "skipped_batches": result.skipped_batches,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "history": result.history,
    }


_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def load_model(path: str | os.PathLike[str]) -> tuple[MultiLevelSER, dict[str, Any]]:
    """Rebuild a model saved by :func:`mlser.training.model_files.save_model_file`, with
    its spec: from the config it was saved with (:func:`mlser.models.specs.saved_config`)."""
    model, spec = load_model_file(path, lambda spec: MultiLevelSER(saved_config(spec)))
    return model, spec  # type: ignore[return-value]


def correction_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """``beam_size`` and ``max_length`` of the ASR error correction's beam search, as the
    run that trained the model (its spec) set them in ``models.error_correction``."""
    aec = spec.get("models", {}).get("error_correction") or {}
    return {k: v for k, v in aec.items() if k in ("beam_size", "max_length")}


def selection_text_source(
    model: MultiLevelSER, tasks: list[str], scored_on_asr: bool = True
) -> str:
    """The text ``model`` reads while its best epoch is chosen: the text it reads at test
    time. A model with a text encoder and an ASR head (``tasks``: over both stages) reads
    its own transcript, corrected where it has an AEC (the papers' inference: "the ASR
    transcript at inference"), unless no row scored with or built on it reads ASR output
    (``scored_on_asr`` False: gao2025 Exp-12, speech + ground truth in Table 3;
    :func:`mlser.experiments.selects_on_ground_truth`); a text-only model reads its ground
    truth; a speech model none. One choice per model, not per row: rows that score one
    checkpoint on other text (gao2025 Exp-10 on the true transcript) share the checkpoint
    chosen this way."""
    if model.text is None:
        return "none"
    if model.acoustic is None or "asr" not in tasks or not scored_on_asr:
        return "ground_truth"
    return "asr_corrected" if model.error_correction is not None else "asr"


#: The task each utterance head is trained on.
HEAD_TASKS = {"emotion_head": "ser", "gender_head": "gender", "style_head": "style"}


def head_handover(
    start_stage: dict[str, Any], stage: dict[str, Any], start_tasks: list[str]
) -> dict[str, str]:
    """What stage 2 does with each utterance head of the model it starts from.

    A head is ``carried`` when it reads the same vector as before (the same encoders and
    fusion: gao2025 §3.1.2 feeds both stages' heads the same fused F) and was trained on
    its task before; it starts ``fresh (new input)`` when the vector changes (gao2024 §3.2:
    stage 2 adds BERT and the fusion to the speech-only model, so the heads that read
    pooled HuBERT now read F, of another width at the papers' sizes), and ``fresh
    (untrained)`` when its task was not trained before (a random head is not a start).
    """
    same_input = all(
        (start_stage.get(k) or None) == (stage.get(k) or None)
        for k in ("acoustic_encoder", "text_encoder", "fusion")
    )
    return {
        head: (
            "fresh (new input)"
            if not same_input
            else "carried"
            if task in start_tasks
            else "fresh (untrained)"
        )
        for head, task in HEAD_TASKS.items()
    }


def run_stage(
    *,
    stage_number: int,
    experiment: dict[str, Any],
    data: dict[str, list[Example]],
    classes: tuple[str, ...],
    models: dict[str, Any],
    training: dict[str, Any],
    out: str | os.PathLike[str],
    checkpoint_dir: str | os.PathLike[str],
    init: str | os.PathLike[str] | None = None,
    acoustic_init: str | os.PathLike[str] | None = None,
    device: torch.device | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train stage 1 (fresh) or stage 2 (from ``init``) of ``experiment`` and save it.

    ``acoustic_init``: a pretrained acoustic encoder (+ CTC head) stage 1 starts from
    (:mod:`mlser.training.pretraining`, the demo's stand-in for HuBERT's pretraining).

    Writes the model to ``out`` and returns the training record (also written beside it
    as ``<out>.json``).
    """
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model_spec = experiment["model"]
    training = with_row_selection(training, model_spec.get(f"stage{stage_number}"))
    context = f"experiment {experiment['id']}, stage {stage_number}, fold {experiment['fold']}"
    adapters = None
    heads: dict[str, str] | None = None  # stage 2: what became of each utterance head
    start_spec: dict[str, Any] = {}
    init_state: dict[str, torch.Tensor] | None = None
    if stage_number == 1:
        stage = dict(model_spec["stage1"])
        torch.manual_seed(int(training.get("seed", 0)))
        model = build_model(stage, models, len(classes))
        pretrained = pretrained_state(model)
        if acoustic_init is not None and model.acoustic is not None:
            loaded = load_pretrained(model, acoustic_init)
            log(f"{context}: {len(loaded)} pretrained tensors from {acoustic_init}")
    else:
        if init is None:
            raise StageError(f"{context}: stage 2 needs the model it starts from")
        start, start_spec = load_model(init)
        # what this stage starts from, before training changes it in place
        init_state = {k: v.detach().clone() for k, v in start.state_dict().items()}
        stage = merge_stage(start_spec["stage"], model_spec["stage2"])
        heads = head_handover(start_spec["stage"], stage, start_spec["tasks"])
        if stage == start_spec["stage"]:  # the same model trains on (gao2025 Exp-21)
            model, pretrained = start, {}
        else:  # new tasks or strategy (gao2025), or BERT and the fusion added (gao2024)
            torch.manual_seed(int(training.get("seed", 0)))
            model = build_model(stage, models, len(classes), start.error_correction is not None)
            pretrained = pretrained_state(model)
            fresh_heads = {h for h, how in heads.items() if how != "carried"}
            carried = {
                k: v for k, v in start.state_dict().items() if k.split(".")[0] not in fresh_heads
            }
            missing = model.load_state_dict(carried, strict=False)
            fresh = sorted({k.split(".")[0] for k in missing.missing_keys})
            log(f"{context}: parts new in this stage, initialised fresh: {fresh}")
        log(f"{context}: utterance heads: {heads}")
        adapters = start_spec.get("adapters")
    if stage.get("strategy") == "adapters":
        adapters = dict(models.get("adapter", {}))
        model.add_adapters(AdapterConfig(**adapters))
    # tasks: every task the model's heads were trained on, over both stages
    tasks = sorted(set(stage["tasks"]) | set(start_spec["tasks"] if stage_number == 2 else []))
    selection_text = selection_text_source(
        model, tasks, not experiment.get("select_on_ground_truth", False)
    )
    record = train_stage(
        model,
        list(stage["tasks"]),
        data["train"],
        data["valid"],
        classes,
        training,
        checkpoint_dir,
        context,
        device,
        log,
        float(models.get("contrastive", {}).get("temperature", 0.07)),
        selection_text,
        data.get("test"),
    )
    if heads is not None:
        record["heads"] = heads
    spec = {
        "stage": stage,
        "tasks": tasks,
        "models": models,
        "classes": list(classes),
        "adapters": adapters,
        # the text its epoch was chosen on, and so the ground truth's form it was trained on
        "selection_text": selection_text,
        # what rebuilds the model (load_model); the rest says what it was trained as
        "config": model.config.to_dict(),
    }
    sizes = save_model_file(out, spec, model.cpu(), pretrained, init, init_state)
    log(f"{context}: {size_note(sizes)}")
    from mlser.provenance import provenance

    write_json(
        f"{out}.json",
        {
            "experiment": experiment["id"],
            "stage": stage_number,
            **record,
            # what the job leaves on disk (the rehearsal's bill); a benchmark's io_out
            # counts block-device writes only and reads ~0 on tmpfs or overlay disks
            "model_file_bytes": os.path.getsize(out),
            "init": os.fspath(init) if init else None,  # the row passport checks its selection too
            # the resolved settings this model was trained with, and what ran it
            "settings": {"experiment": experiment, "models": models, "training": training},
            "provenance": provenance(models),
        },
    )
    # last: a job killed before this point resumes from the final epoch, not from scratch
    clear_checkpoints(checkpoint_dir)
    return record


def evaluate(
    *,
    model_path: str | os.PathLike[str],
    data: list[Example],
    text_source: str,
    max_seconds: float,
    device: torch.device | None = None,
    transcripts: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Predictions of a saved model on ``data`` with the given test-time text source
    (``transcripts``: another model's, read by a text-only model; see :func:`predict`)."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, spec = load_model(model_path)
    model.to(device)
    classes = tuple(spec["classes"])
    tasks = tuple(spec.get("tasks", spec["stage"]["tasks"]))
    correction = correction_settings(spec)
    # the ground truth in the form the model was trained on (as train_stage decided it;
    # files saved before the spec recorded it: the rule of that time)
    selected_on = spec.get("selection_text") or selection_text_source(model, list(tasks))
    release = selected_on == "ground_truth"
    return predict(
        model, data, classes, text_source, max_seconds, device, tasks, correction, release,
        transcripts,
    )  # fmt: skip
