"""Transcript normalisation shared by CTC targets, WER, the text vocabularies and the
ground-truth text the multi-level family's BERT and AEC read where the model reads ASR
output at test time (:func:`strip_event_tags` where it reads the ground truth).

One normalisation everywhere, stated once: lower-case; IEMOCAP's bracketed event tokens
(``[LAUGHTER]``, ``[BREATHING]``, ``[GARBAGE]``) removed; curly apostrophes made straight;
every character other than ``a-z``, ``'`` and space removed (digits are rare in both
corpora and are dropped, not spelled out); runs of spaces collapsed.

:func:`join_word_pieces` writes a text tokenizer's decoded output (the ASR error
correction's transcript) in the same form.
"""

from __future__ import annotations

import re

_EVENT = re.compile(r"\[[^\]]*\]|<[^>]*>")
_NOT_CHAR = re.compile(r"[^a-z' ]+")
_SPACES = re.compile(r"\s+")
# A WordPiece tokenizer (BERT, MiniLM) splits an apostrophe off as a token of its own, and
# decoding writes it back between spaces: "don't" -> "don ' t". The ASR writes words whole,
# so the spaces go again: before a clitic, on both sides; before a clipped word ('cause,
# 'em), after; otherwise the apostrophe closes the word before it (the students' books).
_CLITIC = re.compile(r"(?<=[a-z]) ' (?=(?:s|t|m|d|ll|ve|re)\b)")
# a single letter other than "a" and "i" before an apostrophe is elided (o'clock, y'all),
# and so are ma'am and li'l
_ELIDED = re.compile(r"(?<=\b[b-hj-z]) ' (?=[a-z])|(?<=\bma) ' (?=am\b)|(?<=\bli) ' (?=l\b)")
_CLIPPED = re.compile(r"(?:^|(?<= ))' (?=(?:cause|cos|em|til|bout|round|cept)\b)")
_CLOSING = re.compile(r"(?<=[a-z]) '(?= |$)")
_OPENING = re.compile(r"^' (?=[a-z])")


def normalize_transcript(text: str) -> str:
    """Normalise ``text`` as described in the module docstring."""
    text = _EVENT.sub(" ", text.lower()).replace("\u2019", "'").replace("\u2018", "'")
    text = _NOT_CHAR.sub(" ", text.replace("-", " "))
    return _SPACES.sub(" ", text).strip()


def strip_event_tags(text: str) -> str:
    """The release's transcript as a model that reads ground truth at test time reads it:
    IEMOCAP's bracketed event tokens removed, spaces collapsed; case, punctuation and digits
    kept ("[LAUGHTER] Really?!" -> "Really?!")."""
    return _SPACES.sub(" ", _EVENT.sub(" ", text)).strip()


def join_word_pieces(text: str) -> str:
    """Decoded tokenizer output, normalised and with its words whole as the ASR writes them:
    ``"i don ' t know it ' s fine"`` -> ``"i don't know it's fine"``. Text already written
    that way is returned normalised and otherwise unchanged (byte-level BPE and
    SentencePiece tokenizers decode words whole). Ambiguous in WordPiece's output and
    resolved by the rules above: a word-initial apostrophe other than a clipped word's, two
    in one word ("rock 'n' roll"), and an apostrophe left alone where normalisation dropped
    the digits before it ("the 90's" -> "the 's")."""
    text = normalize_transcript(text)
    text = _CLITIC.sub("'", text)
    text = _ELIDED.sub("'", text)
    text = _CLIPPED.sub("'", text)
    text = _CLOSING.sub("'", text)
    return _OPENING.sub("'", text)
