"""Training and scoring of the LE-MER family (wang2023).

A row's stage blocks say what a stage trains (``config/experiments/wang2023.yaml``):

* ``strategy: continued_pretraining`` (tasks ``[ssl]``): the "2nd stage pretraining" of
  the speech encoder on the fold's training utterances, predicting each frame's unit of
  the fold's codebook (:mod:`mlser.features.codebook`); shared by every row with that block.
* ``strategy: full_finetune``: a fresh system (stage 1) or the pre-trained speech encoder
  plus whatever the stage-2 block adds (stage 2) trained on emotion, with the label
  objectives the tasks name. Label embeddings start from the fold's keyword table
  (text, ``init: tfidf``), the label names (``label_words`` / ``bert_embedding``), the
  fold's Top-K codebook frames (``codebook``) or at random.

Keyword embeddings: each keyword is fed to the system's own text encoder and its subword
token features are averaged (wang2023 §2.1 "by averaging the token embeddings"); a
class's label embedding is the mean over its K keywords (:mod:`mlser.models.label_embedding`).
A wav2vec 2.0 codebook's code embeddings live in its checkpoint's contrastive space
(``project_q``); the codebook brings the checkpoint's ``project_hid`` along, and the
label-frame attention compares ``project_hid(H_s)`` with them (the checkpoint must be the
speech encoder's own, as in §2.2). Model selection uses the fold's ``valid`` partition only.

Learning rates (§3.2 gives 1e-6 for wav2vec 2.0 and 5e-6 for BERT, with an 8000-step
warm-up): ``lr`` is the speech encoder's (and the continued pre-training's), ``text_lr``
the text encoder's, ``head_lr`` every layer the system adds (classifiers, ``W`` of Eq. 7,
label embeddings and their projections, the unit-prediction head; the paper is silent;
default ``lr``). ``project_hid`` taken from the speech checkpoint trains at ``lr`` with the
rest of that model. ``warmup_steps`` (:class:`mlser.training.loop.TrainConfig`) warms every
rate up linearly over the first optimiser steps.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from mlser.atomic import write_json
from mlser.data.batching import Batch, Example, batches_of, collate
from mlser.evaluation.metrics import selection_scores
from mlser.features.codebook import Codebook, code_ids_of, load_codebook
from mlser.features.label_keywords import keywords_by_class, read_keywords
from mlser.models.acoustic import AcousticEncoderConfig
from mlser.models.lemer_system import IGNORE, LEMERSystem, LEMERSystemConfig
from mlser.models.specs import StageError, lookup, merge_stage
from mlser.models.text import TextEncoderConfig
from mlser.pretrained import resolve_pretrained
from mlser.training.loop import (
    TrainConfig,
    check_finite_scores,
    clear_checkpoints,
    fit,
    selection_record,
    with_row_selection,
)
from mlser.training.model_files import load_model_file, pretrained_state, save_model_file, size_note

#: The words a class name stands for (``label_words`` / ``bert_embedding`` init).
LABEL_WORDS: dict[str, str] = {"neu": "neutral", "hap": "happy", "ang": "angry", "sad": "sad"}
SUPPORTED_TASKS = frozenset({"ser", "ssl", "label_text", "label_speech", "attention_constraint"})
_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def stage_block(experiment: dict[str, Any], stage_number: int) -> dict[str, Any]:
    """The architecture a stage trains: stage 1's block, overlaid with stage 2's."""
    model = experiment["model"]
    if stage_number == 1:
        return dict(model["stage1"])
    if not model.get("stage2"):
        raise StageError(f"experiment {experiment['id']} has no stage 2")
    stage = merge_stage(model["stage1"], model["stage2"])
    # label embeddings of stage 2 replace (not merge with) any of stage 1
    stage["label_embedding"] = model["stage2"].get("label_embedding")
    return stage


def system_config(
    stage: dict[str, Any], models: dict[str, Any], num_classes: int, mu: Sequence[float]
) -> LEMERSystemConfig:
    """The :class:`LEMERSystemConfig` of a stage block (label dims filled in later)."""
    unknown = sorted(set(stage["tasks"]) - SUPPORTED_TASKS)
    if unknown:
        raise StageError(f"stage tasks {unknown} are not supported by the LE-MER training")
    text = speech = None
    if stage.get("text_encoder"):
        spec = lookup(models, "text", stage["text_encoder"])
        text = TextEncoderConfig(
            pretrained_name=spec.get("pretrained"),  # resolved by the encoder: files stay portable
            freeze=bool(spec.get("freeze", False)),
            train_top_layers=int(spec.get("train_top_layers", 0)),
            # the paper's limit, or the run's encoder limit where that is smaller (demo)
            max_length=min(
                int(stage.get("max_text_tokens") or 10**6), int(spec.get("max_length", 10**6))
            )
            if stage.get("max_text_tokens") or spec.get("max_length")
            else 128,
        )
    if stage.get("acoustic_encoder"):
        spec = lookup(models, "acoustic", stage["acoustic_encoder"])
        speech = AcousticEncoderConfig(
            pretrained_name=spec.get("pretrained"),
            hubert=dict(spec.get("hubert", {})),
            frontend=spec.get("frontend", "cnn"),
            architecture=spec.get("architecture", "hubert"),
        )
    le = stage.get("label_embedding") or {}
    tasks = set(stage["tasks"])
    return LEMERSystemConfig(
        text=text,
        speech=speech,
        num_classes=num_classes,
        text_label="label_text" in tasks or "text" in le,
        speech_label="label_speech" in tasks or "speech" in le,
        attention=le.get("attention", "constraint"),
        mu=(
            float(mu[0]),
            float(mu[1]) if "attention_constraint" in tasks else 0.0,
            float(mu[2]) if "label_text" in tasks else 0.0,
            float(mu[3]) if "label_speech" in tasks else 0.0,
        ),
    )


@torch.no_grad()
def embed_words(
    config: TextEncoderConfig, words_per_class: Sequence[Sequence[str]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(C, K, d)`` text-encoder embeddings of each class's words (mean of each word's
    subword features, [CLS]/[SEP] left out) and the ``(C, K)`` mask of real words."""
    from mlser.models.text import TextEncoder

    encoder = TextEncoder(dataclasses.replace(config, freeze=True)).eval()
    k = max(1, max(len(w) for w in words_per_class))
    out = torch.zeros(len(words_per_class), k, encoder.hidden_size)
    mask = torch.zeros(len(words_per_class), k, dtype=torch.bool)
    for c, words in enumerate(words_per_class):
        if not words:
            continue
        enc = encoder.tokenize(list(words))
        h, m = encoder(enc["input_ids"], enc["attention_mask"])
        m = m.clone()
        m[:, 0] = False  # [CLS]
        m[torch.arange(len(words)), m.sum(1)] = False  # [SEP]: the last real token
        m = m.to(h.dtype).unsqueeze(-1)
        out[c, : len(words)] = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        mask[c, : len(words)] = True
    return out, mask


def label_inputs(
    stage: dict[str, Any],
    models: dict[str, Any],
    classes: Sequence[str],
    keywords: pd.DataFrame | None,
    frame_codes: pd.DataFrame | None,
    codebook: Codebook | None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Keyword tensors the label embeddings start from (None = random init)."""
    le = stage.get("label_embedding") or {}
    out: dict[str, Any] = {}
    names = [[LABEL_WORDS.get(c, c)] for c in classes]

    def text_cfg() -> TextEncoderConfig:
        name = stage.get("text_encoder") or next(iter(models.get("text", {})), None)
        if name is None:
            raise StageError("label-word embeddings need a text encoder in `models.text`")
        spec = lookup(models, "text", name)
        return TextEncoderConfig(pretrained_name=resolve_pretrained(spec.get("pretrained")))

    if "text" in le:
        init, k = le["text"]["init"], le["text"].get("k")
        if init == "tfidf":
            if keywords is None:
                raise StageError("text label embedding 'tfidf' needs the fold's keyword table")
            words = [w[:k] for w in keywords_by_class(keywords, classes)]
            _check_k("keywords", words, k, log)
            out["text_keywords"], out["text_keyword_mask"] = embed_words(text_cfg(), words)
        elif init == "label_words":
            out["text_keywords"], out["text_keyword_mask"] = embed_words(text_cfg(), names)
    if "speech" in le:
        init, k = le["speech"]["init"], le["speech"].get("k")
        if init == "codebook":
            if frame_codes is None or codebook is None:
                raise StageError("speech label embedding 'codebook' needs the fold's codebook")
            per_class = [
                code_ids_of(frame_codes[frame_codes["class"] == c].sort_values("rank"))[:k]
                for c in classes
            ]
            _check_k("codebook frames", per_class, k, log)
            dim = codebook.vectors.shape[1]
            kk = max(len(p) for p in per_class)
            vec = torch.zeros(len(classes), kk, dim)
            mask = torch.zeros(len(classes), kk, dtype=torch.bool)
            for c, codes in enumerate(per_class):
                vec[c, : len(codes)] = torch.from_numpy(codebook.embeddings(codes))
                mask[c, : len(codes)] = True
            out["speech_keywords"], out["speech_keyword_mask"] = vec, mask
            if codebook.feature_projection is not None:
                _check_codebook_source(stage, models, codebook)
                weight, bias = codebook.feature_projection
                out["speech_projection"] = (torch.from_numpy(weight), torch.from_numpy(bias))
        elif init == "bert_embedding":
            out["speech_keywords"], out["speech_keyword_mask"] = embed_words(text_cfg(), names)
    return out


def _check_codebook_source(
    stage: dict[str, Any], models: dict[str, Any], codebook: Codebook
) -> None:
    """A codebook that comes with a feature projection must be the speech encoder's own
    checkpoint (wang2023 §2.2): another model's ``project_hid`` means nothing for these
    features. Checked where both are named (a random-init test model is not)."""
    name = stage.get("acoustic_encoder")
    encoder = (
        resolve_pretrained(lookup(models, "acoustic", name).get("pretrained")) if name else None
    )
    if codebook.source and encoder and codebook.source != encoder:
        raise StageError(
            f"the codebook's quantizer is {codebook.source}, the speech encoder {encoder}: "
            "set label_embeddings.speech.quantizer to the encoder's checkpoint"
        )


def _check_k(
    what: str, per_class: Sequence[Sequence[Any]], k: int | None, log: Callable[[str], None]
) -> None:
    """A class with fewer than K distinct keywords / codes in its fold (a small corpus)
    starts from the ones it has; said in the log, never silently."""
    for c, p in enumerate(per_class):
        if k is not None and len(p) < k:
            log(f"K = {k} {what} asked for, class {c} has only {len(p)} in the fold: using those")
        if not p:
            raise StageError(f"class {c} has no {what} in the fold's table")


def build_system(
    stage: dict[str, Any],
    models: dict[str, Any],
    classes: Sequence[str],
    mu: Sequence[float],
    inputs: dict[str, Any] | None = None,
    ssl_units: int | None = None,
    ssl_mask_prob: float = 0.65,
) -> LEMERSystem:
    """A fresh system for a stage block, its label embeddings started from ``inputs``."""
    inputs = inputs or {}
    dims = {
        "text_label_dim": _dim(inputs.get("text_keywords")),
        "speech_label_dim": _dim(inputs.get("speech_keywords")),
        "speech_feature_projection": "speech_projection" in inputs,
    }
    cfg = stage_config(stage, models, classes, mu, dims, ssl_units, ssl_mask_prob)
    return LEMERSystem(cfg, **inputs)


def stage_config(
    stage: dict[str, Any],
    models: dict[str, Any],
    classes: Sequence[str],
    mu: Sequence[float],
    label_dims: dict[str, Any],
    ssl_units: int | None = None,
    ssl_mask_prob: float = 0.65,
) -> LEMERSystemConfig:
    """The whole :class:`LEMERSystemConfig` of a stage block (:func:`system_config`), with
    the label embeddings' dims (``label_dims``), the unit head and the training masks.

    ``ssl_mask_prob``: the encoder's ``mask_time_prob`` in continued pre-training (its
    masked unit prediction: :meth:`LEMERSystem.ssl_loss`)."""
    cfg = system_config(stage, models, len(classes), mu)
    speech_mask = None
    if cfg.speech is not None:
        # time masks (SpecAugment) where the stage asks for them, and in continued
        # pre-training (masked prediction)
        if stage.get("strategy") == "continued_pretraining":
            speech_mask = float(ssl_mask_prob)
        elif not stage.get("spec_augment", False):
            speech_mask = 0.0
    text = cfg.text
    if text is not None and stage.get("text_history"):
        text = dataclasses.replace(text, truncation_side="left")  # keep the current utterance
    return dataclasses.replace(
        cfg, text=text, ssl_units=ssl_units, speech_mask_time_prob=speech_mask, **label_dims
    )


def _dim(t: torch.Tensor | None) -> int | None:
    return None if t is None else int(t.shape[-1])


def unit_targets(codebook: Codebook, examples: Sequence[Example]) -> dict[str, np.ndarray]:
    """Per training utterance, the unit index of each encoder frame (20 ms)."""
    step = max(1, 320 // codebook.hop)  # log-mel units are 10 ms: every second one
    index = {u: i for i, u in enumerate(codebook.utt_ids)}
    missing = [e.utt_id for e in examples if e.utt_id not in index]
    if missing:
        raise StageError(f"utterances without codes in the fold's codebook: {missing[:5]}")
    unit_of = {int(c): i for i, c in enumerate(codebook.code_ids)}
    return {
        e.utt_id: np.array([unit_of[int(c)] for c in codebook.codes[index[e.utt_id]][::step]])
        for e in examples
    }


def _units_batch(batch: Batch, targets: dict[str, np.ndarray]) -> torch.Tensor:
    t = max(len(targets[u]) for u in batch.utt_ids)
    out = torch.full((len(batch.utt_ids), t), IGNORE, dtype=torch.long)
    for i, u in enumerate(batch.utt_ids):
        out[i, : len(targets[u])] = torch.from_numpy(targets[u])
    return out


def _rebuild(spec: dict[str, Any]) -> LEMERSystem:
    """The system a model file describes: its saved config, or, in files saved before the
    config was (no ``spec["config"]``), the stage block it was built from, rebuilt as
    training built it then."""
    if spec.get("config") is not None:
        return LEMERSystem(LEMERSystemConfig.from_dict(spec["config"]))
    return LEMERSystem(
        stage_config(
            spec["stage"],
            spec["models"],
            spec["classes"],
            spec["mu"],
            spec["label_dims"],
            spec.get("ssl_units"),
        )
    )


def load_system(path: str | os.PathLike[str]) -> tuple[LEMERSystem, dict[str, Any]]:
    """Rebuild a system saved by :func:`run_lemer_stage` from the config saved with it."""
    system, spec = load_model_file(path, _rebuild)
    return system, spec  # type: ignore[return-value]


def run_lemer_stage(
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
    keywords: str | os.PathLike[str] | None = None,
    frame_codes: str | os.PathLike[str] | None = None,
    codebook: str | os.PathLike[str] | None = None,
    device: torch.device | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train one stage of an LE-MER row on a fold and save it to ``out`` (+ ``.json``)."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    stage = stage_block(experiment, stage_number)
    context = f"experiment {experiment['id']}, stage {stage_number}, fold {experiment['fold']}"
    mu = training.get("loss_weights", [1.0, 0.5, 0.2, 0.2])
    cb = load_codebook(codebook) if codebook else None
    torch.manual_seed(int(training.get("seed", 0)))
    training = with_row_selection(training, experiment["model"].get(f"stage{stage_number}"))
    config = TrainConfig(**{k: v for k, v in training.items() if k in _TRAIN_FIELDS})
    max_seconds = float(training.get("max_batch_seconds", 40.0))
    batch_size = training.get("batch_size")
    ssl = stage.get("strategy") == "continued_pretraining"
    init_state: dict[str, torch.Tensor] | None = None
    if ssl:
        if cb is None:
            raise StageError(f"{context}: continued pre-training needs the fold's codebook")
        # wav2vec 2.0's pre-training masking (transformers' mask_time_prob 0.65, spans
        # of 10: about half the frames), the objective the conformer was trained with
        mask_prob = float(training.get("ssl_mask_prob", 0.65))
        system = build_system(
            stage, models, classes, mu, ssl_units=len(cb.code_ids), ssl_mask_prob=mask_prob
        )
        targets = unit_targets(cb, data["train"])
        probe = data["train"][: max(1, len(data["train"]) // 10)]
        selected_on = [e.utt_id for e in probe]
        config = dataclasses.replace(config, select_metric="neg_ssl_loss")

        def step(m: LEMERSystem, batch: Batch) -> torch.Tensor:
            units = _units_batch(batch, targets).to(device)
            batch = batch.to(device)
            return m.ssl_loss(batch.waveforms, batch.lengths, units)

        def validate(m: LEMERSystem) -> dict[str, float]:
            # no labels and no codes outside the training set: a fixed tenth of it, under
            # the same masks every epoch (numpy's RNG draws them), so that the selection
            # compares epochs, not mask draws
            state = np.random.get_state()
            np.random.seed(0)
            try:
                groups = batches_of(probe, max_seconds, 0, False)
                losses = [step(m, collate(g)).item() for g in groups]
            finally:
                np.random.set_state(state)
            return {"neg_ssl_loss": -float(np.mean(losses))}
    else:
        kw = read_keywords(keywords) if keywords else None
        fc = read_keywords(frame_codes) if frame_codes else None
        inputs = label_inputs(stage, models, classes, kw, fc, cb, log)
        system = build_system(stage, models, classes, mu, inputs)
        if init is not None:
            start, _ = load_system(init)
            if system.speech is None or start.speech is None:
                raise StageError(f"{context}: stage 2 starts from a speech encoder both must have")
            system.speech.load_state_dict(start.speech.state_dict())
            init_state = {
                f"speech.{k}": v.detach().clone() for k, v in start.speech.state_dict().items()
            }
            log(f"{context}: speech encoder from {init}")

        def step(m: LEMERSystem, batch: Batch) -> torch.Tensor:
            batch = batch.to(device)
            out = m(batch.waveforms, batch.lengths, batch.texts, batch.emotion)
            return out.loss  # type: ignore[return-value]

        selected_on = [e.utt_id for e in data["valid"]]

        def validate(m: LEMERSystem) -> dict[str, float]:
            pred, _ = predict(m, data["valid"], classes, max_seconds, device)
            return selection_scores(pred["gold"], pred["pred"])

    def batches(epoch: int) -> list[Batch]:
        groups = batches_of(data["train"], max_seconds, config.seed + epoch, True, batch_size)
        return [collate(g) for g in groups]

    lr_scale = lr_scales(training, config.lr)
    pretrained = pretrained_state(system)  # before training changes it in place
    system.to(device)
    result = fit(system, batches, step, validate, config, checkpoint_dir, context, log, lr_scale)
    system.load_state_dict(result.best_state)
    spec = {
        # what rebuilds the system (load_system); the rest says what it was trained as
        "config": system.config.to_dict(),
        "stage": stage,
        "models": models,
        "classes": list(classes),
        "mu": list(mu),
    }
    sizes = save_model_file(out, spec, system.cpu(), pretrained, init, init_state)
    log(f"{context}: {size_note(sizes)}")
    clear_checkpoints(checkpoint_dir)
    from mlser.provenance import provenance

    record = {
        "experiment": experiment["id"],
        "stage": stage_number,
        "best_epoch": result.best_epoch,
        **selection_record(result, config.select_metric, selected_on),
        "resumed_from_epoch": result.resumed_from,
        "skipped_batches": result.skipped_batches,
        "history": result.history,
        "total_parameters": sum(p.numel() for p in system.parameters()),
        "trainable_parameters": sum(p.numel() for p in system.parameters() if p.requires_grad),
        "model_file_bytes": os.path.getsize(out),  # see multilevel.run_stage
        "init": os.fspath(init) if init else None,  # the row passport checks its selection too
        "settings": {"experiment": experiment, "models": models, "training": training},
        "provenance": provenance(models),
    }
    write_json(f"{out}.json", record)
    return record


def lr_scales(training: dict[str, Any], lr: float) -> Callable[[str], float]:
    """A parameter's rate as a factor on ``lr`` (the speech encoder's): ``text_lr`` for
    the text encoder, ``lr`` for the speech encoder and the ``project_hid`` taken from its
    checkpoint, ``head_lr`` for every new layer (see the module doc; default ``lr``)."""
    text = float(training.get("text_lr", lr)) / lr
    head = float(training.get("head_lr", lr)) / lr

    def scale(name: str) -> float:
        if name.startswith("text."):
            return text
        if name.startswith("speech.") or ".feature_projection." in name:
            return 1.0
        return head

    return scale


@torch.no_grad()
def predict(
    system: LEMERSystem,
    examples: list[Example],
    classes: Sequence[str],
    max_seconds: float,
    device: torch.device,
    keep_maps: int = 0,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Per-utterance predictions (probabilities and logits) and, for the first
    ``keep_maps`` utterances (in utt_id order), their attention maps."""
    system.eval()
    system.to(device)
    rows: list[dict[str, Any]] = []
    maps: list[dict[str, Any]] = []
    ordered = sorted(examples, key=lambda e: e.utt_id)
    for group in batches_of(ordered, max_seconds, seed=0, shuffle=False):
        batch = collate(group).to(device)
        out = system(batch.waveforms, batch.lengths, batch.texts)
        logits = out.logits.float().cpu()
        probs = logits.softmax(-1).numpy()
        check_finite_scores(probs, [e.utt_id for e in group], "LE-MER scoring")
        for i, e in enumerate(group):
            rows.append(
                {
                    "utt_id": e.utt_id,
                    "gold": classes[e.emotion],
                    "pred": classes[int(probs[i].argmax())],
                    **{f"p_{c}": float(probs[i, k]) for k, c in enumerate(classes)},
                    **{f"logit_{c}": float(logits[i, k]) for k, c in enumerate(classes)},
                }
            )
            if len(maps) < keep_maps:
                maps.append(_maps_of(system, out, i, e))
    pred = pd.DataFrame(rows).sort_values("utt_id", kind="stable").reset_index(drop=True)
    return pred, maps


def _maps_of(system: LEMERSystem, out: Any, i: int, e: Example) -> dict[str, Any]:
    """One utterance's attention maps, cropped to its real tokens / frames."""
    rec: dict[str, Any] = {"utt_id": e.utt_id, "text": e.text, "seconds": len(e.audio) / 16_000}
    if out.text_mask is not None:
        n = int(out.text_mask[i].sum())
        ids = out.input_ids[i, :n].tolist()
        rec["tokens"] = system.text.tokenizer.convert_ids_to_tokens(ids)  # type: ignore[union-attr]
    if out.speech_mask is not None:
        rec["frames"] = int(out.speech_mask[i].sum())
    for name in ("g_text", "g_speech"):
        t = getattr(out, name)
        mask = out.text_mask if name == "g_text" else out.speech_mask
        if t is not None:
            rec[name] = t[i, : int(mask[i].sum())].float().cpu().numpy().round(5).tolist()
    for name in ("a_cross", "a_label"):
        t = getattr(out, name)
        if t is not None:
            n, f = int(out.text_mask[i].sum()), int(out.speech_mask[i].sum())
            rec[name] = t[i, :n, :f].float().cpu().numpy().round(5).tolist()
    return rec
