"""Training and scoring of the hierarchical family (alqurashi2024).

Each of the three classifiers is trained once per (corpus, fold, input features) and
shared by every Table II row that uses it (baseline, proposed, each threshold):

* ``level1``: Model 1, speech features, neutral vs emotional, all utterances;
* ``level2``: Model 2, speech features, the emotions, emotional utterances only;
* ``text``: Model 3, word embeddings, all four classes, all utterances.

Training writes the model and its class probabilities on the fold's valid and test
utterances; a row's predictions then only apply the decision rule
(:func:`mlser.models.hierarchical.hierarchical_decision`) to those probabilities.
Inputs are z-scored with the training partition's statistics (the paper is silent; its
MFCC, energy and openSMILE values differ by orders of magnitude). Model selection uses
the fold's valid partition only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from mlser.atomic import atomic_path, write_text
from mlser.data.batching import fixed_size_batches
from mlser.data.folds import partition
from mlser.evaluation.metrics import selection_scores
from mlser.features.acoustic import FeatureTable
from mlser.models.hierarchical import (
    LEVEL1_CLASSES,
    LSTMClassifier,
    LSTMClassifierConfig,
    hierarchical_decision,
)
from mlser.training.loop import (
    TrainConfig,
    check_finite_scores,
    clear_checkpoints,
    fit,
    selection_record,
)

LEVELS: tuple[str, ...] = ("level1", "level2", "text")
NEUTRAL = "neu"


class HierarchyError(ValueError):
    """Inputs the hierarchical family cannot use; the message says which."""


def level_classes(level: str, classes: Sequence[str]) -> tuple[str, ...]:
    """Output classes of one classifier: (neutral, emotional), the emotions, or all."""
    if NEUTRAL not in classes:
        raise HierarchyError(f"the hierarchy needs a neutral class {NEUTRAL!r} in {classes}")
    if level == "level1":
        return LEVEL1_CLASSES
    if level == "level2":
        return tuple(c for c in classes if c != NEUTRAL)
    if level == "text":
        return tuple(classes)
    raise HierarchyError(f"unknown level {level!r}; levels are {LEVELS}")


def level_target(level: str, emotion: str, classes: Sequence[str]) -> int | None:
    """Class index of ``emotion`` for ``level``; None where the level does not train on it
    (neutral for Model 2)."""
    if level == "level1":
        return 0 if emotion == NEUTRAL else 1
    out = level_classes(level, classes)
    return out.index(emotion) if emotion in out else None


def merge_tables(tables: Sequence[FeatureTable]) -> FeatureTable:
    """One table of the concatenated utterance vectors of ``tables`` (the paper's speech
    feature set read as one input); a sequence table must come alone."""
    if len(tables) == 1:
        return tables[0]
    if any(next(iter(t.features.values())).dim() != 1 for t in tables):
        raise HierarchyError(
            f"only utterance vectors can be concatenated; got {[t.name for t in tables]}"
        )
    common = set.intersection(*(set(t.features) for t in tables))
    skipped: dict[str, str] = {}
    for t in tables:
        skipped.update({u: f"{t.name}: {why}" for u, why in t.skipped.items()})
    features = {u: torch.cat([t.features[u] for t in tables]) for u in sorted(common)}
    return FeatureTable(
        "+".join(t.name for t in tables), features, skipped, sum(t.seconds for t in tables)
    )


@dataclass
class LevelData:
    """Inputs and targets of one partition for one classifier."""

    utt_ids: list[str]
    features: list[torch.Tensor]
    targets: list[int]
    skipped: dict[str, str]


def level_data(
    table: FeatureTable,
    manifest: pd.DataFrame,
    folds: pd.DataFrame,
    fold: str,
    part: str,
    level: str,
    classes: Sequence[str],
) -> LevelData:
    """The ``part`` utterances of ``fold`` that ``level`` uses, with their features.

    Utterances without features are listed in ``skipped``; Model 2 leaves out neutral
    utterances in training and validation (it scores every test utterance).
    """
    rows = partition(manifest, folds, fold, part)
    out = LevelData([], [], [], {})
    for r in rows.itertuples(index=False):
        target = level_target(level, r.emotion, classes)
        if target is None and part != "test":
            continue
        if r.utt_id not in table.features:
            out.skipped[r.utt_id] = table.skipped.get(r.utt_id, f"no {table.name} features")
            continue
        out.utt_ids.append(r.utt_id)
        out.features.append(table.features[r.utt_id].float())
        out.targets.append(-100 if target is None else target)
    return out


def pad(features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(B, T, D)`` right-padded sequences and their ``(B, T)`` mask, or ``(B, D)`` vectors
    and None."""
    if features[0].dim() == 1:
        return torch.stack(list(features)), None
    lengths = [len(f) for f in features]
    out = torch.zeros(len(features), max(lengths), features[0].shape[-1])
    mask = torch.zeros(len(features), max(lengths), dtype=torch.bool)
    for i, f in enumerate(features):
        out[i, : len(f)] = f
        mask[i, : len(f)] = True
    return out, mask


def standardizer(features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std over all (training) vectors or frames."""
    flat = torch.cat([f.reshape(-1, f.shape[-1]) for f in features])
    return flat.mean(0), flat.std(0).clamp(min=1e-6)


class StandardizedClassifier(torch.nn.Module):
    """:class:`LSTMClassifier` on z-scored inputs (statistics kept as buffers).

    Shapes: features ``(B, T, D)`` with mask ``(B, T)``, or ``(B, D)`` -> logits ``(B, C)``.
    """

    def __init__(self, config: LSTMClassifierConfig) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(config.input_dim))
        self.register_buffer("std", torch.ones(config.input_dim))
        self.classifier = LSTMClassifier(config)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        z = (features - self.mean) / self.std
        if mask is not None:
            z = z * mask.unsqueeze(-1)
        return self.classifier(z, mask)


@torch.no_grad()
def probabilities(
    model: StandardizedClassifier,
    data: LevelData,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """``(N, C)`` class probabilities of ``data``'s utterances, in its order."""
    model.eval()
    out = []
    for idx in fixed_size_batches(len(data.features), batch_size, 0, shuffle=False):
        x, mask = pad([data.features[i] for i in idx])
        logits = model(x.to(device), None if mask is None else mask.to(device))
        out.append(logits.softmax(-1).cpu().numpy())
        check_finite_scores(out[-1], [data.utt_ids[i] for i in idx], "hierarchical scoring")
    return np.concatenate(out)


def train_level(
    *,
    level: str,
    table: FeatureTable,
    manifest: pd.DataFrame,
    folds: pd.DataFrame,
    fold: str,
    classes: Sequence[str],
    training: dict[str, Any],
    out: str | os.PathLike[str],
    probs_out: str | os.PathLike[str],
    checkpoint_dir: str | os.PathLike[str],
    device: torch.device | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train one classifier of the hierarchy on ``table``'s features and save it.

    Writes the model to ``out`` and the valid and test probabilities to ``probs_out``
    (``utt_id, partition, p_<class>...``); returns the training record.
    """
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    names = level_classes(level, classes)
    data = {
        p: level_data(table, manifest, folds, fold, p, level, classes)
        for p in ("train", "valid", "test")
    }
    for p, d in data.items():
        for utt, why in d.skipped.items():
            log(f"{level} {p}: skipped {utt}: {why}")
        if not d.utt_ids:
            raise HierarchyError(f"fold {fold}: no {p} utterances for {level} ({table.name})")
    context = f"hierarchical {level} on {table.name}, fold {fold}"
    seed = int(training.get("seed", 0))
    torch.manual_seed(seed)
    config = LSTMClassifierConfig(
        input_dim=table.dim, num_classes=len(names), **training.get("lstm", {})
    )
    model = StandardizedClassifier(config)
    model.mean, model.std = standardizer(data["train"].features)
    model.to(device)
    batch_size = int(training.get("batch_size", 64))
    train = data["train"]
    loss_fn = torch.nn.CrossEntropyLoss()

    def batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]]:
        out_batches = []
        for idx in fixed_size_batches(len(train.features), batch_size, seed + epoch):
            x, mask = pad([train.features[i] for i in idx])
            out_batches.append((x, mask, torch.tensor([train.targets[i] for i in idx])))
        return out_batches

    def step(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        x, mask, y = batch
        return loss_fn(m(x.to(device), None if mask is None else mask.to(device)), y.to(device))

    def validate(m: torch.nn.Module) -> dict[str, float]:
        p = probabilities(m, data["valid"], batch_size, device).argmax(1)
        gold = [names[t] for t in data["valid"].targets]
        return selection_scores(gold, [names[i] for i in p])

    fit_config = TrainConfig(
        epochs=int(training.get("epochs", 30)),
        lr=float(training.get("lr", 1e-3)),
        seed=seed,
        weight_decay=0.0,  # the paper: Adam
        select_metric=str(training.get("select_metric", "ua")),
        max_batches=training.get("max_batches"),
    )
    result = fit(model, batches, step, validate, fit_config, checkpoint_dir, context, log)
    model.load_state_dict(result.best_state)
    model.cpu()
    spec = {"level": level, "classes": list(names), "inputs": table.name, "lstm": vars(config)}
    with atomic_path(out) as tmp:
        torch.save({"spec": spec, "state_dict": model.state_dict()}, tmp)
    frames = []
    for p in ("valid", "test"):
        probs = probabilities(model, data[p], batch_size, torch.device("cpu"))
        frame = pd.DataFrame(probs, columns=[f"p_{c}" for c in names])
        frame.insert(0, "partition", p)
        frame.insert(0, "utt_id", data[p].utt_ids)
        frames.append(frame)
    write_text(probs_out, pd.concat(frames).to_csv(sep="\t", index=False, float_format="%.6g"))
    clear_checkpoints(checkpoint_dir)
    return {
        "level": level,
        "inputs": table.name,
        "fold": fold,
        "classes": list(names),
        "best_epoch": result.best_epoch,
        **selection_record(result, fit_config.select_metric, data["valid"].utt_ids),
        "history": result.history,
        "skipped": {p: d.skipped for p, d in data.items() if d.skipped},
    }


def read_probs(path: str | os.PathLike[str], part: str = "test") -> pd.DataFrame:
    """Probabilities of one partition from a ``probs.tsv``, indexed by utterance id."""
    df = pd.read_csv(path, sep="\t", dtype={"utt_id": str, "partition": str})
    return df[df["partition"] == part].drop(columns="partition").set_index("utt_id")


def decide(
    gold: pd.Series,
    p_level1: pd.DataFrame,
    p_level2: pd.DataFrame,
    p_text: pd.DataFrame | None,
    threshold: float | None,
    classes: Sequence[str],
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Predictions of one Table II row from its classifiers' test probabilities.

    Args:
        gold: test utterance id -> gold class.
        p_level1, p_level2, p_text: probabilities indexed by utterance id (columns
            ``p_<class>`` of each level); ``p_text`` None = the speech-only baseline, where
            speech-neutral stays neutral.
        threshold: the consistency/confidence threshold (None = the text model decides).

    Returns:
        The predictions table (``utt_id, gold, pred, p_<class>``, then the hierarchy's
        columns) and the test utterances left out, with why.
    """
    emotions = level_classes("level2", classes)
    tables = [p_level1, p_level2] + ([p_text] if p_text is not None else [])
    have = set.intersection(*(set(t.index) for t in tables))
    skipped = {u: "no probabilities from every classifier" for u in gold.index if u not in have}
    ids = [u for u in gold.index if u in have]
    if not ids:
        raise HierarchyError("no test utterance has probabilities from every classifier")
    p1 = torch.tensor(p_level1.loc[ids, [f"p_{c}" for c in LEVEL1_CLASSES]].to_numpy())
    p2 = torch.tensor(p_level2.loc[ids, [f"p_{c}" for c in emotions]].to_numpy())
    neutral = list(classes).index(NEUTRAL)
    emo_idx = [list(classes).index(c) for c in emotions]
    if p_text is not None:
        pt = torch.tensor(p_text.loc[ids, [f"p_{c}" for c in classes]].to_numpy())
    else:  # the baseline: all speech-neutral mass stays on neutral
        pt = torch.zeros(len(ids), len(classes), dtype=p1.dtype)
        pt[:, neutral] = 1.0
    d = hierarchical_decision(p1, p2, pt, threshold, neutral, emo_idx)
    # hierarchy's class probabilities: P(emotional)·Model 2, P(neutral)·Model 3 (or 1 on
    # neutral for the baseline); with a threshold the decision need not be their arg-max
    joint = p1[:, :1] * pt
    joint[:, emo_idx] += p1[:, 1:] * p2
    pred = pd.DataFrame(
        {
            "utt_id": ids,
            "gold": gold.loc[ids].to_numpy(),
            "pred": [classes[i] for i in d.labels.tolist()],
        }
    )
    for k, c in enumerate(classes):
        pred[f"p_{c}"] = joint[:, k].numpy()
    pred["speech_level1"] = [LEVEL1_CLASSES[int(i)] for i in p1.argmax(1)]
    pred["speech_emotion"] = [emotions[int(i)] for i in p2.argmax(1)]
    for k, c in enumerate(LEVEL1_CLASSES):
        pred[f"p1_{c}"] = p1[:, k].numpy()
    for k, c in enumerate(emotions):
        pred[f"p2_{c}"] = p2[:, k].numpy()
    if p_text is not None:
        pred["text_pred"] = [classes[int(i)] for i in pt.argmax(1)]
        for k, c in enumerate(classes):
            pred[f"pt_{c}"] = pt[:, k].numpy()
    pred["kept_neutral"] = (
        d.kept_neutral.numpy() if p_text is not None else d.speech_neutral.numpy()
    )
    pred["from_text"] = d.from_text.numpy() if p_text is not None else False
    pred["changed"] = d.changed.numpy()
    return pred.sort_values("utt_id", kind="stable").reset_index(drop=True), skipped


def text_correction(pred: pd.DataFrame) -> dict[str, Any]:
    """alqurashi2024 Fig. 2: of the emotional utterances Model 1 called neutral, how many
    the final decision labels correctly (corrected by the text model) and how many not."""
    missed = pred[(pred["speech_level1"] == "neutral") & (pred["gold"] != NEUTRAL)]
    corrected = int((missed["pred"] == missed["gold"]).sum())
    return {
        "speech_neutral_emotional": len(missed),
        "text_corrected": corrected,
        "text_corrected_share": corrected / len(missed) if len(missed) else None,
    }


def row_scores(pred: pd.DataFrame, unseen: pd.Series | None = None) -> dict[str, Any]:
    """Table II scores of a row's predictions: UA, WA, WF1, per-class recall
    (:func:`mlser.evaluation.scoring.metrics_from_predictions`, with ``unseen`` also on the
    unseen- and seen-text subsets), per-class precision, and for speech+text rows the
    Fig. 2 counts."""
    from mlser.evaluation.metrics import per_class_precision
    from mlser.evaluation.scoring import metrics_from_predictions

    scores = metrics_from_predictions(pred, unseen)
    scores["precision"] = per_class_precision(pred["gold"], pred["pred"])
    if "pt_" + NEUTRAL in pred:
        scores.update(text_correction(pred))
    return scores


def threshold_sweep(
    gold: pd.Series,
    p_level1: pd.DataFrame,
    p_level2: pd.DataFrame,
    p_text: pd.DataFrame,
    thresholds: Sequence[float],
    classes: Sequence[str],
) -> list[dict[str, Any]]:
    """UA, WA, per-class precision and recall of a speech+text row at each threshold."""
    out = []
    for t in thresholds:
        pred, _ = decide(gold, p_level1, p_level2, p_text, t, classes)
        scores = row_scores(pred)
        keep = ("UA", "WA", "precision", "recall", "text_corrected")
        out.append({"threshold": float(t), **{k: scores[k] for k in keep}})
    return out


def neutral_precision_recall(pred: pd.DataFrame, thresholds: Sequence[float]) -> pd.DataFrame:
    """Neutral precision and recall of an un-thresholded speech+text row's predictions
    re-decided at each threshold (alqurashi2024 Fig. 3)."""
    classes = [c[len("pt_") :] for c in pred.columns if c.startswith("pt_")]
    if not classes:
        raise HierarchyError("the predictions carry no text-model probabilities (pt_*)")
    emotions = level_classes("level2", classes)
    p1 = torch.tensor(pred[[f"p1_{c}" for c in LEVEL1_CLASSES]].to_numpy())
    p2 = torch.tensor(pred[[f"p2_{c}" for c in emotions]].to_numpy())
    pt = torch.tensor(pred[[f"pt_{c}" for c in classes]].to_numpy())
    neutral = classes.index(NEUTRAL)
    emo_idx = [classes.index(c) for c in emotions]
    gold = pred["gold"].to_numpy() == NEUTRAL
    rows = []
    for t in thresholds:
        said = (hierarchical_decision(p1, p2, pt, t, neutral, emo_idx).labels == neutral).numpy()
        tp = int((said & gold).sum())
        rows.append(
            {
                "threshold": float(t),
                "precision": tp / said.sum() if said.sum() else float("nan"),
                "recall": tp / gold.sum() if gold.sum() else float("nan"),
            }
        )
    return pd.DataFrame(rows)
