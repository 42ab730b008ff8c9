// Portable parts of the fused routing scan: packing, query preparation, the
// scan driver (threads, block groups, lane-wise reductions), the scalar tile,
// and document reduction + top-k. AVX-512 tiles: routing_scan_avx512.cc.
#include "kernels/routing_scan.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/half.h"
#include "core/threads.h"

namespace msa::kernels {

const char* scan_type_name(ScanType t) {
  switch (t) {
    case ScanType::F32: return "f32";
    case ScanType::BF16: return "bf16";
    case ScanType::Int8: return "int8";
  }
  return "?";
}

int64_t scan_group(ScanType t) { return t == ScanType::F32 ? 1 : t == ScanType::BF16 ? 2 : 4; }
int64_t scan_padded_dim(ScanType t, int64_t D) {
  const int64_t g = scan_group(t);
  return (D + g - 1) / g * g;
}
size_t scan_block_bytes(ScanType t, int64_t D) {
  return size_t(scan_padded_dim(t, D) / scan_group(t)) * kScanLanes * 4;
}

namespace {

// Per-vector symmetric int8 scale: max|x| / 127 (1 for an all-zero vector).
float int8_scale(const float* x, int64_t n, int64_t stride) {
  float m = 0.f;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i * stride]));
  return m > 0.f ? m / 127.f : 1.f;
}
int8_t quantize_s8(float x, float scale) {
  float r = std::nearbyint(x / scale);
  return int8_t(std::clamp(r, -127.f, 127.f));
}

}  // namespace

void pack_chunk_keys(ScanType t, int64_t D, const float* keys, int64_t n, int64_t first,
                     void* packed, float* scales) {
  const int64_t g = scan_group(t), Dp = scan_padded_dim(t, D);
  const size_t bb = scan_block_bytes(t, D);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = first + i, lane = c % kScanLanes;
    uint8_t* blk = static_cast<uint8_t*>(packed) + size_t(c / kScanLanes) * bb;
    const float* x = keys + i * D;
    float ks = 1.f;
    if (t == ScanType::Int8) ks = scales[c] = int8_scale(x, D, 1);
    for (int64_t e = 0; e < Dp; ++e) {
      const float v = e < D ? x[e] : 0.f;
      const size_t off = size_t((e / g) * kScanLanes + lane) * g + size_t(e % g);
      switch (t) {
        case ScanType::F32: reinterpret_cast<float*>(blk)[off] = v; break;
        case ScanType::BF16: reinterpret_cast<uint16_t*>(blk)[off] = f32_to_bf16(v); break;
        case ScanType::Int8: blk[off] = uint8_t(int(quantize_s8(v, ks)) + 128); break;
      }
    }
  }
}

void unpack_chunk_key(ScanType t, int64_t D, const void* packed, const float* scales, int64_t c,
                      float* out) {
  const int64_t g = scan_group(t), lane = c % kScanLanes;
  const uint8_t* blk = static_cast<const uint8_t*>(packed) + size_t(c / kScanLanes) * scan_block_bytes(t, D);
  for (int64_t e = 0; e < D; ++e) {
    const size_t off = size_t((e / g) * kScanLanes + lane) * g + size_t(e % g);
    switch (t) {
      case ScanType::F32: out[e] = reinterpret_cast<const float*>(blk)[off]; break;
      case ScanType::BF16: out[e] = bf16_to_f32(reinterpret_cast<const uint16_t*>(blk)[off]); break;
      case ScanType::Int8: out[e] = float(int(blk[off]) - 128) * scales[c]; break;
    }
  }
}

void copy_packed_chunk(ScanType t, int64_t D, const void* src, const float* src_scales,
                       int64_t src_c, void* dst, float* dst_scales, int64_t dst_c) {
  const size_t bb = scan_block_bytes(t, D);
  const int64_t steps = scan_padded_dim(t, D) / scan_group(t);
  const uint8_t* sb = static_cast<const uint8_t*>(src) + size_t(src_c / kScanLanes) * bb;
  uint8_t* db = static_cast<uint8_t*>(dst) + size_t(dst_c / kScanLanes) * bb;
  for (int64_t s = 0; s < steps; ++s)
    std::memcpy(db + s * 64 + (dst_c % kScanLanes) * 4, sb + s * 64 + (src_c % kScanLanes) * 4, 4);
  if (t == ScanType::Int8) dst_scales[dst_c] = src_scales[src_c];
}

// ---------------------------------------------------------------- queries --

namespace {

void check_question(const ScanQuestion& q, int64_t Hkv, int64_t d, ScanType t) {
  MSA_CHECK(q.Tr >= 0, "routing scan: negative routing token count {}", q.Tr);
  if (q.Tr == 0) return;
  MSA_CHECK(q.u != nullptr, "routing scan: null routing query");
  MSA_CHECK(q.Hq > 0 && Hkv > 0 && q.Hq % Hkv == 0,
            "routing scan: query heads {} not a multiple of KV heads {}", q.Hq, Hkv);
  if (q.head_reduce == HeadReduce::Max)
    MSA_CHECK(d % scan_group(t) == 0, "routing scan: head_reduce=max with {} keys needs d ({}) % {} == 0",
              scan_type_name(t), d, scan_group(t));
}

// f32 query vectors of one question before format rounding: one per (token, head column).
// Mean: [tokens][D] folded; Max: [tokens][Hq][d].
std::vector<float> folded_f32(const ScanQuestion& q, int64_t Hkv, int64_t d, int64_t t0, int64_t nt) {
  const int64_t D = Hkv * d, G = q.Hq / Hkv;
  std::vector<float> out;
  if (q.head_reduce == HeadReduce::Mean) {
    out.assign(size_t(nt * D), 0.f);
    for (int64_t t = 0; t < nt; ++t)
      for (int64_t j = 0; j < Hkv; ++j)
        for (int64_t i = 0; i < d; ++i) {
          float s = 0.f;
          for (int64_t g = 0; g < G; ++g) s += q.u[((t0 + t) * q.Hq + j * G + g) * d + i];
          out[size_t(t * D + j * d + i)] = s / float(q.Hq);
        }
  } else {
    out.assign(q.u + t0 * q.Hq * d, q.u + (t0 + nt) * q.Hq * d);
  }
  return out;
}

}  // namespace

std::vector<float> effective_query(ScanType t, const ScanQuestion& q, int64_t Hkv, int64_t d) {
  check_question(q, Hkv, d, t);
  if (q.Tr == 0) return {};
  std::vector<float> v = folded_f32(q, Hkv, d, 0, q.Tr);
  const int64_t vec = q.head_reduce == HeadReduce::Mean ? Hkv * d : d;  // one column
  for (size_t c = 0; c < v.size(); c += size_t(vec)) {
    float* x = v.data() + c;
    if (t == ScanType::BF16) {
      for (int64_t i = 0; i < vec; ++i) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
    } else if (t == ScanType::Int8) {
      const float s = int8_scale(x, vec, 1);
      for (int64_t i = 0; i < vec; ++i) x[i] = float(quantize_s8(x[i], s)) * s;
    }
  }
  return v;
}

void ScanQueries::prepare(ScanType t, int64_t Hkv_, int64_t d_, std::span<const ScanQuestion> qs) {
  MSA_CHECK(Hkv_ > 0 && d_ > 0, "routing scan: bad key geometry Hkv={} d={}", Hkv_, d_);
  type = t;
  Hkv = Hkv_;
  d = d_;
  D = Hkv * d;
  const int64_t g = scan_group(t);
  steps = scan_padded_dim(t, D) / g;
  questions.clear();
  tiles.clear();
  qscale.clear();
  qcorr.clear();

  // Column vectors in f32 (pre-rounding) with their segment.
  struct Col {
    const float* x;
    int64_t len, step_begin, nsteps;
  };
  std::vector<std::vector<float>> store;
  std::vector<Col> colv;
  for (const ScanQuestion& q : qs) {
    check_question(q, Hkv, d, t);
    Question Q;
    Q.col_begin = int64_t(colv.size());
    Q.hr = q.head_reduce;
    Q.qr = q.query_reduce;
    if (q.Tr == 0) {
      Q.tokens = 0;
      questions.push_back(Q);
      continue;
    }
    const bool last = q.query_reduce == QueryReduce::Last;
    Q.tokens = last ? 1 : q.Tr;
    store.push_back(folded_f32(q, Hkv, d, last ? q.Tr - 1 : 0, Q.tokens));
    const float* base = store.back().data();
    if (q.head_reduce == HeadReduce::Mean) {
      for (int64_t tk = 0; tk < Q.tokens; ++tk) colv.push_back({base + tk * D, D, 0, steps});
    } else {
      Q.heads = q.Hq;
      Q.G = q.Hq / Hkv;
      for (int64_t j = 0; j < Hkv; ++j)
        for (int64_t tk = 0; tk < Q.tokens; ++tk)
          for (int64_t gg = 0; gg < Q.G; ++gg)
            colv.push_back({base + (tk * q.Hq + j * Q.G + gg) * d, d, j * d / g, d / g});
    }
    questions.push_back(Q);
  }
  ncols = int64_t(colv.size());
  max_tile = scan_max_tile(t, ncols);

  // Tiles: runs of consecutive columns over the same segment.
  int64_t data_size = 0;
  for (int64_t c = 0; c < ncols;) {
    int64_t n = 1;
    while (c + n < ncols && n < max_tile && colv[size_t(c + n)].step_begin == colv[size_t(c)].step_begin &&
           colv[size_t(c + n)].nsteps == colv[size_t(c)].nsteps)
      ++n;
    tiles.push_back({c, n, colv[size_t(c)].step_begin, colv[size_t(c)].nsteps, data_size});
    data_size += n * colv[size_t(c)].nsteps;
    c += n;
  }

  // Encode every column as 4-byte steps, interleaved per tile: [step][column].
  cols.resize(size_t(std::max<int64_t>(data_size, 1)));
  qscale.assign(size_t(ncols), 1.f);
  qcorr.assign(size_t(ncols), 0);
  for (const Tile& tl : tiles) {
    for (int64_t j = 0; j < tl.ncols; ++j) {
      const Col& col = colv[size_t(tl.col_begin + j)];
      float s = 1.f;
      if (t == ScanType::Int8) s = qscale[size_t(tl.col_begin + j)] = int8_scale(col.x, col.len, 1);
      int32_t sum = 0;
      for (int64_t st = 0; st < tl.nsteps; ++st) {
        uint32_t w = 0;
        for (int64_t e = 0; e < g; ++e) {
          const int64_t i = st * g + e;
          const float v = i < col.len ? col.x[i] : 0.f;
          if (t == ScanType::F32) std::memcpy(&w, &v, 4);
          else if (t == ScanType::BF16) w |= uint32_t(f32_to_bf16(v)) << (16 * e);
          else {
            const int8_t q8 = quantize_s8(v, s);
            sum += q8;
            w |= uint32_t(uint8_t(q8)) << (8 * e);
          }
        }
        cols[size_t(tl.data + st * tl.ncols + j)] = w;
      }
      qcorr[size_t(tl.col_begin + j)] = 128 * sum;
    }
  }
}

// ------------------------------------------------------------ scalar tile --

void scan_tile_scalar(ScanType t, const ScanTileArgs& a) {
  for (int i = 0; i < a.nb; ++i) {
    const uint8_t* kb = a.keys + i * a.block_stride;
    for (int j = 0; j < a.ncols; ++j) {
      float* out = a.out + j * a.out_stride + i * kScanLanes;
      if (t == ScanType::Int8) {
        int32_t acc[kScanLanes] = {};
        if (a.accumulate) std::memcpy(acc, out, sizeof(acc));
        for (int64_t s = 0; s < a.nsteps; ++s) {
          const uint32_t w = a.q[s * a.ncols + j];
          const uint8_t* k = kb + s * 64;
          for (int l = 0; l < kScanLanes; ++l)
            for (int e = 0; e < 4; ++e) acc[l] += int32_t(k[l * 4 + e]) * int32_t(int8_t(w >> (8 * e)));
        }
        if (!a.finish) {
          std::memcpy(out, acc, sizeof(acc));
          continue;
        }
        for (int l = 0; l < kScanLanes; ++l)
          out[l] = float(acc[l] - a.qcorr[j]) * (a.kscale[i * kScanLanes + l] * a.qscale[j]);
      } else {
        float acc[kScanLanes] = {};
        if (a.accumulate) std::memcpy(acc, out, sizeof(acc));
        for (int64_t s = 0; s < a.nsteps; ++s) {
          const uint32_t w = a.q[s * a.ncols + j];
          if (t == ScanType::F32) {
            float qv;
            std::memcpy(&qv, &w, 4);
            const float* k = reinterpret_cast<const float*>(kb + s * 64);
            for (int l = 0; l < kScanLanes; ++l) acc[l] += k[l] * qv;
          } else {
            const float q0 = bf16_to_f32(uint16_t(w)), q1 = bf16_to_f32(uint16_t(w >> 16));
            const uint16_t* k = reinterpret_cast<const uint16_t*>(kb + s * 64);
            for (int l = 0; l < kScanLanes; ++l) {
              acc[l] += bf16_to_f32(k[2 * l]) * q0;
              acc[l] += bf16_to_f32(k[2 * l + 1]) * q1;
            }
          }
        }
        std::memcpy(out, acc, sizeof(acc));
      }
    }
  }
}

int scan_group_blocks(ScanType t, int64_t total_cols) {
  if (t == ScanType::Int8) return total_cols <= 4 ? 4 : 2;
  return total_cols <= 6 ? 4 : 2;
}
int64_t scan_max_tile(ScanType t, int64_t total_cols) {
  if (t == ScanType::Int8) return total_cols <= 4 ? 4 : 6;
  return total_cols <= 6 ? 6 : ScanQueries::kMaxTile;
}

const char* routing_scan_path(ScanType t) {
  const CpuFeatures& f = cpu_features();
  switch (t) {
    case ScanType::F32: return f.avx512 ? "avx512-f32" : f.avx2 ? "avx2-f32" : "scalar";
    case ScanType::BF16: return f.avx512_bf16 ? "avx512-bf16" : f.avx2 ? "avx2-bf16" : "scalar";
    case ScanType::Int8: return f.avx512_vnni ? "avx512-vnni" : f.avx2 ? "avx2-int8" : "scalar";
  }
  return "scalar";
}

// ----------------------------------------------------------------- driver --

void routing_scan(const PackedKeysView& keys, const ScanQueries& q, const uint8_t* block_mask,
                  float* chunk_scores) {
  MSA_CHECK(keys.type == q.type, "routing scan: keys are {} but queries were prepared for {}",
            scan_type_name(keys.type), scan_type_name(q.type));
  MSA_CHECK(keys.Hkv == q.Hkv && keys.d == q.d, "routing scan: key geometry {}x{} != query geometry {}x{}",
            keys.Hkv, keys.d, q.Hkv, q.d);
  const int64_t C = keys.num_chunks;
  const int64_t nblocks = scan_num_blocks(C);
  if (C == 0 || q.questions.empty()) return;
  const int NBG = scan_group_blocks(q.type, q.ncols);
  const int64_t ngroups = (nblocks + NBG - 1) / NBG;
  const size_t bb = scan_block_bytes(keys.type, q.D);
  const int64_t os = NBG * kScanLanes;  // scratch row stride
  // One tier for the whole scan (int8 partial sums differ between tiers).
  const std::string_view path = routing_scan_path(keys.type);
  const bool avx512 = path.starts_with("avx512"), avx2 = path.starts_with("avx2");
  const uint8_t* base = static_cast<const uint8_t*>(keys.data);
  const int64_t slice = std::max<int64_t>(16, 16384 / (int64_t(NBG) * 64));  // steps: 16 KiB of keys

#pragma omp parallel num_threads(msa::num_threads())
  {
    AlignedBuffer<float> scratch(size_t(std::max<int64_t>(q.ncols, 1) * os));
    std::vector<uint8_t> fetched(size_t(q.steps) + 1);
#pragma omp for schedule(dynamic, 16)
    for (int64_t gi = 0; gi < ngroups; ++gi) {
      const int64_t b0 = gi * NBG;
      const int nb = int(std::min<int64_t>(NBG, nblocks - b0));
      if (block_mask) {
        bool any = false;
        for (int i = 0; i < nb; ++i) any |= block_mask[b0 + i] != 0;
        if (!any) continue;
      }
      // D is cut into slices whose keys (NBG blocks × slice) stay in L1 while
      // every column tile passes over them.
      std::fill(fetched.begin(), fetched.end(), 0);
      for (int64_t s0 = 0; s0 < q.steps; s0 += slice) {
        for (const ScanQueries::Tile& tl : q.tiles) {
          const int64_t lo = std::max(s0, tl.step_begin), hi = std::min(s0 + slice, tl.step_begin + tl.nsteps);
          if (lo >= hi) continue;
          ScanTileArgs a;
          // The first tile over each key range also prefetches the next
          // group's keys (4 KiB pages defeat the hardware prefetcher's streams).
          if (!fetched[size_t(lo)] && gi + 1 < ngroups) a.prefetch = int64_t(bb) * NBG;
          fetched[size_t(lo)] = 1;
          a.keys = base + size_t(b0) * bb + size_t(lo) * 64;
          a.block_stride = int64_t(bb);
          a.nb = nb;
          a.q = q.cols.data() + tl.data + (lo - tl.step_begin) * tl.ncols;
          a.ncols = int(tl.ncols);
          a.nsteps = hi - lo;
          a.accumulate = lo > tl.step_begin;
          a.finish = hi == tl.step_begin + tl.nsteps;
          if (keys.type == ScanType::Int8) {
            a.kscale = keys.scales + b0 * kScanLanes;
            a.qscale = q.qscale.data() + tl.col_begin;
            a.qcorr = q.qcorr.data() + tl.col_begin;
          }
          a.out = scratch.data() + tl.col_begin * os;
          a.out_stride = os;
          const bool done = avx512 ? scan_tile_avx512(keys.type, a) : avx2 && scan_tile_avx2(keys.type, a);
          if (!done) scan_tile_scalar(keys.type, a);
        }
      }
      // Lane-wise reductions: heads, then query tokens (spec order).
      const int64_t c0 = b0 * kScanLanes;
      const int64_t n = std::min<int64_t>(nb * kScanLanes, C - c0);
      for (size_t qi = 0; qi < q.questions.size(); ++qi) {
        const ScanQueries::Question& Q = q.questions[qi];
        float* dst = chunk_scores + int64_t(qi) * C + c0;
        if (Q.tokens == 0) {
          for (int64_t l = 0; l < n; ++l) dst[l] = -FLT_MAX;
          continue;
        }
        float acc[4 * kScanLanes];
        for (int64_t tk = 0; tk < Q.tokens; ++tk) {
          float a[4 * kScanLanes];
          if (Q.hr == HeadReduce::Mean) {
            const float* s = scratch.data() + (Q.col_begin + tk) * os;
            for (int64_t l = 0; l < n; ++l) a[l] = s[l];
          } else {
            for (int64_t l = 0; l < n; ++l) a[l] = -FLT_MAX;
            for (int64_t j = 0; j < q.Hkv; ++j)
              for (int64_t g = 0; g < Q.G; ++g) {
                const float* s = scratch.data() + (Q.col_begin + (j * Q.tokens + tk) * Q.G + g) * os;
                for (int64_t l = 0; l < n; ++l) a[l] = std::max(a[l], s[l]);
              }
          }
          if (tk == 0) {
            for (int64_t l = 0; l < n; ++l) acc[l] = Q.qr == QueryReduce::Mean ? 0.f + a[l] : a[l];
          } else if (Q.qr == QueryReduce::Max) {
            for (int64_t l = 0; l < n; ++l) acc[l] = std::max(acc[l], a[l]);
          } else {  // Mean (Last has one token)
            for (int64_t l = 0; l < n; ++l) acc[l] += a[l];
          }
        }
        if (Q.qr == QueryReduce::Mean)
          for (int64_t l = 0; l < n; ++l) acc[l] /= float(Q.tokens);
        std::memcpy(dst, acc, size_t(n) * sizeof(float));
      }
    }
  }
}

// -------------------------------------------------------- documents, top-k --

namespace {
inline bool better(const DocHit& a, const DocHit& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}
// Keeps the k best hits seen so far in `top` (sorted best first).
inline void offer(std::vector<DocHit>& top, size_t k, const DocHit& h) {
  if (top.size() == k && !better(h, top.back())) return;
  auto it = std::upper_bound(top.begin(), top.end(), h, better);
  top.insert(it, h);
  if (top.size() > k) top.pop_back();
}
}  // namespace

std::vector<DocHit> doc_top_k(const float* chunk_scores, const int64_t* chunk_begin,
                              const int64_t* ids, const uint8_t* allowed, int64_t ndocs,
                              ChunkReduce cr, int64_t k) {
  if (k <= 0 || ndocs <= 0) return {};
  const int nt = std::max(1, std::min<int>(msa::num_threads(), int(ndocs / 4096) + 1));
  std::vector<std::vector<DocHit>> local(static_cast<size_t>(nt));
#pragma omp parallel num_threads(nt)
  {
    std::vector<DocHit>& top = local[size_t(omp_get_thread_num())];
    top.reserve(size_t(k) + 1);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < ndocs; ++i) {
      if (allowed && !allowed[i]) continue;
      const int64_t b = chunk_begin[i], e = chunk_begin[i + 1];
      if (e <= b) continue;
      float acc = cr == ChunkReduce::Max ? -FLT_MAX : 0.f;
      for (int64_t c = b; c < e; ++c)
        acc = cr == ChunkReduce::Max ? std::max(acc, chunk_scores[c]) : acc + chunk_scores[c];
      if (cr == ChunkReduce::Mean) acc /= float(e - b);
      if (!(acc > kInvalidScore)) continue;
      offer(top, size_t(k), DocHit{i, ids ? ids[i] : i, acc});
    }
  }
  std::vector<DocHit> all;
  for (auto& v : local) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end(), better);
  if (int64_t(all.size()) > k) all.resize(size_t(k));
  return all;
}

}  // namespace msa::kernels
