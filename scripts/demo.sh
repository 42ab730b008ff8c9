#!/usr/bin/env bash
# The main job on the embedded default. Until the trained tiny MSA model ships
# (issue 6), the default is a RANDOM-weight tiny MSA checkpoint generated here
# with the real Qwen3 tokenizer: the pipeline (encode memory → route per layer
# → generate) runs end to end, but its answers are meaningless. The golden
# conformance run afterwards shows the engine reproduces the reference exactly.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MSA_BUILD_DIR:-$ROOT/build}"
MSA="$BUILD/src/cli/msa"
"$ROOT/scripts/fetch_tokenizer.sh"
TOK="$ROOT/.cache/tokenizers/qwen3/tokenizer.json"
MODEL="$ROOT/.cache/models/random-tiny-msa"
if [ ! -f "$MODEL/config.json" ]; then
  vocab=$(python3 -c "import json;t=json.load(open('$TOK'));print(max([v for v in t['model']['vocab'].values()]+[a['id'] for a in t['added_tokens']])+1)" 2>/dev/null || echo 151669)
  "$MSA" make-random-model --preset tiny --vocab "$vocab" --dtype bf16 --tokenizer "$TOK" --out "$MODEL"
fi
echo "== msa run on the demo corpus (RANDOM weights) =="
"$MSA" run --model "$MODEL" --docs "$ROOT/data/demo/docs.jsonl" -k 4 -n 24 \
  -q "What is the magic number for the silver falcon?" \
  -q "When was the lighthouse of Oslo completed?"
if [ -d "$ROOT/../shared/golden/set1" ]; then
  echo; echo "== golden conformance (reference implementation's outputs) =="
  "$MSA" conformance "$ROOT/../shared/golden/set1" --out "$BUILD/conformance_set1.safetensors"
fi
