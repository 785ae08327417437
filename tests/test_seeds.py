"""Seeds (#24): every trained row runs on each fold under each of the config's seeds; a
run is named after its fold (``s1``, ``s1_seed2``), trains under its own seed on its
fold's partitions, and the tables give mean ± std over folds, each fold the mean of
its seeds."""

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


def _metrics_files(tmp_path: Path, exp_id: str, values: dict[str, float]) -> list[Path]:
    paths = []
    for run, ua in values.items():
        path = tmp_path / exp_id / run / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"experiment": exp_id, "fold": run, "UA": ua}))
        paths.append(path)
    return paths


def test_the_tables_spread_over_folds_each_the_mean_of_its_seeds(tmp_path: Path) -> None:
    """The protocol's mean ± std over folds: each fold's value is its mean over the seeds.
    The std was over the runs (folds x seeds), which mixes the seeds' spread into the
    folds'; a split of one fold (MELD) still spreads over its seeds."""
    from mlser.report import paper_tables

    # UA by hand: s1 0.40 / 0.80 (seeds 0 / 1, mean 0.60), s2 0.80 / 0.80 (mean 0.80):
    # mean 0.70; std (ddof 1) of the fold means (0.6, 0.8) = sqrt(0.02); of the four runs
    # it would be sqrt(0.12 / 3) = 0.2
    loso = _metrics_files(
        tmp_path, "gao2025-exp13", {"s1": 0.4, "s2": 0.8, "s1_seed1": 0.8, "s2_seed1": 0.8}
    )
    # MELD: one fold under three seeds, 0.3 / 0.4 / 0.8: mean 0.5, std sqrt(0.07)
    meld = _metrics_files(
        tmp_path, "gao2025-exp31", {"official": 0.3, "official_seed1": 0.4, "official_seed2": 0.8}
    )
    matrix = {
        "gao2025-exp13": {"paper": "gao2025", "table": 4, "row": "13", "corpus": "iemocap"},
        "gao2025-exp31": {"paper": "gao2025", "table": 7, "row": "31", "corpus": "meld"},
    }
    summary = summarize(collect(loso + meld), matrix).set_index("experiment")
    row = summary.loc["gao2025-exp13"]
    assert row["ours_mean"] == pytest.approx(0.70)
    assert row["ours_std"] == pytest.approx(0.02**0.5)
    assert (row["folds"], row["seeds"]) == (2, 2)
    row = summary.loc["gao2025-exp31"]
    assert (row["ours_mean"], row["ours_std"]) == (pytest.approx(0.5), pytest.approx(0.07**0.5))
    assert (row["folds"], row["seeds"]) == (1, 3)
    # the paper tables alike
    for e in matrix.values():
        e.update(row_index=1, description="", reproduce=True, model={"family": "multilevel"})
    scores = paper_tables.load_scores(loso, ["UA"])
    spec = {"paper": "gao2025", "number": 4, "rows": ["gao2025-exp13"], "metrics": ["UA"]}
    line = paper_tables.build_table(spec, matrix, scores).iloc[0]
    assert (line["ours_mean"], line["ours_std"]) == (pytest.approx(0.7), pytest.approx(0.02**0.5))
    assert line["folds"] == 2


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
    # s1: (50 + 60 + 70) / 3; mean over the fold means 50.0, std sqrt(200) = 14.1
    # (over the four runs it was 55.0 and 12.9: s1's seeds counted thrice)
    assert "| x | 60.0 | 40.0 | 50.0 | 14.1 |" in md
    assert "each the mean of its 3 seeds" in md
