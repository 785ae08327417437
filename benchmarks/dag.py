"""The DAG's own cost (issue #10, target 4): planning, no-op reruns, and each step's start-up.

1. ``snakemake -n`` over the full paper matrix (config/paper.yaml: every experiment, every
   fold, both corpora) on the real-format fixture corpora in tests/fixtures, in a scratch
   directory: wall time and jobs planned (goal: under 10 s).
2. Where ``--workdir`` (default: the current directory) holds a finished run (its
   ``snakemake -n`` says "Nothing to be done"): the no-op rerun, timed as ``snakemake -n``
   and as a real ``snakemake --cores 1`` (goal: under 15 s). Nothing runs unless the dry
   run has found nothing to do.
3. Process start-up of every ``python -m mlser <step>``: the imports of the step's function
   in ``mlser.cli`` (and of the cli helpers it calls), read from its source, timed as the
   wall time of a fresh ``python -c "import mlser.cli; import <those>"`` (best of
   ``--repeats``; not ``-X importtime``, whose per-module figures leave out the
   interpreter's own start), beside a bare ``python -c`` and ``import mlser.cli``; with
   the heavy libraries (torch, transformers, pandas, ...) each step ends up loading. Each rule runs
   one step, so this is what a job pays before doing any work.

Usage::

    python benchmarks/dag.py                     # ~1-2 min on 2 cores
    python benchmarks/dag.py --workdir /path/to/finished/demo --repeats 3
    python benchmarks/dag.py --workdir /tmp/tiny --configfile config/tiny.yaml
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from workload import REPO, machine, parser, save_json

FIXTURES = REPO / "tests" / "fixtures"
PLAN_GOAL_S = 10.0
NOOP_GOAL_S = 15.0


def snakemake(workdir: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run Snakemake on this repository's Snakefile in ``workdir``; (seconds, result)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    start = time.perf_counter()
    run = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=600)
    return time.perf_counter() - start, run


def job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's "Job stats" table (empty if there is none)."""
    counts: dict[str, int] = {}
    table = output.split("Job stats:", 1)
    if len(table) < 2:
        return counts
    for line in table[1].splitlines()[3:]:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


def plan_paper() -> dict[str, Any]:
    """Dry-run the paper config on the fixture corpora in a scratch directory."""
    corpora = (
        f"corpora={{iemocap: {{root: {FIXTURES / 'IEMOCAP_full_release'}}}, "
        f"meld: {{root: {FIXTURES / 'MELD.Raw'}}}}}"
    )
    with tempfile.TemporaryDirectory(prefix="mlser-dag-") as tmp:
        seconds, run = snakemake(
            Path(tmp),
            "-n",
            "--cores",
            "8",
            "--resources",
            "gpu=1",
            "--configfile",
            str(REPO / "config" / "paper.yaml"),
            "--config",
            corpora,
        )
    if run.returncode != 0:
        raise SystemExit(f"paper dry run failed:\n{run.stderr[-3000:]}")
    counts = job_counts(run.stdout + run.stderr)
    return {"seconds": seconds, "jobs": counts.get("total", 0), "per_rule": counts}


def noop_rerun(workdir: Path, configfile: Path | None = None) -> dict[str, Any] | None:
    """Time a no-op rerun of the run in ``workdir`` (made with ``configfile``, default the
    demo's); None where there is no run, ``finished: False`` where work is left."""
    if not (workdir / "results").is_dir():
        return None
    config = ["--configfile", str(configfile.resolve())] if configfile else []
    dry_s, dry = snakemake(workdir, "-n", "--cores", "1", *config)
    if dry.returncode != 0 or "Nothing to be done" not in dry.stdout + dry.stderr:
        return {"finished": False, "dry_run_seconds": dry_s}
    real_s, real = snakemake(workdir, "--cores", "1", *config)
    if real.returncode != 0:
        raise SystemExit(f"no-op rerun failed in {workdir}:\n{real.stderr[-3000:]}")
    return {"finished": True, "dry_run_seconds": dry_s, "rerun_seconds": real_s}


def step_functions() -> dict[str, Any]:
    """``python -m mlser`` step name -> the cli function it calls."""
    from mlser import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: p.get_default("func") for name, p in sub.choices.items()}


def step_imports(func: Any) -> list[str]:
    """Modules imported inside ``func`` and inside the ``mlser.cli`` helpers it calls.

    ``from a import b`` counts as ``a.b`` where that is a module, else ``a``. A step's
    branches are all included (an upper bound for steps whose imports depend on flags).
    """
    import importlib.util

    seen: set[str] = set()
    modules: list[str] = []

    def visit(f: Any) -> None:
        if f.__name__ in seen:
            return
        seen.add(f.__name__)
        tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    try:
                        is_module = importlib.util.find_spec(full) is not None
                    except (ImportError, ValueError):
                        is_module = False
                    names.append(full if is_module else node.module)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and inspect.isfunction(f.__globals__.get(node.func.id))
            ):
                visit(f.__globals__[node.func.id])
            for name in names:
                if name not in modules:
                    modules.append(name)

    visit(func)
    return modules


HEAVY = ("torch", "transformers", "matplotlib", "pandas", "scipy", "sklearn", "jiwer")


def start_up(modules: list[str], repeats: int) -> tuple[float, list[str]]:
    """Best-of-``repeats`` wall time of a fresh ``python -c`` importing ``modules``, and
    which of the heavy libraries (:data:`HEAVY`) that loaded."""
    code = "; ".join(
        ["import sys", *(f"import {m}" for m in modules), f"print(*[h for h in {HEAVY!r} "
         "if h in sys.modules], sep=',')"]
    )  # fmt: skip
    best, out = float("inf"), ""
    for _ in range(repeats):
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
        out = run.stdout.decode().strip()
    return best, [h for h in out.split(",") if h]


def import_costs(repeats: int) -> dict[str, Any]:
    python, _ = start_up([], repeats)
    cli, _ = start_up(["mlser.cli"], repeats)
    steps = {}
    for name, func in step_functions().items():
        modules = step_imports(func)
        seconds, loads = start_up(["mlser.cli", *modules], repeats)
        steps[name] = {
            "seconds": seconds,
            "over_cli_seconds": seconds - cli,
            "modules": modules,
            "loads": loads,
        }
    return {"python_seconds": python, "cli_seconds": cli, "steps": steps}


def markdown(results: dict[str, Any]) -> str:
    lines = []
    plan, noop = results["plan"], results["noop"]
    if plan is not None:  # None with --skip-plan: no Snakemake timing at all
        lines.append(
            f"- paper matrix dry run (`snakemake -n`, fixtures): {plan['seconds']:.1f} s for "
            f"{plan['jobs']} jobs (goal < {PLAN_GOAL_S:.0f} s)"
        )
        if noop is None:
            lines.append("- no-op rerun: no finished run in the working directory (--workdir)")
        elif not noop["finished"]:
            lines.append(f"- no-op rerun: the run in {results['workdir']} is not finished")
        else:
            lines.append(
                f"- no-op rerun: `snakemake -n` {noop['dry_run_seconds']:.1f} s, `snakemake "
                f"--cores 1` {noop['rerun_seconds']:.1f} s (goal < {NOOP_GOAL_S:.0f} s)"
            )
    imports = results["imports"]
    lines += [
        f"- process start-up: bare `python -c` {imports['python_seconds']:.2f} s, "
        f"`import mlser.cli` {imports['cli_seconds']:.2f} s",
        "",
        "| step | start-up (s) | over cli (s) | heavy libraries loaded | imports |",
        "|---|---|---|---|---|",
    ]
    for name, s in sorted(imports["steps"].items(), key=lambda kv: -kv[1]["seconds"]):
        lines.append(
            f"| {name} | {s['seconds']:.2f} | {s['over_cli_seconds']:.2f} "
            f"| {', '.join(s['loads']) or '-'} | {', '.join(s['modules']) or '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--workdir", type=Path, default=Path.cwd(), help="a finished run")
    ap.add_argument(
        "--configfile", type=Path, default=None, help="the finished run's config (default: demo)"
    )
    ap.add_argument("--repeats", type=int, default=2, help="start-up timings: best of N")
    ap.add_argument(
        "--skip-plan", action="store_true", help="only the start-up table (no Snakemake runs)"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    results: dict[str, Any] = {
        "benchmark": "dag",
        "machine": machine(),
        "workdir": str(args.workdir),
        "plan": None if args.skip_plan else plan_paper(),
        "noop": None if args.skip_plan else noop_rerun(args.workdir.resolve(), args.configfile),
        "imports": import_costs(args.repeats),
    }
    print(markdown(results))
    save_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
