// Bank: create / open (with crash recovery) / write path / compaction / stats.
// Commit protocol and recovery rules: docs/bank-format.md §Commit protocol.
#include "memory/bank.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include <unistd.h>
#include <xxhash.h>

#include "core/error.h"
#include "memory/bank_identity.h"
#include "memory/bank_lock.h"
#include "memory/bank_state.h"
#include "memory/encoder.h"
#include "model/model.h"
#include "model/prompt_format.h"
#include "model/tokenizer.h"

namespace msa::memory {

namespace fs = std::filesystem;

uint64_t document_content_hash(const std::string& ns, const std::string& text) {
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  XXH64_update(st, ns.data(), ns.size());
  XXH64_update(st, "", 1);
  XXH64_update(st, text.data(), text.size());
  const uint64_t h = XXH64_digest(st);
  XXH64_freeState(st);
  return h & 0x7fffffffffffffffull;  // fits SQLite's signed INTEGER unchanged
}

namespace {

constexpr const char* kManifest = "MANIFEST";
constexpr const char* kManifestPrev = "MANIFEST.prev";
constexpr const char* kCatalog = "catalog.sqlite";
constexpr const char* kTemplate = "template.msb";
constexpr const char* kSegments = "segments";

// A reader raced a writer (manifest and catalog of different generations, or a
// segment deleted by a compaction): reading again gives a consistent pair.
struct RetryOpen : Error {
  using Error::Error;
};

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  MSA_CHECK(f.good(), "cannot read '{}'", p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

uint64_t file_size_or0(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : uint64_t(n);
}

int64_t process_rss_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, rss = 0;
  f >> size >> rss;
  return rss * int64_t(::sysconf(_SC_PAGESIZE));
}

struct LoadOptions {
  bool writer = false;
  bool verify = true;
  RoutingIndexOptions index_opt;
  int64_t partition_chunks = 0;
};

// Groups segments into partitions of about `cap` stored chunks.
std::vector<std::shared_ptr<const BankPartition>> partition_segments(
    const std::vector<std::shared_ptr<const BankSegment>>& segs, const LiveMap& live, const RoutingIndexOptions& o,
    int64_t cap) {
  std::vector<std::shared_ptr<const BankPartition>> parts;
  std::vector<std::shared_ptr<const BankSegment>> group;
  int64_t chunks = 0;
  for (auto& s : segs) {
    group.push_back(s);
    chunks += int64_t(s->parsed.info.num_chunks);
    if (chunks >= cap) {
      parts.push_back(build_partition(std::move(group), live, o));
      group.clear();
      chunks = 0;
    }
  }
  if (!group.empty()) parts.push_back(build_partition(std::move(group), live, o));
  return parts;
}

// Reads manifest + catalog + files into a fresh state; applies recovery as writer.
std::shared_ptr<BankState> load_state(const std::string& dir, std::shared_ptr<BankCatalog> catalog,
                                      const LoadOptions& lo) {
  auto st = std::make_shared<BankState>();
  st->dir = dir;
  st->catalog = catalog;
  st->index_opt = lo.index_opt;
  st->partition_chunks = lo.partition_chunks;
  uint64_t gen = 0;
  std::vector<LiveDocRef> refs;
  catalog->load(&gen, &st->next_doc_id, &refs, &st->namespaces);
  const fs::path mpath = fs::path(dir) / kManifest, ppath = fs::path(dir) / kManifestPrev;
  std::string text = read_text(mpath);
  Manifest m = parse_manifest(text, mpath.string());
  if (m.generation != gen) {
    // Crash (or a concurrent writer) between the manifest swap and the catalog
    // commit: the catalog is the commit point, so the previous manifest holds.
    std::string prev_text;
    if (fs::exists(ppath)) prev_text = read_text(ppath);
    Manifest prev;
    bool prev_ok = false;
    if (!prev_text.empty()) {
      try {
        prev = parse_manifest(prev_text, ppath.string());
        prev_ok = prev.generation == gen;
      } catch (const Error&) {
        if (lo.writer) throw;
      }
    }
    if (prev_ok) {
      if (lo.writer) bankfmt::write_file_durably(mpath.string(), {reinterpret_cast<const uint8_t*>(prev_text.data()), prev_text.size()});
      m = std::move(prev);
    } else if (!lo.writer) {
      throw RetryOpen(fmt::format("{}: generation {} but catalog generation {}", mpath.string(), m.generation, gen));
    } else {
      throw_error("{}: manifest generation {} does not match the catalog's ({}) and {} cannot restore it: the bank is inconsistent",
                  dir, m.generation, gen, ppath.string());
    }
  }
  st->manifest = m;
  const fs::path segdir = fs::path(dir) / kSegments;
  if (lo.writer) {
    // Recovery: files of uncommitted writes (and temp files) are removed.
    std::unordered_set<std::string> named;
    for (auto& s : m.segments) named.insert(s.file);
    for (auto& e : fs::directory_iterator(segdir))
      if (!named.contains(e.path().filename().string())) fs::remove(e.path());
  }
  st->tmpl = load_template((fs::path(dir) / m.template_file).string(), lo.verify);
  for (auto& ms : m.segments) {
    const fs::path p = segdir / ms.file;
    if (!lo.writer && !fs::exists(p)) throw RetryOpen(p.string() + " vanished");
    auto seg = BankSegment::open(p.string(), ms, lo.verify);
    const bankfmt::Info& in = seg->parsed.info;
    MSA_CHECK(int64_t(in.num_slots) == m.model.num_slots && int64_t(in.kv_heads) == m.model.kv_heads &&
                  int64_t(in.head_dim) == m.model.head_dim && in.rk_type == uint8_t(m.rk_type) &&
                  in.k_type == uint8_t(m.k_type) && in.v_type == uint8_t(m.v_type),
              "{}: geometry or storage types differ from the manifest's", p.string());
    st->segments.push_back(std::move(seg));
  }
  // Live map: every live catalog version must be in exactly one segment.
  std::unordered_map<int64_t, LiveDocRef> want;
  want.reserve(refs.size());
  for (auto& r : refs) want.emplace(r.doc_id, r);
  auto live = std::make_shared<LiveMap>();
  live->reserve(refs.size());
  for (auto& s : st->segments)
    for (uint64_t i = 0; i < s->parsed.info.num_docs; ++i) {
      const auto& e = s->docs[i];
      auto it = want.find(e.doc_id);
      if (it == want.end() || it->second.version != e.version) continue;
      MSA_CHECK(!live->contains(e.doc_id), "{}: document {} version {} is stored twice", s->path, e.doc_id, e.version);
      (*live)[e.doc_id] = DocLoc{s.get(), uint32_t(i), e.version, it->second.ns};
      st->live_per_ns[it->second.ns]++;
    }
  for (auto& r : refs)
    MSA_CHECK(live->contains(r.doc_id),
              "{}: the catalog lists document {} version {} but no segment of the manifest holds it: the bank is inconsistent",
              dir, r.doc_id, r.version);
  st->live = live;
  st->partitions = partition_segments(st->segments, *live, lo.index_opt, lo.partition_chunks);
  return st;
}

}  // namespace

struct Bank::Impl {
  BankOpenOptions opt;
  std::unique_ptr<BankWriterLock> lock;
  std::shared_ptr<BankCatalog> catalog;
  std::shared_ptr<const model::Model> model;
  std::shared_ptr<const model::Tokenizer> tok;
  mutable std::mutex state_mu;
  std::shared_ptr<const BankState> state;
  std::mutex write_mu;

  std::shared_ptr<const BankState> current() const {
    std::lock_guard<std::mutex> l(state_mu);
    return state;
  }
  void publish(std::shared_ptr<const BankState> s) {
    std::lock_guard<std::mutex> l(state_mu);
    state = std::move(s);
  }
  LoadOptions load_options(bool verify) const {
    LoadOptions lo;
    lo.writer = lock != nullptr;
    lo.verify = verify;
    lo.partition_chunks = opt.partition_chunks;
    return lo;
  }
};

Bank::~Bank() = default;

void Bank::create(const std::string& dir, const std::string& model_dir, const BankCreateOptions& o) {
  MSA_CHECK(!fs::exists(fs::path(dir) / kManifest), "'{}' already holds a memory bank", dir);
  fs::create_directories(fs::path(dir) / kSegments);
  BankWriterLock lock(dir);
  auto model = model::Model::load(model_dir);
  MSA_CHECK(model->is_msa() && !model->config().msa.routing_layers.empty(),
            "'{}' is not an MSA model (no routing layers): a memory bank needs one", model_dir);
  std::vector<int32_t> prefix_ids = o.template_prefix_ids;
  if (prefix_ids.empty()) {
    const fs::path tok_path = fs::path(model_dir) / "tokenizer.json";
    MSA_CHECK(fs::exists(tok_path), "model '{}' has no tokenizer.json (needed to encode documents)", model_dir);
    prefix_ids = model::split_prompt_template(model::Tokenizer::load(tok_path.string())).prefix_ids;
  }
  Manifest m;
  m.model = model_identity(*model);
  m.rk_type = o.routing_keys;
  m.k_type = o.content_k;
  m.v_type = o.content_v;
  m.template_file = kTemplate;
  MemoryEncoder enc(*model);
  const TemplateKV t = enc.encode_template(prefix_ids);
  const auto tbytes = build_template_file(t, m, model->config().num_hidden_layers);
  bankfmt::write_file_durably((fs::path(dir) / kTemplate).string(), tbytes);
  m.template_bytes = tbytes.size();
  {
    BankCatalog cat((fs::path(dir) / kCatalog).string(), true);
    cat.transaction([&] {
      cat.set_meta("format_version", std::to_string(bankfmt::kFormatVersion));
      cat.set_meta("manifest_generation", "0");
      cat.set_meta("next_doc_id", "0");
      cat.namespace_id(kDefaultNamespace);
    });
  }
  // The manifest is written last: its presence is what makes the directory a bank.
  const std::string text = serialize_manifest(m);
  bankfmt::write_file_durably((fs::path(dir) / kManifest).string(),
                              {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

std::unique_ptr<Bank> Bank::open(const std::string& dir, const BankOpenOptions& o) {
  MSA_CHECK(fs::exists(fs::path(dir) / kManifest),
            "'{}' is not a memory bank (no MANIFEST; create one with `msa bank create`)", dir);
  std::unique_ptr<Bank> b(new Bank());
  b->dir_ = dir;
  b->impl_ = std::make_unique<Impl>();
  Impl& im = *b->impl_;
  im.opt = o;
  if (o.writer) im.lock = std::make_unique<BankWriterLock>(dir);
  im.catalog = std::make_shared<BankCatalog>((fs::path(dir) / kCatalog).string(), o.writer);
  const Manifest first = parse_manifest(read_text(fs::path(dir) / kManifest), (fs::path(dir) / kManifest).string());
  // Model: given, or (writer) the one recorded at create time.
  im.model = o.model;
  if (!im.model && !o.model_dir.empty()) im.model = model::Model::load(o.model_dir);
  if (im.model) check_same_model(first.model, model_identity(*im.model), dir);
  // A writer without a model loads the recorded one on its first encode (delete/compact need none).
  LoadOptions lo = im.load_options(o.verify_checksums);
  lo.index_opt = RoutingIndexOptions{first.model.num_slots, first.model.kv_heads, first.model.head_dim,
                                     o.routing_storage, 4};
  for (int attempt = 0;; ++attempt) {
    try {
      im.publish(load_state(dir, im.catalog, lo));
      break;
    } catch (const RetryOpen& e) {
      MSA_CHECK(attempt < 50, "bank '{}' keeps changing under the reader: {}", dir, e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return b;
}

bool Bank::is_writer() const { return impl_->lock != nullptr; }
ModelIdentity Bank::recorded_model() const { return impl_->current()->manifest.model; }
BankCatalog& Bank::catalog() const { return *impl_->catalog; }

namespace {

// Swaps in a new manifest, keeping the current one as MANIFEST.prev.
void swap_manifest(const std::string& dir, const Manifest& m) {
  // MANIFEST.prev becomes a hard link to the current manifest (no copy, no
  // extra fsync: the directory fsync after the rename below covers both).
  const fs::path cur = fs::path(dir) / kManifest, prev = fs::path(dir) / kManifestPrev;
  std::error_code ec;
  fs::remove(prev, ec);
  fs::create_hard_link(cur, prev);
  const std::string text = serialize_manifest(m);
  bankfmt::write_file_durably(cur.string(), {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

void restore_manifest(const std::string& dir) {
  const fs::path cur = fs::path(dir) / kManifest, prev = fs::path(dir) / kManifestPrev;
  const std::string old = read_text(prev);
  bankfmt::write_file_durably(cur.string(), {reinterpret_cast<const uint8_t*>(old.data()), old.size()});
}

// Rebuilds the partitions holding any of `segs_touched`, then appends `fresh`
// segments as a new partition and merges the tail while the previous partition
// is less than twice the last one (binary-counter growth: O(log n) partitions,
// each chunk re-indexed O(log n) times), never beyond the cap.
std::vector<std::shared_ptr<const BankPartition>> next_partitions(
    const BankState& old, const LiveMap& live, const std::set<const BankSegment*>& touched,
    const std::vector<std::shared_ptr<const BankSegment>>& fresh) {
  std::vector<std::shared_ptr<const BankPartition>> parts;
  for (auto& p : old.partitions) {
    bool dirty = false;
    for (auto& s : p->segs) dirty |= touched.contains(s.get());
    parts.push_back(dirty ? build_partition(p->segs, live, old.index_opt) : p);
  }
  if (!fresh.empty()) {
    parts.push_back(build_partition(fresh, live, old.index_opt));
    while (parts.size() >= 2) {
      const auto& a = parts[parts.size() - 2];
      const auto& b = parts.back();
      if (a->stored_chunks >= 2 * b->stored_chunks || a->stored_chunks + b->stored_chunks > old.partition_chunks) break;
      auto segs = a->segs;
      segs.insert(segs.end(), b->segs.begin(), b->segs.end());
      parts.pop_back();
      parts.back() = build_partition(std::move(segs), live, old.index_opt);
    }
  }
  return parts;
}

}  // namespace

std::vector<int64_t> Bank::add_documents(const std::vector<NewDocument>& docs) {
  return write(docs, std::vector<int64_t>(docs.size(), -1));
}

std::vector<int64_t> Bank::add_documents(const std::vector<NewDocument>& docs, const std::vector<int64_t>& ids) {
  MSA_CHECK(docs.size() == ids.size(), "add_documents: {} documents but {} ids", docs.size(), ids.size());
  return write_impl(docs, std::vector<int64_t>(docs.size(), -1), &ids, nullptr);
}

void Bank::load_encoder() const {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> l(im.write_mu);  // write_impl loads them under this lock too
  if (!im.model) {
    const std::string& md = im.current()->manifest.model.model_dir;
    MSA_CHECK(fs::exists(fs::path(md) / "config.json"),
              "bank '{}' was created with model '{}', which is not there any more: pass the model explicitly", dir_, md);
    auto mdl = model::Model::load(md);
    check_same_model(im.current()->manifest.model, model_identity(*mdl), dir_);
    im.model = mdl;
  }
  if (!im.tok) {
    im.tok = im.opt.tokenizer;
    if (!im.tok)
      im.tok = std::make_shared<model::Tokenizer>(
          model::Tokenizer::load((fs::path(im.model->dir()) / "tokenizer.json").string()));
  }
}

std::shared_ptr<const model::Tokenizer> Bank::tokenizer() const {
  load_encoder();
  return impl_->tok;
}

std::string Bank::model_dir() const {
  load_encoder();
  return impl_->model->dir();
}

int64_t Bank::next_document_id() const { return impl_->current()->next_doc_id; }

int64_t Bank::update(int64_t doc_id, const NewDocument& doc) {
  write({doc}, {doc_id});
  return impl_->current()->live->at(doc_id).version;
}

int64_t Bank::update(const std::string& external_id, const NewDocument& doc) {
  auto d = impl_->catalog->find_external(external_id);
  MSA_CHECK(d.has_value(), "bank '{}': no live document has external id '{}'", dir_, external_id);
  NewDocument x = doc;
  if (x.external_id.empty()) x.external_id = external_id;
  return update(d->doc_id, x);
}

std::vector<int64_t> Bank::write(const std::vector<NewDocument>& docs_in, const std::vector<int64_t>& replaces,
                                 int64_t* tokens_out) {
  return write_impl(docs_in, replaces, nullptr, tokens_out);
}

std::vector<int64_t> Bank::write(const std::vector<NewDocument>& docs_in, const std::vector<int64_t>& replaces,
                                 const std::vector<int64_t>& removes, int64_t* tokens_out) {
  if (docs_in.empty()) {
    remove(removes);
    return {};
  }
  return write_impl(docs_in, replaces, nullptr, tokens_out, nullptr, removes);
}

std::vector<int64_t> Bank::add_prepared(const std::vector<NewDocument>& docs,
                                        const std::vector<PreparedDocument>& prepared) {
  MSA_CHECK(prepared.size() == docs.size(), "add_prepared: {} documents but {} prepared inputs", docs.size(),
            prepared.size());
  return write_impl(docs, std::vector<int64_t>(docs.size(), -1), nullptr, nullptr, &prepared);
}

std::vector<int64_t> Bank::write_impl(const std::vector<NewDocument>& docs_in, const std::vector<int64_t>& replaces,
                                      const std::vector<int64_t>* new_ids, int64_t* tokens_out,
                                      const std::vector<PreparedDocument>* prepared,
                                      const std::vector<int64_t>& removes) {
  Impl& im = *impl_;
  static const PreparedDocument kNothingPrepared;
  auto prep = [&](size_t i) -> const PreparedDocument& { return prepared ? (*prepared)[i] : kNothingPrepared; };
  MSA_CHECK(im.lock, "bank '{}' is open read-only", dir_);
  MSA_CHECK(docs_in.size() == replaces.size(), "write: {} documents but {} replace ids", docs_in.size(), replaces.size());
  if (docs_in.empty()) return {};
  std::lock_guard<std::mutex> wl(im.write_mu);
  const auto st = im.current();
  BankCatalog& cat = *im.catalog;
  if (!im.model) {
    const std::string& md = st->manifest.model.model_dir;
    MSA_CHECK(fs::exists(fs::path(md) / "config.json"),
              "bank '{}' was created with model '{}', which is not there any more: pass the model explicitly", dir_, md);
    auto mdl = model::Model::load(md);
    check_same_model(st->manifest.model, model_identity(*mdl), dir_);
    im.model = mdl;
  }
  bool all_pretokenized = prepared != nullptr;
  for (size_t i = 0; prepared && i < docs_in.size(); ++i)
    all_pretokenized = all_pretokenized && (!prep(i).token_ids.empty() || prep(i).encoded != nullptr);
  if (!im.tok && !all_pretokenized) {
    im.tok = im.opt.tokenizer;
    if (!im.tok)
      im.tok = std::make_shared<model::Tokenizer>(
          model::Tokenizer::load((fs::path(im.model->dir()) / "tokenizer.json").string()));
  }

  // Validate and resolve ids, versions, inherited fields.
  std::vector<NewDocument> docs = docs_in;
  std::vector<int64_t> ids(docs.size()), versions(docs.size(), 1);
  std::unordered_set<std::string> batch_ext;
  std::unordered_set<int64_t> batch_replace;
  int64_t next_id = st->next_doc_id;
  for (size_t i = 0; i < docs.size(); ++i) {
    NewDocument& d = docs[i];
    MSA_CHECK(!d.text.empty(), "document {} of the batch has empty text", i);
    if (replaces[i] >= 0) {
      auto it = st->live->find(replaces[i]);
      MSA_CHECK(it != st->live->end(), "bank '{}': document {} does not exist or was deleted", dir_, replaces[i]);
      MSA_CHECK(batch_replace.insert(replaces[i]).second, "document {} is updated twice in one batch", replaces[i]);
      auto old = cat.get(replaces[i], it->second.version, false);
      MSA_CHECK(old.has_value(), "bank '{}': catalog has no row for document {}", dir_, replaces[i]);
      if (d.ns.empty()) d.ns = old->ns;
      if (d.metadata.empty()) d.metadata = old->metadata;
      if (d.external_id.empty()) d.external_id = old->external_id;
      ids[i] = replaces[i];
      versions[i] = it->second.version + 1;
    } else if (new_ids) {
      const int64_t want = (*new_ids)[i];
      MSA_CHECK(want >= next_id,
                "bank '{}': document id {} is not above every id already used (next free id is {}; ids are never reused)",
                dir_, want, next_id);
      ids[i] = want;
      next_id = want + 1;
    } else {
      ids[i] = next_id++;
    }
    if (d.ns.empty()) d.ns = kDefaultNamespace;
    if (!d.external_id.empty() && !removes.empty()) {
      // A removed document's external id may pass to a document of this batch.
      MSA_CHECK(batch_ext.insert(d.external_id).second, "external id '{}' appears twice in one batch", d.external_id);
      auto other = cat.find_external(d.external_id);
      MSA_CHECK(!other || other->doc_id == ids[i] ||
                    std::find(removes.begin(), removes.end(), other->doc_id) != removes.end(),
                "external id '{}' is already used by document {} (update it instead)", d.external_id,
                other ? other->doc_id : -1);
    } else if (!d.external_id.empty()) {
      MSA_CHECK(batch_ext.insert(d.external_id).second, "external id '{}' appears twice in one batch", d.external_id);
      auto other = cat.find_external(d.external_id);
      MSA_CHECK(!other || other->doc_id == ids[i],
                "external id '{}' is already used by document {} (update it instead)", d.external_id,
                other ? other->doc_id : -1);
    }
  }

  std::vector<std::pair<int64_t, int64_t>> dead;  // removes: (id, live version)
  for (int64_t id : removes) {
    auto it = st->live->find(id);
    MSA_CHECK(it != st->live->end(), "bank '{}': document {} does not exist or was deleted", dir_, id);
    MSA_CHECK(!batch_replace.count(id), "document {} is both updated and removed in one batch", id);
    batch_replace.insert(id);
    dead.emplace_back(id, it->second.version);
  }

  // Encode only these documents (document-wise RoPE: nothing else changes).
  std::vector<std::vector<int32_t>> toks(docs.size());
  const int64_t max_tokens = im.model->config().max_position_embeddings;
  std::vector<size_t> to_encode;  // documents without a given encoding
  for (size_t i = 0; i < docs.size(); ++i) {
    if (const EncodedDocument* e = prep(i).encoded.get()) {
      const auto& c = im.model->config();
      const size_t slots = c.msa.routing_layers.size(), values = size_t(e->num_chunks * c.kv_dim());
      bool ok = e->pooled_k.size() == slots && e->pooled_v.size() == slots && e->routing_key.size() == slots &&
                e->chunk_token_count.size() == size_t(e->num_chunks) && e->num_chunks >= 1;
      for (size_t s = 0; ok && s < slots; ++s)
        ok = e->pooled_k[s].size() == values && e->pooled_v[s].size() == values && e->routing_key[s].size() == values;
      MSA_CHECK(ok, "document {} of the batch: its given encoding does not match the bank's model "
                "({} routing layers, {} x {} values per chunk)", i, slots, c.num_key_value_heads, c.head_dim);
    } else {
      toks[i] = prep(i).token_ids.empty() ? model::encode_memory_document(*im.tok, ids[i], docs[i].text)
                                          : prep(i).token_ids;
      to_encode.push_back(i);
    }
    const int64_t n = prep(i).encoded ? prep(i).encoded->num_tokens : int64_t(toks[i].size());
    // Stage-1 attention is quadratic in a document's length and positions
    // beyond the model's limit mean nothing: refuse before any encoding work.
    MSA_CHECK(n <= max_tokens,
              "document {}{} has {} tokens with its framing; the model reads at most {} "
              "(max_position_embeddings): split it into passages",
              i, docs[i].external_id.empty() ? std::string() : " ('" + docs[i].external_id + "')", n, max_tokens);
  }
  MemoryEncoder enc(*im.model);
  std::vector<EncodedDocument> encoded;
  encoded.reserve(to_encode.size());
  for (size_t b = 0; b < to_encode.size();) {
    size_t e = b;
    int64_t n = 0;
    while (e < to_encode.size() && (e == b || n + int64_t(toks[to_encode[e]].size()) <= im.opt.encode_batch_tokens))
      n += int64_t(toks[to_encode[e++]].size());
    std::vector<std::vector<int32_t>> group;
    for (size_t j = b; j < e; ++j) group.push_back(std::move(toks[to_encode[j]]));
    if (im.opt.interrupt_check) im.opt.interrupt_check();
    for (auto& x : enc.encode(group)) encoded.push_back(std::move(x));
    b = e;
  }
  if (im.opt.interrupt_check) im.opt.interrupt_check();  // last chance: nothing is written yet

  // 1. Segment file, fsync'd.
  Manifest m = st->manifest;
  const uint64_t seg_id = m.next_segment_id++;
  std::vector<const EncodedDocument*> ptrs(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) ptrs[i] = prep(i).encoded.get();
  for (size_t j = 0; j < to_encode.size(); ++j) ptrs[to_encode[j]] = &encoded[j];
  int64_t chunks = 0, tokens = 0;
  const auto bytes = build_segment_file(seg_id, m, ptrs, ids, versions, &chunks, &tokens);
  const std::string file = segment_file_name(seg_id);
  const fs::path path = fs::path(dir_) / kSegments / file;
  bankfmt::write_file_durably(path.string(), bytes);
  ManifestSegment ms{seg_id, file, bytes.size(), docs.size(), uint64_t(chunks), uint64_t(tokens)};
  m.segments.push_back(ms);
  m.generation += 1;
  // 2. Manifest swapped by rename.  3. Catalog commit (the commit point).
  swap_manifest(dir_, m);
  try {
    cat.transaction([&] {
      for (auto& [id, version] : dead) cat.mark_dead(id, version, m.generation);
      for (size_t i = 0; i < docs.size(); ++i) {
        if (replaces[i] >= 0) cat.mark_dead(ids[i], versions[i] - 1, m.generation);
        CatalogDoc c;
        c.doc_id = ids[i];
        c.version = versions[i];
        c.external_id = docs[i].external_id;
        c.ns = docs[i].ns;
        c.metadata = docs[i].metadata;
        c.text = docs[i].text;
        c.content_hash = document_content_hash(docs[i].ns, docs[i].text);
        c.num_tokens = ptrs[i]->num_tokens;
        c.num_chunks = ptrs[i]->num_chunks;
        c.live = true;
        cat.insert(c, m.generation);
      }
      cat.set_meta("manifest_generation", std::to_string(m.generation));
      cat.set_meta("next_doc_id", std::to_string(next_id));
    });
  } catch (...) {
    restore_manifest(dir_);
    fs::remove(path);
    throw;
  }

  // New in-memory state.
  auto ns = std::make_shared<BankState>(*st);
  ns->manifest = m;
  ns->next_doc_id = next_id;
  auto seg = BankSegment::open(path.string(), ms, false);
  ns->segments.push_back(seg);
  auto live = std::make_shared<LiveMap>(*st->live);
  std::set<const BankSegment*> touched;
  for (auto& [id, version] : dead) {
    const DocLoc old = live->at(id);
    touched.insert(old.seg);
    ns->live_per_ns[old.ns]--;
    live->erase(id);
  }
  for (size_t i = 0; i < docs.size(); ++i) {
    if (replaces[i] >= 0) {
      const DocLoc old = live->at(ids[i]);
      touched.insert(old.seg);
      ns->live_per_ns[old.ns]--;
    }
    uint32_t nsid;
    auto it = ns->namespaces.find(docs[i].ns);
    if (it == ns->namespaces.end()) {
      nsid = cat.namespace_id(docs[i].ns);  // committed above; a lookup now
      ns->namespaces[docs[i].ns] = nsid;
    } else {
      nsid = it->second;
    }
    (*live)[ids[i]] = DocLoc{seg.get(), uint32_t(i), versions[i], nsid};
    ns->live_per_ns[nsid]++;
  }
  ns->partitions = next_partitions(*st, *live, touched, {seg});
  ns->live = live;
  im.publish(ns);
  if (tokens_out) *tokens_out = tokens;
  return ids;
}

int64_t Bank::remove(const std::vector<int64_t>& ids) {
  Impl& im = *impl_;
  MSA_CHECK(im.lock, "bank '{}' is open read-only", dir_);
  std::lock_guard<std::mutex> wl(im.write_mu);
  const auto st = im.current();
  std::vector<std::pair<int64_t, DocLoc>> dead;
  std::unordered_set<int64_t> seen;
  for (int64_t id : ids) {
    auto it = st->live->find(id);
    if (it != st->live->end() && seen.insert(id).second) dead.emplace_back(id, it->second);
  }
  if (dead.empty()) return 0;
  im.catalog->transaction([&] {
    for (auto& [id, loc] : dead) im.catalog->mark_dead(id, loc.version, st->manifest.generation);
  });
  auto ns = std::make_shared<BankState>(*st);
  auto live = std::make_shared<LiveMap>(*st->live);
  std::set<const BankSegment*> touched;
  for (auto& [id, loc] : dead) {
    live->erase(id);
    touched.insert(loc.seg);
    ns->live_per_ns[loc.ns]--;
  }
  ns->partitions = next_partitions(*st, *live, touched, {});
  ns->live = live;
  im.publish(ns);
  return int64_t(dead.size());
}

int64_t Bank::merge_small_segments(size_t min_segments, uint64_t small_chunks) {
  Impl& im = *impl_;
  MSA_CHECK(im.lock, "bank '{}' is open read-only", dir_);
  std::lock_guard<std::mutex> wl(im.write_mu);
  const auto st = im.current();
  const Manifest& old = st->manifest;
  MSA_CHECK(old.segments.size() == st->segments.size(), "bank '{}': manifest and state disagree on segments", dir_);
  // The run of small segments at the end: every write appends one, so that is where they gather.
  size_t b = old.segments.size();
  while (b > 0 && old.segments[b - 1].chunks < small_chunks) --b;
  const size_t n = old.segments.size() - b;
  if (n < std::max<size_t>(min_segments, 2)) return 0;
  Manifest m = old;
  m.segments.resize(b);
  m.generation += 1;
  std::vector<const BankSegment*> segs;
  std::vector<uint32_t> locals;
  for (size_t k = b; k < st->segments.size(); ++k) {
    const auto& sg = st->segments[k];
    for (uint64_t i = 0; i < sg->parsed.info.num_docs; ++i) {
      auto it = st->live->find(sg->docs[i].doc_id);
      if (it == st->live->end() || it->second.seg != sg.get() || it->second.local != i) continue;
      segs.push_back(sg.get());
      locals.push_back(uint32_t(i));
    }
  }
  fs::path written;
  if (!segs.empty()) {
    const uint64_t id = m.next_segment_id++;
    int64_t c = 0, t = 0;
    const auto bytes = build_compacted_segment(id, m, segs, locals, &c, &t);
    const std::string file = segment_file_name(id);
    written = fs::path(dir_) / kSegments / file;
    bankfmt::write_file_durably(written.string(), bytes);
    m.segments.push_back({id, file, bytes.size(), segs.size(), uint64_t(c), uint64_t(t)});
  }
  swap_manifest(dir_, m);
  try {
    // Dead versions keep their catalog rows (compact() purges them); only live ones need a segment.
    im.catalog->transaction([&] { im.catalog->set_meta("manifest_generation", std::to_string(m.generation)); });
  } catch (...) {
    restore_manifest(dir_);
    if (!written.empty()) fs::remove(written);
    throw;
  }
  for (size_t k = b; k < st->segments.size(); ++k) fs::remove(st->segments[k]->path);
  LoadOptions lo = im.load_options(false);
  lo.index_opt = st->index_opt;
  im.publish(load_state(dir_, im.catalog, lo));
  return int64_t(n);
}

void Bank::compact() {
  Impl& im = *impl_;
  MSA_CHECK(im.lock, "bank '{}' is open read-only", dir_);
  std::lock_guard<std::mutex> wl(im.write_mu);
  const auto st = im.current();
  Manifest m = st->manifest;
  m.segments.clear();
  m.generation += 1;
  // Live documents in storage order, cut into segments of ≤ partition_chunks chunks.
  std::vector<const BankSegment*> segs;
  std::vector<uint32_t> locals;
  int64_t chunks_in = 0;
  std::vector<fs::path> written;
  auto flush = [&] {
    if (segs.empty()) return;
    const uint64_t id = m.next_segment_id++;
    int64_t c = 0, t = 0;
    const auto bytes = build_compacted_segment(id, m, segs, locals, &c, &t);
    const std::string file = segment_file_name(id);
    const fs::path p = fs::path(dir_) / kSegments / file;
    bankfmt::write_file_durably(p.string(), bytes);
    written.push_back(p);
    m.segments.push_back({id, file, bytes.size(), segs.size(), uint64_t(c), uint64_t(t)});
    segs.clear();
    locals.clear();
    chunks_in = 0;
  };
  for (auto& s : st->segments)
    for (uint64_t i = 0; i < s->parsed.info.num_docs; ++i) {
      auto it = st->live->find(s->docs[i].doc_id);
      if (it == st->live->end() || it->second.seg != s.get() || it->second.local != i) continue;
      segs.push_back(s.get());
      locals.push_back(uint32_t(i));
      chunks_in += s->docs[i].num_chunks;
      if (chunks_in >= st->partition_chunks) flush();
    }
  flush();
  swap_manifest(dir_, m);
  try {
    im.catalog->transaction([&] {
      im.catalog->purge_dead();
      im.catalog->set_meta("manifest_generation", std::to_string(m.generation));
    });
  } catch (...) {
    restore_manifest(dir_);
    for (auto& p : written) fs::remove(p);
    throw;
  }
  // Old segments are no longer named; snapshots still mapping them keep them readable.
  for (auto& s : st->segments) fs::remove(s->path);
  LoadOptions lo = im.load_options(false);
  lo.index_opt = st->index_opt;
  im.publish(load_state(dir_, im.catalog, lo));
}

std::vector<DocumentInfo> Bank::list(const std::vector<std::string>& namespaces, int64_t offset, int64_t limit) const {
  return impl_->catalog->list(namespaces, offset, limit);
}

std::optional<DocumentInfo> Bank::document(int64_t id) const { return impl_->catalog->live_version(id, true); }

BankStats Bank::stats() const {
  const auto st = impl_->current();
  BankStats s;
  s.generation = st->manifest.generation;
  s.documents = int64_t(st->live->size());
  s.stored_versions = impl_->catalog->count_versions(false);
  for (auto& [id, loc] : *st->live) {
    s.tokens += loc.seg->docs[loc.local].num_tokens;
    s.chunks += loc.seg->docs[loc.local].num_chunks;
  }
  for (auto& seg : st->segments) {
    s.stored_chunks += int64_t(seg->parsed.info.num_chunks);
    for (auto& sec : seg->parsed.sections) {
      if (sec.tag == bankfmt::Tag::RoutingKey) s.disk_routing_bytes += sec.bytes;
      if (sec.tag == bankfmt::Tag::ContentK || sec.tag == bankfmt::Tag::ContentV) s.disk_content_bytes += sec.bytes;
    }
    s.disk_total_bytes += seg->map.size();
  }
  s.segments = int64_t(st->segments.size());
  s.partitions = int64_t(st->partitions.size());
  for (auto& p : st->partitions) s.ram_routing_bytes += p->ram_bytes();
  s.disk_template_bytes = st->manifest.template_bytes;
  const fs::path d(dir_);
  s.disk_catalog_bytes = file_size_or0(d / kCatalog) + file_size_or0(d / "catalog.sqlite-wal");
  s.disk_total_bytes += s.disk_template_bytes + s.disk_catalog_bytes + file_size_or0(d / kManifest) +
                        file_size_or0(d / kManifestPrev);
  uint64_t tmpl = 0;
  for (auto& k : st->tmpl->k) tmpl += k.size() * 8;
  // Per live document: the live-map entry (~64 B with hashing overhead) and
  // one doc-table row per partition index (~40 B).
  s.serve_ram_bytes = s.ram_routing_bytes + tmpl + uint64_t(s.documents) * 104;
  s.process_rss_bytes = uint64_t(process_rss_bytes());
  return s;
}

std::shared_ptr<const BankSnapshot> Bank::snapshot(const std::vector<std::string>& allowed) const {
  const auto st = impl_->current();
  std::vector<uint32_t> ids;
  for (auto& n : allowed)
    if (auto it = st->namespaces.find(n); it != st->namespaces.end()) ids.push_back(it->second);
  return std::make_shared<BankSnapshot>(st, NamespaceFilter::only(std::move(ids)));
}

std::shared_ptr<const BankSnapshot> Bank::snapshot_all() const {
  return std::make_shared<BankSnapshot>(impl_->current(), NamespaceFilter{});
}

void Bank::verify() const { verify_dir(dir_); }

void Bank::verify_dir(const std::string& dir) {
  MSA_CHECK(fs::exists(fs::path(dir) / kManifest), "'{}' is not a memory bank (no MANIFEST)", dir);
  auto catalog = std::make_shared<BankCatalog>((fs::path(dir) / kCatalog).string(), false);
  const std::string qc = catalog->quick_check();
  MSA_CHECK(qc == "ok", "{}: SQLite integrity check failed: {}", catalog->path(), qc);
  LoadOptions lo;
  lo.verify = true;
  const Manifest m = parse_manifest(read_text(fs::path(dir) / kManifest), (fs::path(dir) / kManifest).string());
  lo.index_opt = RoutingIndexOptions{m.model.num_slots, m.model.kv_heads, m.model.head_dim, KeyStorage::BF16, 4};
  lo.partition_chunks = int64_t(1) << 18;
  std::shared_ptr<BankState> st;
  for (int attempt = 0;; ++attempt) {
    try {
      st = load_state(dir, catalog, lo);
      break;
    } catch (const RetryOpen& e) {
      MSA_CHECK(attempt < 50, "bank '{}' keeps changing during verification: {}", dir, e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // Catalog rows agree with the segments and with their own content hashes.
  for (auto& [id, loc] : *st->live) {
    auto d = catalog->get(id, loc.version, true);
    MSA_CHECK(d.has_value(), "{}: document {} version {} missing", catalog->path(), id, loc.version);
    const auto& e = loc.seg->docs[loc.local];
    MSA_CHECK(d->num_chunks == int64_t(e.num_chunks) && d->num_tokens == int64_t(e.num_tokens),
              "{}: document {} has {} chunks / {} tokens in the catalog but {} / {} in {}", catalog->path(), id,
              d->num_chunks, d->num_tokens, e.num_chunks, e.num_tokens, loc.seg->path);
    MSA_CHECK(document_content_hash(d->ns, d->text) == d->content_hash,
              "{}: document {}'s text does not match its content hash (the catalog is corrupt)", catalog->path(), id);
  }
}

}  // namespace msa::memory
