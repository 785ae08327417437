"""Seeded generator of the embedded demo corpora, in the exact IEMOCAP and MELD release layouts.

The trees are read by the same readers as the real releases (see docs/corpus-formats.md).
Speech is synthesised with eSpeak NG (:mod:`mlser.demo.tts`) so that the papers' effects can
show on a laptop:

* prosody (pitch level, pitch range, speaking rate) carries *arousal* strongly and
  valence only weakly; loudness varies too but nothing relies on it, because
  HuBERT-style front ends normalise it away;
* words carry *valence* more: each class has its own small emotion-bearing vocabulary,
  embedded in sentence frames made of a shared filler vocabulary (a few hundred words
  in all, so a tiny ASR model can learn them);
* a share of utterances has only filler words (``uninformative_words_share``) and a
  share has the words of another class while the voice follows the true label
  (``incongruent_share``), so that audio and text each matter and fusion beats both;
* IEMOCAP's scripted dialogs reuse the same script lines in every session, performed
  with the intended emotion only ``script_fidelity`` of the time, so a text model can
  overfit them as on the real corpus.

Both generators write into a temporary sibling and move the finished tree into place
(:func:`mlser.atomic.atomic_path`): a killed run leaves nothing under ``root``.
Everything (text, labels, audio bytes, mp4 bytes) is a function of the spec alone.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Self

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

from mlser.atomic import atomic_path
from mlser.data.labels import IEMOCAP_MAP
from mlser.demo.tts import SAMPLE_RATE, EspeakSynthesizer, Prosody

# ---------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class _Spec:
    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Self:
        """Build a spec from a config mapping (unknown keys are an error)."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown fields {unknown}; known: {sorted(known)}")
        for key, value in values.items():
            if isinstance(value, list):
                values[key] = tuple(value)
        return cls(**values)

    def _check_share(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{type(self).__name__}.{name} must be in [0, 1], got {value}")
        if self.incongruent_share + self.uninformative_words_share > 1.0:  # type: ignore[attr-defined]
            raise ValueError("incongruent_share + uninformative_words_share must not exceed 1")
        if self.faults < 0:  # type: ignore[attr-defined]
            raise ValueError("faults must be >= 0")


@dataclass(frozen=True)
class DemoIemocapSpec(_Spec):
    """What :func:`generate_iemocap` builds (defaults: 300 utterances, a few seconds to build).

    ``faults`` is the number of items of *each* fault kind: empty or truncated wav files,
    and utterances missing their transcription line.
    """

    seed: int = 1
    utterances_per_speaker: int = 30
    incongruent_share: float = 0.15
    uninformative_words_share: float = 0.25
    scripted_share: float = 0.4
    faults: int = 2
    #: share of labels outside the 4-class protocol (fru, sur, xxx)
    out_of_protocol_share: float = 0.05
    #: share of happy utterances labelled ``exc`` (merged into hap by the protocol)
    excited_share: float = 0.6
    #: how often a scripted line is performed with its intended emotion
    script_fidelity: float = 0.7
    #: script lines per speaker in one script (each script has twice as many turns)
    script_lines_per_speaker: int = 4
    #: utterances per speaker in one improvised dialog
    impro_turns_per_speaker: int = 6
    #: share of transcripts with a [LAUGHTER]/[BREATHING]/[GARBAGE] token
    token_share: float = 0.08

    def __post_init__(self) -> None:
        self._check_share(
            "incongruent_share",
            "uninformative_words_share",
            "scripted_share",
            "out_of_protocol_share",
            "excited_share",
            "script_fidelity",
            "token_share",
        )
        if self.utterances_per_speaker < 4:
            raise ValueError("utterances_per_speaker must be >= 4")
        if self.script_lines_per_speaker < 1 or self.impro_turns_per_speaker < 1:
            raise ValueError("script_lines_per_speaker and impro_turns_per_speaker must be >= 1")


@dataclass(frozen=True)
class DemoMeldSpec(_Spec):
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
        self._check_share("incongruent_share", "uninformative_words_share")
        if self.dialogues < 3:
            raise ValueError("dialogues must be >= 3 (one per split)")
        lo, hi = self.utterances_per_dialogue
        if not 1 <= lo <= hi:
            raise ValueError(f"bad utterances_per_dialogue {self.utterances_per_dialogue}")
        if self.audio_rate not in (44_100, 48_000):
            raise ValueError("audio_rate must be 44100 or 48000 (as MELD)")


# ------------------------------------------------------------------------ vocabulary

#: Emotion-bearing words per word class ("adj", "noun", "verb"). Keys are the word sets;
#: each corpus label maps onto one of them.
_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "happy": {
        "adj": ("wonderful", "great", "fantastic", "amazing", "happy", "glad", "perfect",
                "beautiful", "brilliant", "lovely", "awesome", "excited", "thrilled", "lucky",
                "proud"),
        "noun": ("party", "gift", "wedding", "vacation", "news", "baby", "prize", "promotion",
                 "holiday", "birthday", "dinner", "present"),
        "verb": ("love", "adore", "enjoy", "celebrate", "like"),
    },
    "angry": {
        "adj": ("ridiculous", "furious", "stupid", "angry", "unfair", "terrible", "awful",
                "pathetic", "useless", "insane", "outrageous", "annoyed", "rude", "selfish"),
        "noun": ("liar", "nonsense", "mess", "idiot", "fault", "excuse", "lies", "jerk",
                 "attitude", "insult"),
        "verb": ("hate", "blame", "despise", "resent"),
    },
    "sad": {
        "adj": ("lonely", "sorry", "sad", "lost", "empty", "broken", "tired", "hurt", "alone",
                "miserable", "heartbroken", "hopeless", "gloomy"),
        "noun": ("funeral", "tears", "goodbye", "grave", "loss", "memories", "hospital",
                 "accident", "divorce", "past"),
        "verb": ("miss", "mourn", "regret", "lose"),
    },
    "neutral": {
        "adj": ("fine", "normal", "ready", "open", "closed", "available", "usual", "standard",
                "regular", "due"),
        "noun": ("meeting", "tuesday", "forms", "office", "paper", "schedule", "table", "window",
                 "number", "address", "report", "train", "monday", "street", "kitchen",
                 "letter", "ticket", "desk", "coffee", "printer", "parking", "receipt",
                 "appointment", "calendar", "folder"),
        "verb": ("check", "sign", "file", "send", "bring", "print", "copy"),
    },
    "surprised": {
        "adj": ("unbelievable", "shocking", "unexpected", "incredible", "sudden", "strange",
                "weird"),
        "noun": ("surprise", "shock", "twist", "secret"),
        "verb": ("believe", "expect", "imagine"),
    },
    "afraid": {
        "adj": ("scared", "afraid", "terrified", "nervous", "worried", "frightened", "anxious",
                "dangerous", "creepy"),
        "noun": ("danger", "noise", "monster", "storm", "stranger", "threat"),
        "verb": ("fear", "dread", "panic"),
    },
    "disgusted": {
        "adj": ("gross", "disgusting", "nasty", "revolting", "filthy", "vile", "sickening",
                "smelly", "rotten"),
        "noun": ("smell", "slime", "mold", "vomit", "grease"),
        "verb": ("detest", "reject", "spit"),
    },
}  # fmt: skip

#: Sentence frames over the class words; the filler words in them are shared by all classes.
_FRAMES: tuple[str, ...] = (
    "it is so {adj}",
    "this is {adj}",
    "i feel {adj}",
    "what a {adj} {noun}",
    "i {verb} this {noun}",
    "the {noun} was {adj}",
    "you are {adj}",
    "i {verb} it",
    "that {noun} is {adj}",
    "we have the {noun} {time}",
    "i {verb} the {noun}",
    "it was {adj} and {adj}",
    "my {noun} is {adj}",
    "they {verb} my {noun}",
)
_TIMES = ("today", "tomorrow", "tonight", "now", "again")
_PREFIXES = (
    "well", "oh", "you know", "i mean", "so", "honestly", "look", "and", "but", "okay", "yeah",
    "listen", "i think", "i guess", "you see", "really",
)  # fmt: skip
_SUFFIXES = (
    "right now", "today", "again", "you know", "to me", "for sure", "i guess", "all the time",
    "this time", "really", "with you", "about it",
)  # fmt: skip
#: Word-neutral sentences for the uninformative share (used whatever the label).
_FILLERS = (
    "i was there", "we can do that", "it is what it is", "you said that", "let me see",
    "i know that", "we will see", "so what do you want", "that is the thing", "i don't know",
    "it's up to you", "where are you going", "tell me about it", "i was just thinking",
    "can we talk about it", "what do you mean", "i'm not sure", "that's what i said",
    "let's go", "come here", "do you have a minute", "who is that", "maybe later",
    "i can't say", "are you sure about that", "we need to talk", "what did he say",
    "she told me that", "give me a second", "i heard you",
)  # fmt: skip
_BACKCHANNELS = ("yeah", "okay", "right", "mm hmm", "uh huh", "sure", "no")
_TOKENS = ("[LAUGHTER]", "[BREATHING]", "[GARBAGE]")

# Which word set each corpus label speaks with; out-of-protocol labels borrow one.
_WORDSET: dict[str, str] = {
    "neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad",
    "fru": "angry", "sur": "surprised",
    "neutral": "neutral", "joy": "happy", "sadness": "sad", "anger": "angry",
    "surprise": "surprised", "fear": "afraid", "disgust": "disgusted",
}  # fmt: skip


def vocabulary() -> set[str]:
    """Every word a demo transcript can contain (the bracketed tokens excepted)."""
    words: set[str] = set()
    for pos in _WORDS.values():
        for group in pos.values():
            words.update(group)
    for phrase in (*_FRAMES, *_TIMES, *_PREFIXES, *_SUFFIXES, *_FILLERS, *_BACKCHANNELS):
        words.update(w for w in phrase.split() if not w.startswith("{"))
    return words


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return str(items[int(rng.integers(len(items)))])


def _emotion_core(rng: np.random.Generator, wordset: str) -> list[str]:
    words = _WORDS[wordset]
    frame = _pick(rng, _FRAMES)
    out: list[str] = []
    for token in frame.split():
        if token.startswith("{"):
            slot = token[1:-1]
            out.extend((_pick(rng, _TIMES) if slot == "time" else _pick(rng, words[slot])).split())
        else:
            out.append(token)
    return out


def _sentence(rng: np.random.Generator, wordset: str | None) -> str:
    """A lower-case sentence of 4-10 words; ``wordset=None`` gives filler words only."""
    core = _pick(rng, _FILLERS).split() if wordset is None else _emotion_core(rng, wordset)
    words = list(core)
    if rng.random() < 0.6 or len(words) < 4:
        words = _pick(rng, _PREFIXES).split() + words
    if rng.random() < 0.5 or len(words) < 4:
        words = words + _pick(rng, _SUFFIXES).split()
    while len(words) < 4:
        words = words + _pick(rng, _SUFFIXES).split()
    return " ".join(words[:10])


def _text_for(
    rng: np.random.Generator,
    label: str,
    others: Sequence[str],
    uninformative: float,
    incongruent: float,
) -> tuple[str, str]:
    """(sentence, word source) for an utterance whose voice says ``label``."""
    u = rng.random()
    if u < uninformative:
        return _sentence(rng, None), "uninformative"
    if u < uninformative + incongruent:
        other = _pick(rng, [o for o in others if _WORDSET[o] != _WORDSET.get(label)])
        return _sentence(rng, _WORDSET[other]), f"incongruent:{other}"
    if label not in _WORDSET:  # xxx: no agreement, words of any class
        return _sentence(rng, _WORDSET[_pick(rng, others)]), "congruent"
    return _sentence(rng, _WORDSET[label]), "congruent"


# --------------------------------------------------------------------------- prosody

#: label -> (pitch offset, pitch range, rate factor, volume, word gap). Arousal sets the
#: first three strongly; within an arousal level the classes differ only slightly.
_PROSODY: dict[str, tuple[float, float, float, int, int]] = {
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
class _Speaker:
    name: str
    gender: str
    voice: str
    pitch: float  # eSpeak pitch parameter at neutral arousal
    rate: float  # words per minute at neutral arousal


def _prosody(rng: np.random.Generator, speaker: _Speaker, label: str) -> Prosody:
    dpitch, prange, rate, volume, gap = _PROSODY[label]
    return Prosody(
        rate=int(np.clip(round(speaker.rate * rate * (1 + 0.05 * rng.standard_normal())), 80, 400)),
        pitch=int(np.clip(round(speaker.pitch + dpitch + 4 * rng.standard_normal()), 0, 99)),
        range=int(np.clip(round(prange + 8 * rng.standard_normal()), 0, 99)),
        volume=int(np.clip(round(volume + 5 * rng.standard_normal()), 50, 150)),
        wordgap=gap,
    )


def _quota(n: int, probs: Mapping[str, float]) -> list[str]:
    """``n`` labels in the given proportions (largest remainder), in a fixed order."""
    labels = list(probs)
    p = np.array([probs[k] for k in labels], dtype=float)
    raw = n * p / p.sum()
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return [lab for lab, c in zip(labels, counts, strict=True) for _ in range(c)]


# ---------------------------------------------------------------------------- audio


def _render(
    tts: EspeakSynthesizer,
    rng: np.random.Generator,
    text: str,
    speaker: _Speaker,
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


def _pcm16(audio: np.ndarray) -> np.ndarray:
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


# -------------------------------------------------------------------------- IEMOCAP

_IEMOCAP_4 = {"neu": 0.309, "hap": 0.296, "ang": 0.199, "sad": 0.196}
_IEMOCAP_OOP = {"fru": 0.5, "xxx": 0.3, "sur": 0.2}
_EVAL_NAME = {
    "neu": "Neutral", "hap": "Happiness", "exc": "Excited", "ang": "Anger", "sad": "Sadness",
    "fru": "Frustration", "sur": "Surprise", "fea": "Fear", "dis": "Disgust", "oth": "Other",
}  # fmt: skip
#: Means of (valence, activation, dominance) on IEMOCAP's 1-5 scales.
_VAD = {
    "neu": (3.0, 2.2, 2.8), "hap": (4.0, 3.2, 3.0), "exc": (4.0, 3.8, 3.2),
    "ang": (1.8, 3.9, 3.9), "sad": (1.8, 2.0, 2.0), "fru": (2.0, 3.2, 3.0),
    "sur": (3.5, 3.8, 2.8), "xxx": (2.8, 2.8, 2.8),
}  # fmt: skip
_IEMOCAP_VOICES = {"F": ("f1", "f2", "f3", "f4", "f5"), "M": ("m1", "m2", "m3", "m5", "m6")}


@dataclass
class _IemoUtt:
    session: int
    dialog: str
    gender: str
    label: str
    text: str
    source: str
    style: str
    prosody: Prosody
    utt_id: str = ""
    token: str = ""
    start: float = 0.0
    end: float = 0.0


@dataclass
class _Dialog:
    session: int
    name: str
    turns: list[_IemoUtt] = field(default_factory=list)
    overlaps: list[tuple[str, float, float, str]] = field(default_factory=list)


def _iemocap_label(rng: np.random.Generator, base: str, excited_share: float) -> str:
    if base == "hap" and rng.random() < excited_share:
        return "exc"
    return base


def _iemocap_labels(rng: np.random.Generator, n: int, spec: DemoIemocapSpec) -> list[str]:
    n_oop = round(n * spec.out_of_protocol_share)
    oop = list(_IEMOCAP_OOP)
    weights = np.array([_IEMOCAP_OOP[k] for k in oop])
    labels = _quota(n - n_oop, _IEMOCAP_4) + [
        oop[int(i)] for i in rng.choice(len(oop), size=n_oop, p=weights / weights.sum())
    ]
    labels = [str(x) for x in rng.permutation(labels)]
    return [_iemocap_label(rng, lab, spec.excited_share) for lab in labels]


def _iemocap_plan(spec: DemoIemocapSpec) -> tuple[list[_Dialog], dict[str, _Speaker]]:
    rng = np.random.default_rng(spec.seed)
    speakers: dict[str, _Speaker] = {}
    for s in range(1, 6):
        for g in ("F", "M"):
            speakers[f"Ses0{s}_{g}"] = _Speaker(
                name=f"Ses0{s}_{g}",
                gender=g,
                voice=f"en-us+{_IEMOCAP_VOICES[g][s - 1]}",
                pitch=(46.0 if g == "F" else 56.0) + float(rng.integers(-4, 5)),
                rate=160.0 + float(rng.integers(-12, 13)),
            )
    classes = list(_IEMOCAP_4)
    # The scripts: the same lines (text and intended emotion) in every session.
    n_lines = spec.script_lines_per_speaker
    scripts: list[list[tuple[str, str]]] = []
    intents = iter(str(x) for x in rng.permutation(_quota(3 * 2 * n_lines, _IEMOCAP_4)))
    for _ in range(3):
        lines = []
        for _ in range(2 * n_lines):
            intended = next(intents)
            text, _src = _text_for(rng, intended, classes, spec.uninformative_words_share, 0.0)
            lines.append((intended, text))
        scripts.append(lines)

    n_script = round(spec.utterances_per_speaker * spec.scripted_share)
    n_impro = spec.utterances_per_speaker - n_script
    dialogs: list[_Dialog] = []
    for s in range(1, 6):
        marker = 0
        markers = ("F", "M") if rng.random() < 0.5 else ("M", "F")
        # Improvised: fresh sentences, one label per utterance.
        per_gender = {g: _iemocap_labels(rng, n_impro, spec) for g in ("F", "M")}
        k = spec.impro_turns_per_speaker
        for d in range((n_impro + k - 1) // k):
            name = f"Ses0{s}{markers[marker % 2]}_impro{d + 1:02d}"
            marker += 1
            dialog = _Dialog(s, name)
            chunks = {g: per_gender[g][d * k : (d + 1) * k] for g in ("F", "M")}
            first = "F" if rng.random() < 0.5 else "M"
            order = _interleave(chunks, first)
            for g, label in order:
                text, src = _text_for(
                    rng, label, classes, spec.uninformative_words_share, spec.incongruent_share
                )
                prosody = _prosody(rng, speakers[f"Ses0{s}_{g}"], label)
                dialog.turns.append(_IemoUtt(s, name, g, label, text, src, "improvised", prosody))
            dialogs.append(dialog)
        # Scripted: script k take t, in order, until each speaker has n_script lines.
        done = 0
        take = 0
        while done < n_script:
            for sc in range(len(scripts)):
                if done >= n_script:
                    break
                name = f"Ses0{s}{markers[marker % 2]}_script{sc + 1:02d}_{take + 1}"
                marker += 1
                dialog = _Dialog(s, name)
                lines = scripts[sc][: 2 * min(n_lines, n_script - done)]
                for i, (intended, text) in enumerate(lines):
                    g = "F" if i % 2 == 0 else "M"
                    label = intended
                    if rng.random() >= spec.script_fidelity:
                        label = _pick(rng, [c for c in classes if c != intended])
                    label = _iemocap_label(rng, label, spec.excited_share)
                    prosody = _prosody(rng, speakers[f"Ses0{s}_{g}"], label)
                    dialog.turns.append(
                        _IemoUtt(s, name, g, label, text, "script", "scripted", prosody)
                    )
                done += len(lines) // 2
                dialogs.append(dialog)
            take += 1
    # Utterance ids: per dialog, per speaker gender, in turn order.
    for dialog in dialogs:
        counts = Counter[str]()
        for u in dialog.turns:
            u.utt_id = f"{dialog.name}_{u.gender}{counts[u.gender]:03d}"
            counts[u.gender] += 1
            if rng.random() < spec.token_share:
                u.token = _pick(rng, _TOKENS)
    return dialogs, speakers


def _interleave(chunks: Mapping[str, Sequence[str]], first: str) -> list[tuple[str, str]]:
    other = "M" if first == "F" else "F"
    out: list[tuple[str, str]] = []
    for i in range(max(len(chunks[first]), len(chunks[other]))):
        for g in (first, other):
            if i < len(chunks[g]):
                out.append((g, chunks[g][i]))
    return out


def _annotations(rng: np.random.Generator, u: _IemoUtt) -> tuple[list[str], tuple[float, ...]]:
    """Evaluator lines and the averaged [V, A, D] consistent with the label."""
    names = list(_EVAL_NAME.values())
    if u.label == "xxx":  # no majority: three different opinions
        cats = [str(x) for x in rng.choice(names[:7], size=3, replace=False)]
    else:
        main = _EVAL_NAME[u.label]
        odd = main if rng.random() < 0.5 else _pick(rng, [n for n in names[:7] if n != main])
        cats = [main, main, odd]
        cats = [str(x) for x in rng.permutation(cats)]
    evaluators = sorted(rng.choice(["E1", "E2", "E3", "E4"], size=3, replace=False).tolist())
    lines = [f"C-{e}:\t{c};\t()" for e, c in zip(evaluators, cats, strict=True)]
    lines.append(f"C-{u.gender}1:\t{_EVAL_NAME.get(u.label, 'Other')};\t()")
    means = _VAD[u.label]
    scores = []
    dims_evaluators = sorted(rng.choice(["E1", "E2", "E3", "E4"], size=2, replace=False).tolist())
    for e in dims_evaluators:
        v, a, d = (int(np.clip(round(m + 0.6 * rng.standard_normal()), 1, 5)) for m in means)
        scores.append((v, a, d))
        lines.append(f"A-{e}:\tval {v}; act {a}; dom  {d};\t()")
    v, a, d = (int(np.clip(round(m + 0.6 * rng.standard_normal()), 1, 5)) for m in means)
    lines.append(f"A-{u.gender}1:\tval {v}; act {a}; dom  {d};\t()")
    vad = tuple(float(np.mean([s[i] for s in scores])) for i in range(3))
    return lines, vad


def generate_iemocap(root: Path, spec: DemoIemocapSpec | None = None) -> dict[str, Any]:
    """Write an ``IEMOCAP_full_release``-shaped tree at ``root``; return a summary.

    The summary has counts per raw label, session, style and word source, seconds of
    audio, file count and bytes, wall time, and ``faults``: one entry (kind, id, path
    relative to ``root``) per deliberately broken item.
    """
    spec = spec or DemoIemocapSpec()
    t0 = time.perf_counter()
    root = Path(root)
    dialogs, speakers = _iemocap_plan(spec)
    rng = np.random.default_rng([spec.seed, 1])
    tts = EspeakSynthesizer()
    utts = [u for d in dialogs for u in d.turns]

    # Faults among in-protocol improvised utterances, so a reader must reject them.
    candidates = [u.utt_id for u in utts if u.style == "improvised" and u.label in IEMOCAP_MAP]
    n_faults = min(spec.faults, len(candidates) // 3)
    picked = [str(x) for x in rng.choice(candidates, size=3 * n_faults, replace=False)]
    broken_wav, no_transcript = set(picked[: 2 * n_faults]), set(picked[2 * n_faults :])
    faults: list[dict[str, str]] = []

    seconds = 0.0
    with atomic_path(root) as tmp:
        for dialog in dialogs:
            sess = tmp / f"Session{dialog.session}"
            wav_dir = sess / "sentences" / "wav" / dialog.name
            wav_dir.mkdir(parents=True, exist_ok=True)
            cursor = float(rng.uniform(1.0, 3.0))
            for u in dialog.turns:
                speaker = speakers[f"Ses0{u.session}_{u.gender}"]
                audio = _render(tts, rng, u.text, speaker, u.prosody, float(rng.uniform(38, 48)))
                pcm = _pcm16(audio)
                u.start = round(cursor, 4)
                u.end = round(u.start + pcm.size / SAMPLE_RATE, 4)
                cursor = u.end + float(rng.uniform(0.2, 1.5))
                seconds += pcm.size / SAMPLE_RATE
                path = wav_dir / f"{u.utt_id}.wav"
                rel = path.relative_to(tmp).as_posix()
                if u.utt_id in broken_wav:
                    i = len([f for f in faults if f["kind"].endswith("_wav")])
                    if i % 2 == 0:
                        path.write_bytes(b"")
                        faults.append({"kind": "empty_wav", "id": u.utt_id, "path": rel})
                    else:
                        buf = io.BytesIO()
                        sf.write(buf, pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
                        path.write_bytes(buf.getvalue()[:30])
                        faults.append({"kind": "truncated_wav", "id": u.utt_id, "path": rel})
                else:
                    sf.write(path, pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
            # Overlapping unlabelled turns (XX ids): transcribed, never evaluated.
            if len(dialog.turns) >= 2 and rng.random() < 0.6:
                host = dialog.turns[int(rng.integers(1, len(dialog.turns)))]
                g = "M" if host.gender == "F" else "F"
                start = round(host.start + 0.3 * (host.end - host.start), 4)
                end = round(start + float(rng.uniform(0.3, 0.8)), 4)
                dialog.overlaps.append(
                    (f"{dialog.name}_{g}XX0", start, end, _pick(rng, _BACKCHANNELS))
                )
            _write_iemocap_texts(tmp, dialog, rng, no_transcript)
        for u in utts:
            if u.utt_id in no_transcript:
                rel = f"Session{u.session}/dialog/transcriptions/{u.dialog}.txt"
                faults.append({"kind": "missing_transcript", "id": u.utt_id, "path": rel})
        files, size = _tree_size(tmp)

    faults.sort(key=lambda f: (f["kind"], f["id"]))
    return {
        "corpus": "iemocap",
        "root": str(root),
        "spec": {f.name: getattr(spec, f.name) for f in fields(spec)},
        "utterances": len(utts),
        "labels": dict(sorted(Counter(u.label for u in utts).items())),
        "sessions": dict(sorted(Counter(f"Session{u.session}" for u in utts).items())),
        "styles": dict(sorted(Counter(u.style for u in utts).items())),
        "word_sources": dict(sorted(Counter(u.source.split(":")[0] for u in utts).items())),
        "speakers": {k: v.voice for k, v in speakers.items()},
        "dialogs": len(dialogs),
        "vocabulary_size": len({w for u in utts for w in u.text.split()}),
        "audio_seconds": round(seconds, 2),
        "files": files,
        "bytes": size,
        "faults": faults,
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }


def _write_iemocap_texts(
    tmp: Path, dialog: _Dialog, rng: np.random.Generator, no_transcript: set[str]
) -> None:
    sess = tmp / f"Session{dialog.session}" / "dialog"
    (sess / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
    (sess / "transcriptions").mkdir(parents=True, exist_ok=True)
    blocks = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n"]
    for u in sorted(dialog.turns, key=lambda u: u.start):
        lines, (v, a, d) = _annotations(rng, u)
        head = f"[{u.start:.4f} - {u.end:.4f}]\t{u.utt_id}\t{u.label}\t[{v:.4f}, {a:.4f}, {d:.4f}]"
        blocks.append("\n".join([head, *lines]) + "\n")
    (sess / "EmoEvaluation" / f"{dialog.name}.txt").write_text(
        "\n".join(blocks) + "\n", encoding="utf-8"
    )
    rows: list[tuple[float, str]] = []
    for u in dialog.turns:
        if u.utt_id in no_transcript:
            continue
        text = u.text
        if u.token:
            text = f"{u.token} {text}" if rng.random() < 0.5 else f"{text} {u.token}"
        rows.append((u.start, f"{u.utt_id} [{u.start:08.4f}-{u.end:08.4f}]: {text}"))
    for utt_id, start, end, text in dialog.overlaps:
        rows.append((start, f"{utt_id} [{start:08.4f}-{end:08.4f}]: {text}"))
    rows.sort(key=lambda r: r[0])
    (sess / "transcriptions" / f"{dialog.name}.txt").write_text(
        "".join(line + "\n" for _, line in rows), encoding="utf-8"
    )


def _tree_size(root: Path) -> tuple[int, int]:
    paths = [p for p in root.rglob("*") if p.is_file()]
    return len(paths), sum(p.stat().st_size for p in paths)


# ----------------------------------------------------------------------------- MELD

#: MELD's training-set emotion distribution (4710/1743/683/1109/1205/268/271).
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
class _MeldUtt:
    split: str
    dialogue: int
    index: int
    speaker: _Speaker
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
        return f"dia{self.dialogue}_utt{self.index}.mp4"


def _split_sizes(spec: DemoMeldSpec) -> list[int]:
    shares = np.array(spec.split_shares, dtype=float)
    dev = max(1, round(spec.dialogues * shares[1] / shares.sum()))
    test = max(1, round(spec.dialogues * shares[2] / shares.sum()))
    return [spec.dialogues - dev - test, dev, test]


def _meld_plan(spec: DemoMeldSpec) -> list[_MeldUtt]:
    rng = np.random.default_rng(spec.seed)
    speakers = [
        _Speaker(name, g, f"en-us+{voice}", pitch, rate)
        for name, g, voice, pitch, rate in _MELD_SPEAKERS
    ]
    classes = list(_MELD_DIST)
    lo, hi = spec.utterances_per_dialogue
    utts: list[_MeldUtt] = []
    for (split, _csv, _dir), n_dia in zip(MELD_SPLITS, _split_sizes(spec), strict=True):
        lengths = [int(rng.integers(lo, hi + 1)) for _ in range(n_dia)]
        labels = [str(x) for x in rng.permutation(_quota(sum(lengths), _MELD_DIST))]
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
                text, src = _text_for(
                    rng, label, classes, spec.uninformative_words_share, spec.incongruent_share
                )
                prosody = _prosody(rng, speakers[who], label)
                utts.append(
                    _MeldUtt(split, dia, i, speakers[who], label, sentiment, text, src, season,
                             episode, prosody)
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
    utts = _meld_plan(spec)
    rng = np.random.default_rng([spec.seed, 1])
    tts = EspeakSynthesizer()

    # Faults: text faults need an apostrophe to mangle; file faults any row.
    n = spec.faults
    order = [int(i) for i in rng.permutation(len(utts))]
    text_rows = [i for i in order if "'" in utts[i].text][: 2 * n]
    for i in [i for i in order if i not in text_rows][: 2 * n - len(text_rows)]:
        # Too few contractions by chance: give the row a filler sentence that has one.
        utts[i].text = _pick(rng, [f for f in _FILLERS if "'" in f])
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
            audio = _render(
                tts, rng, u.text, u.speaker, u.prosody, float(rng.uniform(*spec.snr_db))
            )
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
        files, size = _tree_size(tmp)

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


def _meld_csv(rows: Iterable[_MeldUtt]) -> bytes:
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


# ---------------------------------------------------------------------- read speech


@dataclass(frozen=True)
class ReadSpeechSpec(_Spec):
    """What :func:`generate_read_speech` builds: unlabelled read speech to pretrain the
    demo's acoustic encoder on, as HuBERT is pretrained on Libri-Light before any emotion
    corpus is seen. Sentences come from the demo language (every word of
    :func:`vocabulary`) with prosody drawn across the whole emotional range, so the
    encoder learns the language and the voices, not any corpus's utterances or labels.
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
    wordsets = [*_WORDS, None]
    rows = ["utt_id\tpath\ttext\tvoice\tseconds"]
    seconds = 0.0
    with atomic_path(root) as tmp:
        (tmp / "wav").mkdir(parents=True)
        for i in range(spec.utterances):
            voice = spec.voices[i % len(spec.voices)]
            female = voice.startswith("f") or voice in ("belinda", "steph", "Annie", "linda")
            speaker = _Speaker(
                name=voice,
                gender="F" if female else "M",
                voice=f"en-us+{voice}",
                pitch=(46.0 if female else 56.0) + float(rng.integers(-6, 7)),
                rate=165.0 + float(rng.integers(-15, 16)),
            )
            text = _sentence(rng, wordsets[int(rng.integers(len(wordsets)))])
            prosody = _prosody(rng, speaker, _pick(rng, list(_PROSODY)))
            audio = _pcm16(_render(tts, rng, text, speaker, prosody, float(rng.uniform(30, 48))))
            utt_id = f"read{i:05d}"
            sf.write(tmp / "wav" / f"{utt_id}.wav", audio, SAMPLE_RATE, subtype="PCM_16")
            seconds += audio.size / SAMPLE_RATE
            rows.append(
                f"{utt_id}\twav/{utt_id}.wav\t{text}\t{voice}\t{audio.size / SAMPLE_RATE:.3f}"
            )
        (tmp / "utterances.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        files, size = _tree_size(tmp)
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
