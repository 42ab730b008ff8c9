// Shared by the tokenizer fuzz targets: a small but complete byte-level BPE
// tokenizer.json (all 256 ByteLevel characters, a few merges in both JSON
// forms, the Qwen3 Split regex, NFC, added tokens of every flavour).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "model/tokenizer_byte_level.h"
#include "model/tokenizer_json.h"

inline std::string fuzz_tiny_tokenizer_json(bool strip_tokens) {
  using msa::model::append_json_string;
  const auto& bl = msa::model::ByteLevelAlphabet::get();
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(bl.char_of(uint8_t(b)));
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"}, {"l", "d"},
      {"Ġwor", "ld"}, {"Ġ", "Ġ"}, {"ĠĠ", "ĠĠ"}, {"Ã", "©"}, {"ä", "¸"}, {"1", "2"}, {"'", "s"}};
  for (auto& [a, b] : merges) tokens.push_back(a + b);
  std::string vocab = "{";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) vocab += ",";
    append_json_string(vocab, tokens[i]);
    vocab += ":" + std::to_string(i);
  }
  vocab += "}";
  std::string m = "[";
  for (size_t i = 0; i < merges.size(); ++i) {
    if (i) m += ",";
    if (i % 2) {
      m += "[";
      append_json_string(m, merges[i].first);
      m += ",";
      append_json_string(m, merges[i].second);
      m += "]";
    } else {
      append_json_string(m, merges[i].first + " " + merges[i].second);
    }
  }
  m += "]";
  std::string added = R"([{"id":400,"content":"<|im_start|>","special":true,"normalized":false},
    {"id":401,"content":"<|im_end|>","special":true,"normalized":false},
    {"id":402,"content":"<think>","special":false,"normalized":false})";
  if (strip_tokens)
    added += R"(,{"id":403,"content":"<sep>","special":true,"lstrip":true,"rstrip":true,"normalized":false},
    {"id":404,"content":"ab","special":false,"single_word":true,"normalized":false},
    {"id":405,"content":"caf\u00e9","special":false,"normalized":true})";
  added += "]";
  return R"({"version":"1.0","added_tokens":)" + added +
         R"(,"normalizer":{"type":"NFC"},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split",)"
         R"("pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},)"
         R"("behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]},)"
         R"("post_processor":null,"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","dropout":null,"unk_token":null,)"
         R"("vocab":)" + vocab + R"(,"merges":)" + m + "}}";
}
