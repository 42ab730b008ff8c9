// msa run --model DIR --docs docs.jsonl --question "..." [...]
// Single-process MSA over an in-memory bank built from a JSONL file.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "cli/command.h"
#include "core/error.h"
#include "core/timer.h"
#include "engine/pipeline.h"

namespace {

std::vector<std::string> read_docs(const std::string& path) {
  std::ifstream f(path);
  MSA_CHECK(f.good(), "cannot read '{}'", path);
  std::vector<std::string> docs;
  std::string line;
  int64_t n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      msa::throw_error("{}:{}: invalid JSON: {}", path, n, e.what());
    }
    MSA_CHECK(j.is_object() && j.contains("text") && j["text"].is_string(),
              "{}:{}: each line must be an object with a string \"text\"", path, n);
    docs.push_back(j["text"].get<std::string>());
  }
  return docs;
}

int run(int argc, char** argv) {
  CLI::App app{"Encode documents into an in-memory bank, route a question and generate."};
  std::string model_dir, docs_path, tokenizer_path;
  std::vector<std::string> questions;
  int64_t top_k = -1, max_tokens = 64;
  float temperature = 0.f;
  bool json = false, cosine = false;
  app.add_option("--model,-m", model_dir, "model directory (config.json, *.safetensors, tokenizer.json)")->required();
  app.add_option("--tokenizer", tokenizer_path, "tokenizer.json (default: <model>/tokenizer.json)");
  app.add_option("--docs,-d", docs_path, "JSONL file, one {\"text\": ...} per line")->required();
  app.add_option("--question,-q", questions, "question (repeatable)")->required();
  app.add_option("--top-k,-k", top_k, "documents per routing layer (default: msa_config.doc_top_k or 16)");
  app.add_option("--max-tokens,-n", max_tokens, "maximum generated tokens");
  app.add_option("--temperature", temperature, "0 = greedy (reference setting)");
  app.add_flag("--cosine", cosine, "score routing with cosine similarity (paper convention)");
  app.add_flag("--json", json, "one JSON object per question");
  CLI11_PARSE(app, argc, argv);

  namespace fs = std::filesystem;
  if (tokenizer_path.empty()) tokenizer_path = (fs::path(model_dir) / "tokenizer.json").string();
  msa::Timer t;
  auto model = msa::model::Model::load(model_dir);
  auto tok = std::make_shared<msa::model::Tokenizer>(msa::model::Tokenizer::load(tokenizer_path));
  const bool random = [&] {
    std::ifstream f(fs::path(model_dir) / "config.json");
    auto j = nlohmann::json::parse(f, nullptr, false);
    return j.is_object() && j.value("msa_random_weights", false);
  }();
  if (random && !json)
    std::printf("NOTE: %s has RANDOM weights: routing and text below are meaningless.\n", model_dir.c_str());
  msa::engine::EngineOptions opts;
  opts.top_k = top_k > 0 ? top_k : msa::engine::default_top_k(model->config());
  opts.cosine_scores = cosine;
  msa::engine::Pipeline p(model, tok, opts);
  auto docs = read_docs(docs_path);
  const bool tty = isatty(2);
  p.add_documents(docs, [&](size_t done, size_t total) {
    if (tty) std::fprintf(stderr, "\rencoding memory: %zu/%zu documents", done, total);
  });
  if (tty) std::fprintf(stderr, "\n");
  if (!json)
    std::printf("model %s loaded, %zu documents encoded (%lld chunks) in %.2f s\n", model_dir.c_str(),
                docs.size(), (long long)p.bank().num_chunks(), t.seconds());
  msa::engine::GenerateOptions g;
  g.max_new_tokens = max_tokens;
  g.sampler.temperature = temperature;
  for (const std::string& q : questions) {
    if (!json) std::printf("\nQ: %s\nA: ", q.c_str());
    auto a = p.ask(q, g, [&](const std::string& piece) {
      if (!json) {
        std::fputs(piece.c_str(), stdout);
        std::fflush(stdout);
      }
    });
    if (json) {
      nlohmann::json o;
      o["question"] = q;
      o["answer"] = a.text;
      nlohmann::json sel = nlohmann::json::object();
      for (auto& r : a.routing) {
        nlohmann::json arr = nlohmann::json::array();
        for (auto& s : r.selected) arr.push_back({s.doc, s.score});
        sel[std::to_string(r.layer)] = arr;
      }
      o["selected"] = sel;
      o["tokens"] = {{"prompt", a.prompt_tokens}, {"generated", a.tokens.size()}};
      o["timings_ms"] = {{"route_prefill", a.route_prefill_ms}, {"decode", a.decode_ms}};
      std::printf("%s\n", o.dump().c_str());
    } else {
      std::printf("\n  routing (layer: doc ids, best first):");
      for (auto& r : a.routing) {
        std::printf("\n    layer %d:", r.layer);
        for (auto& s : r.selected) std::printf(" [%lld] %.3f", (long long)s.doc, s.score);
      }
      std::printf("\n  %lld prompt tokens, %zu generated; prefill+routing %.1f ms, decode %.1f ms\n",
                  (long long)a.prompt_tokens, a.tokens.size(), a.route_prefill_ms, a.decode_ms);
    }
  }
  return 0;
}

}  // namespace

MSA_COMMAND("run", "encode documents, route questions and generate (in-memory bank)", run);
