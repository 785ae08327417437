"""A small text-to-speech front end: libespeak-ng (from ``espeakng-loader``) through ctypes.

Used only to synthesise the embedded demo corpora. eSpeak NG keeps its state in
process-global variables, so every call goes through one module-level lock.
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import functools
import shutil
import tempfile
import threading
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

#: Sample rate of the returned audio.
SAMPLE_RATE = 16_000

# espeak_AUDIO_OUTPUT / espeak_PARAMETER / flags from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class TTSError(RuntimeError):
    """eSpeak NG could not be loaded, initialised, or asked to speak."""


@dataclass(frozen=True)
class Prosody:
    """eSpeak NG's prosody parameters for one utterance.

    ``rate`` is in words per minute (80-450), ``pitch`` and ``range`` are 0-100 (50 is
    the voice's default), ``volume`` 0-200 (100 is normal), ``wordgap`` in units of
    10 ms of extra pause between words.
    """

    rate: int = 175
    pitch: int = 50
    range: int = 50
    volume: int = 100
    wordgap: int = 0


class _Library:
    """A private copy of libespeak-ng, loaded afresh for every utterance.

    eSpeak NG keeps synthesis state in static variables (pitch flutter phase, echo
    buffer, gain control) that carry over from one utterance to the next, so the same
    text would sound slightly different depending on what was spoken before. Loading
    the library anew for each utterance makes synthesis a pure function of its inputs.
    The copy under a private path keeps ``dlclose`` effective even when some other code
    in the process has loaded the packaged library.
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as err:
            raise TTSError("the `espeakng-loader` package is needed for speech synthesis") from err
        src = Path(espeakng_loader.get_library_path())
        try:
            self.data_path = Path(espeakng_loader.get_data_path())
        except RuntimeError as err:
            raise TTSError(f"espeakng-loader has no voice data: {err}") from err
        if not src.is_file():
            raise TTSError(f"libespeak-ng is missing at {src}")
        self._tmpdir = Path(tempfile.mkdtemp(prefix="mlser-espeak-"))
        atexit.register(shutil.rmtree, self._tmpdir, True)
        self.lib_path = self._tmpdir / src.name
        shutil.copyfile(src, self.lib_path)
        self._chunks: list[np.ndarray] = []
        # Kept as an attribute: ctypes callbacks must outlive every call into the library.
        self._callback = _CALLBACK(self._collect)
        self.native_rate = 0
        lib = self._open()
        self._close(lib)

    def _collect(self, wav: Any, n: int, _events: int) -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def _open(self) -> ctypes.CDLL:
        try:
            lib = ctypes.CDLL(str(self.lib_path))
        except OSError as err:
            raise TTSError(f"cannot load libespeak-ng from {self.lib_path}: {err}") from err
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Terminate.restype = ctypes.c_int
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            _ctypes.dlclose(lib._handle)
            raise TTSError(
                f"espeak_Initialize failed (returned {rate}) with data path {self.data_path}"
            )
        self.native_rate = rate
        lib.espeak_SetSynthCallback(self._callback)
        return lib

    @staticmethod
    def _close(lib: ctypes.CDLL) -> None:
        lib.espeak_Terminate()
        _ctypes.dlclose(lib._handle)

    def synth(self, text: str, voice: str, prosody: Prosody, seed: int) -> np.ndarray:
        lib = self._open()
        try:
            # Breath noise (e.g. the f* variants) draws from eSpeak's own generator.
            lib.espeak_ng_SetRandSeed(seed)
            if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise TTSError(f"eSpeak NG has no voice {voice!r}")
            # After the voice: selecting a voice may reset these parameters.
            for param, value in (
                (_RATE, prosody.rate),
                (_VOLUME, prosody.volume),
                (_PITCH, prosody.pitch),
                (_RANGE, prosody.range),
                (_WORDGAP, prosody.wordgap),
            ):
                if lib.espeak_SetParameter(param, int(value), 0) != _EE_OK:
                    raise TTSError(f"espeak_SetParameter({param}, {value}) failed")
            data = text.encode("utf-8") + b"\0"
            self._chunks = []
            err = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if err != _EE_OK:
                raise TTSError(f"espeak_Synth failed with code {err} for {text!r}")
            lib.espeak_Synchronize()
        finally:
            self._close(lib)
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks)


_LOCK = threading.Lock()
_LIBRARY: _Library | None = None


def _library() -> _Library:
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = _Library()
    return _LIBRARY


@functools.cache
def variants() -> tuple[str, ...]:
    """Names of the voice variants in the bundled data (usable as ``en-us+<name>``)."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_file()))


class EspeakSynthesizer:
    """Synthesise text with eSpeak NG; returns float32 mono audio at :data:`SAMPLE_RATE`.

    Instances are cheap: they share one process-wide copy of the library.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        with _LOCK:
            self.native_rate = _library().native_rate
        self.sample_rate = sample_rate
        g = gcd(sample_rate, self.native_rate)
        self._up, self._down = sample_rate // g, self.native_rate // g

    def synthesize(
        self, text: str, voice: str = "en-us", prosody: Prosody | None = None, seed: int = 0
    ) -> np.ndarray:
        """Speak ``text`` with ``voice`` (e.g. ``"en-us+f3"``); float32 in [-1, 1].

        The result depends only on the arguments (``seed`` drives the breath noise of
        breathy variants), not on what was synthesised before.
        """
        _, _, variant = voice.partition("+")
        # eSpeak NG silently ignores an unknown variant; a typo would change the corpus.
        if variant and variant not in variants():
            raise TTSError(f"eSpeak NG has no voice variant {variant!r}; see tts.variants()")
        with _LOCK:
            pcm = _library().synth(text, voice, prosody or Prosody(), seed)
        audio = pcm.astype(np.float32) / 32768.0
        if self._up != self._down and audio.size:
            audio = resample_poly(audio, self._up, self._down).astype(np.float32)
        return audio
