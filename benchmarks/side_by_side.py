"""Neural jobs one at a time or side by side on the CPU (issue #10, target 5).

On a GPU run every neural job holds `gpu=1` and they run one at a time; on a CPU run
(`compute.device: cpu`, or `auto` without an NVIDIA GPU) they hold no GPU and take
`compute.threads.cpu` cores each, so `--cores all` runs several at once. This compares
the two on real jobs of a finished run, in one run of this script:

(a) one at a time: each job alone with ``--threads <cores>`` (the GPU-style schedule on
    this CPU), one after the other;
(b) side by side: all jobs at once, each with ``--threads <cores / jobs>``.

The jobs are the pipeline's own commands (``snakemake -n -p --forcerun <rule>`` in
``--workdir``), with their checkpoints and outputs redirected to a scratch folder, so
the finished run is left as it is. Prints each variant's wall time, the throughput
ratio (a)/(b), and checks that both variants trained the same models (the log lines of
every epoch: the same losses and validation scores, where the thread count leaves the
arithmetic alone; differences are listed).

Usage::

    python benchmarks/side_by_side.py --workdir /path/to/finished/demo     # ~3 min, 2 cores
    python benchmarks/side_by_side.py --workdir ... --rule train_stage2 --jobs 2 --repeats 2
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from dag import snakemake
from workload import REPO, machine, parser, save_json


def planned_commands(workdir: Path, rule: str, configfile: Path | None) -> list[str]:
    """The shell commands of ``rule``'s jobs in ``workdir``'s run, in plan order."""
    config = ["--configfile", str(configfile.resolve())] if configfile else []
    _, run = snakemake(workdir, "-n", "-p", "--cores", "2", "--forcerun", rule, *config)
    if run.returncode != 0:
        raise SystemExit(f"planning {rule} in {workdir} failed:\n{run.stderr[-3000:]}")
    blocks = re.split(r"\n(?=rule \w+:\n)", run.stdout + run.stderr)
    return [
        found.group(1)
        for block in blocks
        if block.startswith(f"rule {rule}:")
        and (found := re.search(r"^Shell command: (.*)$", block, flags=re.M))
    ]


def scratch_command(command: str, scratch: Path, threads: int) -> list[str]:
    """``command`` as an argv writing its checkpoints and model under ``scratch``."""
    argv = shlex.split(command.split(" > ", 1)[0])
    out = []
    for i, arg in enumerate(argv):
        flag = argv[i - 1] if i else ""
        if flag == "--threads":
            arg = str(threads)
        elif flag in ("--checkpoints", "--out"):
            arg = str(scratch / flag.strip("-"))
        out.append(arg)
    return out


def epoch_lines(log: str) -> list[str]:
    """A training log's epoch records without their timings."""
    return [
        re.sub(r" seconds=\S+", "", line) for line in log.splitlines() if line.startswith("epoch=")
    ]


def run_jobs(commands: list[str], workdir: Path, threads: int, together: bool) -> dict[str, Any]:
    """Run the jobs one after the other or all at once; wall time and each job's epochs."""
    with tempfile.TemporaryDirectory(prefix="mlser-side-") as tmp:
        argvs = []
        for i, command in enumerate(commands):
            (Path(tmp) / f"job{i}").mkdir()
            argvs.append(scratch_command(command, Path(tmp) / f"job{i}", threads))
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        start = time.perf_counter()
        logs: list[str] = []
        if together:
            procs = [
                subprocess.Popen(a, cwd=workdir, env=env, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
                for a in argvs
            ]  # fmt: skip
            logs = [p.communicate()[0] for p in procs]
            codes = [p.returncode for p in procs]
        else:
            runs = [
                subprocess.run(a, cwd=workdir, env=env, text=True, capture_output=True)
                for a in argvs
            ]
            logs = [r.stdout + r.stderr for r in runs]
            codes = [r.returncode for r in runs]
        seconds = time.perf_counter() - start
    for code, log in zip(codes, logs, strict=True):
        if code != 0:
            raise SystemExit(f"a job failed ({code}):\n{log[-3000:]}")
    return {"seconds": seconds, "threads": threads, "epochs": [epoch_lines(x) for x in logs]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--workdir", type=Path, default=Path.cwd(), help="a finished run")
    ap.add_argument("--configfile", type=Path, default=None, help="its config (default: demo)")
    ap.add_argument("--rule", default="train_stage1", help="a neural rule of the run")
    ap.add_argument("--jobs", type=int, default=2, help="how many of its jobs")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeats", type=int, default=1, help="alternate the variants N times")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    workdir = args.workdir.resolve()
    commands = planned_commands(workdir, args.rule, args.configfile)[: args.jobs]
    if len(commands) < args.jobs:
        raise SystemExit(f"{args.rule}: {len(commands)} jobs in {workdir}, {args.jobs} asked")
    alone = max(1, args.cores)
    shared = max(1, args.cores // args.jobs)
    serial, together = [], []
    for _ in range(args.repeats):
        serial.append(run_jobs(commands, workdir, alone, together=False))
        together.append(run_jobs(commands, workdir, shared, together=True))
    best_serial = min(serial, key=lambda r: r["seconds"])
    best_together = min(together, key=lambda r: r["seconds"])
    differ = [
        i
        for i, (a, b) in enumerate(zip(best_serial["epochs"], best_together["epochs"], strict=True))
        if a != b
    ]
    results = {
        "benchmark": "side_by_side",
        "machine": machine(),
        "workdir": str(workdir),
        "rule": args.rule,
        "jobs": [re.search(r"--out (\S+)", c).group(1) for c in commands],
        "one_at_a_time": best_serial,
        "side_by_side": best_together,
        "speedup": best_serial["seconds"] / best_together["seconds"],
        "jobs_with_other_epochs": differ,
    }
    print(
        f"| schedule | threads per job | wall for {args.jobs} `{args.rule}` jobs (s) |\n"
        f"|---|---|---|\n"
        f"| (a) one at a time | {alone} | {best_serial['seconds']:.1f} |\n"
        f"| (b) side by side | {shared} | {best_together['seconds']:.1f} |\n\n"
        f"Throughput (b)/(a): **{results['speedup']:.2f}x** "
        f"(best of {args.repeats}; load {results['machine']['load_1min']}). "
        + (
            "Same epochs (losses, validation scores) in both."
            if not differ
            else f"Jobs {differ} logged other epochs with other thread counts."
        )
    )
    save_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
