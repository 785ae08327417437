"""The linters, run as tests so that CI (the README's `pytest`, nothing else) runs them.

Each runs the tool from the repository root, as a developer would, and on failure the
assertion message is the tool's own output. Pinned versions: constraints.txt (dev extra).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Everything [tool.ruff] in pyproject.toml covers (src, tests, benchmarks and the
# cluster profile's scripts); its extend-exclude leaves out results and .snakemake.
PYTHON_PATHS = ["."]
SNAKEMAKE_PATHS = ["Snakefile", "workflow"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def passes(proc: subprocess.CompletedProcess[str]) -> None:
    """Fail with the tool's command line and output (not pytest's repr of the process)."""
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(proc.args[2:])} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )


def test_ruff_check() -> None:
    passes(run("ruff", "check", "--no-cache", *PYTHON_PATHS))


def test_ruff_format() -> None:
    passes(run("ruff", "format", "--check", "--no-cache", *PYTHON_PATHS))


def test_snakefmt() -> None:
    passes(run("snakefmt", "--check", "--compact-diff", *SNAKEMAKE_PATHS))


def test_snakemake_lint() -> None:
    # the default config (the embedded demo); exit 1 on any finding
    passes(run("snakemake", "--lint"))
