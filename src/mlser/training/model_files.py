"""Trained-model files that leave out the weights stored elsewhere.

A frozen pretrained encoder is most of a model's bytes: the demo's MiniLM is 90 of a
95 MB stage-2 file, and a paper stage-2 model would repeat the frozen HuBERT-large and
BERT-base of its stage-1 model (1.7 GB) in each of its rows and folds. A model file
therefore keeps only the tensors that differ from its *base*:

* the weights ``from_pretrained`` gave the model's encoders, which rebuilding the model
  from its spec gives again (modules name them with a ``pretrained_parts()`` method);
* for a stage that started from another trained model (``init``), that model's weights.

The left-out tensors are listed with their SHA-256, and the init model by its path
relative to the file (so a results folder can be moved whole). Loading checks the digest:
a base that changed since (another revision of a hub checkpoint, a stage-1 model trained
again) is an error naming both files, never a silently different model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlser.atomic import atomic_path

__all__ = [
    "ModelFileError",
    "load_model_file",
    "pretrained_state",
    "save_model_file",
    "size_note",
]


class ModelFileError(RuntimeError):
    """A model file whose left-out weights cannot be restored as they were."""


def pretrained_state(model: nn.Module, copy: bool = True) -> dict[str, torch.Tensor]:
    """The tensors of ``model`` that came from ``from_pretrained``, by state-dict key.

    Keys of every alias are included (the AEC decoder shares the text encoder's weights).
    ``copy``: CPU copies, to compare with after training changed the model in place.
    """
    ids: set[tuple[int, tuple[int, ...]]] = set()
    for module in model.modules():
        parts = getattr(module, "pretrained_parts", None)
        if not callable(parts):
            continue
        for name in parts():
            for tensor in module.get_submodule(name).state_dict().values():
                ids.add(_identity(tensor))
    return {
        k: (v.detach().to("cpu", copy=True) if copy else v.detach())
        for k, v in model.state_dict().items()
        if v.numel() and _identity(v) in ids
    }


def save_model_file(
    path: str | os.PathLike[str],
    spec: dict[str, Any],
    model: nn.Module,
    pretrained: Mapping[str, torch.Tensor],
    init: str | os.PathLike[str] | None = None,
    init_state: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, int]:
    """Atomically save ``model`` with ``spec``, leaving out the tensors equal to its base.

    Args:
        pretrained: :func:`pretrained_state` of the model as built, before training.
        init: the model file this stage started from; ``init_state``: the weights taken
            from it, as loaded (before training).
    Returns:
        Bytes kept and left out.
    """
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    from_init = _equal_keys(state, init_state or {})
    from_pretrained = _equal_keys(state, pretrained) - from_init
    omitted = from_init | from_pretrained
    left_out = sorted(omitted)
    payload: dict[str, Any] = {
        "spec": spec,
        "state_dict": {k: v for k, v in state.items() if k not in omitted},
    }
    if left_out:
        payload["base"] = {
            "keys": left_out,
            "sha256": _digest({k: state[k] for k in left_out}),
            # only a file some weights come from becomes a file this one needs
            "init": os.path.relpath(init, Path(path).parent) if init and from_init else None,
        }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return {
        "kept_bytes": _bytes(payload["state_dict"]),
        "left_out_bytes": _bytes({k: state[k] for k in left_out}),
    }


def size_note(sizes: Mapping[str, int]) -> str:
    """What :func:`save_model_file` kept, for a training log."""
    return (
        f"saved {sizes['kept_bytes'] / 1e6:.1f} MB of weights; "
        f"{sizes['left_out_bytes'] / 1e6:.1f} MB of frozen ones are those of its base"
    )


def load_model_file(
    path: str | os.PathLike[str], build: Callable[[dict[str, Any]], nn.Module]
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_model_file` (or a complete older file).

    ``build``: spec -> the model with its pretrained encoders loaded, as it was built for
    training (adapters included); used for ``path`` and for the files it starts from.
    """
    saved = torch.load(path, map_location="cpu", weights_only=False)
    model = build(saved["spec"])
    state = _full_state(Path(path), saved, pretrained_state(model, copy=False), build)
    model.load_state_dict(state)
    return model, saved["spec"]


def _full_state(
    path: Path,
    saved: dict[str, Any],
    pretrained: Mapping[str, torch.Tensor],
    build: Callable[[dict[str, Any]], nn.Module],
) -> dict[str, torch.Tensor]:
    base_info = saved.get("base")
    if not base_info:
        return saved["state_dict"]
    base = dict(pretrained)
    if base_info["init"] is not None:
        init = path.parent / base_info["init"]
        if not init.is_file():
            raise ModelFileError(
                f"{path}: its frozen weights are those of {init}, which is missing "
                "(the model it was trained from; train that again, then this)"
            )
        init_saved = torch.load(init, map_location="cpu", weights_only=False)
        try:  # the encoders of the outer model are usually the init's too: no rebuild
            base.update(_full_state(init, init_saved, pretrained, build))
        except ModelFileError:
            own = pretrained_state(build(init_saved["spec"]), copy=False)
            base.update(_full_state(init, init_saved, own, build))
    keys = base_info["keys"]
    missing = [k for k in keys if k not in base]
    restored = {k: base[k] for k in keys if k in base}
    if missing or _digest(restored) != base_info["sha256"]:
        source = f"{path.parent / base_info['init']} and " if base_info["init"] else ""
        raise ModelFileError(
            f"{path}: the {len(keys)} frozen tensors it leaves out are not what "
            f"{source}the pretrained encoders of its spec give now"
            + (f" ({len(missing)} missing, e.g. {missing[0]})" if missing else " (digest differs)")
            + "; the base changed since training: train this model again"
        )
    return {**restored, **saved["state_dict"]}


def _identity(tensor: torch.Tensor) -> tuple[int, tuple[int, ...]]:
    return tensor.data_ptr(), tuple(tensor.shape)


def _equal_keys(state: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor]) -> set[str]:
    return {
        k
        for k, v in state.items()
        if k in base
        and base[k].shape == v.shape
        and base[k].dtype == v.dtype
        and torch.equal(base[k].cpu(), v)
    }


def _digest(tensors: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def _bytes(tensors: Mapping[str, torch.Tensor]) -> int:
    distinct = {_identity(t): t for t in tensors.values()}  # an alias is stored once
    return sum(t.numel() * t.element_size() for t in distinct.values())
