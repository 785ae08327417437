"""Seeded generator of the demo MELD corpus, in the ``MELD.Raw`` layout.

Writes ``{train,dev,test}_sent_emo.csv`` and one ``dia<D>_utt<U>.mp4`` per utterance
(AAC audio at 44.1 or 48 kHz with a tiny mpeg4 video track) under ``train_splits``,
``dev_splits_complete`` and ``output_repeated_splits_test``, read by the same reader as
the real release (see docs/corpus-formats.md): Friends-like dialogues of two or three of
six speakers, MELD's skewed 7-emotion distribution with sentiments, background noise and,
on request, missing or unreadable mp4 files and CSV text with a cp1252 byte or mojibake.

The tree is written into a temporary sibling and moved into place
(:func:`mlser.atomic.atomic_path`): a killed run leaves nothing under ``root``.
Everything (text, labels, audio bytes, mp4 bytes) is a function of the spec alone.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from mlser.atomic import atomic_path
from mlser.demo.base import CorpusSpec, tree_size
from mlser.demo.sampling import pick, quota
from mlser.demo.text import FILLERS, text_for
from mlser.demo.tts import SAMPLE_RATE, EspeakSynthesizer, Prosody
from mlser.demo.voice import Speaker, prosody_for, render


@dataclass(frozen=True)
class DemoMeldSpec(CorpusSpec):
    """What :func:`generate_meld` builds (defaults: 60 dialogues, about 300 utterances).

    ``dialogues`` is split into train/dev/test by ``split_shares`` (MELD's 1039/114/280).
    ``faults`` is the number of items of *each* fault kind: missing mp4, unreadable mp4,
    CSV text with a cp1252 byte, CSV text with mojibake.
    """

    seed: int = 2
    dialogues: int = 60
    incongruent_share: float = 0.15
    uninformative_words_share: float = 0.25
    faults: int = 2
    utterances_per_dialogue: tuple[int, int] = (2, 8)
    split_shares: tuple[float, float, float] = (0.725, 0.08, 0.195)
    #: signal-to-noise ratio range of the background noise, dB
    snr_db: tuple[float, float] = (12.0, 22.0)
    audio_rate: int = 48_000
    video_fps: int = 2

    def __post_init__(self) -> None:
        self.check_shares("incongruent_share", "uninformative_words_share")
        if self.dialogues < 3:
            raise ValueError("dialogues must be >= 3 (one per split)")
        lo, hi = self.utterances_per_dialogue
        if not 1 <= lo <= hi:
            raise ValueError(f"bad utterances_per_dialogue {self.utterances_per_dialogue}")
        if self.audio_rate not in (44_100, 48_000):
            raise ValueError("audio_rate must be 44100 or 48000 (as MELD)")


_MELD_DIST = {
    "neutral": 0.4715, "joy": 0.1745, "surprise": 0.1206, "anger": 0.1110,
    "sadness": 0.0684, "disgust": 0.0271, "fear": 0.0268,
}  # fmt: skip
_SENTIMENT = {
    "neutral": "neutral", "joy": "positive", "sadness": "negative", "anger": "negative",
    "fear": "negative", "disgust": "negative",
}  # fmt: skip
_MELD_SPEAKERS = (
    ("Rachel", "F", "belinda", 44.0, 170.0),
    ("Monica", "F", "steph", 50.0, 176.0),
    ("Phoebe", "F", "Annie", 42.0, 160.0),
    ("Ross", "M", "michel", 54.0, 168.0),
    ("Chandler", "M", "travis", 56.0, 180.0),
    ("Joey", "M", "antonio", 50.0, 158.0),
)
MELD_SPLITS: tuple[tuple[str, str, str], ...] = (
    ("train", "train_sent_emo.csv", "train_splits"),
    ("dev", "dev_sent_emo.csv", "dev_splits_complete"),
    ("test", "test_sent_emo.csv", "output_repeated_splits_test"),
)
_MELD_COLUMNS = (
    "Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
    "Season", "Episode", "StartTime", "EndTime",
)  # fmt: skip


@dataclass
class MeldUtterance:
    """One planned MELD utterance: its row of the split's CSV and the voice that says it."""

    split: str
    dialogue: int
    index: int
    speaker: Speaker
    label: str
    sentiment: str
    text: str
    source: str
    season: int
    episode: int
    prosody: Prosody
    start: float = 0.0
    end: float = 0.0
    fault: str = ""

    @property
    def file(self) -> str:
        """The mp4's file name in its split's folder."""
        return f"dia{self.dialogue}_utt{self.index}.mp4"


def _split_sizes(spec: DemoMeldSpec) -> list[int]:
    shares = np.array(spec.split_shares, dtype=float)
    dev = max(1, round(spec.dialogues * shares[1] / shares.sum()))
    test = max(1, round(spec.dialogues * shares[2] / shares.sum()))
    return [spec.dialogues - dev - test, dev, test]


def plan_meld(spec: DemoMeldSpec) -> list[MeldUtterance]:
    """Every utterance of the corpus (split, dialogue, speaker, label, text, prosody), no audio."""
    rng = np.random.default_rng(spec.seed)
    speakers = [
        Speaker(name, g, f"en-us+{voice}", pitch, rate)
        for name, g, voice, pitch, rate in _MELD_SPEAKERS
    ]
    classes = list(_MELD_DIST)
    lo, hi = spec.utterances_per_dialogue
    utts: list[MeldUtterance] = []
    for (split, _csv, _dir), n_dia in zip(MELD_SPLITS, _split_sizes(spec), strict=True):
        lengths = [int(rng.integers(lo, hi + 1)) for _ in range(n_dia)]
        labels = [str(x) for x in rng.permutation(quota(sum(lengths), _MELD_DIST))]
        k = 0
        for dia, length in enumerate(lengths):
            cast = rng.choice(len(speakers), size=int(rng.integers(2, 4)), replace=False)
            season, episode = int(rng.integers(1, 10)), int(rng.integers(1, 25))
            prev = -1
            for i in range(length):
                who = int(rng.choice([c for c in cast if c != prev]))
                prev = who
                label = labels[k]
                k += 1
                sentiment = _SENTIMENT.get(label) or (
                    "positive" if rng.random() < 0.5 else "negative"
                )
                text, src = text_for(
                    rng, label, classes, spec.uninformative_words_share, spec.incongruent_share
                )
                prosody = prosody_for(rng, speakers[who], label)
                utts.append(
                    MeldUtterance(
                        split, dia, i, speakers[who], label, sentiment, text, src, season,
                        episode, prosody,
                    )
                )  # fmt: skip
    return utts


def _timestamp(t: float) -> str:
    ms = round(t * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def write_mp4(path: Path, audio: np.ndarray, rate: int, fps: int = 2, shade: int = 128) -> None:
    """Encode stereo ``audio`` (2, n) float32 as AAC in an mp4 with a tiny mpeg4 video track."""
    import av

    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width = video.height = 32
        video.pix_fmt = "yuv420p"
        video.codec_context.thread_count = 1
        # The "fast" coder is 3-5x quicker than the default two-loop search; the
        # demo needs real AAC, not the best AAC.
        sound = container.add_stream(
            "aac", rate=rate, layout="stereo", options={"aac_coder": "fast"}
        )
        sound.bit_rate = 64_000
        sound.codec_context.thread_count = 1
        image = np.full((32, 32, 3), shade, np.uint8)
        for i in range(max(1, int(np.ceil(audio.shape[1] / rate * fps)))):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio, dtype=np.float32), format="fltp", layout="stereo"
        )
        frame.sample_rate = rate
        frame.pts = 0
        for packet in sound.encode(frame):
            container.mux(packet)
        for packet in sound.encode(None):
            container.mux(packet)


def _encode(path: Path, audio16k: np.ndarray, rate: int, fps: int, shade: int) -> None:
    up = resample_poly(audio16k, rate // 100, SAMPLE_RATE // 100)
    up = np.clip(up, -1.0, 1.0).astype(np.float32)
    write_mp4(path, np.stack([up, up]), rate, fps, shade)


def generate_meld(root: Path, spec: DemoMeldSpec | None = None) -> dict[str, Any]:
    """Write a ``MELD.Raw``-shaped tree at ``root``; return a summary.

    The summary is as for
    :func:`generate_iemocap`, with counts per split instead of per session.
    """
    spec = spec or DemoMeldSpec()
    t0 = time.perf_counter()
    root = Path(root)
    utts = plan_meld(spec)
    rng = np.random.default_rng([spec.seed, 1])
    tts = EspeakSynthesizer()

    # Faults: text faults need an apostrophe to mangle; file faults any row.
    n = spec.faults
    order = [int(i) for i in rng.permutation(len(utts))]
    text_rows = [i for i in order if "'" in utts[i].text][: 2 * n]
    for i in [i for i in order if i not in text_rows][: 2 * n - len(text_rows)]:
        # Too few contractions by chance: give the row a filler sentence that has one.
        utts[i].text = pick(rng, [f for f in FILLERS if "'" in f])
        utts[i].source = "uninformative"
        text_rows.append(i)
    file_rows = [i for i in order if i not in text_rows][: 2 * n]
    for j, i in enumerate(text_rows):
        utts[i].fault = "cp1252_text" if j % 2 == 0 else "mojibake_text"
    for j, i in enumerate(file_rows):
        utts[i].fault = "missing_video" if j % 2 == 0 else "unreadable_video"

    seconds = 0.0
    faults: list[dict[str, str]] = []
    with atomic_path(root) as tmp:
        tmp.mkdir()
        dirs = {split: tmp / d for split, _c, d in MELD_SPLITS}
        for d in dirs.values():
            d.mkdir()
        cursor: dict[tuple[str, int], float] = {}
        for u in utts:
            key = (u.split, u.dialogue)
            if key not in cursor:
                cursor[key] = float(rng.uniform(30.0, 1200.0))
            audio = render(tts, rng, u.text, u.speaker, u.prosody, float(rng.uniform(*spec.snr_db)))
            u.start = cursor[key]
            u.end = u.start + audio.size / SAMPLE_RATE
            cursor[key] = u.end + float(rng.uniform(0.1, 1.0))
            seconds += audio.size / SAMPLE_RATE
            path = dirs[u.split] / u.file
            rel = path.relative_to(tmp).as_posix()
            uid = f"{u.split}_dia{u.dialogue}_utt{u.index}"
            shade = 40 + 30 * [s[0] for s in _MELD_SPEAKERS].index(u.speaker.name)
            if u.fault == "missing_video":
                faults.append({"kind": u.fault, "id": uid, "path": rel})
            elif u.fault == "unreadable_video":
                path.write_bytes(rng.bytes(int(rng.integers(1024, 4096))))
                faults.append({"kind": u.fault, "id": uid, "path": rel})
            else:
                _encode(path, audio, spec.audio_rate, spec.video_fps, shade)
        for split, csv_name, _d in MELD_SPLITS:
            rows = [u for u in utts if u.split == split]
            (tmp / csv_name).write_bytes(_meld_csv(rows))
            for u in rows:
                if u.fault.endswith("_text"):
                    uid = f"{u.split}_dia{u.dialogue}_utt{u.index}"
                    faults.append({"kind": u.fault, "id": uid, "path": csv_name})
        files, size = tree_size(tmp)

    faults.sort(key=lambda f: (f["kind"], f["id"]))
    return {
        "corpus": "meld",
        "root": str(root),
        "spec": {f.name: getattr(spec, f.name) for f in fields(spec)},
        "utterances": len(utts),
        "dialogues": dict(zip([s for s, _c, _d in MELD_SPLITS], _split_sizes(spec), strict=True)),
        "labels": dict(sorted(Counter(u.label for u in utts).items())),
        "splits": dict(sorted(Counter(u.split for u in utts).items())),
        "speakers": {s.name: s.voice for s in {u.speaker.name: u.speaker for u in utts}.values()},
        "word_sources": dict(sorted(Counter(u.source.split(":")[0] for u in utts).items())),
        "vocabulary_size": len({w for u in utts for w in u.text.split()}),
        "audio_seconds": round(seconds, 2),
        "files": files,
        "bytes": size,
        "faults": faults,
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }


def _meld_csv(rows: Iterable[MeldUtterance]) -> bytes:
    """MELD's CSV bytes; fault rows carry a cp1252 byte or UTF-8 mojibake for the apostrophe."""
    out = [_csv_line(_MELD_COLUMNS).encode("utf-8")]
    for sr, u in enumerate(rows, start=1):
        text = u.text
        if u.fault == "cp1252_text":
            text = text.replace("'", "\u2019")
        elif u.fault == "mojibake_text":
            text = text.replace("'", "\u2019".encode().decode("cp1252"))
        cells = (sr, text, u.speaker.name, u.label, u.sentiment, u.dialogue, u.index, u.season,
                 u.episode, _timestamp(u.start), _timestamp(u.end))  # fmt: skip
        line = _csv_line(cells)
        out.append(line.encode("cp1252") if u.fault == "cp1252_text" else line.encode("utf-8"))
    return b"".join(out)


def _csv_line(cells: Iterable[object]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(list(cells))
    return buf.getvalue()
