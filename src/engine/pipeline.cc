#include "engine/pipeline.h"

#include "core/error.h"
#include "core/timer.h"
#include "memory/encoder.h"
#include "model/prompt_format.h"

namespace msa::engine {

std::vector<int32_t> first_round_positions(size_t n, int64_t k, int64_t template_tokens) {
  std::vector<int32_t> pos(n);
  for (size_t t = 0; t < n; ++t) pos[t] = int32_t(template_tokens + k + int64_t(t));
  return pos;
}

Pipeline::Pipeline(std::shared_ptr<const model::Model> m, std::shared_ptr<const model::Tokenizer> tok,
                   EngineOptions opts)
    : m_(std::move(m)), tok_(std::move(tok)), opts_(opts) {
  const auto& c = m_->config();
  MSA_CHECK(int64_t(tok_->vocab_size()) <= c.vocab_size,
            "tokenizer has {} tokens but the model's vocabulary is {}", tok_->vocab_size(), c.vocab_size);
  bank_ = std::make_unique<memory::InMemoryBank>(int(c.msa.routing_layers.size()),
                                                 c.num_key_value_heads, c.head_dim);
  memory::MemoryEncoder enc(*m_);
  bank_->set_template(enc.encode_template(model::split_prompt_template(*tok_).prefix_ids));
}

void Pipeline::add_documents(const std::vector<std::string>& texts,
                             const std::function<void(size_t, size_t)>& progress) {
  memory::MemoryEncoder enc(*m_);
  const size_t batch = 16;
  for (size_t b = 0; b < texts.size(); b += batch) {
    std::vector<std::vector<int32_t>> ids;
    for (size_t i = b; i < std::min(texts.size(), b + batch); ++i)
      ids.push_back(model::encode_memory_document(*tok_, bank_->num_docs() + int64_t(ids.size()), texts[i]));
    for (auto& e : enc.encode(ids)) bank_->add(e);
    if (progress) progress(std::min(texts.size(), b + batch), texts.size());
  }
}

Answer Pipeline::ask(const std::string& question, const GenerateOptions& g,
                     const std::function<void(const std::string&)>& on_text) const {
  Answer a;
  // User questions are untrusted: special-token text in them stays plain text.
  const model::TaggedIds row = model::first_round_row(*tok_, question, /*parse_special=*/false);
  const auto positions = first_round_positions(row.ids.size(), opts_.top_k, bank_->template_kv().num_tokens);
  a.prompt_tokens = int64_t(row.ids.size());
  Session s(m_, bank_.get(), opts_);
  std::vector<float> logits;
  Timer t;
  s.prefill(row.ids, row.tags, positions, &logits);
  a.route_prefill_ms = t.ms();
  std::vector<int32_t> stops = g.stop_ids;
  if (stops.empty()) {
    for (int64_t e : m_->config().eos_token_ids) stops.push_back(int32_t(e));
    for (const char* s2 : {"<|im_end|>", "<|endoftext|>"})
      if (int32_t id = tok_->token_to_id(s2); id >= 0) stops.push_back(id);
  }
  Sampler sampler(g.sampler);
  model::StreamDecoder stream(*tok_);
  t.reset();
  for (int64_t i = 0; i < g.max_new_tokens; ++i) {
    const int32_t next = sampler.sample(logits);
    if (std::find(stops.begin(), stops.end(), next) != stops.end()) break;
    a.tokens.push_back(next);
    const std::string piece = stream.push(next);
    a.text += piece;
    if (on_text && !piece.empty()) on_text(piece);
    if (i + 1 < g.max_new_tokens) s.decode(next, &logits);
  }
  const std::string rest = stream.flush();
  a.text += rest;
  if (on_text && !rest.empty()) on_text(rest);
  a.decode_ms = t.ms();
  a.routing = s.routing();
  return a;
}

}  // namespace msa::engine
