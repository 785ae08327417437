"""Submit, poll and cancel Snakemake jobs on SGE, LSF (or SLURM) for the cluster-generic
executor; used by submit.py, status.py and cancel.py next to this file.

Every job gets the same resources as with profiles/slurm: `threads` CPU slots on one host,
`mem_mb` of memory for the whole job, `runtime` minutes of wall time, and `gpu` GPUs.
Site-specific names come from resources (set them in config.yaml):
  queue          -> SGE -q / LSF -q / SLURM -p
  project        -> SGE -P / LSF -P / SLURM -A
  cluster_extra  -> any further flags, appended verbatim (e.g. "-l h=node01")
and from environment variables (defaults in brackets):
  MLSER_SCHEDULER        sge | lsf | slurm  [first of bsub, qsub, sbatch found on PATH]
  MLSER_SGE_PE           SGE parallel environment for multi-slot jobs  [smp]
  MLSER_SGE_MEM          SGE per-slot memory complex                   [h_vmem]
  MLSER_SGE_GPU          SGE GPU complex (consumable)                  [gpu]
  MLSER_SUBMIT_DRY_RUN   1: print the submit command instead of running it
Logs: .snakemake/cluster_logs/rule_<rule>/<wildcards>/<jobid>.log in the working
directory (the same layout as the SLURM plugin's .snakemake/slurm_logs/).
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

LOG_ROOT = Path(".snakemake") / "cluster_logs"


def read_properties(jobscript: str) -> dict:
    """The job properties Snakemake writes into every jobscript."""
    with open(jobscript) as f:
        for line in f:
            if line.startswith("# properties = "):
                return json.loads(line[len("# properties = ") :])
    raise SystemExit(f"no '# properties' line in {jobscript}")


def scheduler() -> str:
    chosen = os.environ.get("MLSER_SCHEDULER")
    if chosen:
        if chosen not in ("sge", "lsf", "slurm"):
            raise SystemExit(f"MLSER_SCHEDULER={chosen!r}: expected sge, lsf or slurm")
        return chosen
    for cmd, name in (("bsub", "lsf"), ("qsub", "sge"), ("sbatch", "slurm")):
        if shutil.which(cmd):
            return name
    raise SystemExit("no bsub, qsub or sbatch on PATH; set MLSER_SCHEDULER")


def _label(props: dict) -> tuple[str, str]:
    """(rule name, wildcard values joined by '_'), as the SLURM plugin names its logs."""
    if props.get("type") == "group":
        rule = f"group_{props.get('groupid', 'group')}"
    else:
        rule = f"rule_{props['rule']}"
    wildcards = "_".join(str(v) for v in (props.get("wildcards") or {}).values())
    return rule, re.sub(r"[^A-Za-z0-9_.=-]", "_", wildcards) or "all"


def submit_command(props: dict, jobscript: str, kind: str) -> tuple[list[str], Path, str]:
    """The submit command (argv), its log folder and the file name pattern of its log."""
    res = props.get("resources") or {}
    threads = max(1, int(props.get("threads") or 1))
    mem_mb = int(res.get("mem_mb") or 1000)
    runtime = int(res.get("runtime") or 60)  # minutes
    gpus = int(res.get("gpu") or 0)
    queue, project = res.get("queue"), res.get("project")
    extra = shlex.split(str(res.get("cluster_extra") or ""))
    rule, wildcards = _label(props)
    name = f"mlser.{rule.removeprefix('rule_')}.{wildcards}"[:100]
    logdir = LOG_ROOT / rule / wildcards

    if kind == "sge":
        per_slot = math.ceil(mem_mb / threads)
        limits = [
            f"{os.environ.get('MLSER_SGE_MEM', 'h_vmem')}={per_slot}M",
            f"h_rt={runtime // 60}:{runtime % 60:02d}:00",
        ]
        if gpus:
            limits.append(f"{os.environ.get('MLSER_SGE_GPU', 'gpu')}={gpus}")
        cmd = ["qsub", "-terse", "-cwd", "-V", "-S", "/bin/sh", "-j", "y", "-N", name]
        cmd += ["-o", str(logdir / "$JOB_ID.log"), "-l", ",".join(limits)]
        if threads > 1:
            cmd += ["-pe", os.environ.get("MLSER_SGE_PE", "smp"), str(threads)]
        cmd += (["-q", queue] if queue else []) + (["-P", project] if project else [])
        return [*cmd, *extra, jobscript], logdir, "$JOB_ID.log"
    if kind == "lsf":
        # memory in MB (LSF_UNIT_FOR_LIMITS=MB), reserved per host = per job (span[hosts=1])
        cmd = ["bsub", "-J", name, "-o", str(logdir / "%J.log"), "-n", str(threads)]
        cmd += ["-R", f"span[hosts=1] rusage[mem={mem_mb}]", "-M", str(mem_mb)]
        cmd += ["-W", str(runtime)]
        if gpus:
            cmd += ["-gpu", f"num={gpus}"]
        cmd += (["-q", queue] if queue else []) + (["-P", project] if project else [])
        return [*cmd, *extra, jobscript], logdir, "%J.log"
    cmd = ["sbatch", "--parsable", "-J", name, "-o", str(logdir / "%j.log"), "--ntasks=1"]
    cmd += [f"--cpus-per-task={threads}", f"--mem={mem_mb}", f"--time={runtime}"]
    if gpus:
        cmd.append(f"--gpus={gpus}")
    cmd += (["-p", queue] if queue else []) + (["-A", project] if project else [])
    return [*cmd, *extra, jobscript], logdir, "%j.log"


def submit(argv: list[str]) -> int:
    jobscript = argv[-1]
    kind = scheduler()
    cmd, logdir, _ = submit_command(read_properties(jobscript), jobscript, kind)
    if os.environ.get("MLSER_SUBMIT_DRY_RUN") == "1":
        print(shlex.join(cmd))
        return 0
    logdir.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        return out.returncode
    if kind == "lsf":  # "Job <123> is submitted to queue <normal>."
        match = re.search(r"Job <(\d+)>", out.stdout)
    else:  # qsub -terse: "123" (arrays "123.1-4:1"); sbatch --parsable: "123[;cluster]"
        match = re.match(r"\s*(\d+)", out.stdout)
    if not match:
        sys.stderr.write(f"cannot read a job id from: {out.stdout}{out.stderr}")
        return 1
    print(match.group(1))
    return 0


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True)


def status(jobid: str) -> str:
    """'running', 'success' or 'failed', as cluster-generic expects."""
    kind = scheduler()
    if kind == "sge":
        if _run(["qstat", "-j", jobid]).returncode == 0:
            return "running"
        acct = _run(["qacct", "-j", jobid])
        if acct.returncode != 0:  # finished but not yet in the accounting file
            return "running"
        fields = dict(
            line.split(None, 1) for line in acct.stdout.splitlines() if len(line.split()) > 1
        )
        failed = fields.get("failed", "0").split()[0]
        code = fields.get("exit_status", "0").split()[0]
        return "success" if failed == "0" and code == "0" else "failed"
    if kind == "lsf":
        out = _run(["bjobs", "-noheader", "-o", "stat", jobid]).stdout.strip()
        if out == "DONE":
            return "success"
        if out == "EXIT" or not out or "not found" in out:
            return "failed"
        return "running"  # PEND, RUN, PSUSP, USUSP, SSUSP, WAIT, PROV, UNKWN
    out = _run(["scontrol", "show", "job", jobid]).stdout
    match = re.search(r"JobState=(\w+)", out)
    if not match:  # gone from slurmctld (MinJobAge): ask accounting
        acct = _run(["sacct", "-X", "-n", "-P", "-o", "State", "-j", jobid]).stdout.split()
        state = acct[0] if acct else "UNKNOWN"
    else:
        state = match.group(1)
    if state == "COMPLETED":
        return "success"
    if state in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING"):
        return "running"
    if state in ("SUSPENDED", "PREEMPTED", "REQUEUE_HOLD", "REQUEUE_FED", "STAGE_OUT"):
        return "running"
    return "failed"


def cancel(jobids: list[str]) -> int:
    kind = scheduler()
    cmd = {"sge": ["qdel"], "lsf": ["bkill"], "slurm": ["scancel"]}[kind]
    return subprocess.run([*cmd, *jobids]).returncode
