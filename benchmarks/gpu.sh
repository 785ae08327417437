#!/usr/bin/env bash
# The GPU benchmarks of issue #10 (targets 1-3 with HuBERT-large shapes, random init), in
# one go, most important first, each under its own time limit so that a short lease still
# brings back the first ones. Run from the repository root with the project importable.
#
#   benchmarks/gpu.sh OUTDIR [UTTERANCES]      # default 400 utterances (about 30 min of audio)
#
# Writes OUTDIR/{gpu.txt, stage1_large.json, rtf_large.json, stage1_large_ckpt.json} and a
# .log beside each JSON.
set -uo pipefail
out=${1:?usage: benchmarks/gpu.sh OUTDIR [UTTERANCES]}
n=${2:-400}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$out/gpu.txt"

bench() { # name limit_s script args...
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" python3 "$@" --json "$out/$name.json" 2>&1 | tee "$out/$name.log"
    echo "== $name: exit ${PIPESTATUS[0]} after $((SECONDS - start)) s" | tee -a "$out/gpu.txt"
}

# 1 + 2: (a) plain, bucketing alone, (b) ours; peak memory of each
bench stage1_large 240 benchmarks/stage1_throughput.py --size large --utterances "$n" --ablation
# 3: real-time factor, batched by length vs one at a time
bench rtf_large 150 benchmarks/inference_rtf.py --size large --utterances "$n"
# 2: (b) with gradient checkpointing (memory against speed)
bench stage1_large_ckpt 150 benchmarks/stage1_throughput.py --size large --utterances "$n" --checkpointing
