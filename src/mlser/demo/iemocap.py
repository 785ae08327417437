"""Seeded generator of the demo IEMOCAP corpus, in the ``IEMOCAP_full_release`` layout.

Writes ``Session{1..5}/sentences/wav/<dialog>/<utt>.wav`` (16 kHz PCM-16) and
``Session{1..5}/dialog/{EmoEvaluation,transcriptions}/<dialog>.txt``, read by the same
reader as the real release (see docs/corpus-formats.md): five sessions of one female and
one male speaker, improvised and scripted dialogs, evaluator lines with [V, A, D] scores,
labels outside the 4-class protocol, unlabelled overlapping ``XX`` turns and, on request,
broken wav files and missing transcription lines. The scripted dialogs reuse the same
script lines in every session, performed with the intended emotion only
``script_fidelity`` of the time, so a text model can overfit them as on the real corpus.

The tree is written into a temporary sibling and moved into place
(:func:`mlser.atomic.atomic_path`): a killed run leaves nothing under ``root``.
Everything (text, labels, audio bytes) is a function of the spec alone.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from mlser.atomic import atomic_path
from mlser.data.labels import IEMOCAP_MAP
from mlser.demo.base import CorpusSpec, tree_size
from mlser.demo.sampling import pick, quota
from mlser.demo.text import BACKCHANNELS, TOKENS, text_for
from mlser.demo.tts import SAMPLE_RATE, EspeakSynthesizer, Prosody
from mlser.demo.voice import Speaker, pcm16, prosody_for, render


@dataclass(frozen=True)
class DemoIemocapSpec(CorpusSpec):
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
        self.check_shares(
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
    labels = quota(n - n_oop, _IEMOCAP_4) + [
        oop[int(i)] for i in rng.choice(len(oop), size=n_oop, p=weights / weights.sum())
    ]
    labels = [str(x) for x in rng.permutation(labels)]
    return [_iemocap_label(rng, lab, spec.excited_share) for lab in labels]


def _iemocap_plan(spec: DemoIemocapSpec) -> tuple[list[_Dialog], dict[str, Speaker]]:
    rng = np.random.default_rng(spec.seed)
    speakers: dict[str, Speaker] = {}
    for s in range(1, 6):
        for g in ("F", "M"):
            speakers[f"Ses0{s}_{g}"] = Speaker(
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
    intents = iter(str(x) for x in rng.permutation(quota(3 * 2 * n_lines, _IEMOCAP_4)))
    for _ in range(3):
        lines = []
        for _ in range(2 * n_lines):
            intended = next(intents)
            text, _src = text_for(rng, intended, classes, spec.uninformative_words_share, 0.0)
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
                text, src = text_for(
                    rng, label, classes, spec.uninformative_words_share, spec.incongruent_share
                )
                prosody = prosody_for(rng, speakers[f"Ses0{s}_{g}"], label)
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
                        label = pick(rng, [c for c in classes if c != intended])
                    label = _iemocap_label(rng, label, spec.excited_share)
                    prosody = prosody_for(rng, speakers[f"Ses0{s}_{g}"], label)
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
                u.token = pick(rng, TOKENS)
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
        odd = main if rng.random() < 0.5 else pick(rng, [n for n in names[:7] if n != main])
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
                audio = render(tts, rng, u.text, speaker, u.prosody, float(rng.uniform(38, 48)))
                pcm = pcm16(audio)
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
                    (f"{dialog.name}_{g}XX0", start, end, pick(rng, BACKCHANNELS))
                )
            _write_iemocap_texts(tmp, dialog, rng, no_transcript)
        for u in utts:
            if u.utt_id in no_transcript:
                rel = f"Session{u.session}/dialog/transcriptions/{u.dialog}.txt"
                faults.append({"kind": "missing_transcript", "id": u.utt_id, "path": rel})
        files, size = tree_size(tmp)

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
