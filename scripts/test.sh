#!/usr/bin/env bash
# Builds and runs the whole test suite (what CI runs).
# MSA_SANITIZE=1 builds into build-asan/ with AddressSanitizer + UBSan (no Python package).
# The Python package's pytest suite is the CTest test python_pytest; it runs with
# the interpreter CMake chose (the first of /usr/bin/python3 and the python3 on
# PATH that imports numpy and pytest) or MSA_PYTHON=/path/to/python3.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/fetch_tokenizer.sh"
"$ROOT/scripts/fetch_openai_client.sh"
PY_ARGS=()
if [ -n "${MSA_PYTHON:-}" ]; then PY_ARGS=(-DPython3_EXECUTABLE="$MSA_PYTHON"); fi
if [ "${MSA_SANITIZE:-0}" = 1 ]; then
  export MSA_BUILD_DIR="${MSA_BUILD_DIR:-$ROOT/build-asan}"
  "$ROOT/scripts/build.sh" -DMSA_SANITIZE=ON -DMSA_BUILD_BENCH=OFF
else
  export MSA_BUILD_DIR="${MSA_BUILD_DIR:-$ROOT/build}"
  "$ROOT/scripts/build.sh" "${PY_ARGS[@]}"
  grep -h "msa Python package" "$MSA_BUILD_DIR.cmake.log" || true
fi
ctest --test-dir "$MSA_BUILD_DIR" --output-on-failure -j2 --timeout 900
