"""Checks of a validated config that a JSON schema cannot express (paths on disk).

Called by the workflow before any job starts, so that a wrong corpus path stops the
run at once with the path and the config key to set, not mid-run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

#: What must exist under each real corpus root; relative paths, as in the releases.
IEMOCAP_REQUIRED = tuple(f"Session{i}/dialog/EmoEvaluation" for i in range(1, 6))
MELD_DEFAULT_PATHS: dict[str, str] = {
    "train_csv": "train_sent_emo.csv",
    "dev_csv": "dev_sent_emo.csv",
    "test_csv": "test_sent_emo.csv",
    "train_dir": "train_splits",
    "dev_dir": "dev_splits_complete",
    "test_dir": "output_repeated_splits_test",
}


#: Where the NVIDIA driver lists a machine's GPUs (one folder each).
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key."""


def neural_device(setting: str, gpus: Path = NVIDIA_GPUS) -> str:
    """``compute.device`` resolved on the machine that plans the run: ``auto`` is
    ``cuda`` where the NVIDIA driver lists a GPU, else ``cpu`` (no torch import, so
    planning stays fast)."""
    if setting != "auto":
        return setting
    return "cuda" if gpus.is_dir() and any(gpus.iterdir()) else "cpu"


def meld_paths(root: str | Path, overrides: dict[str, str] | None = None) -> dict[str, Path]:
    """MELD's six release paths, each relative to ``root`` unless given absolute."""
    paths = dict(MELD_DEFAULT_PATHS)
    paths.update(overrides or {})
    return {key: Path(root) / value for key, value in paths.items()}


def check_corpora(corpora: dict[str, Any], base: str | Path = ".") -> None:
    """Raise :class:`ConfigError` naming the key if an enabled real corpus is missing.

    ``corpora`` is the ``corpora`` section of a validated config; corpora that are
    synthesised by the pipeline are skipped (their trees do not exist before the run).
    """
    base = Path(base)
    for name, cfg in corpora.items():
        if not cfg.get("enabled", True) or cfg.get("synthesize") is not None:
            continue
        root = base / cfg["root"]
        key = f"corpora.{name}.root"
        if not root.is_dir():
            raise ConfigError(
                f"{key}: corpus root {root} does not exist; set `{key}` in your config "
                f"(or pass --config) to the folder of the {name.upper()} release"
            )
        if name == "iemocap":
            for rel in IEMOCAP_REQUIRED:
                if not (root / rel).is_dir():
                    raise ConfigError(
                        f"{key}: {root} is not an IEMOCAP_full_release folder: {root / rel} "
                        f"is missing; set `{key}` to the folder that holds Session1..Session5"
                    )
        elif name == "meld":
            for sub, path in meld_paths(root, cfg.get("paths")).items():
                present = path.is_file() if sub.endswith("_csv") else path.is_dir()
                if not present:
                    raise ConfigError(
                        f"corpora.meld.paths.{sub}: {path} does not exist; set "
                        f"`{key}` to the MELD.Raw folder or `corpora.meld.paths.{sub}` "
                        "to where your copy keeps it"
                    )


def check_folds(wanted: list[str] | None, schemes: set[str]) -> None:
    """Raise :class:`ConfigError` if ``experiments.folds`` names a fold that none of the
    selected experiments' split ``schemes`` has (it would silently select nothing)."""
    from mlser.data.folds import scheme_fold_names

    if wanted is None:
        return
    known = sorted({f for s in schemes for f in scheme_fold_names(s)})
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise ConfigError(
            f"experiments.folds: fold(s) {unknown} do not exist; the selected experiments' "
            f"splits ({', '.join(sorted(schemes))}) have the folds {known}"
        )


def check_export(
    export: dict[str, str] | None,
    matrix: dict[str, dict[str, Any]],
    corpora: list[str],
    runnable: Callable[[dict[str, Any]], str | None],
) -> None:
    """Raise :class:`ConfigError` naming the ``export.*`` key that cannot work.

    Args:
        export: the config's ``export`` section (``experiment``, ``fold``) or None.
        matrix: the experiment matrix.
        corpora: the enabled corpora.
        runnable: why an experiment cannot be trained yet, or None
            (:func:`mlser.experiments.unsupported_reason`).
    """
    from mlser.data.folds import scheme_fold_names

    if not export:
        return
    exp_id, fold = export["experiment"], export["fold"]
    if exp_id not in matrix:
        raise ConfigError(
            f"export.experiment: unknown experiment id {exp_id!r}; ids are listed in "
            "config/experiments/*.yaml"
        )
    row = matrix[exp_id]
    if row["model"]["family"] != "multilevel":
        raise ConfigError(
            f"export.experiment: {exp_id} is a {row['model']['family']} model; export "
            "supports the multilevel family"
        )
    why = runnable(row)
    if why:
        raise ConfigError(f"export.experiment: {exp_id} cannot be trained yet ({why})")
    if row["corpus"] not in corpora:
        raise ConfigError(
            f"export.experiment: {exp_id} is trained on {row['corpus']}, which is not "
            f"enabled (corpora.{row['corpus']}.enabled)"
        )
    folds = scheme_fold_names(row["split"])
    if fold not in folds:
        raise ConfigError(
            f"export.fold: {exp_id} ({row['split']} split) has no fold {fold!r}; "
            f"its folds are {folds}"
        )
