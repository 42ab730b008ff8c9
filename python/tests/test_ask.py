"""msa.ask gives the answer and provenance `msa ask --json` gives, on the same bank."""

import json

import pytest

import msa
from conftest import demo_question, run_cli


def cli_ask(bank, question, *options):
    # exit 3 = the model gave no answer (docs/usage.md); the JSON is printed all the same
    return json.loads(run_cli("ask", "--bank", bank, "--json", *options, question, ok_codes=(0, 3)))


def without_timings(j):
    j = dict(j)
    assert set(j.pop("timings_ms")) == {"route", "prefill", "decode"}
    return j


@pytest.mark.parametrize("kwargs, options", [
    ({}, []),
    ({"namespaces": ["niah"]}, ["--namespace", "niah"]),
    ({"namespaces": ["elsewhere"]}, ["--namespace", "elsewhere"]),
    ({"interleave": False, "top_k": 2}, ["--single-round", "--top-k", "2"]),
    ({"max_tokens": 8}, ["--max-tokens", "8"]),
])
def test_same_as_cli(model, cli_bank, kwargs, options):
    q = demo_question("niah-1")["question"]
    with msa.Bank.open(cli_bank) as bank:
        a = msa.ask(model, bank, q, **kwargs)
    assert without_timings(a.to_dict()) == without_timings(cli_ask(cli_bank, q, *options))


def test_answer_and_provenance(model, cli_bank):
    q = demo_question("niah-1")
    with msa.Bank.open(cli_bank) as bank:
        a = msa.ask(model, bank, q["question"])
    assert a.answer == q["answer"]
    assert a.stop_reason == "answer"
    layers = model.info["routing_layers"]
    first = a.rounds[0]
    assert sorted(first.selected) == layers
    for layer in layers:
        docs = first.selected[layer]
        assert len(docs) == model.info["top_k"]
        assert all(isinstance(d, int) and isinstance(s, float) for d, s in docs)
        assert [s for _, s in docs] == sorted((s for _, s in docs), reverse=True)
    assert q["gold_doc_ids"][0] in first.generated_doc_ids
    cited = {c.doc_id: c for c in a.citations}
    gold = cited[q["gold_doc_ids"][0]]
    assert gold.external_id == str(q["gold_doc_ids"][0]) and q["answer"] in gold.snippet
    assert a.tokens["prompt"] > 0 and a.tokens["generated"] > 0
    assert set(a.timings) == {"route", "prefill", "decode"} and all(t >= 0 for t in a.timings.values())
    assert "The answer to the question is:" in a.transcript


def test_interleave_multi_hop_same_as_cli(model, hop2_bank):
    q = demo_question("hop2-1")
    with msa.Bank.open(hop2_bank) as bank:
        a = msa.ask(model, bank, q["question"])
    assert without_timings(a.to_dict()) == without_timings(cli_ask(hop2_bank, q["question"]))
    assert len(a.rounds) >= 2  # Memory Interleave: a second retrieval round


def test_bank_built_from_python_answers_like_cli(tmp_path, model):
    """The other direction: the CLI reads a bank the Python package wrote."""
    from conftest import DEMO
    import os
    path = str(tmp_path / "b")
    with msa.Bank.create(path, model) as bank:
        bank.ingest(os.path.join(DEMO, "niah-3", "docs.jsonl"))
    q = demo_question("niah-3")
    a = msa.ask(model, msa.Bank.open(path), q["question"])
    assert without_timings(a.to_dict()) == without_timings(cli_ask(path, q["question"]))
