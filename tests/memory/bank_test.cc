// Persistent memory bank: round trip, add/delete/update/compact semantics,
// snapshots, namespace isolation (property test), writer lock, model identity,
// corruption detection.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/half.h"
#include "memory/bank.h"
#include "memory/bank_format.h"
#include "memory/bank_ingest.h"
#include "memory/encoder.h"
#include "memory/in_memory_bank.h"
#include "model/model.h"
#include "model/prompt_format.h"
#include "model/tokenizer.h"
#include "bank_test_util.h"

using namespace msa;
using namespace msa::memory;
using bank_test::temp_dir;
namespace fs = std::filesystem;

namespace {

const std::string& model_dir() {
  static const std::string d = bank_test::tiny_model("main", 4);
  return d;
}

std::unique_ptr<Bank> writer(const std::string& dir) {
  BankOpenOptions o;
  o.writer = true;
  o.model_dir = model_dir();
  return Bank::open(dir, o);
}

std::string fresh_bank(const std::string& tag, const BankCreateOptions& co = {}) {
  const auto dir = temp_dir(tag).string();
  Bank::create(dir, model_dir(), co);
  return dir;
}

float bf16_round(float x) { return bf16_to_f32(f32_to_bf16(x)); }

std::vector<float> random_query(std::mt19937_64& r, int64_t Tr, int64_t Hq, int64_t d) {
  std::normal_distribution<float> n;
  std::vector<float> u(size_t(Tr * Hq * d));
  for (auto& x : u) x = n(r);
  return u;
}

RoutingQuery query(const std::vector<float>& u, int64_t Tr, int64_t k) {
  RoutingQuery q;
  q.u = u.data();
  q.Tr = Tr;
  q.Hq = 4;
  q.d = 16;
  q.k = k;
  return q;
}

void flip_byte(const std::string& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(std::streamoff(offset));
  char c;
  f.read(&c, 1);
  c = char(c ^ 0x5a);
  f.seekp(std::streamoff(offset));
  f.write(&c, 1);
}

}  // namespace

TEST(Bank, RoundTripTensorsAndRouting) {
  REQUIRE_TOKENIZER();
  const auto dir = fresh_bank("roundtrip");
  std::mt19937_64 r(1);
  std::vector<std::string> texts;
  for (int i = 0; i < 12; ++i) texts.push_back(bank_test::random_text(r));
  {
    auto b = writer(dir);
    std::vector<NewDocument> docs;
    for (auto& t : texts) docs.push_back({t, "", "default", ""});
    EXPECT_EQ(b->add_documents({docs.begin(), docs.begin() + 5}), (std::vector<int64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(b->add_documents({docs.begin() + 5, docs.end()}), (std::vector<int64_t>{5, 6, 7, 8, 9, 10, 11}));
  }
  // Reference: the encoder directly, bf16-rounded (the bank's storage type).
  auto m = model::Model::load(model_dir());
  auto tok = model::Tokenizer::load(model_dir() + "/tokenizer.json");
  MemoryEncoder enc(*m);
  InMemoryBank ref(2, 2, 16, KeyStorage::BF16);
  const TemplateKV t = enc.encode_template(model::split_prompt_template(tok).prefix_ids);
  std::vector<EncodedDocument> encoded;
  for (size_t i = 0; i < texts.size(); ++i) {
    encoded.push_back(enc.encode_one(model::encode_memory_document(tok, int64_t(i), texts[i])));
    ref.add(encoded.back());
  }
  BankOpenOptions ro;
  ro.model_dir = model_dir();
  auto b = Bank::open(dir, ro);
  auto snap = b->snapshot_all();
  EXPECT_EQ(snap->num_docs(), 12);
  ASSERT_EQ(snap->template_kv().num_tokens, t.num_tokens);
  for (size_t l = 0; l < t.k.size(); ++l) {
    EXPECT_EQ(snap->template_kv().k[l], t.k[l]) << "template K layer " << l;  // f32, exact
    EXPECT_EQ(snap->template_kv().v[l], t.v[l]) << "template V layer " << l;
  }
  for (int slot = 0; slot < 2; ++slot)
    for (size_t i = 0; i < texts.size(); ++i) {
      std::vector<float> k, v;
      ASSERT_EQ(snap->append_chunks(slot, int64_t(i), &k, &v), encoded[i].num_chunks);
      ASSERT_EQ(k.size(), encoded[i].pooled_k[size_t(slot)].size());
      for (size_t j = 0; j < k.size(); ++j) {
        ASSERT_EQ(k[j], bf16_round(encoded[i].pooled_k[size_t(slot)][j]));
        ASSERT_EQ(v[j], bf16_round(encoded[i].pooled_v[size_t(slot)][j]));
      }
    }
  // Routing equals the in-memory bank's (same bf16 keys), ids and scores.
  for (int trial = 0; trial < 20; ++trial) {
    const auto u = random_query(r, 3, 4, 16);
    for (int slot = 0; slot < 2; ++slot) {
      const auto a = snap->route(slot, query(u, 3, 5));
      const auto e = ref.route(slot, query(u, 3, 5));
      ASSERT_EQ(a.size(), e.size());
      for (size_t j = 0; j < a.size(); ++j) {
        EXPECT_EQ(a[j].doc, e[j].doc);
        EXPECT_FLOAT_EQ(a[j].score, e[j].score);
      }
    }
  }
  EXPECT_EQ(*snap->document_text(3), texts[3]);
  EXPECT_NO_THROW(b->verify());
}

TEST(Bank, Int8StorageRoundTripsWithinQuantisationError) {
  REQUIRE_TOKENIZER();
  BankCreateOptions co;
  co.routing_keys = co.content_k = co.content_v = bankfmt::VecType::Int8;
  const auto dir = fresh_bank("int8", co);
  auto b = writer(dir);
  std::mt19937_64 r(2);
  const std::string text = bank_test::random_text(r, 30, 40);
  b->add_documents({{text, "", "default", ""}});
  auto m = model::Model::load(model_dir());
  auto tok = model::Tokenizer::load(model_dir() + "/tokenizer.json");
  const auto e = MemoryEncoder(*m).encode_one(model::encode_memory_document(tok, 0, text));
  std::vector<float> k, v;
  b->snapshot_all()->append_chunks(1, 0, &k, &v);
  ASSERT_EQ(k.size(), e.pooled_k[1].size());
  for (size_t h = 0; h < k.size() / 16; ++h) {
    float mx = 0;
    for (size_t j = 0; j < 16; ++j) mx = std::max(mx, std::fabs(e.pooled_k[1][h * 16 + j]));
    for (size_t j = 0; j < 16; ++j) EXPECT_NEAR(k[h * 16 + j], e.pooled_k[1][h * 16 + j], mx / 127 * 0.51 + 1e-7);
  }
  b.reset();
  EXPECT_NO_THROW(Bank::verify_dir(dir));
}

TEST(Bank, AddDeleteUpdateCompactSemantics) {
  REQUIRE_TOKENIZER();
  const auto dir = fresh_bank("semantics");
  auto b = writer(dir);
  auto ids = b->add_documents({{"alpha document text", "a", "default", R"({"k":1})"},
                               {"beta document text", "b", "default", ""},
                               {"gamma document text", "", "other", ""}});
  EXPECT_EQ(ids, (std::vector<int64_t>{0, 1, 2}));
  auto before = b->snapshot_all();
  // Delete: gone from routing and lookups at once; ids never reused.
  EXPECT_EQ(b->remove({1, 1, 99}), 1);
  EXPECT_EQ(b->remove({1}), 0);
  auto after = b->snapshot_all();
  EXPECT_FALSE(after->visible(1));
  EXPECT_TRUE(before->visible(1)) << "an older snapshot must not change";
  EXPECT_EQ(*before->document_text(1), "beta document text");
  std::vector<float> u(3 * 4 * 16, 0.5f);
  for (auto& d : after->route(0, query(u, 3, 10))) EXPECT_NE(d.doc, 1);
  EXPECT_EQ(after->route(0, query(u, 3, 10)).size(), 2u);
  EXPECT_EQ(b->add_documents({{"delta", "", "default", ""}}), (std::vector<int64_t>{3}));
  // Update keeps the model id, bumps the version, tombstones the old one.
  EXPECT_EQ(b->update(0, {"alpha, revised", "", "", ""}), 2);
  auto d0 = b->document(0);
  ASSERT_TRUE(d0);
  EXPECT_EQ(d0->text, "alpha, revised");
  EXPECT_EQ(d0->version, 2);
  EXPECT_EQ(d0->external_id, "a");
  EXPECT_EQ(d0->metadata, R"({"k":1})");
  EXPECT_EQ(*after->document_text(0), "alpha document text");
  EXPECT_EQ(*b->snapshot_all()->document_text(0), "alpha, revised");
  EXPECT_EQ(b->update(std::string("a"), {"alpha v3", "", "", ""}), 3);
  EXPECT_THROW(b->update(1, {"x", "", "", ""}), Error);                         // deleted
  EXPECT_THROW(b->add_documents({{"dup", "a", "default", ""}}), Error);          // external id taken
  // Rebuilt state after reopen and after compaction is the same.
  auto check = [&](Bank& bk, int64_t n = 3) {
    auto s = bk.snapshot_all();
    EXPECT_EQ(s->num_docs(), n);
    EXPECT_EQ(*s->document_text(0), "alpha v3");
    EXPECT_FALSE(s->visible(1));
    EXPECT_EQ(*s->document_text(2), "gamma document text");
    EXPECT_EQ(int64_t(bk.list().size()), n);
    EXPECT_EQ(bk.list({"other"}).size(), 1u);
  };
  check(*b);
  const auto st0 = b->stats();
  EXPECT_EQ(st0.stored_versions, 6);
  b.reset();
  b = writer(dir);
  check(*b);
  std::vector<float> k_before, v_before;
  b->snapshot_all()->append_chunks(0, 2, &k_before, &v_before);
  b->compact();
  check(*b);
  const auto st1 = b->stats();
  EXPECT_EQ(st1.stored_versions, 3);
  EXPECT_EQ(st1.stored_chunks, st1.chunks);
  EXPECT_LT(st1.stored_chunks, st0.stored_chunks);
  std::vector<float> k_after, v_after;
  b->snapshot_all()->append_chunks(0, 2, &k_after, &v_after);
  EXPECT_EQ(k_before, k_after);
  EXPECT_EQ(v_before, v_after);
  EXPECT_EQ(b->add_documents({{"epsilon", "", "default", ""}}), (std::vector<int64_t>{4}));
  b.reset();
  EXPECT_NO_THROW(Bank::verify_dir(dir));
  b = writer(dir);
  check(*b, 4);
}

// Sharded banks (docs/memory-parallel.md): rank 0 assigns global ids and the
// owning shard stores documents under them. The ids must be strictly
// increasing and not below next_document_id() (never reused); the encoding is
// exactly what the bank assigns itself to the same id.
TEST(Bank, AddWithGivenIdsKeepsTheNeverReusedRule) {
  REQUIRE_TOKENIZER();
  const auto dir = fresh_bank("given_ids");
  auto b = writer(dir);
  EXPECT_EQ(b->next_document_id(), 0);
  EXPECT_EQ(b->add_documents({{"alpha text", "", "default", ""}, {"beta text", "", "other", ""}}, {3, 7}),
            (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(b->next_document_id(), 8);
  EXPECT_THROW(b->add_documents({{"x", "", "default", ""}}, {7}), Error);         // used
  EXPECT_THROW(b->add_documents({{"x", "", "default", ""}}, {5}), Error);         // below next
  EXPECT_THROW(b->add_documents({{"x", "", "", ""}, {"y", "", "", ""}}, {9, 9}), Error);  // not increasing
  EXPECT_THROW(b->add_documents({{"x", "", "", ""}}, {9, 10}), Error);            // count mismatch
  EXPECT_EQ(b->next_document_id(), 8) << "a refused batch must not consume ids";
  EXPECT_EQ(b->remove({7}), 1);
  EXPECT_THROW(b->add_documents({{"x", "", "default", ""}}, {7}), Error);         // deleted ids stay used
  EXPECT_EQ(b->add_documents({{"gamma text", "", "default", ""}}), (std::vector<int64_t>{8}));
  // Same id, same text → the same encoding as an assigned id (a fresh bank assigning 0..3).
  const auto dir2 = fresh_bank("given_ids_ref");
  auto r = writer(dir2);
  r->add_documents({{"p", "", "default", ""}, {"q", "", "default", ""}, {"s", "", "default", ""}});
  EXPECT_EQ(r->add_documents({{"alpha text", "", "default", ""}}), (std::vector<int64_t>{3}));
  std::vector<float> k1, v1, k2, v2;
  EXPECT_GT(b->snapshot_all()->append_chunks(0, 3, &k1, &v1), 0);
  r->snapshot_all()->append_chunks(0, 3, &k2, &v2);
  EXPECT_EQ(k1, k2);
  EXPECT_EQ(v1, v2);
  // Reopen: the catalog kept next_doc_id and the gaps.
  b.reset();
  EXPECT_NO_THROW(Bank::verify_dir(dir));
  b = writer(dir);
  EXPECT_EQ(b->next_document_id(), 9);
  EXPECT_EQ(b->list().size(), 2u);
}

TEST(Bank, NamespaceIsolationProperty) {
  REQUIRE_TOKENIZER();
  const auto dir = fresh_bank("ns");
  auto b = writer(dir);
  std::mt19937_64 r(7);
  const std::vector<std::string> names = {"a", "b", "c", "d", "e"};
  std::map<int64_t, std::string> ns_of;
  for (int batch = 0; batch < 4; ++batch) {
    std::vector<NewDocument> docs;
    for (int i = 0; i < 15; ++i) docs.push_back({bank_test::random_text(r, 2, 30), "", names[r() % names.size()], ""});
    auto ids = b->add_documents(docs);
    for (size_t i = 0; i < ids.size(); ++i) ns_of[ids[i]] = docs[i].ns;
  }
  for (int i = 0; i < 8; ++i) {  // some deletes, some updates (namespace kept)
    const int64_t id = int64_t(r() % 60);
    if (!ns_of.count(id)) continue;
    if (r() % 2) {
      b->remove({id});
      ns_of.erase(id);
    } else {
      b->update(id, {bank_test::random_text(r), "", "", ""});
    }
  }
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::string> allowed;
    for (auto& n : names)
      if (r() % 2) allowed.push_back(n);
    if (trial % 17 == 0) allowed.push_back("no-such-namespace");
    auto s = b->snapshot(allowed);
    auto admitted = [&](int64_t id) {
      auto it = ns_of.find(id);
      return it != ns_of.end() && std::find(allowed.begin(), allowed.end(), it->second) != allowed.end();
    };
    int64_t visible = 0;
    for (auto& [id, ns] : ns_of) visible += admitted(id);
    EXPECT_EQ(s->num_docs(), visible);
    const int64_t k = 1 + int64_t(r() % 70);
    const auto u = random_query(r, 1 + int64_t(r() % 4), 4, 16);
    for (int slot = 0; slot < 2; ++slot) {
      const auto res = s->route(slot, query(u, int64_t(u.size() / 64), k));
      EXPECT_EQ(int64_t(res.size()), std::min(k, visible));
      for (auto& d : res) ASSERT_TRUE(admitted(d.doc)) << "leaked document " << d.doc;
    }
    for (int64_t id = 0; id < 62; ++id) {
      ASSERT_EQ(s->document_text(id).has_value(), admitted(id)) << id;
      ASSERT_EQ(s->visible(id), admitted(id));
      std::vector<float> kk, vv;
      if (!admitted(id)) {
        ASSERT_THROW(s->append_chunks(0, id, &kk, &vv), Error);
      }
    }
  }
}

TEST(Bank, SnapshotsStayConsistentWhileAWriterThreadCommits) {
  REQUIRE_TOKENIZER();
  const auto dir = fresh_bank("threads");
  auto b = writer(dir);
  std::atomic<bool> done{false};
  std::thread w([&] {
    std::mt19937_64 r(3);
    for (int i = 0; i < 12; ++i) {
      b->add_documents({{bank_test::random_text(r), "", "default", ""}, {bank_test::random_text(r), "", "default", ""}});
      if (i % 3 == 2) b->remove({int64_t(i)});
    }
    done = true;
  });
  std::vector<std::thread> readers;
  std::atomic<int64_t> checks{0};
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      std::vector<float> u(2 * 4 * 16, 0.25f);
      while (!done) {
        auto s = b->snapshot_all();
        const int64_t n = s->num_docs();
        const auto r1 = s->route(1, query(u, 2, 1000));
        ASSERT_EQ(int64_t(r1.size()), n);
        for (auto& d : r1) {
          std::vector<float> k, v;
          ASSERT_GT(s->append_chunks(1, d.doc, &k, &v), 0);
          ASSERT_TRUE(s->document_text(d.doc).has_value());
        }
        ++checks;
      }
    });
  w.join();
  for (auto& t : readers) t.join();
  EXPECT_GT(checks.load(), 0);
  EXPECT_EQ(b->snapshot_all()->num_docs(), 24 - 4);
}

TEST(Bank, SecondWriterIsRefusedReadersAreNot) {
  REQUIRE_TOKENIZER();
  const auto dir = fresh_bank("lock");
  auto b = writer(dir);
  try {
    writer(dir);
    FAIL() << "second writer was not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already open for writing"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(Bank::open(dir, {}));
  b.reset();
  EXPECT_NO_THROW(writer(dir));
}

TEST(Bank, RefusesAnotherModel) {
  REQUIRE_TOKENIZER();
  const auto dir = fresh_bank("identity");
  const std::string other = bank_test::tiny_model("other", 4, 99);  // same shapes, other weights
  BankOpenOptions o;
  o.model_dir = other;
  try {
    Bank::open(dir, o);
    FAIL() << "opened with another model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
  }
}

TEST(Bank, CorruptionOfEveryFileKindIsDetectedAndNamed) {
  REQUIRE_TOKENIZER();
  const auto dir = fresh_bank("corrupt");
  {
    auto b = writer(dir);
    b->add_documents({{"a document about the silver falcon", "", "default", ""},
                      {"another document about the lighthouse", "", "default", ""}});
  }
  const std::string seg = dir + "/segments/seg-00000001.msb";
  const size_t seg_size = fs::file_size(seg);
  struct Case {
    std::string file;
    size_t offset;
  };
  std::vector<Case> cases = {{seg, 20},                 // header
                             {seg, seg_size - 7},       // last section (content V)
                             {seg, seg_size / 2},       // middle
                             {dir + "/template.msb", fs::file_size(dir + "/template.msb") - 5},
                             {dir + "/MANIFEST", 40}};
  for (const auto& c : cases) {
    const std::string backup = c.file + ".bak";
    fs::copy_file(c.file, backup, fs::copy_options::overwrite_existing);
    flip_byte(c.file, c.offset);
    for (int mode = 0; mode < 2; ++mode) {
      try {
        if (mode == 0) Bank::open(dir, {});
        else Bank::verify_dir(dir);
        ADD_FAILURE() << "corruption of " << c.file << " at " << c.offset << " not detected (mode " << mode << ")";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(c.file), std::string::npos) << e.what();
      }
    }
    fs::rename(backup, c.file);
  }
  EXPECT_NO_THROW(Bank::verify_dir(dir));
  // Catalog text: detected by verify through the content hash.
  {
    std::ifstream f(dir + "/catalog.sqlite", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const size_t at = bytes.find("silver falcon");
    ASSERT_NE(at, std::string::npos);
    flip_byte(dir + "/catalog.sqlite", at + 3);
  }
  try {
    Bank::verify_dir(dir);
    ADD_FAILURE() << "catalog corruption not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("catalog.sqlite"), std::string::npos) << e.what();
  }
}

TEST(Bank, IngestResumesAndUpdatesByExternalId) {
  REQUIRE_TOKENIZER();
  const auto dir = fresh_bank("ingest");
  const auto docs = temp_dir("ingest_docs");
  fs::create_directories(docs / "sub");
  std::ofstream(docs / "a.txt") << "first file";
  std::ofstream(docs / "sub" / "b.md") << "# second file";
  std::ofstream(docs / "skip.bin") << "not ingested";
  auto b = writer(dir);
  auto items = read_ingest_input(docs.string(), "team");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].doc.external_id, "sub/b.md");
  auto r = ingest(*b, items, {1, false});
  EXPECT_EQ(r.added, 2);
  r = ingest(*b, items, {1, false});
  EXPECT_EQ(r.skipped, 2);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{0, 1}));
  std::ofstream(docs / "a.txt") << " changed";
  r = ingest(*b, read_ingest_input(docs.string(), "team"), {1, false});
  EXPECT_EQ(r.updated, 1);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(b->document(0)->version, 2);
  EXPECT_EQ(b->document(0)->ns, "team");
  // Duplicate texts without ids: the k-th occurrence is matched to the k-th copy.
  const auto jl = docs / "dups.jsonl";
  std::ofstream(jl) << R"({"text": "same"})" << "\n" << R"({"text": "same"})" << "\n"
                    << R"({"text": "other", "namespace": "x", "metadata": {"src": 1}})" << "\n";
  r = ingest(*b, read_ingest_input(jl.string(), "default"), {2, false});
  EXPECT_EQ(r.added, 3);
  r = ingest(*b, read_ingest_input(jl.string(), "default"), {2, false});
  EXPECT_EQ(r.skipped, 3);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(b->document(4)->metadata, R"({"src":1})");
}

// Issue 18 item 4: section sizes come from file headers (chunks <= 2^40, kv heads
// and head dim <= 4096); their product wrapped, so a header could "match" a
// tiny section. Sizes that do not fit in 64 bits are errors.
TEST(BankFormat, SectionSizeOverflowIsAnError) {
  using bankfmt::VecType;
  EXPECT_EQ(bankfmt::vec_section_bytes(VecType::BF16, 3, 2, 8), 3u * 2 * 8 * 2);
  EXPECT_EQ(bankfmt::vec_section_bytes(VecType::Int8, 3, 2, 8), 3u * 2 * 4 + 3u * 2 * 8);
  for (VecType t : {VecType::F32, VecType::BF16, VecType::Int8}) {
    try {
      const uint64_t bytes = bankfmt::vec_section_bytes(t, uint64_t(1) << 40, 4096, 4096);
      FAIL() << "2^64 values accepted as " << bytes << " bytes";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("size overflows"), std::string::npos) << e.what();
    }
  }
}

// Issue 18 item 3: one document longer than the model's positions would hold
// the single writer for hours (stage-1 attention is quadratic). It is refused
// before any encoding, naming both numbers, and the bank is unchanged.
TEST(Bank, RefusesADocumentLongerThanTheModelReads) {
  const auto dir = fresh_bank("too_long");
  auto b = writer(dir);
  std::string text;
  for (int i = 0; i < 5000; ++i) text += " word" + std::to_string(i % 10);
  try {
    b->add_documents({{text, "long-one", "", ""}});
    FAIL() << "a document of more than 4096 tokens was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'long-one'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at most 4096 (max_position_embeddings)"), std::string::npos) << msg;
  }
  EXPECT_EQ(b->stats().documents, 0);
  b->add_documents({{"a short one", "", "", ""}});
  EXPECT_EQ(b->stats().documents, 1);
}
