"""The README's two quick-start commands, and CI running exactly the test one."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_quick_start_has_run_and_test_commands() -> None:
    run, test = quick_start_commands()
    assert run.endswith("&& snakemake --cores all --resources gpu=1")
    assert test.endswith("&& pytest")
    # the same install in both
    assert run.rsplit("&&", 1)[0] == test.rsplit("&&", 1)[0]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, test = quick_start_commands()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    # the browser install for the report test is CI's own setup, not the README's
    skip = ("#", "set ", "cd ", "command -v chromium ")
    commands = [line for line in ci if line and not line.startswith(skip)]
    assert commands == [test]
