"""Seeds (#24): every trained row runs on each fold under each of the config's seeds; a
run is named after its fold (``s1``, ``s1_seed2``), trains under its own seed on its
fold's partitions, and the tables average over folds x seeds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

# tests/ is on sys.path under pytest's prepend import mode (no tests package)
from test_folds import make_manifest

from mlser.cli_args import stage_kwargs
from mlser.data import folds
from mlser.data.runs import SEED_STRIDE, run_name, run_names, run_training, split_run
from mlser.evaluation.passport import build_passport, to_markdown
from mlser.report.results_table import collect, summarize


@pytest.mark.parametrize("fold", ["s1", "s12", "sd", "si", "official"])
@pytest.mark.parametrize("seed", [0, 1, 2, 17])
def test_a_run_name_gives_back_its_fold_and_seed(fold: str, seed: int) -> None:
    run = run_name(fold, seed)
    assert split_run(run) == (fold, seed)
    assert (run == fold) == (seed == 0)  # seed 0's files are those of a run without seeds


def test_runs_are_listed_seed_by_seed() -> None:
    assert run_names(["s1", "s2"], [0, 3]) == ["s1", "s2", "s1_seed3", "s2_seed3"]
    with pytest.raises(ValueError):
        run_name("s1", -1)


def test_every_run_of_a_fold_has_the_folds_partitions() -> None:
    manifest = make_manifest()
    table = folds.build_folds(manifest, ["loso"])
    for part in folds.PARTITIONS:
        base = folds.partition(manifest, table, "s2", part)
        assert base.equals(folds.partition(manifest, table, "s2_seed4", part))
    with pytest.raises(folds.FoldError, match=r"'s9' \(run 's9_seed1'\)"):
        folds.partition(manifest, table, "s9_seed1", "test")


def _stage_args(fold: str, training: dict) -> argparse.Namespace:
    return argparse.Namespace(
        stage=1,
        experiment=json.dumps({"id": "gao2025-exp13"}),
        fold=fold,
        models="{}",
        training=json.dumps(training),
        out=Path("model.pt"),
        checkpoints=Path("ckpt"),
        init=None,
    )


def test_a_trainer_gets_its_runs_seed() -> None:
    training = {"seed": 5, "epochs": 3}
    assert stage_kwargs(_stage_args("s1", training))["training"] == training
    seeded = stage_kwargs(_stage_args("s1_seed2", training))["training"]
    assert seeded == {"seed": 5 + 2 * SEED_STRIDE, "epochs": 3}
    assert run_training({}, "official_seed1") == {"seed": SEED_STRIDE}
    assert training == {"seed": 5, "epochs": 3}  # the settings given are not changed


def test_the_hierarchical_trainer_gets_its_runs_seed(monkeypatch, tmp_path: Path) -> None:
    from mlser.training import hierarchical, hierarchical_commands

    seen = {}

    def fake_train_level(**kwargs):
        seen.update(kwargs)
        return {"best_epoch": 1, "select_metric": "ua", "best_valid": 0.5}

    monkeypatch.setattr(hierarchical, "train_level", fake_train_level)
    monkeypatch.setattr(hierarchical, "merge_tables", lambda tables: None)
    monkeypatch.setattr("mlser.features.acoustic.load_feature_table", lambda p: None)
    monkeypatch.setattr("mlser.data.manifest.read_manifest", lambda p: None)
    monkeypatch.setattr("mlser.data.folds.read_folds", lambda p: None)
    args = argparse.Namespace(
        training=json.dumps({"seed": 0}), features=[], manifest="m", folds="f",
        fold="s3_seed1", level="binary", corpus="iemocap", out=tmp_path / "model.pt",
        probs=tmp_path / "probs.tsv", checkpoints=tmp_path, device="cpu", threads=1,
        step="train-hierarchical",
    )  # fmt: skip
    hierarchical_commands.cmd_train_hierarchical(args)
    assert seen["training"] == {"seed": SEED_STRIDE} and seen["fold"] == "s3_seed1"
    record = json.loads((tmp_path / "model.pt.json").read_text())
    assert record["settings"]["training"]["seed"] == SEED_STRIDE


def test_the_table_averages_over_folds_and_seeds(tmp_path: Path) -> None:
    # UA by hand: s1 0.50, s2 0.70 (seed 0); s1 0.60, s2 0.80 (seed 1)
    # mean 0.65; std (ddof 1) of (0.5, 0.7, 0.6, 0.8) = sqrt(0.05 / 3)
    paths = []
    for run, ua in {"s1": 0.5, "s2": 0.7, "s1_seed1": 0.6, "s2_seed1": 0.8}.items():
        path = tmp_path / run / "metrics.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"experiment": "gao2025-exp13", "fold": run, "UA": ua}))
        paths.append(path)
    matrix = {"gao2025-exp13": {"paper": "gao2025", "table": 1, "row": "13", "corpus": "iemocap"}}
    row = summarize(collect(paths), matrix).iloc[0]
    assert row["ours_mean"] == pytest.approx(0.65)
    assert row["ours_std"] == pytest.approx((0.05 / 3) ** 0.5)
    assert (row["folds"], row["seeds"]) == (4, 2)


def test_the_passport_states_the_seeds() -> None:
    manifest = make_manifest().assign(text="hello there", style="impro")
    table = folds.build_folds(manifest, ["loso"])
    rejects = pd.DataFrame(columns=["utt_id", "reason"])
    passport = build_passport("iemocap", manifest, table, rejects, seeds=[0, 1, 2])
    assert passport["seeds"] == [0, 1, 2]
    assert "under 3 seed(s) (0, 1, 2)" in to_markdown(passport)
    # and says whether the trainings score the test partition per epoch (the bound)
    assert "never read by the selection" not in to_markdown(passport)
    peeked = build_passport("iemocap", manifest, table, rejects, test_peek=True)
    assert peeked["selection"]["test_scored_per_epoch_for_the_bound"] is True
    assert "never read by the selection" in to_markdown(peeked)


def test_seeds_given_on_the_command_line_plan_their_runs(tmp_path: Path) -> None:
    """`--config seeds=[0,2]` (Snakemake reads the items as strings) plans seed 2's runs."""
    from test_workflow import REPO, planned_jobs, snakemake

    run = snakemake(
        tmp_path, "-n", "-p", "--cores", "2", "--configfile", str(REPO / "config" / "tiny.yaml"),
        "--config", "seeds=[0,2]",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    runs = {j["shell"].split("--fold ")[1].split()[0] for j in planned_jobs(run.stdout + run.stderr)
            if j["rule"] == "train_stage1"}  # fmt: skip
    assert runs == {"s1", "s1_seed2", "official", "official_seed2"}


def test_the_per_fold_breakdown_groups_a_folds_seeds(tmp_path: Path) -> None:
    """Three seeds of s1 are one fold column (their mean), not three folds; the mean and
    std are over every run, as in the paper tables."""
    from mlser.report.breakdowns import fold_table
    from mlser.report.breakdowns import to_markdown as breakdown_md

    paths = []
    for run, ua in (("s1", 0.50), ("s1_seed1", 0.60), ("s1_seed2", 0.70), ("s2", 0.40)):
        path = tmp_path / run / "metrics.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"experiment": "x", "fold": run, "n": 10, "UA": ua}))
        paths.append(path)
    table = fold_table(paths)
    assert table[["fold", "seed"]].values.tolist() == [["s1", 0], ["s1", 1], ["s1", 2], ["s2", 0]]
    md = breakdown_md(table, "iemocap")
    assert "| experiment | s1 | s2 | mean | std |" in md
    # s1: (50 + 60 + 70) / 3; mean over the four runs 55.0, std 12.9
    assert "| x | 60.0 | 40.0 | 55.0 | 12.9 |" in md
    assert "each the mean of its 3 seeds" in md
