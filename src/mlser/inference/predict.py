"""Predictions of a trained model on audio files: ``mlser predict MODEL AUDIO...``.

Per file: emotion probabilities and label, the model's own ASR transcript, gender and
style predictions (where its heads were trained for them) and the mean fusion gate values
(where the model has gates). A model that reads text reads its own transcript, as the
papers do at inference.

Bad input never stops the run and is never dropped: each file that cannot be read
(missing, empty, not audio, truncated, too short, non-finite samples, longer than
``max_seconds``) gets a row with ``status=error`` and the cause; a silent file is predicted
with a ``warning``. Files longer than ``chunk_seconds`` are cut into equal chunks whose
predictions are averaged, weighted by length.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mlser.data.audio import SOUNDFILE_SUFFIXES, AudioError, audio_info, load_audio
from mlser.data.batching import IGNORE, SAMPLE_RATE, Example
from mlser.data.labels import GENDERS, STYLES
from mlser.inference.export import LoadedModel
from mlser.models.specs import StageError

#: Extensions picked up when a directory is given (a file named explicitly is always tried).
AUDIO_SUFFIXES: frozenset[str] = SOUNDFILE_SUFFIXES | {
    ".mp3",
    ".m4a",
    ".mp4",
    ".aac",
    ".opus",
    ".webm",
    ".aif",
    ".aiff",
    ".wma",
}
#: The shortest input the acoustic encoder can frame: one 25 ms window.
MIN_SAMPLES = 400
#: Peak amplitude below which a file is flagged as silent (-80 dBFS).
SILENCE_PEAK = 1e-4


@dataclass
class PredictOptions:
    """Attributes:
    batch_seconds: padded audio seconds per batch (length-bucketed).
    chunk_seconds: files longer than this are predicted in equal chunks of at most it.
    max_seconds: files longer than this are refused (memory and time bound).
    files_per_group: files decoded and held in memory at a time.
    """

    batch_seconds: float = 60.0
    chunk_seconds: float = 30.0
    max_seconds: float = 1800.0
    files_per_group: int = 64

    def __post_init__(self) -> None:
        if self.chunk_seconds * SAMPLE_RATE < MIN_SAMPLES:
            raise ValueError(f"--chunk-seconds {self.chunk_seconds}: must be at least 0.025")
        if self.batch_seconds <= 0 or self.max_seconds <= 0:
            raise ValueError("--batch-seconds and --max-seconds must be positive")


def expand_inputs(paths: Sequence[str | os.PathLike[str]]) -> list[tuple[Path, str | None]]:
    """Files to predict, with an error for inputs that yield none.

    A directory contributes its audio files (by extension, recursively, sorted); a path that
    does not exist, or a directory without audio, is kept with the reason.
    """
    found: list[tuple[Path, str | None]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
            )
            if not files:
                suffixes = " ".join(sorted(AUDIO_SUFFIXES))
                found.append((path, f"directory holds no audio files ({suffixes})"))
            found.extend((p, None) for p in files)
        else:
            found.append((path, None))  # a missing file is reported by the loader
    return found


def read_input(path: Path, options: PredictOptions) -> np.ndarray:
    """16 kHz mono audio of ``path``; raises :class:`AudioError` naming the cause."""

    def refuse_if_long(seconds: float) -> None:
        if seconds > options.max_seconds:
            raise AudioError(
                path,
                f"too long: {seconds:.0f} s (the limit is {options.max_seconds:.0f} s; "
                "raise it with --max-seconds)",
            )

    sr, _, frames = audio_info(path)  # from the header: refuse before decoding
    refuse_if_long(frames / sr if sr > 0 else 0.0)
    audio = load_audio(path, SAMPLE_RATE)
    refuse_if_long(len(audio) / SAMPLE_RATE)  # a header may under-report
    if len(audio) < MIN_SAMPLES:
        raise AudioError(
            path, f"too short: {1000 * len(audio) / SAMPLE_RATE:.1f} ms (at least 25 ms needed)"
        )
    if not np.isfinite(audio).all():
        raise AudioError(path, "samples are NaN or infinite")
    return audio


def chunks(audio: np.ndarray, chunk_samples: int) -> list[np.ndarray]:
    """``audio`` cut into the fewest equal parts of at most ``chunk_samples``."""
    n = max(1, math.ceil(len(audio) / chunk_samples))
    return [np.ascontiguousarray(part) for part in np.array_split(audio, n)]


def _text_source(loaded: LoadedModel) -> str:
    model = loaded.model
    if model.acoustic is None:
        raise StageError(f"{loaded.source}: a text-only model cannot predict from audio")
    if model.text is not None and "asr" not in loaded.tasks:
        raise StageError(
            f"{loaded.source}: this model reads text but was not trained for ASR, so it has "
            "no transcript of its own to read"
        )
    if model.text is None:
        return "none"
    # as the pipeline scores it: the model's own transcript, corrected where it has an AEC
    return "asr_corrected" if model.error_correction is not None else "asr"


def _combine(file: Path, parts: pd.DataFrame, loaded: LoadedModel) -> dict[str, Any]:
    """One output row from the prediction rows of a file's chunks (weighted by length)."""
    weights = parts["samples"].to_numpy(dtype=float)
    weights = weights / weights.sum()
    probs = {f"p_{c}": float(parts[f"p_{c}"].to_numpy() @ weights) for c in loaded.classes}
    row: dict[str, Any] = {
        "file": str(file),
        "status": "ok",
        "emotion": max(loaded.classes, key=lambda c: probs[f"p_{c}"]),
        **probs,
    }
    if "asr" in loaded.tasks:
        row["transcript"] = " ".join(t for t in parts["transcript"] if t)
    for name, labels in (("gender", GENDERS), ("style", STYLES)):
        if name in loaded.tasks:
            votes = np.bincount(parts[f"pred_{name}"], weights=weights, minlength=len(labels))
            row[name] = labels[int(votes.argmax())]
    for col in parts.columns:
        if col.startswith("gate_"):
            row[col] = float(parts[col].to_numpy() @ weights)
    row["seconds"] = round(float(parts["samples"].sum()) / SAMPLE_RATE, 3)
    row["chunks"] = len(parts)
    row["error"] = ""
    return row


def predict_files(
    loaded: LoadedModel,
    inputs: Sequence[tuple[Path, str | None]],
    options: PredictOptions,
    device: torch.device,
    log: Callable[[str], None] = lambda s: None,
) -> Iterator[dict[str, Any]]:
    """One row per input, in input order: a prediction or the reason there is none."""
    from mlser.training.multilevel import predict

    text_source = _text_source(loaded)
    loaded.model.to(device)
    chunk_samples = int(options.chunk_seconds * SAMPLE_RATE)
    for start in range(0, len(inputs), options.files_per_group):
        group = inputs[start : start + options.files_per_group]
        examples: list[Example] = []
        errors: dict[int, str] = {}
        warnings: dict[int, str] = {}
        for i, (path, problem) in enumerate(group):
            try:
                if problem:
                    raise AudioError(path, problem)
                audio = read_input(path, options)
            except AudioError as exc:
                errors[i] = exc.cause
                log(f"{path}: {exc.cause}")
                continue
            if float(np.abs(audio).max()) < SILENCE_PEAK:
                warnings[i] = "silent (peak below -80 dBFS): the prediction carries no emotion"
                log(f"{path}: {warnings[i]}")
            for k, part in enumerate(chunks(audio, chunk_samples)):
                # labels are unknown here: placeholders that predict() passes through
                examples.append(Example(f"{i:06d}/{k:06d}", part, "", 0, IGNORE, IGNORE))
        table = pd.DataFrame()
        if examples:
            table = predict(
                loaded.model,
                examples,
                loaded.classes,
                text_source,
                options.batch_seconds,
                device,
                loaded.tasks,
                loaded.correction,
            )
            lengths = {e.utt_id: len(e.audio) for e in examples}
            table["samples"] = table["utt_id"].map(lengths)
            table["file_index"] = table["utt_id"].str.split("/").str[0].astype(int)
        for i, (path, _) in enumerate(group):
            if i in errors:
                yield {"file": str(path), "status": "error", "error": errors[i]}
            else:
                row = _combine(path, table[table["file_index"] == i], loaded)
                yield {**row, "warning": warnings.get(i, "")}


def to_tsv(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as TSV with one column set (blank where a row has no value)."""
    frame = pd.DataFrame(list(rows))
    last = ["warning", "error"]
    columns = [c for c in frame.columns if c not in last] + [c for c in last if c in frame]
    return frame[columns].to_csv(sep="\t", index=False, float_format="%.6g")


def to_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as JSON lines (a failed file carries only file, status and error)."""
    out = []
    for row in rows:
        clean = {k: v for k, v in row.items() if not (k in ("error", "warning") and not v)}
        out.append(json.dumps(clean, sort_keys=False, ensure_ascii=False))
    return "".join(line + "\n" for line in out)
