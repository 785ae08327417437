"""The IEMOCAP reader against hand-written release-format fixtures (tests/fixtures)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mlser.data.corpora import CorpusFormatError, CorpusLayoutError, PrepareSummary
from mlser.data.corpora.iemocap import (
    EmoRecord,
    parse_emo_evaluation,
    parse_transcriptions,
    prepare_iemocap,
    session_of,
    speaker_gender,
    speaker_of,
    style_of,
)
from mlser.data.manifest import MANIFEST_COLUMNS, read_manifest, read_rejects

FIXTURES = Path(__file__).absolute().parent / "fixtures"
FULL = FIXTURES / "IEMOCAP_full_release"
QUIRKS = FIXTURES / "quirks" / "IEMOCAP_full_release"


def _header_lines(root: Path) -> list[str]:
    """Utterance ids of every header line, counted independently of the reader."""
    ids = []
    for f in root.glob("Session*/dialog/EmoEvaluation/*.txt"):
        if not f.name.startswith("."):
            ids += [ln.split("\t")[1] for ln in f.read_text().splitlines() if ln.startswith("[")]
    return ids


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrepareSummary, Path]:
    out = tmp_path_factory.mktemp("iemocap_full")
    return prepare_iemocap(FULL, out), out


@pytest.fixture(scope="module")
def quirky(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrepareSummary, Path]:
    out = tmp_path_factory.mktemp("iemocap_quirks")
    return prepare_iemocap(QUIRKS, out, sessions=(1, 2)), out


# --- parsing -------------------------------------------------------------------------------


def test_emo_evaluation_headers_only() -> None:
    recs = parse_emo_evaluation(FULL / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt")
    assert [r.utt_id for r in recs] == [
        f"Ses01F_impro01_{s}" for s in ("F000", "M000", "F001", "M001", "F002", "M002")
    ]
    assert recs[0] == EmoRecord("Ses01F_impro01_F000", 6.2901, 6.3901, "neu", (2.5, 2.5, 2.5))
    assert [r.label for r in recs] == ["neu", "ang", "exc", "sad", "fru", "xxx"]
    assert recs[2].vad == (4.0, 3.5, 3.0)


def test_malformed_header_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "Ses01F_impro01.txt"
    f.write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\n\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_F001\texc\n"
    )
    with pytest.raises(CorpusFormatError) as err:
        parse_emo_evaluation(f)
    assert f"{f}:6" in str(err.value)
    assert err.value.line == 6


def test_transcriptions_keep_utterance_lines_only(tmp_path: Path) -> None:
    t = parse_transcriptions(FULL / "Session1/dialog/transcriptions/Ses01F_impro01.txt")
    assert t["Ses01F_impro01_F000"] == "Excuse me."
    assert t["Ses01F_impro01_F001"] == "Yeah, I got them right here. [LAUGHTER]"
    assert t["Ses01F_impro01_MXX0"] == "Yeah."  # present, but labelled nowhere
    f = tmp_path / "t.txt"
    f.write_text(
        "M: [BREATHING]\n\nSes01F_impro01_F000 [006.2901-008.2357]:   Excuse me.  \r\n"
        "some stray line\n"
    )
    assert parse_transcriptions(f) == {"Ses01F_impro01_F000": "Excuse me."}


def test_id_derivations() -> None:
    assert speaker_gender("Ses01F_impro01_M000") == "M"
    assert speaker_gender("Ses05M_script03_2_F012") == "F"
    assert speaker_gender("Ses01F_impro01_FXX0") == "F"
    assert speaker_of("Ses03M_impro05a_F002") == "Ses03_F"
    assert session_of("Ses04F_script01_2_M001") == "4"
    assert style_of("Ses01F_impro01") == "improvised"
    assert style_of("Ses01F_script01_1") == "scripted"
    for bad in (
        lambda: speaker_gender("Ses01F_impro01"),
        lambda: session_of("Ses06F_x"),
        lambda: style_of("Ses01F_other01"),
    ):
        with pytest.raises(ValueError):
            bad()


# --- the five-session release --------------------------------------------------------------


def test_full_release_counts(full: tuple[PrepareSummary, Path]) -> None:
    summary, out = full
    assert summary.kept == {"neu": 10, "hap": 15, "ang": 10, "sad": 10}
    assert summary.out_of_protocol == {"dis": 1, "fea": 2, "fru": 4, "oth": 1, "sur": 3, "xxx": 4}
    assert summary.rejects == {}
    assert summary.labelled == len(_header_lines(FULL)) == 60
    assert summary.decoded == 0
    assert read_rejects(out / "rejects.tsv").empty


def test_full_release_manifest(full: tuple[PrepareSummary, Path]) -> None:
    _, out = full
    m = read_manifest(out / "manifest.tsv")
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    assert m["utt_id"].is_monotonic_increasing
    assert set(m["session"]) == {"1", "2", "3", "4", "5"}
    assert set(m["style"]) == {"improvised", "scripted"}
    assert (m["split"] == "").all()
    # every session has every class from both genders (leave-one-session-out folds work)
    per = m.groupby(["session", "emotion"])["gender"].agg(lambda g: "".join(sorted(set(g))))
    assert len(per) == 20 and (per == "FM").all()
    row = m.set_index("utt_id").loc["Ses01F_impro01_F001"]
    assert (row.emotion, row.gender, row.style, row.session, row.speaker) == (
        "hap",
        "F",
        "improvised",
        "1",
        "Ses01_F",
    )
    assert row.text == "Yeah, I got them right here. [LAUGHTER]"
    assert row.path == str(FULL / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F001.wav")
    assert m.set_index("utt_id").loc["Ses03M_script03_2_M000", "speaker"] == "Ses03_M"
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in m["path"])
    assert (m["duration"] == 0.1).all()
    assert not any("XX" in u for u in m["utt_id"])


def test_label_map_is_a_parameter(tmp_path: Path) -> None:
    s = prepare_iemocap(FULL, tmp_path, label_map={"neu": "neu", "fru": "fru"}, sessions=(1,))
    assert s.kept == {"neu": 2, "fru": 1}
    assert s.n_kept + s.n_out_of_protocol == s.labelled == 12


# --- quirks and rejects ---------------------------------------------------------------------


def test_every_labelled_line_is_accounted_for(quirky: tuple[PrepareSummary, Path]) -> None:
    summary, out = quirky
    ids = _header_lines(QUIRKS)
    m, r = read_manifest(out / "manifest.tsv"), read_rejects(out / "rejects.tsv")
    assert summary.labelled == len(ids) == 19
    assert summary.n_kept + summary.n_out_of_protocol + summary.n_rejected == len(ids)
    assert len(m) == summary.n_kept and len(r) == summary.n_rejected
    assert not set(m["utt_id"]) & set(r["id"])
    assert summary.kept == {"neu": 2, "hap": 2, "ang": 2, "sad": 2}
    assert summary.out_of_protocol == {"fru": 1, "xxx": 1}


def test_each_reject_reason_with_its_file(quirky: tuple[PrepareSummary, Path]) -> None:
    summary, out = quirky
    r = read_rejects(out / "rejects.tsv").set_index("id")
    wav1 = QUIRKS / "Session1/sentences/wav/Ses01F_impro01"
    trans1 = QUIRKS / "Session1/dialog/transcriptions/Ses01F_impro01.txt"
    trans2 = QUIRKS / "Session2/dialog/transcriptions/Ses02M_script01_3.txt"
    expected = {
        "Ses01F_impro01_F001": ("no_transcript", trans1),
        "Ses02M_script01_3_F000": ("no_transcript", trans2),
        "Ses02M_script01_3_M000": ("no_transcript", trans2),
        "Ses01F_impro01_M001": ("empty_audio", wav1 / "Ses01F_impro01_M001.wav"),
        "Ses01F_impro01_M004": ("empty_audio", wav1 / "Ses01F_impro01_M004.wav"),
        "Ses01F_impro01_F003": ("missing_audio", wav1 / "Ses01F_impro01_F003.wav"),
        "Ses01F_impro01_M003": ("unreadable_audio", wav1 / "Ses01F_impro01_M003.wav"),
        "Ses01F_script01_1_M001": (
            "unreadable_audio",
            QUIRKS / "Session1/sentences/wav/Ses01F_script01_1/Ses01F_script01_1_M001.wav",
        ),
        "Ses01F_impro01_F004": (
            "unknown_label",
            QUIRKS / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt",
        ),
    }
    assert set(r.index) == set(expected)
    for utt, (code, path) in expected.items():
        assert r.loc[utt, "reason"].startswith(code), (utt, r.loc[utt, "reason"])
        assert r.loc[utt, "path"] == str(path)
    assert "truncated" in r.loc["Ses01F_impro01_M003", "reason"]
    assert "'Neu'" in r.loc["Ses01F_impro01_F004", "reason"]
    assert summary.rejects == {
        "empty_audio": 2,
        "missing_audio": 1,
        "no_transcript": 3,
        "unknown_label": 1,
        "unreadable_audio": 2,
    }
    assert "rejected             9" in summary.format()


def test_44k1_stereo_is_converted(quirky: tuple[PrepareSummary, Path]) -> None:
    summary, out = quirky
    m = read_manifest(out / "manifest.tsv").set_index("utt_id")
    row = m.loc["Ses01F_impro01_M000"]
    converted = out / "audio" / "Ses01F_impro01_M000.wav"
    assert row.path == str(converted)
    info = sf.info(converted)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 2400, "PCM_16")
    assert row.duration == pytest.approx(0.15)
    assert row.emotion == "hap"  # exc -> hap
    assert summary.decoded == 1
    # 16 kHz mono originals are referenced in place, not copied
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["Ses01F_impro01_M000.wav"]


def test_conversion_in_a_process_pool(tmp_path: Path) -> None:
    root = tmp_path / "IEMOCAP_full_release"
    shutil.copytree(QUIRKS / "Session1", root / "Session1")
    wav = root / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
    sf.write(wav, np.zeros(2205), 22050, subtype="PCM_16")  # a second file to convert
    serial = prepare_iemocap(root, tmp_path / "serial", sessions=(1,))
    pooled = prepare_iemocap(root, tmp_path / "pooled", sessions=(1,), workers=2)
    assert serial.decoded == pooled.decoded == 2
    a, b = (read_manifest(tmp_path / d / "manifest.tsv") for d in ("serial", "pooled"))
    assert a.drop(columns="path").equals(b.drop(columns="path"))
    assert a.set_index("utt_id").loc["Ses01F_impro01_F000", "duration"] == 0.1


# --- layout --------------------------------------------------------------------------------


def test_layout_error_names_missing_session(tmp_path: Path) -> None:
    with pytest.raises(CorpusLayoutError) as err:
        prepare_iemocap(QUIRKS, tmp_path)  # all five sessions by default; Session3 absent
    assert str(QUIRKS / "Session3" / "dialog" / "EmoEvaluation") in str(err.value)
    assert not (tmp_path / "manifest.tsv").exists()


def test_layout_error_names_missing_folder(tmp_path: Path) -> None:
    root = tmp_path / "IEMOCAP_full_release"
    shutil.copytree(QUIRKS / "Session1", root / "Session1")
    shutil.rmtree(root / "Session1/dialog/transcriptions")
    with pytest.raises(CorpusLayoutError, match="Session1/dialog/transcriptions"):
        prepare_iemocap(root, tmp_path / "out", sessions=(1,))
    with pytest.raises(CorpusLayoutError, match="nowhere"):
        prepare_iemocap(tmp_path / "nowhere", tmp_path / "out")
