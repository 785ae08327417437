"""Model-file size: complete files vs files that leave out their base (issue #10, disk).

A trained model's file used to hold every weight, frozen pretrained encoders included.
``mlser.training.model_files`` leaves out the tensors equal to the model's base (the weights
``from_pretrained`` gives, and for stage 2 the stage-1 model it started from) and
restores them on load. This script saves the same two trained stages both ways, in one
run, and reports bytes on disk and save / load seconds for each, with the ratios:

* stage 1: gao2025-exp14's architecture (HuBERT + text encoder + TGF), the text encoder
  frozen as on the demo (``--size demo``: the packaged MiniLM, really pretrained) or
  fine-tuned as in the papers (``--size large``: HuBERT-large + BERT-base shapes, random
  init, so nothing is "pretrained" and stage 1 keeps everything);
* stage 2: the stage-1 model with bottleneck adapters in every layer of both frozen
  encoders (gao2025), trained: what a paper row's stage-2 file holds.

"Training" here is one step of noise on every trainable parameter: the file sizes depend
on which tensors changed, not on how. Loads are checked exact against the saved model.
Usage::

    python benchmarks/model_files.py --threads 2
    python benchmarks/model_files.py --size large --json model_files_large.json  # ~8 GB RAM
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from workload import machine, parser, save_json, torch_args

from mlser.models.adapters import AdapterConfig
from mlser.models.multilevel import MultiLevelSER, demo_config, paper_config
from mlser.training.model_files import load_model_file, pretrained_state, save_model_file


def _config(size: str) -> Any:
    if size == "large":
        return paper_config(pretrained=False, fusion="tgf")
    config = demo_config(fusion="tgf")
    return dataclasses.replace(config, text=dataclasses.replace(config.text, freeze=True))


def _train(model: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=generator) * 1e-3)


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _variants(
    folder: Path,
    name: str,
    model: nn.Module,
    build: Callable[[dict[str, Any]], nn.Module],
    pretrained: dict[str, torch.Tensor],
    init: Path | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
) -> dict[str, dict[str, float]]:
    """Save ``model`` complete and compact; time each save and load; check the loads."""
    out: dict[str, dict[str, float]] = {}
    for variant in ("complete", "compact"):
        path = folder / f"{name}-{variant}.pt"
        started = time.perf_counter()
        if variant == "complete":  # what every model file was before mlser.training.model_files
            torch.save({"spec": {}, "state_dict": model.state_dict()}, path)
        else:
            save_model_file(path, {}, model, pretrained, init, init_state)
        saved = time.perf_counter()
        loaded, _ = load_model_file(path, build)
        load_s = time.perf_counter() - saved
        if not _same(loaded, model):
            raise RuntimeError(f"{path}: the loaded model differs from the saved one")
        out[variant] = {"bytes": path.stat().st_size, "save_s": saved - started, "load_s": load_s}
    out["ratio"] = {k: out["complete"][k] / max(out["compact"][k], 1e-9) for k in out["compact"]}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = parser(__doc__)
    ap.add_argument("--size", choices=["demo", "large"], default="demo")
    torch_args(ap)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = _config(args.size)
    adapters = AdapterConfig(bottleneck=32)

    def build1(spec: dict[str, Any]) -> nn.Module:
        torch.manual_seed(1)  # another init than the one trained: loads must not rely on it
        return MultiLevelSER(config)

    def build2(spec: dict[str, Any]) -> nn.Module:
        model = build1(spec)
        model.add_adapters(adapters)
        return model

    results: dict[str, Any] = {"benchmark": "model_files", "size": args.size}
    results["machine"] = machine(torch.device("cpu"))
    with tempfile.TemporaryDirectory(prefix="mlser-model-files-") as tmp:
        folder = Path(tmp)
        torch.manual_seed(0)
        stage1 = MultiLevelSER(config)
        pretrained = pretrained_state(stage1)
        _train(stage1, 0)
        results["stage1"] = _variants(folder, "stage1", stage1, build1, pretrained)
        init = folder / "stage1-compact.pt"
        stage2, _ = load_model_file(init, build1)
        init_state = {k: v.clone() for k, v in stage2.state_dict().items()}
        stage2.add_adapters(adapters)  # type: ignore[operator]
        _train(stage2, 1)
        results["stage2"] = _variants(folder, "stage2", stage2, build2, {}, init, init_state)
    print("| stage | file | MB | save s | load s |\n|---|---|---|---|---|")
    for stage in ("stage1", "stage2"):
        for variant in ("complete", "compact"):
            r = results[stage][variant]
            print(
                f"| {stage} | {variant} | {r['bytes'] / 1e6:.1f} | {r['save_s']:.2f} "
                f"| {r['load_s']:.2f} |"
            )
    for stage in ("stage1", "stage2"):
        r = results[stage]["ratio"]
        print(
            f"{stage}: complete / compact: {r['bytes']:.1f}x the bytes, "
            f"save {r['save_s']:.2f}x, load {r['load_s']:.2f}x"
        )
    save_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
