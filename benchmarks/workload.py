"""What the benchmarks share: the IEMOCAP-like synthetic workload, the demo's model
sizes, peak-memory tracking and a description of the machine.

Imported by the scripts in this folder (``python benchmarks/<script>.py`` puts the folder
on ``sys.path``); not part of the ``mlser`` package.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16_000
# IEMOCAP's utterance durations: mean about 4.5 s, long tail to about 34 s
IEMOCAP_MEAN_SECONDS = 4.5
IEMOCAP_MAX_SECONDS = 34.0
IEMOCAP_MIN_SECONDS = 0.6
# the papers' effective batch: batch 2 x 8 accumulation steps (gao2025 §4.2)
PAPER_BATCH = 2
PAPER_ACCUM = 8


def iemocap_like_durations(n: int, seed: int) -> np.ndarray:
    """``n`` durations (s): a log-normal with IEMOCAP's mean, clipped to [0.6, 34] s.

    sigma 0.65 puts the 99.9th percentile near 30 s with mean 4.5 s, as in IEMOCAP; the
    longest utterance is forced to 34 s where ``n >= 100`` so the long tail is always there
    (it is what makes padding to the longest in a random batch expensive).
    """
    rng = np.random.default_rng(seed)
    sigma = 0.65
    mu = np.log(IEMOCAP_MEAN_SECONDS) - sigma**2 / 2
    seconds = np.clip(rng.lognormal(mu, sigma, size=n), IEMOCAP_MIN_SECONDS, IEMOCAP_MAX_SECONDS)
    if n >= 100:
        seconds[int(np.argmax(seconds))] = IEMOCAP_MAX_SECONDS
    return seconds


def demo_acoustic_spec(config: Path = REPO / "config" / "config.yaml") -> dict[str, Any]:
    """The demo's acoustic encoder spec (``models.acoustic.hubert_large`` of the demo config),
    read from the config so that the benchmark follows the demo."""
    import yaml

    models = yaml.safe_load(config.read_text(encoding="utf-8"))["models"]
    return dict(models["acoustic"]["hubert_large"])


def synthetic_batch(lengths: np.ndarray, seed: int) -> tuple[Any, Any]:
    """Speech-like noise (B, longest) zero-padded after each length, and the (B,) lengths."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    lens = torch.as_tensor(np.asarray(lengths), dtype=torch.long)
    wave = torch.randn(len(lens), int(lens.max()), generator=gen) * 0.1
    return wave * (torch.arange(wave.shape[1])[None] < lens[:, None]), lens


def _rss_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the process's high-water mark
        return max_rss_bytes()


def max_rss_bytes() -> int:
    """This process's resident-set high-water mark (imports included)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Peak memory of the code inside ``with PeakMemory(device) as peak:``, in bytes.

    CUDA: ``torch.cuda.max_memory_allocated`` after a reset (tensors only, the figure that
    decides whether a card fits). CPU: the resident set sampled every 20 ms, minus the
    resident set on entry (what the block added; ``ru_maxrss`` cannot be reset, so it only
    bounds the whole process).
    """

    def __init__(self, device: Any) -> None:
        self.device = device
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = 0
        else:
            self._base = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes() - self._base)
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
            self.peak = int(torch.cuda.max_memory_allocated())
        else:
            self._stop.set()
            assert self._thread is not None
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes() - self._base)


def machine(device: Any = None) -> dict[str, Any]:
    """The machine the figures came from: CPU model, cores, load, torch threads, GPU name."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if device is not None and getattr(device, "type", "") == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's argument parser, its module docstring as the help text."""
    return argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def torch_args(ap: argparse.ArgumentParser) -> None:
    """The options of a benchmark that runs torch: ``--threads`` and ``--json``."""
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")


def save_json(path: Path | None, obj: Any) -> None:
    """Write ``obj`` to ``path`` as indented JSON (nothing where ``path`` is None)."""
    if path is not None:
        path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def gib(n_bytes: float) -> float:
    return round(n_bytes / 2**30, 3)
