#include "distributed/sharded_bank.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "memory/bank.h"
#include "memory/bank_catalog.h"
#include "memory/bank_manifest.h"

namespace msa::distributed {

namespace fs = std::filesystem;
using nlohmann::json;

bool is_sharded_bank(const std::string& dir) { return !dir.empty() && fs::exists(fs::path(dir) / kShardManifest); }

ShardManifest read_shard_manifest(const std::string& dir) {
  const fs::path p = fs::path(dir) / kShardManifest;
  std::ifstream f(p);
  MSA_CHECK(f.good(), "{}: cannot read the sharded bank manifest", p.string());
  const json j = json::parse(f, nullptr, false);
  MSA_CHECK(j.is_object() && j.value("format", "") == "msa-sharded-bank" && j.value("version", 0) == 1,
            "{}: not a sharded bank manifest (format msa-sharded-bank, version 1)", p.string());
  MSA_CHECK(j.value("rule", "") == "doc_id mod num_shards", "{}: unknown partition rule '{}'", p.string(),
            j.value("rule", ""));
  ShardManifest m;
  m.num_shards = j.value("num_shards", int64_t(0));
  MSA_CHECK(m.num_shards >= 1 && m.num_shards <= 4096, "{}: bad num_shards {}", p.string(), m.num_shards);
  MSA_CHECK(j.contains("shards") && j["shards"].is_array() && int64_t(j["shards"].size()) == m.num_shards,
            "{}: 'shards' must list {} shard directories", p.string(), m.num_shards);
  for (const auto& s : j["shards"]) {
    MSA_CHECK(s.is_object() && s.contains("dir") && s["dir"].is_string(), "{}: bad shard entry {}", p.string(),
              s.dump());
    const std::string d = s["dir"];
    MSA_CHECK(!d.empty() && d.find("..") == std::string::npos && d[0] != '/', "{}: bad shard directory '{}'",
              p.string(), d);
    m.shard_dirs.push_back(d);
    m.shard_documents.push_back(s.value("documents", int64_t(0)));
  }
  m.source = j.value("source", "");
  return m;
}

std::string shard_path(const std::string& dir, const ShardManifest& m, int64_t s) {
  return (fs::path(dir) / m.shard_dirs.at(size_t(s))).string();
}

namespace {

void write_manifest(const std::string& out, const ShardManifest& m) {
  json shards = json::array();
  for (int64_t s = 0; s < m.num_shards; ++s)
    shards.push_back({{"dir", m.shard_dirs[size_t(s)]}, {"documents", m.shard_documents[size_t(s)]}});
  const json j{{"format", "msa-sharded-bank"}, {"version", 1},          {"rule", "doc_id mod num_shards"},
               {"num_shards", m.num_shards},   {"shards", shards},     {"source", m.source}};
  const std::string text = j.dump(1) + "\n";
  memory::bankfmt::write_file_durably((fs::path(out) / kShardManifest).string(),
                                      {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

// Copies a bank directory (not its writer lock file).
void copy_bank_dir(const fs::path& src, const fs::path& dst) {
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) {
    const std::string name = e.path().filename().string();
    if (name == "LOCK" || name == "lock" || name.ends_with(".lock")) continue;
    fs::copy(e.path(), dst / name, fs::copy_options::recursive);
  }
}

}  // namespace

ShardManifest split_bank(const std::string& src, const std::string& out, int64_t num_shards) {
  MSA_CHECK(num_shards >= 1 && num_shards <= 4096, "--shards must be in [1, 4096], got {}", num_shards);
  MSA_CHECK(!is_sharded_bank(src), "'{}' is already a sharded bank", src);
  MSA_CHECK(!fs::exists(out) || fs::is_empty(out), "'{}' exists and is not empty", out);
  memory::Bank::verify_dir(src);
  std::vector<int64_t> ids;
  {
    memory::BankOpenOptions o;
    o.verify_checksums = false;  // just verified
    auto bank = memory::Bank::open(src, o);
    for (const auto& d : bank->list({}, 0, -1)) ids.push_back(d.doc_id);
  }
  ShardManifest m;
  m.num_shards = num_shards;
  m.source = fs::absolute(src).string();
  fs::create_directories(out);
  for (int64_t s = 0; s < num_shards; ++s) {
    const std::string name = fmt::format("shard-{:03d}", s);
    const fs::path dst = fs::path(out) / name;
    copy_bank_dir(src, dst);
    memory::BankOpenOptions o;
    o.writer = true;
    o.verify_checksums = false;
    auto bank = memory::Bank::open(dst.string(), o);
    std::vector<int64_t> others;
    for (int64_t id : ids)
      if (shard_of(id, num_shards) != s) others.push_back(id);
    bank->remove(others);
    bank->compact();
    m.shard_dirs.push_back(name);
    m.shard_documents.push_back(bank->stats().documents);
  }
  write_manifest(out, m);
  return m;
}

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  MSA_CHECK(f.good(), "cannot read '{}'", p.string());
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

// Shard 0 is copied as the base; every other shard's segment files are
// re-labelled with fresh segment ids (sections copied byte for byte) and its
// live catalog rows inserted unchanged; then one manifest swap + catalog
// commit (the bank's own commit protocol, docs in memory/bank.h) publishes all.
void merge_bank(const std::string& sharded, const std::string& out) {
  namespace bf = memory::bankfmt;
  const ShardManifest sm = read_shard_manifest(sharded);
  MSA_CHECK(!fs::exists(out) || fs::is_empty(out), "'{}' exists and is not empty", out);
  for (int64_t s = 0; s < sm.num_shards; ++s) memory::Bank::verify_dir(shard_path(sharded, sm, s));
  copy_bank_dir(shard_path(sharded, sm, 0), out);
  const fs::path mpath = fs::path(out) / "MANIFEST";
  const std::string base_text = read_all(mpath);
  memory::Manifest base = memory::parse_manifest(base_text, mpath.string());
  memory::BankCatalog cat((fs::path(out) / "catalog.sqlite").string(), /*writer=*/true);
  int64_t next_doc = std::stoll(cat.meta("next_doc_id", "0"));
  std::vector<memory::CatalogDoc> rows;
  for (int64_t s = 1; s < sm.num_shards; ++s) {
    const fs::path dir = shard_path(sharded, sm, s);
    const memory::Manifest m = memory::parse_manifest(read_all(dir / "MANIFEST"), (dir / "MANIFEST").string());
    MSA_CHECK(m.model == base.model && m.rk_type == base.rk_type && m.k_type == base.k_type && m.v_type == base.v_type,
              "{}: encoded with another model or storage type than shard 0", dir.string());
    for (const auto& seg : m.segments) {
      const fs::path sp = dir / "segments" / seg.file;
      const std::string bytes = read_all(sp);
      const std::span<const uint8_t> b(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      const bf::ParsedFile pf = bf::parse_file(b, sp.string());
      bf::Info in = pf.info;
      in.segment_id = base.next_segment_id++;
      bf::FileBuilder fb(bf::FileKind::Segment, in);
      for (const auto& sec : pf.sections)
        fb.add(sec.tag, sec.slot, std::vector<uint8_t>(b.begin() + long(sec.offset), b.begin() + long(sec.offset + sec.bytes)));
      const auto built = fb.build();
      const std::string name = fmt::format("seg-{:08d}.msb", in.segment_id);
      bf::write_file_durably((fs::path(out) / "segments" / name).string(), built);
      base.segments.push_back({in.segment_id, name, built.size(), seg.docs, seg.chunks, seg.tokens});
    }
    memory::BankCatalog sc((dir / "catalog.sqlite").string(), /*writer=*/false);
    for (const auto& d : sc.list({}, 0, -1)) {  // list() leaves the text out
      auto full = sc.get(d.doc_id, d.version, /*with_text=*/true);
      MSA_CHECK(full.has_value(), "{}: document {} vanished while merging", dir.string(), d.doc_id);
      rows.push_back(std::move(*full));
    }
    next_doc = std::max<int64_t>(next_doc, std::stoll(sc.meta("next_doc_id", "0")));
  }
  // Same commit protocol as a bank write: previous manifest kept, new one swapped in, catalog commits.
  bf::write_file_durably((fs::path(out) / "MANIFEST.prev").string(),
                         {reinterpret_cast<const uint8_t*>(base_text.data()), base_text.size()});
  base.generation += 1;
  const std::string text = memory::serialize_manifest(base);
  bf::write_file_durably(mpath.string(), {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  cat.transaction([&] {
    for (const auto& d : rows) cat.insert(d, base.generation);
    cat.set_meta("manifest_generation", std::to_string(base.generation));
    cat.set_meta("next_doc_id", std::to_string(next_doc));
  });
}

}  // namespace msa::distributed
