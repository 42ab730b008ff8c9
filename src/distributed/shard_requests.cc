#include "distributed/shard_requests.h"

#include "distributed/mpi_comm.h"
#include "engine/bank_service.h"

namespace msa::distributed {

namespace {

void put_strings(Writer& w, const std::vector<std::string>& v) {
  w.put<uint64_t>(v.size());
  for (const auto& s : v) w.str(s);
}
std::vector<std::string> get_strings(Reader& r) {
  const uint64_t n = r.get<uint64_t>();
  std::vector<std::string> v;
  for (uint64_t i = 0; i < n; ++i) v.push_back(r.str());
  return v;
}
void put_record(Writer& w, const engine::DocumentRecord& d) {
  w.put<int64_t>(d.id).str(d.external_id).str(d.ns).str(d.text).str(d.metadata_json);
  w.put<int64_t>(d.version).put<int64_t>(d.tokens);
}
engine::DocumentRecord get_record(Reader& r) {
  engine::DocumentRecord d;
  d.id = r.get<int64_t>();
  d.external_id = r.str();
  d.ns = r.str();
  d.text = r.str();
  d.metadata_json = r.str();
  d.version = r.get<int64_t>();
  d.tokens = r.get<int64_t>();
  return d;
}

ShardReply run(const std::shared_ptr<memory::Bank>& bank, const ShardRequest& q) {
  engine::BankService svc(bank);
  ShardReply out;
  switch (q.op) {
    case ShardOp::Stats:
      out.stats = svc.stats();
      out.next_id = bank->next_document_id();
      break;
    case ShardOp::FindExternal:
      for (const auto& e : q.external_ids)
        if (auto d = bank->catalog().find_external(e)) out.records.push_back(engine::to_record(*d));
      break;
    case ShardOp::Get:
      if (auto d = svc.get(q.id, q.namespaces)) out.records.push_back(std::move(*d));
      break;
    case ShardOp::List:
      out.records = svc.list(q.namespaces, 0, q.limit, &out.total);
      break;
    case ShardOp::Add: {
      MSA_CHECK(q.docs.size() == q.ids.size(), "malformed add request");
      std::vector<memory::NewDocument> in;
      for (const auto& d : q.docs) in.push_back({d.text, d.external_id, d.ns, d.metadata_json});
      for (int64_t id : bank->add_documents(in, q.ids))
        if (auto d = bank->document(id)) out.records.push_back(engine::to_record(*d));
      break;
    }
    case ShardOp::Update:
      if (auto d = svc.update(q.id, q.text, q.namespaces)) out.records.push_back(std::move(*d));
      break;
    case ShardOp::Remove:
      out.total = svc.remove(q.id, q.namespaces) ? 1 : 0;
      break;
    default:
      throw Error(fmt::format("unknown shard request {}", int(q.op)));
  }
  return out;
}

}  // namespace

std::vector<uint8_t> encode_request(const ShardRequest& r) {
  Writer w;
  w.put<uint8_t>(uint8_t(r.op)).put<int64_t>(r.id).put<int64_t>(r.limit).str(r.text);
  put_strings(w, r.namespaces);
  w.put<uint64_t>(r.docs.size());
  for (const auto& d : r.docs) w.str(d.text).str(d.external_id).str(d.ns).str(d.metadata_json);
  w.array(r.ids.data(), r.ids.size());
  put_strings(w, r.external_ids);
  return std::move(w.bytes());
}

ShardRequest decode_request(const std::vector<uint8_t>& b) {
  Reader rd(b, "shard request");
  ShardRequest r;
  r.op = ShardOp(rd.get<uint8_t>());
  r.id = rd.get<int64_t>();
  r.limit = rd.get<int64_t>();
  r.text = rd.str();
  r.namespaces = get_strings(rd);
  const uint64_t n = rd.get<uint64_t>();
  for (uint64_t i = 0; i < n; ++i) {
    engine::NewDocumentRequest d;
    d.text = rd.str();
    d.external_id = rd.str();
    d.ns = rd.str();
    d.metadata_json = rd.str();
    r.docs.push_back(std::move(d));
  }
  r.ids = rd.array<int64_t>();
  r.external_ids = get_strings(rd);
  return r;
}

std::vector<uint8_t> encode_reply(const ShardReply& r) {
  Writer w;
  w.str(r.error).put<int64_t>(r.total).put<int64_t>(r.next_id);
  w.put<int64_t>(r.stats.documents).put<int64_t>(r.stats.tokens).put<int64_t>(r.stats.chunks);
  w.put<uint64_t>(r.records.size());
  for (const auto& d : r.records) put_record(w, d);
  return std::move(w.bytes());
}

ShardReply decode_reply(const std::vector<uint8_t>& b) {
  Reader rd(b, "shard reply");
  ShardReply r;
  r.error = rd.str();
  r.total = rd.get<int64_t>();
  r.next_id = rd.get<int64_t>();
  r.stats.documents = rd.get<int64_t>();
  r.stats.tokens = rd.get<int64_t>();
  r.stats.chunks = rd.get<int64_t>();
  const uint64_t n = rd.get<uint64_t>();
  for (uint64_t i = 0; i < n; ++i) r.records.push_back(get_record(rd));
  return r;
}

std::vector<uint8_t> handle_shard_request(const std::shared_ptr<memory::Bank>& bank,
                                          const std::vector<uint8_t>& request) {
  ShardReply out;
  try {
    MSA_CHECK(bank != nullptr, "the shard is not open");
    out = run(bank, decode_request(request));
  } catch (const std::exception& e) {
    out = ShardReply();
    out.error = e.what();
    if (out.error.empty()) out.error = "unknown error";
  }
  return encode_reply(out);
}

}  // namespace msa::distributed
