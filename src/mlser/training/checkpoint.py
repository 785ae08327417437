"""Training checkpoints that are either complete or ignored.

A checkpoint is written to a temporary name, its SHA-256 is recorded in a sidecar, and
both are renamed into place; on load the digest is checked, so a file half-written by
a killed job (or truncated by a full disk) is never loaded: resuming falls back to the
previous complete checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import torch

from mlser.atomic import atomic_path, write_text

_NAME = re.compile(r"^epoch-(\d{4})\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint that is incomplete or corrupt."""


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Atomically save ``state`` with ``torch.save`` and its digest beside it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        digest = _digest(tmp)
    write_text(path.with_suffix(path.suffix + ".sha256"), digest + "\n")


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint after checking its digest; raise :class:`CheckpointError`."""
    path = Path(path)
    sidecar = path.with_suffix(path.suffix + ".sha256")
    if not path.is_file() or not sidecar.is_file():
        raise CheckpointError(f"{path}: checkpoint or its digest is missing")
    if _digest(path) != sidecar.read_text().strip():
        raise CheckpointError(f"{path}: digest mismatch (half-written or corrupt)")
    return torch.load(path, map_location="cpu", weights_only=False)


def epoch_checkpoint(directory: str | os.PathLike[str], epoch: int) -> Path:
    """The path of the checkpoint written after ``epoch`` (1-based)."""
    return Path(directory) / f"epoch-{epoch:04d}.pt"


def latest_checkpoint(directory: str | os.PathLike[str]) -> tuple[int, dict[str, Any]] | None:
    """The newest checkpoint in ``directory`` that loads cleanly, as ``(epoch, state)``."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    epochs = sorted(
        (int(m.group(1)) for p in directory.iterdir() if (m := _NAME.match(p.name))),
        reverse=True,
    )
    for epoch in epochs:
        try:
            return epoch, load_checkpoint(epoch_checkpoint(directory, epoch))
        except CheckpointError:
            continue
    return None


def prune_checkpoints(directory: str | os.PathLike[str], keep: int = 1) -> None:
    """Delete all but the newest ``keep`` epoch checkpoints."""
    directory = Path(directory)
    paths = sorted(p for p in directory.iterdir() if _NAME.match(p.name))
    for p in paths[:-keep] if keep else paths:
        p.unlink(missing_ok=True)
        p.with_suffix(p.suffix + ".sha256").unlink(missing_ok=True)
