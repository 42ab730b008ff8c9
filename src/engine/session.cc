#include "engine/session.h"

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"
#include "kernels/attention.h"
#include "kernels/pooling.h"
#include "model/forward.h"

namespace msa::engine {

int64_t default_top_k(const model::ModelConfig& cfg) {
  return cfg.msa.present && cfg.msa.has_doc_top_k ? cfg.msa.doc_top_k : 16;
}

Session::Session(std::shared_ptr<const model::Model> m, const memory::MemoryView* memory,
                 EngineOptions opts)
    : m_(std::move(m)), memory_(memory), opts_(opts) {
  MSA_CHECK(opts_.top_k > 0, "top-k must be positive (got {})", opts_.top_k);
  if (memory_) MSA_CHECK(m_->is_msa(), "a memory bank needs an MSA model (config has no msa_config)");
  cache_.resize(size_t(m_->config().num_hidden_layers));
}

void Session::prefill(const std::vector<int32_t>& ids, const std::vector<int32_t>& tags,
                      const std::vector<int32_t>& positions, std::vector<float>* logits,
                      bool all_logits) {
  const auto& cfg = m_->config();
  MSA_CHECK(!ids.empty(), "empty prompt");
  MSA_CHECK(tags.size() == ids.size() && positions.size() == ids.size(),
            "prompt has {} tokens but {} tags and {} positions", ids.size(), tags.size(),
            positions.size());
  MSA_CHECK(!prefilled_, "prefill() called twice on one session");
  const int64_t limit = cfg.max_position_embeddings;
  MSA_CHECK(positions.back() < limit, "prompt ends at position {}, beyond the model's maximum {}",
            positions.back(), limit);
  prefilled_ = true;
  // Every layer's context starts with the template prefix when a memory is attached.
  if (memory_) {
    const memory::TemplateKV& t = memory_->template_kv();
    MSA_CHECK(int64_t(t.k.size()) == cfg.num_hidden_layers, "bank template has {} layers, model {}",
              t.k.size(), cfg.num_hidden_layers);
    for (size_t l = 0; l < cache_.size(); ++l) {
      cache_[l].k = t.k[l];
      cache_[l].v = t.v[l];
      cache_[l].rows = t.num_tokens;
    }
  }
  std::vector<float> h;
  run_layers(ids, positions, &tags, true, memory_ != nullptr, &h);
  const int64_t T = int64_t(ids.size()), V = cfg.vocab_size, D = cfg.hidden_size;
  if (all_logits) {
    logits->resize(size_t(T * V));
    model::final_logits(*m_, h.data(), T, logits->data());
  } else {
    logits->resize(size_t(V));
    model::final_logits(*m_, h.data() + (T - 1) * D, 1, logits->data());
  }
  next_pos_ = positions.back() + 1;
}

void Session::decode(int32_t token, std::vector<float>* logits) {
  feed_block({token}, true, logits);
}

void Session::feed_block(const std::vector<int32_t>& ids, bool causal, std::vector<float>* logits) {
  MSA_CHECK(prefilled_, "decode before prefill");
  MSA_CHECK(!ids.empty(), "empty block");
  const auto& cfg = m_->config();
  std::vector<int32_t> pos(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) pos[i] = next_pos_ + int32_t(i);
  MSA_CHECK(pos.back() < cfg.max_position_embeddings,
            "generation reached position {}, the model's maximum is {}", pos.back(),
            cfg.max_position_embeddings);
  std::vector<float> h;
  run_layers(ids, pos, nullptr, causal, false, &h);
  logits->resize(size_t(cfg.vocab_size));
  model::final_logits(*m_, h.data() + (int64_t(ids.size()) - 1) * cfg.hidden_size, 1,
                      logits->data());
  next_pos_ = pos.back() + 1;
}

void Session::run_layers(const std::vector<int32_t>& ids, const std::vector<int32_t>& positions,
                         const std::vector<int32_t>* tags, bool causal, bool route,
                         std::vector<float>* hidden) {
  const auto& cfg = m_->config();
  const int64_t T = int64_t(ids.size()), D = cfg.hidden_size, kvd = cfg.kv_dim();
  std::vector<float>& h = *hidden;
  h.resize(size_t(T * D));
  std::vector<float> attn(size_t(T * cfg.q_dim()));
  model::embed(*m_, ids.data(), T, h.data());
  model::AttentionInputs in;
  const auto& routing_layers = cfg.msa.routing_layers;
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    model::attention_inputs(*m_, l, h.data(), T, positions.data(), &in);
    LayerCache& c = cache_[size_t(l)];
    if (route && cfg.is_routing_layer(l)) {
      const int slot = int(std::lower_bound(routing_layers.begin(), routing_layers.end(), l) -
                           routing_layers.begin());
      route_layer(l, slot, in.xhat.data(), in.q.data(), T, *tags, &c);
    }
    c.k.insert(c.k.end(), in.k.begin(), in.k.end());
    c.v.insert(c.v.end(), in.v.begin(), in.v.end());
    c.rows += T;
    const kernels::AttentionShape shape{T, c.rows, cfg.num_attention_heads,
                                        cfg.num_key_value_heads, cfg.head_dim};
    if (causal) {
      kernels::attention(in.q.data(), c.k.data(), c.v.data(), shape, attn.data(), true);
    } else {
      // Reference quirk (§5.4): the block sees the whole cache and every token of itself.
      kernels::attention(in.q.data(), c.k.data(), c.v.data(), shape, attn.data(), false);
    }
    (void)kvd;
    model::attention_output_and_mlp(*m_, l, attn.data(), T, h.data());
  }
}

void Session::route_layer(int layer, int slot, const float* xhat, const float* q, int64_t T,
                          const std::vector<int32_t>& tags, LayerCache* cache) {
  const auto& cfg = m_->config();
  const int64_t Hq = cfg.num_attention_heads, d = cfg.head_dim, qd = cfg.q_dim();
  const auto rule = cfg.routing_score_rule(opts_.cosine_scores);
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < T; ++t)
    if (tags[size_t(t)] == 0) rows.push_back(t);
  const int64_t Tr = int64_t(rows.size());
  std::vector<float> u(size_t(Tr * qd));
  if (cfg.msa.decouple_router) {
    std::vector<float> xr(size_t(Tr * cfg.hidden_size));
    for (int64_t i = 0; i < Tr; ++i)
      std::copy_n(xhat + rows[size_t(i)] * cfg.hidden_size, cfg.hidden_size,
                  xr.begin() + i * cfg.hidden_size);
    if (Tr) model::router_queries(*m_, layer, xr.data(), Tr, u.data());
  } else {
    for (int64_t i = 0; i < Tr; ++i)
      std::copy_n(q + rows[size_t(i)] * qd, qd, u.begin() + i * qd);
  }
  if (rule.normalize_query) kernels::l2_normalize_rows(u.data(), Tr * Hq, d);
  LayerRouting lr;
  lr.layer = layer;
  lr.routing_tokens = Tr;
  if (opts_.capture_routing_queries) lr.query = u;
  if (rule.alpha != 1.0f)
    for (float& x : u) x *= rule.alpha;
  memory::RoutingQuery rq;
  rq.u = u.data();
  rq.Tr = Tr;
  rq.Hq = Hq;
  rq.d = d;
  rq.head_reduce = cfg.msa.head_reduce;
  rq.query_reduce = cfg.msa.query_reduce;
  rq.chunk_reduce = cfg.msa.chunk_reduce;
  rq.k = opts_.top_k;
  Timer timer;
  if (Tr > 0) lr.selected = memory_->route(slot, rq);
  lr.route_ms = timer.ms();
  for (auto& s : lr.selected) lr.context_docs.push_back(s.doc);
  std::sort(lr.context_docs.begin(), lr.context_docs.end());
  timer.reset();
  for (int64_t doc : lr.context_docs)
    cache->rows += memory_->append_chunks(slot, doc, &cache->k, &cache->v);
  lr.fetch_ms = timer.ms();
  lr.context_chunks = cache->rows - memory_->template_kv().num_tokens;
  routing_.push_back(std::move(lr));
}

}  // namespace msa::engine
