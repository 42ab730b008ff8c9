#include "train/rows.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "model/prompt_format.h"

namespace msa::train {

int32_t rec_start(const model::Tokenizer& tok, const std::vector<int32_t>& doc, int64_t id) {
  const std::vector<int32_t> tail = tok.encode(std::to_string(id) + "]" + std::string(model::kImEnd), true);
  const int64_t n = int64_t(doc.size()), m = int64_t(tail.size());
  if (m + 1 < n && std::equal(tail.begin(), tail.end(), doc.end() - m)) return int32_t(n - m - 1);
  return n >= 3 ? int32_t(n - 3) : -1;  // fallback: the last two tokens
}

namespace {

void append_target(const model::Tokenizer& tok, TrainRow* row, const std::string& text, uint8_t kind, bool loss) {
  const std::vector<int32_t> ids = tok.encode(text, true);
  for (int32_t id : ids) {
    if (loss) {
      row->target.back() = id;
      row->kind.back() = kind;
    }
    row->ids.push_back(id);
    row->tags.push_back(model::kTagOther);
    row->target.push_back(-1);
    row->kind.push_back(0);
  }
}

TrainRow start_row(const model::TaggedIds& t, int64_t ndocs) {
  TrainRow r;
  r.ids = t.ids;
  r.tags = t.tags;
  r.target.assign(r.ids.size(), -1);
  r.kind.assign(r.ids.size(), 0);
  r.positive.assign(size_t(ndocs), 0);
  return r;
}

std::string id_list(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) s += "[" + std::to_string(id) + "]";
  return s + std::string(model::kObjectRefEnd);
}

}  // namespace

Episode make_episode(const model::Tokenizer& tok, const data::TaskSet& set, bool chain_task, const RowOptions& o,
                     std::mt19937_64& rng) {
  Episode ep;
  const int64_t N = int64_t(set.docs.size());
  std::map<int64_t, int64_t> index_of;
  for (int64_t i = 0; i < N; ++i) {
    const auto& d = set.docs[size_t(i)];
    index_of[d.id] = i;
    ep.docs.push_back(model::encode_memory_document(tok, d.id, d.text));
    ep.rec_from.push_back(rec_start(tok, ep.docs.back(), d.id));
  }
  auto text_of = [&](int64_t id) { return set.docs[size_t(index_of.at(id))].text; };
  const model::TemplateSplit split = model::split_prompt_template(tok);
  for (const data::Question& q : set.questions) {
    for (int64_t g : q.gold_doc_ids) MSA_CHECK(index_of.count(g), "gold document id {} not in the memory", g);
    // Rounds: a chain retrieves one document per round; otherwise all at once.
    std::vector<std::vector<int64_t>> rounds;
    if (chain_task) {
      for (int64_t g : q.gold_doc_ids) rounds.push_back({g});
    } else if (!q.gold_doc_ids.empty()) {
      rounds.push_back(q.gold_doc_ids);
    }
    const size_t nrounds = rounds.size();
    std::vector<size_t> which;
    if (o.rows_all_rounds) {
      for (size_t r = 0; r <= nrounds; ++r) which.push_back(r);
    } else {
      which.push_back(size_t(rng() % (nrounds + 1)));
    }
    for (size_t r : which) {
      std::string transcript = model::routed_question_text(q.question) + split.tail_text + std::string(model::kImStart);
      for (size_t s = 0; s < r; ++s) {
        std::vector<int64_t> sorted = rounds[s];
        std::sort(sorted.begin(), sorted.end());
        sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
        transcript += id_list(rounds[s]) + model::injection_block(sorted, text_of);
      }
      TrainRow row = start_row(r == 0 ? model::first_round_row(tok, q.question, /*parse_special=*/false)
                                      : model::reencode_row(tok, transcript),
                               N);
      if (r < nrounds) {
        append_target(tok, &row, id_list(rounds[r]), 1, true);
        for (int64_t g : rounds[r]) row.positive[size_t(index_of.at(g))] = 1;
      } else {
        append_target(tok, &row, std::string(model::kEndOfRetrieve), 1, true);
        append_target(tok, &row, model::restatement_block(q.question), 0, false);
        append_target(tok, &row, std::string(model::kAnswerMarker) + " " + q.answer + std::string(model::kImEnd), 2,
                      true);
        if (nrounds > 0)
          for (int64_t g : rounds[nrounds - 1]) row.positive[size_t(index_of.at(g))] = 1;
      }
      // The last prompt token predicts the first target; the last row token predicts nothing.
      ep.rows.push_back(std::move(row));
    }
  }
  return ep;
}

Batch make_batch(const model::Tokenizer& tok, const BatchOptions& o, std::mt19937_64& rng) {
  MSA_CHECK(!o.tasks.empty(), "no training tasks configured");
  Batch b;
  b.template_ids = model::split_prompt_template(tok).prefix_ids;
  double total = 0;
  for (auto& t : o.tasks) total += t.weight;
  std::uniform_real_distribution<double> U(0.0, total);
  for (int m = 0; m < o.memories; ++m) {
    double x = U(rng);
    data::Task task = o.tasks.back().task;
    for (auto& t : o.tasks) {
      if (x < t.weight) {
        task = t.task;
        break;
      }
      x -= t.weight;
    }
    const data::TaskSet set =
        data::generate_training_memory(task, o.docs_per_memory, o.questions_per_memory, o.max_id_digits, rng,
                                       o.density);
    const bool chain = task == data::Task::kHop2 || task == data::Task::kHop3;
    b.episodes.push_back(make_episode(tok, set, chain, o.rows, rng));
  }
  return b;
}

}  // namespace msa::train
