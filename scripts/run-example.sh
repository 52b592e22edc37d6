#!/usr/bin/env bash
# Builds the examples (Release) and runs the main one on the built-in synthetic dataset. Extra
# arguments go to the example program. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset release -DRECDIFF_BUILD_TESTS=OFF -DRECDIFF_BUILD_BENCHMARKS=OFF >/dev/null
example=${RECDIFF_EXAMPLE:-diffrec}
cmake --build --preset release --target "$example" -j 2
exec "build/release/examples/$example" "$@"
