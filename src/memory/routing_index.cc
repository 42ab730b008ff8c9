#include "memory/routing_index.h"

#include <algorithm>
#include <cfloat>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sys/mman.h>

#include "core/error.h"

namespace msa::memory {

using kernels::ScanType;

const char* key_storage_name(KeyStorage s) {
  switch (s) {
    case KeyStorage::F32: return "f32";
    case KeyStorage::BF16: return "bf16";
    case KeyStorage::Int8: return "int8";
  }
  return "?";
}

bool NamespaceFilter::admits(uint32_t ns) const {
  return all || std::find(allowed.begin(), allowed.end(), ns) != allowed.end();
}

RoutingIndex::KeyBuffer::~KeyBuffer() { std::free(p_); }

void RoutingIndex::KeyBuffer::grow(size_t bytes) {
  if (bytes <= n_) return;
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t n = (bytes + kHuge - 1) / kHuge * kHuge;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(kHuge, n));
  if (!p) throw std::bad_alloc();
  madvise(p, n, MADV_HUGEPAGE);  // advisory; failure is harmless
  if (n_) std::memcpy(p, p_, n_);
  std::memset(p + n_, 0, n - n_);
  std::free(p_);
  p_ = p;
  n_ = n;
}

RoutingIndex::RoutingIndex(const RoutingIndexOptions& opt) : opt_(opt) {
  MSA_CHECK(opt.num_slots > 0, "routing index: num_slots must be > 0 (got {})", opt.num_slots);
  MSA_CHECK(opt.Hkv > 0 && opt.d > 0, "routing index: bad key geometry Hkv={} d={}", opt.Hkv, opt.d);
  MSA_CHECK(opt.rescore_factor >= 1, "routing index: rescore_factor must be >= 1 (got {})",
            opt.rescore_factor);
  slots_.resize(size_t(opt.num_slots));
}

ScanType RoutingIndex::scan_type() const {
  switch (opt_.storage) {
    case KeyStorage::F32: return ScanType::F32;
    case KeyStorage::BF16: return ScanType::BF16;
    case KeyStorage::Int8: return ScanType::Int8;
  }
  return ScanType::BF16;
}

void RoutingIndex::grow(int64_t new_chunks) {
  const int64_t need = kernels::scan_num_blocks(new_chunks);
  if (need <= capacity_blocks_) return;
  const int64_t cap = std::max(need, capacity_blocks_ * 2);
  const int64_t D = opt_.Hkv * opt_.d;
  const size_t bb = kernels::scan_block_bytes(scan_type(), D);
  const size_t bb16 = kernels::scan_block_bytes(ScanType::BF16, D);
  const size_t old = size_t(capacity_blocks_);
  for (SlotKeys& s : slots_) {
    s.packed.grow(size_t(cap) * bb);
    if (opt_.storage == KeyStorage::Int8) {
      s.scales.resize(size_t(cap) * kernels::kScanLanes);
      std::fill(s.scales.data() + old * kernels::kScanLanes, s.scales.end(), 0.f);
      s.bf16.grow(size_t(cap) * bb16);
    }
  }
  capacity_blocks_ = cap;
}

void RoutingIndex::reserve_chunks(int64_t chunks) { grow(chunks); }

void RoutingIndex::add(int64_t doc_id, uint32_t ns, int64_t num_chunks,
                       std::span<const float* const> keys_per_slot) {
  MSA_CHECK(!index_of_.contains(doc_id), "routing index: document id {} already present", doc_id);
  MSA_CHECK(int64_t(keys_per_slot.size()) == opt_.num_slots,
            "routing index: document {} has keys for {} slots, index has {}", doc_id,
            keys_per_slot.size(), opt_.num_slots);
  MSA_CHECK(num_chunks >= 0, "routing index: document {} has {} chunks", doc_id, num_chunks);
  const int64_t first = chunk_begin_.back();
  grow(first + num_chunks);
  const int64_t D = opt_.Hkv * opt_.d;
  for (size_t s = 0; s < slots_.size(); ++s) {
    MSA_CHECK(num_chunks == 0 || keys_per_slot[s] != nullptr,
              "routing index: document {} has no keys for slot {}", doc_id, s);
    SlotKeys& sk = slots_[s];
    kernels::pack_chunk_keys(scan_type(), D, keys_per_slot[s], num_chunks, first, sk.packed.data(),
                             sk.scales.data());
    if (opt_.storage == KeyStorage::Int8)
      kernels::pack_chunk_keys(ScanType::BF16, D, keys_per_slot[s], num_chunks, first, sk.bf16.data(),
                               nullptr);
  }
  index_of_[doc_id] = int64_t(ids_.size());
  ids_.push_back(doc_id);
  ns_.push_back(ns);
  live_.push_back(1);
  chunk_begin_.push_back(first + num_chunks);
  ++live_docs_;
}

void RoutingIndex::add(int64_t doc_id, uint32_t ns, const EncodedDocument& doc) {
  MSA_CHECK(int64_t(doc.routing_key.size()) == opt_.num_slots,
            "routing index: document {} has routing keys for {} slots, index has {}", doc_id,
            doc.routing_key.size(), opt_.num_slots);
  std::vector<const float*> p;
  for (size_t s = 0; s < doc.routing_key.size(); ++s) {
    MSA_CHECK(int64_t(doc.routing_key[s].size()) == doc.num_chunks * opt_.Hkv * opt_.d,
              "routing index: document {} slot {}: routing key has {} floats, expected {}", doc_id, s,
              doc.routing_key[s].size(), doc.num_chunks * opt_.Hkv * opt_.d);
    p.push_back(doc.routing_key[s].data());
  }
  add(doc_id, ns, doc.num_chunks, p);
}

bool RoutingIndex::remove(int64_t doc_id) {
  auto it = index_of_.find(doc_id);
  if (it == index_of_.end() || !live_[size_t(it->second)]) return false;
  live_[size_t(it->second)] = 0;
  --live_docs_;
  return true;
}

bool RoutingIndex::contains(int64_t doc_id) const {
  auto it = index_of_.find(doc_id);
  return it != index_of_.end() && live_[size_t(it->second)];
}

void RoutingIndex::compact() {
  if (live_docs_ == int64_t(ids_.size())) return;
  RoutingIndex fresh(opt_);
  int64_t chunks = 0;
  for (size_t i = 0; i < ids_.size(); ++i)
    if (live_[i]) chunks += chunk_begin_[i + 1] - chunk_begin_[i];
  fresh.grow(chunks);
  const int64_t D = opt_.Hkv * opt_.d;
  int64_t dst = 0;
  for (size_t i = 0; i < ids_.size(); ++i) {
    if (!live_[i]) continue;
    for (int64_t c = chunk_begin_[i]; c < chunk_begin_[i + 1]; ++c, ++dst)
      for (size_t s = 0; s < slots_.size(); ++s) {
        kernels::copy_packed_chunk(scan_type(), D, slots_[s].packed.data(), slots_[s].scales.data(), c,
                                   fresh.slots_[s].packed.data(), fresh.slots_[s].scales.data(), dst);
        if (opt_.storage == KeyStorage::Int8)
          kernels::copy_packed_chunk(ScanType::BF16, D, slots_[s].bf16.data(), nullptr, c,
                                     fresh.slots_[s].bf16.data(), nullptr, dst);
      }
    fresh.index_of_[ids_[i]] = int64_t(fresh.ids_.size());
    fresh.ids_.push_back(ids_[i]);
    fresh.ns_.push_back(ns_[i]);
    fresh.live_.push_back(1);
    fresh.chunk_begin_.push_back(dst);
    ++fresh.live_docs_;
  }
  *this = std::move(fresh);
}

size_t RoutingIndex::scan_bytes(int slot) const {
  const int64_t D = opt_.Hkv * opt_.d;
  size_t b = size_t(kernels::scan_num_blocks(num_chunks())) * kernels::scan_block_bytes(scan_type(), D);
  if (opt_.storage == KeyStorage::Int8) b += size_t(num_chunks()) * sizeof(float);
  return b;
}

kernels::PackedKeysView RoutingIndex::keys_view(int slot, bool rescore_copy) const {
  MSA_CHECK(slot >= 0 && slot < opt_.num_slots, "routing index: slot {} out of range [0, {})", slot,
            opt_.num_slots);
  const SlotKeys& s = slots_[size_t(slot)];
  kernels::PackedKeysView v;
  v.num_chunks = num_chunks();
  v.Hkv = opt_.Hkv;
  v.d = opt_.d;
  if (rescore_copy && opt_.storage == KeyStorage::Int8) {
    v.type = ScanType::BF16;
    v.data = s.bf16.data();
  } else {
    v.type = scan_type();
    v.data = s.packed.data();
    v.scales = s.scales.data();
  }
  return v;
}

std::vector<uint8_t> RoutingIndex::allowed_docs(const NamespaceFilter& f) const {
  std::vector<uint8_t> a(ids_.size());
  for (size_t i = 0; i < ids_.size(); ++i) a[i] = live_[i] && f.admits(ns_[i]);
  return a;
}

std::vector<DocScore> RoutingIndex::search(int slot, const RoutingQuery& q, const NamespaceFilter& f,
                                           const SearchOptions& so) const {
  return search_batch(slot, std::span<const RoutingQuery>(&q, 1), std::span<const NamespaceFilter>(&f, 1),
                      so)[0];
}

namespace {

// Same arithmetic as kernels::doc_top_k (sequential over the document's chunks).
float doc_score(const float* cs, int64_t b, int64_t e, kernels::ChunkReduce cr) {
  if (e <= b) return -FLT_MAX;
  float acc = cr == kernels::ChunkReduce::Max ? -FLT_MAX : 0.f;
  for (int64_t c = b; c < e; ++c) acc = cr == kernels::ChunkReduce::Max ? std::max(acc, cs[c]) : acc + cs[c];
  if (cr == kernels::ChunkReduce::Mean) acc /= float(e - b);
  return acc;
}

// Marks the blocks holding chunks of the given documents.
void mark_blocks(const std::vector<int64_t>& chunk_begin, const std::vector<int64_t>& docs,
                 std::vector<uint8_t>& mask) {
  for (int64_t i : docs) {
    const int64_t b = chunk_begin[size_t(i)], e = chunk_begin[size_t(i) + 1];
    if (e <= b) continue;
    for (int64_t blk = b / kernels::kScanLanes; blk <= (e - 1) / kernels::kScanLanes; ++blk) mask[size_t(blk)] = 1;
  }
}

}  // namespace

std::vector<std::vector<DocScore>> RoutingIndex::search_batch(int slot, std::span<const RoutingQuery> qs,
                                                              std::span<const NamespaceFilter> filters,
                                                              const SearchOptions& so) const {
  MSA_CHECK(slot >= 0 && slot < opt_.num_slots, "routing index: slot {} out of range [0, {})", slot,
            opt_.num_slots);
  MSA_CHECK(filters.empty() || filters.size() == qs.size(),
            "routing index: {} namespace filters for {} questions", filters.size(), qs.size());
  const size_t nq = qs.size();
  std::vector<std::vector<DocScore>> result(nq);
  if (nq == 0) return result;
  const int64_t C = num_chunks(), ndocs = int64_t(ids_.size());

  std::vector<kernels::ScanQuestion> sqs;
  for (const RoutingQuery& q : qs) {
    MSA_CHECK(q.Tr == 0 || q.d == opt_.d, "routing index: query head dim {} != key head dim {}", q.d, opt_.d);
    MSA_CHECK(q.k >= 0, "routing index: negative k {}", q.k);
    sqs.push_back({q.u, q.Tr, q.Hq, q.head_reduce, q.query_reduce});
  }

  // Allowed documents per question (null: every stored document is allowed).
  std::vector<std::vector<uint8_t>> allowed(nq);
  const bool all_live = live_docs_ == ndocs;
  bool need_mask = true;
  for (size_t i = 0; i < nq; ++i) {
    const bool all_ns = filters.empty() || filters[i].all;
    if (all_ns && all_live) need_mask = false;
    else allowed[i] = allowed_docs(filters.empty() ? NamespaceFilter{} : filters[i]);
  }
  // Blocks holding at least one chunk some question may return.
  std::vector<uint8_t> block_mask;
  if (need_mask) {
    block_mask.assign(size_t(kernels::scan_num_blocks(C)), 0);
    std::vector<int64_t> docs;
    for (int64_t d = 0; d < ndocs; ++d)
      for (size_t i = 0; i < nq; ++i)
        if (allowed[i][size_t(d)]) {
          docs.push_back(d);
          break;
        }
    mark_blocks(chunk_begin_, docs, block_mask);
  }

  const bool int8 = opt_.storage == KeyStorage::Int8;
  const bool exact = int8 && so.exact_bf16;
  const kernels::PackedKeysView view = keys_view(slot, exact);
  kernels::ScanQueries prepared;
  prepared.prepare(view.type, opt_.Hkv, opt_.d, sqs);
  AlignedBuffer<float> cs(size_t(std::max<int64_t>(C, 1)) * nq);
  kernels::routing_scan(view, prepared, need_mask ? block_mask.data() : nullptr, cs.data());

  const bool rescore = int8 && !exact && so.int8_rescore;
  const int64_t factor = so.rescore_factor > 0 ? so.rescore_factor : opt_.rescore_factor;
  std::vector<std::vector<kernels::DocHit>> hits(nq);
  for (size_t i = 0; i < nq; ++i) {
    const int64_t k = rescore ? qs[i].k * factor : qs[i].k;
    hits[i] = kernels::doc_top_k(cs.data() + i * size_t(C), chunk_begin_.data(), ids_.data(),
                                 allowed[i].empty() ? nullptr : allowed[i].data(), ndocs,
                                 qs[i].chunk_reduce, k);
  }

  if (rescore) {
    // Exact bf16 scores of the candidates' chunks, one pass over their blocks.
    std::vector<int64_t> cand;
    for (auto& h : hits)
      for (auto& x : h) cand.push_back(x.index);
    std::vector<uint8_t> mask(size_t(kernels::scan_num_blocks(C)), 0);
    mark_blocks(chunk_begin_, cand, mask);
    const kernels::PackedKeysView bview = keys_view(slot, true);
    kernels::ScanQueries bq;
    bq.prepare(ScanType::BF16, opt_.Hkv, opt_.d, sqs);
    kernels::routing_scan(bview, bq, mask.data(), cs.data());
    for (size_t i = 0; i < nq; ++i) {
      for (auto& x : hits[i])
        x.score = doc_score(cs.data() + i * size_t(C), chunk_begin_[size_t(x.index)],
                            chunk_begin_[size_t(x.index) + 1], qs[i].chunk_reduce);
      std::erase_if(hits[i], [](const kernels::DocHit& x) { return !(x.score > kernels::kInvalidScore); });
      std::sort(hits[i].begin(), hits[i].end(), [](const kernels::DocHit& a, const kernels::DocHit& b) {
        return a.score > b.score || (a.score == b.score && a.id < b.id);
      });
      if (int64_t(hits[i].size()) > qs[i].k) hits[i].resize(size_t(qs[i].k));
    }
  }

  for (size_t i = 0; i < nq; ++i)
    for (auto& x : hits[i]) result[i].push_back(DocScore{x.id, x.score});
  return result;
}

}  // namespace msa::memory
