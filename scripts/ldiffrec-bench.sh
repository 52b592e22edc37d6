#!/usr/bin/env bash
# L-DiffRec's resources and speed (docs/benchmarks.md): bench/cpu/ldiffrec_e2e for L-DiffRec and
# DiffRec on ml-1m_clean and on a synthetic 100,000 users x 200,000 items set (one process per
# model, so that each peak RSS is that model's), and our PyTorch port of the authors' L-DiffRec
# (bench/pytorch/ldiffrec_torch.py) on ml-1m_clean in the same run. Writes the merged JSON, with the
# speed-ups, to $OUT_DIR/ldiffrec-bench.json (default build/ldiffrec-bench/).
#
#   scripts/ldiffrec-bench.sh [--threads N] [--skip-synthetic] [--skip-torch]
#
# Needs: a Release build with benchmarks (BUILD_DIR, default build/release; configured and built
# here), python3 with torch and numpy for the PyTorch side (PYTHON, default python3). Data:
# $RECDIFF_DATA_DIR (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build/release}
OUT_DIR=${OUT_DIR:-build/ldiffrec-bench}
PYTHON=${PYTHON:-python3}
export RECDIFF_DATA_DIR=${RECDIFF_DATA_DIR:-$(cd .. && pwd)/shared/data}
export OMP_WAIT_POLICY=passive
threads=2
synthetic=1
torch=1
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --skip-synthetic) synthetic=0; shift ;;
    --skip-torch) torch=0; shift ;;
    *) echo "ldiffrec-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT_DIR"

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRECDIFF_CUDA=OFF \
      -DRECDIFF_BUILD_TESTS=OFF -DRECDIFF_BUILD_EXAMPLES=OFF -DRECDIFF_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$BUILD_DIR" --target ldiffrec_e2e

e2e="$BUILD_DIR/bench/ldiffrec_e2e"
for model in ldiffrec diffrec; do
  "$e2e" --model "$model" --threads "$threads" --json "$OUT_DIR/$model-ml1m.json"
  if [ "$synthetic" = 1 ]; then
    "$e2e" --model "$model" --synthetic --threads "$threads" --json "$OUT_DIR/$model-synthetic.json"
  fi
done
if [ "$torch" = 1 ]; then
  "$PYTHON" bench/pytorch/ldiffrec_torch.py --data "$RECDIFF_DATA_DIR/ml-1m_clean" --time-only 3 \
            --threads "$threads" --json "$OUT_DIR/torch-ml1m.json"
fi

"$PYTHON" - "$OUT_DIR" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None
merged = {k: load(k + ".json") for k in
          ["ldiffrec-ml1m", "diffrec-ml1m", "ldiffrec-synthetic", "diffrec-synthetic", "torch-ml1m"]}
ld, dr, torch = merged["ldiffrec-ml1m"], merged["diffrec-ml1m"], merged["torch-ml1m"]
ratios = {}
if ld and dr and not ld.get("skipped"):
    ratios["parameters_ldiffrec_over_diffrec"] = ld["parameters"] / dr["parameters"]
    ratios["peak_rss_ldiffrec_over_diffrec"] = ld["peak_rss_mb"] / dr["peak_rss_mb"]
if ld and torch and not ld.get("skipped"):
    ratios["epoch_speedup_over_torch"] = torch["seconds_per_epoch"] / ld["seconds_per_epoch"]
    ratios["eval_round_speedup_over_torch"] = torch["seconds_per_eval_round"] / ld["seconds_per_eval_round"]
merged["ratios"] = ratios
json.dump(merged, open(os.path.join(out, "ldiffrec-bench.json"), "w"), indent=2)
print(json.dumps(ratios, indent=2))
PY
