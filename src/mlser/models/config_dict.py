"""A model config from the JSON dict its ``to_dict`` gave (``dataclasses.asdict``): the one
reader the model configs share, so each names only its nested configs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def config_from_dict(cls: type[T], data: Mapping[str, Any], nested: Mapping[str, type]) -> T:
    """``cls(**data)`` with each field of ``nested`` given as a dict built as its config
    class; a key that is not a field of ``cls`` is an error naming it."""
    unknown = sorted(set(data) - {f.name for f in fields(cls)})  # type: ignore[arg-type]
    if unknown:
        raise ValueError(f"not {cls.__name__} fields: {unknown}")
    return cls(
        **{k: nested[k](**v) if k in nested and isinstance(v, dict) else v for k, v in data.items()}
    )
