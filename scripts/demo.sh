#!/usr/bin/env bash
# The main job on the embedded default model (models/msa-tiny, trained by our
# own trainer): build a memory bank from the bundled synthetic corpus (once),
# answer a few of its questions with Memory Interleave — printing the
# documents every routing layer selected, the ids the model generated and the
# injected text — then run the golden conformance set, which shows the engine
# reproducing the authors' reference implementation tensor for tensor.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MSA_BUILD_DIR:-$ROOT/build}"
MSA="$BUILD/src/cli/msa"
MODEL="${MSA_MODEL:-$ROOT/models/msa-tiny}"
if [ ! -f "$MODEL/config.json" ]; then
  echo "demo: no trained model at $MODEL (config.json missing); using a RANDOM-weight tiny model instead"
  MODEL="$ROOT/.cache/models/random-tiny-msa-bpe"
  if [ ! -f "$MODEL/config.json" ]; then
    vocab=$(grep -o '"id": *[0-9]*' "$ROOT/models/msa-tiny/tokenizer.json" | grep -o '[0-9]*$' | sort -n | tail -1)
    "$MSA" make-random-model --preset tiny --vocab $((vocab + 1)) --dtype bf16 \
      --tokenizer "$ROOT/models/msa-tiny/tokenizer.json" --out "$MODEL"
  fi
fi
export MSA_MODEL="$MODEL"

demo_task() {  # $1 = corpus dir under data/demo, $2 = how many questions
  local corpus="$ROOT/data/demo/$1" bank="$ROOT/.cache/demo/bank-$1"
  if ! "$MSA" bank verify "$bank" >/dev/null 2>&1; then
    rm -rf "$bank"
    mkdir -p "$(dirname "$bank")"
    "$MSA" bank create "$bank" >/dev/null
    echo "== encoding data/demo/$1/docs.jsonl into $bank =="
    "$MSA" bank add "$bank" "$corpus/docs.jsonl" >/dev/null
  fi
  "$MSA" bank stats "$bank" | head -4
  head -n "$2" "$corpus/questions.jsonl" | while IFS= read -r line; do
    q=$(printf '%s' "$line" | sed -n 's/.*"question":"\([^"]*\)".*/\1/p')
    a=$(printf '%s' "$line" | sed -n 's/.*"answer":"\([^"]*\)".*/\1/p')
    g=$(printf '%s' "$line" | sed -n 's/.*"gold_doc_ids":\[\([^]]*\)\].*/\1/p')
    echo
    echo "Q: $q"
    echo "   (expected: $a, from documents [$g])"
    printf 'A: '
    "$MSA" ask --bank "$bank" "$q"
  done
}

echo "== single needle in a haystack of ~6k tokens (model: $MODEL) =="
for c in niah-1 niah-2 niah-3; do demo_task "$c" 1; echo; done
echo "== two hops: Memory Interleave retrieves one document, then the next =="
for c in hop2-1 hop2-2; do demo_task "$c" 1; echo; done

if [ -d "$ROOT/../shared/golden/set1" ]; then
  echo; echo "== golden conformance (reference implementation's outputs) =="
  "$MSA" conformance "$ROOT/../shared/golden/set1" --out "$BUILD/conformance_set1.safetensors"
fi
