"""Config validation: bad keys, types and paths stop the run before any job, named."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from mlser.config_checks import ConfigError, check_corpora

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "config" / "schema.yaml")


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_validate(name: str) -> None:
    validate(load(name), SCHEMA)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda c: c["corpora"]["iemocap"].update(colour="red"), "colour"),
        (lambda c: c["corpora"]["iemocap"]["synthesize"].update(seed="one"), "'one'"),
        (lambda c: c["corpora"]["iemocap"].update(folds=["kfold"]), "kfold"),
        (lambda c: c["folds"].update(valid_share=1.5), "1.5"),
        (lambda c: c.update(unknown_section={}), "unknown_section"),
    ],
)
def test_schema_rejects_bad_values(mutate, needle: str) -> None:
    cfg = copy.deepcopy(load("config.yaml"))
    mutate(cfg)
    with pytest.raises(WorkflowError, match=needle):
        validate(cfg, SCHEMA)


def test_schema_sets_defaults() -> None:
    cfg = {"corpora": {"iemocap": {"synthesize": {}}}}
    validate(cfg, SCHEMA)
    assert cfg["folds"]["validation"] == "stratified"
    assert cfg["corpora"]["iemocap"]["folds"] == ["loso"]


def test_missing_root_names_path_and_key(tmp_path: Path) -> None:
    corpora = {"iemocap": {"root": str(tmp_path / "nowhere")}}
    with pytest.raises(ConfigError, match=r"corpora\.iemocap\.root.*nowhere"):
        check_corpora(corpora)


def test_wrong_layout_names_missing_session(tmp_path: Path) -> None:
    for i in (1, 2, 4, 5):
        (tmp_path / f"Session{i}" / "dialog" / "EmoEvaluation").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"Session3/dialog/EmoEvaluation is missing"):
        check_corpora({"iemocap": {"root": str(tmp_path)}})


def test_meld_path_override_is_named(tmp_path: Path) -> None:
    for f in ("train_sent_emo.csv", "dev_sent_emo.csv", "test_sent_emo.csv"):
        (tmp_path / f).write_text("")
    for d in ("train_splits", "dev_splits_complete"):
        (tmp_path / d).mkdir()
    with pytest.raises(ConfigError, match=r"corpora\.meld\.paths\.test_dir"):
        check_corpora({"meld": {"root": str(tmp_path)}})
    (tmp_path / "my_test_videos").mkdir()
    check_corpora({"meld": {"root": str(tmp_path), "paths": {"test_dir": "my_test_videos"}}})


def test_synthesized_and_disabled_corpora_need_no_root() -> None:
    check_corpora({"iemocap": {"synthesize": {}}, "meld": {"enabled": False, "root": "/nope"}})


def test_workflow_stops_before_any_job_on_a_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("corpora:\n  iemocap:\n    synthesize: {seed: 1}\n    flods: [loso]\n")
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "flods" in run.stdout + run.stderr
