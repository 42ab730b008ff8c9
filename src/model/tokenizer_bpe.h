// Byte-level BPE model (HF "BPE" model of tokenizer.json): vocab, ranked
// merges, and a thread-safe cache of encoded pieces.
// Merging follows HF tokenizers exactly: repeatedly merge the adjacent pair
// with the lowest merge rank, the leftmost one on ties.
// Loading streams the vocab and merges (Type::Raw JSON) into flat
// open-addressing tables: the 151k-entry Qwen3 tables load in a few tens of ms.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer_json.h"

namespace msa::model {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class BpeModel {
 public:
  // Parses the "model" object of tokenizer.json (type must be "BPE"); its
  // "vocab" and "merges" may be Raw (streamed) or parsed JSON.
  explicit BpeModel(const JsonValue& model);

  // BPE-encodes one pre-token given as raw bytes (it is byte-level mapped
  // here), appending ids to out. Thread-safe.
  void encode_piece(std::string_view bytes, std::vector<int32_t>& out) const;

  // Byte-level token string of an id; empty when the id is not in the vocab.
  std::string_view token(int32_t id) const;
  int32_t token_to_id(std::string_view token) const;  // -1 when absent
  int32_t max_id() const { return int32_t(token_len_.size()) - 1; }
  size_t num_merges() const { return num_merges_; }

 private:
  struct Merge {
    uint32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  void load_vocab(const JsonValue& vocab);
  void load_merges(const JsonValue& merges);
  void add_merge(size_t rank, std::string_view a, std::string_view b, std::string& joined);
  const Merge* find_merge(int32_t a, int32_t b) const;
  void grow_merges();
  void merge_word(std::string_view bytes, std::vector<int32_t>& out) const;

  // Vocab: token strings concatenated, per-id offset/length, and an
  // open-addressing table of ids keyed by the string (hash cached per slot).
  std::string token_buf_;
  std::vector<uint32_t> token_off_, token_len_;
  struct VocabSlot {
    uint32_t hash;
    int32_t id;  // -1: empty
  };
  std::vector<VocabSlot> vocab_slots_;
  // Merges: open-addressing table keyed by the (left id, right id) pair.
  struct MergeSlot {
    uint64_t key;  // kEmptyKey: empty
    Merge merge;
  };
  static constexpr uint64_t kEmptyKey = ~uint64_t(0);
  std::vector<MergeSlot> merge_slots_;
  int merge_shift_ = 60;  // 64 - log2(merge_slots_.size())
  size_t num_merges_ = 0;

  std::array<int32_t, 256> byte_id_{};  // vocab id of each byte's ByteLevel character, -1 if absent
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false;

  // Cache of encoded pieces, sharded so many threads rarely contend.
  static constexpr size_t kShards = 64;
  static constexpr size_t kMaxEntriesPerShard = 8192;
  static constexpr size_t kMaxCachedPieceBytes = 96;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  std::unique_ptr<Shard[]> cache_;
};

}  // namespace msa::model
