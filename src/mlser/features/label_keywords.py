"""Label keywords: the Top-K TF-IDF words of each emotion class (wang2023 §2.1).

The transcripts of one class in a fold's *training* partition are joined into one
document per class; TF-IDF (scikit-learn) over those C documents scores every word of
every class, and the K best words of a class are its keywords. The same TF-IDF ranks the
codebook frames of each class (:mod:`mlser.features.codebook`), with code tokens for words.

Stated and configurable (:class:`KeywordSettings`): transcripts are normalised by
:func:`mlser.data.transcripts.normalize_transcript` (lower case, event tokens and punctuation
removed); stop words are scikit-learn's English list by default (``stop_words: null``
keeps every word, a list gives one's own); term frequency is sublinear (``1 + log tf``)
by default, so a filler word said in every utterance of every class does not outrank the
class's emotion words by sheer count (the paper states neither choice). Ties are broken
by the word itself, so the table is the same on every run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlser.atomic import write_text
from mlser.data.transcripts import normalize_transcript

KEYWORD_COLUMNS: tuple[str, ...] = ("class", "rank", "keyword", "score", "count")


@dataclass(frozen=True)
class KeywordSettings:
    """How the class documents are scored.

    Attributes:
        k: keywords kept per class (paper: 9 for text, 100 for speech frames).
        stop_words: ``"english"`` (scikit-learn's list), None, or a list of words.
        sublinear_tf: ``1 + log(tf)`` instead of raw counts.
        smooth_idf: scikit-learn's ``smooth_idf`` (idf = ln((1+n)/(1+df)) + 1).
        min_count: a word must occur this often in a class to be one of its keywords.
    """

    k: int = 9
    stop_words: str | list[str] | None = "english"
    sublinear_tf: bool = True
    smooth_idf: bool = True
    min_count: int = 1

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> KeywordSettings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"keyword settings: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


def class_documents(
    texts: Sequence[str], labels: Sequence[str], classes: Sequence[str]
) -> list[str]:
    """One document per class (in ``classes`` order): its texts joined by newlines."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {list(classes)}")
    docs: dict[str, list[str]] = {c: [] for c in classes}
    for text, label in zip(texts, labels, strict=True):
        docs[label].append(text)
    return ["\n".join(docs[c]) for c in classes]


def tfidf_top_k(
    documents: Sequence[str],
    classes: Sequence[str],
    settings: KeywordSettings,
    token_pattern: str = r"(?u)\b[a-z']+\b",
) -> pd.DataFrame:
    """The Top-K terms of each class document by TF-IDF.

    Args:
        documents: one document per class (:func:`class_documents`).
        classes: the class names, in the order of ``documents``.
        settings: K, stop words and the TF-IDF variant.
        token_pattern: what a term is (words here; ``\\S+`` for code tokens).

    Returns:
        Columns :data:`KEYWORD_COLUMNS`: per class the ranks 1..K (fewer if the class has
        fewer terms), the term, its TF-IDF score and its count in the class.
    """
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    if len(documents) != len(classes):
        raise ValueError(f"{len(documents)} documents for {len(classes)} classes")
    counter = CountVectorizer(
        lowercase=False, token_pattern=token_pattern, stop_words=settings.stop_words
    )
    try:
        counts = counter.fit_transform(documents)
    except ValueError as err:  # every document empty (after stop words)
        raise ValueError(f"no terms to rank in the class documents: {err}") from None
    tfidf = TfidfTransformer(
        sublinear_tf=settings.sublinear_tf, smooth_idf=settings.smooth_idf, norm="l2"
    ).fit_transform(counts)
    vocab = counter.get_feature_names_out()
    counts, scores = counts.toarray(), tfidf.toarray()
    rows = []
    for i, cls in enumerate(classes):
        ok = np.flatnonzero(counts[i] >= max(1, settings.min_count))
        # highest score first, ties by the term so the order is reproducible
        order = sorted(ok, key=lambda j: (-scores[i, j], vocab[j]))[: settings.k]
        for rank, j in enumerate(order, start=1):
            rows.append((cls, rank, str(vocab[j]), float(scores[i, j]), int(counts[i, j])))
    return pd.DataFrame(rows, columns=list(KEYWORD_COLUMNS))


def label_keywords(
    texts: Sequence[str],
    labels: Sequence[str],
    classes: Sequence[str],
    settings: KeywordSettings,
) -> pd.DataFrame:
    """Top-K TF-IDF keywords per class of (normalised) transcripts; see the module doc."""
    norm = [normalize_transcript(t) for t in texts]
    return tfidf_top_k(class_documents(norm, labels, classes), classes, settings)


def keywords_by_class(table: pd.DataFrame, classes: Sequence[str]) -> list[list[str]]:
    """Keyword lists in class order (rank order inside each), from a keyword table."""
    missing = sorted(set(table["class"]) - set(classes))
    if missing:
        raise ValueError(f"keyword table has classes {missing} not among {list(classes)}")
    ordered = table.sort_values(["class", "rank"])
    return [ordered.loc[ordered["class"] == c, "keyword"].astype(str).tolist() for c in classes]


def read_keywords(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A keyword table written by :func:`write_keywords` (keywords kept as strings)."""
    table = pd.read_csv(path, sep="\t", dtype={"keyword": str}, keep_default_na=False)
    missing = [c for c in KEYWORD_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a keyword table, columns {missing} missing")
    return table


def write_keywords(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Atomically write a keyword table as TSV."""
    write_text(path, table.to_csv(sep="\t", index=False, float_format="%.6f"))


def keywords_markdown(tables: dict[str, pd.DataFrame], classes: Sequence[str]) -> str:
    """The keywords of each class per fold as the paper lists them: one row per class,
    the words in rank order (Markdown)."""
    lines = ["| fold | class | top keywords (TF-IDF rank order) |", "|---|---|---|"]
    for fold, table in tables.items():
        for cls, words in zip(classes, keywords_by_class(table, classes), strict=True):
            lines.append(f"| {fold} | {cls} | {', '.join(words)} |")
    return "\n".join(lines) + "\n"
