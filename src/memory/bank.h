// The persistent memory bank (issue 4; format: docs/bank-format.md).
//
// A directory holding, for one model, the stage-1 encoding of a growing set of
// documents: immutable segment files (pooled routing keys, content K/V and the
// chunk→document map of one committed batch), the template-prefix K/V, a
// manifest naming them, and a SQLite catalog of document text, external ids,
// namespaces, metadata, versions and tombstones.
//
// Tiers: routing keys are loaded into RAM (a RoutingIndex per partition of
// segments, scanned by every query); content K/V stay memory-mapped and are
// read only for the documents routing selects.
//
// Concurrency: one writer (a file lock refuses a second one, in this or any
// other process); any number of readers. Every state of the bank is an
// immutable object: snapshot() hands out a consistent view that later writes
// never change (a new snapshot sees them). Inside one process a server runs
// one writer thread and many query threads on the same Bank object: all
// methods are thread-safe; writes are serialised.
//
// Library API (server, MPI sharding):
//   Bank::create(dir, model_dir);
//   auto bank = Bank::open(dir, {.writer = true, .model_dir = M});
//   std::vector<int64_t> ids = bank->add_documents({{text, external_id, ns, metadata}});
//   bank->update(id, new_text);  bank->remove({ids});  bank->compact();
//   auto snap = bank->snapshot({"team-a", "public"});   // MemoryView for engine::Session
//   snap->document_text(id);                            // interleave injection (namespace-checked)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "memory/bank_catalog.h"
#include "memory/bank_format.h"
#include "memory/bank_manifest.h"
#include "memory/memory_view.h"
#include "memory/routing_index.h"

namespace msa::model {
class Model;
class Tokenizer;
}  // namespace msa::model

namespace msa::memory {

inline constexpr const char* kDefaultNamespace = "default";

struct NewDocument {
  std::string text;
  std::string external_id;            // optional; unique among live documents
  std::string ns = kDefaultNamespace;  // namespace
  std::string metadata;               // optional JSON text (stored verbatim)
};

// Stage-1 input a caller already has for a document (add_prepared): its text
// is still stored for injection and citations.
struct PreparedDocument {
  // The token ids exactly as stage 1 must see them (a golden conformance set
  // gives ids, not text). Empty: the text is framed and tokenised as usual.
  std::vector<int32_t> token_ids;
  // The stage-1 encoding, already computed with this bank's model (msa eval
  // reuses one encoding across memory sizes; documents are encoded
  // independently, so it is exactly what the bank would compute). Null: the
  // bank encodes the document.
  std::shared_ptr<const EncodedDocument> encoded;
};

struct BankCreateOptions {
  bankfmt::VecType routing_keys = bankfmt::VecType::BF16;
  bankfmt::VecType content_k = bankfmt::VecType::BF16;
  bankfmt::VecType content_v = bankfmt::VecType::BF16;
  // Optional: the template prefix ids (a golden set gives them and has no
  // tokenizer). Empty: the model's tokenizer.json splits the prompt template.
  std::vector<int32_t> template_prefix_ids;
};

struct BankOpenOptions {
  bool writer = false;  // take the writer lock (add/update/remove/compact)
  // Model to check the bank's identity against (and to encode with, as writer).
  // Neither given: readers skip the check; a writer loads the model recorded at create.
  std::string model_dir;
  std::shared_ptr<const model::Model> model;
  std::shared_ptr<const model::Tokenizer> tokenizer;  // writer; default <model dir>/tokenizer.json
  KeyStorage routing_storage = KeyStorage::BF16;    // in-RAM routing index format
  bool verify_checksums = true;  // recompute every section checksum at open
  int64_t partition_chunks = int64_t(1) << 18;  // cap on one in-RAM routing partition
  int64_t encode_batch_tokens = 4096;            // stage-1 packing inside one commit
  // Writer: called before each stage-1 batch of a write and once more before
  // its commit; an exception it throws aborts the write with nothing committed
  // (the Python package turns Ctrl-C into one).
  std::function<void()> interrupt_check;
};

using DocumentInfo = CatalogDoc;

struct BankStats {
  uint64_t generation = 0;
  int64_t documents = 0;         // live
  int64_t stored_versions = 0;   // catalog rows (live + tombstoned, until compaction)
  int64_t tokens = 0, chunks = 0;  // live
  int64_t stored_chunks = 0;     // in segments (dead ones included)
  int64_t segments = 0, partitions = 0;
  uint64_t ram_routing_bytes = 0;     // routing index (resident)
  uint64_t disk_routing_bytes = 0;    // routing-key sections on disk
  uint64_t disk_content_bytes = 0;    // content K/V sections (memory-mapped tier)
  uint64_t disk_template_bytes = 0;
  uint64_t disk_catalog_bytes = 0;    // catalog.sqlite (+ WAL)
  uint64_t disk_total_bytes = 0;
  uint64_t serve_ram_bytes = 0;  // what serving needs resident: routing + tables + template
  uint64_t process_rss_bytes = 0;
};

struct BankState;  // immutable state of one bank generation (bank.cc)

// A consistent, namespace-restricted view of one bank state: the MemoryView
// the engine routes over. Documents outside the allowed namespaces are never
// scored (filtered inside the routing index, before top-k), never appended and
// never revealed by document_text().
class BankSnapshot : public MemoryView {
 public:
  BankSnapshot(std::shared_ptr<const BankState> st, NamespaceFilter filter);
  const TemplateKV& template_kv() const override;
  int64_t num_docs() const override;
  std::vector<DocScore> route(int slot, const RoutingQuery& q) const override;
  int64_t append_chunks(int slot, int64_t doc, std::vector<float>* k_out,
                        std::vector<float>* v_out) const override;

  bool visible(int64_t doc) const;
  std::optional<std::string> document_text(int64_t doc) const;  // nullopt unless visible
  std::optional<DocumentInfo> document(int64_t doc) const;      // nullopt unless visible
  uint64_t generation() const;

 private:
  std::shared_ptr<const BankState> st_;
  NamespaceFilter filter_;
  int64_t num_docs_ = 0;
};

class Bank {
 public:
  // Creates an empty bank for the model at model_dir (encodes the template prefix).
  static void create(const std::string& dir, const std::string& model_dir, const BankCreateOptions& o = {});
  static std::unique_ptr<Bank> open(const std::string& dir, const BankOpenOptions& o = {});
  ~Bank();

  // Writer only. Encodes only the new documents and commits them atomically
  // (one segment); returns their model ids ([i] in the prompt), in order.
  std::vector<int64_t> add_documents(const std::vector<NewDocument>& docs);
  // Writer only. Adds documents under ids chosen by the caller (a sharded bank:
  // rank 0 assigns global ids, the owning shard stores them). Rule: the ids must
  // be strictly increasing and the first at least next_document_id() — an id
  // is never reused, exactly as for assigned ids; next_document_id() becomes
  // the last id + 1. Gaps are allowed (the other shards' ids). One commit.
  std::vector<int64_t> add_documents(const std::vector<NewDocument>& docs, const std::vector<int64_t>& ids);
  // Writer only. add_documents(docs) with prepared[i] for docs[i] (same size).
  std::vector<int64_t> add_prepared(const std::vector<NewDocument>& docs, const std::vector<PreparedDocument>& prepared);
  // The id the next add_documents(docs) assigns: greater than every id this bank ever stored.
  int64_t next_document_id() const;
  // New version of a live document under the same model id (old version tombstoned).
  // Empty metadata/ns keep the old ones. Returns the new version number.
  int64_t update(int64_t doc_id, const NewDocument& doc);
  int64_t update(const std::string& external_id, const NewDocument& doc);
  // Mixed batch (ingest): replaces[i] = id to update, or -1 to add. One commit.
  // tokens (optional): receives the number of tokens encoded.
  std::vector<int64_t> write(const std::vector<NewDocument>& docs, const std::vector<int64_t>& replaces,
                             int64_t* tokens = nullptr);
  // The same, tombstoning the live documents `removes` in the same commit (a
  // source whose new version has fewer passages). Empty docs: remove() alone.
  std::vector<int64_t> write(const std::vector<NewDocument>& docs, const std::vector<int64_t>& replaces,
                             const std::vector<int64_t>& removes, int64_t* tokens = nullptr);
  // Tombstones live documents; returns how many were live. Routing excludes them at once.
  int64_t remove(const std::vector<int64_t>& ids);
  // Rewrites all segments without tombstoned chunks and drops dead catalog rows.
  void compact();
  // Merges the run of small segments (< small_chunks chunks each) at the end
  // of the bank into one when it has at least min_segments of them: every
  // commit adds a segment, and a server taking many small writes would
  // otherwise map (and route over) thousands of tiny ones. Cost: rewriting
  // those small segments only. Same commit protocol as compact(); dead
  // versions keep their catalog rows. Returns how many segments were merged.
  int64_t merge_small_segments(size_t min_segments = 16, uint64_t small_chunks = 4096);

  std::vector<DocumentInfo> list(const std::vector<std::string>& namespaces = {}, int64_t offset = 0,
                                 int64_t limit = -1) const;
  std::optional<DocumentInfo> document(int64_t id) const;  // live version, all namespaces
  BankStats stats() const;
  // Recomputes every checksum of the current files and checks catalog ↔
  // segments consistency; throws msa::Error naming the damaged file.
  void verify() const;
  static void verify_dir(const std::string& dir);

  std::shared_ptr<const BankSnapshot> snapshot(const std::vector<std::string>& allowed_namespaces) const;
  std::shared_ptr<const BankSnapshot> snapshot_all() const;

  const std::string& dir() const { return dir_; }
  // The model the bank encodes with (loaded on first use) and its tokenizer.
  std::shared_ptr<const model::Tokenizer> tokenizer() const;
  std::string model_dir() const;
  // The model the bank was created for (check_same_model() against a model to use with it).
  ModelIdentity recorded_model() const;
  bool is_writer() const;
  BankCatalog& catalog() const;

 private:
  Bank() = default;
  void load_encoder() const;
  std::vector<int64_t> write_impl(const std::vector<NewDocument>& docs, const std::vector<int64_t>& replaces,
                                  const std::vector<int64_t>* new_ids, int64_t* tokens,
                                  const std::vector<PreparedDocument>* prepared = nullptr,
                                  const std::vector<int64_t>& removes = {});
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string dir_;
};

// xxh64 of namespace + '\0' + text: the content hash stored per version (resume rule, verify).
uint64_t document_content_hash(const std::string& ns, const std::string& text);

}  // namespace msa::memory
