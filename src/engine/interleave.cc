#include "engine/interleave.h"

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"
#include "engine/pipeline.h"
#include "model/prompt_format.h"

namespace msa::engine {
namespace {

std::vector<int32_t> stop_ids(const model::Model& m, const model::Tokenizer& tok) {
  std::vector<int32_t> ids;
  for (int64_t e : m.config().eos_token_ids) ids.push_back(int32_t(e));
  for (std::string_view s : {model::kImEnd, model::kEndOfText})
    if (int32_t id = tok.token_to_id(std::string(s)); id >= 0) ids.push_back(id);
  return ids;
}

bool contains(const std::string& s, std::string_view needle) { return s.find(needle) != std::string::npos; }

// Appends a generated piece to the transcript: a special token the model
// generated stays special when the transcript is re-encoded; any other text
// (even if it spells "<|im_end|>") stays text.
void append_generated(model::PromptText& to, const model::Tokenizer& tok, int32_t id, const std::string& piece) {
  const std::string_view special = tok.is_special(id) ? tok.token_bytes(id) : std::string_view();
  const std::string_view p = piece;
  if (!special.empty() && p.size() >= special.size() && p.substr(p.size() - special.size()) == special)
    to.untrusted(p.substr(0, p.size() - special.size())).trusted(special);
  else
    to.untrusted(p);
}

}  // namespace

InterleaveResult answer_with_interleave(std::shared_ptr<const model::Model> m,
                                        const model::Tokenizer& tok, const memory::MemoryView& memory,
                                        const DocumentTextFn& text_of, const std::string& question,
                                        const InterleaveOptions& opts, const InterleaveCallbacks& cb) {
  MSA_CHECK(opts.max_rounds >= 1, "max_rounds must be at least 1 (got {})", opts.max_rounds);
  const auto stops = stop_ids(*m, tok);
  const auto is_known = [&](int64_t id) { return id >= 0 && text_of(id).has_value(); };
  const auto split = model::split_prompt_template(tok);
  const int64_t template_tokens = memory.template_kv().num_tokens;

  InterleaveResult r;
  // The text of the first call's input from "\nPlease answer ..." on (§6.3).
  // Questions, documents and generated text are untrusted (issue 18): special
  // tokens come only from the builder's template text or from the model.
  model::PromptText transcript(model::kQuestionHead);
  transcript.untrusted(question).trusted(model::kQuestionTail).trusted(split.tail_text).trusted(model::kImStart);
  // Everything the model generated, over all calls: the only text that steers
  // the loop and from which the answer and citations are read.
  std::string generated_all;
  Sampler sampler(opts.sampler);
  for (int round = 0;; ++round) {
    if (cb.on_round_start) cb.on_round_start(round);
    // User questions are untrusted: special-token text in them stays plain text
    // in round 1. Later rounds re-encode the transcript as the reference does,
    // except that questions, documents and generated text stay text.
    const model::TaggedIds row = round == 0 ? model::first_round_row(tok, question, /*parse_special=*/false)
                                            : model::reencode_row(tok, transcript);
    const auto positions = first_round_positions(row.ids.size(), opts.engine.top_k, template_tokens);
    RoundTrace trace;
    trace.prompt_tokens = int64_t(row.ids.size());
    Session s(m, &memory, opts.engine);
    std::vector<float> logits;
    Timer t;
    s.prefill(row.ids, row.tags, positions, &logits);
    trace.route_prefill_ms = t.ms();
    t.reset();

    // A single-round run that already retrieved once is told to answer now.
    const bool force_answer = !opts.interleave && round > 0;
    bool answering = false, finished = false, inject = false;
    std::string round_text;       // this call's text: generated + the restatement
    std::string model_text;       // only what the model generated in this call
    model::PromptText round_prompt;  // round_text with its trusted spans
    auto restate = [&](std::string_view lead_in) {
      model::PromptText block(lead_in);
      // Earlier chat turns (untrusted, like the question) come just before it.
      block.append(model::restatement_prompt(opts.conversation + question));
      s.feed_block(block.encode(tok), opts.causal_restatement, &logits);
      round_text += block.text();
      round_prompt.append(block);
      answering = true;
    };
    if (force_answer) restate(model::kEndOfRetrieve);

    model::StreamDecoder stream(tok);
    while (true) {
      if (trace.generated_tokens >= opts.max_round_tokens) { r.stop_reason = "round_tokens"; finished = true; break; }
      if (r.generated_tokens >= opts.max_total_tokens) { r.stop_reason = "total_tokens"; finished = true; break; }
      const int32_t next = sampler.sample(logits);
      ++trace.generated_tokens;
      ++r.generated_tokens;
      std::string piece = stream.push(next);
      round_text += piece;
      model_text += piece;
      append_generated(round_prompt, tok, next, piece);
      if (cb.on_text && !piece.empty()) cb.on_text(piece, answering);
      if (std::find(stops.begin(), stops.end(), next) != stops.end()) {
        r.stop_reason = answering ? "answer" : "eos";
        finished = true;
        break;
      }
      s.decode(next, &logits);
      if (answering) continue;
      if (contains(model_text, model::kEndOfRetrieve) || model_text.size() > opts.max_round_chars) {
        restate("");
        continue;
      }
      if (contains(model_text, model::kObjectRefEnd)) {
        inject = true;
        break;
      }
    }
    {
      const std::string tail = stream.flush();
      round_text += tail;
      model_text += tail;
      round_prompt.untrusted(tail);
    }
    generated_all += model_text;
    trace.decode_ms = t.ms();
    trace.generated_text = round_text;
    trace.model_text = model_text;
    trace.generated_doc_ids = model::parse_generated_doc_ids(model_text, is_known);
    trace.routing = s.routing();
    transcript.append(round_prompt);
    if (inject) {
      const model::PromptText block = model::injection_prompt(trace.generated_doc_ids, [&](int64_t id) {
        return opts.inject_text ? text_of(id).value_or("") : std::string();
      });
      trace.injected = block.text();
      transcript.append(block);
    }
    r.prompt_tokens += trace.prompt_tokens;
    r.route_prefill_ms += trace.route_prefill_ms;
    r.decode_ms += trace.decode_ms;
    if (cb.on_round_end) cb.on_round_end(trace);
    r.rounds.push_back(std::move(trace));
    if (finished) break;
    // §6.3 on the model's own text: another round follows an injection unless
    // the model has written the answer marker (a marker inside a document or
    // the question does not count).
    if (!inject || contains(generated_all, model::kAnswerMarker)) { r.stop_reason = "answer"; break; }
    if (round + 1 >= opts.max_rounds) { r.stop_reason = "rounds"; break; }
  }
  r.transcript = transcript.text();
  // §6.4 on the model's own text. Without the answer marker the reference
  // returns the transcript's start (a failure case); the product reports no answer.
  r.answer = contains(generated_all, model::kAnswerMarker) ? model::extract_answer(generated_all) : std::string();
  r.cited_doc_ids = model::parse_generated_doc_ids(generated_all, is_known);
  return r;
}

}  // namespace msa::engine
