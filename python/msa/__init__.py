"""msa — Memory Sparse Attention from Python (docs/python.md).

    import msa
    model = msa.Model()                      # the embedded tiny MSA model
    with msa.Bank.create("B", model) as bank:
        bank.add(["Alice lives in Paris.", {"text": "Bob is 42.", "id": "bob"}])
    a = msa.ask(model, msa.Bank.open("B"), "Where does Alice live?")
    a.answer, a.rounds, a.citations, a.timings, a.stop_reason

The engine is C++ (the `msa` CLI's own engine and memory layers); this module
only shapes its results. Engine errors raise msa.Error with the engine's
message; long calls release the GIL; Ctrl-C aborts a write before it commits.
"""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import _msa
from ._msa import Bank, Error, Model, __version__

__all__ = [
    "Answer",
    "Bank",
    "Citation",
    "EncodedDocument",
    "Error",
    "Model",
    "Ranking",
    "Round",
    "ask",
    "encode_documents",
    "route",
    "__version__",
]

for _cls in (Bank, Error, Model):
    _cls.__module__ = __name__  # msa.Error, not msa._msa.Error, in tracebacks

# A wheel (pip install .) carries the embedded model beside this file; a build
# tree (PYTHONPATH=build/python) finds it in the source tree instead.
_PACKAGED_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "msa-tiny")
if os.path.isfile(os.path.join(_PACKAGED_MODEL, "config.json")):
    _msa._set_default_model_dir(_PACKAGED_MODEL)


@dataclass(frozen=True)
class Round:
    """One retrieval round (one model call) of Memory Interleave."""

    generated_doc_ids: List[int]  # the [i] the model wrote in this call
    selected: Dict[int, List[Tuple[int, float]]]  # routing layer -> [(doc id, score)], best first


@dataclass(frozen=True)
class Citation:
    doc_id: int
    external_id: str
    score: Optional[float]  # best routing score of the document over all rounds and layers
    snippet: str


@dataclass(frozen=True)
class Answer:
    """The answer to a question with its provenance: the content of `msa ask --json`."""

    answer: str  # "" when the model wrote no answer marker (see stop_reason)
    rounds: List[Round]
    citations: List[Citation]
    tokens: Dict[str, int]  # {"prompt", "generated"}
    timings: Dict[str, float]  # milliseconds: {"route", "prefill", "decode"}
    stop_reason: str  # "answer", "eos", "round_tokens", "total_tokens", "rounds", "single_round"
    transcript: str = ""  # the model's full transcript (special tokens included)
    _json: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> Dict[str, Any]:
        """Exactly the object `msa ask --json` prints (JSON types: layer keys are strings)."""
        return copy.deepcopy(self._json)

    @classmethod
    def _from_json(cls, j: Dict[str, Any]) -> "Answer":
        transcript = j.pop("transcript", "")
        rounds = [
            Round(list(r["generated_doc_ids"]),
                  {int(layer): [(int(d), float(s)) for d, s in docs] for layer, docs in r["selected"].items()})
            for r in j["rounds"]
        ]
        cites = [Citation(c["doc_id"], c["external_id"], c["score"], c["snippet"]) for c in j["citations"]]
        return cls(j["answer"], rounds, cites, dict(j["tokens"]), dict(j["timings_ms"]), j["stop_reason"],
                   transcript, j)


def ask(model: Model, bank: Bank, question: str, *, namespaces: Optional[Sequence[str]] = None,
        max_tokens: int = 256, interleave: bool = True, top_k: Optional[int] = None, rounds: int = 8,
        temperature: float = 0.0) -> Answer:
    """Answer `question` from `bank` with Memory Interleave, as `msa ask --json` does.

    namespaces: the namespaces the question may read (None: all). top_k: documents
    per routing layer (None: the model's). rounds / max_tokens: caps on retrieval
    rounds and generated tokens. interleave=False retrieves once, then answers
    (`--single-round`). temperature 0 is greedy (the reference setting).
    """
    j = _msa._ask(model, bank, question, _namespaces(namespaces), max_tokens, interleave, top_k, rounds,
                  temperature)
    return Answer._from_json(j)


class Ranking(NamedTuple):
    """Documents a routing layer ranks for a question: ids (int64) and scores (float32), best first."""

    ids: Any  # numpy.ndarray[int64]
    scores: Any  # numpy.ndarray[float32]


def route(model: Model, bank: Bank, question: str, layer: Optional[int] = None, *,
          namespaces: Optional[Sequence[str]] = None, top_k: Optional[int] = None,
          k: Optional[int] = None) -> Union[Ranking, Dict[int, Ranking]]:
    """How `question` routes over `bank`, for evaluating routers.

    The question row is prefilled as the first round of ask() prefills it (each
    routing layer attends to its top_k selection); each routing layer also ranks
    k visible documents (None: all) with the queries it routed with, so
    ranking.ids[:top_k] are the documents ask() selects there in round 1.
    Returns the Ranking of `layer`, or {layer: Ranking} for every routing layer.
    """
    _require_numpy("route")
    out = {lay: Ranking(ids, scores)
           for lay, ids, scores in _msa._route(model, bank, question, _namespaces(namespaces), top_k, k)}
    if layer is None:
        return out
    if layer not in out:
        raise ValueError(f"layer {layer} is not a routing layer of the model (routing layers: {sorted(out)})")
    return out[layer]


@dataclass(frozen=True)
class EncodedDocument:
    """Stage-1 memory of one document: per routing layer, pooled chunk arrays of shape
    [chunks, kv_heads, head_dim] (float32): k = K̄, v = V̄, router_k = K̄ᴿ (what routing
    scores against; for a model without a decoupled router, the normalised K̄)."""

    num_tokens: int
    chunk_tokens: Any = field(repr=False)  # numpy.ndarray[int32] [chunks]: tokens pooled into each chunk
    k: Dict[int, Any] = field(repr=False)
    v: Dict[int, Any] = field(repr=False)
    router_k: Dict[int, Any] = field(repr=False)

    def __repr__(self):
        shapes = {layer: tuple(a.shape) for layer, a in self.k.items()}
        return f"EncodedDocument(num_tokens={self.num_tokens}, chunks={len(self.chunk_tokens)}, shapes={shapes})"


def encode_documents(model: Model, texts: Iterable[str], ids: Optional[Sequence[int]] = None, *,
                     batch_tokens: int = 4096) -> List[EncodedDocument]:
    """Encode documents as a bank stores them (formatted "[i]. text[i]" with
    i = ids[n], default n) and return their pooled K̄/V̄/K̄ᴿ per routing layer. The
    arrays own the engine's buffers (no copy)."""
    if isinstance(texts, str):
        raise TypeError("encode_documents() takes a list of texts, not one str")
    _require_numpy("encode_documents")
    return [EncodedDocument(n, counts, k, v, kr)
            for n, counts, k, v, kr in _msa._encode_documents(model, list(texts),
                                                               None if ids is None else list(ids), batch_tokens)]


def _require_numpy(what: str) -> None:
    try:
        import numpy  # noqa: F401
    except ImportError as e:
        raise ImportError(f"msa.{what} returns NumPy arrays, but numpy cannot be imported by {sys.executable} "
                          "(Debian: python3-numpy with /usr/bin/python3; see docs/python.md)") from e


def _namespaces(ns: Optional[Sequence[str]]) -> Optional[List[str]]:
    if ns is None:
        return None
    if isinstance(ns, str):
        return [ns]
    return list(ns)
