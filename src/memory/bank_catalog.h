// Document metadata of a bank in SQLite (WAL, synchronous=FULL): text,
// external id, namespace, metadata JSON, version and tombstones of every
// document version, the namespace table and the bank counters. The catalog's
// commit is the commit point of every bank write (docs/bank-format.md).
//
// Thread safety: every method takes an internal mutex (one connection), so a
// writer thread and many query threads may share one catalog.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace msa::memory {

struct CatalogDoc {
  int64_t doc_id = -1;
  int64_t version = 0;
  std::string external_id;  // "" when none
  std::string ns;           // namespace name
  std::string metadata;     // JSON text ("" when none)
  std::string text;
  uint64_t content_hash = 0;
  int64_t num_tokens = 0, num_chunks = 0;
  bool live = false;
};

struct LiveDocRef {
  int64_t doc_id, version;
  uint32_t ns;
};

class BankCatalog {
 public:
  BankCatalog(const std::string& path, bool writer);
  ~BankCatalog();
  BankCatalog(const BankCatalog&) = delete;
  BankCatalog& operator=(const BankCatalog&) = delete;

  const std::string& path() const { return path_; }

  // One consistent read: the manifest generation the catalog was committed
  // with, every live document version and the namespace table.
  void load(uint64_t* generation, int64_t* next_doc_id, std::vector<LiveDocRef>* live,
            std::map<std::string, uint32_t>* namespaces);

  // Runs fn inside BEGIN IMMEDIATE … COMMIT (ROLLBACK on exception).
  void transaction(const std::function<void()>& fn);
  // The following write helpers must run inside transaction().
  void set_meta(const std::string& key, const std::string& value);
  uint32_t namespace_id(const std::string& name);  // creates it when new
  void insert(const CatalogDoc& d, uint64_t generation);
  void mark_dead(int64_t doc_id, int64_t version, uint64_t generation);
  int64_t purge_dead();  // deletes dead versions' rows (compaction); returns how many

  std::string meta(const std::string& key, const std::string& fallback = "");
  std::optional<CatalogDoc> get(int64_t doc_id, int64_t version, bool with_text = true);
  std::optional<CatalogDoc> live_version(int64_t doc_id, bool with_text = true);
  // Live document carrying this external id.
  std::optional<CatalogDoc> find_external(const std::string& external_id);
  // Ids of live documents without an external id whose content hash is h, ascending.
  std::vector<int64_t> ids_with_hash_without_external(uint64_t h);
  // Live documents ordered by id; ns empty = all namespaces.
  std::vector<CatalogDoc> list(const std::vector<std::string>& ns, int64_t offset, int64_t limit);
  int64_t count_versions(bool live_only);
  std::string quick_check();  // "ok" or SQLite's complaint

 private:
  void exec(const char* sql);
  std::recursive_mutex mu_;
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace msa::memory
