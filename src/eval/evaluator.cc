// msa eval harness (see evaluator.h, docs/eval.md).
#include "eval/evaluator.h"

#include <unordered_map>

#include "eval/question_memory.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/timer.h"
#include "data/task_io.h"
#include "engine/interleave.h"
#include "memory/encoder.h"
#include "memory/in_memory_bank.h"
#include "model/model.h"
#include "model/prompt_format.h"
#include "model/tokenizer.h"

namespace msa::eval {
namespace {

constexpr size_t kEncodeBatch = 64;

bool is_hop(data::Task t) { return t == data::Task::kHop2 || t == data::Task::kHop3; }
int hops(data::Task t) { return t == data::Task::kHop3 ? 3 : t == data::Task::kHop2 ? 2 : 1; }

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Encodes documents in batches with progress lines every few seconds.
std::vector<memory::EncodedDocument> encode_docs(const memory::MemoryEncoder& enc, const model::Tokenizer& tok,
                                                 const std::vector<data::Document>& docs, const EvalOptions& o,
                                                 const std::string& what) {
  std::vector<memory::EncodedDocument> out;
  out.reserve(docs.size());
  Timer t, since_log;
  int64_t tokens = 0;
  for (size_t b = 0; b < docs.size(); b += kEncodeBatch) {
    std::vector<std::vector<int32_t>> ids;
    for (size_t i = b; i < std::min(docs.size(), b + kEncodeBatch); ++i) {
      ids.push_back(model::encode_memory_document(tok, docs[i].id, docs[i].text));
      tokens += int64_t(ids.back().size());
    }
    for (auto& e : enc.encode(ids)) out.push_back(std::move(e));
    if (o.log && since_log.seconds() > 5.0) {
      o.log(fmt::format("[eval] encoding {}: {}/{} documents, {:.0f} tokens/s", what, out.size(), docs.size(),
                        double(tokens) / std::max(t.seconds(), 1e-9)));
      since_log.reset();
    }
  }
  return out;
}

bool config_says_random(const std::filesystem::path& dir) {
  std::ifstream f(dir / "config.json");
  auto j = nlohmann::json::parse(f, nullptr, false);
  return j.is_object() && j.value("msa_random_weights", false);
}

std::string metric_prefix(const std::string& task) {
  std::string s = task;
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

}  // namespace

std::pair<double, double> wilson_interval95(double p, int64_t n) {
  if (n <= 0) return {0.0, 1.0};
  const double z = 1.959963984540054, nn = double(n), z2n = z * z / nn;
  const double centre = (p + z2n / 2) / (1 + z2n);
  const double half = z * std::sqrt(p * (1 - p) / nn + z2n / (4 * nn)) / (1 + z2n);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

namespace {

std::string by_digits(const SizeResult& s) {
  std::string out;
  for (const auto& [d, ct] : s.id_acc_by_digits)
    out += fmt::format("{}{}-digit {}/{}", out.empty() ? "" : " ", d, ct.first, ct.second);
  return out;
}

std::string fmt_value(double v) { return std::isnan(v) ? std::string("-") : fmt::format("{:.3f}", v); }

}  // namespace

double string_match_all(const std::string& prediction, const std::string& reference) {
  std::vector<std::string> parts;
  size_t at = 0;
  while (at <= reference.size()) {
    size_t comma = reference.find(", ", at);
    std::string p = reference.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (!p.empty()) parts.push_back(lower(p));
    if (comma == std::string::npos) break;
    at = comma + 2;
  }
  if (parts.empty()) return 0;
  const std::string pred = lower(prediction);
  int found = 0;
  for (const auto& p : parts) found += pred.find(p) != std::string::npos;
  return double(found) / double(parts.size());
}

EvalReport run_eval(const EvalOptions& o) {
  MSA_CHECK(!o.sizes.empty(), "no memory sizes given");
  MSA_CHECK(o.questions >= 1, "need at least 1 question per size, got {}", o.questions);
  std::vector<int64_t> sizes = o.sizes;
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());

  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  std::shared_ptr<const model::Model> m = model::Model::load(o.model_dir.string());
  const auto tok_path = o.model_dir / "tokenizer.json";
  MSA_CHECK(std::filesystem::exists(tok_path), "model directory {} has no tokenizer.json", o.model_dir.string());
  const model::Tokenizer tok = model::Tokenizer::load(tok_path.string());
  const auto& cfg = m->config();
  MSA_CHECK(!cfg.msa.routing_layers.empty(), "model {} has no routing layers (not an MSA model)",
            o.model_dir.string());
  MSA_CHECK(int64_t(tok.vocab_size()) <= cfg.vocab_size, "tokenizer has {} tokens but the model's vocabulary is {}",
            tok.vocab_size(), cfg.vocab_size);

  EvalReport rep;
  rep.task = std::string(data::task_name(o.task));
  rep.model = o.model_dir.string();
  rep.random_weights = config_says_random(o.model_dir);
  rep.top_k = o.top_k > 0 ? o.top_k : engine::default_top_k(cfg);
  rep.seed = o.seed;
  rep.bank_path = bank_path_name(o.bank_path);

  engine::InterleaveOptions iopt;
  iopt.engine.top_k = rep.top_k;
  iopt.max_rounds = hops(o.task) + 2;
  iopt.max_round_tokens = o.max_round_tokens;
  iopt.max_total_tokens = o.max_total_tokens;

  // Stage 1 for the largest haystack, once.
  memory::MemoryEncoder enc(*m);
  const memory::TemplateKV tmpl = enc.encode_template(model::split_prompt_template(tok).prefix_ids);
  Timer t_fill;
  const std::vector<data::Document> haystack = data::generate_memory_stream(o.task, o.seed, sizes.back());
  log(fmt::format("[eval] encoding the {} of the largest memory ({} tokens, {} documents)",
                  o.task == data::Task::kKb ? "fact sheets" : "filler", data::format_token_count(sizes.back()),
                  haystack.size()));
  const std::vector<memory::EncodedDocument> filler = encode_docs(enc, tok, haystack, o, "filler");
  const double filler_s = t_fill.seconds();
  log(fmt::format("[eval] filler encoded in {:.1f} s", filler_s));

  // kb: every document is some question's answer, so the memory is always shared.
  const bool shared_memory = o.shared_memory || o.task == data::Task::kKb;
  rep.shared_memory = shared_memory;
  rep.long_documents = o.long_documents;
  const std::vector<std::string> long_texts = data::generate_long_documents(o.seed, o.long_documents);
  const int num_slots = int(cfg.msa.routing_layers.size());
  for (int64_t size : sizes) {
    SizeResult res;
    res.memory_tokens = size;
    Timer t_enc;
    data::TaskSet ts =
        data::generate_task(data::TaskOptions{o.task, size, o.questions, o.seed, o.evidence_slot_limit});
    std::vector<data::Document> evidence;
    for (int64_t id : ts.evidence_doc_ids) evidence.push_back(ts.docs[size_t(id)]);
    std::vector<memory::EncodedDocument> evidence_enc = encode_docs(enc, tok, evidence, o, "needles");
    // The bank of this size: cached filler prefix, needle documents at their slots.
    std::vector<const memory::EncodedDocument*> size_docs;
    size_t next_evidence = 0;
    for (size_t i = 0; i < ts.docs.size(); ++i) {
      MSA_ASSERT(i < haystack.size());
      const bool is_evidence = next_evidence < evidence.size() && evidence[next_evidence].id == int64_t(i);
      size_docs.push_back(is_evidence ? &evidence_enc[next_evidence++] : &filler[i]);
      res.actual_tokens += data::memory_document_tokens(int64_t(i), ts.docs[i].text);
    }
    std::vector<memory::EncodedDocument> long_enc;
    if (!long_texts.empty()) {
      // Length fairness: long filler documents after the task's memory (ids follow it).
      std::vector<data::Document> longs;
      for (const auto& t : long_texts) longs.push_back(data::Document{int64_t(ts.docs.size() + longs.size()), t});
      long_enc = encode_docs(enc, tok, longs, o, "long documents");
      for (const auto& e : long_enc) size_docs.push_back(&e);
      for (auto& d : longs) {
        res.actual_tokens += data::memory_document_tokens(d.id, d.text);
        ts.docs.push_back(std::move(d));
      }
    }
    memory::InMemoryBank bank(num_slots, cfg.num_key_value_heads, cfg.head_dim);
    bank.set_template(tmpl);
    std::unique_ptr<PersistentMemory> persistent_bank, persistent_fillers;
    if (o.bank_path == BankPath::kPersistent) {
      std::vector<std::string> texts;
      for (const auto& d : ts.docs) texts.push_back(d.text);
      persistent_bank = std::make_unique<PersistentMemory>(o.work_dir, o.model_dir, m, size_docs, texts, "bank");
      log(fmt::format("[eval] {}: routing over a persistent bank ({}: bf16 routing keys and content K/V)",
                      data::format_token_count(size), bank_path_name(o.bank_path)));
    } else {
      for (const auto* e : size_docs) bank.add(*e);
    }
    res.num_docs = int64_t(size_docs.size());
    for (const auto* e : size_docs) res.num_chunks += e->num_chunks;
    res.encode_s = t_enc.seconds() + filler_s * double(ts.docs.size()) / double(haystack.size());
    log(fmt::format("[eval] {}: {} documents, {} chunks; answering {} questions", data::format_token_count(size),
                    res.num_docs, res.num_chunks, ts.questions.size()));

    // Filler documents of the evidence slots, for per-question haystacks.
    memory::InMemoryBank evidence_fillers(num_slots, cfg.num_key_value_heads, cfg.head_dim);
    evidence_fillers.set_template(tmpl);
    std::unordered_map<int64_t, int64_t> filler_index;  // evidence slot → index in evidence_fillers
    for (const auto& e : evidence) filler_index[e.id] = evidence_fillers.add(filler[size_t(e.id)]);
    if (o.bank_path == BankPath::kPersistent && !evidence.empty()) {
      std::vector<const memory::EncodedDocument*> encs;
      std::vector<std::string> texts;
      for (const auto& e : evidence) encs.push_back(&filler[size_t(e.id)]), texts.push_back(haystack[size_t(e.id)].text);
      persistent_fillers = std::make_unique<PersistentMemory>(o.work_dir, o.model_dir, m, encs, texts, "fillers");
    }
    const memory::MemoryView& base_memory = persistent_bank ? persistent_bank->view() : bank;
    const memory::MemoryView& filler_memory = persistent_fillers ? persistent_fillers->view() : evidence_fillers;
    std::unordered_map<int64_t, int64_t> replaced;  // of the current question
    const engine::DocumentTextFn text_of = [&](int64_t id) -> std::optional<std::string> {
      if (id < 0 || id >= int64_t(ts.docs.size())) return std::nullopt;
      if (replaced.count(id)) return haystack[size_t(id)].text;
      return ts.docs[size_t(id)].text;
    };
    res.layers.resize(size_t(num_slots));
    for (int s = 0; s < num_slots; ++s) res.layers[size_t(s)].layer = cfg.msa.routing_layers[size_t(s)];
    double acc = 0, acc_single = 0, acc_no_text = 0, id_acc = 0, recall_any = 0, evidence_recall = 0, rounds = 0;
    Timer t_ans, since_log;
    for (size_t qi = 0; qi < ts.questions.size(); ++qi) {
      const data::Question& q = ts.questions[qi];
      replaced.clear();
      if (!shared_memory) {
        // Other questions' gold documents are not in this question's haystack.
        std::set<int64_t> own(q.gold_doc_ids.begin(), q.gold_doc_ids.end());
        for (const auto& other : ts.questions)
          for (int64_t g : other.gold_doc_ids)
            if (!own.count(g)) replaced[g] = filler_index.at(g);
      }
      const QuestionMemory qmem(base_memory, filler_memory, replaced);
      // Documents reachable from the question alone: all gold documents for
      // NIAH tasks, the first hop for chains.
      std::vector<int64_t> round1_gold = is_hop(o.task) ? std::vector<int64_t>{q.gold_doc_ids[0]} : q.gold_doc_ids;
      engine::InterleaveResult r = engine::answer_with_interleave(m, tok, qmem, text_of, q.question, iopt);
      const double score = string_match_all(r.answer, q.answer);
      acc += score;
      res.outcomes.push_back(QuestionOutcome{q.question, q.answer, r.answer, r.stop_reason, q.gold_doc_ids, score});
      if (o.log && int64_t(qi) < o.show_transcripts) {
        std::string gold;
        for (int64_t g : q.gold_doc_ids) gold += fmt::format("[{}]", g);
        o.log(fmt::format("[eval] Q: {}\n[eval] gold {} answer {:?}; predicted {:?} ({})\n[eval] transcript: {:?}",
                          q.question, gold, q.answer, r.answer, r.stop_reason, r.transcript));
      }
      rounds += double(r.rounds.size());
      const engine::RoundTrace& first = r.rounds.front();
      std::set<int64_t> any_selected;
      for (size_t s = 0; s < first.routing.size() && s < res.layers.size(); ++s) {
        const auto& sel = first.routing[s].selected;
        std::set<int64_t> layer_sel;
        for (const auto& d : sel) layer_sel.insert(d.doc);
        any_selected.insert(layer_sel.begin(), layer_sel.end());
        int hit = 0;
        for (int64_t g : round1_gold) hit += int(layer_sel.count(g));
        res.layers[s].recall_at_k += double(hit) / double(round1_gold.size());
        if (!sel.empty() && std::find(round1_gold.begin(), round1_gold.end(), sel[0].doc) != round1_gold.end())
          res.layers[s].recall_at_1 += 1;
      }
      int hit_any = 0;
      for (int64_t g : round1_gold) hit_any += int(any_selected.count(g));
      recall_any += double(hit_any) / double(round1_gold.size());
      std::set<int64_t> gen(first.generated_doc_ids.begin(), first.generated_doc_ids.end());
      const bool ids_ok =
          std::all_of(round1_gold.begin(), round1_gold.end(), [&](int64_t g) { return gen.count(g) > 0; });
      id_acc += ids_ok;
      auto& by_len = res.id_acc_by_digits[int(std::to_string(round1_gold[0]).size())];
      by_len.first += ids_ok;
      by_len.second += 1;
      std::set<int64_t> cited(r.cited_doc_ids.begin(), r.cited_doc_ids.end());
      int cited_gold = 0;
      for (int64_t g : q.gold_doc_ids) cited_gold += int(cited.count(g));
      evidence_recall += double(cited_gold) / double(q.gold_doc_ids.size());
      if (is_hop(o.task) && o.ablations) {
        engine::InterleaveOptions single = iopt;
        single.interleave = false;
        acc_single += string_match_all(engine::answer_with_interleave(m, tok, qmem, text_of, q.question, single).answer,
                                       q.answer);
        engine::InterleaveOptions no_text = iopt;
        no_text.inject_text = false;
        acc_no_text += string_match_all(
            engine::answer_with_interleave(m, tok, qmem, text_of, q.question, no_text).answer, q.answer);
      }
      if (o.log && (since_log.seconds() > 5.0 || qi + 1 == ts.questions.size())) {
        o.log(fmt::format("[eval] {}: {}/{} questions, accuracy so far {:.3f}", data::format_token_count(size),
                          qi + 1, ts.questions.size(), acc / double(qi + 1)));
        since_log.reset();
      }
    }
    const double n = double(ts.questions.size());
    res.questions = int64_t(ts.questions.size());
    res.answer_acc = acc / n;
    if (is_hop(o.task) && o.ablations) {
      res.answer_acc_single_round = acc_single / n;
      res.answer_acc_no_text = acc_no_text / n;
    }
    res.id_acc = id_acc / n;
    res.recall_at_k = recall_any / n;
    for (auto& l : res.layers) {
      l.recall_at_k /= n;
      l.recall_at_1 /= n;
    }
    res.evidence_recall = evidence_recall / n;
    res.mean_rounds = rounds / n;
    res.answer_s = t_ans.seconds();
    rep.sizes.push_back(std::move(res));
  }
  return rep;
}

std::string format_table(const EvalReport& r) {
  std::string out = fmt::format("msa eval: task {}, model {}{}, k = {}, seed {}, protocol: {}, memory {}\n", r.task,
                                r.model, r.random_weights ? " (RANDOM weights: numbers are meaningless)" : "", r.top_k,
                                r.seed,
                                r.shared_memory ? "shared memory (one memory holds every question's documents)"
                                                : "per question (each question's haystack holds only its own gold documents)",
                                r.bank_path);
  if (r.long_documents > 0)
    out += fmt::format("({} long filler documents of 200-400 words added to every memory)\n", r.long_documents);
  if (r.sizes.empty()) return out;
  const bool hop = r.task == "hop2" || r.task == "hop3";
  std::string head = fmt::format("{:>6} {:>8} {:>7} {:>5} {:>7} {:>13}", "size", "tokens", "docs", "q", "acc", "95% CI");
  if (hop) head += fmt::format(" {:>7} {:>7}", "single", "no_text");
  head += fmt::format(" {:>7} {:>7}", "id_acc", "rec@k");
  for (const auto& l : r.sizes[0].layers) head += fmt::format(" {:>7} {:>7}", fmt::format("L{}@k", l.layer),
                                                               fmt::format("L{}@1", l.layer));
  head += fmt::format(" {:>7} {:>6} {:>8} {:>8}\n", "cited", "rounds", "enc_s", "ans_s");
  out += head;
  for (const auto& s : r.sizes) {
    const auto [lo, hi] = wilson_interval95(s.answer_acc, s.questions);
    std::string line = fmt::format("{:>6} {:>8} {:>7} {:>5} {:>7} {:>13}", data::format_token_count(s.memory_tokens),
                                   s.actual_tokens, s.num_docs, s.questions, fmt_value(s.answer_acc),
                                   fmt::format("[{:.2f}, {:.2f}]", lo, hi));
    if (hop) line += fmt::format(" {:>7} {:>7}", fmt_value(s.answer_acc_single_round), fmt_value(s.answer_acc_no_text));
    line += fmt::format(" {:>7} {:>7}", fmt_value(s.id_acc), fmt_value(s.recall_at_k));
    for (const auto& l : s.layers) line += fmt::format(" {:>7} {:>7}", fmt_value(l.recall_at_k), fmt_value(l.recall_at_1));
    line += fmt::format(" {:>7} {:>6.2f} {:>8.1f} {:>8.1f}\n", fmt_value(s.evidence_recall), s.mean_rounds, s.encode_s,
                        s.answer_s);
    out += line;
  }
  out += "doc-id accuracy by digits of the gold id (correct/total):\n";
  for (const auto& s : r.sizes) out += fmt::format("{:>6}  {}\n", data::format_token_count(s.memory_tokens), by_digits(s));
  return out;
}

std::string format_metrics(const EvalReport& r) {
  std::string out;
  const std::string p = metric_prefix(r.task);
  const bool hop = r.task == "hop2" || r.task == "hop3";
  auto metric = [&](const std::string& name, double v) {
    if (!std::isnan(v)) out += fmt::format("metric: {} = {:.4f}\n", name, v);
  };
  for (const auto& s : r.sizes) {
    const std::string sz = data::format_token_count(s.memory_tokens);
    metric(p + "_acc_" + sz, s.answer_acc);
    const auto [lo, hi] = wilson_interval95(s.answer_acc, s.questions);
    metric(p + "_acc_" + sz + "_ci95_low", lo);
    metric(p + "_acc_" + sz + "_ci95_high", hi);
    metric("recall_at_k_" + sz, s.recall_at_k);
    for (const auto& l : s.layers) {
      metric(fmt::format("recall_at_1_L{}_{}", l.layer, sz), l.recall_at_1);
      metric(fmt::format("recall_at_k_L{}_{}", l.layer, sz), l.recall_at_k);
    }
    metric("id_acc_" + sz, s.id_acc);
  }
  if (hop && !r.sizes.empty()) {
    // Pooled over every size's questions.
    double inter = 0, single = 0, no_text = 0, n = 0;
    for (const auto& s : r.sizes) {
      inter += s.answer_acc * double(s.questions);
      single += s.answer_acc_single_round * double(s.questions);
      no_text += s.answer_acc_no_text * double(s.questions);
      n += double(s.questions);
    }
    metric(p + "_acc_interleave", inter / n);
    metric(p + "_acc_single_round", single / n);
    metric(p + "_acc_no_text", no_text / n);
  }
  return out;
}

std::string format_csv(const EvalReport& r) {
  std::string out =
      "task,protocol,size,memory_tokens,docs,chunks,questions,acc,acc_ci95_low,acc_ci95_high,acc_single_round,"
      "acc_no_text,id_acc,recall_at_k";
  if (!r.sizes.empty())
    for (const auto& l : r.sizes[0].layers) out += fmt::format(",recall_at_k_L{0},recall_at_1_L{0}", l.layer);
  out += ",cited_evidence_recall,mean_rounds,encode_s,answer_s,id_acc_by_digits,bank_path\n";
  auto v = [](double x) { return std::isnan(x) ? std::string() : fmt::format("{:.6f}", x); };
  for (const auto& s : r.sizes) {
    const auto [lo, hi] = wilson_interval95(s.answer_acc, s.questions);
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{}", r.task, r.shared_memory ? "shared" : "per-question",
                       data::format_token_count(s.memory_tokens), s.actual_tokens, s.num_docs, s.num_chunks,
                       s.questions, v(s.answer_acc), v(lo), v(hi), v(s.answer_acc_single_round),
                       v(s.answer_acc_no_text), v(s.id_acc), v(s.recall_at_k));
    for (const auto& l : s.layers) out += fmt::format(",{},{}", v(l.recall_at_k), v(l.recall_at_1));
    out += fmt::format(",{},{:.4f},{:.3f},{:.3f},{},{}\n", v(s.evidence_recall), s.mean_rounds, s.encode_s, s.answer_s,
                       by_digits(s), r.bank_path);
  }
  return out;
}

std::string format_answers_jsonl(const EvalReport& r) {
  std::string out;
  for (const auto& s : r.sizes)
    for (const auto& q : s.outcomes) {
      nlohmann::json j;
      j["size"] = data::format_token_count(s.memory_tokens);
      j["question"] = q.question;
      j["reference"] = q.reference;
      j["prediction"] = q.prediction;
      j["score"] = q.score;
      j["stop_reason"] = q.stop_reason;
      j["gold_doc_ids"] = q.gold_doc_ids;
      out += j.dump() + "\n";
    }
  return out;
}

LinePlot make_plot(const EvalReport& r) {
  LinePlot p;
  p.title = fmt::format("msa eval: {} (k={}, seed {})", r.task, r.top_k, r.seed);
  p.x_label = "memory size (tokens, log scale)";
  p.y_label = "accuracy / recall";
  const bool hop = r.task == "hop2" || r.task == "hop3";
  Series acc{hop ? "acc interleave" : "answer acc", {}}, single{"acc single round", {}}, no_text{"acc no text", {}},
      id{"doc-id acc", {}}, rec{"recall@k (any layer)", {}};
  for (const auto& s : r.sizes) {
    p.x.push_back(double(s.memory_tokens));
    p.x_ticks.push_back(data::format_token_count(s.memory_tokens));
    acc.y.push_back(s.answer_acc);
    single.y.push_back(s.answer_acc_single_round);
    no_text.y.push_back(s.answer_acc_no_text);
    id.y.push_back(s.id_acc);
    rec.y.push_back(s.recall_at_k);
  }
  p.series.push_back(acc);
  if (hop && !r.sizes.empty() && !std::isnan(r.sizes[0].answer_acc_single_round)) {
    p.series.push_back(single);
    p.series.push_back(no_text);
  }
  p.series.push_back(id);
  p.series.push_back(rec);
  return p;
}

}  // namespace msa::eval
