"""Every rule that trains or runs a neural network takes its GPU, threads and device from
`compute` (common.smk), and no other rule asks for a GPU (so on a GPU run `--resources
gpu=1` serialises exactly the GPU work, and a cluster gets GPU requests only where they
are used); the plans these give on a GPU and a CPU run are checked in test_workflow.py."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# `python -m mlser <step>` steps that run a network
NEURAL_STEPS = {"train-multilevel", "evaluate-multilevel", "pretrain-acoustic"}
NEURAL_STEPS |= {"extract-word-embeddings", "extract-ssl-features", "train-hierarchical"}
NEURAL_STEPS |= {"train-lemer", "evaluate-lemer", "evaluate-on-transcripts"}


def rules() -> dict[str, str]:
    """Rule name -> its body, from every rules file (rules defined under an ``if`` too)."""
    found = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^\s*rule (\w+):\n", smk.read_text(), flags=re.M)
        found.update(dict(zip(parts[1::2], parts[2::2], strict=True)))
    return found


def test_gpu_exactly_on_neural_rules() -> None:
    table = rules()
    assert len(table) >= 7
    for name, body in table.items():
        step = re.search(r"python -m mlser ([\w-]+)", body)
        assert step, f"rule {name} runs no `python -m mlser` step"
        neural = step.group(1) in NEURAL_STEPS
        asks_gpu = re.search(r"^\s+gpu=", body, flags=re.M) is not None
        assert asks_gpu == neural, f"rule {name}: gpu={asks_gpu}, runs a network: {neural}"
        if neural:  # what a scheduler needs besides the GPU
            assert re.search(r"^\s+gpu=NEURAL_GPU,", body, flags=re.M), name
            assert "threads: NEURAL_THREADS" in body and "device=NEURAL_DEVICE," in body, name
            # every step of the rule, chained ones (`... + evaluate-lemer ...`) too
            steps = len(re.findall(r"python -m mlser |\} \+ [a-z]", body))
            passed = r'--threads \{threads\}"?\s*"? --device \{params\.device\}'
            assert len(re.findall(passed, body)) == steps, name
            assert "mem_mb=" in body and "runtime=" in body, name
            assert "log:" in body and "benchmark:" in body, name


def test_no_rule_hard_codes_more_than_one_thread() -> None:
    """A rule asking for a fixed 2+ threads waits on a 2-core run until every other job
    has finished (codebook_frames did: the LE-MER speech chain then ran last, alone);
    threads come from `compute` (NEURAL_THREADS) or the config, or are 1."""
    for name, body in rules().items():
        threads = re.search(r"^\s+threads: (.+)$", body, flags=re.M)
        if threads is None:
            continue
        value = threads.group(1).strip()
        assert not (value.isdigit() and int(value) > 1), f"rule {name}: threads: {value}"
