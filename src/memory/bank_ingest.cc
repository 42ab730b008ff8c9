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
#include "memory/passages.h"
#include "model/tokenizer.h"

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

std::vector<IngestItem> read_dir(const std::string& dir, const std::string& default_ns, std::vector<IngestSkip>* skipped) {
  std::vector<fs::path> files;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && (e.path().extension() == ".txt" || e.path().extension() == ".md"))
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<IngestItem> items;
  for (auto& p : files) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    if (f.good()) ss << f.rdbuf();
    if (!f.good() && !f.eof()) {
      if (skipped) skipped->push_back({p.string(), "cannot be read"});
      continue;
    }
    IngestItem it;
    it.doc.text = ss.str();
    if (it.doc.text.find_first_not_of(" \t\r\n") == std::string::npos) {
      if (skipped) skipped->push_back({p.string(), it.doc.text.empty() ? "empty" : "whitespace only"});
      continue;
    }
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

std::vector<IngestItem> read_ingest_input(const std::string& path, const std::string& default_ns,
                                          std::vector<IngestSkip>* skipped) {
  MSA_CHECK(fs::exists(path), "'{}' does not exist", path);
  return fs::is_directory(path) ? read_dir(path, default_ns, skipped) : read_jsonl(path, default_ns);
}

IngestResult ingest(Bank& bank, const std::vector<IngestItem>& items, const IngestOptions& o) {
  MSA_CHECK(o.batch_docs >= 1, "--batch-docs must be >= 1");
  Timer timer;
  IngestResult r;
  r.ids.assign(items.size(), -1);
  r.passage_ids.assign(items.size(), {});
  std::shared_ptr<const model::Tokenizer> tok;
  if (o.passage_tokens > 0) tok = bank.tokenizer();
  // Plan per input item (a source): its documents (passages), what each
  // replaces, what is surplus; or nothing when already committed (resume).
  struct Unit {
    std::vector<NewDocument> docs;
    std::vector<int64_t> replaces, removes;
    std::vector<int64_t> kept;  // per doc: id already committed, or -1
  };
  std::vector<Unit> units(items.size());
  std::vector<bool> todo(items.size(), false);
  std::map<std::string, size_t> ext_seen;
  std::unordered_map<uint64_t, size_t> hash_seen;  // occurrences so far
  std::unordered_map<uint64_t, std::vector<int64_t>> hash_ids;
  for (size_t i = 0; i < items.size(); ++i) {
    const NewDocument& src = items[i].doc;
    Unit& u = units[i];
    u.docs = tok ? source_passages(*tok, src, o.passage_tokens) : std::vector<NewDocument>{src};
    u.replaces.assign(u.docs.size(), -1);
    u.kept.assign(u.docs.size(), -1);
    if (!src.external_id.empty()) {
      auto [it, fresh] = ext_seen.emplace(src.external_id, i);
      MSA_CHECK(fresh, "{}: external id '{}' already appears at {}", items[i].source, src.external_id,
                items[it->second].source);
      const auto old = find_source(bank, src.external_id);
      bool same = old.size() == u.docs.size();
      for (size_t k = 0; same && k < old.size(); ++k)
        same = old[k].content_hash == document_content_hash(u.docs[k].ns, u.docs[k].text) &&
               old[k].external_id == u.docs[k].external_id;
      if (same && !old.empty()) {
        for (size_t k = 0; k < old.size(); ++k) u.kept[k] = old[k].doc_id;
        continue;
      }
      for (size_t k = 0; k < old.size(); ++k) {
        if (k < u.docs.size()) u.replaces[k] = old[k].doc_id;
        else u.removes.push_back(old[k].doc_id);
      }
      todo[i] = true;
    } else {
      for (size_t k = 0; k < u.docs.size(); ++k) {
        const uint64_t h = document_content_hash(u.docs[k].ns, u.docs[k].text);
        const size_t n = hash_seen[h]++;
        auto hit = hash_ids.find(h);
        if (hit == hash_ids.end()) hit = hash_ids.emplace(h, bank.catalog().ids_with_hash_without_external(h)).first;
        if (n < hit->second.size()) u.kept[k] = hit->second[n];
        else todo[i] = true;
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
      r.passage_ids[i] = units[i].kept;
      r.ids[i] = units[i].kept.empty() ? -1 : units[i].kept[0];
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
  for (size_t b = 0; b < work.size();) {
    // Whole sources, up to batch_docs documents (at least one source).
    std::vector<NewDocument> docs;
    std::vector<int64_t> rep, rem;
    size_t e = b;
    while (e < work.size() && (e == b || docs.size() + units[work[e]].docs.size() <= size_t(o.batch_docs))) {
      const Unit& u = units[work[e]];
      for (size_t k = 0; k < u.docs.size(); ++k)
        if (u.kept[k] < 0 || !items[work[e]].doc.external_id.empty()) {
          docs.push_back(u.docs[k]);
          rep.push_back(u.replaces[k]);
        }
      rem.insert(rem.end(), u.removes.begin(), u.removes.end());
      done_bytes += items[work[e]].doc.text.size();
      ++e;
    }
    int64_t tokens = 0;
    const auto ids = bank.write(docs, rep, rem, &tokens);
    r.tokens += tokens;
    size_t at = 0;
    for (size_t j = b; j < e; ++j) {
      const size_t i = work[j];
      const Unit& u = units[i];
      bool updated = false;
      for (size_t k = 0; k < u.docs.size(); ++k) {
        if (u.kept[k] < 0 || !items[i].doc.external_id.empty()) {
          updated |= u.replaces[k] >= 0;
          r.passage_ids[i].push_back(ids[at++]);
        } else {
          r.passage_ids[i].push_back(u.kept[k]);
        }
      }
      updated |= !u.removes.empty();
      r.ids[i] = r.passage_ids[i].empty() ? -1 : r.passage_ids[i][0];
      (updated ? r.updated : r.added)++;
    }
    draw(e, e == work.size());
    b = e;
  }
  r.seconds = timer.seconds();
  return r;
}

}  // namespace msa::memory
