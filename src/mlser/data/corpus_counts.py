"""Class counts of a prepared corpus: per session or split, per fold partition."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd


def count_table(
    manifest: pd.DataFrame,
    folds: pd.DataFrame,
    rejects: pd.DataFrame,
    repaired: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Long table ``(group, key, emotion, count)`` with a ``total`` column per row group.

    Groups: ``session`` (IEMOCAP) or ``split`` (MELD) from the manifest, ``fold`` as
    ``<fold>/<partition>``, and ``all``. ``rejects`` is counted in an extra ``rejected``
    row so that a reader sees at a glance what the readers left out, and each of
    ``repaired`` (what the reader changed in kept rows, e.g. MELD's cp1252 punctuation held
    as C1 controls) in a ``repaired`` row.
    """
    classes = sorted(manifest["emotion"].unique())
    parts: list[pd.DataFrame] = []

    def add(group: str, keys: pd.Series, frame: pd.DataFrame) -> None:
        t = pd.crosstab(keys, frame["emotion"]).reindex(columns=classes, fill_value=0)
        t.index.name = "key"
        t = t.reset_index()
        t.insert(0, "group", group)
        parts.append(t)

    by = "split" if (manifest["split"] != "").any() else "session"
    add(by, manifest[by], manifest)
    merged = folds.merge(manifest[["utt_id", "emotion"]], on="utt_id", how="left")
    add("fold", merged["fold"] + "/" + merged["partition"], merged)
    add("all", pd.Series("all", index=manifest.index), manifest)
    table = pd.concat(parts, ignore_index=True)
    table["total"] = table[classes].sum(axis=1)
    extra = [{"group": "rejected", "key": "all", "total": len(rejects)}]
    extra += [{"group": "repaired", "key": k, "total": n} for k, n in (repaired or {}).items()]
    return (
        pd.concat([table, pd.DataFrame(extra)], ignore_index=True)
        .fillna(0)
        .astype({c: int for c in [*classes, "total"]})
    )


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown rendering of :func:`count_table` (no extra deps)."""
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines) + "\n"
