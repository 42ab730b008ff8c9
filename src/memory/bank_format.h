// On-disk container of the persistent memory bank (docs/bank-format.md):
// immutable "section files" — a fixed little-endian header, a directory of
// sections (each with its own xxh64), a fixed-size info block and a header
// checksum, then 64-byte-aligned sections. Segments (pooled routing keys,
// content K/V, chunk→document map of a batch of documents) and the template
// prefix K/V both use it, so one parser (fuzzed by fuzz/fuzz_bank_format.cc)
// guards every binary file of a bank.
//
// Parsing never trusts the file: every offset/size is bounds-checked and the
// header checksum is verified before anything is read; section checksums are
// verified by verify_sections() (open and `msa bank verify`).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace msa::memory::bankfmt {

inline constexpr char kMagic[8] = {'M', 'S', 'A', 'B', 'A', 'N', 'K', '\0'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kAlign = 64;

enum class FileKind : uint32_t { Segment = 1, Template = 2 };

// Section tags.
enum class Tag : uint32_t {
  Docs = 1,         // DocEntry[num_docs]
  ChunkTokens = 2,  // u32[num_chunks]: token count of each chunk
  RoutingKey = 3,   // per slot: pooled routing keys K̄ᴿ
  ContentK = 4,     // per slot: pooled K̄
  ContentV = 5,     // per slot: pooled V̄
  TemplateK = 6,    // per layer: f32 [T, Hkv, d]
  TemplateV = 7,    // per layer: f32 [T, Hkv, d]
};
const char* tag_name(Tag t);

// Element encoding of a vector section.
enum class VecType : uint8_t { BF16 = 0, Int8 = 1, F32 = 2 };
const char* vec_type_name(VecType t);
VecType parse_vec_type(const std::string& s);  // "bf16" | "int8" (throws)

// Fixed 64-byte info block (little-endian fields).
struct Info {
  uint64_t segment_id = 0;
  uint32_t num_slots = 0;   // routing layers (segment) / all layers (template)
  uint32_t kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t pooling = 0;
  uint8_t rk_type = 0, k_type = 0, v_type = 0, reserved0 = 0;
  uint32_t reserved1 = 0;
  uint64_t num_docs = 0;
  uint64_t num_chunks = 0;  // template: number of template tokens
  uint64_t num_tokens = 0;
};
static_assert(sizeof(Info) == 56);
inline constexpr size_t kInfoBytes = 64;

struct DocEntry {
  int64_t doc_id;
  int64_t version;
  uint64_t first_chunk;  // within this segment
  uint32_t num_chunks;
  uint32_t num_tokens;
};
static_assert(sizeof(DocEntry) == 32);

struct SectionRef {
  Tag tag{};
  uint32_t slot = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  uint64_t xxh64 = 0;
};

// Bytes of a vector section of `rows` vectors of `kv_heads`×`head_dim`:
// bf16: rows·H·d·2; f32: rows·H·d·4; int8: rows·H·4 (f32 scale per head
// vector, stored first) + rows·H·d.
uint64_t vec_section_bytes(VecType t, uint64_t rows, uint64_t kv_heads, uint64_t head_dim);

// Encodes f32 vectors [rows, H, d] into a section of type t.
std::vector<uint8_t> encode_vectors(VecType t, const float* x, uint64_t rows, uint64_t kv_heads,
                                    uint64_t head_dim);
// Decodes rows [row0, row0+n) of a section into f32 (appended to out).
void decode_vectors(VecType t, const uint8_t* section, uint64_t total_rows, uint64_t kv_heads,
                    uint64_t head_dim, uint64_t row0, uint64_t n, float* out);

uint64_t xxh64(const void* p, size_t n, uint64_t seed = 0);

// Builds a whole section file in memory.
class FileBuilder {
 public:
  FileBuilder(FileKind kind, const Info& info) : kind_(kind), info_(info) {}
  void add(Tag tag, uint32_t slot, std::vector<uint8_t> bytes);
  // Serialised file; writes it to `path` (temp + fsync + rename + dir fsync) with write_file().
  std::vector<uint8_t> build() const;

 private:
  FileKind kind_;
  Info info_;
  std::vector<std::pair<SectionRef, std::vector<uint8_t>>> sections_;
};

// A parsed (header-verified) section file over caller-owned bytes.
struct ParsedFile {
  FileKind kind{};
  Info info;
  std::vector<SectionRef> sections;
  const SectionRef* find(Tag tag, uint32_t slot = 0) const;
};

// Validates magic, version, header checksum, section bounds and the sizes the
// info block implies; throws msa::Error "<name>: ..." on any problem.
ParsedFile parse_file(std::span<const uint8_t> bytes, const std::string& name);
// Recomputes every section checksum; throws naming the file and section.
void verify_sections(const ParsedFile& f, std::span<const uint8_t> bytes, const std::string& name);

// Durable file replacement: writes `path`.tmp, fsyncs, renames over `path`, fsyncs the directory.
void write_file_durably(const std::string& path, std::span<const uint8_t> bytes);
void fsync_dir(const std::string& dir);

}  // namespace msa::memory::bankfmt
