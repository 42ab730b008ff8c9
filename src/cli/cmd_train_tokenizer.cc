// msa train-tokenizer --out FILE [--vocab-size N] [--seed S]
// Trains the tiny MSA model's byte-level BPE tokenizer on generated task text
// (data/bpe_trainer.h) and writes an HF tokenizer.json atomically. The corpus is
// pre-tokenized by the very pre-tokenizer the file declares (model::PreTokenizer),
// so merges are learned on exactly the pieces the loader will produce.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <deque>
#include <string>

#include "cli/command.h"
#include "data/bpe_trainer.h"
#include "data/task_io.h"
#include "model/prompt_format.h"
#include "model/tokenizer.h"
#include "model/tokenizer_json.h"
#include "model/tokenizer_pretokenizer.h"

namespace {

int train_tokenizer(int argc, char** argv) {
  CLI::App app{"Train the tiny model's byte-level BPE tokenizer on generated task text (HF tokenizer.json)."};
  std::string out;
  msa::data::TinyTokenizerOptions opts;
  app.add_option("--out", out, "output tokenizer.json")->required();
  app.add_option("--vocab-size", opts.vocab_size, "vocabulary size including the special tokens (an upper bound: "
                                                  "training stops early when every corpus piece is one token)")
      ->capture_default_str();
  app.add_option("--seed", opts.seed, "seed of the generated corpus")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  namespace m = msa::model;
  opts.question_head = m::kQuestionHead;
  opts.question_tail = m::kQuestionTail;
  opts.restate_text = std::string(m::kRestatePrefix.substr(m::kImStart.size()));
  opts.answer_marker = m::kAnswerMarker;
  opts.end_of_retrieve = m::kEndOfRetrieve;

  const std::string pre_json = msa::data::pre_tokenizer_json();
  const m::JsonValue pre_value = m::parse_json(pre_json, "pre_tokenizer");
  const m::PreTokenizer pre(&pre_value);
  std::vector<std::string_view> views;
  std::deque<std::string> arena;
  std::string json = msa::data::train_tiny_tokenizer(opts, [&](std::string_view text, std::vector<std::string>& pieces) {
    views.clear();
    arena.clear();
    pre.split(text, views, arena);
    for (auto v : views) pieces.emplace_back(v);
  });
  const m::Tokenizer check = m::Tokenizer::from_json(json, out);  // never write a file our loader rejects
  msa::data::write_file_atomically(out, json);
  std::printf("train-tokenizer: %zu tokens (%zu incl. special) -> %s\n", check.vocab_size() - check.added_tokens().size(),
              check.vocab_size(), out.c_str());
  return 0;
}

}  // namespace

MSA_COMMAND("train-tokenizer", "train the tiny model's byte-level BPE tokenizer on generated task text", train_tokenizer);
