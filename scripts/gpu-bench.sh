#!/usr/bin/env bash
# The GPU comparison: recdiff's CudaBackend (bench/cuda/diffrec_e2e_cuda) against our
# PyTorch implementation of the same DiffRec (bench/pytorch/diffrec_torch.py), on the same device, in
# the same run; then the CUDA Google Benchmarks. Writes the merged JSON (both documents plus the
# speed-ups) to $OUT_DIR/gpu-bench.json (default build/gpu-bench/).
#
#   scripts/gpu-bench.sh [--dataset ml-1m_clean|netflix|both] [--epochs N] [--evals N]
#                        [--netflix-users N] [--tf32]
#
# Needs: nvcc, a CUDA GPU, python3 with torch (CUDA build) and numpy. Data: $RECDIFF_DATA_DIR (a
# folder holding ml-1m_clean/*.npy), default ../shared/data; the Netflix-sized data is generated.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build/gpu-release}
OUT_DIR=${OUT_DIR:-build/gpu-bench}
ARCH=${CUDA_ARCH:-native}
mkdir -p "$OUT_DIR"

if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-bench: no GPU visible (nvidia-smi -L failed)" >&2
  exit 77
fi

# Both programs take the same options.
args=("$@")

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRECDIFF_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DRECDIFF_BUILD_TESTS=OFF -DRECDIFF_BUILD_EXAMPLES=OFF \
      -DRECDIFF_BUILD_BENCHMARKS=OFF -DRECDIFF_BUILD_CUDA_BENCHMARKS=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target diffrec_e2e_cuda cuda_gemm_bench \
      cuda_diffrec_bench cuda_top_k_bench

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
  > "$OUT_DIR/nvidia-smi.csv" || true

echo "== recdiff CudaBackend" >&2
"$BUILD_DIR/bench/diffrec_e2e_cuda" --json "$OUT_DIR/recdiff.json" "${args[@]}"
echo "== PyTorch" >&2
python3 bench/pytorch/diffrec_torch.py --json "$OUT_DIR/torch.json" "${args[@]}" >/dev/null
echo "== Google Benchmarks" >&2
for b in cuda_gemm_bench cuda_diffrec_bench cuda_top_k_bench; do
  "$BUILD_DIR/bench/$b" --benchmark_format=json --benchmark_out="$OUT_DIR/$b.json" \
    --benchmark_out_format=json >/dev/null
done

python3 - "$OUT_DIR" <<'PY'
import json, os, sys
out = sys.argv[1]
load = lambda name: json.load(open(os.path.join(out, name)))
doc = {"recdiff": load("recdiff.json"), "pytorch": load("torch.json"), "speedup": {},
       "google_benchmark": {}}
for name in ("cuda_gemm_bench", "cuda_diffrec_bench", "cuda_top_k_bench"):
    path = os.path.join(out, name + ".json")
    if os.path.exists(path):
        doc["google_benchmark"][name] = json.load(open(path))["benchmarks"]
for ds, mine in doc["recdiff"].get("datasets", {}).items():
    theirs = doc["pytorch"].get("datasets", {}).get(ds, {})
    if mine.get("skipped") or theirs.get("skipped") or not theirs:
        continue
    s = {}
    for key in ("seconds_per_epoch", "seconds_per_eval_pass"):
        if mine.get(key) and theirs.get(key):
            s[key.replace("seconds_per_", "") + "_x"] = theirs[key] / mine[key]
    if mine.get("seconds_per_eval_pass") and theirs.get("seconds_per_eval_scoring"):
        s["eval_vs_torch_scoring_only_x"] = theirs["seconds_per_eval_scoring"] / mine["seconds_per_eval_pass"]
    doc["speedup"][ds] = s
path = os.path.join(out, "gpu-bench.json")
with open(path, "w") as f:
    json.dump(doc, f, indent=2)
print(json.dumps(doc["speedup"], indent=2))
print("gpu-bench: wrote", path)
PY
