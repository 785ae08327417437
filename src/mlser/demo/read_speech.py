"""Seeded generator of the demo read-speech corpus: unlabelled speech to pretrain on.

Writes ``wav/read<NNNNN>.wav`` (16 kHz PCM-16) and ``utterances.tsv`` (utt_id, path
relative to the root, text, voice, seconds), a layout of its own: there is no real release
to mirror and no emotion label. The tree is written into a temporary sibling and moved
into place (:func:`mlser.atomic.atomic_path`); everything is a function of the spec alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from mlser.atomic import atomic_path
from mlser.demo.base import CorpusSpec, tree_size
from mlser.demo.sampling import pick
from mlser.demo.text import WORDS, sentence
from mlser.demo.tts import SAMPLE_RATE, EspeakSynthesizer
from mlser.demo.voice import EMOTION_PROSODY, Speaker, pcm16, prosody_for, render


@dataclass(frozen=True)
class ReadSpeechSpec(CorpusSpec):
    """What :func:`generate_read_speech` builds: unlabelled read speech to pretrain the
    demo's acoustic encoder on, as HuBERT is pretrained on Libri-Light before any emotion
    corpus is seen. Sentences come from the demo language (every word of
    :func:`mlser.demo.text.vocabulary`) with prosody drawn across the whole emotional
    range, so the encoder learns the language and the voices, not any corpus's utterances
    or labels.
    """

    seed: int = 3
    utterances: int = 800
    #: eSpeak variants speaking it (the demo corpora's voices and others)
    voices: tuple[str, ...] = (
        "f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7",
        "belinda", "steph", "Annie", "michel", "travis", "antonio", "linda", "david",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.utterances < 1:
            raise ValueError("utterances must be >= 1")
        if not self.voices:
            raise ValueError("voices must not be empty")


def generate_read_speech(root: Path, spec: ReadSpeechSpec | None = None) -> dict[str, Any]:
    """Write ``root/wav/*.wav`` and ``root/utterances.tsv`` (utt_id, path relative to
    ``root``, text, voice, seconds); return a summary. No emotion labels exist here."""
    spec = spec or ReadSpeechSpec()
    t0 = time.perf_counter()
    root = Path(root)
    rng = np.random.default_rng(spec.seed)
    tts = EspeakSynthesizer()
    wordsets = [*WORDS, None]
    rows = ["utt_id\tpath\ttext\tvoice\tseconds"]
    seconds = 0.0
    with atomic_path(root) as tmp:
        (tmp / "wav").mkdir(parents=True)
        for i in range(spec.utterances):
            voice = spec.voices[i % len(spec.voices)]
            female = voice.startswith("f") or voice in ("belinda", "steph", "Annie", "linda")
            speaker = Speaker(
                name=voice,
                gender="F" if female else "M",
                voice=f"en-us+{voice}",
                pitch=(46.0 if female else 56.0) + float(rng.integers(-6, 7)),
                rate=165.0 + float(rng.integers(-15, 16)),
            )
            text = sentence(rng, wordsets[int(rng.integers(len(wordsets)))])
            prosody = prosody_for(rng, speaker, pick(rng, list(EMOTION_PROSODY)))
            audio = pcm16(render(tts, rng, text, speaker, prosody, float(rng.uniform(30, 48))))
            utt_id = f"read{i:05d}"
            sf.write(tmp / "wav" / f"{utt_id}.wav", audio, SAMPLE_RATE, subtype="PCM_16")
            seconds += audio.size / SAMPLE_RATE
            rows.append(
                f"{utt_id}\twav/{utt_id}.wav\t{text}\t{voice}\t{audio.size / SAMPLE_RATE:.3f}"
            )
        (tmp / "utterances.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        files, size = tree_size(tmp)
    return {
        "corpus": "read_speech",
        "root": str(root),
        "spec": {f.name: getattr(spec, f.name) for f in fields(spec)},
        "utterances": spec.utterances,
        "audio_seconds": round(seconds, 2),
        "files": files,
        "bytes": size,
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }
