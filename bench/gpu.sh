#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md ("GPU figures"): one run on a GPU machine (estimated 6 min).
#
#   bash bench/gpu.sh fetch   here, with PyPI reachable: the wheels the GPU image lacks -> .whl/
#   bash bench/gpu.sh         there: installs .whl/ (if any) beside the image's jax, then runs
#                             `python3 -m lumos_jax.bench --gpu` (lumos_jax/bench.py `gpu_plan`):
#                             attention sweep at 8k-32k keys, the 1B layer's train step at 384p
#                             (tokens/s, MFU) for blockwise, pallas_gpu and cudnn, and one guided
#                             384p video from the 1B model. Results go to $OUT (default
#                             bench/results/gpu/): gpu.json (records), benchmarks_gpu.md (tables,
#                             with the fastest kernel per case), log.txt, nvidia-smi.txt.
#
# On this project's lent GPU machine (no network; jax 0.11 with CUDA, flax, optax and orbax
# installed): `bash bench/gpu.sh fetch` here, then the device tool's run with
# command "bash bench/gpu.sh" and carry [".whl"]. The wheels: ml_collections (configs), grain and
# array_record (imported by the config sections), portpicker (grain), and flax at the tested
# version of constraints.txt. `.whl/` is kept out of git through .git/info/exclude.
# On a CPU (tests/bench_test.py): OUT=/tmp/x BENCH_FLAGS=--quick WHEELS_DIR=none bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(ml_collections==1.1.0 grain==0.2.18 array_record==0.8.6 portpicker==1.6.0 flax==0.12.8)
PY=${PYTHON:-python3}

if [[ "${1:-}" == fetch ]]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
  platforms=()
  for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
    platforms+=(--platform "$p")
  done
  "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl "${WHEELS[@]}"
  ls -l .whl
  exit 0
fi

OUT=${OUT:-bench/results/gpu}
mkdir -p "$OUT"
WHEELS_DIR=${WHEELS_DIR:-.whl}
if compgen -G "$WHEELS_DIR/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/lumos_jax_site "$WHEELS_DIR"/*.whl
  export PYTHONPATH=/tmp/lumos_jax_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
# A time limit below the lent machine's 8 minutes; the records are written after every section.
timeout "${BENCH_TIMEOUT:-450}" "$PY" -m lumos_jax.bench --gpu ${BENCH_FLAGS:-} \
  --out="$OUT/gpu.json" --doc="$OUT/benchmarks_gpu.md" 2>&1 | tee "$OUT/log.txt"
