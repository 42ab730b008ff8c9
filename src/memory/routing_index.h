// Routing index: the pooled routing keys of every routing layer of a memory
// bank, stored packed for the fused scan (kernels/routing_scan.h), with a
// document table (chunk ranges, external ids, namespaces, tombstones).
//
// FAISS-like: add / remove (tombstone) / compact / search. search() computes
// exactly the spec's document scores (§4.4) and top-k (§4.5; ties: lower
// document id first) for one routing layer, with tombstones and an allowed-
// namespace set applied inside the scan (blocks with no allowed document are
// not read at all; filtered documents never reach top-k). search_batch()
// routes many questions in one pass over the keys.
//
// Storage formats: F32 (golden parity), BF16 (what the reference keeps on the
// GPU), Int8 (per-chunk scale; the scan yields rescore_factor·k candidate
// documents which are re-scored exactly from a bf16 copy, so the final top-k
// is the bf16 one whenever the true top-k is among the candidates).
//
// Engine adapter: route(slot, RoutingQuery) has the contract of
// MemoryView::route (top-k live documents, best first), so a MemoryView
// implementation forwards to it.
//
// Thread safety: const methods may run concurrently; add/remove/compact need
// exclusive access.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/aligned_buffer.h"
#include "kernels/routing_scan.h"
#include "memory/encoded_memory.h"
#include "memory/memory_view.h"

namespace msa::memory {

enum class KeyStorage : uint8_t { F32, BF16, Int8 };
const char* key_storage_name(KeyStorage s);

struct RoutingIndexOptions {
  int64_t num_slots = 1;  // routing layers
  int64_t Hkv = 0;
  int64_t d = 0;
  KeyStorage storage = KeyStorage::BF16;
  int64_t rescore_factor = 4;  // int8: candidates re-scored in bf16 = rescore_factor · k
};

// Which namespaces a search may return. Default: all.
struct NamespaceFilter {
  bool all = true;
  std::vector<uint32_t> allowed;  // used when !all
  static NamespaceFilter only(std::vector<uint32_t> ns) { return {false, std::move(ns)}; }
  bool admits(uint32_t ns) const;
};

struct SearchOptions {
  int64_t rescore_factor = -1;  // int8: override the index's factor (≤0: keep it)
  bool int8_rescore = true;     // int8: false → return the raw int8 top-k (recall studies)
  bool exact_bf16 = false;      // int8: scan the bf16 copy instead (exact reference)
};

class RoutingIndex {
 public:
  explicit RoutingIndex(const RoutingIndexOptions& opt);

  // keys_per_slot[slot] → [num_chunks, Hkv, d] f32 routing keys of the document.
  // Throws msa::Error on a duplicate id or a wrong slot count.
  void add(int64_t doc_id, uint32_t ns, int64_t num_chunks, std::span<const float* const> keys_per_slot);
  // Uses doc.routing_key (all slots).
  void add(int64_t doc_id, uint32_t ns, const EncodedDocument& doc);
  bool remove(int64_t doc_id);  // tombstone; false if unknown or already removed
  void compact();               // drops tombstoned documents' chunks
  void reserve_chunks(int64_t chunks);

  bool contains(int64_t doc_id) const;  // live
  int64_t num_docs() const { return live_docs_; }
  int64_t num_stored_docs() const { return int64_t(ids_.size()); }
  int64_t num_chunks() const { return chunk_begin_.back(); }
  const RoutingIndexOptions& options() const { return opt_; }
  size_t scan_bytes(int slot) const;  // bytes the scan reads for one slot (all chunks)

  std::vector<DocScore> search(int slot, const RoutingQuery& q, const NamespaceFilter& f = {},
                               const SearchOptions& so = {}) const;
  // filters: empty (all namespaces for every question) or one per question.
  std::vector<std::vector<DocScore>> search_batch(int slot, std::span<const RoutingQuery> qs,
                                                  std::span<const NamespaceFilter> filters = {},
                                                  const SearchOptions& so = {}) const;
  // MemoryView::route contract.
  std::vector<DocScore> route(int slot, const RoutingQuery& q) const { return search(slot, q); }

  // Packed keys of one slot (benchmarks, tests). `rescore_copy`: int8's bf16 copy.
  kernels::PackedKeysView keys_view(int slot, bool rescore_copy = false) const;
  const std::vector<int64_t>& chunk_begin() const { return chunk_begin_; }
  const std::vector<int64_t>& doc_ids() const { return ids_; }

 private:
  // 2 MiB-aligned, zero-filled on growth, advised for transparent huge pages
  // (a 4 KiB page per 4 KiB of streamed keys costs TLB misses and ends the
  // hardware prefetcher's streams).
  class KeyBuffer {
   public:
    KeyBuffer() = default;
    KeyBuffer(KeyBuffer&& o) noexcept { swap(o); }
    KeyBuffer& operator=(KeyBuffer&& o) noexcept {
      swap(o);
      return *this;
    }
    ~KeyBuffer();
    void grow(size_t bytes);  // keeps contents
    uint8_t* data() { return p_; }
    const uint8_t* data() const { return p_; }

   private:
    void swap(KeyBuffer& o) {
      std::swap(p_, o.p_);
      std::swap(n_, o.n_);
    }
    uint8_t* p_ = nullptr;
    size_t n_ = 0;
  };
  struct SlotKeys {
    KeyBuffer packed;              // primary format
    AlignedBuffer<float> scales;   // int8 per-chunk scales
    KeyBuffer bf16;                // int8 only: rescoring copy
  };
  kernels::ScanType scan_type() const;
  void grow(int64_t new_chunks);
  std::vector<uint8_t> allowed_docs(const NamespaceFilter& f) const;

  RoutingIndexOptions opt_;
  std::vector<SlotKeys> slots_;
  std::vector<int64_t> ids_;
  std::vector<uint32_t> ns_;
  std::vector<uint8_t> live_;
  std::vector<int64_t> chunk_begin_{0};
  std::unordered_map<int64_t, int64_t> index_of_;
  int64_t live_docs_ = 0;
  int64_t capacity_blocks_ = 0;
};

}  // namespace msa::memory
