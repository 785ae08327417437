"""The rehearsal's bill (mlser.report.rehearsal) on hand-made benchmark files and records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mlser.report import rehearsal

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(root: Path, rel: str, *runs: tuple) -> None:
    """Benchmark lines of (wall s, peak RSS MB[, MB written])."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{run[0]}\t0:00:00\t{run[1]}\t0\t0\t0\t0\t{run[2] if len(run) > 2 else 0}\t0\t"
        f"{run[0] / 2}\n"
        for run in runs
    ]
    path.write_text(HEADER + "".join(lines))


def _record(root: Path, rel: str, experiment: str, epochs: list[dict]) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"experiment": experiment, "history": epochs, "total_parameters": 425_000_000}
    path.write_text(json.dumps({**record, "trainable_parameters": 420_000_000}))
    return path


def test_jobs_take_the_last_run_of_each_benchmark_and_memory_gets_its_margin(tmp_path):
    _bench(tmp_path, "train_stage1/iemocap/abc/s1.tsv", (100.0, 9000.0), (40.0, 7000.0))
    _bench(tmp_path, "train_stage1/meld/def/official.tsv", (60.0, 8000.0))
    _bench(tmp_path, "prepare_corpus/iemocap.tsv", (3.0, 200.0))
    jobs = rehearsal.benchmark_table(tmp_path)
    assert sorted(jobs["job"]) == ["iemocap", "iemocap/abc/s1", "meld/def/official"]
    stage1 = jobs[jobs["rule"] == "train_stage1"].set_index("job")
    assert stage1.loc["iemocap/abc/s1", "wall_s"] == 40.0  # the rerun's, not the first
    # 8000 MB x 1.5 = 12000 MB -> 12 GB (12288); 200 x 1.5 = 300 -> 1 GB
    assert rehearsal.resource_suggestions(jobs) == {"train_stage1": 12288, "prepare_corpus": 1024}


def test_the_bill_sums_what_the_jobs_wrote_also_files_deleted_since(tmp_path):
    """`temp_models`: a model file is gone by the time the bill is made; its size is in
    the job's bytes written (Snakemake's io_out, MB), the last run's of each job."""
    _bench(
        tmp_path, "train_lemer_stage2/iemocap/b5/s1.tsv", (9.0, 900.0, 100.0), (9.0, 900.0, 2500.0)
    )
    _bench(tmp_path, "train_lemer_stage2/iemocap/c1/s1.tsv", (9.0, 900.0, 2400.0))
    _bench(tmp_path, "prepare_corpus/iemocap.tsv", (3.0, 200.0, "-"))
    jobs = rehearsal.benchmark_table(tmp_path)
    assert jobs.set_index("job").loc["iemocap/b5/s1", "written_mb"] == 2500.0
    assert math.isnan(jobs.set_index("job").loc["iemocap", "written_mb"])
    md = rehearsal.to_markdown(jobs, rehearsal.training_table([], {}, {}), _models(), "cpu")
    assert "| train_lemer_stage2 | 2 | 18 | 9 | 900 | 2048 | 4.9 |" in md
    assert "Written by all jobs: 4.9 GB to a block device" in md


def test_the_bill_takes_model_file_sizes_from_the_records_not_the_disk_counters(tmp_path):
    """CI's overlay disk: io_out read 0.02 MB for a stage-1 job that saved 1.3 GB, so the
    model files' sizes come from each training record (``model_file_bytes``)."""
    _bench(tmp_path, "benchmarks/train_stage1/iemocap/abc/s1.tsv", (9.0, 900.0, 0.02))
    paths = []
    for name, size in (("abc", 1_300_000_000), ("def", 200_000_000)):
        path = _record(
            tmp_path, f"results/iemocap/stage1/{name}/s1/model.pt.json", f"gao2025-{name}",
            [{"epoch": 1, "seconds": 3.0}],
        )  # fmt: skip
        path.write_text(json.dumps({**json.loads(path.read_text()), "model_file_bytes": size}))
        paths.append(path)
    t = rehearsal.training_table(paths, {}, {"iemocap": 1.0})
    assert sorted(t["model_file_mb"]) == [200.0, 1300.0]
    jobs = rehearsal.benchmark_table(tmp_path / "benchmarks")
    md = rehearsal.to_markdown(jobs, t, _models(), "cpu")
    assert "Written by all jobs: 0.0 GB to a block device" in md
    assert "Model files saved: 1.5 GB" in md
    # a record from before the field: its size is unknown, not zero
    old = _record(tmp_path, "results/iemocap/stage1/old/s1/model.pt.json", "gao2025-old",
                  [{"epoch": 1, "seconds": 3.0}])  # fmt: skip
    assert math.isnan(rehearsal.training_table([old], {}, {})["model_file_mb"][0])


def test_full_run_estimate_by_hand(tmp_path):
    loso = _record(
        tmp_path,
        "results/iemocap/stage1/abc/s1/model.pt.json",
        "gao2025-exp13",
        [{"epoch": 1, "seconds": 30.0, "peak_gpu_mb": 5000.0}],
    )
    meld = _record(
        tmp_path,
        "results/meld/stage2/def/official/model.pt.json",
        "gao2025-exp37",
        [{"epoch": 1, "seconds": 10.0}, {"epoch": 2, "seconds": 20.0}],
    )
    # cut short after 2 of 6 batches: 3 s of training -> 9 s, + 3 s of validation = 12 s
    lemer = _record(
        tmp_path, "results/iemocap/lemer/stage1/wang2023-b5/s1/model.pt.json", "wang2023-b5",
        [{"epoch": 1, "seconds": 6.0, "train_seconds": 3.0, "batches": 2, "epoch_batches": 6}],
    )  # fmt: skip
    full_epochs = {"multilevel.stage1": 100, "multilevel.stage2": 50, "le_mer.pretrain": 20}
    scale = {"iemocap": 420.0, "meld": 900.0}
    t = rehearsal.training_table([loso, meld, lemer], full_epochs, scale).set_index("experiment")
    # 30 s x 100 epochs x 420 x 5 folds = 6,300,000 s = 1750 h
    assert t.loc["gao2025-exp13", "full_run_h"] == pytest.approx(1750.0)
    assert t.loc["gao2025-exp13", "kind"] == "multilevel.stage1"
    # mean epoch 15 s x 50 x 900 x 1 fold = 675,000 s = 187.5 h
    assert t.loc["gao2025-exp37", "full_run_h"] == pytest.approx(187.5)
    assert math.isnan(t.loc["gao2025-exp37", "peak_gpu_mb"])
    # LE-MER's stage 1 is its continued pre-training here, not a multi-level stage 1
    assert t.loc["wang2023-b5", "kind"] == "le_mer.pretrain"
    # ... and its fine-tuning where the row has no pre-training (A5: stage 1 fine-tunes)
    a5 = json.loads(lemer.read_text())
    a5["stage"] = 1
    a5["settings"] = {"experiment": {"model": {"stage1": {"strategy": "full_finetune"}}}}
    a5_path = tmp_path / "results/iemocap/lemer/stage1/wang2023-a5/s1/model.pt.json"
    a5_path.parent.mkdir(parents=True)
    a5_path.write_text(json.dumps({**a5, "experiment": "wang2023-a5"}))
    kinds = rehearsal.training_table([a5_path], full_epochs, scale).set_index("experiment")
    assert kinds.loc["wang2023-a5", "kind"] == "le_mer.finetune"
    # config/paper.yaml's three seeds train every model three times
    three = rehearsal.training_table([loso], full_epochs, scale, seeds=3)
    assert three.loc[0, "full_run_h"] == pytest.approx(3 * 1750.0)
    # a seed's run of a LOSO fold stands for the five folds too
    seeded = tmp_path / "results/iemocap/stage1/abc/s1_seed1/model.pt.json"
    seeded.parent.mkdir(parents=True)
    seeded.write_text(loso.read_text())
    assert rehearsal.training_table([seeded], full_epochs, scale).loc[0, "folds"] == 5
    assert t.loc["wang2023-b5", "full_run_h"] == pytest.approx(12 * 20 * 420 * 5 / 3600)
    md = rehearsal.to_markdown(
        rehearsal.benchmark_table(tmp_path / "none"), t.reset_index(), _models(), "cuda",
        {"gao2025-exp20": "reads an ASR transcript but trains no ASR"},
    )  # fmt: skip
    assert "| gao2025 | 2 | 5000 | 1937.5 |" in md
    assert "| wang2023 | 1 | – | 140.0 |" in md
    assert "- gao2025-exp20: reads an ASR transcript" in md
    assert "| facebook/hubert-large-ll60k | random | HubertModel | 315.4 M | 317 M |" in md


def _models():
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "source": "facebook/hubert-large-ll60k",
                "weights": "random",
                "model_class": "HubertModel",
                "parameters": 315_440_000,
                "published": 317_000_000,
            }
        ]
    )


def test_max_batches_stops_each_epoch_and_still_takes_an_optimiser_step(tmp_path):
    """The rehearsal's cap (rehearsal.max_batches -> TrainConfig.max_batches): each epoch
    trains on its first batches only, and the accumulated gradient is still applied."""
    import torch

    from mlser.training.loop import TrainConfig, fit

    model = torch.nn.Linear(2, 1)
    before = model.weight.detach().clone()
    seen: list[int] = []

    def batches(epoch):
        return [torch.full((1, 2), float(i)) for i in range(1, 6)]

    def step_loss(m, batch):
        seen.append(int(batch[0, 0]))
        return m(batch).pow(2).mean()

    config = TrainConfig(epochs=2, lr=0.1, grad_accum=8, max_batches=2, keep_checkpoints=1)
    result = fit(model, batches, step_loss, lambda m: {"ua": 0.5, "wa": 0.5, "wf1": 0.5},
                 config, tmp_path, log=lambda _: None)  # fmt: skip
    assert seen == [1, 2, 1, 2]
    assert [(h["batches"], h["epoch_batches"]) for h in result.history] == [(2, 5), (2, 5)]
    assert not torch.equal(result.best_state["weight"], before)
