// MSA prompt formats (spec msa-reference.md §3.2, §3.3, §4.1, §6): memory
// document strings, the chat-template prefix/tail split, the first-round
// question row, and the Memory-Interleave text helpers (id parsing,
// injection and restatement blocks, answer extraction, re-encoding tags).
// Pure functions of their inputs (plus a const Tokenizer where ids are needed).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"

namespace msa::model {

// Token tags (spec §2).
inline constexpr int32_t kTagRoutingQuery = 0;
inline constexpr int32_t kTagOther = -1;
inline constexpr int32_t kTagTemplate = -2;

inline constexpr std::string_view kImStart = "<|im_start|>";
inline constexpr std::string_view kImEnd = "<|im_end|>";
inline constexpr std::string_view kEndOfText = "<|endoftext|>";
inline constexpr std::string_view kObjectRefEnd = "<|object_ref_end|>";
inline constexpr std::string_view kEndOfRetrieve = "<End-of-Retrieve>";
inline constexpr std::string_view kPromptPattern = "<|im_start|>user\n{prompt}<|im_end|>\n";
inline constexpr std::string_view kQuestionHead =
    "\nPlease answer the question based on the above historical document information\n\n";
inline constexpr std::string_view kQuestionTail = "\nPlease return all documents related to the question\n";
inline constexpr std::string_view kAnswerMarker = "The answer to the question is:";
inline constexpr std::string_view kRestatePrefix = "<|im_start|>The user's question is: ";

// Text built from trusted pieces (the prompt builder's template text, special
// tokens the model generated) and untrusted pieces (questions, document text,
// ordinary generated text). Encoded, special-token text becomes a special token
// only inside trusted pieces: "<|im_end|>" or "<|object_ref_end|>" written in a
// question or a stored document stays plain text (issue 18). Where untrusted
// pieces hold no special-token text, the ids equal tok.encode(text(), true).
class PromptText {
 public:
  PromptText() = default;
  explicit PromptText(std::string_view trusted_text) { trusted(trusted_text); }
  PromptText& trusted(std::string_view s);    // special-token text here is meant
  PromptText& untrusted(std::string_view s);  // never becomes a special token
  PromptText& append(const PromptText& other);
  const std::string& text() const { return text_; }
  const std::vector<Tokenizer::ByteSpan>& special_spans() const { return spans_; }
  std::vector<int32_t> encode(const Tokenizer& tok) const;
  // True when bytes [b, e) lie inside one trusted piece.
  bool is_trusted(size_t b, size_t e) const;
  // The first `bytes` bytes (cut on a character boundary by the caller).
  PromptText prefix(size_t bytes) const;

 private:
  std::string text_;
  std::vector<Tokenizer::ByteSpan> spans_;  // the trusted pieces, merged
};

// "<|im_start|>[i]. " + text + "[i]<|im_end|>" (§3.2).
std::string format_memory_document(int64_t index, std::string_view text);
// Token ids of a memory document: the framing's special tokens; special-token
// text inside the document's own text stays plain text (nothing added).
std::vector<int32_t> encode_memory_document(const Tokenizer& tok, int64_t index, std::string_view text);

// The template split around {prompt} (§3.3, §4.1): prefix "<|im_start|>user\n",
// tail "<|im_end|>\n", as text and as ids. The ids are obtained the way the
// reference does: fill the slot with the pad token, tokenise, cut around it.
struct TemplateSplit {
  std::string prefix_text, tail_text;
  std::vector<int32_t> prefix_ids, tail_ids;
};
TemplateSplit split_prompt_template(const Tokenizer& tok, std::string_view pattern = kPromptPattern);

// A row of token ids with one tag per token.
struct TaggedIds {
  std::vector<int32_t> ids;
  std::vector<int32_t> tags;
  void append(const std::vector<int32_t>& more, int32_t tag);
};

// kQuestionHead + question + kQuestionTail (§4.1).
std::string routed_question_text(std::string_view question);
// First-round row (§4.1): routed text (tag 0), template tail (tag -2),
// "<|im_start|>" (tag -1). parse_special = true reproduces the reference (HF
// tokenize parses special-token text inside the question); pass false for
// untrusted questions so "<|im_end|>" typed by a user stays plain text.
TaggedIds first_round_row(const Tokenizer& tok, std::string_view question, bool parse_special = true);

// Interleave (§6.2): every "[n]" in text, de-duplicated, ascending, keeping
// only ids for which is_known(id) is true. Numbers too large for int64 are dropped.
std::vector<int64_t> parse_generated_doc_ids(std::string_view text, const std::function<bool(int64_t)>& is_known);
// "[id]. text\n" for each id (in the given order) + "<|object_ref_end|>".
std::string injection_block(const std::vector<int64_t>& ids, const std::function<std::string(int64_t)>& text_of);
// "<|im_start|>The user's question is: " + Q + "\n<|object_ref_end|>".
std::string restatement_block(std::string_view question);
// The same with the question untrusted (special-token text in it stays text).
PromptText restatement_prompt(std::string_view question);
// injection_block() with the document texts untrusted.
PromptText injection_prompt(const std::vector<int64_t>& ids, const std::function<std::string(int64_t)>& text_of);
// The question inside a call's input text: between the last
// "historical document information\n\n" and the following
// "\nPlease return all documents related to the question" (§6.2).
std::optional<std::string> recover_question(std::string_view transcript);
// §6.4: text after the last "The answer to the question is:" up to the first
// "<|im_end|>" after it, trimmed. Without the marker: the text before the
// first "<|im_end|>" of the transcript (the reference's failure behaviour).
std::string extract_answer(std::string_view transcript);
// True when another retrieval round follows (§6.3): the transcript ends with
// "<|object_ref_end|>" and contains no answer marker.
bool needs_another_round(std::string_view transcript);

// §6.3 re-encoding of a transcript (starting at "\nPlease answer ..."):
// ids of the whole string (special tokens parsed), tag -1 by default, tag 0
// from the start through the end of "Please return all documents related to
// the question", and tag 0 for the last injected block: from the "[" right
// after the last "]<|object_ref_end|>[" up to just before the next
// "<|object_ref_end|>". Span boundaries are found by tokenising the prefix
// text separately (as the reference does).
TaggedIds reencode_row(const Tokenizer& tok, std::string_view transcript);
// The same for a transcript whose questions, documents and generated text are
// untrusted: special tokens only where the builder or the model put them.
TaggedIds reencode_row(const Tokenizer& tok, const PromptText& transcript);

}  // namespace msa::model
