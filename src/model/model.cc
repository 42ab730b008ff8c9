#include "model/model.h"

#include <filesystem>

#include "core/error.h"

namespace msa::model {

std::shared_ptr<Model> Model::from_parts(ModelConfig cfg, std::shared_ptr<Checkpoint> ckpt,
                                         std::string dir) {
  auto m = std::make_shared<Model>();
  m->cfg_ = std::move(cfg);
  m->w_ = bind_weights(std::move(ckpt), m->cfg_);
  m->dir_ = std::move(dir);
  return m;
}

std::shared_ptr<Model> Model::load(const std::string& dir, const LoadOptions& opts) {
  namespace fs = std::filesystem;
  MSA_CHECK(fs::is_directory(dir), "model directory '{}' does not exist", dir);
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  MSA_CHECK(fs::exists(cfg_path), "model directory '{}' has no config.json", dir);
  ModelConfig cfg = load_model_config(cfg_path);
  if (opts.training_free_msa) {
    MSA_CHECK(!cfg.msa.present,
              "{}: --training-free applies to plain Qwen3 checkpoints; this one has msa_config",
              cfg_path);
    MsaConfig& m = cfg.msa;
    m.present = true;
    m.decouple_router = false;
    m.router_layer_idx = opts.training_free_layers;
    if (m.router_layer_idx.empty()) {
      m.router_layer_idx.clear();
      for (int64_t i = cfg.num_hidden_layers / 2; i < cfg.num_hidden_layers; ++i)
        m.router_layer_idx += (m.router_layer_idx.empty() ? "" : ",") + std::to_string(i);
    }
    m.routing_layers = parse_router_layer_idx(m.router_layer_idx, cfg.num_hidden_layers);
    m.pooling_kernel_size = opts.training_free_pooling;
    m.head_reduce_method = "mean";
    m.head_reduce = kernels::HeadReduce::Mean;
    m.aux_loss_method = "INFONCE";  // normalised q and K̄, α = 1/√d (spec §4.4 last row)
  }
  auto ckpt = std::make_shared<Checkpoint>(dir);
  return from_parts(std::move(cfg), std::move(ckpt), dir);
}

}  // namespace msa::model
