"""What every demo generator shares: the spec base class and the size of a written tree.

Generates nothing itself; :mod:`mlser.demo.iemocap`, :mod:`mlser.demo.meld` and
:mod:`mlser.demo.read_speech` derive their specs from :class:`CorpusSpec` and report the
files and bytes of their release trees with :func:`tree_size`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Self


@dataclass(frozen=True)
class CorpusSpec:
    """Base of the generator specs: frozen settings, built from a config mapping."""

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Self:
        """Build a spec from a config mapping (unknown keys are an error)."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown fields {unknown}; known: {sorted(known)}")
        for key, value in values.items():
            if isinstance(value, list):
                values[key] = tuple(value)
        return cls(**values)

    def check_shares(self, *names: str) -> None:
        """Raise ValueError unless the named shares lie in [0, 1], the incongruent and
        uninformative shares sum to at most 1 and ``faults`` is not negative."""
        for name in names:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{type(self).__name__}.{name} must be in [0, 1], got {value}")
        if self.incongruent_share + self.uninformative_words_share > 1.0:  # type: ignore[attr-defined]
            raise ValueError("incongruent_share + uninformative_words_share must not exceed 1")
        if self.faults < 0:  # type: ignore[attr-defined]
            raise ValueError("faults must be >= 0")


def tree_size(root: Path) -> tuple[int, int]:
    """(number of files, total bytes) under ``root``."""
    paths = [p for p in root.rglob("*") if p.is_file()]
    return len(paths), sum(p.stat().st_size for p in paths)
