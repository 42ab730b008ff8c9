#include "memory/bank_ingest.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/error.h"
#include "core/timer.h"

namespace msa::memory {

namespace fs = std::filesystem;

namespace {

std::vector<IngestItem> read_jsonl(const std::string& path, const std::string& default_ns) {
  std::ifstream f(path);
  MSA_CHECK(f.good(), "cannot read '{}'", path);
  std::vector<IngestItem> items;
  std::string line;
  int64_t n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    MSA_CHECK(!j.is_discarded(), "{}:{}: invalid JSON", path, n);
    MSA_CHECK(j.is_object() && j.contains("text") && j["text"].is_string(),
              "{}:{}: each line must be an object with a string \"text\"", path, n);
    IngestItem it;
    it.source = path + ":" + std::to_string(n);
    it.doc.text = j["text"].get<std::string>();
    MSA_CHECK(!it.doc.text.empty(), "{}:{}: empty \"text\"", path, n);
    if (j.contains("id")) {
      MSA_CHECK(j["id"].is_string() || j["id"].is_number_integer(), "{}:{}: \"id\" must be a string or an integer",
                path, n);
      it.doc.external_id = j["id"].is_string() ? j["id"].get<std::string>() : std::to_string(j["id"].get<int64_t>());
    }
    it.doc.ns = default_ns;
    if (j.contains("namespace")) {
      MSA_CHECK(j["namespace"].is_string() && !j["namespace"].get<std::string>().empty(),
                "{}:{}: \"namespace\" must be a non-empty string", path, n);
      it.doc.ns = j["namespace"].get<std::string>();
    }
    if (j.contains("metadata") && !j["metadata"].is_null()) it.doc.metadata = j["metadata"].dump();
    items.push_back(std::move(it));
  }
  return items;
}

std::vector<IngestItem> read_dir(const std::string& dir, const std::string& default_ns) {
  std::vector<fs::path> files;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && (e.path().extension() == ".txt" || e.path().extension() == ".md"))
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<IngestItem> items;
  for (auto& p : files) {
    std::ifstream f(p, std::ios::binary);
    MSA_CHECK(f.good(), "cannot read '{}'", p.string());
    std::stringstream ss;
    ss << f.rdbuf();
    IngestItem it;
    it.doc.text = ss.str();
    if (it.doc.text.find_first_not_of(" \t\r\n") == std::string::npos) continue;  // empty files carry nothing
    it.doc.external_id = fs::relative(p, dir).generic_string();
    it.doc.ns = default_ns;
    it.doc.metadata = nlohmann::json{{"path", it.doc.external_id}}.dump();
    it.source = p.string();
    items.push_back(std::move(it));
  }
  return items;
}

std::string fmt_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const int64_t t = int64_t(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t / 60) % 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

}  // namespace

bool progress_wanted() {
  const char* ci = std::getenv("CI");
  return ::isatty(2) && !(ci && *ci);
}

std::vector<IngestItem> read_ingest_input(const std::string& path, const std::string& default_ns) {
  MSA_CHECK(fs::exists(path), "'{}' does not exist", path);
  return fs::is_directory(path) ? read_dir(path, default_ns) : read_jsonl(path, default_ns);
}

IngestResult ingest(Bank& bank, const std::vector<IngestItem>& items, const IngestOptions& o) {
  MSA_CHECK(o.batch_docs >= 1, "--batch-docs must be >= 1");
  Timer timer;
  IngestResult r;
  r.ids.assign(items.size(), -1);
  // Plan: what is already committed (resume), what updates, what is new.
  std::vector<int64_t> replaces(items.size(), -1);
  std::vector<bool> todo(items.size(), true);
  std::map<std::string, size_t> ext_seen;
  std::unordered_map<uint64_t, size_t> hash_seen;  // occurrences so far
  std::unordered_map<uint64_t, std::vector<int64_t>> hash_ids;
  for (size_t i = 0; i < items.size(); ++i) {
    const NewDocument& d = items[i].doc;
    const uint64_t h = document_content_hash(d.ns, d.text);
    if (!d.external_id.empty()) {
      auto [it, fresh] = ext_seen.emplace(d.external_id, i);
      MSA_CHECK(fresh, "{}: external id '{}' already appears at {}", items[i].source, d.external_id,
                items[it->second].source);
      if (auto ex = bank.catalog().find_external(d.external_id)) {
        if (ex->content_hash == h) {
          r.ids[i] = ex->doc_id;
          todo[i] = false;
        } else {
          replaces[i] = ex->doc_id;
        }
      }
    } else {
      const size_t k = hash_seen[h]++;
      auto hit = hash_ids.find(h);
      if (hit == hash_ids.end()) hit = hash_ids.emplace(h, bank.catalog().ids_with_hash_without_external(h)).first;
      if (k < hit->second.size()) {
        r.ids[i] = hit->second[k];
        todo[i] = false;
      }
    }
  }
  std::vector<size_t> work;
  uint64_t total_bytes = 0;
  for (size_t i = 0; i < items.size(); ++i)
    if (todo[i]) {
      work.push_back(i);
      total_bytes += items[i].doc.text.size();
    } else {
      ++r.skipped;
    }
  uint64_t done_bytes = 0;
  auto draw = [&](size_t done, bool final) {
    if (!o.progress) return;
    const double t = timer.seconds();
    const double frac = total_bytes ? double(done_bytes) / double(total_bytes) : 1.0;
    const int width = 30, fill = int(frac * width);
    const double eta = frac > 0 ? t * (1 - frac) / frac : -1;
    std::fprintf(stderr, "\r[%s%s] %3d%% %zu/%zu docs  %.0f tok/s  ETA %s   ", std::string(size_t(fill), '#').c_str(),
                 std::string(size_t(width - fill), ' ').c_str(), int(frac * 100), done, work.size(),
                 t > 0 ? double(r.tokens) / t : 0.0, fmt_duration(eta).c_str());
    if (final) std::fprintf(stderr, "\n");
  };
  draw(0, work.empty());
  for (size_t b = 0; b < work.size(); b += size_t(o.batch_docs)) {
    const size_t e = std::min(work.size(), b + size_t(o.batch_docs));
    std::vector<NewDocument> docs;
    std::vector<int64_t> rep;
    for (size_t j = b; j < e; ++j) {
      docs.push_back(items[work[j]].doc);
      rep.push_back(replaces[work[j]]);
      done_bytes += items[work[j]].doc.text.size();
    }
    int64_t tokens = 0;
    const auto ids = bank.write(docs, rep, &tokens);
    r.tokens += tokens;
    for (size_t j = b; j < e; ++j) {
      r.ids[work[j]] = ids[j - b];
      (replaces[work[j]] >= 0 ? r.updated : r.added)++;
    }
    draw(e, e == work.size());
  }
  r.seconds = timer.seconds();
  return r;
}

}  // namespace msa::memory
