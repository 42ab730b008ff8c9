#!/usr/bin/env bash
# Reproduces the embedded default tiny MSA model (docs/training.md): the tiny
# BPE tokenizer, then the four stages the shipped model was trained with —
# stage 1 from scratch on mixed needle densities, stages 2-4 resumed on
# single-needle memories (cosine warm restarts).
# Usage: scripts/train_tiny.sh [OUT_DIR]     (about 110 minutes on 2 cores)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MSA="${MSA:-$ROOT/build/src/cli/msa}"
OUT="${1:-$ROOT/runs/msa-tiny}"
cd "$ROOT"
if [ ! -f models/msa-tiny/tokenizer.json ]; then
  "$MSA" train-tokenizer --out models/msa-tiny/tokenizer.json
fi
"$MSA" train --config configs/train-tiny-stage1.json --out "$OUT"
"$MSA" train --config configs/train-tiny-stage2.json --out "$OUT" --resume
"$MSA" train --config configs/train-tiny-stage3.json --out "$OUT" --resume
"$MSA" train --config configs/train-tiny-stage4.json --out "$OUT" --resume
echo "trained model: $OUT (copy config.json, model.safetensors, tokenizer.json into models/msa-tiny)"
