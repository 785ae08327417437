"""The benchmarks' bookkeeping (never their speed): reading Snakemake's benchmark files,
mapping rules to steps, finding each step's imports, the synthetic workload's shape,
rewriting a planned job to run in a scratch folder, the scheduler benchmark's DAG, the
pretraining benchmark's variants."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import acoustic_pretraining  # noqa: E402
import compare_runs  # noqa: E402
import dag  # noqa: E402
import demo_stages  # noqa: E402
import scheduler_overhead  # noqa: E402
import side_by_side  # noqa: E402
import workload  # noqa: E402

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_benchmark(path: Path, rows: list[tuple[float, str]], ended: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{s}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t0\t0\n" for s, rss in rows)
    path.write_text(HEADER + body)
    os.utime(path, (ended, ended))


def test_demo_stages_sums_rules_and_derives_wall_time(tmp_path: Path) -> None:
    bench = tmp_path / "results" / "benchmarks"
    t0 = 1_000_000.0
    # stage 1 of two folds back to back, then an evaluation; a rule without wildcards
    write_benchmark(
        bench / "train_stage1" / "iemocap" / "abc" / "s1.tsv", [(100.0, "900")], t0 + 100
    )
    write_benchmark(
        bench / "train_stage1" / "iemocap" / "abc" / "s2.tsv", [(50.0, "1200")], t0 + 150
    )
    write_benchmark(
        bench / "evaluate_multilevel" / "iemocap" / "x" / "s1.tsv", [(30.0, "-")], t0 + 200
    )
    # repeat(...) rows count once, at their mean
    write_benchmark(bench / "scorecard.tsv", [(10.0, "100"), (30.0, "150")], t0 + 180)
    jobs = demo_stages.read_jobs(bench)
    assert sorted((j.rule, j.name) for j in jobs) == [
        ("evaluate_multilevel", "iemocap/x/s1"),
        ("scorecard", ""),
        ("train_stage1", "iemocap/abc/s1"),
        ("train_stage1", "iemocap/abc/s2"),
    ]
    summary = demo_stages.summarize(
        jobs, {"train-multilevel": 4.0}, {"train_stage1": "train-multilevel"}
    )
    stage1 = summary["rules"]["train_stage1"]
    assert stage1["jobs"] == 2 and stage1["total_seconds"] == 150.0
    assert stage1["mean_seconds"] == 75.0 and stage1["longest_seconds"] == 100.0
    assert stage1["max_rss_mb"] == 1200.0 and stage1["startup_seconds"] == 8.0
    assert summary["rules"]["scorecard"]["total_seconds"] == 20.0
    assert summary["rules"]["evaluate_multilevel"]["max_rss_mb"] is None
    assert summary["job_seconds"] == 200.0
    assert summary["rules"]["train_stage1"]["share"] == pytest.approx(0.75)
    # first start t0 (ended t0 + 100 after 100 s), last end t0 + 200
    assert summary["wall_seconds"] == pytest.approx(200.0)
    # jobs ran over [0, 150] and [160, 200] (scorecard: 20 s ending at 180)
    assert summary["busy_seconds"] == pytest.approx(190.0)
    assert list(summary["rules"]) == ["train_stage1", "evaluate_multilevel", "scorecard"]
    table = demo_stages.markdown(summary)
    assert "| train_stage1 | 2 | 150.0 | 75.0 | 100.0 | 75.0% | 1200 | 8 |" in table


def test_demo_stages_names_a_file_that_is_not_a_benchmark(tmp_path: Path) -> None:
    bad = tmp_path / "rule" / "x.tsv"
    bad.parent.mkdir()
    bad.write_text("utt_id\tpred\na\tb\n")
    with pytest.raises(ValueError, match=r"x\.tsv: no `s` column"):
        demo_stages.read_jobs(tmp_path)
    with pytest.raises(ValueError, match="no benchmark files"):
        demo_stages.summarize([])


def test_every_rule_maps_to_an_mlser_step() -> None:
    steps = demo_stages.rule_steps()
    assert steps["train_stage1"] == "train-multilevel"
    assert steps["evaluate_multilevel"] == "evaluate-multilevel"
    assert set(steps.values()) <= set(dag.step_functions())


def test_step_imports_follow_cli_helpers() -> None:
    funcs = dag.step_functions()
    train = dag.step_imports(funcs["train-multilevel"])
    # its own import, and those of _set_threads (torch) and _load_fold (manifest, folds)
    assert "mlser.training.multilevel" in train
    assert {"torch", "mlser.data.manifest", "mlser.data.folds"} <= set(train)
    # a light step imports no torch
    assert "torch" not in dag.step_imports(funcs["folds"])


@pytest.mark.parametrize(
    "step",
    ["train-hierarchical", "evaluate-hierarchical", "extract-features", "lemer-score-fusion"],
)
def test_steps_without_hubert_or_bert_start_without_transformers(step: str) -> None:
    # transformers' model classes pull torch._dynamo, torch.distributed and scipy: ~3 s of
    # start-up that the LSTM, feature and fusion jobs (dozens in demo-full) must not pay
    _, heavy = dag.start_up(dag.step_imports(dag.step_functions()[step]), repeats=1)
    assert "transformers" not in heavy


def test_job_counts_reads_snakemakes_job_stats() -> None:
    out = (
        "Building DAG of jobs...\nJob stats:\njob                 count\n"
        "----------------  -------\nmake_folds                2\ntrain_stage1            111\n"
        "total                   113\n\nReasons:\n    all\n"
    )
    assert dag.job_counts(out) == {"make_folds": 2, "train_stage1": 111, "total": 113}
    assert dag.job_counts("Nothing to be done.") == {}


def test_workload_durations_look_like_iemocap() -> None:
    seconds = workload.iemocap_like_durations(5000, seed=0)
    assert 4.0 < seconds.mean() < 5.0
    assert seconds.max() == 34.0 and seconds.min() >= 0.6
    assert np.array_equal(seconds, workload.iemocap_like_durations(5000, seed=0))


def test_busy_seconds_is_the_union_of_job_intervals() -> None:
    assert demo_stages.busy_seconds([(0, 10), (5, 12), (20, 25), (21, 22)]) == 17
    assert demo_stages.busy_seconds([]) == 0


def test_snakemake_sessions_from_the_logs(tmp_path: Path) -> None:
    logs = tmp_path / ".snakemake" / "log"
    logs.mkdir(parents=True)
    (logs / "2026-11-25T120000.000000.snakemake.log").write_text(
        "Building DAG of jobs...\n[Wed Nov 25 12:00:05 2026]\nrule a:\n"
        "[Wed Nov 25 12:01:05 2026]\n1 of 3 steps (33%) done\n"
        "[Wed Nov 25 12:10:35 2026]\n3 of 3 steps (100%) done\n"
    )
    (logs / "2026-11-25T130000.000000.snakemake.log").write_text("Nothing to be done.\n")
    assert demo_stages.snakemake_logs(tmp_path) == [
        {
            "log": "2026-11-25T120000.000000.snakemake.log",
            "seconds": 630.0,
            "steps_done": 3,
            "steps_planned": 3,
        }
    ]


def test_side_by_side_runs_a_planned_job_in_scratch(tmp_path: Path) -> None:
    planned = (
        "python -m mlser train-multilevel --stage 1 --corpus iemocap --fold s1"
        ' --experiment \'{"id": "gao2025-exp14"}\' --checkpoints results/x/s1/checkpoints/ab'
        " --threads 1 --device cpu --out results/x/s1/model.pt > results/logs/x.log 2>&1"
    )
    argv = side_by_side.scratch_command(planned, tmp_path, threads=2)
    assert argv[:4] == ["python", "-m", "mlser", "train-multilevel"]
    assert argv[argv.index("--experiment") + 1] == '{"id": "gao2025-exp14"}'
    assert argv[argv.index("--threads") + 1] == "2"
    assert argv[argv.index("--checkpoints") + 1] == str(tmp_path / "checkpoints")
    assert argv[argv.index("--out") + 1] == str(tmp_path / "out")
    assert not any("results/" in a or ">" in a for a in argv)
    log = "loading\nepoch=1 train_loss=2.4 ua=0.33 seconds=5.06\nbest epoch 1\n"
    assert side_by_side.epoch_lines(log) == ["epoch=1 train_loss=2.4 ua=0.33"]


def test_scheduler_benchmark_runs_its_dag_with_both_timespans(tmp_path: Path) -> None:
    out = tmp_path / "sched.json"
    res = scheduler_overhead.main(["--jobs", "4", "--sleep", "0.1", "--json", str(out)])
    assert res["default"]["timespan"] == "100/1s"
    assert res["profile"]["timespan"] == scheduler_overhead.profile_timespan()
    for run in (res["default"], res["profile"]):
        # every job ran: two rounds of 0.1 s sleeps at least, and Snakemake used CPU
        assert run["wall_s"] > 0.2 and run["cpu_s"] > 0
    assert out.exists()


def test_pretraining_variants_are_read_from_their_names() -> None:
    assert acoustic_pretraining.parse_variant("4800x3@0.003cos") == {
        "utterances": 4800,
        "epochs": 3,
        "lr": 0.003,
        "lr_schedule": "cosine",
    }
    assert acoustic_pretraining.parse_variant("800x12@1e-3")["lr_schedule"] == "constant"
    assert acoustic_pretraining.parse_variant("800x12@1e-3")["lr"] == 0.001
    with pytest.raises(ValueError, match="UTTERANCESxEPOCHS"):
        acoustic_pretraining.parse_variant("800x12")


def _scored_run(root: Path, exp: str, fold: str, pred: list[str], ua: float) -> None:
    """One scored run in the pipeline's layout (predictions.tsv, metrics.json) on 40
    utterances, ten of each IEMOCAP class; ``ua`` as computed by hand."""
    folder = root / "results" / "iemocap" / "experiments" / exp / fold
    folder.mkdir(parents=True)
    gold = [c for c in ("neu", "hap", "ang", "sad") for _ in range(10)]
    rows = "".join(f"u{i:02d}\t{g}\t{p}\n" for i, (g, p) in enumerate(zip(gold, pred, strict=True)))
    (folder / "predictions.tsv").write_text("utt_id\tgold\tpred\n" + rows)
    (folder / "metrics.json").write_text(json.dumps({"UA": ua, "experiment": exp, "fold": fold}))


def test_compare_runs_scores_both_runs_with_one_code_base(tmp_path: Path) -> None:
    right = [c for c in ("neu", "hap", "ang", "sad") for _ in range(10)]
    half = right[:20] + ["neu"] * 20  # ang and sad all called neutral: UA 0.5
    base, treat = "gao2024-t1-exp01", "gao2024-t1-exp02"  # the paper: SER+ASR beats SER
    _scored_run(tmp_path / "before", base, "s1", right, 1.0)
    _scored_run(tmp_path / "before", treat, "s1", half, 0.5)
    _scored_run(tmp_path / "before", treat, "s2", half, 0.5)  # a fold the after run lacks
    _scored_run(tmp_path / "after", base, "s1", half, 0.5)
    _scored_run(tmp_path / "after", treat, "s1", right, 1.0)
    before = compare_runs.scored_runs(tmp_path / "before")
    after = compare_runs.scored_runs(tmp_path / "after")
    keys = sorted(set(before) & set(after))
    assert keys == [(base, "s1"), (treat, "s1")]

    runs = compare_runs.load_runs(before, keys), compare_runs.load_runs(after, keys)
    rows = compare_runs.row_changes(runs[0].scores, runs[1].scores).set_index("experiment")
    assert rows.loc[base, ["before", "after", "change"]].tolist() == [100.0, 50.0, -50.0]
    assert rows.loc[treat, ["folds", "before", "after"]].tolist() == [1, 50.0, 100.0]

    verdicts = compare_runs.verdict_changes(
        *runs, REPO / "config" / "experiments", n_boot=200
    ).set_index("comparison")
    line = verdicts.loc["gao2024-asr-auxiliary"]
    assert (line["ours_diff_b"], line["ours_diff_a"]) == pytest.approx((-0.5, 0.5))
    assert (line["verdict_b"], line["verdict_a"]) == ("reversed", "reproduced")
    assert line["moved"]
    assert len(verdicts) == 1  # no other comparison has both rows scored
