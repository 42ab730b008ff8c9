#include "memory/bank_identity.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include <xxhash.h>

#include "core/error.h"

namespace msa::memory {

namespace fs = std::filesystem;

namespace {

std::string file_hash(const fs::path& p, bool required) {
  std::ifstream f(p, std::ios::binary);
  if (!f) {
    MSA_CHECK(!required, "cannot read '{}'", p.string());
    return "";
  }
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return hex64(XXH64(s.data(), s.size(), 0));
}

void fingerprint_safetensors(const fs::path& p, XXH64_state_t* st) {
  std::ifstream f(p, std::ios::binary);
  MSA_CHECK(f.good(), "cannot read '{}'", p.string());
  const uint64_t size = fs::file_size(p);
  XXH64_update(st, &size, 8);
  uint64_t hlen = 0;
  f.read(reinterpret_cast<char*>(&hlen), 8);
  hlen = std::min<uint64_t>(hlen, size > 8 ? size - 8 : 0);
  std::vector<char> buf(size_t(std::min<uint64_t>(hlen, 100u << 20)));
  f.read(buf.data(), std::streamsize(buf.size()));
  XXH64_update(st, buf.data(), buf.size());
  const uint64_t data0 = 8 + hlen, data_bytes = size > data0 ? size - data0 : 0;
  constexpr uint64_t kSamples = 64, kSample = 4096;
  buf.resize(kSample);
  for (uint64_t i = 0; i < kSamples && data_bytes > 0; ++i) {
    const uint64_t off = data0 + (data_bytes > kSample ? (data_bytes - kSample) * i / (kSamples - 1) : 0);
    f.seekg(std::streamoff(off));
    f.read(buf.data(), std::streamsize(std::min(kSample, data_bytes)));
    XXH64_update(st, buf.data(), size_t(f.gcount()));
    f.clear();
  }
}

}  // namespace

ModelIdentity model_identity(const model::Model& m) {
  const fs::path dir = m.dir();
  ModelIdentity id;
  id.model_dir = fs::absolute(dir).lexically_normal().string();
  id.config_xxh64 = file_hash(dir / "config.json", true);
  id.tokenizer_xxh64 = file_hash(dir / "tokenizer.json", false);
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  for (auto& f : files) fingerprint_safetensors(f, st);
  id.weights_fingerprint = hex64(XXH64_digest(st));
  XXH64_freeState(st);
  const auto& c = m.config();
  id.num_slots = int64_t(c.msa.routing_layers.size());
  id.kv_heads = c.num_key_value_heads;
  id.head_dim = c.head_dim;
  id.pooling = c.msa.pooling_kernel_size;
  return id;
}

void check_same_model(const ModelIdentity& bank, const ModelIdentity& given, const std::string& bank_dir) {
  MSA_CHECK(bank.config_xxh64 == given.config_xxh64,
            "bank '{}' was built with another model: config.json differs (bank model: {})", bank_dir,
            bank.model_dir);
  MSA_CHECK(bank.weights_fingerprint == given.weights_fingerprint,
            "bank '{}' was built with another model: the weights differ (bank model: {})", bank_dir,
            bank.model_dir);
  MSA_CHECK(bank.tokenizer_xxh64 == given.tokenizer_xxh64,
            "bank '{}' was built with another tokenizer: tokenizer.json differs (bank model: {})", bank_dir,
            bank.model_dir);
}

}  // namespace msa::memory
