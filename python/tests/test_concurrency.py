"""Threads calling ask at once (the GIL is released), and Ctrl-C during writes."""

import _thread
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import msa
from conftest import demo_question, small_docs


def test_threads_ask_concurrently(model, cli_bank, hop2_bank):
    niah, hop2 = demo_question("niah-1")["question"], demo_question("hop2-1")["question"]
    banks = {niah: msa.Bank.open(cli_bank), hop2: msa.Bank.open(hop2_bank)}
    expected = {q: msa.ask(model, b, q).to_dict() for q, b in banks.items()}

    def one(q):
        return q, msa.ask(model, banks[q], q).to_dict()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, [niah, hop2] * 4))
    for q, got in results:
        got, want = dict(got), dict(expected[q])
        got.pop("timings_ms"), want.pop("timings_ms")
        assert got == want


def test_gil_released_during_ask(model, hop2_bank):
    """Another Python thread keeps running while ask() works."""
    bank = msa.Bank.open(hop2_bank)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    start = time.perf_counter()
    msa.ask(model, bank, demo_question("hop2-1")["question"])
    elapsed = time.perf_counter() - start
    stop.set()
    t.join()
    assert len(ticks) >= max(3, int(elapsed * 20))  # a held GIL would allow ~none


def interrupt_after(seconds):
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_aborts_add_with_nothing_committed(fresh_bank):
    fresh_bank.add(["already there"])
    docs = small_docs(4000, words=40)  # many stage-1 batches
    timer = interrupt_after(0.3)
    finished = False
    with pytest.raises(KeyboardInterrupt):
        fresh_bank.add(docs)
        finished = True
        time.sleep(5)  # absorbs the interrupt if add() was faster
    timer.join()
    assert not finished, "add() finished before the interrupt; make the input larger"
    assert fresh_bank.stats()["documents"] == 1  # the interrupted commit left nothing behind
    fresh_bank.verify()
    assert fresh_bank.add(["after the interrupt"]) == [1]


def test_ctrl_c_keeps_whole_ingest_commits(tmp_path, model):
    src = tmp_path / "docs.jsonl"
    docs = small_docs(600, words=40)
    with open(src, "w") as f:
        for i, t in enumerate(docs):
            f.write(json.dumps({"id": f"d{i}", "text": t}) + "\n")
    start = time.perf_counter()
    msa.encode_documents(model, docs[:50])  # about one commit's work on this machine
    one_batch = time.perf_counter() - start
    with msa.Bank.create(str(tmp_path / "b"), model) as bank:
        timer = interrupt_after(3.5 * one_batch)  # a few commits in, out of 12
        finished = False
        with pytest.raises(KeyboardInterrupt):
            bank.ingest(str(src), batch_docs=50)
            finished = True
            time.sleep(5)
        timer.join()
        assert not finished, "ingest() finished before the interrupt; make the input larger"
        done = bank.stats()["documents"]
        assert done % 50 == 0  # only whole commits
        bank.verify()
        r = bank.ingest(str(src), batch_docs=50)  # resumes: adds exactly what is missing
        assert r["skipped"] == done and r["added"] == 600 - done


def test_done_when_one_liner(tmp_path, model, cli_bank):
    """The issue's check: PYTHONPATH=build/python python3 -c "import msa; ..." in a directory holding bank B."""
    os.symlink(cli_bank, tmp_path / "B")
    code = "import msa; print(msa.ask(msa.Model(), msa.Bank.open('B'), 'q').answer)"
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(msa.__file__)))  # build/python
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=package_parent))
    assert r.returncode == 0, r.stderr
    expected = msa.ask(model, msa.Bank.open(cli_bank), "q").answer
    assert r.stdout == expected + "\n"
