// Stage 1 — memory encoding (spec §3): every document runs through the model
// alone (document-wise RoPE: positions 0..n−1, causal within the document);
// at each routing layer K, V and the router key are mean-pooled per chunk of P
// tokens. The template prefix is encoded alone for every layer.
//
// Documents are independent, so a batch is packed into one row set for the
// matmuls (throughput) with block-diagonal causal attention — numerically the
// same as encoding them one by one.
#pragma once

#include <cstdint>
#include <vector>

#include "memory/encoded_memory.h"
#include "model/model.h"

namespace msa::memory {

class MemoryEncoder {
 public:
  explicit MemoryEncoder(const model::Model& m);

  // Template-prefix K/V of every layer (positions 0..T−1).
  TemplateKV encode_template(const std::vector<int32_t>& prefix_ids) const;

  // Pooled memory of each document (token ids already formatted per §3.2).
  std::vector<EncodedDocument> encode(const std::vector<std::vector<int32_t>>& docs) const;
  EncodedDocument encode_one(const std::vector<int32_t>& doc) const;

  int64_t pooling() const { return P_; }

 private:
  const model::Model& m_;
  int64_t P_ = 64;
};

}  // namespace msa::memory
