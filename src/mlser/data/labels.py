"""Emotion label sets and the mapping from each corpus's raw labels to them."""

from __future__ import annotations

#: IEMOCAP 4-class protocol: excited is merged into happy (the papers' 5,531 utterances).
IEMOCAP_4CLASS: tuple[str, ...] = ("neu", "hap", "ang", "sad")
IEMOCAP_MAP: dict[str, str] = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}
#: Every label the IEMOCAP EmoEvaluation files use; anything else is a reject.
IEMOCAP_RAW: frozenset[str] = frozenset(
    {"neu", "hap", "exc", "ang", "sad", "fru", "sur", "fea", "dis", "oth", "xxx"}
)

#: MELD's seven emotions, in the order of its papers.
MELD_7CLASS: tuple[str, ...] = (
    "neutral",
    "joy",
    "sadness",
    "anger",
    "surprise",
    "fear",
    "disgust",
)
MELD_MAP: dict[str, str] = {e: e for e in MELD_7CLASS}

GENDERS: tuple[str, ...] = ("F", "M")
STYLES: tuple[str, ...] = ("improvised", "scripted")


def classes_for(corpus: str) -> tuple[str, ...]:
    """The emotion classes of ``corpus`` ("iemocap" or "meld"), in a fixed order."""
    if corpus == "iemocap":
        return IEMOCAP_4CLASS
    if corpus == "meld":
        return MELD_7CLASS
    raise ValueError(f"unknown corpus {corpus!r}: expected 'iemocap' or 'meld'")
