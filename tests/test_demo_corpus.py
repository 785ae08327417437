"""The demo corpora generator: release layouts, determinism, emotion design, faults."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import defaultdict
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from mlser.data.labels import IEMOCAP_MAP, IEMOCAP_RAW, MELD_7CLASS
from mlser.demo import iemocap as demo_iemocap
from mlser.demo.iemocap import DemoIemocapSpec, generate_iemocap
from mlser.demo.meld import MELD_SPLITS, DemoMeldSpec, generate_meld, plan_meld
from mlser.demo.text import vocabulary
from mlser.demo.tts import EspeakSynthesizer, Prosody, TTSError

SMALL_IEMOCAP = {"utterances_per_speaker": 8, "faults": 1}
SMALL_MELD = {"dialogues": 3, "utterances_per_dialogue": (2, 4), "faults": 1}

HEADER_RE = re.compile(
    r"^\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t(Ses0[1-5][FM]_\w+_[FM]\d{3})\t(\w+)\t"
    r"\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]$"
)
TRANS_RE = re.compile(
    r"^(Ses0[1-5][FM]_\w+_[FM](?:XX)?\d+) \[(\d{3}\.\d{4})-(\d{3}\.\d{4})\]: (.+)$"
)
DIALOG_RE = re.compile(r"^Ses0([1-5])[FM]_(impro\d{2}|script\d{2}_\d)$")
TOKEN_RE = re.compile(r"\[(LAUGHTER|BREATHING|GARBAGE)\]")
TIME_RE = re.compile(r"^(\d{2}):(\d{2}):(\d{2}),(\d{3})$")


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("iemocap")
    runs = {}
    for name, over in {"a": {}, "b": {}, "other_seed": {"seed": 8}, "clean": {"faults": 0}}.items():
        spec = DemoIemocapSpec(**{"seed": 7, **SMALL_IEMOCAP, **over})
        root = base / name / "IEMOCAP_full_release"
        runs[name] = (root, generate_iemocap(root, spec))
    return runs


@pytest.fixture(scope="module")
def meld(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("meld")
    runs = {}
    for name, over in {"a": {}, "b": {}, "clean": {"faults": 0}}.items():
        spec = DemoMeldSpec(**{"seed": 5, **SMALL_MELD, **over})
        root = base / name / "MELD.Raw"
        runs[name] = (root, generate_meld(root, spec))
    return runs


def _parse_iemocap(root: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """(labelled utterances from EmoEvaluation, transcription lines) keyed by utterance id."""
    labelled: dict[str, dict] = {}
    transcripts: dict[str, dict] = {}
    for f in sorted(root.glob("Session*/dialog/EmoEvaluation/*.txt")):
        lines = f.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
        for line in lines[1:]:
            if line.startswith("["):
                m = HEADER_RE.match(line)
                assert m, line
                start, end, uid, label = float(m[1]), float(m[2]), m[3], m[4]
                assert uid.startswith(f.stem + "_") and start < end
                labelled[uid] = {"label": label, "dur": end - start, "dialog": f.stem}
            else:
                assert line == "" or re.match(r"^[CA]-[EFM]\d:\t.+;\t\(\)$", line), line
    for f in sorted(root.glob("Session*/dialog/transcriptions/*.txt")):
        for line in f.read_text(encoding="utf-8").splitlines():
            m = TRANS_RE.match(line)
            assert m, line
            transcripts[m[1]] = {"text": m[4], "dialog": f.stem}
    return labelled, transcripts


def test_iemocap_same_seed_is_byte_identical_other_seed_differs(iemocap: dict) -> None:
    a, b, other = (_tree_hashes(iemocap[k][0]) for k in ("a", "b", "other_seed"))
    assert a == b
    assert any(k.endswith(".wav") for k in a)
    texts = {k for k in a if k.endswith(".txt")}
    assert texts & set(other)
    assert all(a[k] != other.get(k) for k in texts)
    assert iemocap["a"][1]["labels"] == iemocap["b"][1]["labels"]


def test_iemocap_layout_matches_release(iemocap: dict) -> None:
    root, summary = iemocap["clean"]
    assert sorted(p.name for p in root.iterdir()) == [f"Session{s}" for s in range(1, 6)]
    labelled, transcripts = _parse_iemocap(root)
    assert len(labelled) == summary["utterances"] == 10 * 8
    dialogs = {p.stem for p in root.glob("Session*/dialog/EmoEvaluation/*.txt")}
    assert dialogs == {p.stem for p in root.glob("Session*/dialog/transcriptions/*.txt")}
    assert dialogs == {p.name for p in root.glob("Session*/sentences/wav/*") if p.is_dir()}
    assert all(DIALOG_RE.match(d) for d in dialogs)
    assert {"impro", "script"} == {re.sub(r"\d.*", "", d.split("_")[1]) for d in dialogs}
    labels = {u["label"] for u in labelled.values()}
    assert labels <= IEMOCAP_RAW and "exc" in labels
    # XX turns are transcribed but never evaluated and have no wav.
    xx = [uid for uid in transcripts if "XX" in uid]
    assert xx and not set(xx) & set(labelled)
    assert not any(root.rglob("*XX*.wav"))
    for uid, u in labelled.items():
        session = uid[4]
        wav = root / f"Session{session}" / "sentences" / "wav" / u["dialog"] / f"{uid}.wav"
        info = sf.info(wav)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.frames / 16000 - u["dur"]) < 1e-3
        assert uid in transcripts


def test_iemocap_sessions_have_one_female_and_one_male(iemocap: dict) -> None:
    root, summary = iemocap["a"]
    labelled, _ = _parse_iemocap(root)
    genders = defaultdict(set)
    for uid in labelled:
        genders[uid[:5]].add(uid.rsplit("_", 1)[1][0])
    assert genders == {f"Ses0{s}": {"F", "M"} for s in range(1, 6)}
    voices = summary["speakers"]
    assert len(voices) == 10 and len(set(voices.values())) == 10


def test_iemocap_words_vocabulary_and_script_lines(iemocap: dict) -> None:
    root, summary = iemocap["a"]
    _, transcripts = _parse_iemocap(root)
    vocab = vocabulary()
    assert 150 < len(vocab) < 500
    scripts: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    tokens = 0
    for uid, t in transcripts.items():
        words = TOKEN_RE.sub("", t["text"]).split()
        tokens += bool(TOKEN_RE.search(t["text"]))
        assert set(words) <= vocab, t["text"]
        if "XX" not in uid:
            assert 4 <= len(words) <= 10, t["text"]
        if "_script" in uid and "XX" not in uid:
            name = t["dialog"].split("_", 1)[1].rsplit("_", 1)[0]  # script01
            scripts[name][uid[:5]].append(" ".join(words))
    assert tokens > 0
    # Every session performs the same script lines with the same text.
    assert scripts
    for per_session in scripts.values():
        texts = [sorted(v) for v in per_session.values()]
        assert len(per_session) == 5 and all(t == texts[0] for t in texts)
    assert summary["styles"]["scripted"] == 10 * round(8 * 0.4)


def _f0(x: np.ndarray, sr: int = 16000) -> float:
    """Median F0 of the voiced frames, by normalised autocorrelation (60-450 Hz)."""
    n, hop = int(0.04 * sr), int(0.01 * sr)
    lo, hi = int(sr / 450), int(sr / 60)
    thr = 0.1 * np.sqrt(np.mean(x**2))
    out = []
    for s in range(0, len(x) - n, hop):
        fr = x[s : s + n] - x[s : s + n].mean()
        if np.sqrt(np.mean(fr**2)) < thr:
            continue
        spec = np.fft.rfft(fr, 2 * n)
        ac = np.fft.irfft(spec * np.conj(spec))[:n]
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[k] > 0.5 * ac[0]:
            out.append(sr / k)
    return float(np.median(out))


def test_iemocap_prosody_carries_arousal(iemocap: dict) -> None:
    root, _ = iemocap["clean"]
    labelled, transcripts = _parse_iemocap(root)
    stats: dict[str, dict[bool, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for uid, u in labelled.items():
        cls = IEMOCAP_MAP.get(u["label"])
        if cls is None:
            continue
        x, sr = sf.read(root / f"Session{uid[4]}/sentences/wav/{u['dialog']}/{uid}.wav")
        n_words = len(TOKEN_RE.sub("", transcripts[uid]["text"]).split())
        speaker = uid[:5] + uid.rsplit("_", 1)[1][0]
        stats[speaker][cls in ("hap", "ang")].append((_f0(x), len(x) / sr / n_words))
    compared = 0
    for speaker, groups in stats.items():
        if not (groups[True] and groups[False]):
            continue
        compared += 1
        high, low = np.array(groups[True]), np.array(groups[False])
        assert np.median(high[:, 0]) > 1.15 * np.median(low[:, 0]), speaker  # higher pitch
        assert np.median(high[:, 1]) < np.median(low[:, 1]), speaker  # faster speech
    assert compared >= 8
    # Female voices are higher than male ones at the same arousal.
    low_f0 = {s: np.median(np.array(g[False])[:, 0]) for s, g in stats.items() if g[False]}
    assert min(v for s, v in low_f0.items() if s.endswith("F")) > max(
        v for s, v in low_f0.items() if s.endswith("M")
    )


def test_iemocap_faults(iemocap: dict) -> None:
    for name, expected in (("clean", 0), ("a", 1)):
        root, summary = iemocap[name]
        labelled, transcripts = _parse_iemocap(root)
        unreadable = set()
        for uid, u in labelled.items():
            try:
                x, _ = sf.read(root / f"Session{uid[4]}/sentences/wav/{u['dialog']}/{uid}.wav")
                assert len(x) > 0
            except (sf.LibsndfileError, RuntimeError):
                unreadable.add(uid)
        untranscribed = set(labelled) - set(transcripts)
        kinds = defaultdict(set)
        for f in summary["faults"]:
            kinds[f["kind"]].add(f["id"])
            assert (root / f["path"]).exists()
        assert unreadable == kinds["empty_wav"] | kinds["truncated_wav"]
        assert untranscribed == kinds["missing_transcript"]
        assert len(unreadable) == 2 * expected and len(untranscribed) == expected
        assert all(IEMOCAP_MAP.get(labelled[u]["label"]) for u in unreadable | untranscribed)


def test_generation_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing(*args: object, **kwargs: object) -> np.ndarray:
        calls.append(1)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return np.zeros(1600, np.float32)

    monkeypatch.setattr(demo_iemocap, "render", failing)
    root = tmp_path / "IEMOCAP_full_release"
    with pytest.raises(KeyboardInterrupt):
        generate_iemocap(root, DemoIemocapSpec(utterances_per_speaker=4))
    assert list(tmp_path.iterdir()) == []


def test_spec_from_dict() -> None:
    spec = DemoMeldSpec.from_dict({"seed": 3, "dialogues": 9, "utterances_per_dialogue": [2, 3]})
    assert spec.utterances_per_dialogue == (2, 3) and spec.seed == 3
    assert DemoIemocapSpec.from_dict(None) == DemoIemocapSpec()
    with pytest.raises(ValueError, match="unknown fields"):
        DemoIemocapSpec.from_dict({"utterances": 3})
    with pytest.raises(ValueError):
        DemoIemocapSpec(incongruent_share=0.6, uninformative_words_share=0.6)


def _meld_rows(root: Path, csv_name: str) -> list[dict[str, str]]:
    raw = root.joinpath(csv_name).read_bytes()
    lines = [line.decode("utf-8", errors="replace") for line in raw.split(b"\n") if line]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def test_meld_same_seed_is_byte_identical(meld: dict) -> None:
    a, b = _tree_hashes(meld["a"][0]), _tree_hashes(meld["b"][0])
    assert a == b and any(k.endswith(".mp4") for k in a)


def test_meld_layout_and_audio(meld: dict) -> None:
    root, summary = meld["clean"]
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [
            "train_sent_emo.csv",
            "dev_sent_emo.csv",
            "test_sent_emo.csv",
            "train_splits",
            "dev_splits_complete",
            "output_repeated_splits_test",
        ]
    )
    total = 0
    decoded = 0
    for split, csv_name, folder in MELD_SPLITS:
        raw = root.joinpath(csv_name).read_bytes()
        assert raw.split(b"\n")[0] == (
            b"Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,"
            b"Season,Episode,StartTime,EndTime"
        )
        text = raw.decode("utf-8")  # faults=0: clean UTF-8, no mojibake
        assert "â€" not in text
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows and [int(r["Sr No."]) for r in rows] == list(range(1, len(rows) + 1))
        assert {int(r["Dialogue_ID"]) for r in rows} == set(range(summary["dialogues"][split]))
        files = {p.name for p in (root / folder).iterdir()}
        assert files == {f"dia{r['Dialogue_ID']}_utt{r['Utterance_ID']}.mp4" for r in rows}
        for r in rows:
            assert r["Emotion"] in MELD_7CLASS
            assert r["Sentiment"] in ("neutral", "positive", "negative")
            start, end = (TIME_RE.match(r[k]) for k in ("StartTime", "EndTime"))
            assert start and end
            secs = [
                int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) + int(m[4]) / 1000
                for m in (start, end)
            ]
            total += 1
            if decoded < 3:  # decoding every file costs time; the first few suffice
                decoded += 1
                path = root / folder / f"dia{r['Dialogue_ID']}_utt{r['Utterance_ID']}.mp4"
                with av.open(str(path)) as container:
                    assert container.streams.video and container.streams.audio
                    stream = container.streams.audio[0]
                    assert stream.codec_context.name == "aac"
                    assert stream.codec_context.sample_rate == 48000
                    assert stream.codec_context.channels == 2
                    resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
                    n = 0
                    for frame in container.decode(stream):
                        n += sum(f.samples for f in resampler.resample(frame))
                    n += sum(f.samples for f in resampler.resample(None))
                assert abs(n / 16000 - (secs[1] - secs[0])) < 0.06
    assert total == summary["utterances"] and decoded == 3


def test_meld_faults(meld: dict) -> None:
    root, summary = meld["a"]
    kinds = defaultdict(set)
    for f in summary["faults"]:
        kinds[f["kind"]].add(f["id"])
    assert {k: len(v) for k, v in kinds.items()} == {
        "missing_video": 1,
        "unreadable_video": 1,
        "cp1252_text": 1,
        "mojibake_text": 1,
    }
    missing, unreadable, bad_bytes, mojibake = set(), set(), set(), set()
    for split, csv_name, folder in MELD_SPLITS:
        raw = root.joinpath(csv_name).read_bytes()
        for line in raw.split(b"\n")[1:]:
            if not line:
                continue
            row = next(csv.reader([line.decode("utf-8", errors="replace")]))
            uid = f"{split}_dia{row[5]}_utt{row[6]}"
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                assert b"\x92" in line
                assert "\u2019" in line.decode("cp1252")
                bad_bytes.add(uid)
            if "â€™" in row[1]:
                mojibake.add(uid)
            path = root / folder / f"dia{row[5]}_utt{row[6]}.mp4"
            if not path.exists():
                missing.add(uid)
                continue
            try:
                with av.open(str(path)) as container:
                    next(container.decode(audio=0))
            except (av.error.FFmpegError, StopIteration):
                unreadable.add(uid)
    assert missing == kinds["missing_video"] and unreadable == kinds["unreadable_video"]
    assert bad_bytes == kinds["cp1252_text"] and mojibake == kinds["mojibake_text"]
    clean = meld["clean"][1]
    assert clean["faults"] == []


def test_meld_label_distribution_is_skewed() -> None:
    utts = plan_meld(DemoMeldSpec())
    counts = {c: sum(u.label == c for u in utts) for c in MELD_7CLASS}
    assert counts["neutral"] == max(counts.values())
    assert 0 < counts["fear"] < counts["joy"] and 0 < counts["disgust"] < counts["joy"]
    assert 250 <= len(utts) <= 350


def test_tts_is_deterministic_and_history_free() -> None:
    tts = EspeakSynthesizer()
    a = tts.synthesize("it is so wonderful", "en-us+f3", Prosody(pitch=70, range=80), seed=3)
    tts.synthesize("i miss the office", "en-us+m2", Prosody(rate=120))
    b = tts.synthesize("it is so wonderful", "en-us+f3", Prosody(pitch=70, range=80), seed=3)
    assert a.dtype == np.float32 and 0.5 < len(a) / 16000 < 3.0
    assert np.array_equal(a, b)
    with pytest.raises(TTSError, match="no voice variant"):
        tts.synthesize("hello", "en-us+nosuchvariant")
