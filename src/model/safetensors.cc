#include "model/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/checked_math.h"
#include "core/error.h"

namespace msa::model {

using nlohmann::json;
namespace fs = std::filesystem;

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  s += "]";
  return s;
}

std::string TensorInfo::shape_str() const { return format_shape(shape); }

namespace {
constexpr uint64_t kMaxHeader = 100ull << 20;  // 100 MB, as the HF reader
}

std::map<std::string, TensorInfo> parse_safetensors(const uint8_t* data, size_t size,
                                                    const std::string& origin,
                                                    std::map<std::string, std::string>* metadata) {
  MSA_CHECK(size >= 8, "{}: file too small to be safetensors ({} bytes)", origin, size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  MSA_CHECK(n <= kMaxHeader, "{}: header length {} is implausible (corrupt or not safetensors)",
            origin, n);
  MSA_CHECK(n <= size - 8, "{}: truncated: header needs {} bytes but the file has {}", origin,
            n + 8, size);
  const uint8_t* body = data + 8 + n;
  const size_t body_size = size - 8 - size_t(n);
  json h;
  try {
    h = json::parse(data + 8, data + 8 + n);
  } catch (const json::exception& e) {
    throw_error("{}: header is not valid JSON: {}", origin, e.what());
  }
  MSA_CHECK(h.is_object(), "{}: header must be a JSON object", origin);
  std::map<std::string, TensorInfo> out;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      MSA_CHECK(v.is_object(), "{}: __metadata__ must be an object", origin);
      for (auto m = v.begin(); m != v.end(); ++m) {
        MSA_CHECK(m.value().is_string(), "{}: __metadata__ value '{}' must be a string", origin,
                  m.key());
        if (metadata) (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    MSA_CHECK(v.is_object(), "{}: tensor '{}': entry must be an object", origin, name);
    TensorInfo t;
    t.name = name;
    t.file = origin;
    auto dt = v.find("dtype");
    MSA_CHECK(dt != v.end() && dt->is_string(), "{}: tensor '{}': missing dtype", origin, name);
    auto parsed = dtype_from_name(dt->get<std::string>());
    MSA_CHECK(parsed.has_value(), "{}: tensor '{}': unsupported dtype '{}'", origin, name,
              dt->get<std::string>());
    t.dtype = *parsed;
    auto sh = v.find("shape");
    MSA_CHECK(sh != v.end() && sh->is_array(), "{}: tensor '{}': missing shape", origin, name);
    MSA_CHECK(sh->size() <= 8, "{}: tensor '{}': too many dimensions", origin, name);
    uint64_t numel = 1;
    for (const json& d : *sh) {
      MSA_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
                "{}: tensor '{}': shape entries must be non-negative integers", origin, name);
      const uint64_t dim = d.get<uint64_t>();
      MSA_CHECK(dim < (1ull << 40) && (dim == 0 || numel <= (1ull << 62) / dim),
                "{}: tensor '{}': shape overflows", origin, name);
      numel *= dim;
      t.shape.push_back(int64_t(dim));
    }
    auto off = v.find("data_offsets");
    MSA_CHECK(off != v.end() && off->is_array() && off->size() == 2 &&
                  (*off)[0].is_number_unsigned() && (*off)[1].is_number_unsigned(),
              "{}: tensor '{}': data_offsets must be [begin, end]", origin, name);
    const uint64_t b = (*off)[0].get<uint64_t>(), e = (*off)[1].get<uint64_t>();
    MSA_CHECK(b <= e, "{}: tensor '{}': data_offsets begin > end", origin, name);
    MSA_CHECK(e <= body_size,
              "{}: tensor '{}': data ends at byte {} but the file's data section has {} bytes "
              "(truncated file?)",
              origin, name, e, body_size);
    const auto expected = mul_checked<uint64_t>(numel, dtype_size(t.dtype));
    MSA_CHECK(expected.has_value(), "{}: tensor '{}': shape {} of {} is larger than 2^64 bytes", origin, name,
              t.shape_str(), dtype_name(t.dtype));
    MSA_CHECK(e - b == *expected, "{}: tensor '{}': {} bytes of data for shape {} of {} (expected {})", origin,
              name, e - b, t.shape_str(), dtype_name(t.dtype), *expected);
    t.data = body + b;
    t.nbytes = size_t(e - b);
    ranges.emplace_back(size_t(b), size_t(e));
    out.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    MSA_CHECK(ranges[i].first >= ranges[i - 1].second, "{}: tensor data ranges overlap", origin);
  return out;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  tensors_ = parse_safetensors(file_.data(), file_.size(), path, &metadata_);
}

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  const fs::path d(dir);
  MSA_CHECK(fs::is_directory(d), "model directory '{}' does not exist", dir);
  const fs::path index = d / "model.safetensors.index.json";
  const fs::path single = d / "model.safetensors";
  std::vector<std::string> shard_names;
  std::map<std::string, std::string> weight_map;
  if (fs::exists(index)) {
    std::ifstream f(index);
    json j;
    try {
      j = json::parse(f);
    } catch (const json::exception& e) {
      throw_error("{}: invalid JSON: {}", index.string(), e.what());
    }
    MSA_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
              "{}: missing 'weight_map' object", index.string());
    std::set<std::string> shards;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      MSA_CHECK(it.value().is_string(), "{}: weight_map['{}'] must be a file name",
                index.string(), it.key());
      const std::string s = it.value().get<std::string>();
      MSA_CHECK(s.find('/') == std::string::npos && s.find("..") == std::string::npos,
                "{}: shard name '{}' must be a plain file name", index.string(), s);
      weight_map[it.key()] = s;
      shards.insert(s);
    }
    shard_names.assign(shards.begin(), shards.end());
  } else if (fs::exists(single)) {
    shard_names.push_back("model.safetensors");
  } else {
    throw_error("model directory '{}' has neither model.safetensors nor model.safetensors.index.json",
                dir);
  }
  for (const std::string& s : shard_names) {
    const fs::path p = d / s;
    MSA_CHECK(fs::exists(p), "checkpoint shard '{}' is missing", p.string());
    files_.push_back(std::make_unique<SafetensorsFile>(p.string()));
    for (auto& [name, info] : files_.back()->tensors()) {
      MSA_CHECK(!index_.count(name), "tensor '{}' appears in both '{}' and '{}'", name,
                index_[name]->file, info.file);
      if (!weight_map.empty()) {
        auto w = weight_map.find(name);
        MSA_CHECK(w != weight_map.end() && w->second == s,
                  "tensor '{}' found in '{}' but the index maps it to '{}'", name, s,
                  w == weight_map.end() ? std::string("nothing") : w->second);
      }
      index_[name] = &info;
    }
  }
  for (auto& [name, shard] : weight_map)
    MSA_CHECK(index_.count(name), "index lists tensor '{}' in '{}' but the shard lacks it", name,
              shard);
}

const TensorInfo* Checkpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorInfo& Checkpoint::get(const std::string& name) const {
  const TensorInfo* t = find(name);
  MSA_CHECK(t != nullptr, "checkpoint '{}' is missing tensor '{}'", dir_, name);
  return *t;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> v;
  for (auto& [n, _] : index_) v.push_back(n);
  return v;
}

size_t Checkpoint::total_bytes() const {
  size_t b = 0;
  for (auto& [_, t] : index_) b += t->nbytes;
  return b;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> sorted;
  for (auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](auto* a, auto* b) { return a->name < b->name; });
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t off = 0;
  for (auto* t : sorted) {
    uint64_t n = 1;
    for (int64_t d : t->shape) n *= uint64_t(d);
    const uint64_t bytes = n * dtype_size(t->dtype);
    h[t->name] = {{"dtype", std::string(dtype_name(t->dtype))},
                  {"shape", t->shape},
                  {"data_offsets", {off, off + bytes}}};
    off += bytes;
  }
  std::string header = h.dump();
  while ((header.size() + 8) % 8) header.push_back(' ');
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  MSA_CHECK(fd >= 0, "cannot create '{}': {}", tmp, std::strerror(errno));
  auto write_all = [&](const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n) {
      ssize_t w = ::write(fd, c, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        throw_error("write to '{}' failed: {}", tmp, std::strerror(e));
      }
      c += w;
      n -= size_t(w);
    }
  };
  uint8_t len[8];
  uint64_t hl = header.size();
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(hl >> (8 * i));
  write_all(len, 8);
  write_all(header.data(), header.size());
  for (auto* t : sorted) {
    uint64_t n = 1;
    for (int64_t d : t->shape) n *= uint64_t(d);
    if (n) write_all(t->data, n * dtype_size(t->dtype));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw_error("cannot flush '{}': {}", tmp, std::strerror(errno));
  }
  MSA_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '{}' to '{}': {}", tmp,
            path, std::strerror(errno));
}

}  // namespace msa::model
