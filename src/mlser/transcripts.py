"""Transcript normalisation shared by CTC targets, WER, the text vocabularies and the
ground-truth text the multi-level family's BERT and AEC read (as the ASR output is).

One normalisation everywhere, stated once: lower-case; IEMOCAP's bracketed event tokens
(``[LAUGHTER]``, ``[BREATHING]``, ``[GARBAGE]``) removed; curly apostrophes made straight;
every character other than ``a-z``, ``'`` and space removed (digits are rare in both
corpora and are dropped, not spelled out); runs of spaces collapsed.
"""

from __future__ import annotations

import re

_EVENT = re.compile(r"\[[^\]]*\]|<[^>]*>")
_NOT_CHAR = re.compile(r"[^a-z' ]+")
_SPACES = re.compile(r"\s+")


def normalize_transcript(text: str) -> str:
    """Normalise ``text`` as described in the module docstring."""
    text = _EVENT.sub(" ", text.lower()).replace("\u2019", "'").replace("\u2018", "'")
    text = _NOT_CHAR.sub(" ", text.replace("-", " "))
    return _SPACES.sub(" ", text).strip()
