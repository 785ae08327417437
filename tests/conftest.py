"""Fixtures shared by test files: the finished tiny run (config/tiny.yaml), made once
per session because it takes minutes (tests/test_workflow.py, tests/test_report.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Rules run `python -m mlser`: make that the interpreter running the tests, so that
# `.venv/bin/python -m pytest` works without activating the environment.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    cmd += ["--cores", "2", "--configfile", str(REPO / "config" / "tiny.yaml")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir
