#!/usr/bin/env bash
# Installs the official `openai` npm package (pinned) that tests/product/
# openai_client_test.cc drives `msa serve` with:
#   .cache/openai-client/node_modules/openai
# Idempotent: returns immediately when the pinned version is already there.
# Pinned to 6.x: 7.x needs Node >= 22, and CI has Debian 12's / the image's Node 20.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/.cache/openai-client"
VERSION="6.30.1"
PKG="$DIR/node_modules/openai/package.json"

if [ -f "$PKG" ] && grep -q "\"version\": \"$VERSION\"" "$PKG"; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch_openai_client: npm not found (run scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{"name":"msa-openai-client-test","private":true,"type":"module"}' > "$DIR/package.json"
echo "[fetch_openai_client] npm install openai@$VERSION into $DIR" >&2
(cd "$DIR" && npm install --no-audit --no-fund --loglevel=error "openai@$VERSION" >&2)
echo "[fetch_openai_client] $DIR/node_modules/openai ready" >&2
