// The bank manifest (docs/bank-format.md): the one small file that names the
// immutable segment files of a bank generation, plus the model identity and
// storage settings. Text (JSON) followed by a checksum line
//   "xxh64 <16 hex digits>\n"  (xxh64 of every byte before that line),
// replaced atomically by rename; the previous one is kept as MANIFEST.prev
// so a crash between the rename and the catalog commit can be rolled back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "memory/bank_format.h"

namespace msa::memory {

// Identity of the model a bank was encoded with (see bank_identity.h).
struct ModelIdentity {
  std::string config_xxh64;     // hex, of config.json bytes
  std::string weights_fingerprint;  // hex, of safetensors headers + sampled content
  std::string tokenizer_xxh64;  // hex, of tokenizer.json bytes ("" when absent)
  std::string model_dir;        // where it was loaded from at create time (informational)
  int64_t num_slots = 0, kv_heads = 0, head_dim = 0, pooling = 0;
  bool operator==(const ModelIdentity& o) const {
    return config_xxh64 == o.config_xxh64 && weights_fingerprint == o.weights_fingerprint &&
           tokenizer_xxh64 == o.tokenizer_xxh64;
  }
};

struct ManifestSegment {
  uint64_t id = 0;
  std::string file;  // relative to <bank>/segments/
  uint64_t bytes = 0;
  uint64_t docs = 0, chunks = 0, tokens = 0;
};

struct Manifest {
  uint64_t generation = 0;
  ModelIdentity model;
  bankfmt::VecType rk_type = bankfmt::VecType::BF16, k_type = bankfmt::VecType::BF16,
                   v_type = bankfmt::VecType::BF16;
  std::string template_file;  // relative to <bank>/
  uint64_t template_bytes = 0;
  uint64_t next_segment_id = 1;
  std::vector<ManifestSegment> segments;
};

std::string serialize_manifest(const Manifest& m);
// Throws msa::Error "<name>: ..." on a bad checksum, bad JSON or bad fields.
Manifest parse_manifest(std::string_view text, const std::string& name);

std::string hex64(uint64_t v);

}  // namespace msa::memory
