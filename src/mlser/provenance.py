"""What produced a result: package versions, the git revision, the host, the time.

Written beside every trained model and every metrics file, so that a number in a table
can be traced back to the code and software that made it.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES: tuple[str, ...] = (
    "torch",
    "transformers",
    "numpy",
    "pandas",
    "scikit-learn",
    "jiwer",
    "snakemake",
    "mlser",
)


def git_revision(path: str | Path | None = None) -> str | None:
    """The commit of the checkout holding ``path`` (this package by default), with
    ``-dirty`` appended if it has uncommitted changes; None outside a git checkout."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def provenance() -> dict[str, Any]:
    """Versions, git revision, Python, host and UTC time of this process."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "git_revision": git_revision(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
