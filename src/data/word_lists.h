// The closed word lists every synthetic task draws from (docs/tasks.md). All
// words are lower-case ASCII letters and the lists are pairwise disjoint, so a
// tiny tokenizer can give each word its own token and a key word never occurs
// in filler text.
#pragma once

#include <string_view>
#include <vector>

namespace msa::data {

const std::vector<std::string_view>& filler_words();    // haystack sentences
const std::vector<std::string_view>& key_adjectives();  // first word of a needle key
const std::vector<std::string_view>& key_nouns();       // second word of a needle key
const std::vector<std::string_view>& city_names();      // multi-hop bridge entities
const std::vector<std::string_view>& person_names();    // multi-hop (3-hop) bridge entities
// Fixed words of the needle, question and hop sentences.
const std::vector<std::string_view>& template_words();

}  // namespace msa::data
