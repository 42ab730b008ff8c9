// Byte-level BPE trainer and tokenizer.json writer (see bpe_trainer.h).
#include "data/bpe_trainer.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>

#include "core/error.h"
#include "data/tasks.h"

namespace msa::data {

const char* const kQwen2SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kTinySplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const std::vector<std::string_view>& tiny_special_tokens() {
  static const std::vector<std::string_view> k = {"<|endoftext|>", "<|im_start|>", "<|im_end|>",
                                                  "<|object_ref_end|>"};
  return k;
}

BpeModelData with_digit_groups(const BpeModelData& learned) {
  BpeModelData out;
  out.vocab.assign(learned.vocab.begin(), learned.vocab.begin() + 256);
  auto digits = [](int v, int n) {
    std::string s(size_t(n), '0');
    for (int i = n - 1; i >= 0; --i, v /= 10) s[size_t(i)] = char('0' + v % 10);
    return s;
  };
  for (int v = 0; v < 100; ++v) {
    const std::string s = digits(v, 2);
    out.merges.emplace_back(s.substr(0, 1), s.substr(1));
    out.vocab.push_back(s);
  }
  // Both splits of a 3-digit group: whichever 2-digit pair BPE merges first
  // (lower rank), the remaining pair merges to the whole group.
  for (int v = 0; v < 1000; ++v) {
    const std::string s = digits(v, 3);
    out.merges.emplace_back(s.substr(0, 2), s.substr(2));
    out.merges.emplace_back(s.substr(0, 1), s.substr(1));
    out.vocab.push_back(s);
  }
  for (const auto& m : learned.merges) {
    MSA_CHECK(m.first.find_first_of("0123456789") == std::string::npos &&
                  m.second.find_first_of("0123456789") == std::string::npos,
              "learned merge ({}, {}) involves digits; digit groups are fixed", m.first, m.second);
    out.merges.push_back(m);
  }
  out.vocab.insert(out.vocab.end(), learned.vocab.begin() + 256, learned.vocab.end());
  return out;
}

namespace {

bool printable_byte(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); }

std::string utf8_of(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xE0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace

std::string byte_level_char(uint8_t b) {
  if (printable_byte(b)) return utf8_of(b);
  // Non-printable bytes take U+0100, U+0101, ... in byte order.
  uint32_t n = 0;
  for (int x = 0; x < b; ++x)
    if (!printable_byte(x)) ++n;
  return utf8_of(256 + n);
}

std::string byte_level_encode(std::string_view bytes) {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    for (int b = 0; b < 256; ++b) t[size_t(b)] = byte_level_char(uint8_t(b));
    return t;
  }();
  std::string out;
  for (unsigned char c : bytes) out += table[c];
  return out;
}

std::vector<uint8_t> byte_level_order() {
  std::vector<uint8_t> order;
  for (int b = 0; b < 256; ++b)
    if (printable_byte(b)) order.push_back(uint8_t(b));
  for (int b = 0; b < 256; ++b)
    if (!printable_byte(b)) order.push_back(uint8_t(b));
  return order;
}

BpeModelData train_bpe(const std::map<std::string, int64_t>& pretoken_counts, int64_t max_vocab) {
  MSA_CHECK(max_vocab >= 256, "vocabulary size {} is smaller than the 256 byte symbols", max_vocab);
  BpeModelData out;
  std::vector<int32_t> id_of_byte(256);
  for (uint8_t b : byte_level_order()) {
    id_of_byte[b] = int32_t(out.vocab.size());
    out.vocab.push_back(byte_level_char(b));
  }
  struct Word {
    std::vector<int32_t> syms;
    int64_t count;
  };
  std::vector<Word> words;
  for (const auto& [piece, count] : pretoken_counts) {
    if (piece.empty() || count <= 0) continue;
    Word w{{}, count};
    for (unsigned char c : piece) w.syms.push_back(id_of_byte[c]);
    if (w.syms.size() > 1) words.push_back(std::move(w));
  }
  std::unordered_map<uint64_t, int64_t> pair_count;
  auto key = [](int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); };
  while (int64_t(out.vocab.size()) < max_vocab) {
    pair_count.clear();
    for (const auto& w : words)
      for (size_t i = 0; i + 1 < w.syms.size(); ++i) pair_count[key(w.syms[i], w.syms[i + 1])] += w.count;
    if (pair_count.empty()) break;
    // Most frequent pair; ties by the smallest (left, right) strings: independent of hash order.
    uint64_t best = 0;
    int64_t best_count = -1;
    for (const auto& [k, c] : pair_count) {
      if (c < best_count) continue;
      if (c == best_count) {
        const std::string& la = out.vocab[k >> 32];
        const std::string& lb = out.vocab[uint32_t(k)];
        const std::string& ba = out.vocab[best >> 32];
        const std::string& bb = out.vocab[uint32_t(best)];
        if (std::tie(la, lb) >= std::tie(ba, bb)) continue;
      }
      best = k;
      best_count = c;
    }
    const int32_t a = int32_t(best >> 32), b = int32_t(uint32_t(best)), merged = int32_t(out.vocab.size());
    out.merges.emplace_back(out.vocab[size_t(a)], out.vocab[size_t(b)]);
    out.vocab.push_back(out.vocab[size_t(a)] + out.vocab[size_t(b)]);
    for (auto& w : words) {  // leftmost non-overlapping occurrences
      size_t o = 0;
      for (size_t i = 0; i < w.syms.size(); ++i) {
        if (i + 1 < w.syms.size() && w.syms[i] == a && w.syms[i + 1] == b) {
          w.syms[o++] = merged;
          ++i;
        } else {
          w.syms[o++] = w.syms[i];
        }
      }
      w.syms.resize(o);
    }
    std::erase_if(words, [](const Word& w) { return w.syms.size() < 2; });
  }
  return out;
}

namespace {

nlohmann::ordered_json pre_tokenizer_object() {
  using J = nlohmann::ordered_json;
  return J{{"type", "Sequence"},
           {"pretokenizers",
            J::array({J{{"type", "Split"},
                        {"pattern", J{{"Regex", kTinySplitPattern}}},
                        {"behavior", "Isolated"},
                        {"invert", false}},
                      J{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}};
}

}  // namespace

std::string pre_tokenizer_json() { return pre_tokenizer_object().dump(); }

std::string tokenizer_json(const BpeModelData& bpe, const std::vector<std::string_view>& specials) {
  using J = nlohmann::ordered_json;
  J added = J::array();
  for (size_t i = 0; i < specials.size(); ++i)
    added.push_back(J{{"id", bpe.vocab.size() + i},
                      {"content", specials[i]},
                      {"single_word", false},
                      {"lstrip", false},
                      {"rstrip", false},
                      {"normalized", false},
                      {"special", true}});
  J vocab = J::object();
  for (size_t i = 0; i < bpe.vocab.size(); ++i) vocab[bpe.vocab[i]] = i;
  J merges = J::array();
  for (const auto& [a, b] : bpe.merges) merges.push_back(J::array({a, b}));
  J byte_level = J{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  J root = J{{"version", "1.0"},
             {"truncation", nullptr},
             {"padding", nullptr},
             {"added_tokens", added},
             {"normalizer", J{{"type", "NFC"}}},
             {"pre_tokenizer", pre_tokenizer_object()},
             {"post_processor", byte_level},
             {"decoder", byte_level},
             {"model", J{{"type", "BPE"},
                         {"dropout", nullptr},
                         {"unk_token", nullptr},
                         {"continuing_subword_prefix", ""},
                         {"end_of_word_suffix", ""},
                         {"fuse_unk", false},
                         {"byte_fallback", false},
                         {"ignore_merges", false},
                         {"vocab", vocab},
                         {"merges", merges}}}};
  return root.dump(1) + "\n";
}

std::vector<std::string> tiny_tokenizer_required_tokens() {
  std::vector<std::string> out;
  for (const std::string& w : vocabulary_corpus()) {
    bool letters = !w.empty() && std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    if (letters) out.push_back(" " + w);
  }
  out.push_back("what");  // the first word of every question (after "\n\n")
  return out;
}

std::vector<std::string> tiny_tokenizer_corpus(const TinyTokenizerOptions& o) {
  std::vector<std::string> texts;
  std::mt19937_64 rng(o.seed);
  const Task tasks[] = {Task::kNiah,           Task::kNiahMultiKey, Task::kNiahMultiValue,
                        Task::kNiahMultiQuery, Task::kHop2,         Task::kHop3};
  for (Task t : tasks) {
    for (int m = 0; m < 24; ++m) {
      TaskSet s = generate_training_memory(t, 32, 2, 5, rng);
      std::map<int64_t, const std::string*> text_of;
      for (const auto& d : s.docs) {
        std::string id = std::to_string(d.id);
        texts.push_back("[" + id + "]. " + d.text + "[" + id + "]");  // between <|im_start|> and <|im_end|>
        text_of[d.id] = &d.text;
      }
      for (const auto& q : s.questions) {
        texts.push_back(o.question_head + q.question + o.question_tail);  // first-round row
        texts.push_back("\n");                                           // between <|im_end|> and <|im_start|>
        std::string ids, injected;
        for (int64_t g : q.gold_doc_ids) {
          ids += "[" + std::to_string(g) + "]";
          injected += "[" + std::to_string(g) + "]. " + *text_of.at(g) + "\n";
        }
        texts.push_back(ids);       // a round's generated ids, then <|object_ref_end|>
        texts.push_back(injected);  // the injection block, then <|object_ref_end|>
        texts.push_back(o.end_of_retrieve);
        texts.push_back(o.restate_text + q.question + "\n");
        texts.push_back(o.answer_marker + " " + q.answer);
      }
    }
  }
  return texts;
}

std::string train_tiny_tokenizer(const TinyTokenizerOptions& opts, const PreTokenizeFn& pretokenize) {
  const int64_t specials = int64_t(tiny_special_tokens().size());
  MSA_CHECK(opts.vocab_size > 256 + specials, "vocabulary size {} is too small (at least {})", opts.vocab_size,
            256 + specials + 1);
  std::map<std::string, int64_t> counts;
  std::vector<std::string> pieces;
  for (const std::string& text : tiny_tokenizer_corpus(opts)) {
    pieces.clear();
    pretokenize(text, pieces);
    for (auto& p : pieces) ++counts[p];
  }
  // Every generator word, also the rare ones, as it occurs in text (after a space).
  for (const std::string& w : tiny_tokenizer_required_tokens()) counts[w] += 20;
  // Digit groups (the pre-tokenizer cuts digit runs into groups of <= 3) are
  // fixed tokens: every id or value of up to 3 digits is one token.
  std::erase_if(counts, [](const auto& kv) {
    return !kv.first.empty() && std::all_of(kv.first.begin(), kv.first.end(),
                                            [](char c) { return c >= '0' && c <= '9'; });
  });
  MSA_CHECK(opts.vocab_size > 256 + kDigitGroupTokens + specials, "vocabulary size {} is too small (at least {})",
            opts.vocab_size, 256 + kDigitGroupTokens + specials + 1);
  BpeModelData bpe = with_digit_groups(train_bpe(counts, opts.vocab_size - specials - kDigitGroupTokens));
  std::map<std::string, bool> in_vocab;
  for (const auto& v : bpe.vocab) in_vocab[v] = true;
  for (const std::string& w : tiny_tokenizer_required_tokens())
    MSA_CHECK(in_vocab.count(byte_level_encode(w)), "\"{}\" is not a single token with a vocabulary of {}; raise --vocab-size",
              w, opts.vocab_size);
  return tokenizer_json(bpe, tiny_special_tokens());
}

}  // namespace msa::data
