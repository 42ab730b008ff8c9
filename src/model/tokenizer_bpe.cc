#include "model/tokenizer_bpe.h"

#include <queue>

#include "core/error.h"
#include "model/tokenizer_byte_level.h"
#include "model/tokenizer_utf8.h"

namespace msa::model {

static std::string optional_string(const JsonValue& v, std::string_view key, std::string_view where) {
  const JsonValue* f = v.find(key);
  if (!f || f->is_null()) return {};
  return f->as_string(fmt::format("{}.{}", where, key));
}

BpeModel::BpeModel(const JsonValue& model) : cache_(new Shard[kShards]) {
  model.as_object("model");
  const JsonValue* type = model.find("type");
  // Older files omit model.type for BPE; anything else must say BPE.
  if (type && !type->is_null()) {
    const std::string& t = type->as_string("model.type");
    MSA_CHECK(t == "BPE", "model.type: unsupported tokenizer model \"{}\" (only byte-level \"BPE\" is supported)", t);
  } else {
    MSA_CHECK(model.find("merges") != nullptr, "model: no \"type\" and no \"merges\"; only BPE models are supported");
  }
  MSA_CHECK(optional_string(model, "continuing_subword_prefix", "model").empty() &&
                optional_string(model, "end_of_word_suffix", "model").empty(),
            "model: continuing_subword_prefix / end_of_word_suffix are not supported for byte-level BPE");
  if (const JsonValue* d = model.find("dropout"); d && !d->is_null()) {
    MSA_CHECK(d->as_number("model.dropout") == 0.0, "model.dropout: BPE dropout is not supported (non-deterministic)");
  }
  if (const JsonValue* f = model.find("fuse_unk"); f && !f->is_null()) fuse_unk_ = f->as_bool("model.fuse_unk");

  const JsonValue* vocab = model.find("vocab");
  MSA_CHECK(vocab != nullptr, "model: missing \"vocab\"");
  const auto& entries = vocab->as_object("model.vocab");
  vocab_.reserve(entries.size());
  int64_t max_id = -1;
  for (auto& [tok, idv] : entries) {
    int64_t id = idv.as_int("model.vocab entry");
    MSA_CHECK(id >= 0 && id < (int64_t(1) << 30), "model.vocab: token id {} out of range", id);
    vocab_.insert_or_assign(tok, int32_t(id));
    if (id > max_id) max_id = id;
  }
  id_to_token_.assign(size_t(max_id + 1), std::string());
  std::vector<bool> present(size_t(max_id + 1), false);
  for (auto& [tok, id] : vocab_) {
    id_to_token_[size_t(id)] = tok;
    present[size_t(id)] = true;
  }
  for (size_t i = 0; i < present.size(); ++i)
    if (!present[i]) id_to_token_[i].clear();

  const auto& alphabet = ByteLevelAlphabet::get();
  for (int b = 0; b < 256; ++b) byte_id_[size_t(b)] = token_to_id(alphabet.char_of(uint8_t(b)));

  std::string unk = optional_string(model, "unk_token", "model");
  if (!unk.empty()) unk_id_ = token_to_id(unk);

  const JsonValue* merges = model.find("merges");
  MSA_CHECK(merges != nullptr, "model: missing \"merges\"");
  const auto& list = merges->as_array("model.merges");
  merges_.reserve(list.size() * 2);
  std::string joined;
  for (size_t r = 0; r < list.size(); ++r) {
    std::string_view a, b;
    const JsonValue& m = list[r];
    if (m.is_string()) {
      std::string_view s = m.as_string("model.merges");
      size_t sp = s.find(' ');
      MSA_CHECK(sp != std::string_view::npos && s.find(' ', sp + 1) == std::string_view::npos,
                "model.merges[{}]: expected \"a b\" (two tokens separated by one space), got \"{}\"", r, s);
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array()) {
      const auto& pair = m.as_array("model.merges");
      MSA_CHECK(pair.size() == 2, "model.merges[{}]: expected a pair [a, b], got {} elements", r, pair.size());
      a = pair[0].as_string(fmt::format("model.merges[{}][0]", r));
      b = pair[1].as_string(fmt::format("model.merges[{}][1]", r));
    } else {
      throw_error("model.merges[{}]: expected a string \"a b\" or a pair [a, b]", r);
    }
    int32_t ia = token_to_id(a), ib = token_to_id(b);
    MSA_CHECK(ia >= 0, "model.merges[{}]: token \"{}\" is not in the vocab", r, a);
    MSA_CHECK(ib >= 0, "model.merges[{}]: token \"{}\" is not in the vocab", r, b);
    joined.assign(a);
    joined.append(b);
    int32_t inew = token_to_id(joined);
    MSA_CHECK(inew >= 0, "model.merges[{}]: merged token \"{}\" is not in the vocab", r, joined);
    merges_.insert_or_assign(pair_key(ia, ib), Merge{uint32_t(r), inew});
  }
}

const std::string* BpeModel::token(int32_t id) const {
  if (id < 0 || size_t(id) >= id_to_token_.size() || id_to_token_[size_t(id)].empty()) return nullptr;
  return &id_to_token_[size_t(id)];
}

int32_t BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

void BpeModel::merge_word(std::string_view bytes, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  thread_local std::vector<Symbol> syms;
  syms.clear();
  // Initial symbols: one per byte (each byte is one ByteLevel character).
  // Bytes whose character is missing from the vocab become unk, or vanish
  // when the model has no unk token (HF semantics).
  for (unsigned char c : bytes) {
    int32_t id = byte_id_[c];
    if (id < 0) {
      if (unk_id_ < 0) continue;
      if (fuse_unk_ && !syms.empty() && syms.back().id == unk_id_) continue;
      id = unk_id_;
    }
    syms.push_back({id, int32_t(syms.size()) - 1, int32_t(syms.size()) + 1, true});
  }
  if (syms.empty()) return;
  syms.back().next = -1;
  if (syms.size() == 1) {
    out.push_back(syms[0].id);
    return;
  }

  struct Candidate {
    uint32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Candidate> heap_storage;
  heap_storage.clear();
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap(std::greater<Candidate>(),
                                                                                        std::move(heap_storage));
  auto push_pair = [&](int32_t pos) {
    int32_t nx = syms[size_t(pos)].next;
    if (nx < 0) return;
    auto it = merges_.find(pair_key(syms[size_t(pos)].id, syms[size_t(nx)].id));
    if (it != merges_.end()) heap.push({it->second.rank, pos, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < int32_t(syms.size()); ++i) push_pair(i);

  while (!heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    Symbol& left = syms[size_t(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = syms[size_t(left.next)];
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;  // stale candidate
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) syms[size_t(right.next)].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = syms[size_t(i)].next) out.push_back(syms[size_t(i)].id);
}

void BpeModel::encode_piece(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.empty()) return;
  if (bytes.size() > kMaxCachedPieceBytes) {
    merge_word(bytes, out);
    return;
  }
  Shard& shard = cache_[std::hash<std::string_view>{}(bytes) % kShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.map.find(bytes);
    if (it != shard.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t start = out.size();
  merge_word(bytes, out);
  std::vector<int32_t> ids(out.begin() + ptrdiff_t(start), out.end());
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.map.size() >= kMaxEntriesPerShard) shard.map.clear();
  shard.map.emplace(std::string(bytes), std::move(ids));
}

}  // namespace msa::model
