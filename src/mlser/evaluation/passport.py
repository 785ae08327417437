"""The protocol passport of a prepared corpus: what its numbers were measured on, checked.

One passport per corpus (``results/{corpus}/passport.json`` and ``passport.md``) states

* the label map and class counts, the rejects and the sample rate the models read;
* per fold: the SHA-256 digest of each partition's sorted utterance list (train / valid /
  test) and its size, the validation policy and the selection metric;
* per fold: the speakers shared between its partitions, and the text overlap, the share of
  test utterances whose normalised transcript (:func:`normalize_transcript`) also occurs
  in the fold's training data (train + valid);
* the metric definitions, and the provenance (package versions, the config digest, the
  pretrained models fetched: source, revision, weight digests).

and it is checked: an utterance in two partitions of one fold, or a speaker shared by
the test partition and the training data of a speaker-independent fold (``loso``:
``s1``..``sN``; ``si``), stops with a :class:`PassportError` naming the fold, the
partitions and the first offenders. The speaker-dependent split (``sd``, alqurashi2024)
shares speakers by design and MELD's official split shares the Friends main cast: their
overlap is stated, not enforced.

A partition digest is the SHA-256 of its utterance ids sorted by code point, each
followed by a newline (``cut -f2 | LC_ALL=C sort | sha256sum`` of the partition's rows).

:func:`unseen_text` lists, per fold, the test utterances whose normalised transcript is
not in the fold's training data, so that a text row can be scored on those alone.

Pandas only: no audio is read and no model is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from mlser.data.folds import digest
from mlser.data.labels import IEMOCAP_MAP, MELD_MAP, classes_for
from mlser.data.transcripts import normalize_transcript

#: the rate every reader converts audio to and every model reads (mlser.data.batching.SAMPLE_RATE;
#: not imported from there, which would import torch)
SAMPLE_RATE = 16_000
PARTITIONS: tuple[str, ...] = ("train", "valid", "test")
PAIRS: tuple[tuple[str, str], ...] = (("train", "valid"), ("train", "test"), ("valid", "test"))
#: the partition pairs that must share no speaker, per fold scheme (``loso`` draws its
#: ``stratified`` valid share from the training sessions, so train and valid share
#: speakers there by design; ``si`` keeps every speaker in one partition)
ENFORCED_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "loso": (("train", "test"), ("valid", "test")),
    "si": PAIRS,
    "sd": (),
    "official": (),
}
SCHEME_NOTES: dict[str, str] = {
    "loso": "leave-one-session-out: the test session's speakers are in no other partition",
    "si": "speaker-independent (alqurashi2024): every speaker in one partition",
    "sd": (
        "speaker-dependent (alqurashi2024): all sessions pooled, so the partitions share "
        "speakers by design (stated, not enforced)"
    ),
    "official": (
        "MELD's release split: its partitions share the Friends main cast (stated, not enforced)"
    ),
}
METRICS: dict[str, str] = {
    "UA": "unweighted accuracy: the mean of per-class recalls over the classes in the gold labels",
    "WA": "weighted accuracy: overall accuracy (recall weighted by class frequency)",
    "WF1": "F1 of each class weighted by its support",
    "folds": (
        "each metric is computed per test fold and seed (a run), not pooled; a fold's value "
        "is its mean over the seeds, and tables give the mean and standard deviation over "
        "folds (over seeds where a split is one fold)"
    ),
}
LABEL_MAPS: dict[str, Mapping[str, str]] = {"iemocap": IEMOCAP_MAP, "meld": MELD_MAP}
SHOWN = 5  # offenders named in an error


class PassportError(ValueError):
    """Folds that leak: an utterance, or a speaker of a speaker-independent fold, in two
    partitions."""


def fold_scheme(fold: str) -> str:
    """The scheme a fold name comes from (:mod:`mlser.data.folds`): ``s<N>`` is ``loso``."""
    if re.fullmatch(r"s\d+", fold):
        return "loso"
    if fold in ("sd", "si", "official"):
        return fold
    raise PassportError(f"fold {fold!r}: no known fold scheme makes it (loso, sd, si, official)")


def first_named(items: list[str]) -> str:
    """The first ``SHOWN`` of ``items`` for an error message, and how many in all."""
    head = ", ".join(items[:SHOWN])
    return head + (f", ... ({len(items)} in all)" if len(items) > SHOWN else "")


def _partitions(folds: pd.DataFrame, fold: str) -> dict[str, pd.Series]:
    rows = folds[folds["fold"] == fold]
    return {p: rows.loc[rows["partition"] == p, "utt_id"] for p in PARTITIONS}


def check_folds(manifest: pd.DataFrame, folds: pd.DataFrame) -> None:
    """Raise :class:`PassportError` naming every leak: an utterance in two partitions of
    one fold, a speaker shared by partitions a fold's scheme keeps apart, an unknown
    partition, an utterance that is not in the manifest."""
    problems: list[str] = []
    unknown = sorted(set(folds["partition"]) - set(PARTITIONS))
    if unknown:
        problems.append(f"unknown partition(s) {unknown}; partitions are {list(PARTITIONS)}")
    missing = sorted(set(folds["utt_id"]) - set(manifest["utt_id"]))
    if missing:
        problems.append(f"utterances in the folds but not in the manifest: {first_named(missing)}")
    speaker = manifest.set_index("utt_id")["speaker"]
    for fold in dict.fromkeys(folds["fold"]):
        scheme = fold_scheme(fold)
        parts = _partitions(folds, fold)
        twice: set[str] = set()
        for a, b in PAIRS:
            both = sorted(set(parts[a]) & set(parts[b]))
            twice.update(both)
            if both:
                problems.append(f"fold {fold}: utterances in both {a} and {b}: {first_named(both)}")
        for a, b in ENFORCED_PAIRS[scheme]:
            # (an utterance named above would name its speaker again: left out here)
            of_a, of_b = (speaker.reindex(parts[q][~parts[q].isin(twice)]).dropna() for q in (a, b))
            shared = sorted((set(of_a) & set(of_b)) - {""})
            if shared:
                utts = sorted(of_b.index[of_b.isin(shared)])
                problems.append(
                    f"fold {fold} ({scheme}): speakers in both {a} and {b}: {first_named(shared)};"
                    f" their {b} utterances: {first_named(utts)}"
                )
    if problems:
        raise PassportError("the folds fail the protocol checks:\n  " + "\n  ".join(problems))


def _texts(manifest: pd.DataFrame) -> pd.Series:
    return manifest.set_index("utt_id")["text"].map(normalize_transcript)


def unseen_text(manifest: pd.DataFrame, folds: pd.DataFrame) -> pd.DataFrame:
    """Every test utterance of every fold, ``(fold, utt_id, unseen_text)``: 1 where its
    normalised transcript occurs nowhere in the fold's training data (train + valid),
    else 0. An empty normalised transcript (e.g. only ``[LAUGHTER]``) names no sentence
    and counts as unseen."""
    text = _texts(manifest)
    frames = []
    for fold in dict.fromkeys(folds["fold"]):
        parts = _partitions(folds, fold)
        seen = set(text.reindex(pd.concat([parts["train"], parts["valid"]])).dropna()) - {""}
        test = sorted(parts["test"])
        flags = [int(text.get(u, "") not in seen) for u in test]
        frames.append(pd.DataFrame({"fold": fold, "utt_id": test, "unseen_text": flags}))
    columns = ["fold", "utt_id", "unseen_text"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _counts(emotions: pd.Series, classes: tuple[str, ...]) -> dict[str, int]:
    counts = emotions.value_counts()
    out = {c: int(counts.get(c, 0)) for c in classes}
    out.update({str(c): int(n) for c, n in counts.items() if c not in classes})
    return out


def _validation(scheme: str, validation: str, valid_share: float) -> dict[str, Any]:
    if scheme == "loso":
        if validation == "next_session":
            return {
                "method": "next_session",
                "description": "the whole session after the test session (never the test one)",
            }
        return {
            "method": "stratified",
            "share": valid_share,
            "description": (
                f"{valid_share * 100:g} % of the training sessions' utterances, stratified by "
                "session and class (never the test session)"
            ),
        }
    if scheme == "sd":
        return {
            "method": "stratified",
            "share": 0.1,
            "description": "10 % of all utterances, stratified by class (80/10/10 split)",
        }
    if scheme == "si":
        return {"method": "speaker", "description": "the held-out session's male speaker"}
    return {"method": "official", "description": "the release's dev split"}


def build_passport(
    corpus: str,
    manifest: pd.DataFrame,
    folds: pd.DataFrame,
    rejects: pd.DataFrame,
    *,
    summary: Mapping[str, Any] | None = None,
    validation: str = "stratified",
    valid_share: float = 0.1,
    select_metric: str = "ua",
    config_digest: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    unseen_path: str | None = None,
    seeds: Sequence[int] = (0,),
    test_peek: bool = False,
) -> dict[str, Any]:
    """The passport of ``corpus`` as a JSON-able dict; :func:`check_folds` first, so that
    folds that leak never get one. ``summary`` is the reader's prepare_summary.json."""
    check_folds(manifest, folds)
    summary = summary or {}
    classes = classes_for(corpus)
    emotion = manifest.set_index("utt_id")["emotion"]
    speaker = manifest.set_index("utt_id")["speaker"]
    style = manifest.set_index("utt_id")["style"]
    unseen = unseen_text(manifest, folds)
    text = _texts(manifest)
    out_folds: dict[str, Any] = {}
    for fold in dict.fromkeys(folds["fold"]):
        scheme = fold_scheme(fold)
        parts = _partitions(folds, fold)
        enforced = ENFORCED_PAIRS[scheme]
        speakers = {p: set(speaker.reindex(ids)) - {""} for p, ids in parts.items()}
        overlap = {}
        for a, b in PAIRS:
            shared = sorted(speakers[a] & speakers[b])
            overlap[f"{a}/{b}"] = {
                "n": len(shared),
                "speakers": shared,
                "enforced": (a, b) in enforced,
            }
        flags = unseen[unseen["fold"] == fold]
        n_test = len(flags)
        n_seen = int((flags["unseen_text"] == 0).sum())
        seen_by = (flags["unseen_text"] == 0).groupby(style.reindex(flags["utt_id"]).to_numpy())
        by_style = {
            str(k): {"n_test": int(v.size), "n_seen_in_training": int(v.sum())}
            for k, v in seen_by
            if k != ""
        }
        out_folds[fold] = {
            "scheme": scheme,
            "note": SCHEME_NOTES[scheme],
            "partitions": {
                p: {
                    "n": len(ids),
                    "sha256": digest(ids.tolist()),
                    "speakers": len(speakers[p]),
                    "classes": _counts(emotion.reindex(ids), classes),
                }
                for p, ids in parts.items()
            },
            "validation": _validation(scheme, validation, valid_share),
            "select_metric": select_metric,
            "speaker_overlap": overlap,
            "text_overlap": {
                "n_test": n_test,
                "n_seen_in_training": n_seen,
                "share": round(n_seen / n_test, 4) if n_test else None,
                "n_test_empty_text": int((text.reindex(flags["utt_id"]) == "").sum()),
                "training": "train + valid",
                "by_style": by_style,
            },
        }
    reasons = summary.get("rejects")
    if reasons is None:
        reasons = rejects["reason"].str.split(":").str[0].value_counts().to_dict()
    return {
        "corpus": corpus,
        "labels": {
            "classes": list(classes),
            "label_map": dict(LABEL_MAPS[corpus]),
            "out_of_protocol": dict(summary.get("out_of_protocol", {})),
            "n_out_of_protocol": int(summary.get("n_out_of_protocol", 0)),
        },
        "n_utterances": len(manifest),
        "class_counts": _counts(manifest["emotion"], classes),
        "rejects": {"n": len(rejects), "reasons": {str(k): int(v) for k, v in reasons.items()}},
        "sample_rate": SAMPLE_RATE,
        "select_metric": select_metric,
        "folds_config": {"validation": validation, "valid_share": valid_share},
        # every trained row runs on each fold under each seed (mlser.data.runs)
        "seeds": [int(s) for s in seeds],
        "selection": {
            "reads": "valid",
            # the multi-level trainings' per-epoch test scores (`test_peek`): the report's
            # optimistic bound, written to the training record and never selected on
            "test_scored_per_epoch_for_the_bound": bool(test_peek),
        },
        "folds": out_folds,
        "unseen_text": {
            "file": unseen_path,
            "columns": ["fold", "utt_id", "unseen_text"],
            "description": (
                "every test utterance of every fold; unseen_text 1 where its normalised "
                "transcript occurs nowhere in the fold's train + valid"
            ),
        },
        "metrics": dict(METRICS),
        "provenance": {**(provenance or {}), "config_digest": config_digest},
    }


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]


def to_markdown(passport: Mapping[str, Any]) -> str:
    """The passport for a person to read (the report shows it beside the corpus counts)."""
    p = passport
    labels = p["labels"]
    merged = {k: v for k, v in labels["label_map"].items() if k != v}
    lines = [f"# Protocol passport: {p['corpus']}", ""]
    lines.append(
        f"{p['n_utterances']} utterances in {len(labels['classes'])} classes "
        f"({', '.join(labels['classes'])})"
        + ("; merged: " + ", ".join(f"{k} into {v}" for k, v in merged.items()) if merged else "")
        + f"; sample rate {p['sample_rate']} Hz mono. Rejected: {p['rejects']['n']}"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in p["rejects"]["reasons"].items()) + ")"
            if p["rejects"]["reasons"]
            else ""
        )
        + f"; out of the protocol: {labels['n_out_of_protocol']}"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in labels["out_of_protocol"].items()) + ")"
            if labels["out_of_protocol"]
            else ""
        )
        + "."
    )
    lines += ["", *_table(list(p["class_counts"]), [list(p["class_counts"].values())]), ""]
    lines += ["## Folds", ""]
    seeds = p.get("seeds", [0])
    lines += [
        f"Every trained row runs on each fold under {len(seeds)} seed(s) "
        f"({', '.join(map(str, seeds))}): a seed changes initialisation, batch order and "
        "dropout, never the partitions below; tables give mean ± std over folds, each "
        "fold's value its mean over the seeds.",
        "",
    ]
    rows = []
    for fold, f in p["folds"].items():
        parts = f["partitions"]
        rows.append(
            [
                fold,
                f["scheme"],
                *(parts[q]["n"] for q in PARTITIONS),
                *(f"`{parts[q]['sha256'][:12]}`" for q in PARTITIONS),
                f["validation"]["description"],
                f["select_metric"].upper(),
            ]
        )
    header = ["fold", "scheme", "train", "valid", "test"]
    header += ["train sha256", "valid sha256", "test sha256", "model selection", "selects on"]
    lines += _table(header, rows)
    lines += [
        "",
        "A digest is the SHA-256 of the partition's utterance ids sorted by code point, one "
        "per line (`LC_ALL=C sort | sha256sum`); passport.json holds them in full.",
        "",
        "Model selection reads the valid partition only."
        + (
            " The multi-level trainings also score the test partition after each epoch "
            "(`test_peek`), into the training record only: the report's optimistic bound "
            "(the epoch picked on the test set), never read by the selection."
            if p.get("selection", {}).get("test_scored_per_epoch_for_the_bound")
            else ""
        ),
        "",
        "## Speaker overlap",
        "",
    ]
    rows = []
    for fold, f in p["folds"].items():
        cells = []
        for o in f["speaker_overlap"].values():
            mark = " (must be 0)" if o["enforced"] else ""
            cells.append(f"{o['n']}{mark}")
        rows.append([fold, *cells, f["note"]])
    lines += _table(["fold", *(f"{a}/{b}" for a, b in PAIRS), "scheme"], rows)
    lines += ["", "## Text overlap", ""]
    rows = []
    for fold, f in p["folds"].items():
        t = f["text_overlap"]
        share = "-" if t["share"] is None else f"{t['share']:.1%}"
        styles = "; ".join(
            f"{k} {v['n_seen_in_training']} of {v['n_test']}" for k, v in t["by_style"].items()
        )
        rows.append([fold, t["n_test"], t["n_seen_in_training"], share, styles or "-"])
    header = ["fold", "test", "transcript also in train + valid", "share", "by style"]
    lines += _table(header, rows)
    unseen = p["unseen_text"]["file"] or "the unseen-text list"
    lines += [
        "",
        "Test utterances whose normalised transcript also occurs in the fold's training "
        "data (train + valid): a text branch can recognise those sentences (IEMOCAP's "
        f"scripted sessions repeat the same lines). `{unseen}` lists every test utterance "
        "of every fold with `unseen_text` = 1 where its transcript is unseen, for scoring "
        "text rows on those alone.",
        "",
        "## Metrics",
        "",
    ]
    lines += [f"- **{k}**: {v}" for k, v in p["metrics"].items()]
    prov = p["provenance"]
    packages = prov.get("packages") or {}
    lines += ["", "## Provenance", "", f"- config digest (SHA-256): `{prov.get('config_digest')}`"]
    if prov.get("git_revision"):
        lines.append(f"- git revision: `{prov['git_revision']}`")
    if prov.get("python"):
        lines.append(f"- Python {prov['python']}")
    if packages:
        lines.append("- " + ", ".join(f"{k} {v}" for k, v in packages.items() if v))
    for name, m in (prov.get("pretrained") or {}).items():
        commit = f", commit `{m['commit']}`" if m.get("commit") else ""
        lines.append(
            f"- pretrained `{name}`: {m.get('source')}, revision `{m.get('revision')}`"
            f"{commit}, {m.get('weights')} weights, {len(m.get('sha256') or {})} weight file(s)"
            " with SHA-256 in passport.json"
        )
    return "\n".join(lines) + "\n"
