"""Reader for the IEMOCAP release (``IEMOCAP_full_release/``, see docs/corpus-formats.md).

Labels come from ``Session*/dialog/EmoEvaluation/<dialog>.txt`` (one header line per
utterance), text from ``Session*/dialog/transcriptions/<dialog>.txt``, audio from
``Session*/sentences/wav/<dialog>/<utt_id>.wav``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlser.data import labels
from mlser.data.audio import AudioError, audio_info, convert_to_wav
from mlser.data.corpora import (
    CorpusFormatError,
    CorpusLayoutError,
    PrepareSummary,
    count_sorted,
    map_jobs,
    reason_code,
    reject_reason,
)
from mlser.data.manifest import MANIFEST_COLUMNS, Reject, write_manifest, write_rejects

SESSIONS: tuple[int, ...] = (1, 2, 3, 4, 5)
TARGET_SR = 16000

# [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]
_HEADER = re.compile(
    r"^\[\s*(?P<start>\d+(?:\.\d*)?)\s*-\s*(?P<end>\d+(?:\.\d*)?)\s*\]\s+"
    r"(?P<utt>Ses\S+)\s+(?P<label>\S+)\s+"
    r"\[\s*(?P<v>[-+\d.]+)\s*,\s*(?P<a>[-+\d.]+)\s*,\s*(?P<d>[-+\d.]+)\s*\]\s*$"
)
# Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.
_TRANSCRIPT = re.compile(
    r"^(?P<utt>Ses\S+)\s*\[\s*\d+(?:\.\d*)?\s*-\s*\d+(?:\.\d*)?\s*\]\s*:(?P<text>.*)$"
)
_UTT = re.compile(r"^Ses0(?P<session>[1-5])[FM]_\S+_(?P<gender>[FM])[0-9X]{3}$")


@dataclass(frozen=True)
class EmoRecord:
    """One header line of an EmoEvaluation file."""

    utt_id: str
    start: float
    end: float
    label: str
    vad: tuple[float, float, float]


def _read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # the release is ASCII; never fail on a stray byte
    return text.splitlines()


def parse_emo_evaluation(path: str | os.PathLike[str]) -> list[EmoRecord]:
    """The utterance header lines of an EmoEvaluation file, in file order.

    Comment (``%``), annotator (``C-E2:``, ``A-F1:``...) and blank lines are skipped; a
    line starting with ``[`` that is not a well-formed header raises
    :class:`CorpusFormatError` naming the file and line number.
    """
    path = Path(path)
    records: list[EmoRecord] = []
    for lineno, raw in enumerate(_read_lines(path), start=1):
        line = raw.strip()
        if not line.startswith("["):
            continue
        m = _HEADER.match(line)
        if not m:
            raise CorpusFormatError(
                path,
                lineno,
                "malformed utterance header, expected "
                f"'[START - END]<TAB>UTT_ID<TAB>LABEL<TAB>[V, A, D]', got {raw!r}",
            )
        start, end = float(m["start"]), float(m["end"])
        if end < start:
            raise CorpusFormatError(path, lineno, f"end time {end} before start time {start}")
        records.append(
            EmoRecord(
                utt_id=m["utt"],
                start=start,
                end=end,
                label=m["label"],
                vad=(float(m["v"]), float(m["a"]), float(m["d"])),
            )
        )
    return records


def parse_transcriptions(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{utt_id: text}`` from the ``ID [start-end]: text`` lines of a transcription file.

    Other lines are ignored; the text is kept as in the release (tokens such as
    ``[LAUGHTER]`` included), stripped of surrounding white space. The first line of a
    repeated id wins.
    """
    out: dict[str, str] = {}
    for raw in _read_lines(Path(path)):
        m = _TRANSCRIPT.match(raw.strip())
        if m and m["utt"] not in out:
            out[m["utt"]] = m["text"].strip()
    return out


def _match_utt(utt_id: str) -> re.Match[str]:
    m = _UTT.match(utt_id)
    if not m:
        raise ValueError(
            f"not an IEMOCAP utterance id: {utt_id!r} (expected e.g. Ses01F_impro01_F000)"
        )
    return m


def speaker_gender(utt_id: str) -> str:
    """``"F"`` or ``"M"``: the letter before the three-character index of the id."""
    return _match_utt(utt_id)["gender"]


def session_of(utt_id: str) -> str:
    """The session, ``"1"`` to ``"5"``, of an utterance (or dialog) id."""
    m = re.match(r"^Ses0([1-5])", utt_id)
    if not m:
        raise ValueError(f"not an IEMOCAP id: {utt_id!r} (expected it to start Ses01..Ses05)")
    return m[1]


def style_of(dialog: str) -> str:
    """``"improvised"`` or ``"scripted"`` from a dialog (or utterance) id."""
    if "_impro" in dialog:
        return "improvised"
    if "_script" in dialog:
        return "scripted"
    raise ValueError(f"cannot tell the style of {dialog!r}: neither 'impro' nor 'script' in it")


def speaker_of(utt_id: str) -> str:
    """The speaker, e.g. ``Ses01_F``: session plus the speaker's gender."""
    m = _match_utt(utt_id)
    return f"Ses0{m['session']}_{m['gender']}"


def _session_paths(root: Path, session: int) -> tuple[Path, Path, Path]:
    base = root / f"Session{session}"
    return (
        base / "dialog" / "EmoEvaluation",
        base / "dialog" / "transcriptions",
        base / "sentences" / "wav",
    )


def check_layout(root: str | os.PathLike[str], sessions: Iterable[int] = SESSIONS) -> None:
    """Raise :class:`CorpusLayoutError` naming the first missing folder of the layout."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusLayoutError(root, "IEMOCAP root folder (IEMOCAP_full_release) not found")
    for s in sessions:
        for p in _session_paths(root, s):
            if not p.is_dir():
                raise CorpusLayoutError(
                    p,
                    "expected Session{1..5}/dialog/{EmoEvaluation,transcriptions} and "
                    "Session{1..5}/sentences/wav in the IEMOCAP release",
                )


def _dialog_files(emo_dir: Path) -> list[Path]:
    # Only top-level *.txt: the Categorical/Attribute/Self-evaluation sub-folders hold
    # per-annotator files, and macOS copies add "._*" resource forks.
    return sorted(p for p in emo_dir.glob("*.txt") if p.is_file() and not p.name.startswith("."))


def _audio_reject_code(cause: str) -> str:
    if cause.startswith("missing"):
        return "missing_audio"
    if cause.startswith(("empty", "zero-length")):
        return "empty_audio"
    return "unreadable_audio"


def prepare_iemocap(
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    label_map: Mapping[str, str] = labels.IEMOCAP_MAP,
    sessions: Iterable[int] = SESSIONS,
    workers: int = 1,
) -> PrepareSummary:
    """Read the IEMOCAP release at ``root`` and write ``out_dir/manifest.tsv`` and ``rejects.tsv``.

    Utterances whose raw label is in ``label_map`` are kept (mapped), other known labels are
    counted as out of protocol, unknown labels and utterances without transcript or usable
    audio are rejected. Wavs that are already 16 kHz mono are referenced in place (absolute
    path); others are converted to ``out_dir/audio/<utt_id>.wav`` (``workers`` processes).
    """
    # abspath, not resolve: paths in the manifest and in errors keep the user's spelling.
    root = Path(os.path.abspath(root))
    out_dir = Path(os.path.abspath(out_dir))
    sessions = tuple(sessions)
    check_layout(root, sessions)

    rows: list[dict[str, object]] = []
    rejects: list[Reject] = []
    out_of_protocol: list[str] = []
    to_convert: list[tuple[str, str]] = []
    pending: dict[str, dict[str, object]] = {}  # converted wav path -> its row
    seen: set[str] = set()
    labelled = 0

    for s in sessions:
        emo_dir, trans_dir, wav_dir = _session_paths(root, s)
        for emo_file in _dialog_files(emo_dir):
            dialog = emo_file.stem
            records = parse_emo_evaluation(emo_file)
            trans_file = trans_dir / emo_file.name
            texts = parse_transcriptions(trans_file) if trans_file.is_file() else None
            for rec in records:
                labelled += 1
                utt = rec.utt_id
                wav = wav_dir / dialog / f"{utt}.wav"

                def reject(code: str, detail: str, path: Path = wav, utt: str = utt) -> None:
                    rejects.append(Reject(utt, str(path), reject_reason(code, detail)))

                if utt in seen:
                    reject("duplicate_utterance", f"labelled again in {emo_file.name}", emo_file)
                    continue
                seen.add(utt)
                if rec.label not in labels.IEMOCAP_RAW:
                    reject(
                        "unknown_label",
                        f"raw label {rec.label!r} is not an IEMOCAP label",
                        emo_file,
                    )
                    continue
                if rec.label not in label_map:
                    out_of_protocol.append(rec.label)
                    continue
                try:
                    gender, speaker = speaker_gender(utt), speaker_of(utt)
                    style, session = style_of(dialog), session_of(utt)
                except ValueError as exc:
                    reject("bad_utterance_id", str(exc), emo_file)
                    continue
                if texts is None:
                    reject("no_transcript", "transcription file missing", trans_file)
                    continue
                if not texts.get(utt):
                    why = "empty" if utt in texts else "no line for the utterance"
                    reject("no_transcript", f"{why} in the transcription file", trans_file)
                    continue
                try:
                    sr, channels, frames = audio_info(wav)
                except AudioError as exc:
                    reject(_audio_reject_code(exc.cause), exc.cause)
                    continue
                if frames <= 0:
                    reject("empty_audio", "zero-length audio (no samples)")
                    continue
                row: dict[str, object] = {
                    "utt_id": utt,
                    "path": str(wav),
                    "duration": frames / sr,
                    "text": texts[utt],
                    "emotion": label_map[rec.label],
                    "gender": gender,
                    "style": style,
                    "session": session,
                    "speaker": speaker,
                    "split": "",
                }
                if sr != TARGET_SR or channels != 1:
                    dst = out_dir / "audio" / f"{utt}.wav"
                    to_convert.append((str(wav), str(dst)))
                    pending[str(dst)] = row
                    row["path"] = str(dst)
                    row["_src"] = str(wav)
                rows.append(row)

    decoded = 0
    failed: set[str] = set()
    for dst, duration, cause in map_jobs(convert_to_wav, to_convert, workers):
        row = pending[dst]
        if duration is None:
            failed.add(str(row["utt_id"]))
            code = _audio_reject_code(cause)
            rejects.append(Reject(str(row["utt_id"]), str(row["_src"]), reject_reason(code, cause)))
        else:
            decoded += 1
            row["duration"] = duration
    rows = [r for r in rows if r["utt_id"] not in failed]
    for row in rows:
        row.pop("_src", None)

    manifest_path = out_dir / "manifest.tsv"
    rejects_path = out_dir / "rejects.tsv"
    write_manifest(pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)), manifest_path)
    write_rejects(rejects, rejects_path)
    return PrepareSummary(
        corpus="iemocap",
        root=str(root),
        manifest=str(manifest_path),
        rejects_path=str(rejects_path),
        labelled=labelled,
        kept=count_sorted((str(r["emotion"]) for r in rows), dict.fromkeys(label_map.values())),
        out_of_protocol=count_sorted(out_of_protocol),
        rejects=count_sorted(reason_code(r.reason) for r in rejects),
        decoded=decoded,
    )
