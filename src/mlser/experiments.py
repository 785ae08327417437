"""The experiment matrix: every table row of the four papers, one named experiment each.

The rows live in ``config/experiments/<paper>.yaml`` (validated against the schema beside
them). This module loads them, tells which rows train a model of their own, which model
a row is scored with, and the key under which rows share one stage-1 checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PAPERS: tuple[str, ...] = ("gao2024", "gao2025", "wang2023", "alqurashi2024")
LINKS: tuple[str, ...] = (
    "same_run_as",
    "reprints",
    "init_from",
    "shares_stage1_with",
    "reuses_models_of",
)


#: Test-time text sources of the multi-level family (the matrix schema's ``text_source``
#: enum); mlser.training.multilevel takes them from here.
TEXT_SOURCES = ("ground_truth", "asr", "asr_corrected", "none")

#: Test-time text sources that are the model's own ASR output.
ASR_TEXT_SOURCES = ("asr", "asr_corrected")

#: What each family's training can run today; rows needing more are reported, not run.
SUPPORTED: dict[str, dict[str, frozenset[str]]] = {
    "multilevel": {
        "tasks": frozenset({"ser", "asr", "gender", "style", "aec", "cl"}),
        "text_sources": frozenset(TEXT_SOURCES),
    },
    # alqurashi2024: LSTM speech models on cached features; the wav2vec 2.0 rows
    # (full_finetune) run the LSTMs on frozen wav2vec 2.0 frames (workflow/rules/hierarchical.smk)
    "hierarchical": {
        "tasks": frozenset({"ser"}),
        "text_sources": frozenset({"none", "ground_truth"}),
        "stage1_strategies": frozenset({"from_scratch", "full_finetune"}),
    },
    "le_mer": {
        "tasks": frozenset({"ser", "ssl", "label_text", "label_speech", "attention_constraint"}),
        "text_sources": frozenset({"none", "ground_truth"}),
    },
}


class ExperimentError(ValueError):
    """An experiment id or matrix file that cannot be used; the message names it."""


@cache
def _validator(schema_path: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(yaml.safe_load(Path(schema_path).read_text()))


def load_matrix(directory: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """All experiments of ``directory/<paper>.yaml`` by id, each validated by the schema.

    Each experiment gets ``paper`` set to its file's paper.
    """
    directory = Path(directory)
    validator = _validator(str(directory / "schema.yaml"))
    out: dict[str, dict[str, Any]] = {}
    for paper in PAPERS:
        path = directory / f"{paper}.yaml"
        data = yaml.safe_load(path.read_text())
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path)
            raise ExperimentError(f"{path}: {where}: {errors[0].message}")
        for e in data["experiments"]:
            if e["id"] in out:
                raise ExperimentError(f"{path}: experiment id {e['id']!r} appears twice")
            out[e["id"]] = {**e, "paper": paper}
    return out


def trained(e: dict[str, Any]) -> bool:
    """Whether ``e`` trains a model of its own (not external, not a re-print or a
    re-evaluation of another row's model)."""
    return (
        e["model"]["family"] != "external"
        and e["model"].get("stage1") is not None
        and "same_run_as" not in e
        and "reuses_models_of" not in e
    )


def model_owner(e: dict[str, Any], matrix: dict[str, dict[str, Any]]) -> str:
    """The id of the experiment whose trained model ``e`` is scored with.

    Rows that ``combines`` other rows (score fusion) have no single model; their scores
    are computed from the combined rows' predictions.
    """
    seen = [e["id"]]
    while not trained(e):
        target = e.get("same_run_as") or e.get("reuses_models_of")
        if target is None:
            raise ExperimentError(f"experiment {e['id']!r} trains nothing and reuses no model")
        if target in seen:
            raise ExperimentError(f"experiments {seen} reuse each other's models in a cycle")
        seen.append(target)
        e = matrix[target]
    return e["id"]


def _canon(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: sorted(v) if k == "tasks" else _canon(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_canon(x) for x in obj]
    return obj


def stage1_key(e: dict[str, Any]) -> str:
    """The key of ``e``'s stage-1 checkpoint: experiments with the same corpus, split,
    model family (its training recipe) and stage-1 block share one checkpoint."""
    m = e["model"]
    payload = {
        "corpus": e["corpus"],
        "split": e["split"],
        "family": m["family"],
        "stage1": _canon(m["stage1"]),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _models_under(e: dict[str, Any], matrix: dict[str, dict[str, Any]]) -> list[str]:
    """The ids of the trained models a multi-level row's model is built on: its owner's,
    and for a stage 2 started from another row's model (``init_from``), that model's, down
    the chain."""
    chain = [model_owner(e, matrix)]
    while matrix[chain[-1]].get("init_from"):
        nxt = model_owner(matrix[matrix[chain[-1]]["init_from"]], matrix)
        if nxt in chain:
            raise ExperimentError(f"experiments {chain} start from each other in a cycle")
        chain.append(nxt)
    return chain


def selects_on_ground_truth(matrix: dict[str, dict[str, Any]], exp_id: str, stage: int) -> bool:
    """Whether the multi-level model ``exp_id`` trains in ``stage`` (1: its stage-1
    checkpoint, shared by key; 2: its own final model) has a text encoder and an ASR
    head, yet no row scored with it or built on it reads ASR output at test time, so
    that its epoch is chosen on the ground truth, the text it is scored on (gao2025
    Exp-12, speech + ground truth with an ASR task, Table 3). Every other model is chosen
    on what its kind reads at test time
    (:func:`mlser.training.multilevel.selection_text_source`)."""
    e = matrix[exp_id]
    blocks = [e["model"].get("stage1") or {}]
    if stage == 2:
        blocks.append(e["model"].get("stage2") or {})
    tasks = {t for b in blocks for t in b.get("tasks", [])}
    if "asr" not in tasks or not any(b.get("text_encoder") for b in blocks):
        return False
    multilevel = [r for r in matrix.values() if r["model"]["family"] == "multilevel"]
    if stage == 2:  # rows scored with its model or with a stage 2 started from it
        on_it = [r for r in multilevel if exp_id in _models_under(r, matrix)]
    else:  # rows whose model is built on its stage-1 checkpoint, shared by key
        key = stage1_key(e)
        on_it = [
            r
            for r in multilevel
            if any(
                stage1_key(matrix[m]) == key
                for m in _models_under(r, matrix)
                if not matrix[m].get("init_from")  # a stage 2 started elsewhere trains no stage 1
            )
        ]
    return not any(r["model"].get("text_source_test") in ASR_TEXT_SOURCES for r in on_it)


def select(
    matrix: dict[str, dict[str, Any]],
    selection: str | list[str],
    families: tuple[str, ...] | None = None,
    corpora: tuple[str, ...] | None = None,
) -> list[str]:
    """Experiment ids chosen by ``selection``: ``"all"``, ``"headline"``, or a list of ids.

    Only rows the pipeline reproduces (``reproduce: true``) are selected by name-less
    selections; ``families`` and ``corpora`` narrow the choice further.
    """
    if isinstance(selection, list):
        unknown = [i for i in selection if i not in matrix]
        if unknown:
            raise ExperimentError(
                f"experiments.select: unknown experiment id(s) {unknown}; "
                "ids are listed in config/experiments/*.yaml"
            )
        chosen = list(selection)
    elif selection in ("all", "headline"):
        chosen = [
            i
            for i, e in matrix.items()
            if e.get("reproduce", True) and (selection == "all" or e.get("headline"))
        ]
    else:
        raise ExperimentError(
            f"experiments.select: {selection!r} is not 'all', 'headline' or a list"
        )
    return [
        i
        for i in chosen
        if (families is None or matrix[i]["model"]["family"] in families)
        and (corpora is None or matrix[i]["corpus"] in corpora)
    ]


# Label-embedding starts that embed words with the text encoder (wang2023 §2.1): the
# label names, the classes' TF-IDF keywords, and B4's speech label embedding from the
# BERT embeddings of the label names.
WORD_EMBEDDING_INITS = frozenset({"label_words", "tfidf", "bert_embedding"})


def embeds_label_words(stage: dict[str, Any]) -> bool:
    """Whether a stage block's label embeddings start from text-encoder word embeddings
    (so its job needs the text encoder even where the row reads no text)."""
    le = stage.get("label_embedding") or {}
    return any((le.get(kind) or {}).get("init") in WORD_EMBEDDING_INITS for kind in le)


def unsupported_reason(e: dict[str, Any]) -> str | None:
    """Why the pipeline cannot run ``e`` yet, or None if it can."""
    family = e["model"]["family"]
    if family not in SUPPORTED:
        return f"the {family} family is not wired into the training rules yet"
    caps = SUPPORTED[family]
    tasks = set(e["model"].get("tasks", []))
    for stage in ("stage1", "stage2"):
        tasks |= set((e["model"].get(stage) or {}).get("tasks", []))
    missing = sorted(tasks - caps["tasks"])
    if missing:
        return f"tasks {missing} are not wired into the {family} training yet"
    for key in ("text_source_train", "text_source_test"):
        source = e["model"].get(key) or "none"
        if source not in caps["text_sources"]:
            return f"{key} {source!r} is not supported by the {family} training yet"
    if (
        family == "multilevel"
        and e["model"].get("text_source_test") in ASR_TEXT_SOURCES
        and "asr" not in e["model"].get("tasks", [])
    ):
        # the model transcribes for its own text branch; without an ASR task it has no
        # CTC head, and the paper does not say whose transcript the row reads instead
        return "it reads an ASR transcript at test time but trains no ASR"
    strategy = (e["model"].get("stage1") or {}).get("strategy")
    if "stage1_strategies" in caps and strategy not in caps["stage1_strategies"]:
        return f"stage-1 strategy {strategy!r} is not wired into the {family} training yet"
    return None
