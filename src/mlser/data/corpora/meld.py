"""Reader for the MELD release (``MELD.Raw/``, see docs/corpus-formats.md).

Labels and text come from ``{train,dev,test}_sent_emo.csv``; audio is decoded from each
utterance's mp4 (first audio stream) to 16 kHz mono and written under ``out_dir/audio``.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
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
    resolve_under,
)
from mlser.data.manifest import MANIFEST_COLUMNS, Reject, write_manifest, write_rejects

SPLITS: tuple[str, ...] = ("train", "dev", "test")
DEFAULT_CSV: dict[str, str] = {s: f"{s}_sent_emo.csv" for s in SPLITS}
DEFAULT_DIR: dict[str, str] = {
    "train": "train_splits",
    "dev": "dev_splits_complete",
    "test": "output_repeated_splits_test",
}
CSV_COLUMNS: tuple[str, ...] = (
    "Sr No.",
    "Utterance",
    "Speaker",
    "Emotion",
    "Sentiment",
    "Dialogue_ID",
    "Utterance_ID",
    "Season",
    "Episode",
    "StartTime",
    "EndTime",
)
TARGET_SR = 16000

# --- encoding repair ---------------------------------------------------------------

# byte -> the character a cp1252 decoder makes of it; the five bytes cp1252 leaves
# undefined (0x81 0x8D 0x8F 0x90 0x9D) pass through as the same code point, as Windows does.
_CP1252_CHAR: dict[int, str] = {}
for _b in range(0x80, 0x100):
    try:
        _CP1252_CHAR[_b] = bytes([_b]).decode("cp1252")
    except UnicodeDecodeError:
        _CP1252_CHAR[_b] = chr(_b)
_CP1252_BYTE: dict[str, int] = {c: b for b, c in _CP1252_CHAR.items()}


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    # One byte at a time, so that the UTF-8 decoder resumes right after it.
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return _CP1252_CHAR[exc.object[exc.start]], exc.start + 1


codecs.register_error("mlser-cp1252-fallback", _cp1252_fallback)


# The release's CSVs are valid UTF-8 yet hold cp1252 punctuation as C1 control code points
# (U+0092 for ’ about 4,900 times, U+0085 …, U+0097 —), which the transcript normaliser and
# BERT's tokenizer would drop. Each C1 code point that cp1252 defines becomes cp1252's
# character; the five it leaves undefined stay: they stand for no known character, and
# mojibake such as ``â€\x9d`` (”) needs them as they are to be undone.
_C1_CHAR: dict[str, str] = {chr(b): c for b, c in _CP1252_CHAR.items() if b <= 0x9F and c != chr(b)}
_C1 = re.compile(f"[{''.join(map(re.escape, _C1_CHAR))}]")


def _chars(lo: int, hi: int) -> str:
    return "".join(re.escape(_CP1252_CHAR[b]) for b in range(lo, hi + 1))


# A UTF-8 sequence (lead byte + continuation bytes) that was decoded as cp1252.
_CONT = f"[{_chars(0x80, 0xBF)}]"
_MOJIBAKE = re.compile(
    f"[{_chars(0xC2, 0xDF)}]{_CONT}|[{_chars(0xE0, 0xEF)}]{_CONT}{{2}}"
    f"|[{_chars(0xF0, 0xF4)}]{_CONT}{{3}}"
)


def _unmojibake(match: re.Match[str]) -> str:
    s = match.group(0)
    try:
        return bytes(_CP1252_BYTE[c] for c in s).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return s


def decode_meld_bytes(data: bytes) -> str:
    """UTF-8 text, with bytes that are not UTF-8 read as cp1252 (MELD's ``\\x92``)."""
    return data.decode("utf-8", errors="mlser-cp1252-fallback")


def map_c1_controls(text: str) -> tuple[str, int]:
    """``text`` with each C1 control that cp1252 defines made cp1252's character
    (``\\x92`` → ``’``), and the number of characters so mapped."""
    return _C1.subn(lambda m: _C1_CHAR[m.group(0)], text)


def repair_mojibake(text: str) -> str:
    """Undo UTF-8-read-as-cp1252 (``â€™`` → ``’``); text without it is returned unchanged."""
    for _ in range(3):  # text mangled twice needs two rounds
        fixed = _MOJIBAKE.sub(_unmojibake, text)
        if fixed == text:
            break
        text = fixed
    return text


def read_meld_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a MELD ``*_sent_emo.csv``, repairing its encoding and nothing else.

    Bytes are decoded as UTF-8; bytes that are not valid UTF-8 are read as cp1252 (the
    release has stray ``\\x92`` apostrophes), C1 control characters that stand for cp1252
    punctuation (the release's UTF-8 ``U+0092``) are mapped by :func:`map_c1_controls`,
    and UTF-8 that was mis-decoded as cp1252 somewhere upstream (``â€™``) is turned back
    into the intended character. The text is otherwise kept as the corpus has it: curly
    quotes, spacing and case are not normalised. Returns the CSV columns as strings,
    ``Dialogue_ID``/``Utterance_ID`` as ints, ``source_line`` (1-based line of the row in
    the file) and ``c1_mapped`` (C1 characters mapped in the row). A row with the wrong
    number of fields or non-integer ids raises :class:`CorpusFormatError` naming the line.
    """
    path = Path(path)
    text = decode_meld_bytes(path.read_bytes()).removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CorpusFormatError(path, 1, "empty file, expected a CSV header") from None
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise CorpusFormatError(
            path, 1, f"header lacks columns {missing}; expected {','.join(CSV_COLUMNS)}"
        )
    records: list[list[str]] = []
    lines: list[int] = []
    c1_mapped: list[int] = []
    end_line = reader.line_num
    try:
        for row in reader:
            start_line, end_line = end_line + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != len(header):
                raise CorpusFormatError(
                    path, start_line, f"expected {len(header)} fields, found {len(row)}: {row!r}"
                )
            fields: list[str] = []
            mapped = 0
            for value in row:
                # C1 before mojibake repair, which reads cp1252-decoded text (so UTF-8 read
                # as latin-1, ``â\x80\x99``, is undone too), and after it, for C1 text that
                # was itself encoded as UTF-8 and read as cp1252 (``Â\x92`` -> ``\x92``).
                value, n = map_c1_controls(value)
                fields.append(map_c1_controls(repair_mojibake(value))[0])
                mapped += n  # C1 characters in the text as read, each counted once
            records.append(fields)
            lines.append(start_line)
            c1_mapped.append(mapped)
    except csv.Error as exc:
        raise CorpusFormatError(path, reader.line_num, f"unparsable CSV ({exc})") from exc
    df = pd.DataFrame(records, columns=header, dtype=object)
    for col in ("Dialogue_ID", "Utterance_ID"):
        values = df[col].str.strip()
        bad = ~values.str.fullmatch(r"\d+")
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise CorpusFormatError(path, lines[i], f"{col} is not an integer: {df[col].iat[i]!r}")
        df[col] = values.astype(int)
    df["source_line"] = lines
    df["c1_mapped"] = c1_mapped
    return df


# --- prepare --------------------------------------------------------------------------


def _reusable(wav: Path, video: Path) -> float | None:
    """Duration of a wav left by an earlier run, if it is valid and not older than its video."""
    try:
        if wav.stat().st_mtime < video.stat().st_mtime:
            return None
        sr, channels, frames = audio_info(wav)
    except (OSError, AudioError):
        return None
    if sr != TARGET_SR or channels != 1 or frames <= 0:
        return None
    return frames / sr


def prepare_meld(
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    train_csv: str | os.PathLike[str] | None = None,
    dev_csv: str | os.PathLike[str] | None = None,
    test_csv: str | os.PathLike[str] | None = None,
    train_dir: str | os.PathLike[str] | None = None,
    dev_dir: str | os.PathLike[str] | None = None,
    test_dir: str | os.PathLike[str] | None = None,
    workers: int = 1,
) -> PrepareSummary:
    """Read the MELD release at ``root``; write audio, ``manifest.tsv`` and ``rejects.tsv``.

    CSV and video-folder paths default to the release layout; a relative override is taken
    relative to ``root``. Each utterance's mp4 is decoded to
    ``out_dir/audio/{split}/dia{D}_utt{U}.wav`` (``workers`` processes), unless a valid wav
    no older than the mp4 is already there, so a rerun only reads headers (unreadable
    videos are tried again; they fail at once). Missing or unreadable videos, unknown
    emotions and repeated rows are rejected.
    """
    # abspath, not resolve: paths in the manifest and in errors keep the user's spelling.
    root = Path(os.path.abspath(root))
    out_dir = Path(os.path.abspath(out_dir))
    csvs = dict(zip(SPLITS, (train_csv, dev_csv, test_csv), strict=True))
    dirs = dict(zip(SPLITS, (train_dir, dev_dir, test_dir), strict=True))
    csv_paths = {s: resolve_under(root, csvs[s], DEFAULT_CSV[s]) for s in SPLITS}
    dir_paths = {s: resolve_under(root, dirs[s], DEFAULT_DIR[s]) for s in SPLITS}

    if not root.is_dir():
        raise CorpusLayoutError(root, "MELD root folder (MELD.Raw) not found")
    for s in SPLITS:
        if not csv_paths[s].is_file():
            raise CorpusLayoutError(csv_paths[s], f"the MELD {s} CSV")
        if not dir_paths[s].is_dir():
            raise CorpusLayoutError(dir_paths[s], f"the MELD {s} video folder")

    rows: dict[str, dict[str, object]] = {}
    rejects: list[Reject] = []
    jobs: list[tuple[str, str]] = []
    job_utt: dict[str, tuple[str, str]] = {}  # wav -> (utt_id, video)
    seen: set[str] = set()
    labelled = reused = c1_rows = c1_chars = 0

    for split in SPLITS:
        df = read_meld_csv(csv_paths[split])
        c1_rows += int((df["c1_mapped"] > 0).sum())
        c1_chars += int(df["c1_mapped"].sum())
        for rec in df.itertuples(index=False):
            labelled += 1
            d, u = int(rec.Dialogue_ID), int(rec.Utterance_ID)
            name = f"dia{d}_utt{u}"
            utt = f"{split}_{name}"
            video = dir_paths[split] / f"{name}.mp4"
            wav = out_dir / "audio" / split / f"{name}.wav"
            emotion = str(rec.Emotion).strip().lower()

            def reject(
                code: str, detail: str, path: Path = csv_paths[split], utt: str = utt
            ) -> None:
                rejects.append(Reject(utt, str(path), reject_reason(code, detail)))

            if utt in seen:
                reject("duplicate_utterance", f"{name} again at line {rec.source_line}")
                continue
            seen.add(utt)
            if emotion not in labels.MELD_MAP:
                reject("unknown_emotion", f"{rec.Emotion!r} at line {rec.source_line}")
                continue
            if not video.is_file():
                reject("missing_video", "no such file", video)
                continue
            rows[utt] = {
                "utt_id": utt,
                "path": str(wav),
                "duration": 0.0,
                "text": str(rec.Utterance).strip(),
                "emotion": labels.MELD_MAP[emotion],
                "gender": "",
                "style": "",
                "session": f"{split}_{d}",
                "speaker": str(rec.Speaker).strip(),
                "split": split,
            }
            duration = _reusable(wav, video)
            if duration is not None:
                rows[utt]["duration"] = duration
                reused += 1
            else:
                jobs.append((str(video), str(wav)))
                job_utt[str(wav)] = (utt, str(video))

    decoded = 0
    for wav, duration, cause in map_jobs(convert_to_wav, jobs, workers):
        utt, video = job_utt[wav]
        if duration is None:
            del rows[utt]
            code = "missing_video" if cause.startswith("missing") else "unreadable_video"
            rejects.append(Reject(utt, video, reject_reason(code, cause)))
        else:
            rows[utt]["duration"] = duration
            decoded += 1

    manifest_path = out_dir / "manifest.tsv"
    rejects_path = out_dir / "rejects.tsv"
    write_manifest(pd.DataFrame(list(rows.values()), columns=list(MANIFEST_COLUMNS)), manifest_path)
    write_rejects(rejects, rejects_path)
    return PrepareSummary(
        corpus="meld",
        root=str(root),
        manifest=str(manifest_path),
        rejects_path=str(rejects_path),
        labelled=labelled,
        kept=count_sorted((str(r["emotion"]) for r in rows.values()), labels.MELD_7CLASS),
        out_of_protocol={},
        rejects=count_sorted(reason_code(r.reason) for r in rejects),
        decoded=decoded,
        reused=reused,
        c1_mapped=c1_rows,
        c1_mapped_chars=c1_chars,
    )
