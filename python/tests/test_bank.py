"""Bank round trip: create, add, get, list, update, delete, stats, verify, ingest, context manager."""

import json
import os

import numpy as np
import pytest

import msa
from conftest import DEMO, run_cli, small_docs


def test_round_trip(tmp_path, model):
    path = str(tmp_path / "b")
    with msa.Bank.create(path, model) as bank:
        assert not bank.read_only and not bank.closed
        ids = bank.add(["Alice lives in Paris.",
                        {"text": "Bob is 42.", "id": "bob", "namespace": "people", "metadata": {"age": 42}},
                        {"text": "Carol likes tea.", "id": 7}])
        assert ids == [0, 1, 2]
        d = bank.get(1)
        assert d["text"] == "Bob is 42." and d["external_id"] == "bob" and d["namespace"] == "people"
        assert d["metadata"] == {"age": 42} and d["version"] == 1 and d["tokens"] > 0 and d["chunks"] >= 1
        assert bank.get(2)["external_id"] == "7"
        assert [x["id"] for x in bank.list()] == [0, 1, 2]
        assert [x["id"] for x in bank.list(namespaces=["people"])] == [1]
        assert [x["id"] for x in bank.list(offset=1, limit=1)] == [1]
        assert "text" not in bank.list()[0] and bank.get(0)["text"] == "Alice lives in Paris."
        assert bank.update(0, "Alice lives in Lyon.") == 2
        assert bank.update("bob", "Bob is 43.") == 2
        assert bank.get(0)["text"] == "Alice lives in Lyon." and bank.get(0)["version"] == 2
        assert bank.get(1)["namespace"] == "people"  # update keeps the namespace
        assert bank.delete([2]) == 1 and bank.delete(2) == 0 and bank.delete(np.int64(2)) == 0
        assert bank.get(2) is None
        s = bank.stats()
        assert s["documents"] == 2 and s["stored_versions"] == 5 and s["tokens"] > 0
        bank.verify()
        bank.compact()
        assert bank.stats()["stored_versions"] == 2
    assert bank.closed
    with pytest.raises(ValueError, match="closed"):
        bank.list()
    # Reopened read-only: the same content, and what the CLI sees.
    with msa.Bank.open(path) as ro:
        assert ro.read_only
        assert [x["id"] for x in ro.list()] == [0, 1]
        cli = json.loads(run_cli("bank", "list", path, "--json"))
        assert cli == ro.list()
        cli_stats = json.loads(run_cli("bank", "stats", path, "--json"))
        mine = ro.stats()
        for key in ("generation", "documents", "stored_versions", "tokens", "chunks", "segments", "bytes"):
            assert cli_stats[key] == mine[key], key


def test_context_manager_releases_writer_lock(tmp_path, model):
    path = str(tmp_path / "b")
    with msa.Bank.create(path, model) as bank:
        bank.add(["one document"])
        with pytest.raises(msa.Error, match="writer|lock"):
            msa.Bank.open(path, read_only=False)
    with msa.Bank.open(path, read_only=False) as again:  # the lock was released on exit
        assert again.add(["two"]) == [1]


def test_open_without_model_writes_with_the_recorded_model(tmp_path, model):
    path = str(tmp_path / "b")
    msa.Bank.create(path, model).close()
    with msa.Bank.open(path, read_only=False) as bank:
        assert bank.add(small_docs(3)) == [0, 1, 2]


def test_ingest_jsonl_matches_cli(tmp_path, model):
    src = os.path.join(DEMO, "niah-2", "docs.jsonl")
    mine, theirs = str(tmp_path / "py"), str(tmp_path / "cli")
    with msa.Bank.create(mine, model) as bank:
        r = bank.ingest(src, batch_docs=64)
        assert r["added"] == len(r["ids"]) and r["skipped"] == 0 and r["tokens"] > 0
        again = bank.ingest(src)  # resumable: everything is already committed
        assert again["added"] == 0 and again["skipped"] == len(r["ids"]) and again["ids"] == r["ids"]
    run_cli("bank", "create", theirs)
    cli_ids = [int(x) for x in run_cli("bank", "add", "-q", theirs, src).split()]
    assert cli_ids == r["ids"]
    cli_list = json.loads(run_cli("bank", "list", theirs, "--json"))
    assert msa.Bank.open(mine).list() == cli_list
