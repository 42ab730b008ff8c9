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
  std::string transcript = model::routed_question_text(question) + split.tail_text + std::string(model::kImStart);
  Sampler sampler(opts.sampler);
  for (int round = 0;; ++round) {
    if (cb.on_round_start) cb.on_round_start(round);
    // User questions are untrusted: special-token text in them stays plain text
    // in round 1. Later rounds re-encode the transcript as the reference does.
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
    std::string round_text;
    auto restate = [&](const std::string& lead_in) {
      const std::string block = lead_in + model::restatement_block(opts.conversation + question);
      const auto ids = tok.encode(block, /*parse_special=*/true);
      s.feed_block(ids, opts.causal_restatement, &logits);
      round_text += block;
      answering = true;
    };
    if (force_answer) restate(std::string(model::kEndOfRetrieve));

    model::StreamDecoder stream(tok);
    while (true) {
      if (trace.generated_tokens >= opts.max_round_tokens) { r.stop_reason = "round_tokens"; finished = true; break; }
      if (r.generated_tokens >= opts.max_total_tokens) { r.stop_reason = "total_tokens"; finished = true; break; }
      const int32_t next = sampler.sample(logits);
      ++trace.generated_tokens;
      ++r.generated_tokens;
      std::string piece = stream.push(next);
      round_text += piece;
      if (cb.on_text && !piece.empty()) cb.on_text(piece, answering);
      if (std::find(stops.begin(), stops.end(), next) != stops.end()) {
        r.stop_reason = answering ? "answer" : "eos";
        finished = true;
        break;
      }
      s.decode(next, &logits);
      if (answering) continue;
      if (contains(round_text, model::kEndOfRetrieve) || round_text.size() > opts.max_round_chars) {
        restate("");
        continue;
      }
      if (contains(round_text, model::kObjectRefEnd)) {
        inject = true;
        break;
      }
    }
    round_text += stream.flush();
    trace.decode_ms = t.ms();
    trace.generated_text = round_text;
    trace.generated_doc_ids = model::parse_generated_doc_ids(round_text, is_known);
    trace.routing = s.routing();
    transcript += round_text;
    if (inject) {
      std::vector<int64_t> ids = trace.generated_doc_ids;
      trace.injected = model::injection_block(ids, [&](int64_t id) {
        return opts.inject_text ? text_of(id).value_or("") : std::string();
      });
      transcript += trace.injected;
    }
    r.prompt_tokens += trace.prompt_tokens;
    r.route_prefill_ms += trace.route_prefill_ms;
    r.decode_ms += trace.decode_ms;
    if (cb.on_round_end) cb.on_round_end(trace);
    r.rounds.push_back(std::move(trace));
    if (finished) break;
    if (!model::needs_another_round(transcript)) { r.stop_reason = "answer"; break; }
    if (round + 1 >= opts.max_rounds) { r.stop_reason = "rounds"; break; }
  }
  r.transcript = transcript;
  // Without the answer marker the reference returns the transcript's start (a
  // failure case, spec §6.4); the product reports no answer instead.
  r.answer = transcript.find(model::kAnswerMarker) == std::string::npos ? std::string()
                                                                        : model::extract_answer(transcript);
  r.cited_doc_ids = model::parse_generated_doc_ids(transcript, is_known);
  return r;
}

}  // namespace msa::engine
