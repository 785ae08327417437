"""Readers for the corpus releases (layouts in docs/corpus-formats.md).

Each reader checks the release layout, reads every labelled utterance and writes
``manifest.tsv`` and ``rejects.tsv`` (see :mod:`mlser.data.manifest`). Every labelled
utterance ends up in exactly one of: kept, out of protocol, rejected.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class CorpusFormatError(ValueError):
    """A corpus file whose content does not have the documented form."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class CorpusLayoutError(FileNotFoundError):
    """A corpus root that lacks a file or folder of the documented release layout."""

    def __init__(self, path: str | os.PathLike[str], message: str = "") -> None:
        self.path = str(path)
        text = f"missing {self.path}"
        super().__init__(f"{text}: {message}" if message else text)

    def __str__(self) -> str:
        return self.args[0]


@dataclass
class PrepareSummary:
    """What ``prepare_*`` did: counts per class, per out-of-protocol label, per reject reason.

    ``labelled`` is the number of labelled utterances read from the release; it always
    equals ``n_kept + n_out_of_protocol + n_rejected``.
    """

    corpus: str
    root: str
    manifest: str
    rejects_path: str
    labelled: int = 0
    kept: dict[str, int] = field(default_factory=dict)
    out_of_protocol: dict[str, int] = field(default_factory=dict)
    rejects: dict[str, int] = field(default_factory=dict)
    #: Audio files decoded and written under ``out_dir/audio`` by this run.
    decoded: int = 0
    #: Audio files under ``out_dir/audio`` from an earlier run that were valid and reused.
    reused: int = 0
    #: Rows read (MELD) whose text held cp1252 punctuation as C1 control characters
    #: (``U+0092`` for ``’``), mapped by the reader to the characters they stand for.
    c1_mapped: int = 0
    #: The C1 control characters so mapped, over all those rows.
    c1_mapped_chars: int = 0

    @property
    def n_kept(self) -> int:
        return sum(self.kept.values())

    @property
    def n_out_of_protocol(self) -> int:
        return sum(self.out_of_protocol.values())

    @property
    def n_rejected(self) -> int:
        return sum(self.rejects.values())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view, totals included."""
        return {
            "corpus": self.corpus,
            "root": self.root,
            "manifest": self.manifest,
            "rejects_path": self.rejects_path,
            "labelled": self.labelled,
            "kept": dict(self.kept),
            "n_kept": self.n_kept,
            "out_of_protocol": dict(self.out_of_protocol),
            "n_out_of_protocol": self.n_out_of_protocol,
            "rejects": dict(self.rejects),
            "n_rejected": self.n_rejected,
            "decoded": self.decoded,
            "reused": self.reused,
            "c1_mapped": self.c1_mapped,
            "c1_mapped_chars": self.c1_mapped_chars,
        }

    def format(self) -> str:
        """A short human-readable report for the command line."""

        def counts(d: dict[str, int]) -> str:
            return ", ".join(f"{k}={v}" for k, v in d.items()) or "none"

        lines = [
            f"{self.corpus}: {self.labelled} labelled utterances under {self.root}",
            f"  kept            {self.n_kept:6d}  ({counts(self.kept)})",
            f"  out of protocol {self.n_out_of_protocol:6d}  ({counts(self.out_of_protocol)})",
            f"  rejected        {self.n_rejected:6d}  ({counts(self.rejects)})",
            f"  audio decoded {self.decoded}, reused {self.reused}",
        ]
        if self.c1_mapped_chars:  # only readers that map C1 characters have a line for it
            lines.append(
                f"  text: cp1252 punctuation in C1 controls mapped in {self.c1_mapped} rows"
                f" ({self.c1_mapped_chars} characters)"
            )
        lines += [f"  manifest {self.manifest}", f"  rejects  {self.rejects_path}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def reject_reason(code: str, detail: str = "") -> str:
    """The ``reason`` column of a reject: a fixed code, then the specifics."""
    return f"{code}: {detail}" if detail else code


def reason_code(reason: str) -> str:
    """The fixed code of a ``reason`` built by :func:`reject_reason`."""
    return reason.split(":", 1)[0]


def count_sorted(items: Iterable[str], order: Iterable[str] = ()) -> dict[str, int]:
    """Counts of ``items``, keys in ``order`` first, then the rest alphabetically."""
    c = Counter(items)
    order = [k for k in order if k in c]
    return {k: c[k] for k in [*order, *sorted(k for k in c if k not in order)]}


def map_jobs(fn: Callable[[T], R], items: list[T], workers: int = 1) -> Iterator[R]:
    """``map(fn, items)`` in order, in a process pool when ``workers > 1``."""
    if workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    from concurrent.futures import ProcessPoolExecutor

    workers = min(workers, len(items))
    chunksize = max(1, min(32, len(items) // (4 * workers)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(fn, items, chunksize=chunksize)


def resolve_under(root: Path, value: str | os.PathLike[str] | None, default: str) -> Path:
    """``value`` (or ``default``) taken relative to ``root`` unless it is absolute."""
    return root / Path(value if value is not None else default)


__all__ = [
    "CorpusFormatError",
    "CorpusLayoutError",
    "PrepareSummary",
    "count_sorted",
    "map_jobs",
    "reason_code",
    "reject_reason",
    "resolve_under",
]
