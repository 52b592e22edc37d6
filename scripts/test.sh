#!/usr/bin/env bash
# Builds and runs recdiff's whole test suite (the `ci` preset: AddressSanitizer + UndefinedBehavior-
# Sanitizer, warnings as errors). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset ci
cmake --build --preset ci -j 2
ctest --preset ci
