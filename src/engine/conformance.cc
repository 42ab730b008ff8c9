#include "engine/conformance.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include <unistd.h>

#include "core/error.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "memory/encoder.h"
#include "memory/bank.h"
#include "memory/in_memory_bank.h"
#include "model/model.h"
#include "model/safetensors.h"

namespace msa::engine {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json(const fs::path& p) {
  std::ifstream f(p);
  MSA_CHECK(f.good(), "cannot read '{}'", p.string());
  try {
    return json::parse(f);
  } catch (const json::exception& e) {
    throw_error("{}: invalid JSON: {}", p.string(), e.what());
  }
}

std::vector<int32_t> int_list(const json& j, const std::string& what) {
  MSA_CHECK(j.is_array(), "inputs.json: '{}' must be an array of integers", what);
  std::vector<int32_t> v;
  for (const json& x : j) {
    MSA_CHECK(x.is_number_integer(), "inputs.json: '{}' must contain integers", what);
    v.push_back(x.get<int32_t>());
  }
  return v;
}

const json& field(const json& j, const char* key, const std::string& where) {
  MSA_CHECK(j.is_object() && j.contains(key), "inputs.json: missing '{}' in {}", key, where);
  return j[key];
}

OutputTensor f32_tensor(std::vector<int64_t> shape, std::vector<float> data) {
  OutputTensor t;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.f32 = std::move(data);
  return t;
}

OutputTensor i64_tensor(std::vector<int64_t> shape, std::vector<int64_t> data) {
  OutputTensor t;
  t.dtype = DType::I64;
  t.shape = std::move(shape);
  t.i64 = std::move(data);
  return t;
}

}  // namespace

const char* conformance_memory_name(ConformanceMemory m) {
  switch (m) {
    case ConformanceMemory::InMemoryF32: return "in-memory-f32";
    case ConformanceMemory::BankBF16: return "bank-bf16";
    case ConformanceMemory::BankInt8: return "bank-int8";
  }
  return "?";
}

ConformanceMemory parse_conformance_memory(const std::string& name) {
  for (auto m : {ConformanceMemory::InMemoryF32, ConformanceMemory::BankBF16, ConformanceMemory::BankInt8})
    if (name == conformance_memory_name(m)) return m;
  throw_error("unknown conformance memory '{}' (in-memory-f32 | bank-bf16 | bank-int8)", name);
}

namespace {

// A persistent bank holding the set's documents (ids 0..n-1 in order), as the
// product stores them; removed with the object.
struct TemporaryBank {
  fs::path dir;
  std::unique_ptr<memory::Bank> bank;
  std::shared_ptr<const memory::BankSnapshot> snapshot;
  ~TemporaryBank() {
    snapshot.reset();
    bank.reset();
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

void open_temporary_bank(TemporaryBank* tb, const std::string& set_dir, std::shared_ptr<const model::Model> model,
                         const std::vector<int32_t>& template_ids, const std::vector<std::vector<int32_t>>& docs,
                         ConformanceMemory mode, const std::string& work_dir) {
  const fs::path base = work_dir.empty() ? fs::temp_directory_path() : fs::path(work_dir);
  tb->dir = base / fmt::format("msa_conformance_bank_{}_{}", ::getpid(), conformance_memory_name(mode));
  fs::remove_all(tb->dir);
  memory::BankCreateOptions co;
  using memory::bankfmt::VecType;
  co.routing_keys = mode == ConformanceMemory::BankInt8 ? VecType::Int8 : VecType::BF16;
  co.content_k = co.content_v = VecType::BF16;  // what `msa bank create` stores by default
  co.template_prefix_ids = template_ids;
  memory::Bank::create(tb->dir.string(), set_dir, co);
  memory::BankOpenOptions bo;
  bo.writer = true;
  bo.model = model;
  bo.model_dir = set_dir;
  bo.routing_storage = mode == ConformanceMemory::BankInt8 ? memory::KeyStorage::Int8 : memory::KeyStorage::BF16;
  tb->bank = memory::Bank::open(tb->dir.string(), bo);
  std::vector<memory::NewDocument> in;
  std::vector<memory::PreparedDocument> prepared;
  for (size_t i = 0; i < docs.size(); ++i) {
    memory::NewDocument d;
    d.text = fmt::format("golden document {}", i);
    in.push_back(std::move(d));
    prepared.push_back({docs[i], nullptr});
  }
  const auto ids = tb->bank->add_prepared(in, prepared);
  for (size_t i = 0; i < ids.size(); ++i) MSA_ASSERT(ids[i] == int64_t(i));
  tb->snapshot = tb->bank->snapshot_all();
}

}  // namespace

ConformanceResult run_conformance(const std::string& set_dir, const ConformanceOptions& copt) {
  const bool on_bank = copt.memory != ConformanceMemory::InMemoryF32;
  const fs::path dir(set_dir);
  const json inputs = read_json(dir / "inputs.json");
  const json expected = read_json(dir / "expected.json");
  MSA_CHECK(expected.contains("tensors") && expected["tensors"].is_object(),
            "{}: missing 'tensors' index", (dir / "expected.json").string());

  auto model = model::Model::load(set_dir);
  const auto& cfg = model->config();
  MSA_CHECK(cfg.msa.present, "{}: conformance sets need an MSA config", set_dir);
  const int64_t Hkv = cfg.num_key_value_heads, Hq = cfg.num_attention_heads, d = cfg.head_dim;
  const auto& routing_layers = cfg.msa.routing_layers;

  // Engine settings recorded with the set; they must agree with the config.
  const json& eng = field(inputs, "engine", "inputs.json");
  EngineOptions opts;
  opts.top_k = eng.contains("doc_top_k") ? eng["doc_top_k"].get<int64_t>() : default_top_k(cfg);
  opts.capture_routing_queries = true;
  if (eng.contains("pooling_kernel_size"))
    MSA_CHECK(eng["pooling_kernel_size"].get<int>() == cfg.msa.pooling_kernel_size,
              "inputs.json pooling_kernel_size {} != config {}", eng["pooling_kernel_size"].get<int>(),
              cfg.msa.pooling_kernel_size);
  if (eng.contains("router_layers")) {
    std::vector<int> rl;
    for (auto& x : eng["router_layers"]) rl.push_back(x.get<int>());
    MSA_CHECK(rl == routing_layers, "inputs.json router_layers disagree with config.json");
  }
  const int64_t decode_steps = eng.value("decode_steps", int64_t(8));

  // Stage 1.
  memory::MemoryEncoder enc(*model);
  memory::InMemoryBank bank(int(routing_layers.size()), Hkv, d);
  const std::vector<int32_t> template_ids =
      int_list(field(field(inputs, "template_prefix", "inputs.json"), "token_ids", "template_prefix"),
               "template_prefix.token_ids");
  bank.set_template(enc.encode_template(template_ids));
  const json& docs = field(inputs, "documents", "inputs.json");
  MSA_CHECK(docs.is_array(), "inputs.json: 'documents' must be an array");
  std::vector<std::vector<int32_t>> doc_tokens;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (docs[i].contains("doc_id"))
      MSA_CHECK(docs[i]["doc_id"].get<int64_t>() == int64_t(i),
                "inputs.json: documents must be listed in doc_id order (entry {} has doc_id {})", i,
                docs[i]["doc_id"].get<int64_t>());
    doc_tokens.push_back(int_list(field(docs[i], "token_ids", "a document"), "token_ids"));
  }
  for (const auto& e : enc.encode(doc_tokens)) bank.add(e);
  TemporaryBank persistent;
  if (on_bank) open_temporary_bank(&persistent, set_dir, model, template_ids, doc_tokens, copt.memory, copt.work_dir);
  const memory::MemoryView* view = on_bank ? static_cast<const memory::MemoryView*>(persistent.snapshot.get()) : &bank;

  // Stage 2.
  const json& q = field(inputs, "query", "inputs.json");
  const auto ids = int_list(field(q, "token_ids", "query"), "query.token_ids");
  const auto tags = int_list(field(q, "doc_ids", "query"), "query.doc_ids");
  const auto pos = int_list(field(q, "position_ids", "query"), "query.position_ids");
  Session session(model, view, opts);
  std::vector<float> prefill_logits;
  session.prefill(ids, tags, pos, &prefill_logits, true);
  const int64_t V = cfg.vocab_size, Lq = int64_t(ids.size());

  // Stage 3: greedy decoding.
  std::vector<int64_t> generated, positions;
  std::vector<float> decode_logits;
  int32_t next = argmax(prefill_logits.data() + (Lq - 1) * V, V);
  std::vector<float> step_logits;
  for (int64_t s = 0; s < decode_steps; ++s) {
    generated.push_back(next);
    positions.push_back(session.next_position());
    session.decode(next, &step_logits);
    decode_logits.insert(decode_logits.end(), step_logits.begin(), step_logits.end());
    next = argmax(step_logits.data(), V);
  }

  // Everything the engine can report, by reference name.
  std::map<std::string, OutputTensor> all;
  const int64_t C = bank.num_chunks();
  {
    std::vector<int64_t> owner, index, count;
    for (int64_t doc = 0; doc < bank.num_docs(); ++doc)
      for (int64_t c = bank.chunk_begin()[size_t(doc)]; c < bank.chunk_begin()[size_t(doc) + 1]; ++c) {
        owner.push_back(doc);
        index.push_back(c - bank.chunk_begin()[size_t(doc)]);
        count.push_back(bank.chunk_token_count()[size_t(c)]);
      }
    all["memory.chunk_doc_id"] = i64_tensor({C}, owner);
    all["memory.chunk_index_in_doc"] = i64_tensor({C}, index);
    all["memory.chunk_token_count"] = i64_tensor({C}, count);
  }
  const auto& tmpl = bank.template_kv();
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = "memory.layer" + std::to_string(l) + ".";
    all[p + "template_k"] = f32_tensor({tmpl.num_tokens, Hkv, d}, tmpl.k[size_t(l)]);
    all[p + "template_v"] = f32_tensor({tmpl.num_tokens, Hkv, d}, tmpl.v[size_t(l)]);
  }
  const auto rule = cfg.routing_score_rule(opts.cosine_scores);
  for (size_t slot = 0; slot < routing_layers.size(); ++slot) {
    const int l = routing_layers[slot];
    const std::string p = "memory.layer" + std::to_string(l) + ".";
    all[p + "pooled_k"] = f32_tensor({C, Hkv, d}, bank.pooled_k(int(slot)));
    all[p + "pooled_v"] = f32_tensor({C, Hkv, d}, bank.pooled_v(int(slot)));
    all[p + "pooled_router_k"] = f32_tensor({C, Hkv, d}, bank.routing_keys(int(slot)));

    const LayerRouting& lr = session.routing()[slot];
    MSA_ASSERT(lr.layer == l);
    const std::string r = "routing.layer" + std::to_string(l) + ".";
    all[r + "query"] = f32_tensor({lr.routing_tokens, Hq, d}, lr.query);
    std::vector<float> u = lr.query;
    for (float& x : u) x *= rule.alpha;
    memory::RoutingQuery rq{u.data(), lr.routing_tokens, Hq, d, cfg.msa.head_reduce,
                            cfg.msa.query_reduce, cfg.msa.chunk_reduce, opts.top_k};
    std::vector<float> chunk_scores, doc_scores;
    bank.score_all(int(slot), rq, &chunk_scores, &doc_scores);
    all[r + "chunk_scores"] = f32_tensor({C}, chunk_scores);
    all[r + "doc_scores"] = f32_tensor({bank.num_docs()}, doc_scores);
    std::vector<int64_t> top_ids, ctx;
    std::vector<float> top_scores;
    for (auto& s : lr.selected) {
      top_ids.push_back(s.doc);
      top_scores.push_back(s.score);
    }
    for (int64_t doc : lr.context_docs)
      for (int64_t c = bank.chunk_begin()[size_t(doc)]; c < bank.chunk_begin()[size_t(doc) + 1]; ++c)
        ctx.push_back(c);
    all[r + "topk_doc_ids"] = i64_tensor({int64_t(top_ids.size())}, top_ids);
    all[r + "topk_scores"] = f32_tensor({int64_t(top_scores.size())}, top_scores);
    all[r + "context_chunk_ids"] = i64_tensor({int64_t(ctx.size())}, ctx);
  }
  all["prefill.logits"] = f32_tensor({Lq, V}, prefill_logits);
  all["decode.generated_ids"] = i64_tensor({decode_steps}, generated);
  all["decode.position_ids"] = i64_tensor({decode_steps}, positions);
  all["decode.logits"] = f32_tensor({decode_steps, V}, decode_logits);
  all["decode.next_token_after_last"] = i64_tensor({1}, {next});

  ConformanceResult res;
  res.log.push_back(fmt::format("memory path: {}", conformance_memory_name(copt.memory)));
  auto decided_by_bank_path = [](const std::string& name) {
    auto ends_with = [&](std::string_view suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (name.rfind("routing.", 0) == 0)
      return ends_with(".topk_doc_ids") || ends_with(".topk_scores") || ends_with(".context_chunk_ids") ||
             ends_with(".query");
    return name.rfind("prefill.", 0) == 0 || name.rfind("decode.", 0) == 0;
  };
  int left_out = 0;
  for (auto it = expected["tensors"].begin(); it != expected["tensors"].end(); ++it) {
    if (on_bank && !decided_by_bank_path(it.key())) {
      ++left_out;
      continue;
    }
    auto f = all.find(it.key());
    MSA_CHECK(f != all.end(), "expected.json names tensor '{}', which this engine does not produce",
              it.key());
    res.tensors[it.key()] = f->second;
  }
  for (const LayerRouting& lr : session.routing()) {
    std::string s = "layer " + std::to_string(lr.layer) + ": selected";
    for (auto& x : lr.selected) s += " " + std::to_string(x.doc) + " (" + std::to_string(x.score) + ")";
    s += ", " + std::to_string(lr.context_chunks) + " chunks in context";
    res.log.push_back(s);
  }
  if (left_out) res.log.push_back(fmt::format("{} stage-1 / f32 score tensors left out on the bank path", left_out));
  std::string g = "generated:";
  for (int64_t t : generated) g += " " + std::to_string(t);
  g += ", then " + std::to_string(next);
  res.log.push_back(g);
  return res;
}

void write_conformance_output(const ConformanceResult& r, const std::string& path) {
  std::vector<model::TensorToWrite> out;
  for (auto& [name, t] : r.tensors) {
    model::TensorToWrite w;
    w.name = name;
    w.dtype = t.dtype;
    w.shape = t.shape;
    w.data = t.dtype == DType::F32 ? static_cast<const void*>(t.f32.data())
                                   : static_cast<const void*>(t.i64.data());
    out.push_back(w);
  }
  model::write_safetensors(path, out, {{"producer", "msa conformance"}});
}

}  // namespace msa::engine
