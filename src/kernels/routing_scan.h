// Fused routing scan (spec §4.4): chunk scores of one routing layer for one or
// many questions in one streaming pass over packed keys, then document
// reduction + top-k. No model knowledge: keys are C vectors of D = Hkv·d dims.
//
// Packed key layout ("lanes over chunks"): chunks are stored in blocks of 16;
// inside a block the D dims are cut into steps of `scan_group(type)` dims
// (1 f32, 2 bf16, 4 int8) and stored [step][lane 0..15][group], so one 64-byte
// vector holds one step of 16 chunks. A dot-product instruction (FMA,
// vdpbf16ps, vpdpbusd) against a broadcast query step then advances 16 chunk
// dots at once, and max/mean over query tokens is a lane-wise vmaxps/vaddps:
// no horizontal reductions anywhere.
//
// Numerics (see docs/routing.md):
//   * head MEAN is folded: q̂[t, j·d+i] = (Σ_{h∈group j} u[t,h,i]) / Hq in f32,
//     one dot over D; head MAX keeps Hq per-head columns over their KV head.
//   * BF16 keys: q̂ rounded to bf16 (RNE), products exact, f32 accumulation.
//   * INT8 keys: stored u8 = round(k/ks)+128, ks = max|k|/127 per chunk; each
//     query column quantised to s8 with qs = max|q̂|/127; score =
//     ks·qs·(Σ u8·s8 − 128·Σ s8). Candidates only: the index re-scores in bf16.
//   * F32 keys: f32 everything (golden parity).
// `effective_query` returns the exact f32 values a scan uses, so an oracle
// (chunk_scores_ref) over them and over `unpack_chunk_key` is exact up to
// summation order.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/aligned_buffer.h"
#include "kernels/routing_score.h"

namespace msa::kernels {

enum class ScanType : uint8_t { F32, BF16, Int8 };
const char* scan_type_name(ScanType t);

inline constexpr int64_t kScanLanes = 16;

int64_t scan_group(ScanType t);                  // dims per 4-byte step: 1, 2, 4
int64_t scan_padded_dim(ScanType t, int64_t D);  // D rounded up to a whole step
size_t scan_block_bytes(ScanType t, int64_t D);  // bytes of one 16-chunk block
inline int64_t scan_num_blocks(int64_t chunks) { return (chunks + kScanLanes - 1) / kScanLanes; }

// Writes chunks [first, first+n) from keys [n, D] f32 into packed storage
// (blocks already allocated; padding dims are zeroed). Int8 also writes
// scales[first .. first+n).
void pack_chunk_keys(ScanType t, int64_t D, const float* keys, int64_t n, int64_t first,
                     void* packed, float* scales);
// Chunk `c` back as f32 [D] (dequantised for int8: (u8−128)·scale).
void unpack_chunk_key(ScanType t, int64_t D, const void* packed, const float* scales, int64_t c,
                      float* out);

// Copies chunk src_c of packed storage `src` to chunk dst_c of `dst` bit for
// bit (and its int8 scale): compaction without re-quantising.
void copy_packed_chunk(ScanType t, int64_t D, const void* src, const float* src_scales,
                       int64_t src_c, void* dst, float* dst_scales, int64_t dst_c);

struct PackedKeysView {
  ScanType type = ScanType::BF16;
  const void* data = nullptr;     // scan_num_blocks(num_chunks) blocks
  const float* scales = nullptr;  // int8: [num_chunks] (padded to whole blocks)
  int64_t num_chunks = 0;
  int64_t Hkv = 0, d = 0;         // D = Hkv·d
};

// One question's routing queries u[Tr, Hq, d] (already scaled/normalised by
// the score rule) and its reductions.
struct ScanQuestion {
  const float* u = nullptr;
  int64_t Tr = 0;
  int64_t Hq = 0;
  HeadReduce head_reduce = HeadReduce::Mean;
  QueryReduce query_reduce = QueryReduce::Max;
};

// The f32 query values the scan really uses, laid out for chunk_scores_ref:
// head Mean → [Tr, 1, D] folded (score it against keys as [C, 1, D]);
// head Max  → [Tr, Hq, d]. Int8 returns the dequantised s8·qs values.
// Query-reduce Last keeps all tokens here (the oracle applies Last itself).
std::vector<float> effective_query(ScanType t, const ScanQuestion& q, int64_t Hkv, int64_t d);

// Queries of a batch of questions prepared as "columns": one column is one
// query vector over one key segment (all D for folded head-mean, one KV head
// for head-max), stored as 4-byte steps matching the key layout.
class ScanQueries {
 public:
  void prepare(ScanType t, int64_t Hkv, int64_t d, std::span<const ScanQuestion> qs);

  struct Question {
    int64_t col_begin = 0;  // first column
    int64_t tokens = 0;     // tokens with columns (1 for QueryReduce::Last)
    int64_t heads = 1;      // columns per token: 1 (folded mean) or Hq (max)
    int64_t G = 1;          // Hq / Hkv (max mode)
    HeadReduce hr = HeadReduce::Mean;
    QueryReduce qr = QueryReduce::Max;
  };
  struct Tile {  // ≤ kMaxTile consecutive columns sharing one segment
    int64_t col_begin, ncols, step_begin, nsteps;
    int64_t data;  // offset in `cols` of this tile's [nsteps][ncols] words
  };
  static constexpr int64_t kMaxTile = 12;  // upper bound of scan_max_tile

  ScanType type = ScanType::BF16;
  int64_t Hkv = 0, d = 0, D = 0, steps = 0;  // steps of the padded D
  int64_t ncols = 0;
  AlignedBuffer<uint32_t> cols;              // per tile: [step][tile column]
  std::vector<float> qscale;                 // int8: per column
  std::vector<int32_t> qcorr;                // int8: 128·Σ s8 per column
  std::vector<Question> questions;
  std::vector<Tile> tiles;
  int64_t max_tile = kMaxTile;
};

// chunk_scores[q · num_chunks + c] for every question q and every chunk of a
// block whose block_mask byte is non-zero (block_mask null: all blocks).
// Masked-out blocks are skipped at the granularity of the scan's block groups
// (scan_group_blocks): their entries are unspecified (written or untouched).
// Multi-threaded (msa::num_threads()).
void routing_scan(const PackedKeysView& keys, const ScanQueries& q, const uint8_t* block_mask,
                  float* chunk_scores);

// Which implementation routing_scan uses ("avx512-bf16", "scalar", ...).
const char* routing_scan_path(ScanType t);

struct DocHit {
  int64_t index = -1;  // position in the doc table
  int64_t id = -1;     // external document id
  float score = 0.f;
};

// Document scores (max/mean over each document's chunks, spec §4.4) and the
// top-k allowed documents with score > kInvalidScore, best first; ties go to
// the lower id. chunk_begin: [ndocs+1]; ids null → id = index; allowed null → all.
std::vector<DocHit> doc_top_k(const float* chunk_scores, const int64_t* chunk_begin,
                              const int64_t* ids, const uint8_t* allowed, int64_t ndocs,
                              ChunkReduce cr, int64_t k);

// ---- internal: one register tile (shared by the scalar and AVX-512 paths) ----
struct ScanTileArgs {
  const uint8_t* keys = nullptr;  // first block, at the tile's first step
  int64_t block_stride = 0;       // bytes between consecutive blocks
  int nb = 1;                     // blocks (of 16 chunks) in this group
  const uint32_t* q = nullptr;    // tile queries, [nsteps][ncols] 4-byte steps
  int ncols = 0;
  int64_t nsteps = 0;
  const float* kscale = nullptr;  // int8: [nb·16] key scales
  const float* qscale = nullptr;  // int8: [ncols]
  const int32_t* qcorr = nullptr; // int8: [ncols]
  float* out = nullptr;           // [ncols][out_stride] dot products
  int64_t out_stride = 0;
  int64_t prefetch = 0;           // >0: also prefetch (into L2) the line this many bytes ahead
  bool accumulate = false;        // continue from the partial sums in out (D split in slices)
  bool finish = true;             // last slice: int8 converts to scaled f32 (else raw int32 partials)
};
void scan_tile_scalar(ScanType t, const ScanTileArgs& a);
// False when this build/CPU has no AVX-512 path for t.
bool scan_tile_avx512(ScanType t, const ScanTileArgs& a);
// AVX2 tile (any ncols ≥ 1). Int8 partial sums (finish=false) are Σ (u8−128)·s8,
// not Σ u8·s8 as in the scalar/AVX-512 tiles: never mix tiers within one scan.
bool scan_tile_avx2(ScanType t, const ScanTileArgs& a);
// Tile shape for a scan with `total_cols` query columns: blocks per group and
// the widest column tile (AVX-512 register budget: ≤24 f32/bf16 accumulators;
// ≤16 for vpdpbusd, whose rate halves with more independent chains here).
int scan_group_blocks(ScanType t, int64_t total_cols);
int64_t scan_max_tile(ScanType t, int64_t total_cols);

}  // namespace msa::kernels
