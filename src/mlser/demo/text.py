"""The demo language: the words and sentences that every demo transcript is made of.

Generates the text of all three demo corpora (IEMOCAP transcriptions, MELD's
``Utterance`` column, the read-speech ``utterances.tsv``), not any file of them. Words
carry *valence* more than the voice does (:mod:`mlser.demo.voice`): each class has its own
small emotion-bearing vocabulary (:data:`WORDS`), embedded in sentence frames made of a
shared filler vocabulary (a few hundred words in all, so a tiny ASR model can learn them).
A share of utterances has only filler words and a share has the words of another class
while the voice follows the true label (:func:`text_for`), so that audio and text each
matter and fusion beats both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlser.demo.sampling import pick

#: Emotion-bearing words per word class ("adj", "noun", "verb"). Keys are the word sets;
#: each corpus label maps onto one of them.
WORDS: dict[str, dict[str, tuple[str, ...]]] = {
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
FILLERS = (
    "i was there", "we can do that", "it is what it is", "you said that", "let me see",
    "i know that", "we will see", "so what do you want", "that is the thing", "i don't know",
    "it's up to you", "where are you going", "tell me about it", "i was just thinking",
    "can we talk about it", "what do you mean", "i'm not sure", "that's what i said",
    "let's go", "come here", "do you have a minute", "who is that", "maybe later",
    "i can't say", "are you sure about that", "we need to talk", "what did he say",
    "she told me that", "give me a second", "i heard you",
)  # fmt: skip
BACKCHANNELS = ("yeah", "okay", "right", "mm hmm", "uh huh", "sure", "no")
TOKENS = ("[LAUGHTER]", "[BREATHING]", "[GARBAGE]")

# Which word set each corpus label speaks with; out-of-protocol labels borrow one.
WORDSET: dict[str, str] = {
    "neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad",
    "fru": "angry", "sur": "surprised",
    "neutral": "neutral", "joy": "happy", "sadness": "sad", "anger": "angry",
    "surprise": "surprised", "fear": "afraid", "disgust": "disgusted",
}  # fmt: skip


def vocabulary() -> set[str]:
    """Every word a demo transcript can contain (the bracketed tokens excepted)."""
    words: set[str] = set()
    for pos in WORDS.values():
        for group in pos.values():
            words.update(group)
    for phrase in (*_FRAMES, *_TIMES, *_PREFIXES, *_SUFFIXES, *FILLERS, *BACKCHANNELS):
        words.update(w for w in phrase.split() if not w.startswith("{"))
    return words


def _emotion_core(rng: np.random.Generator, wordset: str) -> list[str]:
    words = WORDS[wordset]
    frame = pick(rng, _FRAMES)
    out: list[str] = []
    for token in frame.split():
        if token.startswith("{"):
            slot = token[1:-1]
            out.extend((pick(rng, _TIMES) if slot == "time" else pick(rng, words[slot])).split())
        else:
            out.append(token)
    return out


def sentence(rng: np.random.Generator, wordset: str | None) -> str:
    """A lower-case sentence of 4-10 words; ``wordset=None`` gives filler words only."""
    core = pick(rng, FILLERS).split() if wordset is None else _emotion_core(rng, wordset)
    words = list(core)
    if rng.random() < 0.6 or len(words) < 4:
        words = pick(rng, _PREFIXES).split() + words
    if rng.random() < 0.5 or len(words) < 4:
        words = words + pick(rng, _SUFFIXES).split()
    while len(words) < 4:
        words = words + pick(rng, _SUFFIXES).split()
    return " ".join(words[:10])


def text_for(
    rng: np.random.Generator,
    label: str,
    others: Sequence[str],
    uninformative: float,
    incongruent: float,
) -> tuple[str, str]:
    """(sentence, word source) for an utterance whose voice says ``label``."""
    u = rng.random()
    if u < uninformative:
        return sentence(rng, None), "uninformative"
    if u < uninformative + incongruent:
        other = pick(rng, [o for o in others if WORDSET[o] != WORDSET.get(label)])
        return sentence(rng, WORDSET[other]), f"incongruent:{other}"
    if label not in WORDSET:  # xxx: no agreement, words of any class
        return sentence(rng, WORDSET[pick(rng, others)]), "congruent"
    return sentence(rng, WORDSET[label]), "congruent"
