// Task sets on disk (docs/tasks.md): DIR/docs.jsonl with one {"id","text"} per
// line and DIR/questions.jsonl with one {"question","answer","gold_doc_ids"}
// per line; and the "64k" / "1m" memory-size notation of the CLI.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "data/tasks.h"

namespace msa::data {

// Writes both files atomically (each to a temporary name, then renamed). Creates dir.
void write_task_set(const TaskSet& set, const std::filesystem::path& dir);
// Reads them back; throws msa::Error naming the file and line that is wrong.
// evidence_doc_ids is not stored and comes back empty.
TaskSet read_task_set(const std::filesystem::path& dir);

// Writes `content` to `path` atomically (path.tmp.<pid>, then rename).
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

// "16384", "16k" (x1024), "1m" (x1024^2), "2g"; case-insensitive. Throws msa::Error.
int64_t parse_token_count(std::string_view text);
// The shortest of the forms above: 65536 -> "64k", 1048576 -> "1m", 1000 -> "1000".
std::string format_token_count(int64_t tokens);

}  // namespace msa::data
