"""Demo voices: speakers, the prosody of each emotion label, and speech rendered from text.

Generates the audio of all three demo corpora, as 16 kHz float samples (IEMOCAP and the
read speech store them as PCM-16 wav, MELD as AAC in mp4), through eSpeak NG
(:mod:`mlser.demo.tts`). Prosody (pitch level, pitch range, speaking rate) carries
*arousal* strongly and valence only weakly; loudness varies too but nothing relies on it,
because HuBERT-style front ends normalise it away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from mlser.demo.tts import SAMPLE_RATE, EspeakSynthesizer, Prosody

#: label -> (pitch offset, pitch range, rate factor, volume, word gap). Arousal sets the
#: first three strongly; within an arousal level the classes differ only slightly.
EMOTION_PROSODY: dict[str, tuple[float, float, float, int, int]] = {
    "neu": (0.0, 36.0, 0.96, 100, 0),
    "sad": (-5.0, 26.0, 0.87, 92, 1),
    "hap": (16.0, 80.0, 1.17, 110, 0),
    "exc": (19.0, 86.0, 1.21, 114, 0),
    "ang": (13.0, 88.0, 1.23, 118, 0),
    "fru": (6.0, 60.0, 1.08, 108, 0),
    "sur": (21.0, 94.0, 1.12, 110, 0),
    "xxx": (7.0, 56.0, 1.07, 104, 0),
    "neutral": (0.0, 36.0, 0.96, 100, 0),
    "sadness": (-5.0, 26.0, 0.87, 92, 1),
    "joy": (16.0, 80.0, 1.17, 110, 0),
    "anger": (13.0, 88.0, 1.23, 118, 0),
    "surprise": (21.0, 94.0, 1.12, 110, 0),
    "fear": (17.0, 48.0, 1.27, 104, 0),
    "disgust": (-2.0, 56.0, 0.9, 100, 1),
}


@dataclass(frozen=True)
class Speaker:
    """One demo voice: an eSpeak NG voice with its neutral pitch and speaking rate."""

    name: str
    gender: str
    voice: str
    pitch: float  # eSpeak pitch parameter at neutral arousal
    rate: float  # words per minute at neutral arousal


def prosody_for(rng: np.random.Generator, speaker: Speaker, label: str) -> Prosody:
    """The eSpeak prosody of ``speaker`` saying ``label`` (:data:`EMOTION_PROSODY`, jittered)."""
    dpitch, prange, rate, volume, gap = EMOTION_PROSODY[label]
    return Prosody(
        rate=int(np.clip(round(speaker.rate * rate * (1 + 0.05 * rng.standard_normal())), 80, 400)),
        pitch=int(np.clip(round(speaker.pitch + dpitch + 4 * rng.standard_normal()), 0, 99)),
        range=int(np.clip(round(prange + 8 * rng.standard_normal()), 0, 99)),
        volume=int(np.clip(round(volume + 5 * rng.standard_normal()), 50, 150)),
        wordgap=gap,
    )


def render(
    tts: EspeakSynthesizer,
    rng: np.random.Generator,
    text: str,
    speaker: Speaker,
    prosody: Prosody,
    noise_db: float,
) -> np.ndarray:
    """Speech with short pads and a noise floor ``noise_db`` below the speech RMS, 16 kHz."""
    speech = tts.synthesize(text, speaker.voice, prosody, seed=int(rng.integers(2**31)))
    lead = np.zeros(int(SAMPLE_RATE * rng.uniform(0.08, 0.25)), np.float32)
    tail = np.zeros(int(SAMPLE_RATE * rng.uniform(0.10, 0.30)), np.float32)
    audio = np.concatenate([lead, speech, tail])
    rms = float(np.sqrt(np.mean(speech**2))) if speech.size else 0.1
    # Pinkish noise: white noise through a one-pole low-pass; real rooms are not white.
    noise = lfilter([1.0], [1.0, -0.9], rng.standard_normal(audio.size))
    noise *= rms * 10 ** (-noise_db / 20) / (np.sqrt(np.mean(noise**2)) + 1e-12)
    return np.clip(audio + noise, -1.0, 1.0).astype(np.float32)


def pcm16(audio: np.ndarray) -> np.ndarray:
    """16-bit PCM samples of float ``audio`` in [-1, 1] (clipped)."""
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
