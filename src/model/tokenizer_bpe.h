// Byte-level BPE model (HF "BPE" model of tokenizer.json): vocab, ranked
// merges, and a thread-safe cache of encoded pieces.
// Merging follows HF tokenizers exactly: repeatedly merge the adjacent pair
// with the lowest merge rank, the leftmost one on ties.
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

using TokenIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // Parses the "model" object of tokenizer.json (type must be "BPE").
  explicit BpeModel(const JsonValue& model);

  // BPE-encodes one pre-token given as raw bytes (it is byte-level mapped
  // here), appending ids to out. Thread-safe.
  void encode_piece(std::string_view bytes, std::vector<int32_t>& out) const;

  // Byte-level token string of an id, or nullptr when the id is not in the vocab.
  const std::string* token(int32_t id) const;
  int32_t token_to_id(std::string_view token) const;  // -1 when absent
  int32_t max_id() const { return int32_t(id_to_token_.size()) - 1; }
  size_t num_merges() const { return merges_.size(); }

 private:
  struct Merge {
    uint32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  void merge_word(std::string_view bytes, std::vector<int32_t>& out) const;

  TokenIdMap vocab_;
  std::vector<std::string> id_to_token_;
  std::array<int32_t, 256> byte_id_{};  // vocab id of each byte's ByteLevel character, -1 if absent
  std::unordered_map<uint64_t, Merge> merges_;
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
