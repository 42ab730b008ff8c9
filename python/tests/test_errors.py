"""Engine errors raise msa.Error with the engine's message; argument errors raise TypeError/ValueError."""

import os

import pytest

import msa


def test_not_a_bank(tmp_path):
    with pytest.raises(msa.Error, match="is not a memory bank"):
        msa.Bank.open(str(tmp_path))
    assert issubclass(msa.Error, RuntimeError)


def test_bad_model_dir(tmp_path):
    with pytest.raises(msa.Error, match="nowhere' does not exist"):
        msa.Model(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(msa.Error, match="config.json"):
        msa.Model(str(tmp_path / "empty"))


def test_bank_exists(tmp_path, model):
    msa.Bank.create(str(tmp_path / "b"), model).close()
    with pytest.raises(msa.Error, match="already holds a memory bank"):
        msa.Bank.create(str(tmp_path / "b"), model)


def test_read_only_bank_refuses_writes(tmp_path, model):
    msa.Bank.create(str(tmp_path / "b"), model).close()
    with msa.Bank.open(str(tmp_path / "b")) as bank:
        with pytest.raises(msa.Error, match="read-only"):
            bank.add(["text"])


def test_document_errors(fresh_bank):
    with pytest.raises(TypeError, match="list of documents"):
        fresh_bank.add("one string")
    with pytest.raises(TypeError, match="document 1"):
        fresh_bank.add(["ok", 3])
    with pytest.raises(ValueError, match="unknown key \"txt\""):
        fresh_bank.add([{"txt": "typo"}])
    with pytest.raises(ValueError, match="empty"):
        fresh_bank.add([""])
    with pytest.raises(msa.Error, match="external id 'x' appears twice"):
        fresh_bank.add([{"text": "a", "id": "x"}, {"text": "b", "id": "x"}])
    assert fresh_bank.stats()["documents"] == 0  # nothing half-committed
    with pytest.raises(msa.Error, match="does not exist"):
        fresh_bank.update(5, "new text")
    with pytest.raises(msa.Error, match="no live document has external id 'nope'"):
        fresh_bank.update("nope", "new text")


def test_ask_argument_errors(model, fresh_bank):
    fresh_bank.add(["a document"])
    with pytest.raises(ValueError, match="rounds"):
        msa.ask(model, fresh_bank, "q", rounds=0)
    with pytest.raises(ValueError, match="max_tokens"):
        msa.ask(model, fresh_bank, "q", max_tokens=0)
    with pytest.raises(ValueError, match="not a routing layer"):
        msa.route(model, fresh_bank, "q", layer=0)
    with pytest.raises(TypeError):
        msa.encode_documents(model, "one string")
    fresh_bank.close()
    with pytest.raises(ValueError, match="closed"):
        msa.ask(model, fresh_bank, "q")


def test_wrong_model_for_bank(tmp_path, model):
    from conftest import run_cli
    other = str(tmp_path / "random-model")
    run_cli("make-random-model", "--preset", "tiny", "--vocab", str(model.info["vocab_size"]),
            "--tokenizer", os.path.join(model.path, "tokenizer.json"), "--out", other)
    msa.Bank.create(str(tmp_path / "b"), model).close()
    wrong = msa.Model(other)
    with pytest.raises(msa.Error, match="model"):
        msa.Bank.open(str(tmp_path / "b"), wrong)
    bank = msa.Bank.open(str(tmp_path / "b"))  # no model given: checked at the first question
    with pytest.raises(msa.Error, match="model"):
        msa.ask(wrong, bank, "q")
