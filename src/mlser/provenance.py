"""What produced a result: package versions, the git revision, the host, the time.

Written beside every trained model and every metrics file, so that a number in a table
can be traced back to the code and software that made it.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
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


def pretrained_records(models: Mapping[str, Any] | None) -> dict[str, Any]:
    """What each fetched pretrained model of a ``models`` section was (#23): see
    :func:`fetched_records`."""
    folders = [
        str((spec or {}).get("pretrained") or "")
        for kind in ("acoustic", "text")
        for spec in ((models or {}).get(kind) or {}).values()
    ]
    return fetched_records(folders)


def fetched_records(folders: Iterable[str | Path]) -> dict[str, Any]:
    """Per fetched folder (by name): source, revision and the commit it resolved to,
    ``weights`` (``random`` in a rehearsal), and the SHA-256 of its weight files, from
    the folder's fetch record; a folder without one is left out."""
    import json

    out: dict[str, Any] = {}
    for folder in map(Path, folders):
        record_path = folder / ".mlser_fetch.json"
        if not record_path.is_file():
            continue
        record = json.loads(record_path.read_text())
        out[folder.name] = {
            "source": record.get("source"),
            "revision": record.get("revision"),
            "commit": record.get("commit"),
            "weights": record.get("weights", "pretrained"),
            "sha256": {
                name: info.get("sha256")
                for name, info in record.get("files", {}).items()
                if name.endswith((".safetensors", ".bin"))
            },
        }
    return out


def provenance(models: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Versions, git revision, Python, host and UTC time of this process; with the
    ``models`` section a job loaded, the fetch record of each pretrained model."""
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
        **({"pretrained": pretrained_records(models)} if models else {}),
    }
