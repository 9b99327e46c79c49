#!/usr/bin/env bash
# The mode-collapse study at the published training lengths, on a lent GPU (device
# time is short: this script ends within 8 minutes).  In order of priority: the study's
# throughput on the GPU, then PacGAN's setup on the ring (vanilla and PacGAN4, 5 seeds
# each) for as much of its 400,000 steps as the measured rate fits in 100 s per method,
# then Metz et al.'s setup at its full 25,000 steps.  Each run has its own time limit;
# what finished is under $OUT.
#
#   OUT=/tmp/gpu_mc bash benchmarks/gpu_mode_collapse.sh
set -uo pipefail
OUT=${OUT:-/tmp/gan_jax_gpu_mode_collapse}
mkdir -p "$OUT/logs"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false
start=$(date +%s)
elapsed() { echo "[$(($(date +%s) - start)) s] $*"; }

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', \
flax.__version__, 'optax', optax.__version__, jax.devices())"
} >"$OUT/logs/env.txt" 2>&1
cat "$OUT/logs/env.txt"

elapsed "benchmark"
timeout 90 python3 -m benchmarks.mode_collapse_step --steps 2000 \
  >"$OUT/logs/mode_collapse_step.json" 2>"$OUT/logs/mode_collapse_step.err"
cat "$OUT/logs/mode_collapse_step.json"

# As many of PacGAN's 400,000 steps as fit 100 s per method at the benchmarked rate (a
# killed run writes nothing, so the length is chosen, not cut).
steps=$(python3 -c "import json; rows=[json.loads(l) for l in open('$OUT/logs/mode_collapse_step.json')]; \
rate=min(r['steps_per_s'] for r in rows if r['run'].startswith('pacgan/')); \
print(max(1000, min(400000, int(rate * 100) // 1000 * 1000)))" 2>/dev/null || echo 20000)
elapsed "pacgan setup, ring, $steps steps"
timeout 260 python3 -m experiments.mode_collapse --setup pacgan --mixtures ring \
  --methods vanilla_alt pacgan4 --steps "$steps" --out "$OUT/pacgan_ring" \
  >"$OUT/logs/pacgan_ring.log" 2>&1
tail -6 "$OUT/logs/pacgan_ring.log"

elapsed "unrolled setup, ring, 25k steps"
timeout 120 python3 -m experiments.mode_collapse --setup unrolled --mixtures ring \
  --out "$OUT/unrolled_ring" >"$OUT/logs/unrolled_ring.log" 2>&1
tail -6 "$OUT/logs/unrolled_ring.log"
elapsed "done"
