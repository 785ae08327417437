"""The papers' pretrained models at their real sizes, with random weights (#23's rehearsal).

``config/architectures/<folder>/`` keeps, for each Hub model ``config/paper.yaml`` names,
the facts of its published ``config.json`` (``config.json``) and a sidecar
(``mlser.json``: the parameter count its paper publishes and, for a text model, where its
tokenizer files come from offline). A source ``architecture:<hub id>`` is then built by
:func:`materialise` into an ordinary ``from_pretrained`` folder: the class its
``architectures`` names, at those sizes, randomly initialised, saved with
``save_pretrained``. Every job loads it as it loads a downloaded checkpoint, so the
rehearsal runs the paper path's code at the paper's sizes without the Hub; its numbers
mean nothing, its crashes, memory and step times are the real ones.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
from pathlib import Path
from typing import Any

__all__ = [
    "PREFIX",
    "ArchitectureError",
    "facts_digests",
    "facts_folder",
    "hub_id_of",
    "materialise",
    "sha256_of",
]

PREFIX = "architecture:"
SIDECAR = "mlser.json"


class ArchitectureError(RuntimeError):
    """Architecture facts that are missing or cannot build their model."""


def hub_id_of(source: str) -> str:
    """``architecture:facebook/hubert-large-ll60k`` -> ``facebook/hubert-large-ll60k``."""
    if not source.startswith(PREFIX) or not source[len(PREFIX) :]:
        raise ArchitectureError(f"{source!r} is not `{PREFIX}<hub id>`")
    return source[len(PREFIX) :]


def facts_folder(facts_root: str | Path, source: str) -> Path:
    """``<facts_root>/<owner>--<name>/``, which must hold the published ``config.json``."""
    folder = Path(facts_root) / hub_id_of(source).replace("/", "--")
    if not (folder / "config.json").is_file():
        raise ArchitectureError(
            f"{source}: no architecture facts at {folder}/config.json (copy the model's "
            "published config.json there to rehearse it at its real size)"
        )
    return folder


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def facts_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of each file of an architecture-facts folder (a change rebuilds the model)."""
    return {p.name: sha256_of(p) for p in sorted(folder.iterdir()) if p.is_file()}


def _tokenizer_files(spec: dict[str, Any], dest: Path, source: str) -> list[str]:
    """Copy the tokenizer files the sidecar names from ``package:<module>``."""
    origin = str(spec.get("from", ""))
    if not origin.startswith("package:"):
        raise ArchitectureError(f"{source}: tokenizer `from` must be package:<module>")
    module = importlib.import_module(origin.split(":", 1)[1])
    root = Path(module.get_model_path())
    copied = []
    for name in spec.get("files", []):
        if not (root / name).is_file():
            raise ArchitectureError(f"{source}: tokenizer file {name} not in {root}")
        shutil.copyfile(root / name, dest / name)
        copied.append(name)
    return copied


def materialise(source: str, facts_root: str | Path, dest: str | Path, seed: int = 0) -> dict:
    """Build ``source``'s architecture with random weights into the folder ``dest``.

    Returns the fetch record's fields: ``weights`` ("random"), the facts' digests, the
    model class, its parameter count beside the published one, and the tokenizer files.
    """
    import torch
    import transformers

    folder = facts_folder(facts_root, source)
    sidecar = folder / SIDECAR
    side = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
    names = list(config.architectures or [])
    model_cls = getattr(transformers, names[0], None) if names else None
    if model_cls is None:
        raise ArchitectureError(
            f"{folder}/config.json: `architectures` {names} names no transformers class"
        )
    torch.manual_seed(seed)
    model = model_cls(config)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(dest), safe_serialization=True)
    tokenizer = _tokenizer_files(side["tokenizer"], dest, source) if "tokenizer" in side else []
    return {
        "weights": "random",
        "architecture_facts": {
            p.name: sha256_of(p) for p in sorted(folder.iterdir()) if p.is_file()
        },
        "model_class": model_cls.__name__,
        "seed": seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "published_parameters": side.get("published_parameters"),
        "parameters_source": side.get("parameters_source"),
        "tokenizer_files": tokenizer,
    }
