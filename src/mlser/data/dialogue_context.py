"""Historical utterances: the dialogue turns spoken before an utterance (wang2023 §3.2).

wang2023 splices "no more than ten historical utterances" before the current one and
limits the text to 150 tokens. The history is text only (no labels), so a test utterance
may read the turns before it in its own dialogue, as at inference time.

Dialogue order: IEMOCAP's ``Session*/dialog/transcriptions/<dialog>.txt`` lists every
turn of a dialogue (both speakers, also the turns the 4-class protocol drops) in spoken
order; the file is found from the manifest's wav path
(``Session*/sentences/wav/<dialog>/<utt>.wav``). MELD's turns are ordered by the ``utt``
number of ``<split>_dia<d>_utt<u>`` within the dialogue (``session`` column); turns not
in the manifest (rejects) are missing from the history.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from mlser.data.corpora.iemocap import parse_transcriptions

#: Between the history and the current utterance (a BERT-family special token).
SEPARATOR = " [SEP] "

_MELD_UTT = re.compile(r"_utt(\d+)$")


class ContextError(ValueError):
    """Dialogue order that cannot be found; the message names the file or utterance."""


def _iemocap_dialogues(manifest: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for path in manifest["path"]:
        wav = Path(path)
        dialog = wav.parent.name
        if dialog in out:
            continue
        trans = wav.parents[3] / "dialog" / "transcriptions" / f"{dialog}.txt"
        if not trans.is_file():
            raise ContextError(
                f"{trans}: no transcription file, so the dialogue order of {wav.name} is unknown"
            )
        out[dialog] = list(parse_transcriptions(trans).items())
    return out


def _meld_dialogues(manifest: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for utt, text, dialog in manifest[["utt_id", "text", "session"]].itertuples(index=False):
        m = _MELD_UTT.search(str(utt))
        if m is None:
            raise ContextError(f"MELD utterance id {utt!r} has no _utt<n> suffix")
        out.setdefault(str(dialog), []).append((int(m[1]), str(utt), str(text)))  # type: ignore[arg-type]
    return {d: [(u, t) for _, u, t in sorted(turns)] for d, turns in out.items()}  # type: ignore[misc]


def histories(manifest: pd.DataFrame, corpus: str, n: int) -> dict[str, list[str]]:
    """Up to ``n`` previous turns (oldest first) of every manifest utterance."""
    if n <= 0:
        return {u: [] for u in manifest["utt_id"]}
    dialogues = _iemocap_dialogues(manifest) if corpus == "iemocap" else _meld_dialogues(manifest)
    before: dict[str, list[str]] = {}
    for turns in dialogues.values():
        for i, (utt, _text) in enumerate(turns):
            before[utt] = [t for _, t in turns[max(0, i - n) : i]]
    missing = sorted(set(manifest["utt_id"]) - set(before))
    if missing:
        raise ContextError(f"utterances not found in their dialogue: {missing[:5]}")
    return {u: before[u] for u in manifest["utt_id"]}


def with_history(manifest: pd.DataFrame, corpus: str, n: int) -> dict[str, str]:
    """The text each utterance is read with: its history, ``[SEP]``, then itself."""
    hist = histories(manifest, corpus, n)
    out = {}
    for utt, text in manifest[["utt_id", "text"]].itertuples(index=False):
        out[utt] = " ".join(hist[utt]) + SEPARATOR + str(text) if hist[utt] else str(text)
    return out
