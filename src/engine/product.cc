#include "engine/product.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/session.h"
#include "model/default_model.h"

namespace msa::engine {

LoadedModel load_model(const std::string& model_dir) {
  namespace fs = std::filesystem;
  LoadedModel l;
  const fs::path dir = model::resolve_model_dir(model_dir);
  l.dir = dir.string();
  l.model = model::Model::load(l.dir);
  l.tokenizer = std::make_shared<model::Tokenizer>(model::Tokenizer::load((dir / "tokenizer.json").string()));
  std::ifstream f(dir / "config.json");
  auto j = nlohmann::json::parse(f, nullptr, false);
  l.random_weights = j.is_object() && j.value("msa_random_weights", false);
  return l;
}

memory::BankOpenOptions bank_open_options(const LoadedModel& m, bool writer) {
  memory::BankOpenOptions bo;
  bo.writer = writer;
  bo.model = m.model;
  bo.model_dir = m.dir;
  bo.tokenizer = m.tokenizer;
  return bo;
}

InterleaveOptions interleave_options(const model::ModelConfig& cfg, const AskOptions& o) {
  InterleaveOptions io;
  io.engine.top_k = o.top_k > 0 ? o.top_k : default_top_k(cfg);
  io.max_rounds = o.rounds;
  io.max_total_tokens = o.max_tokens;
  io.sampler.temperature = o.temperature;
  io.interleave = o.interleave;
  return io;
}

}  // namespace msa::engine
