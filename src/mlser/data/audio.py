"""Audio input/output: one loader for every corpus file, one writer for derived wavs.

WAV/FLAC/OGG are read with soundfile (libsndfile); anything else (MELD's mp4, m4a, mp3...)
is decoded with PyAV, which bundles ffmpeg. Every failure is an :class:`AudioError` whose
message names the file and the cause, so that corpus readers can turn it into a reject.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from mlser.atomic import atomic_path

#: Extensions read with soundfile; everything else goes through PyAV.
SOUNDFILE_SUFFIXES: frozenset[str] = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga"})


class AudioError(ValueError):
    """An audio file that is missing, empty, not audio, truncated or otherwise unreadable."""

    def __init__(self, path: str | os.PathLike[str], cause: str) -> None:
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, "missing (no such file)")
    if not path.is_file():
        raise AudioError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty (zero-byte file)")


def _wav_truncation(path: Path) -> str | None:
    """Why a RIFF/WAVE file is truncated, or None.

    libsndfile silently reads whatever part of the data chunk is present, so a file cut
    off during copying would otherwise pass as a shorter utterance.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None  # RF64, AIFF, or not a wav at all: left to libsndfile
        pos = 12
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return "truncated (no data chunk)"
            cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            pos += 8
            if cid == b"data":
                # 0 and 0xFFFFFFFF are what streaming writers leave when they cannot seek back.
                if csize not in (0, 0xFFFFFFFF) and pos + csize > size:
                    return f"truncated (data chunk declares {csize} bytes, {size - pos} present)"
                return None
            pos += csize + (csize & 1)
            if pos > size:
                return "truncated (header chunk runs past end of file)"
            fh.seek(pos)


def _why(exc: BaseException) -> str:
    # libsndfile and ffmpeg messages repeat the path; the AudioError names it once.
    detail = getattr(exc, "error_string", None) or getattr(exc, "strerror", None)
    return str(detail or exc).strip().rstrip(".")


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        raise AudioError(path, f"not audio or unreadable ({_why(exc)})") from exc
    return data.T, int(sr)


def _read_av(path: Path) -> tuple[np.ndarray, int]:
    import av  # heavy (ffmpeg): only for the files that need it

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioError(path, f"not audio or unreadable ({_why(exc)})") from exc
    with container:
        if not container.streams.audio:
            raise AudioError(path, "no audio stream")
        stream = container.streams.audio[0]
        # Planar float at the native rate and layout: down-mixing and resampling are done
        # here (mean of channels, resample_poly) so that every format is treated alike.
        resampler = av.AudioResampler(format="fltp")
        chunks: list[np.ndarray] = []
        sr = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    sr = sr or out.sample_rate
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise AudioError(path, f"truncated or unreadable audio stream ({_why(exc)})") from exc
    if not chunks or sr <= 0:
        raise AudioError(path, "zero-length audio (audio stream has no samples)")
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False), sr


def _check_wav_complete(path: Path) -> None:
    """Raise if a WAV's data chunk is shorter than its header says (libsndfile would
    otherwise read the shorter data without complaint)."""
    cause = _wav_truncation(path) if path.suffix.lower() in (".wav", ".wave") else None
    if cause:
        raise AudioError(path, cause)


def load_audio(path: str | os.PathLike[str], target_sr: int = 16000) -> np.ndarray:
    """Read ``path`` as float32 mono in [-1, 1] at ``target_sr`` Hz.

    Channels are averaged; the sample rate is changed with ``resample_poly`` at the exact
    rational ratio. Raises :class:`AudioError` naming the file and the cause.
    """
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        _check_wav_complete(path)
        data, sr = _read_soundfile(path)
    else:
        data, sr = _read_av(path)
    if data.shape[1] == 0:
        raise AudioError(path, "zero-length audio (no samples)")
    mono = data.mean(axis=0) if data.shape[0] > 1 else data[0]
    if sr != target_sr:
        g = math.gcd(sr, target_sr)
        from scipy.signal import resample_poly  # scipy.signal costs ~1 s of start-up

        mono = resample_poly(mono, target_sr // g, sr // g)
    # The anti-aliasing filter can overshoot full scale slightly.
    return np.clip(mono, -1.0, 1.0).astype(np.float32, copy=False)


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sr: int = 16000) -> None:
    """Write mono (or frames x channels) float audio as PCM16 WAV, atomically."""
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, sr, format="WAV", subtype="PCM_16")


def audio_info(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """``(sample_rate, channels, frames)`` from the header, without decoding.

    Cheap for the soundfile formats; for others PyAV's container metadata is used and
    ``frames`` is estimated from the stream duration. Raises :class:`AudioError`.
    """
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        _check_wav_complete(path)
        try:
            info = sf.info(str(path))
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            raise AudioError(path, f"not audio or unreadable ({_why(exc)})") from exc
        return int(info.samplerate), int(info.channels), int(info.frames)
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(path, "no audio stream")
            stream = container.streams.audio[0]
            sr = int(stream.sample_rate or 0)
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / av.time_base
            else:
                seconds = 0.0
            return sr, int(stream.channels), round(seconds * sr)
    except (av.FFmpegError, OSError, ValueError) as exc:
        if isinstance(exc, AudioError):
            raise
        raise AudioError(path, f"not audio or unreadable ({_why(exc)})") from exc


def convert_to_wav(job: tuple[str, str]) -> tuple[str, float | None, str]:
    """Decode ``src`` and write it to ``dst`` as 16 kHz mono PCM16, for a process pool.

    Args:
        job: ``(src, dst)`` paths.
    Returns:
        ``(dst, seconds, "")`` on success, ``(dst, None, cause)`` if ``src`` is unreadable.
    """
    src, dst = job
    try:
        audio = load_audio(src, 16000)
    except AudioError as exc:
        return dst, None, exc.cause
    write_wav(dst, audio, 16000)
    return dst, len(audio) / 16000, ""
