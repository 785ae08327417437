"""mlser.data.audio: loading any corpus file as 16 kHz mono, writing wavs, errors that
name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mlser.data.audio import AudioError, audio_info, load_audio, write_wav

FIXTURES = Path(__file__).parent / "fixtures"
MELD_CLIP = FIXTURES / "MELD.Raw" / "train_splits" / "dia0_utt0.mp4"
VIDEO_ONLY = FIXTURES / "quirks" / "MELD.Raw" / "train_splits" / "dia0_utt5.mp4"


def _wav(path: Path, data: np.ndarray, sr: int) -> Path:
    sf.write(path, data, sr, subtype="PCM_16")
    return path


def test_16k_mono_wav_is_read_unchanged(tmp_path: Path) -> None:
    x = (0.1 * np.sin(np.linspace(0, 100, 1600))).astype(np.float32)
    y = load_audio(_wav(tmp_path / "a.wav", x, 16000))
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == 1600
    np.testing.assert_allclose(y, x, atol=1 / 32768)


def test_stereo_44k1_is_downmixed_by_mean_and_resampled(tmp_path: Path) -> None:
    n = int(0.5 * 44100)
    stereo = np.stack([np.full(n, 0.4), np.full(n, 0.2)], axis=1)
    y = load_audio(_wav(tmp_path / "s.wav", stereo, 44100))
    assert len(y) == 8000  # exact ratio 160/441
    assert y.dtype == np.float32
    assert abs(float(np.median(y)) - 0.3) < 1e-3
    assert np.abs(y).max() <= 1.0


def test_other_target_rate(tmp_path: Path) -> None:
    y = load_audio(_wav(tmp_path / "a.wav", np.zeros(48000), 48000), target_sr=8000)
    assert len(y) == 8000


def test_clipping_overshoot_stays_in_range(tmp_path: Path) -> None:
    square = np.where(np.arange(44100) % 200 < 100, 0.999, -0.999)
    y = load_audio(_wav(tmp_path / "sq.wav", square, 44100))
    assert np.abs(y).max() <= 1.0


def test_mp4_is_decoded_with_pyav_to_16k_mono() -> None:
    y = load_audio(MELD_CLIP)
    assert y.dtype == np.float32 and y.ndim == 1
    # 0.3 s of AAC; the encoder pads the last frame, so allow one AAC frame (1024/48k s).
    assert 0.3 <= len(y) / 16000 <= 0.3 + 1024 / 48000 + 1e-9
    assert 0.01 < np.abs(y).max() <= 1.0


def test_audio_info_is_header_only(tmp_path: Path) -> None:
    p = _wav(tmp_path / "a.wav", np.zeros((4410, 2)), 44100)
    assert audio_info(p) == (44100, 2, 4410)
    sr, ch, frames = audio_info(MELD_CLIP)
    assert (sr, ch) == (48000, 2) and abs(frames - 14400) <= 1024


def test_write_wav_is_pcm16_atomic_and_clipped(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "o.wav"
    write_wav(out, np.array([0.0, 0.5, 2.0, -3.0], np.float32))
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 4, "PCM_16")
    back, _ = sf.read(out, dtype="float32")
    assert back.max() <= 1.0 and back.min() == -1.0
    assert sorted(p.name for p in out.parent.iterdir()) == ["o.wav"]


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated_wav(d: Path) -> Path:
    p = _wav(d / "t.wav", np.zeros(16000), 16000)
    return _bytes(p, p.read_bytes()[:1000])


def _truncated_mp4(d: Path) -> Path:
    data = MELD_CLIP.read_bytes()
    return _bytes(d / "t.mp4", data[: len(data) // 2])


BROKEN = {
    "missing-wav": (lambda d: d / "nope.wav", "missing"),
    "missing-mp4": (lambda d: d / "nope.mp4", "missing"),
    "empty-wav": (lambda d: _bytes(d / "e.wav", b""), "empty"),
    "empty-mp4": (lambda d: _bytes(d / "e.mp4", b""), "empty"),
    "zero-frames": (lambda d: _wav(d / "h.wav", np.zeros((0, 1)), 16000), "zero-length"),
    "text-wav": (lambda d: _bytes(d / "x.wav", b"not a wav at all"), "not audio"),
    "text-mp4": (lambda d: _bytes(d / "x.mp4", b"not an mp4 either"), "not audio"),
    "cut-header": (lambda d: _bytes(d / "h.wav", b"RIFF\x24\x00\x00\x00WAVEfmt "), "truncated"),
    "cut-data": (_truncated_wav, "truncated"),
    "cut-mp4": (_truncated_mp4, "unreadable"),
    "video-only": (lambda d: VIDEO_ONLY, "no audio stream"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_errors_name_the_file_and_cause(tmp_path: Path, case: str) -> None:
    make, cause = BROKEN[case]
    path = make(tmp_path)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(path) in str(err.value)
    assert cause in err.value.cause
    assert isinstance(err.value, ValueError)


def test_audio_info_errors(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="missing"):
        audio_info(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="truncated"):
        audio_info(_truncated_wav(tmp_path))
    with pytest.raises(AudioError, match="not audio"):
        audio_info(_bytes(tmp_path / "x.wav", b"text"))
