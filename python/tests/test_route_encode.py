"""msa.route and msa.encode_documents: NumPy shapes and dtypes, consistency with ask and the bank."""

import math

import numpy as np
import pytest

import msa
from conftest import demo_question


def test_route_rankings(model, cli_bank):
    q = demo_question("niah-1")
    bank = msa.Bank.open(cli_bank)
    n_docs = bank.stats()["documents"]
    rankings = msa.route(model, bank, q["question"])
    assert sorted(rankings) == model.info["routing_layers"]
    a = msa.ask(model, bank, q["question"])
    top_k = model.info["top_k"]
    for layer, r in rankings.items():
        assert isinstance(r, msa.Ranking)
        assert r.ids.dtype == np.int64 and r.scores.dtype == np.float32
        assert r.ids.shape == r.scores.shape == (n_docs,)  # k=None: every visible document
        assert sorted(r.ids.tolist()) == list(range(n_docs))
        assert np.all(np.diff(r.scores) <= 0)  # best first
        # The head of each ranking is what ask() selected in its first round.
        sel = a.rounds[0].selected[layer]
        assert r.ids[:top_k].tolist() == [d for d, _ in sel]
        assert r.scores[:top_k].tolist() == [s for _, s in sel]
    # The needle ranks first on both routing layers (docs/training.md).
    assert all(r.ids[0] == q["gold_doc_ids"][0] for r in rankings.values())


def test_route_options(model, cli_bank):
    q = demo_question("niah-1")["question"]
    bank = msa.Bank.open(cli_bank)
    layer = model.info["routing_layers"][-1]
    ids, scores = msa.route(model, bank, q, layer=layer, k=5)
    assert ids.shape == scores.shape == (5,)
    full = msa.route(model, bank, q, layer=layer)
    assert ids.tolist() == full.ids[:5].tolist()
    none = msa.route(model, bank, q, namespaces=["elsewhere"])
    assert all(r.ids.shape == (0,) for r in none.values())


def test_encode_documents_shapes(model):
    texts = ["Alice lives in Paris.", "a longer document " * 20]
    docs = msa.encode_documents(model, texts)
    info = model.info
    P, H, d = info["pooling"], info["num_key_value_heads"], info["head_dim"]
    assert len(docs) == 2
    for i, (doc, text) in enumerate(zip(docs, texts)):
        # The bank's document format: "<|im_start|>[i]. text[i]<|im_end|>" (special tokens parsed).
        n = len(model.tokenize(f"<|im_start|>[{i}]. {text}[{i}]<|im_end|>", special=True))
        assert doc.num_tokens == n
        C = math.ceil(n / P)
        assert doc.chunk_tokens.dtype == np.int32 and doc.chunk_tokens.shape == (C,)
        assert int(doc.chunk_tokens.sum()) == n
        for arrays in (doc.k, doc.v, doc.router_k):
            assert sorted(arrays) == info["routing_layers"]
            for a in arrays.values():
                assert a.dtype == np.float32 and a.shape == (C, H, d) and a.flags.c_contiguous
                assert np.all(np.isfinite(a))
                assert not a.flags.owndata and a.base is not None  # the engine's buffer, not a copy


def test_encode_documents_matches_batching(model):
    texts = [f"document number {i} " * (i + 1) for i in range(6)]
    together = msa.encode_documents(model, texts)
    one_by_one = [msa.encode_documents(model, [t], ids=[i])[0] for i, t in enumerate(texts)]
    for a, b in zip(together, one_by_one):
        for layer in a.k:
            np.testing.assert_allclose(a.k[layer], b.k[layer], rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(a.router_k[layer], b.router_k[layer], rtol=1e-4, atol=1e-5)


def test_tokenize_and_info(model):
    ids = model.tokenize("hello world")
    assert ids and all(isinstance(i, int) for i in ids)
    assert model.detokenize(ids) == "hello world"
    assert model.tokenize("<|im_start|>", special=True) != model.tokenize("<|im_start|>")
    info = model.info
    assert info["is_msa"] and info["routing_layers"] and info["path"] == model.path
