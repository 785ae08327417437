"""Cluster submission: profiles/slurm and profiles/cluster-generic.

The `slurm` tests start a real single-node SLURM on this machine (Debian's slurm-wlm 22.05
and munge, apt-installed by the fixture when missing and when root with apt-get), run a
slice of the demo DAG (a CPU chain and one `gpu=1` stage-1 training) through the profiles
and compare the outputs with a local run of the same targets. The node declares one fake
GPU (gres.conf `Name=gpu Count=1 File=/dev/null`), so `--gpus=1` is scheduled for real.
The other tests only read the profiles and the submit script (no cluster needed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SLURM_PROFILE = REPO / "profiles" / "slurm"
GENERIC_PROFILE = REPO / "profiles" / "cluster-generic"
TINY = REPO / "config" / "tiny.yaml"
GPU_RULES = (
    "train_stage1",
    "train_stage2",
    "evaluate_multilevel",
    "evaluate_on_transcripts",
    "pretrain_acoustic",
    "train_lemer_stage1",
    "train_lemer_stage2",
    "evaluate_lemer",
    "lemer_sweep_point",
    "extract_word_embeddings",
    "extract_ssl_features",
    "train_hierarchical",
)
# rules of the demo slice whose results the thread count can change (float sums): both
# runs give them the same threads
SAME_THREADS = ("prepare_corpus", "pretrain_acoustic", "train_stage1")
# where client commands look for the configuration when SLURM_CONF is unset (the jobstep
# plugin unsets it before its inner `srun`): the configless cache of a compute node
RUN_CONF = Path("/run/slurm/conf")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel")
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def profile(path: Path) -> dict:
    return yaml.safe_load((path / "config.yaml").read_text())


def rule_blocks() -> dict[str, str]:
    """Rule name -> its text, from workflow/rules/*.smk."""
    blocks = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^\s*rule (\w+):\n", smk.read_text(), flags=re.M)
        blocks.update(zip(parts[1::2], parts[2::2], strict=True))
    return blocks


def declared(block: str, resource: str) -> int:
    match = re.search(rf"^\s+{resource}=(\d+),", block, flags=re.M)
    assert match, f"no {resource} in rule"
    return int(match.group(1))


# ---------------------------------------------------------------------- profiles, no cluster


def test_slurm_profile_sizes_every_gpu_rule() -> None:
    cfg, rules = profile(SLURM_PROFILE), rule_blocks()
    assert cfg["executor"] == "slurm"
    assert {"slurm_partition", "slurm_account"} <= set(cfg["default-resources"])
    assert set(cfg["set-resources"]) <= set(rules) and set(cfg["set-threads"]) <= set(rules)
    # partition and account are set in one place only
    for res in cfg["set-resources"].values():
        assert not {"slurm_partition", "slurm_account"} & set(res)
    assert sorted(r for r, text in rules.items() if "gpu=NEURAL_GPU" in text) == sorted(GPU_RULES)
    for rule in GPU_RULES:
        res = cfg["set-resources"][rule]
        assert res["gpu"] == 1
        # never below what the rule itself declares
        assert res["mem_mb"] >= declared(rules[rule], "mem_mb")
        assert res["runtime"] >= declared(rules[rule], "runtime")
        assert cfg["set-threads"][rule] >= 2
    assert cfg["rerun-incomplete"] is True and cfg["retries"] >= 1
    assert cfg["latency-wait"] >= 30 and cfg["jobs"] >= 1
    assert cfg["slurm-keep-successful-logs"] is True


def test_cluster_generic_profile_matches_the_slurm_sizes() -> None:
    generic, slurm = profile(GENERIC_PROFILE), profile(SLURM_PROFILE)
    assert generic["executor"] == "cluster-generic"
    for key in ("submit", "status", "cancel"):
        script = GENERIC_PROFILE / generic[f"cluster-generic-{key}-cmd"]
        assert script.is_file() and os.access(script, os.X_OK), script
    assert generic["set-threads"] == slurm["set-threads"]
    assert generic["set-resources"] == slurm["set-resources"]
    for key in ("mem_mb", "runtime"):
        assert generic["default-resources"][key] == slurm["default-resources"][key]


def fake_jobscript(path: Path, rule: str, threads: int, resources: dict) -> Path:
    props = {
        "type": "single",
        "rule": rule,
        "wildcards": {"corpus": "iemocap", "key": "bac32767d563", "fold": "s1"},
        "threads": threads,
        "resources": resources,
        "jobid": 7,
    }
    path.write_text(f"#!/bin/sh\n# properties = {json.dumps(props)}\necho job\n")
    return path


def dry_submit(jobscript: Path, scheduler: str) -> str:
    env = {**os.environ, "MLSER_SCHEDULER": scheduler, "MLSER_SUBMIT_DRY_RUN": "1"}
    run = subprocess.run(
        [str(GENERIC_PROFILE / "submit.py"), str(jobscript)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return run.stdout.strip()


def test_cluster_generic_submit_maps_the_resources(tmp_path: Path) -> None:
    res = {"mem_mb": 32000, "runtime": 1440, "gpu": 1, "queue": "q1", "project": "p1"}
    gpu = fake_jobscript(tmp_path / "gpu.sh", "train_stage1", 8, res)
    cpu = fake_jobscript(tmp_path / "cpu.sh", "make_folds", 1, {"mem_mb": 4000, "runtime": 60})

    sge = dry_submit(gpu, "sge")
    assert sge.startswith("qsub -terse -cwd -V") and sge.endswith(str(gpu))
    assert "-l h_vmem=4000M,h_rt=24:00:00,gpu=1" in sge and "-pe smp 8" in sge
    assert "-q q1 -P p1" in sge and "-N mlser.train_stage1.iemocap_bac32767d563_s1" in sge
    assert ".snakemake/cluster_logs/rule_train_stage1/iemocap_bac32767d563_s1/" in sge
    sge_cpu = dry_submit(cpu, "sge")
    assert "-l h_vmem=4000M,h_rt=1:00:00 " in sge_cpu and "-pe" not in sge_cpu

    lsf = dry_submit(gpu, "lsf")
    assert lsf.startswith("bsub -J mlser.train_stage1.iemocap_bac32767d563_s1")
    assert "-n 8 -R 'span[hosts=1] rusage[mem=32000]' -M 32000 -W 1440 -gpu num=1" in lsf
    assert "-gpu" not in dry_submit(cpu, "lsf")

    slurm = dry_submit(gpu, "slurm")
    assert "--cpus-per-task=8 --mem=32000 --time=1440 --gpus=1 -p q1 -A p1" in slurm
    assert "--gpus" not in dry_submit(cpu, "slurm")


# ---------------------------------------------------------------------- a real SLURM


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def missing_tools() -> list[str]:
    return [t for t in (*DAEMONS, *CLIENTS) if not shutil.which(t, path=SBIN_PATH)]


def install_slurm() -> None:
    """apt-get install slurm-wlm and munge where missing, or skip where that is impossible."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root: slurmd runs the jobs as root (SlurmdUser=root)")
    if not missing_tools():
        return
    if not shutil.which("apt-get"):
        pytest.skip(f"SLURM not installed ({missing_tools()}) and no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
    install += ["slurm-wlm", "munge"]
    # keep the packages' init scripts from starting daemons with their default config
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        done = run(install, env=env, timeout=600)
        if done.returncode != 0:  # stale or missing package lists
            run(["apt-get", "update", "-q"], env=env, timeout=600)
            done = run(install, env=env, timeout=600)
    finally:
        if own_policy:
            policy.unlink()
    if done.returncode != 0 or missing_tools():
        pytest.fail(f"apt-get install slurm-wlm munge failed:\n{done.stdout[-2000:]}{done.stderr}")


def free_ports(count: int) -> list[int]:
    """Distinct unused TCP ports (a private cluster never meets a real one on 6817/6818)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for(check, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Cluster:
    """slurmctld + slurmd (one node, one fake GPU) + munged, all under `root`."""

    root: Path
    partition: str = "mlsertest"
    env: dict[str, str] = field(default_factory=dict)
    node: str = ""
    cpus: int = 1
    mem_mb: int = 1000
    pid_files: dict[str, Path] = field(default_factory=dict)
    linked_conf: bool = False
    made_run_dir: bool = False

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    def tool(self, name: str) -> str:
        found = shutil.which(name, path=SBIN_PATH)
        assert found, name
        return found

    def write_config(self) -> None:
        # this host as slurmd sees it: "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105"
        line = run([self.tool("slurmd"), "-C"], check=True).stdout.splitlines()[0]
        hw = dict(item.split("=", 1) for item in line.split())
        self.node, self.cpus = hw.pop("NodeName"), int(hw["CPUs"])
        hw.pop("Gres", None)  # real GPUs found by autodetection: declare only the fake one
        hw["RealMemory"] = str(int(int(hw["RealMemory"]) * 0.9))  # never above the real one
        self.mem_mb = int(hw["RealMemory"])
        node = " ".join(f"{k}={v}" for k, v in hw.items())
        r, (ctld_port, slurmd_port) = self.root, free_ports(2)
        conf = f"""\
            ClusterName=mlsertest
            SlurmctldHost=localhost
            SlurmUser=root
            SlurmdUser=root
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket={r}/munge/munge.socket
            SlurmctldPort={ctld_port}
            SlurmdPort={slurmd_port}
            StateSaveLocation={r}/state
            SlurmdSpoolDir={r}/spool
            SlurmctldPidFile={r}/slurmctld.pid
            SlurmdPidFile={r}/slurmd.pid
            SlurmctldLogFile={self.logs}/slurmctld.log
            SlurmdLogFile={self.logs}/slurmd.log
            SlurmctldDebug=info
            SlurmdDebug=info
            MailProg=/bin/true
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core_Memory
            GresTypes=gpu
            MpiDefault=none
            SwitchType=switch/none
            ReturnToService=2
            # no slurmdbd: `sacct` cannot answer, the profile is run with squeue status
            # queries (which see finished jobs for MinJobAge seconds), and finished jobs
            # are recorded in a job completion log instead
            AccountingStorageType=accounting_storage/none
            JobAcctGatherType=jobacct_gather/none
            JobCompType=jobcomp/filetxt
            JobCompLoc={self.logs}/jobcomp.log
            MinJobAge=600
            NodeName={self.node} NodeAddr=127.0.0.1 {node} Gres=gpu:1 State=UNKNOWN
            PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
            """
        (self.etc / "slurm.conf").write_text(re.sub(r"(?m)^ +", "", conf))
        # slurmd 22.05 counts a GPU only with a device file: without File= it registers
        # "gres/gpu count reported lower than configured (0 < 1)" and the node drains
        (self.etc / "gres.conf").write_text("AutoDetect=off\nName=gpu Count=1 File=/dev/null\n")

    def start(self) -> None:
        for sub in ("etc", "log", "state", "spool", "munge"):
            (self.root / sub).mkdir(mode=0o755, parents=True, exist_ok=True)
        self.write_config()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
        self.env["SLURM_CONF"] = str(self.etc / "slurm.conf")
        self.env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), SBIN_PATH])
        self.link_conf()

        munge = self.root / "munge"
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.pid_files = {
            "munged": munge / "munged.pid",
            "slurmctld": self.root / "slurmctld.pid",
            "slurmd": self.root / "slurmd.pid",
        }
        self.daemon(
            "munged",
            "--force",
            f"--socket={munge}/munge.socket",
            f"--key-file={key}",
            f"--pid-file={munge}/munged.pid",
            f"--log-file={self.logs}/munged.log",
            f"--seed-file={munge}/munged.seed",
        )
        self.daemon("slurmctld", "-f", str(self.etc / "slurm.conf"))
        self.daemon("slurmd", "-f", str(self.etc / "slurm.conf"))

        def node_idle() -> bool:
            out = self.client("sinfo", "-h", "-N", "-o", "%N %T").stdout.split()
            return out[-1:] == ["idle"]

        try:
            wait_for(node_idle, 60, "the node to be idle")
        except TimeoutError:
            node = self.client("scontrol", "show", "node").stdout
            pytest.fail(f"SLURM node not idle:\n{node}\n{self.log_tails()}")

    def link_conf(self) -> None:
        """/run/slurm/conf -> our etc/, as slurmd does on a configless compute node."""
        if RUN_CONF.is_symlink() and not RUN_CONF.exists():
            RUN_CONF.unlink()  # left behind by a killed run of this test
        if RUN_CONF.exists() or RUN_CONF.is_symlink():
            pytest.skip(f"{RUN_CONF} exists: a SLURM is configured on this host already")
        self.made_run_dir = not RUN_CONF.parent.exists()
        RUN_CONF.parent.mkdir(parents=True, exist_ok=True)
        RUN_CONF.symlink_to(self.etc)
        self.linked_conf = True

    def daemon(self, name: str, *args: str) -> None:
        started = run([self.tool(name), *args], env=self.env, timeout=60)
        if started.returncode != 0:
            pytest.fail(f"{name} did not start: {started.stderr}\n{self.log_tails()}")
        wait_for(lambda: self.pid(name) is not None, 30, f"{name}'s PID file")

    def pid(self, name: str) -> int | None:
        try:
            return int(self.pid_files[name].read_text().split()[0])
        except (KeyError, OSError, ValueError, IndexError):
            return None

    def client(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return run([self.tool(cmd[0]), *cmd[1:]], env=self.env, timeout=60)

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            for log in sorted(self.logs.glob("*.log"))
        )

    def stop(self) -> None:
        if self.pid("slurmctld") is not None:  # jobs first, then the daemons, by PID
            jobs = self.client("squeue", "-h", "-o", "%i").stdout.split()
            if jobs:
                self.client("scancel", *jobs)
                time.sleep(2)
        for name in reversed(DAEMONS):
            pid = self.pid(name)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
                wait_for(lambda p=pid: not alive(p), 15, f"{name} to stop")
            except ProcessLookupError:
                pass
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
        if self.linked_conf and RUN_CONF.is_symlink():
            RUN_CONF.unlink()
            if self.made_run_dir and not any(RUN_CONF.parent.iterdir()):
                RUN_CONF.parent.rmdir()


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    for plugin in ("snakemake_executor_plugin_slurm", "snakemake_executor_plugin_cluster_generic"):
        pytest.importorskip(plugin, reason="the executor plugins: pip install -e '.[slurm]'")
    install_slurm()
    if Path("/etc/slurm/slurm.conf").exists():
        pytest.skip("/etc/slurm/slurm.conf exists: this host belongs to a real SLURM cluster")
    cluster = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def stage1_target() -> str:
    """The stage-1 model that gao2025-exp02 (speech, SER + ASR) is scored with, fold s1."""
    from mlser.experiments import load_matrix, stage1_key

    key = stage1_key(load_matrix(REPO / "config" / "experiments")["gao2025-exp02"])
    return f"results/iemocap/stage1/{key}/s1/model.pt"


def snakemake(
    workdir: Path, targets: list[str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`snakemake` on config/tiny.yaml; the targets go first, as every list-valued
    option (--set-threads, --configfile, ...) would swallow them."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    return run([*cmd, *targets, "--configfile", str(TINY), *args], env=env, timeout=300)


def threads() -> int:
    return min(2, os.cpu_count() or 1)


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same targets run locally, for comparison."""
    workdir = tmp_path_factory.mktemp("local")
    n = threads()
    targets = ["results/iemocap/manifest.tsv", stage1_target()]
    done = snakemake(
        workdir,
        targets,
        "--cores",
        str(n),
        "--set-threads",
        *(f"{rule}={n}" for rule in SAME_THREADS),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def scaled_to(cluster: Cluster, cfg: dict) -> list[str]:
    """The profile's own resources, shrunk to fit the one small test node: every
    --default-resources, --set-resources and --set-threads entry of the profile is kept,
    with the test partition and account and at most the node's CPUs and a quarter of its
    memory (CLI values replace the profile's whole entry, so all of it is repeated)."""
    n, mem = min(threads(), cluster.cpus), cluster.mem_mb // 4
    site = {"slurm_partition", "slurm_account", "gpu_model", "slurm_extra", "constraint", "qos"}
    default = {k: v for k, v in cfg["default-resources"].items() if k not in site}
    default |= {"slurm_partition": cluster.partition, "slurm_account": "mlsertest"}
    default["mem_mb"] = min(default["mem_mb"], mem)
    args = ["--default-resources", *(f"{k}={v}" for k, v in default.items())]
    args += ["--set-resources"]
    for rule, res in cfg["set-resources"].items():
        res = {k: v for k, v in res.items() if k not in site}
        res["mem_mb"], res["runtime"] = min(res["mem_mb"], mem), 30
        args += [f"{rule}:{k}={v}" for k, v in res.items()]
    threads_of = {rule: min(t, n) for rule, t in cfg["set-threads"].items()}
    threads_of |= dict.fromkeys(SAME_THREADS, n)  # as in the local run
    return [*args, "--set-threads", *(f"{r}={t}" for r, t in threads_of.items())]


def assert_same_outputs(slurm_dir: Path, local_dir: Path, model: str | None) -> None:
    # the manifest holds absolute wav paths: identical once the working folder is masked
    ours, theirs = (
        (d / "results/iemocap/manifest.tsv").read_text().replace(str(d), "<workdir>")
        for d in (slurm_dir, local_dir)
    )
    assert ours == theirs
    if model is None:
        return
    import torch

    records = [json.loads((d / f"{model}.json").read_text()) for d in (slurm_dir, local_dir)]
    for record in records:
        for epoch in record["history"]:
            epoch.pop("seconds")
            epoch.pop("train_seconds")
        # when each run happened differs by design; what ran it must not
        record["provenance"].pop("utc")
    (ours, theirs), key = records, "history"
    assert ours["best_valid_ua"] == theirs["best_valid_ua"]
    assert {k: v for k, v in ours.items() if k != key} == {
        k: v for k, v in theirs.items() if k != key
    }
    for mine, other in zip(ours[key], theirs[key], strict=True):
        assert mine == pytest.approx(other, rel=1e-6)
    a, b = (
        torch.load(d / model, map_location="cpu", weights_only=False)
        for d in (slurm_dir, local_dir)
    )
    assert a["spec"] == b["spec"] and a["state_dict"].keys() == b["state_dict"].keys()
    for name, tensor in a["state_dict"].items():
        assert torch.allclose(tensor, b["state_dict"][name], rtol=1e-5, atol=1e-7), name


@pytest.mark.slurm
def test_demo_slice_runs_through_the_slurm_profile(
    slurm_cluster: Cluster, local_reference: Path, tmp_path: Path
) -> None:
    cluster, model = slurm_cluster, stage1_target()
    done = snakemake(
        tmp_path,
        ["results/iemocap/manifest.tsv", model],
        "--workflow-profile",
        str(SLURM_PROFILE),
        *scaled_to(cluster, profile(SLURM_PROFILE)),
        # no slurmdbd here: with the default `sacct`, status queries fail and the plugin
        # loses track of its jobs (the run hangs); squeue sees them for MinJobAge seconds
        "--slurm-status-command",
        "squeue",
        # the plugin waits this long for its first status query and 10 s more for each
        # next one without a finished job: the test's seconds-long jobs then wait ~12 s
        # each instead of 20-40 (the chain of six jobs ran 136 s with 5)
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "5",
        "--verbose",
        env=cluster.env,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:] + cluster.log_tails()

    # every job went through sbatch: its SLURM id, rule and log as the plugin reports them
    submitted = re.findall(
        r"has been submitted with SLURM jobid (\d+) \(log: (\S+/slurm_logs/rule_(\w+)/\S+)\)",
        log,
    )
    jobs = {rule: (jobid, Path(path)) for jobid, path, rule in submitted}
    assert sorted(jobs) == [
        "make_folds",
        "prepare_corpus",
        "pretrain_acoustic",
        "synthesize_corpus",
        "synthesize_read_speech",
        "train_stage1",
    ]
    calls = {
        m.group(2): m.group(1)
        for m in re.finditer(r"sbatch call: (sbatch .*?--comment rule_(\w+?)_wildcards\S*.*)", log)
    }
    completed = (cluster.logs / "jobcomp.log").read_text()
    for rule, (jobid, slurm_log) in jobs.items():
        # the per-job log under .snakemake/slurm_logs/rule_<rule>/<wildcards>/<jobid>.log
        assert slurm_log.parent.parent.parent == tmp_path / ".snakemake" / "slurm_logs"
        assert "1 of 1 steps (100%) done" in slurm_log.read_text(), slurm_log
        # SLURM's own record of the job: finished, named after the rule and wildcards
        assert re.search(rf"JobId={jobid} .*JobState=COMPLETED", completed), rule
        shown = cluster.client("scontrol", "show", "job", jobid).stdout
        wildcard = (
            "hubert_large" if rule in ("synthesize_read_speech", "pretrain_acoustic") else "iemocap"
        )
        assert f"Comment=rule_{rule}_wildcards_{wildcard}" in shown
        assert "Account=mlsertest" in shown and f"Partition={cluster.partition}" in shown
        # the GPU rule asks SLURM for one GPU and its threads as CPUs; the others do not
        gpu = rule in ("train_stage1", "pretrain_acoustic")
        assert ("TresPerJob=gres:gpu:1" in shown) == gpu, shown
        assert ("--gpus=1" in calls[rule]) == gpu, calls[rule]
    assert f"--cpus-per-task={min(threads(), cluster.cpus)}" in calls["train_stage1"]

    assert_same_outputs(tmp_path, local_reference, model)


@pytest.mark.slurm
def test_cluster_generic_profile_runs_on_slurm(
    slurm_cluster: Cluster, local_reference: Path, tmp_path: Path
) -> None:
    cluster = slurm_cluster
    env = {**cluster.env, "MLSER_SCHEDULER": "slurm"}
    done = snakemake(
        tmp_path,
        ["results/iemocap/manifest.tsv"],
        "--workflow-profile",
        str(GENERIC_PROFILE),
        "--default-resources",
        f"queue={cluster.partition}",
        "project=mlsertest",
        f"mem_mb={min(4000, cluster.mem_mb // 4)}",
        "runtime=30",
        "--set-threads",
        f"prepare_corpus={min(threads(), cluster.cpus)}",
        "--seconds-between-status-checks",
        "3",
        env=env,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:] + cluster.log_tails()
    ids = re.findall(r"Submitted job \d+ with external jobid '(\d+)'", log)
    assert len(ids) == 2
    completed = (cluster.logs / "jobcomp.log").read_text()
    for jobid in ids:
        assert re.search(rf"JobId={jobid} .*JobState=COMPLETED", completed)
    logs = sorted(p.relative_to(tmp_path) for p in tmp_path.glob(".snakemake/cluster_logs/*/*/*"))
    assert [str(p.parent) for p in logs] == [
        ".snakemake/cluster_logs/rule_prepare_corpus/iemocap",
        ".snakemake/cluster_logs/rule_synthesize_corpus/iemocap",
    ]
    assert_same_outputs(tmp_path, local_reference, None)
