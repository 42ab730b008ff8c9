#include "memory/encoder.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/pooling.h"
#include "model/forward.h"

namespace msa::memory {

MemoryEncoder::MemoryEncoder(const model::Model& m) : m_(m) {
  MSA_CHECK(m.is_msa(), "memory encoding needs an MSA model (config.json has no msa_config; "
                        "use training-free MSA for a plain Qwen3 checkpoint)");
  P_ = m.config().msa.pooling_kernel_size;
}

TemplateKV MemoryEncoder::encode_template(const std::vector<int32_t>& ids) const {
  const auto& cfg = m_.config();
  const int64_t T = int64_t(ids.size()), D = cfg.hidden_size;
  TemplateKV out;
  out.num_tokens = T;
  std::vector<int32_t> pos(ids.size());
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = int32_t(i);
  AlignedBuffer<float> h(size_t(T * D)), attn(size_t(T * cfg.q_dim()));
  model::embed(m_, ids.data(), T, h.data());
  model::AttentionInputs in;
  const kernels::AttentionShape shape{T, T, cfg.num_attention_heads, cfg.num_key_value_heads,
                                      cfg.head_dim};
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    model::attention_inputs(m_, l, h.data(), T, pos.data(), &in);
    out.k.emplace_back(in.k.begin(), in.k.end());
    out.v.emplace_back(in.v.begin(), in.v.end());
    if (l + 1 == cfg.num_hidden_layers) break;  // nothing downstream needs the last output
    kernels::attention(in.q.data(), in.k.data(), in.v.data(), shape, attn.data());
    model::attention_output_and_mlp(m_, l, attn.data(), T, h.data());
  }
  return out;
}

EncodedDocument MemoryEncoder::encode_one(const std::vector<int32_t>& doc) const {
  return std::move(encode({doc})[0]);
}

std::vector<EncodedDocument> MemoryEncoder::encode(
    const std::vector<std::vector<int32_t>>& docs) const {
  const auto& cfg = m_.config();
  const auto& routing = cfg.msa.routing_layers;
  const int64_t D = cfg.hidden_size, kvd = cfg.kv_dim(), qd = cfg.q_dim();
  const auto rule = cfg.routing_score_rule();
  std::vector<EncodedDocument> out(docs.size());
  if (docs.empty()) return out;

  // Pack all documents: rows [begin[i], begin[i+1]) belong to document i.
  std::vector<int64_t> begin(docs.size() + 1, 0);
  for (size_t i = 0; i < docs.size(); ++i) {
    MSA_CHECK(!docs[i].empty(), "document {} of the batch is empty", i);
    MSA_CHECK(int64_t(docs[i].size()) <= cfg.max_position_embeddings,
              "document {} of the batch has {} tokens; the model reads at most {} (max_position_embeddings)", i,
              docs[i].size(), cfg.max_position_embeddings);
    begin[i + 1] = begin[i] + int64_t(docs[i].size());
  }
  const int64_t T = begin.back();
  std::vector<int32_t> ids, pos;
  ids.reserve(size_t(T));
  pos.reserve(size_t(T));
  for (auto& d : docs) {
    for (size_t j = 0; j < d.size(); ++j) {
      ids.push_back(d[j]);
      pos.push_back(int32_t(j));  // document-wise RoPE
    }
  }
  for (size_t i = 0; i < docs.size(); ++i) {
    EncodedDocument& e = out[i];
    e.num_tokens = int64_t(docs[i].size());
    e.num_chunks = kernels::num_chunks(e.num_tokens, P_);
    for (int64_t c = 0; c < e.num_chunks; ++c)
      e.chunk_token_count.push_back(int32_t(std::min(P_, e.num_tokens - c * P_)));
    e.pooled_k.resize(routing.size());
    e.pooled_v.resize(routing.size());
    e.routing_key.resize(routing.size());
  }

  AlignedBuffer<float> h(size_t(T * D)), attn(size_t(T * qd)), r;
  model::embed(m_, ids.data(), T, h.data());
  model::AttentionInputs in;
  const int last = routing.empty() ? -1 : routing.back();
  size_t slot = 0;
  for (int l = 0; l <= last; ++l) {
    model::attention_inputs(m_, l, h.data(), T, pos.data(), &in);
    if (slot < routing.size() && routing[slot] == l) {
      const bool decoupled = cfg.msa.decouple_router;
      if (decoupled) {
        r.resize(size_t(T * kvd));
        model::router_keys(m_, l, in.xhat.data(), T, r.data());
      }
      for (size_t i = 0; i < docs.size(); ++i) {
        EncodedDocument& e = out[i];
        const int64_t n = e.num_tokens, C = e.num_chunks, b = begin[i];
        e.pooled_k[slot].resize(size_t(C * kvd));
        e.pooled_v[slot].resize(size_t(C * kvd));
        kernels::mean_pool_chunks(in.k.data() + b * kvd, n, kvd, P_, e.pooled_k[slot].data());
        kernels::mean_pool_chunks(in.v.data() + b * kvd, n, kvd, P_, e.pooled_v[slot].data());
        auto& rk = e.routing_key[slot];
        if (decoupled) {
          rk.resize(size_t(C * kvd));
          kernels::mean_pool_chunks(r.data() + b * kvd, n, kvd, P_, rk.data());
        } else {
          rk = e.pooled_k[slot];
        }
        if (rule.normalize_keys) kernels::l2_normalize_rows(rk.data(), C * cfg.num_key_value_heads, cfg.head_dim);
      }
      ++slot;
    }
    if (l == last) break;  // layers above the last routing layer store nothing
    for (size_t i = 0; i < docs.size(); ++i) {
      const int64_t b = begin[i], n = begin[i + 1] - b;
      const kernels::AttentionShape shape{n, n, cfg.num_attention_heads, cfg.num_key_value_heads,
                                          cfg.head_dim};
      kernels::attention(in.q.data() + b * qd, in.k.data() + b * kvd, in.v.data() + b * kvd,
                         shape, attn.data() + b * qd);
    }
    model::attention_output_and_mlp(m_, l, attn.data(), T, h.data());
  }
  return out;
}

}  // namespace msa::memory
