#include "model/tokenizer_bpe.h"

#include <algorithm>
#include <bit>
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

static size_t table_capacity(size_t n) {
  size_t cap = 16;
  while (cap < n + n / 2) cap <<= 1;  // load factor <= 2/3
  return cap;
}

static uint32_t string_hash(std::string_view s) { return uint32_t(std::hash<std::string_view>{}(s)); }

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
  load_vocab(*vocab);

  const auto& alphabet = ByteLevelAlphabet::get();
  for (int b = 0; b < 256; ++b) byte_id_[size_t(b)] = token_to_id(alphabet.char_of(uint8_t(b)));
  std::string unk = optional_string(model, "unk_token", "model");
  if (!unk.empty()) unk_id_ = token_to_id(unk);

  const JsonValue* merges = model.find("merges");
  MSA_CHECK(merges != nullptr, "model: missing \"merges\"");
  load_merges(*merges);
}

void BpeModel::load_vocab(const JsonValue& vocab) {
  struct Entry {
    uint32_t off, len;
    int32_t id;
  };
  std::vector<Entry> entries;
  auto add = [&](std::string_view tok, double idd) {
    MSA_CHECK(idd >= 0 && idd < double(1 << 24) && idd == double(int64_t(idd)),
              "model.vocab: token id {} of \"{}\" is not an integer in [0, 2^24)", idd, tok);
    MSA_CHECK(!tok.empty(), "model.vocab: empty token string (id {})", idd);
    MSA_CHECK(token_buf_.size() + tok.size() < (size_t(1) << 32), "model.vocab: too large");
    entries.push_back({uint32_t(token_buf_.size()), uint32_t(tok.size()), int32_t(idd)});
    token_buf_.append(tok);
  };
  if (vocab.type() == JsonValue::Type::Raw) {
    JsonCursor c(vocab.raw_text(), "model.vocab");
    token_buf_.reserve(vocab.raw_text().size());
    c.expect('{');
    if (!c.consume('}')) {
      std::string scratch;
      do {
        std::string_view tok = c.read_string(scratch);
        c.expect(':');
        add(tok, c.read_number());
      } while (c.consume(','));
      c.expect('}');
    }
  } else {
    for (auto& [tok, idv] : vocab.as_object("model.vocab")) add(tok, idv.as_number("model.vocab entry"));
  }
  int32_t max_id = -1;
  for (auto& e : entries) max_id = std::max(max_id, e.id);
  token_off_.assign(size_t(max_id + 1), 0);
  token_len_.assign(size_t(max_id + 1), 0);
  vocab_slots_.assign(table_capacity(entries.size()), VocabSlot{0, -1});
  const size_t mask = vocab_slots_.size() - 1;
  for (auto& e : entries) {
    std::string_view tok(token_buf_.data() + e.off, e.len);
    uint32_t h = string_hash(tok);
    size_t i = h & mask;
    for (;; i = (i + 1) & mask) {
      VocabSlot& s = vocab_slots_[i];
      if (s.id < 0) {
        s = {h, e.id};
        break;
      }
      if (s.hash == h && token(s.id) == tok) {  // duplicate key: the later entry wins (HF/JSON semantics)
        s.id = e.id;
        break;
      }
    }
    token_off_[size_t(e.id)] = e.off;
    token_len_[size_t(e.id)] = e.len;
  }
}

std::string_view BpeModel::token(int32_t id) const {
  if (id < 0 || size_t(id) >= token_len_.size()) return {};
  return std::string_view(token_buf_.data() + token_off_[size_t(id)], token_len_[size_t(id)]);
}

int32_t BpeModel::token_to_id(std::string_view tok) const {
  if (vocab_slots_.empty()) return -1;
  uint32_t h = string_hash(tok);
  const size_t mask = vocab_slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const VocabSlot& s = vocab_slots_[i];
    if (s.id < 0) return -1;
    if (s.hash == h && token(s.id) == tok) return s.id;
  }
}

static inline size_t merge_hash(uint64_t key, int shift) { return size_t((key * 0x9E3779B97F4A7C15ull) >> shift); }

void BpeModel::grow_merges() {
  std::vector<MergeSlot> old = std::move(merge_slots_);
  size_t cap = std::max<size_t>(16, old.size() * 2);
  merge_slots_.assign(cap, MergeSlot{kEmptyKey, {0, 0}});
  merge_shift_ = 64 - std::countr_zero(cap);
  const size_t mask = cap - 1;
  for (const MergeSlot& s : old) {
    if (s.key == kEmptyKey) continue;
    size_t i = merge_hash(s.key, merge_shift_);
    while (merge_slots_[i].key != kEmptyKey) i = (i + 1) & mask;
    merge_slots_[i] = s;
  }
}

void BpeModel::add_merge(size_t rank, std::string_view a, std::string_view b, std::string& joined) {
  int32_t ia = token_to_id(a), ib = token_to_id(b);
  MSA_CHECK(ia >= 0, "model.merges[{}]: token \"{}\" is not in the vocab", rank, a);
  MSA_CHECK(ib >= 0, "model.merges[{}]: token \"{}\" is not in the vocab", rank, b);
  joined.assign(a);
  joined.append(b);
  int32_t inew = token_to_id(joined);
  MSA_CHECK(inew >= 0, "model.merges[{}]: merged token \"{}\" is not in the vocab", rank, joined);
  MSA_CHECK(rank < (size_t(1) << 31), "model.merges: too many merges");
  if ((num_merges_ + 1) * 3 > merge_slots_.size() * 2) grow_merges();
  const uint64_t key = pair_key(ia, ib);
  const size_t mask = merge_slots_.size() - 1;
  for (size_t i = merge_hash(key, merge_shift_);; i = (i + 1) & mask) {
    MergeSlot& s = merge_slots_[i];
    if (s.key == kEmptyKey) {
      s = {key, {uint32_t(rank), inew}};
      ++num_merges_;
      return;
    }
    if (s.key == key) {  // duplicate merge: the later one wins (as in HF)
      s.merge = {uint32_t(rank), inew};
      return;
    }
  }
}

const BpeModel::Merge* BpeModel::find_merge(int32_t a, int32_t b) const {
  const uint64_t key = pair_key(a, b);
  const size_t mask = merge_slots_.size() - 1;
  for (size_t i = merge_hash(key, merge_shift_);; i = (i + 1) & mask) {
    const MergeSlot& s = merge_slots_[i];
    if (s.key == key) return &s.merge;
    if (s.key == kEmptyKey) return nullptr;
  }
}

static void split_merge_string(size_t r, std::string_view s, std::string_view& a, std::string_view& b) {
  size_t sp = s.find(' ');
  MSA_CHECK(sp != std::string_view::npos && s.find(' ', sp + 1) == std::string_view::npos,
            "model.merges[{}]: expected \"a b\" (two tokens separated by one space), got \"{}\"", r, s);
  a = s.substr(0, sp);
  b = s.substr(sp + 1);
}

void BpeModel::load_merges(const JsonValue& merges) {
  std::string joined;
  if (merges.type() == JsonValue::Type::Raw) {
    merge_slots_.assign(table_capacity(merges.raw_text().size() / 48 + 1), MergeSlot{kEmptyKey, {0, 0}});
    merge_shift_ = 64 - std::countr_zero(merge_slots_.size());
    JsonCursor c(merges.raw_text(), "model.merges");
    c.expect('[');
    if (c.consume(']')) return;
    std::string sa, sb;
    size_t r = 0;
    do {
      std::string_view a, b;
      if (c.peek() == '[') {
        c.expect('[');
        a = c.read_string(sa);
        if (a.data() != sa.data()) {
          sa.assign(a);
          a = sa;
        }
        c.expect(',');
        b = c.read_string(sb);
        if (!c.consume(']')) c.fail(fmt::format("model.merges[{}]: expected a pair [a, b]", r));
      } else if (c.peek() == '"') {
        split_merge_string(r, c.read_string(sa), a, b);
      } else {
        c.fail(fmt::format("model.merges[{}]: expected a string \"a b\" or a pair [a, b]", r));
      }
      add_merge(r, a, b, joined);
      ++r;
    } while (c.consume(','));
    c.expect(']');
    return;
  }
  const auto& list = merges.as_array("model.merges");
  merge_slots_.assign(table_capacity(list.size() + 1), MergeSlot{kEmptyKey, {0, 0}});
  merge_shift_ = 64 - std::countr_zero(merge_slots_.size());
  for (size_t r = 0; r < list.size(); ++r) {
    std::string_view a, b;
    const JsonValue& m = list[r];
    if (m.is_string()) {
      split_merge_string(r, m.as_string("model.merges"), a, b);
    } else if (m.is_array()) {
      const auto& pair = m.as_array("model.merges");
      MSA_CHECK(pair.size() == 2, "model.merges[{}]: expected a pair [a, b], got {} elements", r, pair.size());
      a = pair[0].as_string(fmt::format("model.merges[{}][0]", r));
      b = pair[1].as_string(fmt::format("model.merges[{}][1]", r));
    } else {
      throw_error("model.merges[{}]: expected a string \"a b\" or a pair [a, b]", r);
    }
    add_merge(r, a, b, joined);
  }
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
    if (const Merge* m = find_merge(syms[size_t(pos)].id, syms[size_t(nx)].id)) heap.push({m->rank, pos, m->new_id});
  };
  for (int32_t i = 0; i + 1 < int32_t(syms.size()); ++i) push_pair(i);

  while (!heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    Symbol& left = syms[size_t(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = syms[size_t(left.next)];
    const Merge* m = find_merge(left.id, right.id);
    if (!m || m->new_id != top.new_id) continue;  // stale candidate
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
