#include "distributed/shard_requests.h"

#include "core/error.h"
#include "engine/bank_service.h"

namespace msa::distributed {

namespace {

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
