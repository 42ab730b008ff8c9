// msa bank create|add|delete|list|stats|verify|compact — the persistent memory
// bank (src/memory/bank.h, docs/bank-format.md). Output formats are a contract
// scripts rely on: `add` prints one model id per input document (input order),
// `list --json` / `stats --json` print one JSON document.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <numeric>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/timer.h"
#include "engine/bank_report.h"
#include "memory/bank.h"
#include "memory/bank_ingest.h"
#include "memory/passages.h"
#include "model/default_model.h"

namespace msa::cli {
int bank_shard_main(int argc, char** argv);  // cmd_bank_split.cc
}  // namespace msa::cli

namespace {

using namespace msa::memory;
using nlohmann::json;

// Maintenance commands skip the full checksum pass (that is `verify`'s job).
BankOpenOptions open_options(bool writer) {
  BankOpenOptions o;
  o.writer = writer;
  o.verify_checksums = false;
  return o;
}

std::string human(uint64_t b) {
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double x = double(b);
  int i = 0;
  while (x >= 1024 && i < 4) x /= 1024, ++i;
  return fmt::format("{:.1f} {}", x, u[i]);
}

int bank_main(int argc, char** argv) {
  // `split` / `merge` (sharded banks, memory parallel) live in cmd_bank_split.cc.
  if (argc > 1 && (std::string(argv[1]) == "split" || std::string(argv[1]) == "merge"))
    return msa::cli::bank_shard_main(argc, argv);
  CLI::App app{"Persistent memory bank: create, add, delete, list, stats, verify, compact."};
  app.require_subcommand(1);
  std::string dir, model_dir, input, ns = kDefaultNamespace, rk_type = "bf16", content_type = "bf16";
  std::vector<int64_t> ids;
  std::vector<std::string> namespaces;
  int64_t batch_docs = 256, offset = 0, limit = -1;
  bool as_json = false, quiet = false;
  int64_t passage_tokens = -1;

  auto* create = app.add_subcommand("create", "create an empty bank for a model");
  create->add_option("bank", dir, "bank directory")->required();
  create->add_option("--model,-m", model_dir, "model directory (default: the embedded model)");
  create->add_option("--routing-dtype", rk_type, "routing keys on disk: bf16 | int8");
  create->add_option("--content-dtype", content_type, "content K/V on disk: bf16 | int8");

  auto* add = app.add_subcommand(
      "add", "add or update documents (JSONL or a directory of .txt/.md); prints each input's id(s), one line per input");
  add->add_option("bank", dir, "bank directory")->required();
  add->add_option("input", input, "docs.jsonl or a directory")->required();
  add->add_option("--namespace", ns, "namespace of documents that name none");
  add->add_option("--batch-docs", batch_docs, "documents per commit");
  add->add_option("--model,-m", model_dir, "model directory (default: the one the bank was created with)");
  add->add_flag("--quiet,-q", quiet, "no progress bar or summary");
  add->add_option("--passage-tokens", passage_tokens,
                  "split longer documents into passages of at most this many tokens; 0 = never split "
                  "(default: the model's msa_passage_tokens, else 64)");

  std::vector<std::string> external_ids;
  auto* del = app.add_subcommand("delete", "delete (tombstone) documents by id, or sources by external id");
  del->add_option("bank", dir, "bank directory")->required();
  del->add_option("ids", ids, "document ids");
  del->add_option("--external-id", external_ids, "a source's external id: all of its passages, one commit (repeatable)");

  auto* list = app.add_subcommand("list", "list live documents");
  list->add_option("bank", dir, "bank directory")->required();
  list->add_option("--namespace", namespaces, "only these namespaces (repeatable)");
  list->add_option("--offset", offset, "skip this many");
  list->add_option("--limit", limit, "at most this many");
  list->add_flag("--json", as_json, "one JSON array");

  auto* stats = app.add_subcommand("stats", "documents, tokens, chunks, bytes per tier, serving RSS");
  stats->add_option("bank", dir, "bank directory")->required();
  stats->add_flag("--json", as_json, "one JSON object");

  auto* verify = app.add_subcommand("verify", "check every checksum and the catalog (exit 0 iff consistent)");
  verify->add_option("bank", dir, "bank directory")->required();

  auto* compact = app.add_subcommand("compact", "rewrite segments without deleted documents");
  compact->add_option("bank", dir, "bank directory")->required();

  CLI11_PARSE(app, argc, argv);

  if (create->parsed()) {
    BankCreateOptions o;
    o.routing_keys = msa::memory::bankfmt::parse_vec_type(rk_type);
    o.content_k = o.content_v = msa::memory::bankfmt::parse_vec_type(content_type);
    const auto m = msa::model::resolve_model_dir(model_dir);
    Bank::create(dir, m.string(), o);
    std::printf("created bank %s for model %s\n", dir.c_str(), m.string().c_str());
    return 0;
  }
  if (add->parsed()) {
    BankOpenOptions o;
    o.writer = true;
    o.model_dir = model_dir;
    std::vector<IngestSkip> skipped;
    auto items = read_ingest_input(input, ns, &skipped);
    for (const auto& s : skipped) std::fprintf(stderr, "msa bank add: skipped %s: %s\n", s.path.c_str(), s.reason.c_str());
    MSA_CHECK(!items.empty(), "nothing to add from '{}'{}", input,
              skipped.empty() ? "" : fmt::format(" ({} file(s) skipped, listed above)", skipped.size()));
    auto bank = Bank::open(dir, o);
    IngestOptions io;
    io.batch_docs = batch_docs;
    io.progress = !quiet && progress_wanted();
    io.passage_tokens = passage_tokens >= 0 ? passage_tokens : msa::memory::default_passage_tokens(bank->model_dir());
    const auto r = ingest(*bank, items, io);
    for (const auto& ids : r.passage_ids) {
      for (size_t k = 0; k < ids.size(); ++k) std::printf("%s%lld", k ? " " : "", (long long)ids[k]);
      std::printf("\n");
    }
    if (!quiet)
      std::fprintf(stderr,
                   "added %lld, updated %lld, already committed %lld (%lld passages in all); %lld tokens in %.2f s "
                   "(%.0f tok/s)\n",
                   (long long)r.added, (long long)r.updated, (long long)r.skipped,
                   (long long)std::accumulate(r.passage_ids.begin(), r.passage_ids.end(), size_t(0),
                                              [](size_t n, const auto& v) { return n + v.size(); }),
                   (long long)r.tokens, r.seconds, r.seconds > 0 ? double(r.tokens) / r.seconds : 0.0);
    return 0;
  }
  if (del->parsed()) {
    MSA_CHECK(!ids.empty() || !external_ids.empty(), "give document ids or --external-id");
    auto bank = Bank::open(dir, open_options(true));
    const size_t by_id = ids.size();
    size_t missing = 0;
    for (const auto& e : external_ids) {
      const auto docs = msa::memory::find_source(*bank, e);
      if (docs.empty()) std::fprintf(stderr, "msa bank delete: no document has external id '%s'\n", e.c_str()), ++missing;
      for (const auto& d : docs) ids.push_back(d.doc_id);
    }
    const int64_t n = bank->remove(ids);
    if (!external_ids.empty()) {
      std::printf("deleted %lld document(s) (%zu by id, %zu source(s))\n", (long long)n, by_id, external_ids.size() - missing);
      return missing == 0 && n == int64_t(ids.size()) ? 0 : 1;
    }
    std::printf("deleted %lld of %zu\n", (long long)n, ids.size());
    return n == int64_t(ids.size()) ? 0 : 1;
  }
  if (list->parsed()) {
    auto bank = Bank::open(dir, open_options(false));
    const auto docs = bank->list(namespaces, offset, limit);
    if (as_json) {
      json a = json::array();
      for (auto& d : docs) a.push_back(msa::engine::bank_document_json(d));
      std::printf("%s\n", a.dump().c_str());
    } else {
      std::printf("%8s %4s %-12s %7s  %s\n", "id", "ver", "namespace", "tokens", "external id");
      for (auto& d : docs)
        std::printf("%8lld %4lld %-12s %7lld  %s\n", (long long)d.doc_id, (long long)d.version, d.ns.c_str(),
                    (long long)d.num_tokens, d.external_id.c_str());
    }
    return 0;
  }
  if (stats->parsed()) {
    msa::Timer t;
    auto bank = Bank::open(dir, open_options(false));
    const double open_ms = t.ms();
    const BankStats s = bank->stats();
    if (as_json) {
      json j = msa::engine::bank_stats_json(s);
      j["open_ms"] = open_ms;
      std::printf("%s\n", j.dump(1).c_str());
    } else {
      const double tok = s.tokens > 0 ? double(s.tokens) : 1.0;
      std::printf("bank %s (generation %llu)\n", dir.c_str(), (unsigned long long)s.generation);
      std::printf("  documents %lld (%lld stored versions), tokens %lld, chunks %lld (%lld stored)\n",
                  (long long)s.documents, (long long)s.stored_versions, (long long)s.tokens, (long long)s.chunks,
                  (long long)s.stored_chunks);
      std::printf("  segments %lld, routing partitions %lld\n", (long long)s.segments, (long long)s.partitions);
      std::printf("  RAM   routing keys  %10s  (%.1f B/token)\n", human(s.ram_routing_bytes).c_str(),
                  double(s.ram_routing_bytes) / tok);
      std::printf("  mmap  content K/V   %10s  (%.1f B/token)\n", human(s.disk_content_bytes).c_str(),
                  double(s.disk_content_bytes) / tok);
      std::printf("  disk  routing keys  %10s, template %s, catalog %s, total %s (%.1f B/token)\n",
                  human(s.disk_routing_bytes).c_str(), human(s.disk_template_bytes).c_str(),
                  human(s.disk_catalog_bytes).c_str(), human(s.disk_total_bytes).c_str(),
                  double(s.disk_total_bytes) / tok);
      std::printf("  serving needs ~%s resident (this process: %s RSS, open %.0f ms)\n",
                  human(s.serve_ram_bytes).c_str(), human(s.process_rss_bytes).c_str(), open_ms);
    }
    return 0;
  }
  if (verify->parsed()) {
    Bank::verify_dir(dir);
    std::printf("bank %s: ok\n", dir.c_str());
    return 0;
  }
  if (compact->parsed()) {
    auto bank = Bank::open(dir, open_options(true));
    const auto before = bank->stats();
    bank->compact();
    const auto after = bank->stats();
    std::printf("compacted: %lld → %lld stored chunks, %s → %s on disk\n", (long long)before.stored_chunks,
                (long long)after.stored_chunks, human(before.disk_total_bytes).c_str(),
                human(after.disk_total_bytes).c_str());
    return 0;
  }
  return 2;
}

}  // namespace

MSA_COMMAND("bank", "persistent memory bank: create | add | delete | list | stats | verify | compact | split | merge", bank_main);
