#!/usr/bin/env python3
"""The msa Python package end to end (docs/python.md): build a bank from a JSONL
file, ask a question with Memory Interleave, print the provenance, and inspect
how each routing layer ranks the documents.

    bash scripts/build.sh
    PYTHONPATH=build/python python3 examples/python_quickstart.py            # the bundled demo corpus
    PYTHONPATH=build/python python3 examples/python_quickstart.py docs.jsonl "your question" --bank /tmp/B
"""

import argparse
import json
import os
import tempfile

import msa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo", "niah-1")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("docs", nargs="?", default=os.path.join(DEMO, "docs.jsonl"),
                    help='JSONL, one {"text", optional "id", "namespace", "metadata"} per line')
    ap.add_argument("question", nargs="?", help="default: the demo corpus' question")
    ap.add_argument("--bank", help="bank directory (default: a temporary one)")
    ap.add_argument("--model", help="model directory (default: the embedded tiny MSA model)")
    args = ap.parse_args()
    question = args.question
    if question is None:
        with open(os.path.join(DEMO, "questions.jsonl")) as f:
            question = json.loads(f.readline())["question"]
    bank_dir = args.bank or os.path.join(tempfile.mkdtemp(prefix="msa-quickstart-"), "bank")

    model = msa.Model(args.model)
    print(f"model {model.path}: routing layers {model.info['routing_layers']}, top-k {model.info['top_k']}")

    # 1. A bank from a JSONL file (as `msa bank add`: resumable, one commit per 256 documents).
    if not os.path.exists(os.path.join(bank_dir, "MANIFEST")):
        msa.Bank.create(bank_dir, model).close()
    with msa.Bank.open(bank_dir, model, read_only=False) as bank:
        r = bank.ingest(args.docs)
        print(f"bank {bank_dir}: added {r['added']}, already there {r['skipped']}; "
              f"{bank.stats()['documents']} documents")

    bank = msa.Bank.open(bank_dir, model)  # read-only: any number of readers

    # 2. A question with Memory Interleave and provenance (the content of `msa ask --json`).
    a = msa.ask(model, bank, question)
    print(f"\nQ: {question}\nA: {a.answer or '(no answer)'}   [stop: {a.stop_reason}]")
    for i, rnd in enumerate(a.rounds, 1):
        print(f"  round {i}: the model wrote ids {rnd.generated_doc_ids}")
        for layer, docs in rnd.selected.items():
            print(f"    layer {layer} selected " + " ".join(f"[{d}] {s:.3f}" for d, s in docs))
    for c in a.citations:
        print(f"  cites [{c.doc_id}] id={c.external_id} score={c.score}: {c.snippet[:70]}")
    print(f"  timings (ms): {a.timings}")

    # 3. Routing as NumPy arrays: every visible document ranked by each routing layer.
    rankings = msa.route(model, bank, question)
    for layer, (ids, scores) in rankings.items():
        best = ", ".join(f"[{d}] {s:.3f}" for d, s in zip(ids[:3].tolist(), scores[:3].tolist()))
        print(f"  layer {layer} ranks {len(ids)} documents; best: {best}")

    # 4. Stage-1 memory of the best-ranked document: pooled K/V/router keys per routing layer.
    layer = model.info["routing_layers"][-1]
    best_id = int(rankings[layer].ids[0])
    doc = msa.encode_documents(model, [bank.get(best_id)["text"]], ids=[best_id])[0]
    print(f"  document [{best_id}]: {doc.num_tokens} tokens -> K {doc.k[layer].shape} {doc.k[layer].dtype}, "
          f"router K {doc.router_k[layer].shape} at layer {layer}")

if __name__ == "__main__":
    main()
