#include "engine/pipeline.h"

#include "core/error.h"
#include "core/timer.h"
#include "memory/encoder.h"

namespace msa::engine {

std::vector<int32_t> memory_document_ids(const model::Tokenizer& tok, int64_t id,
                                         const std::string& text) {
  // The reference tokenises the whole formatted string with special-token
  // parsing; user text that spells a special token is encoded as plain text.
  const std::string tag = "[" + std::to_string(id) + "]";
  std::vector<int32_t> ids = tok.encode("<|im_start|>", true);
  const std::string body = tag + ". " + text + tag;
  tok.encode_append(body, false, ids);
  tok.encode_append("<|im_end|>", true, ids);
  return ids;
}

std::vector<int32_t> template_prefix_ids(const model::Tokenizer& tok) {
  return tok.encode("<|im_start|>user\n", true);
}

QuestionRow first_round_row(const model::Tokenizer& tok, const std::string& question, int64_t k,
                            int64_t template_tokens) {
  QuestionRow r;
  const std::string routed =
      "\nPlease answer the question based on the above historical document information\n\n" +
      question + "\nPlease return all documents related to the question\n";
  r.ids = tok.encode(routed, false);
  r.tags.assign(r.ids.size(), 0);
  for (int32_t t : tok.encode("<|im_end|>\n", true)) {
    r.ids.push_back(t);
    r.tags.push_back(-2);
  }
  r.ids.push_back(tok.require_token("<|im_start|>"));
  r.tags.push_back(-1);
  for (size_t t = 0; t < r.ids.size(); ++t) r.positions.push_back(int32_t(template_tokens + k + int64_t(t)));
  return r;
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
  bank_->set_template(enc.encode_template(template_prefix_ids(*tok_)));
}

void Pipeline::add_documents(const std::vector<std::string>& texts,
                             const std::function<void(size_t, size_t)>& progress) {
  memory::MemoryEncoder enc(*m_);
  const size_t batch = 16;
  for (size_t b = 0; b < texts.size(); b += batch) {
    std::vector<std::vector<int32_t>> ids;
    for (size_t i = b; i < std::min(texts.size(), b + batch); ++i)
      ids.push_back(memory_document_ids(*tok_, bank_->num_docs() + int64_t(ids.size()), texts[i]));
    for (auto& e : enc.encode(ids)) bank_->add(e);
    if (progress) progress(std::min(texts.size(), b + batch), texts.size());
  }
}

Answer Pipeline::ask(const std::string& question, const GenerateOptions& g,
                     const std::function<void(const std::string&)>& on_text) const {
  Answer a;
  QuestionRow row = first_round_row(*tok_, question, opts_.top_k, bank_->template_kv().num_tokens);
  a.prompt_tokens = int64_t(row.ids.size());
  Session s(m_, bank_.get(), opts_);
  std::vector<float> logits;
  Timer t;
  s.prefill(row.ids, row.tags, row.positions, &logits);
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
