#!/usr/bin/env bash
# Reproduces the embedded default tiny MSA model (docs/training.md): the tiny
# BPE tokenizer (digit groups of up to 3), then one `msa train` run from
# scratch with configs/train-tiny.json.
# Usage: scripts/train_tiny.sh [OUT_DIR] [extra msa train args, e.g. --max-minutes 90]
#        (about 80 minutes on 2 cores)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MSA="${MSA:-$ROOT/build/src/cli/msa}"
OUT="${1:-$ROOT/runs/msa-tiny}"
shift || true
cd "$ROOT"
if [ ! -f models/msa-tiny/tokenizer.json ]; then
  "$MSA" train-tokenizer --out models/msa-tiny/tokenizer.json
fi
"$MSA" train --config configs/train-tiny.json --out "$OUT" "$@"
echo "trained model: $OUT (copy config.json, model.safetensors, tokenizer.json into models/msa-tiny)"
