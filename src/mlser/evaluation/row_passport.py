"""The passport of each reported row (#24): what its numbers were measured on, checked.

The corpus passport (:mod:`mlser.evaluation.passport`) checks the folds before any
training. This one is written after scoring, from what each run actually did: for every
row of a corpus (``results/{corpus}/experiments/{row}/{run}/metrics.json``),
``results/{corpus}/passport_rows.{json,md}`` states

* its runs (fold x seed), and per run the test utterances scored (the ids of its
  ``predictions.tsv``, each checked to be in the fold's test partition) against the size
  of that partition, the text the test scoring read and how many of its test utterances
  have unseen text;
* every trained model behind the run's numbers (a score fusion's: those of the rows it
  combines), followed back through the models it started from (the training records
  beside the model files, ``model.pt.json``): the selection metric and tie-breakers, the
  epoch chosen, and the utterances the selection scored (the record's ``selected_on``),
  **checked** against the fold: each one in the fold's valid partition (only a label-free
  selection, LE-MER's continued pre-training, may read a fixed tenth of its training
  partition instead), none in the test partition; and the pretrained models each was
  built from (source, revision, commit, random or pretrained weights: the fetch records)
  and the code's git revision.

A selection that scored a test utterance, a train one (labelled metrics) or one the fold
does not hold, a prediction of an utterance outside the fold's test partition, or a row
naming no model, stops the step with a :class:`~mlser.evaluation.passport.PassportError`
naming the model, the fold and the first offenders; so does a record whose ids no
longer match their digest.

Pandas only: no audio is read and no model is loaded (the records are JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mlser.data.folds import digest
from mlser.data.runs import split_run
from mlser.evaluation.passport import PARTITIONS, PassportError, first_named

__all__ = ["LABEL_FREE_METRICS", "check_selection", "row_passports", "to_markdown"]

#: selection metrics that read no labels (LE-MER's continued pre-training: the negated
#: masked-unit loss on a fixed tenth of its training data); only these may select on train
LABEL_FREE_METRICS: frozenset[str] = frozenset({"neg_ssl_loss"})


def check_selection(
    record: Mapping[str, Any], parts: Mapping[str, set[str]], model: str, fold: str
) -> dict[str, Any]:
    """The selection of one trained model, checked against ``fold``'s partitions
    (partition -> utterance ids); raises :class:`PassportError` on a leak."""
    selected = record.get("selected_on")
    if selected is None:
        return {"checked": False, "why": "its training record predates `selected_on`"}
    ids = set(selected["ids"])
    if digest(sorted(ids)) != selected["sha256"] or len(ids) != selected["utterances"]:
        raise PassportError(f"{model}: its record's selection ids do not match their digest")
    leaked = sorted(ids & parts["test"])
    if leaked:
        raise PassportError(
            f"{model}: its model selection scored {len(leaked)} utterance(s) of fold "
            f"{fold}'s test partition: {first_named(leaked)}"
        )
    foreign = sorted(ids - parts["train"] - parts["valid"])
    if foreign:
        raise PassportError(
            f"{model}: its model selection scored {len(foreign)} utterance(s) that fold "
            f"{fold} does not hold: {first_named(foreign)}"
        )
    partition = next((p for p in ("valid", "train") if ids <= parts[p]), "train + valid")
    if partition != "valid" and record.get("select_metric") not in LABEL_FREE_METRICS:
        raise PassportError(
            f"{model}: its model selection ({record.get('select_metric')}) scored "
            f"{len(ids - parts['valid'])} utterance(s) of fold {fold}'s train partition, "
            f"not its valid partition: {first_named(sorted(ids - parts['valid']))}"
        )
    return {
        "checked": True,
        "partition": partition,
        "utterances": len(ids),
        "sha256": selected["sha256"],
        "whole_partition": ids == parts[partition] if partition != "train + valid" else False,
    }


def _models_behind(
    model: str, root: Path, parts: Mapping[str, set[str]], fold: str
) -> list[dict[str, Any]]:
    """``model`` and each model it started from (``init``), newest first, checked."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: str | None = model
    while current and current not in seen:
        seen.add(current)
        path = root / f"{current}.json"
        if not path.is_file():
            raise PassportError(f"{current}: no training record ({path}) beside the model")
        record = json.loads(path.read_text())
        out.append(
            {
                "model": current,
                "stage": record.get("stage"),
                "select_metric": record.get("select_metric"),
                "tie_break": record.get("tie_break"),
                "best_epoch": record.get("best_epoch"),
                "selection": check_selection(record, parts, current, fold),
                # what it was built from and by (the fetch records, the code's revision)
                "pretrained": {
                    name: {k: p.get(k) for k in ("source", "revision", "commit", "weights")}
                    for name, p in (record.get("provenance", {}).get("pretrained") or {}).items()
                },
                "git_revision": record.get("provenance", {}).get("git_revision"),
            }
        )
        current = record.get("init")
    return out


def _models_named(metrics: Mapping[str, Any]) -> list[str]:
    """The trained models a ``metrics.json`` says its predictions come from."""
    return list(metrics.get("models") or ([metrics["model"]] if metrics.get("model") else []))


def _test_ids(predictions: Path, test: set[str], fold: str) -> set[str]:
    """The utterances a run's ``predictions.tsv`` scored, each checked to be a test one."""
    ids = set(pd.read_csv(predictions, sep="\t", usecols=["utt_id"], dtype=str)["utt_id"])
    foreign = sorted(ids - test)
    if foreign:
        raise PassportError(
            f"{predictions}: scored {len(foreign)} utterance(s) outside fold {fold}'s test "
            f"partition: {first_named(foreign)}"
        )
    return ids


def row_passports(
    corpus: str,
    metrics_paths: Iterable[str | Path],
    folds: pd.DataFrame,
    corpus_passport: Mapping[str, Any],
    root: str | Path = ".",
) -> dict[str, Any]:
    """One passport per row of ``corpus`` from its runs' ``metrics.json`` (and the
    ``predictions.tsv`` beside each); model paths in them, the rows a score fusion
    combines and the records' ``init`` are relative to ``root``, the workflow's folder."""
    root = Path(root)
    parts_of = {
        f: {p: set(g.loc[g["partition"] == p, "utt_id"]) for p in PARTITIONS}
        for f, g in folds.groupby("fold", sort=False)
    }
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(p) for p in metrics_paths):
        metrics = json.loads(path.read_text())
        experiment, run = metrics.get("experiment", path.parent.parent.name), path.parent.name
        fold, seed = split_run(run)
        if fold not in parts_of:
            raise PassportError(f"{path}: fold {fold!r} is not in the folds")
        parts = parts_of[fold]
        combines = [Path(c).parent / "metrics.json" for c in metrics.get("combines", [])]
        direct = _models_named(metrics) + [
            m for c in combines for m in _models_named(json.loads((root / c).read_text()))
        ]
        if not direct:
            raise PassportError(
                f"{path}: names no trained model (`model`, `models`) and combines no row: "
                "rerun the step that wrote it"
            )
        models = [m for d in direct for m in _models_behind(d, root, parts, fold)]
        scored = _test_ids(path.parent / "predictions.tsv", parts["test"], fold)
        unseen = metrics.get("unseen_text") or {}
        entry = {
            "run": run,
            "fold": fold,
            "seed": seed,
            "n_test_scored": len(scored),
            "n_test_partition": len(parts["test"]),
            "skipped": sorted(metrics.get("skipped") or {}),
            "text_source": metrics.get("text_source"),
            "n_unseen_text": unseen.get("n"),
            "models": models,
            "combines": [c.parent.parent.name for c in combines],
        }
        row = rows.setdefault(experiment, {"experiment": experiment, "runs": []})
        row["runs"].append(entry)
    for row in rows.values():
        runs = row["runs"]
        selections = [m["selection"] for r in runs for m in r["models"]]
        row.update(
            folds=sorted({r["fold"] for r in runs}),
            seeds=sorted({r["seed"] for r in runs}),
            select_metrics=sorted(
                {str(m["select_metric"]) for r in runs for m in r["models"] if m["select_metric"]}
            ),
            selections_checked=sum(s["checked"] for s in selections),
            selections=len(selections),
            selected_on=sorted({s["partition"] for s in selections if s["checked"]}),
            combines=sorted({c for r in runs for c in r["combines"]}),
            pretrained=sorted(
                {
                    str(p["source"]) + ("" if p["weights"] in (None, "pretrained") else " (random)")
                    for r in runs
                    for m in r["models"]
                    for p in m["pretrained"].values()
                }
            ),
        )
    return {
        "corpus": corpus,
        "fold_digests": {
            f: {p: v["sha256"] for p, v in info["partitions"].items()}
            for f, info in corpus_passport.get("folds", {}).items()
        },
        "config_digest": corpus_passport.get("provenance", {}).get("config_digest"),
        "rows": dict(sorted(rows.items())),
    }


def to_markdown(passports: Mapping[str, Any]) -> str:
    """One line per row: its runs, what selected its models, what its test scoring read."""
    lines = [
        f"# Row passports: {passports['corpus']}",
        "",
        "Each row's numbers average its runs (fold x seed). Every trained model behind them "
        "(and each model it started from) was selected on the utterances its training record "
        "lists; each of those was checked to lie in the fold's valid partition (LE-MER's "
        "label-free pre-training: a fixed tenth of train), none in test; a score fusion's "
        "models are those of the rows it combines; test scored: the ids of each run's "
        "predictions, all checked to be in the fold's test partition. The fold "
        "digests are the corpus passport's.",
        "",
        "| row | folds | seeds | models selected | on | metric | test scored / partition "
        "| text at test | unseen-text test utts | pretrained |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in passports["rows"].values():
        runs = row["runs"]
        scored = sum(r["n_test_scored"] or 0 for r in runs)
        partition = sum(r["n_test_partition"] for r in runs)
        texts = sorted({str(r["text_source"]) for r in runs if r["text_source"]})
        unseen = [r["n_unseen_text"] for r in runs if r["n_unseen_text"] is not None]
        checked = (
            f"{row['selections_checked']}/{row['selections']} checked"
            if row["selections"]
            else f"none (combines {', '.join(row['combines'])})"
            if row["combines"]
            else "none"
        )
        lines.append(
            f"| {row['experiment']} | {', '.join(row['folds'])} | "
            f"{', '.join(map(str, row['seeds']))} | {checked} | "
            f"{', '.join(row['selected_on']) or '–'} | {', '.join(row['select_metrics']) or '–'} | "
            f"{scored} / {partition} | {', '.join(texts) or '–'} | "
            f"{sum(unseen) if unseen else '–'} | {', '.join(row['pretrained']) or '–'} |"
        )
    return "\n".join(lines) + "\n"
