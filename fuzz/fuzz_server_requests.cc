// libFuzzer target: the request parsers of `msa serve` — chat completions
// (every OpenAI field, messages, multi-turn budget), memory POST bodies and
// PUT bodies (docs/api.md). Each either fills its output or returns an error
// with a status and a message; none may crash, and a success must respect
// the documented limits. The first input byte picks the parser.
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "model/tokenizer.h"
#include "server/chat_request.h"
#include "server/server.h"

namespace {

const msa::model::Tokenizer& tokenizer() {
  static const msa::model::Tokenizer tok = msa::model::Tokenizer::load(
      (std::filesystem::path(__FILE__).parent_path().parent_path() / "models" / "msa-tiny" / "tokenizer.json").string());
  return tok;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  msa::server::KeyGrant grant;
  grant.namespaces = (data[0] & 4) ? std::vector<std::string>{"*"} : std::vector<std::string>{"A", "public"};
  try {
    switch (data[0] % 3) {
      case 0: {
        msa::server::ServerOptions opts;
        opts.max_question_tokens = 64;
        opts.max_tokens_limit = 128;
        opts.default_max_tokens = 64;  // msa serve keeps the default within the limit
        msa::server::ChatRequest r;
        if (auto e = msa::server::parse_chat_request(body, tokenizer(), opts, &r)) {
          check(e->status >= 400 && e->status < 500 && !e->message.empty());
          (void)e->to_json().dump();
        } else {
          check(!r.question.empty() && r.max_tokens >= 1 && r.max_tokens <= opts.max_tokens_limit);
          check(r.stop.size() <= 4 && r.top_p > 0 && r.top_p <= 1 && r.temperature >= 0 && r.temperature <= 2);
          check(r.turns_used >= 0 && r.turns_dropped >= 0 && (r.turns_used == 0) == r.conversation.empty());
          check(!(r.include_usage && !r.stream));
        }
        break;
      }
      case 1: {
        std::vector<msa::engine::NewDocumentRequest> docs;
        if (auto e = msa::server::parse_documents_request(body, grant, &docs)) {
          check((e->status == 400 || e->status == 403) && !e->message.empty());
        } else {
          check(!docs.empty());
          for (const auto& d : docs) check(!d.text.empty() && !d.ns.empty() && grant.may_access(d.ns));
        }
        break;
      }
      default: {
        msa::engine::DocumentChange c;
        if (auto e = msa::server::parse_document_change(body, grant, &c)) {
          check((e->status == 400 || e->status == 403) && !e->message.empty());
        } else {
          check(!c.text.empty() && (!c.ns || grant.may_access(*c.ns)));
        }
      }
    }
  } catch (const msa::Error&) {
  }
  return 0;
}
