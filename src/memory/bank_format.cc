#include "memory/bank_format.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/checked_math.h"
#include "core/error.h"
#include "core/half.h"

namespace msa::memory::bankfmt {

static_assert(std::endian::native == std::endian::little, "the bank format is little-endian");

namespace {

// Fixed header: magic(8) version(4) kind(4) num_sections(4) reserved(4) = 24 bytes,
// then the directory (40 bytes per section), the info block (64), the header xxh64 (8).
constexpr size_t kFixed = 24;
constexpr size_t kDirEntry = 40;
constexpr uint32_t kMaxSections = 4096;

size_t align_up(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

template <typename T>
void put(std::vector<uint8_t>& b, size_t at, const T& v) {
  std::memcpy(b.data() + at, &v, sizeof(T));
}
template <typename T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

const char* tag_name(Tag t) {
  switch (t) {
    case Tag::Docs: return "docs";
    case Tag::ChunkTokens: return "chunk_tokens";
    case Tag::RoutingKey: return "routing_keys";
    case Tag::ContentK: return "content_k";
    case Tag::ContentV: return "content_v";
    case Tag::TemplateK: return "template_k";
    case Tag::TemplateV: return "template_v";
  }
  return "unknown";
}

const char* vec_type_name(VecType t) {
  switch (t) {
    case VecType::BF16: return "bf16";
    case VecType::Int8: return "int8";
    case VecType::F32: return "f32";
  }
  return "?";
}

VecType parse_vec_type(const std::string& s) {
  if (s == "bf16") return VecType::BF16;
  if (s == "int8") return VecType::Int8;
  throw_error("unknown storage type '{}' (expected bf16 or int8)", s);
}

uint64_t xxh64(const void* p, size_t n, uint64_t seed) { return XXH64(p, n, seed); }

uint64_t vec_section_bytes(VecType t, uint64_t rows, uint64_t H, uint64_t d) {
  // rows, H and d come from file headers: a product that does not fit is an
  // error, never a wrapped (small, "matching") size.
  const uint64_t vectors = checked_product<uint64_t>({rows, H}, "vector section");
  const uint64_t values = checked_product<uint64_t>({vectors, d}, "vector section");
  switch (t) {
    case VecType::BF16: return checked_product<uint64_t>({values, 2}, "vector section");
    case VecType::F32: return checked_product<uint64_t>({values, 4}, "vector section");
    case VecType::Int8: {
      const auto total = add_checked(checked_product<uint64_t>({vectors, 4}, "vector section"), values);
      MSA_CHECK(total.has_value(), "vector section: size overflows ({} vectors of {} values)", vectors, d);
      return *total;
    }
  }
  return 0;
}

std::vector<uint8_t> encode_vectors(VecType t, const float* x, uint64_t rows, uint64_t H, uint64_t d) {
  std::vector<uint8_t> out(vec_section_bytes(t, rows, H, d));
  const uint64_t n = rows * H * d;
  if (t == VecType::F32) {
    if (n) std::memcpy(out.data(), x, n * 4);
  } else if (t == VecType::BF16) {
    auto* o = reinterpret_cast<uint16_t*>(out.data());
    for (uint64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(x[i]);
  } else {
    // Symmetric int8 per head vector: scale = max|x| / 127.
    auto* scales = reinterpret_cast<float*>(out.data());
    auto* q = reinterpret_cast<int8_t*>(out.data() + rows * H * 4);
    for (uint64_t v = 0; v < rows * H; ++v) {
      const float* xv = x + v * d;
      float m = 0.f;
      for (uint64_t j = 0; j < d; ++j) m = std::max(m, std::fabs(xv[j]));
      const float s = m > 0.f ? m / 127.f : 1.f;
      scales[v] = s;
      for (uint64_t j = 0; j < d; ++j)
        q[v * d + j] = int8_t(std::clamp(std::lrint(xv[j] / s), -127l, 127l));
    }
  }
  return out;
}

void decode_vectors(VecType t, const uint8_t* sec, uint64_t total_rows, uint64_t H, uint64_t d,
                    uint64_t row0, uint64_t n, float* out) {
  const uint64_t W = H * d;
  if (t == VecType::F32) {
    std::memcpy(out, sec + row0 * W * 4, n * W * 4);
  } else if (t == VecType::BF16) {
    const uint8_t* p = sec + row0 * W * 2;
    for (uint64_t i = 0; i < n * W; ++i) out[i] = bf16_to_f32(get<uint16_t>(p + 2 * i));
  } else {
    const uint8_t* scales = sec + row0 * H * 4;
    const auto* q = reinterpret_cast<const int8_t*>(sec + total_rows * H * 4 + row0 * W);
    for (uint64_t v = 0; v < n * H; ++v) {
      const float s = get<float>(scales + 4 * v);
      for (uint64_t j = 0; j < d; ++j) out[v * d + j] = float(q[v * d + j]) * s;
    }
  }
}

void FileBuilder::add(Tag tag, uint32_t slot, std::vector<uint8_t> bytes) {
  SectionRef r;
  r.tag = tag;
  r.slot = slot;
  r.bytes = bytes.size();
  r.xxh64 = xxh64(bytes.data(), bytes.size());
  sections_.emplace_back(r, std::move(bytes));
}

std::vector<uint8_t> FileBuilder::build() const {
  const size_t header = kFixed + sections_.size() * kDirEntry + kInfoBytes + 8;
  size_t off = align_up(header);
  std::vector<SectionRef> refs;
  for (auto& [r, b] : sections_) {
    SectionRef x = r;
    x.offset = off;
    refs.push_back(x);
    off = off + b.size();
    if (&b != &sections_.back().second) off = align_up(off);
  }
  // No trailing padding: every byte is in the header, a section or a
  // zero gap between sections, so any flipped byte fails verification.
  std::vector<uint8_t> out(std::max(off, header), 0);
  std::memcpy(out.data(), kMagic, 8);
  put<uint32_t>(out, 8, kFormatVersion);
  put<uint32_t>(out, 12, uint32_t(kind_));
  put<uint32_t>(out, 16, uint32_t(refs.size()));
  put<uint32_t>(out, 20, 0);
  size_t p = kFixed;
  for (auto& r : refs) {
    put<uint32_t>(out, p, uint32_t(r.tag));
    put<uint32_t>(out, p + 4, r.slot);
    put<uint64_t>(out, p + 8, r.offset);
    put<uint64_t>(out, p + 16, r.bytes);
    put<uint64_t>(out, p + 24, r.xxh64);
    put<uint64_t>(out, p + 32, 0);
    p += kDirEntry;
  }
  std::memcpy(out.data() + p, &info_, sizeof(Info));
  p += kInfoBytes;
  put<uint64_t>(out, p, xxh64(out.data(), p));
  for (size_t i = 0; i < refs.size(); ++i)
    if (!sections_[i].second.empty())
      std::memcpy(out.data() + refs[i].offset, sections_[i].second.data(), sections_[i].second.size());
  return out;
}

const SectionRef* ParsedFile::find(Tag tag, uint32_t slot) const {
  for (auto& s : sections)
    if (s.tag == tag && s.slot == slot) return &s;
  return nullptr;
}

ParsedFile parse_file(std::span<const uint8_t> b, const std::string& name) {
  MSA_CHECK(b.size() >= kFixed && std::memcmp(b.data(), kMagic, 8) == 0,
            "{}: not a bank file (bad magic or truncated)", name);
  const uint32_t version = get<uint32_t>(b.data() + 8);
  MSA_CHECK(version == kFormatVersion, "{}: unsupported bank file version {} (this build reads {})", name,
            version, kFormatVersion);
  ParsedFile f;
  const uint32_t kind = get<uint32_t>(b.data() + 12);
  MSA_CHECK(kind == uint32_t(FileKind::Segment) || kind == uint32_t(FileKind::Template),
            "{}: unknown file kind {}", name, kind);
  f.kind = FileKind(kind);
  const uint32_t n = get<uint32_t>(b.data() + 16);
  MSA_CHECK(n <= kMaxSections, "{}: {} sections (corrupt header)", name, n);
  const size_t header = kFixed + size_t(n) * kDirEntry + kInfoBytes + 8;
  MSA_CHECK(b.size() >= header, "{}: truncated header ({} bytes, need {})", name, b.size(), header);
  MSA_CHECK(get<uint64_t>(b.data() + header - 8) == xxh64(b.data(), header - 8),
            "{}: header checksum mismatch (file is corrupt)", name);
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t* e = b.data() + kFixed + size_t(i) * kDirEntry;
    SectionRef r;
    r.tag = Tag(get<uint32_t>(e));
    r.slot = get<uint32_t>(e + 4);
    r.offset = get<uint64_t>(e + 8);
    r.bytes = get<uint64_t>(e + 16);
    r.xxh64 = get<uint64_t>(e + 24);
    MSA_CHECK(uint32_t(r.tag) >= 1 && uint32_t(r.tag) <= 7, "{}: section {} has unknown tag {}", name, i,
              uint32_t(r.tag));
    MSA_CHECK(r.offset >= header && r.offset % kAlign == 0 && r.offset <= b.size() &&
                  r.bytes <= b.size() - r.offset,
              "{}: section {} ({}) lies outside the file (offset {}, {} bytes, file {} bytes)", name, i,
              tag_name(r.tag), r.offset, r.bytes, b.size());
    MSA_CHECK(f.find(r.tag, r.slot) == nullptr, "{}: duplicate section {} slot {}", name, tag_name(r.tag),
              r.slot);
    f.sections.push_back(r);
  }
  uint64_t end = header;
  for (auto& r : f.sections) end = std::max<uint64_t>(end, r.offset + r.bytes);
  MSA_CHECK(end == b.size(), "{}: {} bytes after the last section (file is corrupt or was appended to)", name,
            b.size() - std::min<uint64_t>(end, b.size()));
  std::memcpy(&f.info, b.data() + kFixed + size_t(n) * kDirEntry, sizeof(Info));
  const Info& in = f.info;
  MSA_CHECK(in.num_slots >= 1 && in.num_slots <= 1024 && in.kv_heads >= 1 && in.kv_heads <= 4096 &&
                in.head_dim >= 1 && in.head_dim <= 4096,
            "{}: implausible geometry (slots {}, kv heads {}, head dim {})", name, in.num_slots, in.kv_heads,
            in.head_dim);
  MSA_CHECK(in.num_chunks <= (uint64_t(1) << 40) && in.num_docs <= (uint64_t(1) << 40),
            "{}: implausible counts ({} docs, {} chunks)", name, in.num_docs, in.num_chunks);
  auto need = [&](Tag t, uint32_t slot, uint64_t bytes) {
    const SectionRef* s = f.find(t, slot);
    MSA_CHECK(s != nullptr, "{}: missing section {} (slot {})", name, tag_name(t), slot);
    MSA_CHECK(s->bytes == bytes, "{}: section {} (slot {}) has {} bytes, expected {}", name, tag_name(t), slot,
              s->bytes, bytes);
  };
  auto vt = [&](uint8_t t) {
    MSA_CHECK(t <= 2, "{}: unknown vector type {}", name, t);
    return VecType(t);
  };
  const uint64_t H = in.kv_heads, d = in.head_dim, C = in.num_chunks;
  auto section_bytes = [&](VecType t, uint64_t rows) {
    try {
      return vec_section_bytes(t, rows, H, d);
    } catch (const Error& e) {
      throw_error("{}: {} chunks x {} kv heads x {}: {}", name, rows, H, d, e.what());
    }
  };
  if (f.kind == FileKind::Segment) {
    MSA_CHECK(in.pooling >= 1, "{}: pooling size 0", name);
    need(Tag::Docs, 0, in.num_docs * sizeof(DocEntry));
    need(Tag::ChunkTokens, 0, C * 4);
    for (uint32_t s = 0; s < in.num_slots; ++s) {
      need(Tag::RoutingKey, s, section_bytes(vt(in.rk_type), C));
      need(Tag::ContentK, s, section_bytes(vt(in.k_type), C));
      need(Tag::ContentV, s, section_bytes(vt(in.v_type), C));
    }
    // The chunk→document map must tile [0, C) in order.
    const uint8_t* docs = b.data() + f.find(Tag::Docs)->offset;
    uint64_t next = 0;
    for (uint64_t i = 0; i < in.num_docs; ++i) {
      DocEntry e;
      std::memcpy(&e, docs + i * sizeof(DocEntry), sizeof(DocEntry));
      MSA_CHECK(e.first_chunk == next && e.num_chunks >= 1 && e.num_chunks <= C - next && e.doc_id >= 0 &&
                    e.version >= 1,
                "{}: document entry {} is inconsistent (doc {}, first chunk {}, {} chunks)", name, i, e.doc_id,
                e.first_chunk, e.num_chunks);
      next += e.num_chunks;
    }
    MSA_CHECK(next == C, "{}: documents cover {} of {} chunks", name, next, C);
  } else {
    for (uint32_t s = 0; s < in.num_slots; ++s) {
      need(Tag::TemplateK, s, section_bytes(VecType::F32, C));
      need(Tag::TemplateV, s, section_bytes(VecType::F32, C));
    }
  }
  return f;
}

void verify_sections(const ParsedFile& f, std::span<const uint8_t> b, const std::string& name) {
  for (const SectionRef& s : f.sections)
    MSA_CHECK(xxh64(b.data() + s.offset, s.bytes) == s.xxh64,
              "{}: checksum mismatch in section {} (slot {}): the file is corrupt", name, tag_name(s.tag),
              s.slot);
  // Alignment gaps (after the header and between sections) must be zero.
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (const SectionRef& s : f.sections) spans.emplace_back(s.offset, s.offset + s.bytes);
  std::sort(spans.begin(), spans.end());
  uint64_t pos = kFixed + f.sections.size() * kDirEntry + kInfoBytes + 8;
  for (auto [lo, hi] : spans) {
    MSA_CHECK(lo >= pos, "{}: overlapping sections", name);
    for (uint64_t i = pos; i < lo; ++i)
      MSA_CHECK(b[i] == 0, "{}: non-zero padding byte at offset {}: the file is corrupt", name, i);
    pos = hi;
  }
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  MSA_CHECK(fd >= 0, "cannot open directory '{}': {}", dir, std::strerror(errno));
  ::fsync(fd);
  ::close(fd);
}

void write_file_durably(const std::string& path, std::span<const uint8_t> bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  MSA_CHECK(fd >= 0, "cannot create '{}': {}", tmp, std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = errno;
      ::close(fd);
      throw_error("cannot write '{}': {}", tmp, std::strerror(e));
    }
    done += size_t(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw_error("cannot fsync '{}': {}", tmp, std::strerror(errno));
  MSA_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '{}' to '{}': {}", tmp, path,
            std::strerror(errno));
  fsync_dir(std::filesystem::path(path).parent_path().string());
}

}  // namespace msa::memory::bankfmt
