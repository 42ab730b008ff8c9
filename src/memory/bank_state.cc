#include "memory/bank_state.h"

#include <cstring>

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"

namespace msa::memory {

using bankfmt::DocEntry;
using bankfmt::Tag;

std::string segment_file_name(uint64_t id) { return fmt::format("seg-{:08d}.msb", id); }

std::shared_ptr<const BankSegment> BankSegment::open(const std::string& path, const ManifestSegment& meta,
                                                     bool verify) {
  auto s = std::make_shared<BankSegment>();
  s->meta = meta;
  s->path = path;
  s->map = MappedFile(path);
  const std::span<const uint8_t> bytes(s->map.data(), s->map.size());
  MSA_CHECK(s->map.size() == meta.bytes, "{}: file has {} bytes, the manifest says {} (truncated or replaced)",
            path, s->map.size(), meta.bytes);
  s->parsed = bankfmt::parse_file(bytes, path);
  const bankfmt::Info& in = s->parsed.info;
  MSA_CHECK(s->parsed.kind == bankfmt::FileKind::Segment, "{}: not a segment file", path);
  MSA_CHECK(in.segment_id == meta.id && in.num_docs == meta.docs && in.num_chunks == meta.chunks,
            "{}: header (segment {}, {} docs, {} chunks) disagrees with the manifest (segment {}, {} docs, {} chunks)",
            path, in.segment_id, in.num_docs, in.num_chunks, meta.id, meta.docs, meta.chunks);
  if (verify) bankfmt::verify_sections(s->parsed, bytes, path);
  const uint8_t* base = s->map.data();
  s->docs = reinterpret_cast<const DocEntry*>(base + s->parsed.find(Tag::Docs)->offset);
  s->chunk_tokens = reinterpret_cast<const uint32_t*>(base + s->parsed.find(Tag::ChunkTokens)->offset);
  for (uint32_t sl = 0; sl < in.num_slots; ++sl) {
    s->rk.push_back(base + s->parsed.find(Tag::RoutingKey, sl)->offset);
    s->k.push_back(base + s->parsed.find(Tag::ContentK, sl)->offset);
    s->v.push_back(base + s->parsed.find(Tag::ContentV, sl)->offset);
  }
  return s;
}

void BankSegment::routing_keys(size_t i, int slot, std::vector<float>* out) const {
  const bankfmt::Info& in = parsed.info;
  const DocEntry& e = docs[i];
  out->resize(size_t(e.num_chunks) * in.kv_heads * in.head_dim);
  bankfmt::decode_vectors(bankfmt::VecType(in.rk_type), rk[size_t(slot)], in.num_chunks, in.kv_heads,
                          in.head_dim, e.first_chunk, e.num_chunks, out->data());
}

void BankSegment::release_pages() const {
  // Content pages are left to the page cache; routing keys are now in RAM
  // (RoutingIndex), so their mapped copy should not count twice.
  const long page = ::sysconf(_SC_PAGESIZE);
  for (const auto& s : parsed.sections) {
    if (s.tag != Tag::RoutingKey && s.tag != Tag::ContentK && s.tag != Tag::ContentV) continue;
    const uintptr_t b = reinterpret_cast<uintptr_t>(map.data() + s.offset) / uintptr_t(page) * uintptr_t(page);
    const uintptr_t e = reinterpret_cast<uintptr_t>(map.data() + s.offset + s.bytes);
    if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
  }
}

uint64_t BankPartition::ram_bytes() const {
  uint64_t b = 0;
  for (int s = 0; s < index->options().num_slots; ++s) {
    b += index->scan_bytes(s);
    if (index->options().storage == KeyStorage::Int8)
      b += uint64_t(index->num_chunks()) * uint64_t(index->options().Hkv * index->options().d) * 2;
  }
  return b;
}

std::shared_ptr<const BankPartition> build_partition(std::vector<std::shared_ptr<const BankSegment>> segs,
                                                     const LiveMap& live, const RoutingIndexOptions& opt) {
  auto p = std::make_shared<BankPartition>();
  p->index = std::make_unique<RoutingIndex>(opt);
  int64_t live_chunks = 0;
  for (auto& s : segs) {
    p->stored_chunks += int64_t(s->parsed.info.num_chunks);
    for (uint64_t i = 0; i < s->parsed.info.num_docs; ++i) {
      auto it = live.find(s->docs[i].doc_id);
      if (it != live.end() && it->second.seg == s.get() && it->second.local == i) live_chunks += s->docs[i].num_chunks;
    }
  }
  p->index->reserve_chunks(live_chunks);
  std::vector<std::vector<float>> keys(size_t(opt.num_slots));
  std::vector<const float*> ptrs(size_t(opt.num_slots));
  for (auto& s : segs) {
    for (uint64_t i = 0; i < s->parsed.info.num_docs; ++i) {
      const DocEntry& e = s->docs[i];
      auto it = live.find(e.doc_id);
      if (it == live.end() || it->second.seg != s.get() || it->second.local != i) continue;
      for (int sl = 0; sl < opt.num_slots; ++sl) {
        s->routing_keys(i, sl, &keys[size_t(sl)]);
        ptrs[size_t(sl)] = keys[size_t(sl)].data();
      }
      p->index->add(e.doc_id, it->second.ns, e.num_chunks, ptrs);
    }
    s->release_pages();
  }
  p->segs = std::move(segs);
  return p;
}

namespace {

bankfmt::Info segment_info(uint64_t id, const Manifest& m) {
  bankfmt::Info in;
  in.segment_id = id;
  in.num_slots = uint32_t(m.model.num_slots);
  in.kv_heads = uint32_t(m.model.kv_heads);
  in.head_dim = uint32_t(m.model.head_dim);
  in.pooling = uint32_t(m.model.pooling);
  in.rk_type = uint8_t(m.rk_type);
  in.k_type = uint8_t(m.k_type);
  in.v_type = uint8_t(m.v_type);
  return in;
}

template <typename T>
std::vector<uint8_t> as_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

}  // namespace

std::vector<uint8_t> build_segment_file(uint64_t segment_id, const Manifest& m,
                                        const std::vector<const EncodedDocument*>& docs,
                                        const std::vector<int64_t>& ids, const std::vector<int64_t>& versions,
                                        int64_t* chunks, int64_t* tokens) {
  bankfmt::Info in = segment_info(segment_id, m);
  const size_t S = size_t(m.model.num_slots);
  const uint64_t W = uint64_t(m.model.kv_heads * m.model.head_dim);
  std::vector<DocEntry> entries;
  std::vector<uint32_t> ctok;
  uint64_t C = 0, T = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    const EncodedDocument& d = *docs[i];
    MSA_CHECK(d.pooled_k.size() == S && d.routing_key.size() == S, "encoded document has {} slots, bank has {}",
              d.pooled_k.size(), S);
    entries.push_back({ids[i], versions[i], C, uint32_t(d.num_chunks), uint32_t(d.num_tokens)});
    for (int32_t c : d.chunk_token_count) ctok.push_back(uint32_t(c));
    C += uint64_t(d.num_chunks);
    T += uint64_t(d.num_tokens);
  }
  in.num_docs = docs.size();
  in.num_chunks = C;
  in.num_tokens = T;
  bankfmt::FileBuilder fb(bankfmt::FileKind::Segment, in);
  fb.add(Tag::Docs, 0, as_bytes(entries));
  fb.add(Tag::ChunkTokens, 0, as_bytes(ctok));
  std::vector<float> buf;
  for (size_t s = 0; s < S; ++s) {
    auto gather = [&](auto member) {
      buf.clear();
      buf.reserve(C * W);
      for (auto* d : docs) {
        const auto& v = (d->*member)[s];
        MSA_CHECK(v.size() == size_t(d->num_chunks) * W, "encoded document has a wrongly shaped tensor");
        buf.insert(buf.end(), v.begin(), v.end());
      }
      return buf.data();
    };
    fb.add(Tag::RoutingKey, uint32_t(s),
           bankfmt::encode_vectors(m.rk_type, gather(&EncodedDocument::routing_key), C, in.kv_heads, in.head_dim));
    fb.add(Tag::ContentK, uint32_t(s),
           bankfmt::encode_vectors(m.k_type, gather(&EncodedDocument::pooled_k), C, in.kv_heads, in.head_dim));
    fb.add(Tag::ContentV, uint32_t(s),
           bankfmt::encode_vectors(m.v_type, gather(&EncodedDocument::pooled_v), C, in.kv_heads, in.head_dim));
  }
  *chunks = int64_t(C);
  *tokens = int64_t(T);
  return fb.build();
}

std::vector<uint8_t> build_compacted_segment(uint64_t segment_id, const Manifest& m,
                                             const std::vector<const BankSegment*>& segs,
                                             const std::vector<uint32_t>& locals, int64_t* chunks,
                                             int64_t* tokens) {
  // Sections are copied byte for byte (no re-quantisation): a compacted bank is
  // bit-identical to the original for every surviving document.
  bankfmt::Info in = segment_info(segment_id, m);
  const size_t S = size_t(m.model.num_slots);
  const uint64_t H = in.kv_heads, d = in.head_dim;
  std::vector<DocEntry> entries;
  std::vector<uint32_t> ctok;
  uint64_t C = 0, T = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    DocEntry e = segs[i]->docs[locals[i]];
    for (uint32_t c = 0; c < e.num_chunks; ++c) ctok.push_back(segs[i]->chunk_tokens[e.first_chunk + c]);
    e.first_chunk = C;
    entries.push_back(e);
    C += e.num_chunks;
    T += e.num_tokens;
  }
  in.num_docs = entries.size();
  in.num_chunks = C;
  in.num_tokens = T;
  bankfmt::FileBuilder fb(bankfmt::FileKind::Segment, in);
  fb.add(Tag::Docs, 0, as_bytes(entries));
  fb.add(Tag::ChunkTokens, 0, as_bytes(ctok));
  auto copy = [&](bankfmt::VecType t, std::vector<const uint8_t*> BankSegment::*member, size_t s) {
    std::vector<uint8_t> out(bankfmt::vec_section_bytes(t, C, H, d));
    const bool int8 = t == bankfmt::VecType::Int8;
    const uint64_t row = int8 ? H * d : H * d * (t == bankfmt::VecType::BF16 ? 2 : 4);
    uint64_t dst = 0;
    for (size_t i = 0; i < segs.size(); ++i) {
      const BankSegment& sg = *segs[i];
      const DocEntry& e = sg.docs[locals[i]];
      const uint8_t* src = (sg.*member)[s];
      const uint64_t total = sg.parsed.info.num_chunks;
      if (int8) {
        std::memcpy(out.data() + dst * H * 4, src + e.first_chunk * H * 4, e.num_chunks * H * 4);
        std::memcpy(out.data() + C * H * 4 + dst * row, src + total * H * 4 + e.first_chunk * row,
                    e.num_chunks * row);
      } else {
        std::memcpy(out.data() + dst * row, src + e.first_chunk * row, e.num_chunks * row);
      }
      dst += e.num_chunks;
    }
    return out;
  };
  for (size_t s = 0; s < S; ++s) {
    fb.add(Tag::RoutingKey, uint32_t(s), copy(m.rk_type, &BankSegment::rk, s));
    fb.add(Tag::ContentK, uint32_t(s), copy(m.k_type, &BankSegment::k, s));
    fb.add(Tag::ContentV, uint32_t(s), copy(m.v_type, &BankSegment::v, s));
  }
  *chunks = int64_t(C);
  *tokens = int64_t(T);
  return fb.build();
}

std::vector<uint8_t> build_template_file(const TemplateKV& t, const Manifest& m, int64_t layers) {
  bankfmt::Info in = segment_info(0, m);
  in.num_slots = uint32_t(layers);
  in.num_chunks = uint64_t(t.num_tokens);
  in.rk_type = in.k_type = in.v_type = uint8_t(bankfmt::VecType::F32);
  bankfmt::FileBuilder fb(bankfmt::FileKind::Template, in);
  for (int64_t l = 0; l < layers; ++l) {
    fb.add(Tag::TemplateK, uint32_t(l), as_bytes(t.k[size_t(l)]));
    fb.add(Tag::TemplateV, uint32_t(l), as_bytes(t.v[size_t(l)]));
  }
  return fb.build();
}

std::shared_ptr<const TemplateKV> load_template(const std::string& path, bool verify) {
  MappedFile f(path);
  const std::span<const uint8_t> bytes(f.data(), f.size());
  auto p = bankfmt::parse_file(bytes, path);
  MSA_CHECK(p.kind == bankfmt::FileKind::Template, "{}: not a template file", path);
  if (verify) bankfmt::verify_sections(p, bytes, path);
  auto t = std::make_shared<TemplateKV>();
  t->num_tokens = int64_t(p.info.num_chunks);
  const size_t n = size_t(p.info.num_chunks * p.info.kv_heads * p.info.head_dim);
  for (uint32_t l = 0; l < p.info.num_slots; ++l) {
    for (auto [tag, dst] : {std::pair{Tag::TemplateK, &t->k}, std::pair{Tag::TemplateV, &t->v}}) {
      std::vector<float> x(n);
      if (n) std::memcpy(x.data(), f.data() + p.find(tag, l)->offset, n * 4);
      dst->push_back(std::move(x));
    }
  }
  return t;
}

}  // namespace msa::memory
