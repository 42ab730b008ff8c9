"""Fixtures of the msa Python package tests (run by CTest as python_pytest:
PYTHONPATH=build/python, MSA_BINARY=the CLI built beside it)."""

import json
import os
import subprocess

import pytest

import msa

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEMO = os.path.join(ROOT, "data", "demo")


def msa_binary():
    path = os.environ.get("MSA_BINARY") or os.path.join(ROOT, "build", "src", "cli", "msa")
    if not os.access(path, os.X_OK):
        pytest.skip(f"no msa binary at {path} (set MSA_BINARY)")
    return path


def run_cli(*args, ok_codes=(0,), **kw):
    """Runs the msa CLI; returns stdout (raises with stderr on an exit status not in ok_codes)."""
    r = subprocess.run([msa_binary(), *args], capture_output=True, text=True, **kw)
    if r.returncode not in ok_codes:
        raise AssertionError(f"msa {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def demo_question(task):
    with open(os.path.join(DEMO, task, "questions.jsonl")) as f:
        return json.loads(f.readline())


@pytest.fixture(scope="session")
def model():
    return msa.Model()


@pytest.fixture(scope="session")
def cli_bank(tmp_path_factory):
    """The niah-1 demo corpus ingested by the CLI (`msa bank create/add`) into namespace "niah"."""
    path = str(tmp_path_factory.mktemp("cli") / "bank")
    run_cli("bank", "create", path)
    run_cli("bank", "add", "-q", path, os.path.join(DEMO, "niah-1", "docs.jsonl"), "--namespace", "niah")
    return path


@pytest.fixture(scope="session")
def hop2_bank(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cli") / "hop2")
    run_cli("bank", "create", path)
    run_cli("bank", "add", "-q", path, os.path.join(DEMO, "hop2-1", "docs.jsonl"))
    return path


@pytest.fixture()
def fresh_bank(tmp_path, model):
    with msa.Bank.create(str(tmp_path / "b"), model) as bank:
        yield bank


def small_docs(n, words=12):
    vocab = "alpha beta gamma delta river stone copper rabbit magic number city lives tall bee".split()
    return [" ".join(vocab[(i * 7 + j * 3) % len(vocab)] for j in range(words)) + f" {i}." for i in range(n)]
