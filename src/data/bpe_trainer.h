// Byte-level BPE training and HF tokenizer.json output for the tiny MSA model
// (docs/tasks.md, "Tokenizer"). The model type is the one Qwen3's
// tokenizer.json uses, so model::Tokenizer loads the result unchanged.
//
// Training is the classic word-frequency algorithm: pre-tokens (with counts)
// start as byte-level symbols; repeatedly the most frequent adjacent pair is
// merged everywhere (ties: the lexicographically smallest (left, right) pair of
// byte-level strings), until the vocabulary is full or no pair is left.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace msa::data {

// The Qwen2/Qwen3 pre-tokenizer split pattern (copied from Qwen3's tokenizer.json).
extern const char* const kQwen2SplitPattern;
// The tiny tokenizer's pattern: Qwen2's with digit runs cut into groups of up to
// three (`\p{N}{1,3}`, as in Llama 3 / cl100k) instead of single digits, so a
// document id below 1000 is one token and one below 10^6 two. Reading an id out
// of mean-pooled memory chunks is the tiny model's hardest skill; fewer tokens
// per id is what makes 4–6-digit ids (memories of 50k+ documents) learnable.
extern const char* const kTinySplitPattern;
// Number of fixed digit-group tokens (all 2- and 3-digit strings).
inline constexpr int64_t kDigitGroupTokens = 1100;
// Added tokens of the tiny tokenizer, in id order after the BPE vocabulary.
const std::vector<std::string_view>& tiny_special_tokens();

// GPT-2 byte-level alphabet: the printable character standing for byte b.
std::string byte_level_char(uint8_t b);
std::string byte_level_encode(std::string_view bytes);
// The 256 bytes in GPT-2 vocabulary order (printable Latin-1 first).
std::vector<uint8_t> byte_level_order();

struct BpeModelData {
  std::vector<std::string> vocab;                              // byte-level strings, index = id
  std::vector<std::pair<std::string, std::string>> merges;    // rank order
};

// `learned` (bytes + merges trained without digit pieces) with the fixed digit
// groups inserted after the bytes: merges "a"+"b" for every 2-digit string and
// both "ab"+"c" and "a"+"bc" for every 3-digit one, ranked before all others.
BpeModelData with_digit_groups(const BpeModelData& learned);

// Trains on pre-tokens given as raw bytes with counts. max_vocab counts the 256
// byte symbols and every merge.
BpeModelData train_bpe(const std::map<std::string, int64_t>& pretoken_counts, int64_t max_vocab);

// tokenizer.json text: NFC normalizer, Split(kTinySplitPattern) + ByteLevel
// pre-tokenizer, ByteLevel decoder, BPE model, the added `specials` (special: true).
std::string tokenizer_json(const BpeModelData& bpe, const std::vector<std::string_view>& specials);
// The "pre_tokenizer" object alone (to pre-tokenize the corpus exactly as the loader will).
std::string pre_tokenizer_json();

// Splits one text into pre-tokens (raw bytes), the way the loaded tokenizer will.
using PreTokenizeFn = std::function<void(std::string_view text, std::vector<std::string>& pieces)>;

struct TinyTokenizerOptions {
  int64_t vocab_size = 3072;  // including the added special tokens
  uint64_t seed = 0;          // of the generated corpus
  // The prompt strings (model/prompt_format.h; the data layer does not depend on
  // the model layer, so the caller passes them), used to compose question rows and
  // interleave fragments exactly as the engine and trainer write them.
  std::string question_head, question_tail;  // kQuestionHead, kQuestionTail
  std::string restate_text;                  // kRestatePrefix without "<|im_start|>"
  std::string answer_marker;                 // kAnswerMarker
  std::string end_of_retrieve;               // kEndOfRetrieve
};

// The generated corpus: task documents ("[id]. body[id]"), questions, routed
// question text and interleave fragments of every task, plus every generator
// word with a leading space. Texts never contain special tokens.
std::vector<std::string> tiny_tokenizer_corpus(const TinyTokenizerOptions& opts);
// Strings that must be single tokens: " word" for every generator word, "what".
std::vector<std::string> tiny_tokenizer_required_tokens();

// Corpus -> pre-token counts -> train_bpe -> tokenizer.json text. Throws
// msa::Error when a required token did not fit in vocab_size.
std::string train_tiny_tokenizer(const TinyTokenizerOptions& opts, const PreTokenizeFn& pretokenize);

}  // namespace msa::data
