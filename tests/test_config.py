"""Config validation: bad keys, types and paths stop the run before any job, named."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from mlser.config_checks import ConfigError, check_corpora, check_export, check_folds

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
        (lambda c: c["training"]["multilevel"]["stage1"].update(epochs="ten"), "'ten'"),
        (lambda c: c.update(export={"experiment": "gao2025-exp17"}), "'fold' is a required"),
        (lambda c: c.update(seeds=[1, 2]), "0 was expected"),  # seed 0 first (#24)
        (lambda c: c.update(seeds=[0, 0]), "non-unique"),
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


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("experiments={select: [gao2025-exp17, gao2025-exp99]}", "experiments.select: unknown"),
        (
            "experiments={select: [gao2025-exp17], folds: [s9]}",
            r"experiments.folds: fold(s) ['s9']",
        ),
        ("export={experiment: gao2025-exp17, fold: official}", "export.fold: gao2025-exp17"),
    ],
)
def test_workflow_names_the_bad_key_before_any_job(tmp_path: Path, override: str, needle: str):
    config = str(REPO / "config" / "config.yaml")
    cmd = [sys.executable, "-m", "snakemake", "-n", "-d", str(tmp_path), "--configfile", config]
    run = subprocess.run(
        [*cmd, "--config", override],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert needle in run.stdout + run.stderr
    assert not (tmp_path / "results").exists()  # no job ran


def test_experiments_folds_must_exist_in_a_selected_split() -> None:
    check_folds(None, {"loso"})
    check_folds(["s2", "official"], {"loso", "official"})
    with pytest.raises(ConfigError, match=r"experiments\.folds: fold\(s\) \['sd'\]"):
        check_folds(["s1", "sd"], {"loso", "official"})


def test_export_settings_are_checked_against_the_matrix() -> None:
    matrix = {
        "a": {"corpus": "iemocap", "split": "loso", "model": {"family": "multilevel"}},
        "b": {"corpus": "iemocap", "split": "loso", "model": {"family": "le_mer"}},
        "c": {"corpus": "meld", "split": "official", "model": {"family": "multilevel"}},
    }
    fine = lambda row: None  # noqa: E731
    check_export(None, matrix, ["iemocap"], fine)
    check_export({"experiment": "a", "fold": "s3"}, matrix, ["iemocap"], fine)
    cases = [
        ({"experiment": "z", "fold": "s1"}, fine, r"export\.experiment: unknown experiment id 'z'"),
        ({"experiment": "b", "fold": "s1"}, fine, r"export\.experiment: b is a le_mer model"),
        ({"experiment": "c", "fold": "official"}, fine, r"corpora\.meld\.enabled"),
        (
            {"experiment": "a", "fold": "s6"},
            fine,
            r"export\.fold: a \(loso split\) has no fold 's6'",
        ),
        ({"experiment": "a", "fold": "s1"}, lambda row: "AEC", r"cannot be trained yet \(AEC\)"),
    ]
    for export, runnable, needle in cases:
        with pytest.raises(ConfigError, match=needle):
            check_export(export, matrix, ["iemocap"], runnable)


def test_auto_device_follows_the_nvidia_driver(tmp_path: Path) -> None:
    from mlser.config_checks import neural_device

    gpus = tmp_path / "gpus"
    assert neural_device("auto", gpus) == "cpu"  # no driver
    gpus.mkdir()
    assert neural_device("auto", gpus) == "cpu"  # a driver, no GPU
    (gpus / "0000:3b:00.0").mkdir()
    assert neural_device("auto", gpus) == "cuda"
    assert neural_device("cpu", gpus) == "cpu" and neural_device("cuda", tmp_path) == "cuda"


def test_device_flag_of_a_neural_step(monkeypatch) -> None:
    """`--device cpu` hides the GPUs from the step; `--device cuda` stops where torch
    sees none, naming the step and the config key."""
    import argparse

    import torch

    from mlser import cli_args

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    threads = torch.get_num_threads()
    try:
        cli_args.use_compute(argparse.Namespace(step="train-multilevel", device="cpu", threads=1))
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "" and torch.get_num_threads() == 1
        if not torch.cuda.is_available():
            with pytest.raises(SystemExit, match=r"train-multilevel: --device cuda.*compute"):
                cli_args.use_compute(
                    argparse.Namespace(step="train-multilevel", device="cuda", threads=1)
                )
    finally:
        torch.set_num_threads(threads)


def test_the_paper_config_reduces_ctc_as_the_recipe_it_follows() -> None:
    """gao2025 §4.2 takes lambda_ASR = 0.1 from Cai et al. [7], whose CTC is Hugging Face's
    with the checkpoint config's `ctc_loss_reduction` (`sum` for HuBERT-large): the paper
    config must reduce it the same way (it said `mean`, ~100x weaker)."""
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    facts = REPO / "config" / "architectures" / "facebook--hubert-large-ll60k" / "config.json"
    reduction = yaml.safe_load(facts.read_text())["ctc_loss_reduction"]
    stage1 = paper["training"]["multilevel"]["stage1"]
    assert stage1["loss_weights"]["asr"] == 0.1
    assert stage1["ctc_reduction"] == reduction == "sum"


def test_wang2023_reads_150_text_tokens_on_the_paper_config() -> None:
    """§3.2: "maximum token length is limited to 150". The rows say so; the paper config's
    BERT (schema default 128) cut them to 128 before."""
    from mlser.experiments import load_matrix
    from mlser.training.lemer import system_config

    cfg = load("paper.yaml")
    validate(cfg, SCHEMA)  # fills the schema's defaults, as the workflow does
    matrix = load_matrix(REPO / "config" / "experiments")
    stage = matrix["wang2023-a5"]["model"]["stage1"]
    config = system_config(stage, cfg["models"], 4, [1.0, 0.5, 0.2, 0.2])
    assert stage["max_text_tokens"] == 150
    assert config.text is not None and config.text.max_length == 150


def test_the_paper_config_attends_as_the_equations_do() -> None:
    """gao2024 Eq. 3-6: one attention head on features of d = HuBERT-large's hidden size
    (§2.1); the paper config said 4 heads of a 256-d projection."""
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    facts = REPO / "config" / "architectures" / "facebook--hubert-large-ll60k" / "config.json"
    hidden = yaml.safe_load(facts.read_text())["hidden_size"]
    fusion = paper["models"]["fusion"]
    assert (fusion["d_model"], fusion["num_heads"]) == (hidden, 1) == (1024, 1)
