#!/usr/bin/env bash
# Builds and runs the whole test suite (what CI runs).
# MSA_SANITIZE=1 builds into build-asan/ with AddressSanitizer + UBSan.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/fetch_tokenizer.sh"
"$ROOT/scripts/fetch_openai_client.sh"
if [ "${MSA_SANITIZE:-0}" = 1 ]; then
  export MSA_BUILD_DIR="${MSA_BUILD_DIR:-$ROOT/build-asan}"
  "$ROOT/scripts/build.sh" -DMSA_SANITIZE=ON -DMSA_BUILD_BENCH=OFF
else
  export MSA_BUILD_DIR="${MSA_BUILD_DIR:-$ROOT/build}"
  "$ROOT/scripts/build.sh"
fi
ctest --test-dir "$MSA_BUILD_DIR" --output-on-failure -j2 --timeout 900
