// msa.ask / msa.route / msa.encode_documents: the engine's question answering
// (Memory Interleave with provenance), routing rankings and stage-1 encodings.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "engine/answer_report.h"
#include "engine/bank_service.h"
#include "engine/question_routing.h"
#include "memory/encoder.h"
#include "model/prompt_format.h"

namespace msa::python {

namespace {

std::vector<std::string> read_namespaces(const std::optional<std::vector<std::string>>& ns) {
  return ns && !ns->empty() ? *ns : std::vector<std::string>{"*"};  // as `msa ask`: default all
}

engine::AskOptions ask_options(std::optional<int64_t> top_k, int rounds, int64_t max_tokens, float temperature,
                               bool interleave) {
  engine::AskOptions o;
  if (top_k) o.top_k = *top_k;
  o.rounds = rounds;
  o.max_tokens = max_tokens;
  o.temperature = temperature;
  o.interleave = interleave;
  return o;
}

void check_ranges(std::optional<int64_t> top_k, int rounds, int64_t max_tokens, float temperature) {
  // The CLI's ranges (cli/product_common.cc).
  if (top_k && *top_k < 1) throw py::value_error("top_k must be at least 1");
  if (rounds < 1 || rounds > 64) throw py::value_error("rounds must be in [1, 64]");
  if (max_tokens < 1 || max_tokens > 65536) throw py::value_error("max_tokens must be in [1, 65536]");
  if (!(temperature >= 0.f && temperature <= 2.f)) throw py::value_error("temperature must be in [0, 2]");
}

// A float32 array that owns `data` (moved, not copied): the encoder's buffers become the arrays' memory.
py::array_t<float> owned_array(std::vector<float>&& data, std::vector<py::ssize_t> shape) {
  auto* heap = new std::vector<float>(std::move(data));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  return py::array_t<float>(shape, heap->data(), owner);
}

}  // namespace

void bind_ask(py::module_& m) {
  m.def(
      "_ask",
      [](std::shared_ptr<PyModel> model, std::shared_ptr<PyBank> bank, const std::string& question,
         std::optional<std::vector<std::string>> namespaces, int64_t max_tokens, bool interleave,
         std::optional<int64_t> top_k, int rounds, float temperature) {
        if (!model || !bank) throw py::type_error("ask() needs a Model and a Bank");
        check_ranges(top_k, rounds, max_tokens, temperature);
        const auto b = bank->get();
        const auto& lm = model->loaded;
        const auto opts = engine::interleave_options(lm.model->config(),
                                                     ask_options(top_k, rounds, max_tokens, temperature, interleave));
        const auto ns = read_namespaces(namespaces);
        nlohmann::json j;
        std::string transcript;
        {
          py::gil_scoped_release nogil;
          bank->check_model(lm.model);
          engine::BankService service(b);
          const auto snap = service.snapshot(ns);
          const auto r = engine::answer_with_interleave(lm.model, *lm.tokenizer, *snap.view, snap.text, question, opts);
          j = engine::answer_to_json(r, snap.info);
          transcript = r.transcript;
        }
        py::object out = json_to_py(j);
        out["transcript"] = transcript;
        return out;
      },
      py::arg("model"), py::arg("bank"), py::arg("question"), py::arg("namespaces") = py::none(),
      py::arg("max_tokens") = engine::AskOptions{}.max_tokens, py::arg("interleave") = engine::AskOptions{}.interleave,
      py::arg("top_k") = py::none(), py::arg("rounds") = engine::AskOptions{}.rounds,
      py::arg("temperature") = engine::AskOptions{}.temperature);

  m.def(
      "_route",
      [](std::shared_ptr<PyModel> model, std::shared_ptr<PyBank> bank, const std::string& question,
         std::optional<std::vector<std::string>> namespaces, std::optional<int64_t> top_k, std::optional<int64_t> k) {
        if (!model || !bank) throw py::type_error("route() needs a Model and a Bank");
        if (top_k && *top_k < 1) throw py::value_error("top_k must be at least 1");
        if (k && *k < 1) throw py::value_error("k must be at least 1");
        const auto b = bank->get();
        const auto& lm = model->loaded;
        engine::AskOptions ao;
        if (top_k) ao.top_k = *top_k;
        const auto opts = engine::interleave_options(lm.model->config(), ao).engine;
        const auto ns = read_namespaces(namespaces);
        std::vector<engine::LayerRanking> rankings;
        {
          py::gil_scoped_release nogil;
          bank->check_model(lm.model);
          engine::BankService service(b);
          const auto snap = service.snapshot(ns);
          rankings = engine::rank_question(lm.model, *lm.tokenizer, *snap.view, question, opts, k.value_or(0));
        }
        py::list out;
        for (const auto& r : rankings) {
          py::array_t<int64_t> ids(py::ssize_t(r.ranked.size()));
          py::array_t<float> scores(py::ssize_t(r.ranked.size()));
          auto iv = ids.mutable_unchecked<1>();
          auto sv = scores.mutable_unchecked<1>();
          for (size_t i = 0; i < r.ranked.size(); ++i) {
            iv(py::ssize_t(i)) = r.ranked[i].doc;
            sv(py::ssize_t(i)) = r.ranked[i].score;
          }
          out.append(py::make_tuple(r.layer, ids, scores));
        }
        return out;
      },
      py::arg("model"), py::arg("bank"), py::arg("question"), py::arg("namespaces") = py::none(),
      py::arg("top_k") = py::none(), py::arg("k") = py::none());

  m.def(
      "_encode_documents",
      [](std::shared_ptr<PyModel> model, const std::vector<std::string>& texts, std::optional<std::vector<int64_t>> ids,
         int64_t batch_tokens) {
        if (!model) throw py::type_error("encode_documents() needs a Model");
        if (ids && ids->size() != texts.size())
          throw py::value_error(fmt::format("{} texts but {} ids", texts.size(), ids->size()));
        if (batch_tokens < 1) throw py::value_error("batch_tokens must be at least 1");
        const auto& lm = model->loaded;
        const auto& cfg = lm.model->config();
        if (!lm.model->is_msa() || cfg.msa.routing_layers.empty())
          throw msa::Error("model '" + lm.dir + "' has no routing layers: nothing to encode");
        std::vector<memory::EncodedDocument> encoded;
        {
          py::gil_scoped_release nogil;
          std::vector<std::vector<int32_t>> toks(texts.size());
          for (size_t i = 0; i < texts.size(); ++i)
            toks[i] = model::encode_memory_document(*lm.tokenizer, ids ? (*ids)[i] : int64_t(i), texts[i]);
          memory::MemoryEncoder enc(*lm.model);
          // Packed batches of about batch_tokens tokens (as a bank commit encodes them), Ctrl-C checked between.
          for (size_t b = 0; b < toks.size();) {
            size_t e = b;
            int64_t n = 0;
            while (e < toks.size() && (e == b || n + int64_t(toks[e].size()) <= batch_tokens))
              n += int64_t(toks[e++].size());
            check_interrupt();
            std::vector<std::vector<int32_t>> group(toks.begin() + long(b), toks.begin() + long(e));
            for (auto& x : enc.encode(group)) encoded.push_back(std::move(x));
            b = e;
          }
        }
        const py::ssize_t H = cfg.num_key_value_heads, d = cfg.head_dim;
        py::list out;
        for (auto& doc : encoded) {
          py::dict k, v, kr;
          for (size_t slot = 0; slot < cfg.msa.routing_layers.size(); ++slot) {
            const py::ssize_t C = doc.num_chunks;
            const int layer = cfg.msa.routing_layers[slot];
            k[py::int_(layer)] = owned_array(std::move(doc.pooled_k[slot]), {C, H, d});
            v[py::int_(layer)] = owned_array(std::move(doc.pooled_v[slot]), {C, H, d});
            if (slot < doc.routing_key.size()) kr[py::int_(layer)] = owned_array(std::move(doc.routing_key[slot]), {C, H, d});
          }
          py::array_t<int32_t> counts(py::ssize_t(doc.chunk_token_count.size()));
          std::copy(doc.chunk_token_count.begin(), doc.chunk_token_count.end(), counts.mutable_data());
          out.append(py::make_tuple(doc.num_tokens, counts, k, v, kr));
        }
        return out;
      },
      py::arg("model"), py::arg("texts"), py::arg("ids") = py::none(), py::arg("batch_tokens") = 4096);
}

}  // namespace msa::python
