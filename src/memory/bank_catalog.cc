#include "memory/bank_catalog.h"

#include <sqlite3.h>

#include "core/error.h"

namespace msa::memory {

namespace {

using Lock = std::lock_guard<std::recursive_mutex>;

// A prepared statement with typed binds and column reads.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql, const std::string& path) : db_(db), path_(path) {
    MSA_CHECK(sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) == SQLITE_OK, "{}: SQL error: {}", path,
              sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    MSA_CHECK(rc == SQLITE_DONE, "{}: SQLite error: {}", path_, sqlite3_errmsg(db_));
    return false;
  }
  int64_t i64(int c) { return sqlite3_column_int64(s_, c); }
  std::string str(int c) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, size_t(sqlite3_column_bytes(s_, c))) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  const std::string& path_;
};

constexpr const char* kDocCols =
    "d.doc_id, d.version, d.external_id, n.name, d.metadata, d.content_hash, d.num_tokens, d.num_chunks, d.live";

CatalogDoc read_doc(Stmt& s, bool with_text) {
  CatalogDoc d;
  d.doc_id = s.i64(0);
  d.version = s.i64(1);
  d.external_id = s.str(2);
  d.ns = s.str(3);
  d.metadata = s.str(4);
  d.content_hash = uint64_t(s.i64(5));
  d.num_tokens = s.i64(6);
  d.num_chunks = s.i64(7);
  d.live = s.i64(8) != 0;
  if (with_text) d.text = s.str(9);
  return d;
}

}  // namespace

BankCatalog::BankCatalog(const std::string& path, bool writer) : path_(path) {
  const int flags = writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw_error("cannot open catalog '{}': {}", path, msg);
  }
  sqlite3_busy_timeout(db_, 10000);
  if (writer) {
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS namespaces(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)");
    exec("CREATE TABLE IF NOT EXISTS documents(doc_id INTEGER NOT NULL, version INTEGER NOT NULL,"
         " external_id TEXT NOT NULL, namespace INTEGER NOT NULL, metadata TEXT NOT NULL, text TEXT NOT NULL,"
         " content_hash INTEGER NOT NULL, num_tokens INTEGER NOT NULL, num_chunks INTEGER NOT NULL,"
         " live INTEGER NOT NULL, created_gen INTEGER NOT NULL, deleted_gen INTEGER,"
         " PRIMARY KEY(doc_id, version))");
    exec("CREATE INDEX IF NOT EXISTS documents_external ON documents(external_id) WHERE live = 1");
    exec("CREATE INDEX IF NOT EXISTS documents_hash ON documents(content_hash) WHERE live = 1");
  }
}

BankCatalog::~BankCatalog() { sqlite3_close(db_); }

void BankCatalog::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw_error("{}: SQLite error: {} (in: {})", path_, msg, sql);
  }
}

void BankCatalog::load(uint64_t* generation, int64_t* next_doc_id, std::vector<LiveDocRef>* live,
                       std::map<std::string, uint32_t>* namespaces) {
  Lock l(mu_);
  exec("BEGIN");
  try {
    *generation = std::stoull(meta("manifest_generation", "0"));
    *next_doc_id = std::stoll(meta("next_doc_id", "0"));
    live->clear();
    Stmt s(db_, "SELECT doc_id, version, namespace FROM documents WHERE live = 1 ORDER BY doc_id", path_);
    while (s.step()) live->push_back({s.i64(0), s.i64(1), uint32_t(s.i64(2))});
    namespaces->clear();
    Stmt n(db_, "SELECT id, name FROM namespaces", path_);
    while (n.step()) (*namespaces)[n.str(1)] = uint32_t(n.i64(0));
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
  exec("COMMIT");
}

void BankCatalog::transaction(const std::function<void()>& fn) {
  Lock l(mu_);
  exec("BEGIN IMMEDIATE");
  try {
    fn();
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
  exec("COMMIT");
}

void BankCatalog::set_meta(const std::string& key, const std::string& value) {
  Lock l(mu_);
  Stmt(db_, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2", path_)
      .bind(1, key)
      .bind(2, value)
      .step();
}

std::string BankCatalog::meta(const std::string& key, const std::string& fallback) {
  Lock l(mu_);
  Stmt s(db_, "SELECT value FROM meta WHERE key = ?1", path_);
  s.bind(1, key);
  return s.step() ? s.str(0) : fallback;
}

uint32_t BankCatalog::namespace_id(const std::string& name) {
  Lock l(mu_);
  {
    Stmt s(db_, "SELECT id FROM namespaces WHERE name = ?1", path_);
    s.bind(1, name);
    if (s.step()) return uint32_t(s.i64(0));
  }
  Stmt(db_, "INSERT INTO namespaces(name) VALUES(?1)", path_).bind(1, name).step();
  return uint32_t(sqlite3_last_insert_rowid(db_));
}

void BankCatalog::insert(const CatalogDoc& d, uint64_t generation) {
  Lock l(mu_);
  const uint32_t ns = namespace_id(d.ns);
  Stmt(db_,
       "INSERT INTO documents(doc_id, version, external_id, namespace, metadata, text, content_hash,"
       " num_tokens, num_chunks, live, created_gen) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
       path_)
      .bind(1, d.doc_id)
      .bind(2, d.version)
      .bind(3, d.external_id)
      .bind(4, int64_t(ns))
      .bind(5, d.metadata)
      .bind(6, d.text)
      .bind(7, int64_t(d.content_hash))
      .bind(8, d.num_tokens)
      .bind(9, d.num_chunks)
      .bind(10, int64_t(d.live))
      .bind(11, int64_t(generation))
      .step();
}

void BankCatalog::mark_dead(int64_t doc_id, int64_t version, uint64_t generation) {
  Lock l(mu_);
  Stmt(db_, "UPDATE documents SET live = 0, deleted_gen = ?3 WHERE doc_id = ?1 AND version = ?2", path_)
      .bind(1, doc_id)
      .bind(2, version)
      .bind(3, int64_t(generation))
      .step();
}

int64_t BankCatalog::purge_dead() {
  Lock l(mu_);
  Stmt(db_, "DELETE FROM documents WHERE live = 0", path_).step();
  return sqlite3_changes(db_);
}

std::optional<CatalogDoc> BankCatalog::get(int64_t doc_id, int64_t version, bool with_text) {
  Lock l(mu_);
  Stmt s(db_,
         (std::string("SELECT ") + kDocCols + ", d.text FROM documents d JOIN namespaces n ON n.id = d.namespace"
                                              " WHERE d.doc_id = ?1 AND d.version = ?2")
             .c_str(),
         path_);
  s.bind(1, doc_id).bind(2, version);
  if (!s.step()) return std::nullopt;
  return read_doc(s, with_text);
}

std::optional<CatalogDoc> BankCatalog::live_version(int64_t doc_id, bool with_text) {
  Lock l(mu_);
  Stmt s(db_,
         (std::string("SELECT ") + kDocCols + ", d.text FROM documents d JOIN namespaces n ON n.id = d.namespace"
                                              " WHERE d.doc_id = ?1 AND d.live = 1")
             .c_str(),
         path_);
  s.bind(1, doc_id);
  if (!s.step()) return std::nullopt;
  return read_doc(s, with_text);
}

std::optional<CatalogDoc> BankCatalog::find_external(const std::string& external_id) {
  Lock l(mu_);
  Stmt s(db_,
         (std::string("SELECT ") + kDocCols + ", '' FROM documents d JOIN namespaces n ON n.id = d.namespace"
                                              " WHERE d.external_id = ?1 AND d.live = 1")
             .c_str(),
         path_);
  s.bind(1, external_id);
  if (!s.step()) return std::nullopt;
  return read_doc(s, false);
}

std::vector<int64_t> BankCatalog::ids_with_hash_without_external(uint64_t h) {
  Lock l(mu_);
  Stmt s(db_, "SELECT doc_id FROM documents WHERE content_hash = ?1 AND live = 1 AND external_id = '' ORDER BY doc_id",
         path_);
  s.bind(1, int64_t(h));
  std::vector<int64_t> ids;
  while (s.step()) ids.push_back(s.i64(0));
  return ids;
}

std::vector<CatalogDoc> BankCatalog::list(const std::vector<std::string>& ns, int64_t offset, int64_t limit) {
  Lock l(mu_);
  std::string sql = std::string("SELECT ") + kDocCols +
                    " FROM documents d JOIN namespaces n ON n.id = d.namespace WHERE d.live = 1";
  if (!ns.empty()) {
    sql += " AND n.name IN (";
    for (size_t i = 0; i < ns.size(); ++i) sql += (i ? ",?" : "?") + std::to_string(i + 3);
    sql += ")";
  }
  sql += " ORDER BY d.doc_id LIMIT ?2 OFFSET ?1";
  Stmt s(db_, sql.c_str(), path_);
  s.bind(1, offset).bind(2, limit < 0 ? INT64_MAX : limit);
  for (size_t i = 0; i < ns.size(); ++i) s.bind(int(i) + 3, ns[i]);
  std::vector<CatalogDoc> out;
  while (s.step()) out.push_back(read_doc(s, false));
  return out;
}

int64_t BankCatalog::count_versions(bool live_only) {
  Lock l(mu_);
  Stmt s(db_, live_only ? "SELECT COUNT(*) FROM documents WHERE live = 1" : "SELECT COUNT(*) FROM documents", path_);
  s.step();
  return s.i64(0);
}

std::string BankCatalog::quick_check() {
  Lock l(mu_);
  Stmt s(db_, "PRAGMA quick_check", path_);
  std::string r;
  while (s.step()) r += (r.empty() ? "" : "; ") + s.str(0);
  return r;
}

}  // namespace msa::memory
