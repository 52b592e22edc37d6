#!/usr/bin/env bash
# Installs recdiff's build and test dependencies from Debian's packages. Idempotent: packages that are
# already present are not downloaded again.
set -euo pipefail
pkgs=(g++ cmake ninja-build libeigen3-dev libxtensor-dev xtl-dev catch2 libbenchmark-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq "${missing[@]}"
fi
