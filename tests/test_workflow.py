"""The whole DAG end to end on config/tiny.yaml, and the paper config's plan.

This is the suite's guard on the README's main job: every rule runs, a second run does
nothing, and the paper config plans the full graph on real-format fixture corpora.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlser.data.runs import run_names
from mlser.experiments import load_matrix, stage1_key

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=1200)


@pytest.mark.slow
def test_tiny_config_runs_every_rule(tiny_run: Path) -> None:
    for corpus in ("iemocap", "meld"):
        results = tiny_run / "results" / corpus
        manifest = pd.read_csv(results / "manifest.tsv", sep="\t", keep_default_na=False)
        rejects = pd.read_csv(results / "rejects.tsv", sep="\t", keep_default_na=False)
        folds = pd.read_csv(results / "folds.tsv", sep="\t", keep_default_na=False)
        assert len(manifest) > 20
        # the generator's deliberate faults reach the rejects report, named
        assert len(rejects) >= 2 and (rejects["reason"] != "").all()
        assert set(folds["utt_id"]) == set(manifest["utt_id"])
        assert (results / "tables" / "corpus_counts.md").stat().st_size > 0
        # the protocol passport (#24): checked folds, digests, text overlap
        passport = json.loads((results / "passport.json").read_text())
        assert set(passport["folds"]) == set(folds["fold"])
        assert (results / "passport.md").stat().st_size > 0
        assert (results / "unseen_text.tsv").stat().st_size > 0
        # each row's passport: every model behind its numbers selected on valid, checked
        rows = json.loads((results / "passport_rows.json").read_text())["rows"]
        assert rows and all(0 < r["selections_checked"] == r["selections"] for r in rows.values())
        assert all(set(r["selected_on"]) <= {"valid", "train"} for r in rows.values())
        # a stage 2 is checked with the stage 1 it started from
        assert all(r["selections"] >= 2 for k, r in rows.items() if k == "gao2025-exp17")
    # every training rule ran: stage 1, stage 2 from another row's stage 1, scoring
    metrics = sorted(
        p.relative_to(tiny_run) for p in tiny_run.glob("results/*/experiments/*/*/metrics.json")
    )
    assert [str(p.parent.relative_to("results")) for p in metrics] == [
        "iemocap/experiments/alqurashi2024-t2-lstm-st-d/sd",
        "iemocap/experiments/alqurashi2024-t2-w2v-s-d/sd",
        "iemocap/experiments/gao2025-exp02/s1",
        "iemocap/experiments/gao2025-exp14/s1",
        "iemocap/experiments/gao2025-exp17/s1",
        "iemocap/experiments/wang2023-a5/s1",
        "iemocap/experiments/wang2023-b5/s1",
        "iemocap/experiments/wang2023-c1/s1",
        "iemocap/experiments/wang2023-t2-score-fusion/s1",
        "meld/experiments/gao2025-exp30/official",
        "meld/experiments/gao2025-exp37/official",
    ]
    # LE-MER: label artefacts of the fold, keyword tables, Figures 3 and 4
    for name in ("keywords.tsv", "codebook.npz", "frame_codes.tsv"):
        assert (tiny_run / "results/iemocap/label_embeddings/s1" / name).stat().st_size > 0
    assert (tiny_run / "results/iemocap/tables/lemer_keywords.md").stat().st_size > 0
    for fig in ("fig1_iemocap_s1", "fig3_wang2023-fig3-speech-k", "fig4_wang2023-c1"):
        assert (tiny_run / "results/figures/wang2023" / f"{fig}.png").stat().st_size > 0
    assert list(tiny_run.glob("results/iemocap/stage2/gao2025-exp17/s1/model.pt"))
    table = pd.read_csv(tiny_run / "results" / "tables" / "experiments.csv")
    exp17 = table[(table["experiment"] == "gao2025-exp17") & (table["metric"] == "UA")]
    assert exp17["paper_value"].tolist() == [0.8117]
    # rows that read text are scored on the unseen-text test utterances too (#24)
    assert exp17["unseen_text_n_mean"].notna().all()
    exp02 = table[(table["experiment"] == "gao2025-exp02") & (table["metric"] == "UA")]
    assert exp02["unseen_text_n_mean"].isna().all()
    text_rows = {"wang2023-a5": True, "wang2023-b5": False, "wang2023-t2-score-fusion": True}
    text_rows.update({"alqurashi2024-t2-lstm-st-d": True, "alqurashi2024-t2-w2v-s-d": False})
    for row, text in text_rows.items():
        found = list(tiny_run.glob(f"results/iemocap/experiments/{row}/*/metrics.json"))
        assert found and all(("unseen_text" in json.loads(p.read_text())) == text for p in found)
    # alqurashi2024: every cached feature set, and Figs 2 and 3
    features = sorted(p.stem for p in tiny_run.glob("results/iemocap/features/*.pt"))
    assert features == [
        "gemaps",
        "handcrafted8",
        "mfcc39_mean",
        "ssl-wav2vec2_base",
        "text-bert_base",
    ]
    for fig in ("fig2_text_corrections", "fig3_neutral_precision_recall"):
        assert (tiny_run / "results" / "figures" / "alqurashi2024" / f"{fig}.png").exists()


@pytest.mark.slow
def test_second_run_does_nothing(tiny_run: Path) -> None:
    run = snakemake(
        tiny_run, "-n", "--cores", "2", "--configfile", str(REPO / "config" / "tiny.yaml")
    )
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_paper_config_plans_full_graph_on_real_format_fixtures(tmp_path: Path) -> None:
    iemocap, meld = FIXTURES / "IEMOCAP_full_release", FIXTURES / "MELD.Raw"
    run = snakemake(
        tmp_path,
        "-n",
        "-p",
        "--cores",
        "8",
        "--resources",
        "gpu=1",
        "--configfile",
        str(REPO / "config" / "paper.yaml"),
        "--config",
        f"corpora={{iemocap: {{root: {iemocap}}}, meld: {{root: {meld}}}}}",
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout + run.stderr
    assert "synthesize_corpus" not in out
    # every reproducible row is planned, or named at start-up as not run (never dropped)
    from mlser.experiments import load_matrix

    matrix = load_matrix(REPO / "config" / "experiments")
    skipped = {i for line in out.splitlines() if "not run yet" in line
               for i in line.split("): ", 1)[1].split(", ")}  # fmt: skip
    for exp_id, e in matrix.items():
        if e.get("reproduce", True):
            assert f"/experiments/{exp_id}/" in out or exp_id in skipped, exp_id
    assert "gao2025-exp35/official/metrics.json" in out  # AEC rows are planned
    for rule in ("prepare_corpus", "make_folds", "corpus_counts", "passport", "unseen_text"):
        assert rule in out
    # wang2023: every LE-MER step is planned (quantizer codebook, K sweep, score fusion)
    for rule in ("label_keywords", "codebook_frames", "train_lemer_stage2", "lemer_score_fusion"):
        assert rule in out, rule
    assert "lemer_sweep_point" in out and "wang2023-c4" in out
    # B4 reads no text, but its speech label embeddings start from BERT word embeddings:
    # its job is given the text encoder (without it the training stops at start-up)
    b4 = [
        j
        for j in planned_jobs(out)
        if j["rule"] == "train_lemer_stage2" and '"id":"wang2023-b4"' in j["shell"]
    ]
    assert b4 and all('"text":{"bert_base":' in j["shell"] for j in b4)
    # each corpus selects its epochs on the metric its paper headlines (MELD: WF1)
    for job in planned_jobs(out):
        trains = ("train_stage1", "train_stage2", "train_hierarchical", "train_lemer_stage1")
        if job["rule"] in (*trains, "train_lemer_stage2", "lemer_sweep_point"):
            corpus = re.search(r"--corpus (\w+)", job["shell"]).group(1)
            metric = {"iemocap": "ua", "meld": "wf1"}[corpus]
            assert f'"select_metric":"{metric}"' in job["shell"], job["shell"][:300]
    # config/paper.yaml trains on a GPU even when planned on a machine without one
    assert_neural_jobs(out, gpu=1, threads=2, device="cuda")


def planned_jobs(out: str) -> list[dict[str, str]]:
    """The jobs of `snakemake -n -p` output: rule, threads, resources, input and output
    (comma-separated), shell command."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:\n)", out)[1:]:
        job = {"rule": block.split(":", 1)[0].split()[1], "threads": "1", "resources": ""}
        job.update(input="", output="")
        for key in ("threads", "resources", "input", "output"):
            found = re.search(rf"^    {key}: (.*)$", block, flags=re.M)
            if found:
                job[key] = found.group(1)
        shell = re.search(r"^Shell command: (.*)$", block, flags=re.M)
        job["shell"] = shell.group(1) if shell else ""
        jobs.append(job)
    return jobs


def assert_neural_jobs(out: str, gpu: int, threads: int, device: str) -> None:
    jobs = planned_jobs(out)
    neural = [j for j in jobs if "--device" in j["shell"]]
    assert {j["rule"] for j in neural} >= {"train_stage1", "train_stage2", "evaluate_multilevel"}
    for job in neural:
        assert f"gpu={gpu}" in job["resources"].split(", "), job
        assert job["threads"] == str(threads), job
        assert f"--threads {threads} --device {device} " in job["shell"], job
    # the rest never holds the GPU
    for job in jobs:
        if job not in neural:
            assert "gpu=1" not in job["resources"].split(", "), job


def test_demo_on_a_cpu_machine_runs_neural_jobs_side_by_side(tmp_path: Path) -> None:
    """Planned with no NVIDIA GPU in sight, the demo's neural jobs hold no `gpu` and one
    core each (so `--cores all` on 2 cores runs two); `device: cuda` puts them back on
    `gpu=1` with 2 threads."""
    from mlser.config_checks import neural_device

    plan = ["-n", "-p", "--cores", "8", "--resources", "gpu=1"]
    plan += ["--configfile", str(REPO / "config" / "config.yaml")]
    for device, gpu, threads in (("cpu", 0, 1), ("cuda", 1, 2)):
        run = snakemake(tmp_path, *plan, "--config", f"compute={{device: {device}}}")
        assert run.returncode == 0, run.stderr[-3000:]
        assert_neural_jobs(run.stdout + run.stderr, gpu=gpu, threads=threads, device=device)
    if neural_device("auto") == "cpu":  # this machine: `auto` is the CPU plan
        run = snakemake(tmp_path, *plan)
        assert_neural_jobs(run.stdout + run.stderr, gpu=0, threads=1, device="cpu")


def test_rehearsal_on_a_cpu_gives_each_neural_job_every_core(tmp_path: Path) -> None:
    """The rehearsal's neural jobs run one at a time on a CPU (its `mem_mb`), so each gets
    every core Snakemake grants: with one thread each, a core idled for most of the run
    (a stage-2 job at the papers' sizes: 109 s on 1 thread, 69 s on 2, same epochs)."""
    configs = [str(REPO / "config" / name) for name in ("paper.yaml", "rehearsal.yaml")]
    plan = ["-n", "-p", "--cores", "2", "--resources", "gpu=1", "mem_mb=20000"]
    run = snakemake(tmp_path, *plan, "--configfile", *configs, "--config", "compute={device: cpu}")
    assert run.returncode == 0, run.stderr[-3000:]
    heavy = {"train_stage1", "train_stage2", "evaluate_multilevel", "train_lemer_stage2"}
    jobs = [j for j in planned_jobs(run.stdout + run.stderr) if j["rule"] in heavy]
    assert {j["rule"] for j in jobs} == heavy
    for job in jobs:
        assert job["threads"] == "2" and "--threads 2 --device cpu " in job["shell"], job


def test_demo_full_scores_lemer_per_fold_and_sweeps_on_the_chosen_folds(tmp_path: Path) -> None:
    """config/demo-full.yaml: one `evaluate_lemer` job per test fold scores every LE-MER
    row (score fusions aside) in one process; the K sweeps run on `sweep_folds` only,
    each point training and scoring in one process; a fold the swept row lacks is named."""
    configs = [str(REPO / "config" / name) for name in ("config.yaml", "demo-full.yaml")]
    plan = ["-n", "-p", "--cores", "2", "--configfile", *configs]
    run = snakemake(tmp_path, *plan)
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = planned_jobs(run.stdout + run.stderr)
    scoring = [j for j in jobs if j["rule"] == "evaluate_lemer"]
    # every fold under each of demo-full's three seeds (#24)
    runs = run_names(["s1", "s2", "s3", "s4", "s5"], [0, 1, 2])
    assert sorted(re.search(r"--fold (\S+) ", j["shell"]).group(1) for j in scoring) == sorted(runs)
    for job in scoring:
        assert '"id":"wang2023-a5"' in job["shell"] and '"id":"wang2023-c1"' in job["shell"]
        assert "wang2023-t2-score-fusion" not in job["shell"]  # a sum of logits, scored apart
    # ... trained once per seed and fold, reading label tables made once per fold
    stage1 = [j for j in jobs if j["rule"] == "train_lemer_stage1"]
    assert {re.search(r"--fold (\S+) ", j["shell"]).group(1) for j in stage1} == set(runs)
    keywords = [j for j in jobs if j["rule"] == "label_keywords"]
    assert sorted(re.search(r"--fold (\S+) ", j["shell"]).group(1) for j in keywords) == runs[:5]
    labelled = [
        j
        for j in stage1
        if " --fold s1_seed2 " in j["shell"] and "/label_embeddings/" in j["input"]
    ]
    assert labelled and all("/label_embeddings/s1/" in j["input"] for j in labelled)
    passport = [j for j in jobs if j["rule"] == "passport"]
    assert passport and all(" --seeds 0 1 2 " in j["shell"] for j in passport)
    # the sweeps (a figure) under the first seed
    sweeps = [j for j in jobs if j["rule"] == "lemer_sweep_point"]
    assert sweeps and all(" --fold s1 " in j["shell"] for j in sweeps)
    assert all(" + evaluate-lemer " in j["shell"] for j in sweeps)
    bad = snakemake(tmp_path, *plan, "--config", "label_embeddings={sweep_folds: [s9]}")
    assert bad.returncode != 0
    assert "label_embeddings.sweep_folds: ['s9'] are not folds of" in bad.stdout + bad.stderr


def test_jobs_that_load_a_stage_2_model_declare_the_model_it_started_from(tmp_path) -> None:
    """A stage-2 model file names the model it started from instead of copying its frozen
    weights (mlser.training.model_files), so every job that loads it lists that file as an input."""
    configs = [str(REPO / "config" / name) for name in ("config.yaml", "demo-full.yaml")]
    run = snakemake(tmp_path, "-n", "-p", "--cores", "2", "--configfile", *configs)
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = planned_jobs(run.stdout + run.stderr)
    started_from = {
        j["output"]: re.search(r"--init (\S+)", j["shell"]).group(1)
        for j in jobs
        if j["rule"] in ("train_stage2", "train_lemer_stage2")
    }
    loaders = [j for j in jobs if set(j["input"].split(", ")) & set(started_from)]
    assert {j["rule"] for j in loaders} >= {"evaluate_multilevel", "evaluate_lemer", "export_model"}
    for job in loaders:
        inputs = job["input"].split(", ")
        for model in set(inputs) & set(started_from):
            assert started_from[model] in inputs, (job["rule"], model)


@pytest.mark.slow
def test_exported_model_predicts_a_demo_file(tiny_run: Path, capsys) -> None:
    from mlser import cli

    exported = tiny_run / "results" / "export" / "gao2025-exp17" / "s1"
    wav = sorted((tiny_run / "results" / "demo_corpora" / "iemocap").rglob("*.wav"))[0]
    assert cli.main(["predict", str(exported), str(wav), "--format", "jsonl"]) == 0
    assert '"status": "ok"' in capsys.readouterr().out


def test_the_linguistic_panel_reads_the_acoustic_models_transcripts(tmp_path: Path) -> None:
    """gao2025 Fig. 2(b) is BERT "with ASR decoded transcriptions": on every fold, the
    text-only Exp-5 model is scored on Exp-2's transcripts of the same fold (before, the
    panel drew Exp-5 on the ground truth), and the figure reads those predictions."""
    demo = str(REPO / "config" / "config.yaml")
    run = snakemake(tmp_path, "-n", "-p", "--cores", "2", "--configfile", demo)
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = planned_jobs(run.stdout + run.stderr)
    matrix = load_matrix(REPO / "config" / "experiments")
    key = stage1_key(matrix["gao2024-t1-exp08"])
    bert = {f"s{i}": f"results/iemocap/stage1/{key}/s{i}/model.pt" for i in range(1, 6)}
    scored = {}
    for job in (j for j in jobs if j["rule"] == "evaluate_on_transcripts"):
        fold = re.search(r"--fold (\S+) ", job["shell"]).group(1)
        transcripts = re.search(r"--transcripts (\S+) ", job["shell"]).group(1)
        assert transcripts == f"results/iemocap/experiments/gao2025-exp02/{fold}/predictions.tsv"
        # the model of the row Exp-5 re-prints (gao2024 T1 Exp-8: BERT on the ground truth)
        assert re.search(r"--model (\S+) ", job["shell"]).group(1) == bert[fold]
        scored[fold] = re.search(r"--out-predictions (\S+) ", job["shell"]).group(1)
    assert sorted(scored) == ["s1", "s2", "s3", "s4", "s5"]
    assert all("/on_transcripts/gao2025-exp05/gao2025-exp02/" in p for p in scored.values())
    (figure,) = [j for j in jobs if "gao2025/fig2_confusion.pdf" in j["output"]]
    assert set(scored.values()) <= set(figure["input"].split(", "))
    assert "results/iemocap/experiments/gao2025-exp05/s1/predictions.tsv" not in figure["input"]
