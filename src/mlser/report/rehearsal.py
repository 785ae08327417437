"""The rehearsal's bill (#23): what ran, how long, how much memory, and what the full
run of the paper config will cost, from one run of ``config/rehearsal.yaml``.

Inputs are what the run leaves anyway: Snakemake's benchmark files (one per job of a
heavy rule: wall seconds, peak resident memory), the training record beside each model
(``model.pt.json``: per-epoch seconds, parameters, peak GPU memory where a GPU ran),
and the fetch records of the pretrained models (their parameter counts beside the
published ones).

The estimate scales each training job's measured epoch time to the full run:

    full seconds = epoch seconds x (full epochs / epochs run)
                   x (real corpus utterances / rehearsal corpus utterances) x folds
                   x seeds

where full epochs are the paper config's, the real corpus sizes are stated beside the
corpus (config ``rehearsal.full_corpus``), and ``folds`` is 5 for a leave-one-session-out
fold (the rehearsal trains session 1 only), else 1, and ``seeds`` the paper config's
(``rehearsal.full_seeds``; the rehearsal trains one). It holds a batch's time fixed: the
fixtures' clips are short (IEMOCAP's 0.1 s against the release's 4.5 s on average), so
it is a lower bound; the report says so.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mlser.atomic import write_text

__all__ = [
    "TRAINING_KINDS",
    "benchmark_table",
    "model_table",
    "resource_suggestions",
    "to_markdown",
    "training_table",
]

#: The kind of a trained model from its path under results/ (first match wins), and the
#: key of its full-run epochs.
TRAINING_KINDS: tuple[tuple[str, str], ...] = (
    ("le_mer.pretrain", r"/lemer/stage1/"),
    ("le_mer.finetune", r"/lemer/(stage2|sweeps)/"),
    ("hierarchical", r"/hierarchical/"),
    ("multilevel.stage1", r"/stage1/"),
    ("multilevel.stage2", r"/stage2/"),
    ("pretraining", r"/pretrained/"),
)
LOSO_FOLD = re.compile(r"/s[1-5](_seed[1-9][0-9]*)?/")  # a fold, or a seed's run of it
#: Memory requests: measured peak x this, rounded up to the GB.
MEMORY_MARGIN = 1.5


def kind_of(path: str, record: Mapping[str, Any] | None = None) -> str | None:
    """The training kind of a model record (its path; a LE-MER stage by its strategy,
    since either stage may be the continued pre-training or the fine-tuning), or None."""
    kind = next((k for k, pattern in TRAINING_KINDS if re.search(pattern, path)), None)
    if kind and kind.startswith("le_mer") and record:
        model = (record.get("settings") or {}).get("experiment", {}).get("model", {})
        block = model.get(f"stage{record.get('stage')}") or {}
        if block.get("strategy"):
            pretrain = block["strategy"] == "continued_pretraining"
            kind = "le_mer.pretrain" if pretrain else "le_mer.finetune"
    return kind


def _full_epoch_seconds(epoch: Mapping[str, Any]) -> float:
    """An epoch's seconds; one cut short after ``batches`` of its ``epoch_batches``
    (rehearsal.max_batches) has its training time scaled up to all of them."""
    seconds = float(epoch.get("seconds", 0.0))
    done, total = epoch.get("batches"), epoch.get("epoch_batches")
    if done and total and "train_seconds" in epoch:
        train = float(epoch["train_seconds"])
        return train * total / done + (seconds - train)
    return seconds


def benchmark_table(root: str | Path) -> pd.DataFrame:
    """One row per job with a benchmark file under ``root`` (``results/benchmarks``):
    rule, job, wall seconds, peak RSS in MB, CPU seconds, MB written to a block device
    (Snakemake's ``io_out``: ~0 where the results lie on tmpfs or an overlay disk, so
    the model files' own sizes come from the training records instead)."""
    root = Path(root)
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        rel = path.relative_to(root)
        last = table.iloc[-1]  # a rerun appends: the last line is this run's
        rows.append(
            {
                "rule": rel.parts[0],
                "job": rel.with_suffix("").as_posix().split("/", 1)[-1],
                "wall_s": float(last["s"]),
                "peak_rss_mb": _number(last, "max_rss"),
                "cpu_s": _number(last, "cpu_time"),
                "written_mb": _number(last, "io_out"),
            }
        )
    return pd.DataFrame(
        rows, columns=["rule", "job", "wall_s", "peak_rss_mb", "cpu_s", "written_mb"]
    )


def _number(line: pd.Series, column: str) -> float:
    """A benchmark column as a number; NaN where Snakemake wrote ``-`` or left it out."""
    value = line.get(column, "-")
    return math.nan if value == "-" or pd.isna(value) else float(value)


def training_table(
    records: Iterable[str | Path],
    full_epochs: Mapping[str, int],
    corpus_scale: Mapping[str, float],
    seeds: int = 1,
) -> pd.DataFrame:
    """One row per trained model: its kind, corpus, epochs run and their seconds, peak
    GPU memory, parameters, and the full run's estimated seconds.

    Args:
        records: ``model.pt.json`` paths (under ``results/<corpus>/...``).
        full_epochs: training kind -> the paper config's epochs.
        corpus_scale: corpus -> real corpus utterances / rehearsal corpus utterances.
        seeds: how many seeds the full run trains each model under.
    """
    rows = []
    for path in records:
        path = Path(path)
        record = json.loads(path.read_text())
        history = record.get("history") or []
        posix = "/" + path.as_posix()
        kind = kind_of(posix, record)
        corpus = next((c for c in corpus_scale if f"/{c}/" in posix), None)
        if kind is None or not history:
            continue
        epoch_s = sum(_full_epoch_seconds(h) for h in history) / len(history)
        folds = 5 if LOSO_FOLD.search(posix) else 1
        scale = corpus_scale.get(corpus, math.nan) if corpus else 1.0
        full = epoch_s * full_epochs.get(kind, len(history)) * scale * folds * seeds
        gpu = [h.get("peak_gpu_mb") for h in history if h.get("peak_gpu_mb") is not None]
        rows.append(
            {
                "model": path.parent.as_posix(),
                "kind": kind,
                "corpus": corpus or "",
                # a hierarchy's classifiers serve several rows: alqurashi2024's family
                "experiment": record.get("experiment")
                or ("alqurashi2024" if kind == "hierarchical" else ""),
                "epochs_run": len(history),
                "epoch_s": epoch_s,
                "full_epochs": full_epochs.get(kind, len(history)),
                "folds": folds,
                "seeds": seeds,
                "peak_gpu_mb": max(gpu) if gpu else math.nan,
                "parameters": record.get("total_parameters"),
                "trainable": record.get("trainable_parameters"),
                "model_file_mb": record.get("model_file_bytes", math.nan) / 1e6,
                "full_run_h": full / 3600,
            }
        )
    return pd.DataFrame(rows)


def model_table(fetch_records: Iterable[str | Path]) -> pd.DataFrame:
    """The pretrained models: source, weights (random in a rehearsal), parameters built
    beside the published count."""
    rows = []
    for path in fetch_records:
        record = json.loads(Path(path).read_text())
        rows.append(
            {
                "source": record.get("source"),
                "weights": record.get("weights", "pretrained"),
                "model_class": record.get("model_class", ""),
                "parameters": record.get("parameters"),
                "published": record.get("published_parameters"),
            }
        )
    return pd.DataFrame(rows)


def resource_suggestions(jobs: pd.DataFrame, margin: float = MEMORY_MARGIN) -> dict[str, int]:
    """rule -> ``mem_mb``: its largest measured peak RSS x ``margin``, rounded up to 1 GB."""
    out = {}
    for rule, group in jobs.groupby("rule"):
        peak = group["peak_rss_mb"].max()
        if not math.isnan(peak):
            out[str(rule)] = int(math.ceil(peak * margin / 1024) * 1024)
    return out


def paper_of(experiment: str) -> str:
    """``gao2025-exp17`` -> ``gao2025``."""
    return experiment.split("-", 1)[0] if experiment else ""


def to_markdown(
    jobs: pd.DataFrame,
    trainings: pd.DataFrame,
    models: pd.DataFrame,
    device: str,
    not_run: Mapping[str, str] | None = None,
) -> str:
    """The rehearsal report: models, rules, the full run's estimate per paper."""
    lines = ["# Rehearsal of the paper config", ""]
    lines += [
        f"Device: {device}. Models at their published sizes with RANDOM weights: the "
        "numbers of this run mean nothing; its crashes, times and memory are the real ones.",
        "",
        "## Pretrained models",
        "",
        "| source | weights | class | parameters | published |",
        "|---|---|---|---|---|",
    ]
    for m in models.itertuples():
        pub = f"{m.published / 1e6:.0f} M" if m.published else "–"
        par = f"{m.parameters / 1e6:.1f} M" if m.parameters else "–"
        lines.append(f"| {m.source} | {m.weights} | {m.model_class} | {par} | {pub} |")
    lines += [
        "",
        "## Rules",
        "",
        "| rule | jobs | wall s (sum) | wall s (max) | peak RSS MB | mem_mb at x1.5 "
        "| disk writes GB |",
        "|---|---|---|---|---|---|---|",
    ]
    mem = resource_suggestions(jobs)
    for rule, group in jobs.groupby("rule"):
        lines.append(
            f"| {rule} | {len(group)} | {group['wall_s'].sum():.0f} | "
            f"{group['wall_s'].max():.0f} | {group['peak_rss_mb'].max():.0f} | "
            f"{mem.get(str(rule), '–')} | {group['written_mb'].sum() / 1e3:.1f} |"
        )
    files = trainings["model_file_mb"].sum() if "model_file_mb" in trainings else 0.0
    lines += [
        "",
        f"Written by all jobs: {jobs['written_mb'].sum() / 1e3:.1f} GB to a block device "
        "(model files and epoch checkpoints, also those deleted since; ~0 on tmpfs). "
        f"Model files saved: {files / 1e3:.1f} GB (the training records' sizes).",
    ]
    if not_run:
        lines += ["", "Rows not run, and why:", ""]
        lines += [f"- {row}: {why}" for row, why in sorted(not_run.items())]
    lines += ["", "## The full run, estimated", ""]
    if trainings.empty:
        lines.append("No training ran.")
    else:
        t = trainings.assign(paper=trainings["experiment"].map(paper_of))
        lines += [
            "Each trained model once (a stage-1 model shared by rows is counted for the "
            "row that trained it): epoch time x full epochs x real/rehearsal utterances x "
            "folds x seeds. A lower bound: a batch of the fixtures' short clips is timed, and the "
            "real utterances are longer.",
            "",
            f"| paper | trainings | peak GPU MB | estimated {device} hours |",
            "|---|---|---|---|",
        ]
        for paper, group in t.groupby("paper"):
            gpu = group["peak_gpu_mb"].max()
            gpu_s = "–" if math.isnan(gpu) else f"{gpu:.0f}"
            lines.append(f"| {paper} | {len(group)} | {gpu_s} | {group['full_run_h'].sum():.1f} |")
        lines.append(f"| all | {len(t)} | | {t['full_run_h'].sum():.1f} |")
        lines += ["", "| kind | trainings | epoch s (max) | full epochs |", "|---|---|---|---|"]
        for kind, group in t.groupby("kind"):
            lines.append(
                f"| {kind} | {len(group)} | {group['epoch_s'].max():.1f} | "
                f"{group['full_epochs'].max()} |"
            )
    return "\n".join(lines) + "\n"


def write_report(
    out_dir: str | Path,
    jobs: pd.DataFrame,
    trainings: pd.DataFrame,
    models: pd.DataFrame,
    device: str,
    not_run: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``report.md``, ``jobs.tsv``, ``trainings.tsv``, ``resources.json`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "jobs.tsv", jobs.to_csv(sep="\t", index=False))
    write_text(out / "trainings.tsv", trainings.to_csv(sep="\t", index=False))
    suggestions = {"mem_mb": resource_suggestions(jobs), "margin": MEMORY_MARGIN}
    write_text(out / "resources.json", json.dumps(suggestions, indent=2) + "\n")
    write_text(out / "report.md", to_markdown(jobs, trainings, models, device, not_run))
    return suggestions
