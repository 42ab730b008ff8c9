// JSONL reading/writing of task sets and memory-size notation.
#include "data/task_io.h"

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "core/error.h"

namespace msa::data {

void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    MSA_CHECK(out.good(), "cannot write {}", tmp.string());
    out.write(content.data(), std::streamsize(content.size()));
    out.flush();
    MSA_CHECK(out.good(), "write to {} failed (disk full?)", tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw_error("cannot rename {} to {}", tmp.string(), path.string());
  }
}

void write_task_set(const TaskSet& set, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  MSA_CHECK(!ec && std::filesystem::is_directory(dir), "cannot create directory {}: {}", dir.string(), ec.message());
  std::string docs, questions;
  for (const auto& d : set.docs) {
    docs += nlohmann::json{{"id", d.id}, {"text", d.text}}.dump();
    docs += '\n';
  }
  for (const auto& q : set.questions) {
    questions += nlohmann::json{{"question", q.question}, {"answer", q.answer}, {"gold_doc_ids", q.gold_doc_ids}}.dump();
    questions += '\n';
  }
  write_file_atomically(dir / "docs.jsonl", docs);
  write_file_atomically(dir / "questions.jsonl", questions);
}

namespace {

template <typename Fn>
void for_each_json_line(const std::filesystem::path& path, Fn fn) {
  std::ifstream in(path, std::ios::binary);
  MSA_CHECK(in.good(), "cannot open {}", path.string());
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
      fn(j);
    } catch (const nlohmann::json::exception& e) {
      throw_error("{}: line {}: {}", path.string(), n, e.what());
    } catch (const Error& e) {
      throw_error("{}: line {}: {}", path.string(), n, e.what());
    }
  }
}

}  // namespace

TaskSet read_task_set(const std::filesystem::path& dir) {
  TaskSet set;
  for_each_json_line(dir / "docs.jsonl", [&](const nlohmann::json& j) {
    MSA_CHECK(j.is_object() && j.contains("text") && j["text"].is_string(), "expected {{\"id\":..,\"text\":\"..\"}}");
    int64_t id = j.contains("id") ? j["id"].get<int64_t>() : int64_t(set.docs.size());
    set.docs.push_back(Document{id, j["text"].get<std::string>()});
  });
  for_each_json_line(dir / "questions.jsonl", [&](const nlohmann::json& j) {
    MSA_CHECK(j.is_object() && j.contains("question") && j["question"].is_string(), "expected a \"question\" string");
    Question q;
    q.question = j["question"].get<std::string>();
    if (j.contains("answer")) q.answer = j["answer"].get<std::string>();
    if (j.contains("gold_doc_ids")) q.gold_doc_ids = j["gold_doc_ids"].get<std::vector<int64_t>>();
    set.questions.push_back(std::move(q));
  });
  return set;
}

int64_t parse_token_count(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  MSA_CHECK(!s.empty(), "empty size (expected e.g. 16384, 64k or 1m)");
  int64_t mult = 1;
  switch (std::tolower(static_cast<unsigned char>(s.back()))) {
    case 'k': mult = int64_t(1) << 10; break;
    case 'm': mult = int64_t(1) << 20; break;
    case 'g': mult = int64_t(1) << 30; break;
    default: break;
  }
  if (mult != 1) s.remove_suffix(1);
  MSA_CHECK(!s.empty() && s.size() <= 12, "bad size \"{}\" (expected e.g. 16384, 64k or 1m)", text);
  int64_t v = 0;
  for (char c : s) {
    MSA_CHECK(c >= '0' && c <= '9', "bad size \"{}\" (expected e.g. 16384, 64k or 1m)", text);
    v = v * 10 + (c - '0');
  }
  MSA_CHECK(v > 0, "size \"{}\" must be > 0", text);
  MSA_CHECK(v <= (int64_t(1) << 40) / mult, "size \"{}\" is too large", text);
  return v * mult;
}

std::string format_token_count(int64_t tokens) {
  if (tokens > 0 && tokens % (int64_t(1) << 30) == 0) return std::to_string(tokens >> 30) + "g";
  if (tokens > 0 && tokens % (int64_t(1) << 20) == 0) return std::to_string(tokens >> 20) + "m";
  if (tokens > 0 && tokens % (int64_t(1) << 10) == 0) return std::to_string(tokens >> 10) + "k";
  return std::to_string(tokens);
}

}  // namespace msa::data
