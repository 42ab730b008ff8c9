// msa tokenize --tokenizer tokenizer.json [--special] [--decode [--skip-special]]
// Encode: reads JSONL on stdin, one JSON string per line; prints one JSON array
// of token ids per line. Decode (--decode): reads arrays, prints JSON strings.
// A bad line prints "error: line N: ..." to stderr and nothing on stdout; the
// remaining lines are still processed and the exit status is 1 at the end.
// See docs/tokenizer.md.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "model/tokenizer.h"
#include "model/tokenizer_json.h"

namespace {

using msa::model::JsonValue;
using msa::model::Tokenizer;

std::string encode_line(const Tokenizer& tok, const JsonValue& v, bool special) {
  const std::string& text = v.as_string("input");
  std::vector<int32_t> ids = tok.encode(text, special);
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

std::string decode_line(const Tokenizer& tok, const JsonValue& v, bool skip_special) {
  const auto& items = v.as_array("input");
  std::vector<int32_t> ids;
  ids.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    int64_t id = items[i].as_int(fmt::format("element {}", i));
    MSA_CHECK(id >= 0 && id < int64_t(tok.vocab_size()) && tok.is_valid_id(int32_t(id)),
              "element {}: {} is not a token id of this tokenizer", i, id);
    ids.push_back(int32_t(id));
  }
  std::string out;
  msa::model::append_json_string(out, tok.decode(ids, skip_special));
  return out;
}

int tokenize(int argc, char** argv) {
  CLI::App app{"Encode JSONL strings to token ids (or decode id arrays with --decode)."};
  std::string tokenizer_path;
  bool decode = false, special = false, skip_special = false;
  app.add_option("--tokenizer,-t", tokenizer_path, "HuggingFace tokenizer.json")->required();
  app.add_flag("--decode,-d", decode, "input lines are JSON arrays of ids; print JSON strings");
  app.add_flag("--special", special,
               "parse special-token text (\"<|im_start|>\") in the input as special tokens; without it such "
               "text is encoded as ordinary text (safe for user input)");
  app.add_flag("--skip-special", skip_special, "with --decode: drop special tokens from the output");
  CLI11_PARSE(app, argc, argv);

  const Tokenizer tok = Tokenizer::load(tokenizer_path);
  std::ios::sync_with_stdio(false);
  std::string line, out;
  int64_t n = 0, errors = 0;
  while (std::getline(std::cin, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    try {
      JsonValue v = msa::model::parse_json(line, fmt::format("line {}", n));
      out = decode ? decode_line(tok, v, skip_special) : encode_line(tok, v, special);
    } catch (const msa::Error& e) {
      ++errors;
      std::string msg = e.what();
      std::string prefix = fmt::format("line {}: ", n);
      if (msg.rfind(prefix, 0) == 0) msg.erase(0, prefix.size());
      // A line is one JSON document: its own "line 1" is noise.
      if (size_t at = msg.find("invalid JSON at line 1 column"); at != std::string::npos)
        msg.replace(at, 29, "invalid JSON at column");
      std::fflush(stdout);
      std::fprintf(stderr, "error: line %lld: %s\n", static_cast<long long>(n), msg.c_str());
      continue;
    }
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  if (errors > 0) {
    std::fprintf(stderr, "msa tokenize: %lld of %lld lines had errors\n", static_cast<long long>(errors),
                 static_cast<long long>(n));
    return 1;
  }
  return 0;
}

}  // namespace

MSA_COMMAND("tokenize", "encode JSONL strings to token ids, or decode with --decode", tokenize);
