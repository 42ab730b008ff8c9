// libFuzzer target: the persistent bank's binary section files (segments,
// template) and the manifest. Either parsing throws msa::Error, or the parsed
// file is self-consistent and every section can be checksummed and decoded
// without reading outside the input.
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "memory/bank_format.h"
#include "memory/bank_manifest.h"

using namespace msa::memory;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0 && data[0] == '{') {  // manifest text
    try {
      auto m = parse_manifest(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
      (void)serialize_manifest(m);
    } catch (const msa::Error&) {
    }
    return 0;
  }
  try {
    const std::span<const uint8_t> bytes(data, size);
    auto f = bankfmt::parse_file(bytes, "fuzz");
    try {
      bankfmt::verify_sections(f, bytes, "fuzz");
    } catch (const msa::Error&) {
    }
    if (f.kind == bankfmt::FileKind::Segment && f.info.num_chunks > 0 && f.info.num_chunks < 4096) {
      const auto& in = f.info;
      std::vector<float> out(size_t(in.num_chunks * in.kv_heads * in.head_dim));
      for (uint32_t s = 0; s < in.num_slots; ++s) {
        auto* rk = f.find(bankfmt::Tag::RoutingKey, s);
        bankfmt::decode_vectors(bankfmt::VecType(in.rk_type), data + rk->offset, in.num_chunks, in.kv_heads,
                                in.head_dim, 0, in.num_chunks, out.data());
      }
    }
  } catch (const msa::Error&) {
  }
  return 0;
}
