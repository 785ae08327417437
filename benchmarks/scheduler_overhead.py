"""Snakemake's own CPU while many jobs wait (issue #10, targets 4 and 5).

On a CPU run of a wide DAG most jobs are ready and waiting for a core (demo-full: a
hundred stage-1 jobs become ready when the acoustic pretraining ends, two run at a time).
Snakemake's scheduler wakes up every ``max-jobs-per-timespan`` timespan (1 s by default)
besides each job's end, and at every wake-up it stats every input of every ready job
(``update_input_sizes``, one asyncio task per path) and re-evaluates their params and
resources: with a hundred ready jobs that is a third of a core, taken from the two
training jobs beside it. ``profiles/default/config.yaml`` sets a longer timespan.

This runs the same synthetic DAG (``--jobs`` jobs that each sleep ``--sleep`` seconds
and read ``--inputs`` files, all ready at once) with Snakemake's default timespan and
with the profile's, on ``--cores`` cores, in one run, and prints each one's wall time and
Snakemake's CPU time (the sleeping jobs use almost none), with the ratios. Usage::

    python benchmarks/scheduler_overhead.py                 # ~2.5 min, mostly idle
    python benchmarks/scheduler_overhead.py --jobs 400 --json sched.json
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from workload import REPO, machine, parser, save_json

SNAKEMAKE_DEFAULT = "100/1s"
PROFILE = REPO / "profiles" / "default" / "config.yaml"

SNAKEFILE = """\
rule all:
    input: expand("out/{{i}}.txt", i=range({jobs}))

rule job:
    input: [f"in/{{{{i}}}}.{{k}}" for k in range({inputs})]
    output: "out/{{i}}.txt"
    shell: "sleep {sleep}; touch {{output}}"
"""


def profile_timespan(profile: Path = PROFILE) -> str:
    """The ``max-jobs-per-timespan`` of the default workflow profile."""
    settings = yaml.safe_load(profile.read_text(encoding="utf-8")) or {}
    if "max-jobs-per-timespan" not in settings:
        raise SystemExit(f"{profile}: no max-jobs-per-timespan")
    return str(settings["max-jobs-per-timespan"])


def write_dag(folder: Path, jobs: int, inputs: int, sleep: float) -> None:
    """The synthetic DAG in ``folder``: its Snakefile and every job's input files."""
    (folder / "Snakefile").write_text(
        SNAKEFILE.format(jobs=jobs, inputs=inputs, sleep=sleep), encoding="utf-8"
    )
    (folder / "in").mkdir(exist_ok=True)
    for i in range(jobs):
        for k in range(inputs):
            (folder / "in" / f"{i}.{k}").touch()


def run_dag(folder: Path, timespan: str, cores: int) -> dict[str, float]:
    """Run the DAG from scratch with ``timespan``: wall and CPU seconds (Snakemake and
    the jobs it started, i.e. Snakemake: the jobs sleep)."""
    subprocess.run(["rm", "-rf", str(folder / "out"), str(folder / ".snakemake")], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--scheduler", "greedy"]
    run = subprocess.run(
        [*cmd, "--max-jobs-per-timespan", timespan, "-q"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        raise SystemExit(f"snakemake failed with {timespan}:\n{run.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"timespan": timespan, "wall_s": wall, "cpu_s": cpu, "cores_used": cpu / wall}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--inputs", type=int, default=3, help="input files per job")
    ap.add_argument("--sleep", type=float, default=0.6, help="seconds each job sleeps")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    ours = profile_timespan()
    with tempfile.TemporaryDirectory(prefix="mlser-sched-") as tmp:
        folder = Path(tmp)
        write_dag(folder, args.jobs, args.inputs, args.sleep)
        default = run_dag(folder, SNAKEMAKE_DEFAULT, args.cores)
        profile = run_dag(folder, ours, args.cores)
    results = {
        "benchmark": "scheduler_overhead",
        "machine": machine(),
        "jobs": args.jobs,
        "inputs": args.inputs,
        "sleep_s": args.sleep,
        "cores": args.cores,
        "default": default,
        "profile": profile,
        "cpu_ratio": default["cpu_s"] / max(profile["cpu_s"], 1e-9),
        "wall_ratio": profile["wall_s"] / default["wall_s"],
    }
    ideal = args.jobs * args.sleep / args.cores
    print(
        f"{args.jobs} jobs of {args.sleep} s with {args.inputs} inputs each on {args.cores}"
        f" cores (ideal wall {ideal:.0f} s)\n\n"
        "| max-jobs-per-timespan | wall (s) | Snakemake CPU (s) | cores Snakemake used |\n"
        "|---|---|---|---|\n"
        + "".join(
            f"| {r['timespan']}{' (profile)' if r is profile else ' (default)'} "
            f"| {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['cores_used']:.2f} |\n"
            for r in (default, profile)
        )
        + f"\nSnakemake's CPU default / profile: **{results['cpu_ratio']:.2f}x**; wall "
        f"profile / default: {results['wall_ratio']:.3f} (load {results['machine']['load_1min']})"
    )
    save_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
