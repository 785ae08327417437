"""Where a finished run's time went (issue #10, target 5), from Snakemake's ``benchmark:`` files.

Every heavy rule writes ``results/benchmarks/<rule>/<wildcards...>.tsv`` (one per job;
columns ``s``, ``h:m:s``, ``max_rss``, ...). This reads them all and prints, as Markdown,
per rule: jobs, total / mean / longest seconds, share of all job seconds and the largest
resident set; and the run's wall time: the time some job was running (the union of the
jobs' intervals, each ending at its file's modification time), which leaves out the gaps
of a resumed run, beside first start to last end, and each Snakemake session's span from
``.snakemake/log``. Rules without a ``benchmark:`` (the light local rules)
are not counted. With ``--imports`` (a ``benchmarks/dag.py --json`` file) each rule also
gets an estimate of the time its jobs spent starting up: jobs x its step's start-up.

Usage::

    python benchmarks/demo_stages.py                 # the run in the current directory
    python benchmarks/demo_stages.py --workdir /tmp/demo --imports dag.json --json stages.json
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workload import REPO, parser, save_json


@dataclass(frozen=True)
class Job:
    """One ``benchmark:`` file: the rule, its wildcards path, seconds, peak RSS (MB), end time."""

    rule: str
    name: str
    seconds: float
    max_rss_mb: float | None
    ended: float


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "-", "NA") else None
    except ValueError:
        return None


def read_jobs(benchmarks: Path) -> list[Job]:
    """Every ``<rule>/**/*.tsv`` (or ``<rule>.tsv``) under ``benchmarks``.

    A file with ``repeat(...)`` rows counts once, with its rows' mean seconds; a file
    without an ``s`` column is an error naming it."""
    jobs = []
    for path in sorted(benchmarks.rglob("*.tsv")):
        rel = path.relative_to(benchmarks)
        # <rule>/<wildcards...>.tsv, or <rule>.tsv for a rule without wildcards
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        name = str(Path(*rel.parts[1:]).with_suffix("")) if len(rel.parts) > 1 else ""
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if not rows or "s" not in rows[0]:
            raise ValueError(f"{path}: no `s` column, not a Snakemake benchmark file")
        seconds = [_float(r["s"]) for r in rows]
        if any(s is None for s in seconds):
            raise ValueError(f"{path}: an `s` value is not a number: {[r['s'] for r in rows]}")
        rss = [v for v in (_float(r.get("max_rss")) for r in rows) if v is not None]
        jobs.append(
            Job(
                rule=rule,
                name=name,
                seconds=sum(seconds) / len(seconds),  # type: ignore[arg-type]
                max_rss_mb=max(rss) if rss else None,
                ended=path.stat().st_mtime,
            )
        )
    return jobs


def rule_steps(rules_dir: Path = REPO / "workflow" / "rules") -> dict[str, str]:
    """Rule name -> the ``python -m mlser <step>`` it runs, from the rules files."""
    steps = {}
    for smk in sorted(rules_dir.glob("*.smk")):
        parts = re.split(r"^\s*rule (\w+):\n", smk.read_text(encoding="utf-8"), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            step = re.search(r"python -m mlser ([\w-]+)", body)
            if step:
                steps[name] = step.group(1)
    return steps


def summarize(
    jobs: list[Job], startup: dict[str, float] | None = None, steps: dict[str, str] | None = None
) -> dict[str, Any]:
    """Per-rule totals, shares and the run's wall time (see the module doc)."""
    if not jobs:
        raise ValueError("no benchmark files: is this a finished run's working directory?")
    total = sum(j.seconds for j in jobs)
    rules: dict[str, dict[str, Any]] = {}
    for j in jobs:
        r = rules.setdefault(j.rule, {"jobs": 0, "seconds": 0.0, "longest": 0.0, "rss": []})
        r["jobs"] += 1
        r["seconds"] += j.seconds
        r["longest"] = max(r["longest"], j.seconds)
        if j.max_rss_mb is not None:
            r["rss"].append(j.max_rss_mb)
    table = {}
    for name, r in sorted(rules.items(), key=lambda kv: -kv[1]["seconds"]):
        row = {
            "jobs": r["jobs"],
            "total_seconds": r["seconds"],
            "mean_seconds": r["seconds"] / r["jobs"],
            "longest_seconds": r["longest"],
            "share": r["seconds"] / total if total else 0.0,
            "max_rss_mb": max(r["rss"]) if r["rss"] else None,
        }
        step = (steps or {}).get(name)
        if startup is not None and step in startup:
            row["startup_seconds"] = r["jobs"] * startup[step]
        table[name] = row
    first_start = min(j.ended - j.seconds for j in jobs)
    wall = max(j.ended for j in jobs) - first_start
    busy = busy_seconds([(j.ended - j.seconds, j.ended) for j in jobs])
    return {
        "jobs": len(jobs),
        "job_seconds": total,
        "wall_seconds": wall,
        "busy_seconds": busy,
        "parallelism": total / busy if busy > 0 else None,
        "rules": table,
    }


def busy_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals: the time at least one job ran.

    Unlike first start to last end, it leaves out the gaps between the sessions of a
    resumed run, so it stands for the wall time of one uninterrupted run."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


LOG_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
LOG_STEPS = re.compile(r"^(\d+) of (\d+) steps \(")


def snakemake_logs(workdir: Path) -> list[dict[str, Any]]:
    """Each ``.snakemake/log/*.snakemake.log``: its first and last time stamp, seconds
    between them and steps done (of planned); the sessions of the run, oldest first."""
    from datetime import datetime

    sessions = []
    for log in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log")):
        stamps, done, planned = [], 0, 0
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if m := LOG_STAMP.match(line.strip()):
                stamps.append(datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y"))
            elif m := LOG_STEPS.match(line.strip()):
                done, planned = int(m.group(1)), int(m.group(2))
        if stamps:
            sessions.append(
                {
                    "log": log.name,
                    "seconds": (stamps[-1] - stamps[0]).total_seconds(),
                    "steps_done": done,
                    "steps_planned": planned,
                }
            )
    return sessions


def markdown(summary: dict[str, Any]) -> str:
    startup = any("startup_seconds" in r for r in summary["rules"].values())
    head = "| rule | jobs | total (s) | mean (s) | longest (s) | share | max RSS (MB) |"
    rule = "|---|---|---|---|---|---|---|"
    if startup:
        head, rule = head + " start-up est. (s) |", rule + "---|"
    lines = [head, rule]
    for name, r in summary["rules"].items():
        rss = f"{r['max_rss_mb']:.0f}" if r["max_rss_mb"] is not None else "-"
        line = (
            f"| {name} | {r['jobs']} | {r['total_seconds']:.1f} | {r['mean_seconds']:.1f} "
            f"| {r['longest_seconds']:.1f} | {r['share']:.1%} | {rss} |"
        )
        if startup:
            est = r.get("startup_seconds")
            line += f" {est:.0f} |" if est is not None else " - |"
        lines.append(line)
    par = summary["parallelism"]
    lines += [
        "",
        f"{summary['jobs']} jobs, {summary['job_seconds'] / 60:.1f} min of job time; "
        f"some job running for {summary['busy_seconds'] / 60:.1f} min"
        + (f" (mean {par:.2f} jobs at a time)" if par else "")
        + f"; first job start to last job end {summary['wall_seconds'] / 60:.1f} min.",
    ]
    sessions = summary.get("sessions") or []
    if sessions:
        lines.append(
            f"Snakemake sessions (.snakemake/log): {len(sessions)}; "
            + ", ".join(
                f"{s['seconds'] / 60:.1f} min ({s['steps_done']}/{s['steps_planned']} steps)"
                for s in sessions[-5:]
            )
            + (" (last 5)" if len(sessions) > 5 else "")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--workdir", type=Path, default=Path.cwd(), help="a finished run")
    ap.add_argument("--imports", type=Path, default=None, help="benchmarks/dag.py --json output")
    ap.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = ap.parse_args(argv)
    startup = None
    if args.imports is not None:
        dag = json.loads(args.imports.read_text(encoding="utf-8"))
        startup = {k: v["seconds"] for k, v in dag["imports"]["steps"].items()}
    summary = summarize(read_jobs(args.workdir / "results" / "benchmarks"), startup, rule_steps())
    summary["workdir"] = str(args.workdir)
    summary["sessions"] = snakemake_logs(args.workdir)
    print(markdown(summary))
    save_json(args.json, summary)
    return summary


if __name__ == "__main__":
    main()
