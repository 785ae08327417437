"""What the ``python -m mlser`` steps share: option groups (``compute_args``,
``fold_args``, ``stage_args``, ``unseen_arg``) and what reads them back (``use_compute``,
``stage_kwargs``, ``unseen_flags``, ``torch_device``), and ``print_json``.

Like the commands modules, imports nothing at module level beyond argparse and pathlib
(json included: 2-4 ms of every start-up): every step's parser is built, for ``--help`` as
for a run, before the step imports what it uses.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def print_json(obj: object) -> None:
    import json

    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def compute_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA if any"
    )


def unseen_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--unseen-text",
        type=Path,
        default=None,
        help="a row that reads text: the corpus's unseen_text.tsv, to score the unseen- and "
        "seen-text test subsets too",
    )


def fold_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--folds", required=True, type=Path)
    p.add_argument("--fold", required=True)
    compute_args(p)


def stage_args(p: argparse.ArgumentParser) -> None:
    """What every family's stage trainer takes (read back by ``stage_kwargs``)."""
    fold_args(p)
    p.add_argument("--stage", type=int, choices=[1, 2], required=True)
    p.add_argument("--experiment", required=True, help="the experiment row as JSON")
    p.add_argument("--models", required=True, help="the config's models section as JSON")
    p.add_argument("--training", required=True, help="the stage's training settings as JSON")
    p.add_argument("--init", type=Path, default=None, help="the model this stage starts from")
    p.add_argument("--checkpoints", required=True, type=Path, help="epoch checkpoints (resume)")
    p.add_argument("--out", required=True, type=Path)


def stage_kwargs(args: argparse.Namespace) -> dict[str, object]:
    """What every family's stage trainer takes from the command line."""
    import json

    from mlser.data.runs import run_training

    return {
        "stage_number": args.stage,
        "experiment": {**json.loads(args.experiment), "fold": args.fold},
        "models": json.loads(args.models),
        "training": run_training(json.loads(args.training), args.fold),
        "out": args.out,
        "checkpoint_dir": args.checkpoints,
        "init": args.init,
    }


def use_compute(args: argparse.Namespace) -> None:
    """Torch threads from ``--threads``; ``--device cpu`` hides every GPU from this
    process (the trainers pick CUDA where they see one), so a job that the workflow
    planned as a CPU job, holding no `gpu` resource, stays off the GPUs."""
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            f"mlser {args.step}: --device cuda, but torch sees no CUDA device here "
            "(set compute.device to cpu or auto in the config)"
        )
    torch.set_num_threads(max(1, args.threads))


def torch_device(name: str) -> object:
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def unseen_flags(args: argparse.Namespace):
    """The fold's unseen-text flags where ``--unseen-text`` names the list (a row that
    reads text, #24), else None."""
    if getattr(args, "unseen_text", None) is None:
        return None
    from mlser.evaluation.scoring import read_unseen_text

    return read_unseen_text(args.unseen_text, args.fold)
