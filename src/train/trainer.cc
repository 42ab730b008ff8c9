#include "train/trainer.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unistd.h>

#include "core/error.h"
#include "core/timer.h"
#include "model/prompt_format.h"
#include "model/tokenizer.h"
#include "train/params.h"
#include "train/step.h"

namespace msa::train {

namespace fs = std::filesystem;
using nlohmann::json;

model::ModelConfig TrainConfig::model_config(int64_t vocab_size, int64_t eos_id) const {
  model::ModelConfig c;
  c.model_type = "msa";
  c.vocab_size = vocab_size;
  c.hidden_size = hidden_size;
  c.intermediate_size = intermediate_size;
  c.num_hidden_layers = num_layers;
  c.num_attention_heads = num_attention_heads;
  c.num_key_value_heads = num_key_value_heads;
  c.head_dim = head_dim;
  c.rope_theta = rope_theta;
  c.rms_norm_eps = 1e-6f;
  c.max_position_embeddings = max_position_embeddings;
  c.tie_word_embeddings = true;
  if (eos_id >= 0) c.eos_token_ids = {eos_id};
  c.torch_dtype = "float32";
  auto& m = c.msa;
  m.present = true;
  m.router_layer_idx = routing_layers;
  m.routing_layers = model::parse_router_layer_idx(routing_layers, num_layers);
  m.top_k_docs = doc_top_k;
  m.doc_top_k = doc_top_k;
  m.has_doc_top_k = true;
  m.pooling_kernel_size = pooling_kernel_size;
  m.decouple_router = true;
  m.head_reduce_method = "mean";
  m.query_reduce_method = "max";
  m.chunk_reduce_method = "max";
  m.head_reduce = kernels::HeadReduce::Mean;
  m.query_reduce = kernels::QueryReduce::Max;
  m.chunk_reduce = kernels::ChunkReduce::Max;
  // The loss is INFONCE_DECOUPLE; the checkpoint names the method that makes the
  // engine score exactly as training did (spec §4.4: "INFONCE" + decoupled
  // router = cosine with L2-normalised stored keys; "INFONCE_DECOUPLE" would
  // make inference use the scaled raw dot product instead).
  m.aux_loss_method = checkpoint_aux_loss_method;
  m.infonce_loss_temp = tau;
  m.aux_loss = true;
  m.lmloss_weigth = lm_weight;
  m.auxloss_weight = aux_weight;
  m.recloss_weight = rec_weight;
  m.ansloss_weight = 0.0f;
  m.rewrite_position = true;
  return c;
}

TrainConfig parse_train_config(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw_error("{}: invalid JSON: {}", origin, e.what());
  }
  MSA_CHECK(j.is_object(), "{}: top level must be an object", origin);
  TrainConfig c;
  std::set<std::string> seen;
  auto get = [&](const char* key, auto& field) {
    seen.insert(key);
    auto it = j.find(key);
    if (it == j.end()) return;
    try {
      using T = std::decay_t<decltype(field)>;
      field = it->get<T>();
    } catch (const json::exception& e) {
      throw_error("{}: key '{}': {}", origin, key, e.what());
    }
  };
  get("hidden_size", c.hidden_size); get("num_layers", c.num_layers);
  get("num_attention_heads", c.num_attention_heads); get("num_key_value_heads", c.num_key_value_heads);
  get("head_dim", c.head_dim); get("intermediate_size", c.intermediate_size);
  get("max_position_embeddings", c.max_position_embeddings); get("rope_theta", c.rope_theta);
  get("routing_layers", c.routing_layers); get("pooling_kernel_size", c.pooling_kernel_size);
  get("doc_top_k", c.doc_top_k); get("init_std", c.init_std); get("tokenizer", c.tokenizer);
  get("docs_per_memory_start", c.docs_start); get("docs_per_memory_end", c.docs_end);
  get("curriculum_steps", c.curriculum_steps); get("max_id_digits", c.max_id_digits);
  get("memories_per_step", c.memories_per_step); get("questions_per_memory", c.questions_per_memory);
  get("rows_all_rounds", c.rows_all_rounds);
  get("steps", c.steps); get("warmup_steps", c.warmup_steps); get("lr", c.lr); get("min_lr_ratio", c.min_lr_ratio);
  get("weight_decay", c.weight_decay); get("beta1", c.beta1); get("beta2", c.beta2); get("grad_clip", c.grad_clip);
  get("tau", c.tau); get("rec_weight", c.rec_weight); get("aux_phase_steps", c.aux_phase_steps);
  get("phase1_lm_weight", c.phase1_lm_weight); get("phase1_aux_weight", c.phase1_aux_weight);
  get("lm_weight", c.lm_weight); get("aux_weight", c.aux_weight);
  get("seed", c.seed); get("threads", c.threads); get("checkpoint_every", c.checkpoint_every);
  get("log_every", c.log_every); get("sparse_needle_steps", c.sparse_needle_steps); get("checkpoint_aux_loss_method", c.checkpoint_aux_loss_method); get("out_dir", c.out_dir);
  get("smooth_max", c.smooth_max); get("init_from", c.init_from);
  seen.insert("tasks");
  seen.insert("comment");
  if (auto it = j.find("tasks"); it != j.end()) {
    MSA_CHECK(it->is_object(), "{}: 'tasks' must be an object {{\"task\": weight}}", origin);
    for (auto& [name, wv] : it->items()) {
      MSA_CHECK(wv.is_number() && wv.get<double>() >= 0, "{}: tasks.{} must be a weight >= 0", origin, name);
      if (wv.get<double>() > 0) c.tasks.push_back({data::parse_task(name), wv.get<double>()});
    }
  }
  for (auto& [k, _] : j.items()) MSA_CHECK(seen.count(k), "{}: unknown key '{}'", origin, k);
  if (c.tasks.empty())
    c.tasks = {{data::Task::kNiah, 0.4}, {data::Task::kNiahMultiKey, 0.3}, {data::Task::kHop2, 0.2},
               {data::Task::kHop3, 0.1}};
  MSA_CHECK(c.steps > 0 && c.memories_per_step > 0 && c.docs_start > 0 && c.docs_end > 0 && c.doc_top_k > 0 &&
                c.pooling_kernel_size > 0 && c.threads > 0 && c.max_id_digits >= 1,
            "{}: steps, memories_per_step, docs_per_memory_*, doc_top_k, pooling_kernel_size, threads and "
            "max_id_digits must be positive",
            origin);
  MSA_CHECK(c.num_attention_heads % c.num_key_value_heads == 0, "{}: heads must be a multiple of kv heads", origin);
  return c;
}

TrainConfig load_train_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  MSA_CHECK(f.good(), "cannot read '{}'", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_train_config(ss.str(), path);
}

float learning_rate(const TrainConfig& c, int step) {
  if (step < c.warmup_steps) return c.lr * float(step + 1) / float(c.warmup_steps);
  const double p = std::min(1.0, double(step - c.warmup_steps) / double(std::max(1, c.steps - c.warmup_steps)));
  const double floor = c.min_lr_ratio;
  return float(c.lr * (floor + (1 - floor) * 0.5 * (1 + std::cos(M_PI * p))));
}

int docs_per_memory(const TrainConfig& c, int step) {
  if (c.curriculum_steps <= 0) return c.docs_end;
  const double p = std::min(1.0, double(step) / double(c.curriculum_steps));
  return int(std::lround(c.docs_start + (c.docs_end - c.docs_start) * p));
}

namespace {

void write_text_atomic(const fs::path& p, const std::string& s) {
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    f << s;
    MSA_CHECK(f.good(), "cannot write '{}'", tmp.string());
  }
  fs::rename(tmp, p);
}

}  // namespace

TrainResult run_training(const TrainConfig& cfg, const TrainRunOptions& opts) {
  const model::Tokenizer tok = model::Tokenizer::load(cfg.tokenizer);
  const int64_t eos = tok.token_to_id(model::kImEnd);
  const model::ModelConfig mc = cfg.model_config(int64_t(tok.vocab_size()), eos);
  ParamLayout L(mc);
  const fs::path out = cfg.out_dir, state_dir = out / "train_state";
  fs::create_directories(state_dir);
  std::vector<float> w, m(L.total(), 0.f), v(L.total(), 0.f), grad;
  int start = 0;
  if (opts.resume && fs::exists(state_dir / "state.json")) {
    std::ifstream f(state_dir / "state.json");
    json st = json::parse(f);
    start = st.at("next_step").get<int>();
    load_params(L, (out / "model.safetensors").string(), &w);
    load_flat((state_dir / "optimizer.safetensors").string(), {{"adam_m", &m}, {"adam_v", &v}});
    MSA_CHECK(m.size() == L.total() && v.size() == L.total(), "optimizer state does not match the model");
    if (!opts.quiet) std::fprintf(stderr, "resuming %s at step %d\n", out.c_str(), start);
  } else if (!cfg.init_from.empty()) {
    load_params(L, (fs::path(cfg.init_from) / "model.safetensors").string(), &w);
    if (!opts.quiet) std::fprintf(stderr, "starting from the weights of %s\n", cfg.init_from.c_str());
  } else {
    init_params(L, cfg.seed * 7919 + 1, cfg.init_std, &w);
  }
  {
    std::ifstream src(cfg.tokenizer, std::ios::binary);
    std::stringstream ss;
    ss << src.rdbuf();
    write_text_atomic(out / "tokenizer.json", ss.str());
    json tc = json::parse(std::ifstream(fs::path(cfg.tokenizer)).good() ? "{}" : "{}");
    (void)tc;
  }
  const fs::path csv_path = out / "train_log.csv";
  const bool new_csv = !(opts.resume && fs::exists(csv_path));
  std::ofstream csv(csv_path, new_csv ? std::ios::trunc : std::ios::app);
  const int nslots = int(mc.msa.routing_layers.size());
  if (new_csv) {
    csv << "step,loss,lm,lm_id,lm_answer,rec,aux,w_lm,w_aux";
    for (int l : mc.msa.routing_layers) csv << ",recall1_L" << l << ",recallk_L" << l;
    csv << ",lr,grad_norm,docs_per_memory,tokens,tokens_per_s,seconds\n";
  }
  StepRunner runner(L, cfg.threads);
  auto save = [&](int next_step) {
    save_model_dir(L, w, out.string());
    save_flat((state_dir / "optimizer.safetensors").string(), {{"adam_m", &m}, {"adam_v", &v}});
    json st;
    st["next_step"] = next_step;
    st["seed"] = cfg.seed;
    write_text_atomic(state_dir / "state.json", st.dump(2));
    csv.flush();
  };
  TrainResult res;
  res.model_dir = out.string();
  Timer total_timer;
  const int stop = opts.max_steps >= 0 ? std::min(cfg.steps, start + opts.max_steps) : cfg.steps;
  const bool tty = isatty(2);
  int step = start;
  for (; step < stop; ++step) {
    Timer t;
    // Data of a step depends only on (seed, step): resuming reproduces it.
    std::mt19937_64 rng(cfg.seed * 0x9E3779B97F4A7C15ull + uint64_t(step) * 0xBF58476D1CE4E5B9ull + 12345);
    BatchOptions bo;
    bo.tasks = cfg.tasks;
    bo.docs_per_memory = docs_per_memory(cfg, step);
    bo.questions_per_memory = cfg.questions_per_memory;
    bo.max_id_digits = cfg.max_id_digits;
    bo.memories = cfg.memories_per_step;
    // Curriculum on needle density: sparse memories first (needle detection), then mixed.
    bo.density = step < cfg.sparse_needle_steps ? data::NeedleDensity::kSparse : data::NeedleDensity::kMixed;
    bo.rows.top_k = cfg.doc_top_k;
    bo.rows.rows_all_rounds = cfg.rows_all_rounds;
    const Batch batch = make_batch(tok, bo, rng);
    StepOptions so;
    so.top_k = cfg.doc_top_k;
    so.tau = cfg.tau;
    so.smooth_max = cfg.smooth_max;
    so.threads = cfg.threads;
    const bool phase1 = step < cfg.aux_phase_steps;
    so.w_lm = phase1 ? cfg.phase1_lm_weight : cfg.lm_weight;
    so.w_aux = phase1 ? cfg.phase1_aux_weight : cfg.aux_weight;
    so.w_rec = cfg.rec_weight;
    const StepStats st = runner.run(w, batch, so, &grad);
    // Global-norm clip; a non-finite gradient zeroes the step.
    double gn2 = 0;
    for (size_t i = 0; i < grad.size(); ++i) gn2 += double(grad[i]) * grad[i];
    const double gn = std::sqrt(gn2);
    const float lr = learning_rate(cfg, step);
    if (std::isfinite(gn) && std::isfinite(st.loss)) {
      const float clip = gn > cfg.grad_clip ? float(cfg.grad_clip / gn) : 1.0f;
      const float b1 = cfg.beta1, b2 = cfg.beta2;
      const float bc1 = 1.0f - std::pow(b1, float(step + 1)), bc2 = 1.0f - std::pow(b2, float(step + 1));
      for (auto& e : L.entries()) {
        const float wd = e.matrix ? cfg.weight_decay : 0.0f;
        for (size_t i = e.offset; i < e.offset + e.size; ++i) {
          const float g = grad[i] * clip;
          m[i] = b1 * m[i] + (1 - b1) * g;
          v[i] = b2 * v[i] + (1 - b2) * g * g;
          const float upd = (m[i] / bc1) / (std::sqrt(v[i] / bc2) + 1e-8f);
          w[i] -= lr * (upd + wd * w[i]);
        }
      }
    } else if (!opts.quiet) {
      std::fprintf(stderr, "\nstep %d: non-finite gradient or loss, update skipped\n", step);
    }
    const double secs = t.ms() / 1000.0;
    const int64_t tokens = st.doc_tokens + st.row_tokens;
    res.losses.push_back(st.loss);
    res.aux.push_back(st.aux());
    {
      double r1 = 0;
      for (int s = 0; s < nslots; ++s) r1 += st.recall1[size_t(s)] / double(std::max<int64_t>(1, st.recall_n[size_t(s)]));
      res.recall1.push_back(nslots ? r1 / nslots : 0.0);
    }
    res.steps_done++;
    csv << step << "," << st.loss << "," << st.lm() << "," << st.lm_id() << "," << st.lm_ans() << "," << st.rec()
        << "," << st.aux() << "," << so.w_lm << "," << so.w_aux;
    std::string recall_txt;
    for (int s = 0; s < nslots; ++s) {
      const double n = std::max<int64_t>(1, st.recall_n[size_t(s)]);
      csv << "," << st.recall1[size_t(s)] / n << "," << st.recallk[size_t(s)] / n;
      char buf[64];
      std::snprintf(buf, sizeof buf, " r@1/k L%d %.2f/%.2f", mc.msa.routing_layers[size_t(s)],
                    st.recall1[size_t(s)] / n, st.recallk[size_t(s)] / n);
      recall_txt += buf;
    }
    csv << "," << lr << "," << gn << "," << bo.docs_per_memory << "," << tokens << "," << tokens / secs << ","
        << total_timer.ms() / 1000.0 << "\n";
    if (!opts.quiet && (step % std::max(1, cfg.log_every) == 0 || step + 1 == stop)) {
      std::fprintf(stderr,
                   "%sstep %d/%d loss %.3f lm %.3f (id %.3f ans %.3f) rec %.3f aux %.3f%s | N %d lr %.2e gn %.2f "
                   "%.0f tok/s %.0fs%s",
                   tty ? "\r" : "", step, cfg.steps, st.loss, st.lm(), st.lm_id(), st.lm_ans(), st.rec(), st.aux(),
                   recall_txt.c_str(), bo.docs_per_memory, lr, gn, tokens / secs, total_timer.ms() / 1000.0,
                   tty ? "   " : "\n");
    }
    if (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0) save(step + 1);
    if (opts.max_minutes > 0 && total_timer.ms() / 60000.0 >= opts.max_minutes) {
      ++step;
      if (!opts.quiet) std::fprintf(stderr, "\nstopping after %.1f minutes (--max-minutes)\n", opts.max_minutes);
      break;
    }
  }
  save(step);
  if (!opts.quiet) std::fprintf(stderr, "\nsaved %s (next step %d)\n", out.c_str(), step);
  return res;
}

}  // namespace msa::train
