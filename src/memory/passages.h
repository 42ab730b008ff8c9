// Real documents into memory documents (issue 16): a text longer than the
// passage size is split into passages on paragraph, then sentence, then word
// boundaries, each at most `max_tokens` tokens of the model's tokenizer (a
// single word longer than that is cut). Each passage becomes its own memory
// document carrying its provenance, so routing competes between passages of
// the size the model was trained on instead of one long document taking over.
//
// Naming (docs/usage.md "Long documents"): a source with external id S that
// fits in one passage is stored as one document with external id S, as
// before. A longer one is stored as documents "S#p0", "S#p1", … whose
// metadata carries {"passage": {"source": S, "index": i, "count": n,
// "chars": [begin, end]}} (byte offsets into the source text). Updating or
// deleting S replaces all of its passages in one commit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "memory/bank.h"

namespace msa::model {
class Tokenizer;
}

namespace msa::memory {

// The embedded tiny model's training documents are ≈ 35–45 tokens of text
// (docs/tasks.md); 64 keeps every document of that distribution whole and
// cuts longer text into passages of that order. A model directory may set
// "msa_passage_tokens" in config.json.
inline constexpr int64_t kDefaultPassageTokens = 64;

// "msa_passage_tokens" of <model_dir>/config.json, else kDefaultPassageTokens.
int64_t default_passage_tokens(const std::string& model_dir);

struct PassageSpan {
  size_t begin = 0, end = 0;  // bytes of the source text, whitespace-trimmed
};

// One span when the text fits in max_tokens (or max_tokens <= 0: no splitting).
std::vector<PassageSpan> split_passages(const model::Tokenizer& tok, std::string_view text, int64_t max_tokens);

// External id of passage i of n of the source `source_id` (S itself when n == 1).
std::string passage_external_id(const std::string& source_id, size_t i, size_t n);

// The documents one source becomes (metadata merged with the provenance when split).
std::vector<NewDocument> source_passages(const model::Tokenizer& tok, const NewDocument& source, int64_t max_tokens);

// Live documents stored for the source external id S: S itself or S#p0, S#p1, … (ascending passage index).
std::vector<DocumentInfo> find_source(Bank& bank, const std::string& source_id);

// Writes a source (create or new version): its passages replace every live
// document of the source in one commit — same model ids for the passages
// that remain, new ids for extra ones, tombstones for the surplus. Returns the
// passages' model ids, in order.
std::vector<int64_t> write_source(Bank& bank, const model::Tokenizer& tok, const NewDocument& source,
                                  int64_t max_tokens, int64_t* tokens = nullptr);

}  // namespace msa::memory
