"""The MELD reader against release-format fixtures (tests/fixtures, see build_fixtures.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from mlser.data import audio
from mlser.data.corpora import CorpusFormatError, CorpusLayoutError, PrepareSummary
from mlser.data.corpora.meld import prepare_meld, read_meld_csv, repair_mojibake
from mlser.data.labels import MELD_7CLASS
from mlser.data.manifest import MANIFEST_COLUMNS, read_manifest, read_rejects
from mlser.data.transcripts import normalize_transcript

FIXTURES = Path(__file__).absolute().parent / "fixtures"
FULL = FIXTURES / "MELD.Raw"
QUIRKS = FIXTURES / "quirks" / "MELD.Raw"
HEADER = (
    "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,"
    "StartTime,EndTime\n"
)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrepareSummary, Path]:
    out = tmp_path_factory.mktemp("meld_full")
    return prepare_meld(FULL, out, workers=2), out


@pytest.fixture(scope="module")
def quirky(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrepareSummary, Path]:
    out = tmp_path_factory.mktemp("meld_quirks")
    return prepare_meld(QUIRKS, out), out


# --- CSV reading ---------------------------------------------------------------------------


def test_cp1252_bytes_and_mojibake_are_repaired() -> None:
    train = read_meld_csv(FULL / "train_sent_emo.csv")
    text = dict(
        zip(train["Utterance_ID"] + 10 * train["Dialogue_ID"], train["Utterance"], strict=True)
    )
    assert text[0].startswith("also I was the point person on my company’s transition")
    assert text[1] == "You must’ve had your hands full."  # mojibake
    assert text[3] == "So let’s talk a little bit about your duties."  # proper UTF-8 kept
    assert text[10] == "Oh my God, he’s here!"  # lone \x92 byte
    assert text[12] == "I’m sorry, I’m so sorry."
    assert text[4] == "My duties?  All right."  # spacing kept as in the corpus
    assert text[14] == 'He said "pivot" like ten times. What was that?'
    test = read_meld_csv(FULL / "test_sent_emo.csv")  # CRLF line ends
    assert test["Utterance"].iloc[1].endswith("she can be like, ‘Where’s number 27?!’")
    assert test["EndTime"].iloc[0] == "00:14:42,385"
    dev = read_meld_csv(QUIRKS / "dev_sent_emo.csv")
    assert dev["Utterance"].iloc[0] == "Café au lait? No way."  # cp1252 é


def test_csv_columns_and_types() -> None:
    df = read_meld_csv(FULL / "dev_sent_emo.csv")
    assert list(df.columns[:11]) == HEADER.strip().split(",")
    assert df["Dialogue_ID"].tolist() == [0, 0, 1, 1]
    assert df["Utterance_ID"].tolist() == [0, 1, 0, 1]
    assert df["source_line"].tolist() == [2, 3, 4, 5]
    assert df["Utterance"].iloc[2].startswith("Or! Or, we could go to the bank, close")


def test_repair_mojibake_only_touches_mojibake() -> None:
    assert repair_mojibake("it\u00e2\u20ac\u2122s") == "it’s"
    assert repair_mojibake("\u00e2\u20ac\u02dcquote\u00e2\u20ac\u009d") == "‘quote”"
    assert repair_mojibake("caf\u00c3\u00a9") == "café"
    assert repair_mojibake("caf\u00c3\u0192\u00c2\u00a9") == "café"  # mangled twice
    for fine in ("café", "naïve", "It’s", "Ça va", "plain ascii", "£5 – ok", "Ã"):
        assert repair_mojibake(fine) == fine


# The release's form: valid UTF-8 whose text holds cp1252 punctuation as C1 code points.
C1_ROWS = {
    (0, 0): ("Oh my God, he\x92s here!", "Oh my God, he’s here!", "oh my god he's here"),
    (0, 1): (
        "\x93Pivot\x94\x85 \x91pivot\x92 \x97 ten times\x96twice",
        "“Pivot”… ‘pivot’ — ten times–twice",
        "pivot 'pivot' ten times twice",
    ),
    (0, 2): ("No C1 here.", "No C1 here.", "no c here"),
    # undefined in cp1252: kept as they are
    (0, 3): ("odd\x81\x9d", "odd\x81\x9d", "odd"),
    # C1 inside mojibake: UTF-8 read as latin-1, and UTF-8 of a C1 character read as cp1252
    (0, 4): ("it\u00e2\x80\x99s \u00c2\x92ok\u00e2\u20ac\x9d", "it’s ’ok”", "it's 'ok"),
}


def _c1_count(text: str) -> int:
    """C1 code points that cp1252 defines (what the reader is to map)."""
    n = 0
    for c in text:
        if 0x80 <= ord(c) <= 0x9F:
            try:
                bytes([ord(c)]).decode("cp1252")
                n += 1
            except UnicodeDecodeError:
                pass
    return n


def _write_c1_csv(path: Path) -> None:
    body = "".join(
        f'{i},"{raw}",Ross,joy,positive,{d},{u},1,1,"00:00:01,000","00:00:02,000"\n'
        for i, ((d, u), (raw, _, _)) in enumerate(C1_ROWS.items(), 1)
    )
    data = (HEADER + body).encode("utf-8")
    assert b"\xc2\x92" in data  # U+0092 as UTF-8, not the cp1252 byte \x92
    data.decode("utf-8")  # valid UTF-8 throughout
    path.write_bytes(data)


def test_c1_punctuation_in_valid_utf8_is_mapped(tmp_path: Path) -> None:
    f = tmp_path / "train_sent_emo.csv"
    _write_c1_csv(f)
    df = read_meld_csv(f)
    got = {(r.Dialogue_ID, r.Utterance_ID): r for r in df.itertuples(index=False)}
    assert set(got) == set(C1_ROWS)
    for key, (raw, text, normal) in C1_ROWS.items():
        assert got[key].Utterance == text
        assert normalize_transcript(got[key].Utterance) == normal
        assert got[key].c1_mapped == _c1_count(raw)
    assert got[(0, 0)].c1_mapped == 1 and got[(0, 2)].c1_mapped == got[(0, 3)].c1_mapped == 0


def test_c1_mapping_is_counted_in_the_summary(tmp_path: Path) -> None:
    root = tmp_path / "MELD.Raw"
    for d in ("train_splits", "dev_splits_complete", "output_repeated_splits_test"):
        (root / d).mkdir(parents=True)
    _write_c1_csv(root / "train_sent_emo.csv")
    for split in ("dev", "test"):
        (root / f"{split}_sent_emo.csv").write_text(HEADER)
    shutil.copy(QUIRKS / "train_splits" / "dia0_utt0.mp4", root / "train_splits" / "dia0_utt0.mp4")
    summary = prepare_meld(root, tmp_path / "out")
    counts = [_c1_count(raw) for raw, _, _ in C1_ROWS.values()]
    assert summary.c1_mapped == sum(n > 0 for n in counts) > 0
    assert summary.c1_mapped_chars == sum(counts)
    record = summary.as_dict()
    assert (record["c1_mapped"], record["c1_mapped_chars"]) == (
        summary.c1_mapped,
        summary.c1_mapped_chars,
    )
    assert f"mapped in {summary.c1_mapped} rows ({summary.c1_mapped_chars} characters)" in str(
        summary
    )
    # every consumer reads the mapped text: the manifest's text is what WER and BERT see
    m = read_manifest(tmp_path / "out" / "manifest.tsv").set_index("utt_id")
    assert m.loc["train_dia0_utt0", "text"] == C1_ROWS[(0, 0)][1]
    assert normalize_transcript(m.loc["train_dia0_utt0", "text"]) == "oh my god he's here"


@pytest.mark.parametrize(
    ("body", "line", "what"),
    [
        (
            '1,Fine.,Ross,neutral,neutral,0,0,1,1,"00:00:01,000","00:00:02,000"\n'
            "2,Too few,Ross,neutral\n",
            3,
            "expected 11 fields",
        ),
        (
            '1,Fine.,Ross,neutral,neutral,0,0,1,1,"00:00:01,000","00:00:02,000"\n'
            '2,"A, b",Ross,joy,positive,x,1,1,1,"00:00:01,000","00:00:02,000"\n',
            3,
            "Dialogue_ID",
        ),
    ],
    ids=["short-row", "bad-id"],
)
def test_malformed_rows_name_file_and_line(tmp_path: Path, body: str, line: int, what: str) -> None:
    f = tmp_path / "train_sent_emo.csv"
    f.write_text(HEADER + body)
    with pytest.raises(CorpusFormatError, match=what) as err:
        read_meld_csv(f)
    assert f"{f}:{line}:" in str(err.value)


def test_wrong_header_is_a_format_error(tmp_path: Path) -> None:
    f = tmp_path / "dev_sent_emo.csv"
    f.write_text("Utterance,Speaker,Emotion\nHi,Ross,joy\n")
    with pytest.raises(CorpusFormatError, match=rf"{f}:1: header lacks"):
        read_meld_csv(f)


# --- prepare -------------------------------------------------------------------------------


def test_full_release(full: tuple[PrepareSummary, Path]) -> None:
    summary, out = full
    assert summary.labelled == summary.n_kept == 19
    assert list(summary.kept) == list(MELD_7CLASS)
    assert summary.rejects == {} and summary.decoded == 19
    m = read_manifest(out / "manifest.tsv")
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    assert m.groupby("split").size().to_dict() == {"dev": 4, "test": 5, "train": 10}
    row = m.set_index("utt_id").loc["train_dia1_utt0"]
    assert (row.emotion, row.speaker, row.session, row.split, row.gender, row.style) == (
        "joy",
        "Rachel",
        "train_1",
        "train",
        "",
        "",
    )
    assert row.text == "Oh my God, he’s here!"
    assert row.path == str(out / "audio" / "train" / "dia1_utt0.wav")
    # dialogue 0 exists in every split: the session ids keep them apart
    assert {"train_0", "dev_0", "test_0"} <= set(m["session"])
    for p, d in zip(m["path"], m["duration"], strict=True):
        info = sf.info(p)
        assert (info.samplerate, info.channels) == (16000, 1)
        assert d == info.frames / 16000 and 0.3 <= d < 0.4


def test_every_row_is_accounted_for(quirky: tuple[PrepareSummary, Path]) -> None:
    summary, out = quirky
    rows = sum(len(read_meld_csv(QUIRKS / f"{s}_sent_emo.csv")) for s in ("train", "dev", "test"))
    m, r = read_manifest(out / "manifest.tsv"), read_rejects(out / "rejects.tsv")
    assert summary.labelled == rows == 9
    assert len(m) + len(r) == rows
    assert summary.kept == {"neutral": 1, "fear": 1, "disgust": 1}
    assert sorted(m["utt_id"]) == ["dev_dia0_utt0", "test_dia0_utt0", "train_dia0_utt0"]
    assert m.set_index("utt_id").loc["test_dia0_utt0", "session"] == "test_0"


def test_each_reject_reason_with_its_file(quirky: tuple[PrepareSummary, Path]) -> None:
    summary, out = quirky
    r = read_rejects(out / "rejects.tsv")
    got = {(i, reason.split(":")[0], p) for i, p, reason in r.itertuples(index=False)}
    root = QUIRKS
    assert got == {
        ("train_dia0_utt1", "missing_video", str(root / "train_splits/dia0_utt1.mp4")),
        ("train_dia0_utt2", "unreadable_video", str(root / "train_splits/dia0_utt2.mp4")),
        ("train_dia0_utt4", "unreadable_video", str(root / "train_splits/dia0_utt4.mp4")),
        ("train_dia0_utt5", "unreadable_video", str(root / "train_splits/dia0_utt5.mp4")),
        ("train_dia0_utt3", "unknown_emotion", str(root / "train_sent_emo.csv")),
        ("test_dia0_utt0", "duplicate_utterance", str(root / "test_sent_emo.csv")),
    }
    reasons = dict(zip(r["id"], r["reason"], strict=True))
    assert "no audio stream" in reasons["train_dia0_utt5"]
    assert "empty" in reasons["train_dia0_utt4"]
    assert "'happy'" in reasons["train_dia0_utt3"] and "line 5" in reasons["train_dia0_utt3"]
    assert summary.rejects == {
        "duplicate_utterance": 1,
        "missing_video": 1,
        "unknown_emotion": 1,
        "unreadable_video": 3,
    }
    assert not (out / "audio" / "train" / "dia0_utt2.wav").exists()


def test_rerun_does_not_decode_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    first = prepare_meld(QUIRKS, out)
    assert first.decoded == 3
    wavs = sorted((out / "audio").rglob("*.wav"))
    stamps = [w.stat().st_mtime_ns for w in wavs]
    manifest = (out / "manifest.tsv").read_text()

    calls: list[str] = []

    def counting_load_audio(path: str, *args: object) -> object:
        calls.append(Path(path).name)
        return real_load_audio(path, *args)

    real_load_audio = audio.load_audio
    monkeypatch.setattr(audio, "load_audio", counting_load_audio)
    again = prepare_meld(QUIRKS, out)
    assert (again.decoded, again.reused) == (0, 3)
    # only the unreadable videos are tried again (they fail at once); no wav is rewritten
    assert sorted(calls) == ["dia0_utt2.mp4", "dia0_utt4.mp4", "dia0_utt5.mp4"]
    assert [w.stat().st_mtime_ns for w in wavs] == stamps
    assert (out / "manifest.tsv").read_text() == manifest
    monkeypatch.undo()

    # an invalid leftover (e.g. from a killed run outside atomic writes) is decoded again
    wavs[0].write_bytes(b"")
    fixed = prepare_meld(QUIRKS, out)
    assert (fixed.decoded, fixed.reused) == (1, 2)
    assert (out / "manifest.tsv").read_text() == manifest


def test_paths_can_be_overridden(tmp_path: Path) -> None:
    root = tmp_path / "MELD.Raw"
    shutil.copytree(QUIRKS, root)
    os.rename(root / "output_repeated_splits_test", root / "test_videos")
    os.rename(root / "dev_sent_emo.csv", tmp_path / "dev.csv")
    with pytest.raises(CorpusLayoutError) as err:
        prepare_meld(root, tmp_path / "out")
    assert str(root / "dev_sent_emo.csv") in str(err.value)
    with pytest.raises(CorpusLayoutError) as err:
        prepare_meld(root, tmp_path / "out", dev_csv=tmp_path / "dev.csv")
    assert str(root / "output_repeated_splits_test") in str(err.value)
    s = prepare_meld(root, tmp_path / "out", dev_csv=tmp_path / "dev.csv", test_dir="test_videos")
    assert s.n_kept == 3


def test_missing_root_names_it(tmp_path: Path) -> None:
    with pytest.raises(CorpusLayoutError, match=r"MELD\.Raw"):
        prepare_meld(tmp_path / "MELD.Raw", tmp_path / "out")
