// Trainer: protocols and stopping rules as parameters, checked with a fake model whose validation
// quality is a scripted function of the number of epochs it has trained.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/strong_generalization.hpp>
#include <recdiff/eval/strong_generalization_protocol.hpp>
#include <recdiff/train/stopping_rule.hpp>
#include <recdiff/train/train.hpp>
#include <recdiff/train/trainer.hpp>

using namespace recdiff;
using recdiff::test::matrix_from_rows;

namespace {

constexpr index_t kUsers = 200;
constexpr index_t kItems = 120;

// 200 users x 120 items: user u trained on 10 items of 0..99, one validation item 100 + u % 10 and
// one test item 110 + u % 10.
TrainValidTest scripted_data() {
  std::vector<std::vector<index_t>> train(kUsers), valid(kUsers), test(kUsers);
  for (index_t u = 0; u < kUsers; ++u) {
    for (index_t j = 0; j < 10; ++j) train[static_cast<std::size_t>(u)].push_back((u + j) % 100);
    valid[static_cast<std::size_t>(u)].push_back(100 + u % 10);
    test[static_cast<std::size_t>(u)].push_back(110 + u % 10);
  }
  return {matrix_from_rows(train, kItems), matrix_from_rows(valid, kItems),
          matrix_from_rows(test, kItems)};
}

// A TrainableModel whose "parameters" are the number of batches it has trained. After e epochs the
// first hits[e] users get their validation item ranked first (and, once validation items are
// masked, their test item), everyone else gets both ranked last: under DiffRec's protocol every
// single-target metric (recall, calibrated recall, NDCG, MRR, hit rate) is then exactly
// hits[e] / 200, at every K of the default options.
struct ScriptedModel {
  const TrainValidTest* data = nullptr;
  std::map<int, int> hits;  // epochs trained -> users ranked right; absent = 0
  index_t batches_per_epoch = 1;
  long batches = 0;
  long restores = 0;
  double nan_at_batch = -1;  // train_batch returns NaN at this batch when >= 0
  std::vector<std::vector<index_t>> seen_batches;
  std::vector<std::uint32_t> seen_steps;
  const InteractionMatrix* seen_train = nullptr;

  int epochs() const { return static_cast<int>(batches / batches_per_epoch); }

  double train_batch(const InteractionMatrix& train, std::span<const index_t> users,
                     std::uint32_t step) {
    seen_train = &train;
    seen_batches.emplace_back(users.begin(), users.end());
    seen_steps.push_back(step);
    const bool nan = static_cast<double>(batches) == nan_at_batch;
    ++batches;
    return nan ? std::nan("") : 1.0 / static_cast<double>(batches);
  }

  void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out) {
    const auto it = hits.find(epochs());
    const int good = it == hits.end() ? 0 : it->second;
    out.resize(static_cast<Eigen::Index>(users.size()), input.num_items());
    for (std::size_t b = 0; b < users.size(); ++b) {
      const auto row = static_cast<Eigen::Index>(b);
      for (index_t i = 0; i < input.num_items(); ++i) out(row, i) = -static_cast<float>(i);
      const index_t u = users[b];
      const float sign = u < good ? 1.0f : -1.0f;
      out(row, data->valid.items_of(u)[0]) = sign * 2000.0f;
      out(row, data->test.items_of(u)[0]) = sign * 1000.0f;
    }
  }

  long snapshot() const { return batches; }
  void restore(long snap) {
    batches = snap;
    ++restores;
  }
};

static_assert(TrainableModel<ScriptedModel>);
static_assert(EvaluationProtocol<DiffRecProtocol>);
static_assert(EvaluationProtocol<StrongGeneralizationProtocol>);
static_assert(EvaluationProtocolFor<DiffRecProtocol, ScriptedModel>);
static_assert(!EvaluationProtocol<TrainValidTest>);
static_assert(!EvaluationProtocol<StrongGeneralizationSplit>);

// The hits as a curve over epochs 1, 2, ...
std::map<int, int> curve(std::initializer_list<std::pair<const int, int>> points) {
  return std::map<int, int>(points);
}

TrainerOptions options_with(StoppingRule rule, int max_epochs = 200) {
  TrainerOptions options;
  options.max_epochs = max_epochs;
  options.batch_size = 64;
  options.stopping = std::move(rule);
  options.eval.num_threads = 1;
  return options;
}

ScriptedModel scripted_model(const TrainValidTest& data, std::map<int, int> hits) {
  ScriptedModel model;
  model.data = &data;
  model.hits = std::move(hits);
  model.batches_per_epoch = (kUsers + 63) / 64;
  return model;
}

std::vector<int> evaluated_epochs(const TrainResult& result) {
  std::vector<int> epochs;
  for (const auto& rec : result.history)
    if (rec.evaluated) epochs.push_back(rec.epoch);
  return epochs;
}

std::vector<int> improved_epochs(const TrainResult& result) {
  std::vector<int> epochs;
  for (const auto& rec : result.history)
    if (rec.improved) epochs.push_back(rec.epoch);
  return epochs;
}

// Records the lines of a Progress sink.
struct CapturedLines {
  std::vector<std::string> lines;
  Progress sink() {
    return Progress([this](const std::string& text) { lines.push_back(text); });
  }
};

}  // namespace

TEST_CASE("stopping rules: the published factories", "[train]") {
  const StoppingRule d = StoppingRule::diffrec();
  CHECK(d.metric == "recall@20");
  CHECK(d.eval_every == 5);
  CHECK(d.patience == 20);
  CHECK(d.patience_unit == PatienceUnit::epochs_since_best);
  CHECK(d.min_improvement == 0);
  CHECK(d.strictly_greater);
  CHECK(TrainerOptions{}.stopping.metric == d.metric);
  CHECK(TrainerOptions{}.stopping.eval_every == d.eval_every);

  const StoppingRule r = StoppingRule::recpack();
  CHECK(r.metric == "ndcg@50");
  CHECK(r.eval_every == 1);
  CHECK(r.patience == 5);
  CHECK(r.patience_unit == PatienceUnit::evaluations_without_improvement);
  CHECK(r.min_improvement == 0.01);
  CHECK_FALSE(r.strictly_greater);

  const StoppingRule c = StoppingRule::codigem();
  CHECK(c.metric == "calibrated_recall@50");
  CHECK(c.eval_every == 1);
  CHECK(c.patience == 10);
  CHECK(c.patience_unit == PatienceUnit::evaluations_without_improvement);
  CHECK(c.strictly_greater);

  // What counts as better.
  CHECK(d.is_better(0.2, 0.1));
  CHECK_FALSE(d.is_better(0.1, 0.1));
  CHECK(r.is_better(0.12, 0.10));         // +0.02
  CHECK_FALSE(r.is_better(0.105, 0.10));  // +0.005
  CHECK_FALSE(r.is_better(0.10, 0.10));
  CHECK_FALSE(r.is_better(0.05, 0.10));
  StoppingRule ties = d;
  ties.strictly_greater = false;
  CHECK(ties.is_better(0.1, 0.1));
}

TEST_CASE("stopping rules: bad values are rejected by the Trainer", "[train]") {
  for (int field = 0; field < 4; ++field) {
    StoppingRule rule = StoppingRule::diffrec();
    if (field == 0) rule.eval_every = 0;
    if (field == 1) rule.patience = 0;
    if (field == 2) rule.min_improvement = -0.1;
    if (field == 3) rule.metric.clear();
    CHECK_THROWS_AS(Trainer<ScriptedModel>(options_with(rule), Progress::silent()),
                    std::invalid_argument);
  }
  TrainerOptions bad = options_with(StoppingRule::diffrec());
  bad.batch_size = 0;
  CHECK_THROWS_AS(Trainer<ScriptedModel>(bad, Progress::silent()), std::invalid_argument);
}

TEST_CASE("trainer: DiffRec's rule selects and stops as the original loop", "[train]") {
  const auto data = scripted_data();

  SECTION("a tie is not better; stop at the start of epoch best + 20") {
    // Evaluations after epochs 5, 10, ...: 20, 40, 40 (tie), 60 (best), 50, 55, 60 (tie), then the
    // loop ends at the start of epoch 40 because 40 - 20 >= 20: 39 epochs, 7 evaluations.
    auto model = scripted_model(
        data, curve({{5, 20}, {10, 40}, {15, 40}, {20, 60}, {25, 50}, {30, 55}, {35, 60},
                     {40, 200}}));
    Trainer<ScriptedModel> trainer(options_with(StoppingRule::diffrec()), Progress::silent());
    const TrainResult result = trainer.fit(model, data);
    CHECK(result.best_epoch == 20);
    CHECK(result.epochs_run == 39);
    CHECK(result.evaluations == 7);
    CHECK(result.stopped_early);
    CHECK(evaluated_epochs(result) == std::vector<int>{5, 10, 15, 20, 25, 30, 35});
    CHECK(improved_epochs(result) == std::vector<int>{5, 10, 20});
    CHECK(result.selection_metric == "recall@20");
    CHECK(result.best_score == 60.0 / 200);
    CHECK(result.best.valid.at("recall@20") == 60.0 / 200);
    CHECK(result.best.test.at("recall@20") == 60.0 / 200);
    CHECK(result.history.size() == 39);
    // The best epoch's parameters are back in the model.
    CHECK(model.epochs() == 20);
    CHECK(model.restores == 1);
  }

  SECTION("an evaluation exactly patience epochs after the best is never reached") {
    // Best after epoch 5; evaluations at 10, 15, 20 are worse; 25 - 5 >= 20 stops before epoch 25,
    // so its (much better) value is never seen.
    auto model = scripted_model(data, curve({{5, 30}, {10, 10}, {15, 10}, {20, 29}, {25, 100}}));
    Trainer<ScriptedModel> trainer(options_with(StoppingRule::diffrec()), Progress::silent());
    const TrainResult result = trainer.fit(model, data);
    CHECK(result.best_epoch == 5);
    CHECK(result.epochs_run == 24);
    CHECK(result.evaluations == 4);
    CHECK(model.epochs() == 5);
  }

  SECTION("max_epochs ends the run without early stopping") {
    auto model = scripted_model(data, curve({{5, 30}, {10, 40}, {15, 50}}));
    Trainer<ScriptedModel> trainer(options_with(StoppingRule::diffrec(), 17), Progress::silent());
    const TrainResult result = trainer.fit(model, data);
    CHECK(result.best_epoch == 15);
    CHECK(result.epochs_run == 17);
    CHECK_FALSE(result.stopped_early);
    CHECK(model.epochs() == 15);
  }

  SECTION("no evaluation: the last epoch's parameters stay") {
    auto model = scripted_model(data, {});
    Trainer<ScriptedModel> trainer(options_with(StoppingRule::diffrec(), 3), Progress::silent());
    const TrainResult result = trainer.fit(model, data);
    CHECK(result.best_epoch == 0);
    CHECK(std::isnan(result.best_score));
    CHECK(result.evaluations == 0);
    CHECK(model.epochs() == 3);
    CHECK(model.restores == 0);
  }
}

TEST_CASE("trainer: batches are the seeded permutation of all users under DiffRec's protocol",
          "[train]") {
  const auto data = scripted_data();
  auto model = scripted_model(data, {});
  TrainerOptions options = options_with(StoppingRule::diffrec(), 2);
  options.seed = 7;
  Trainer<ScriptedModel> trainer(options, Progress::silent());
  trainer.fit(model, DiffRecProtocol(data));
  REQUIRE(model.seen_batches.size() == 8);
  REQUIRE(model.seen_train == &data.train);
  std::vector<index_t> order(kUsers);
  for (std::uint32_t epoch = 1; epoch <= 2; ++epoch) {
    epoch_order(order, 7, epoch);
    for (std::size_t b = 0; b < 4; ++b) {
      const auto begin = order.begin() + static_cast<std::ptrdiff_t>(64 * b);
      const auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(
                                           64 * (b + 1), static_cast<std::size_t>(kUsers)));
      CHECK(model.seen_batches[(epoch - 1) * 4 + b] == std::vector<index_t>(begin, end));
      CHECK(model.seen_steps[(epoch - 1) * 4 + b] == (epoch - 1) * 4 + b);
    }
  }
}

TEST_CASE("trainer: RecPack's rule needs more than 0.01 and counts consecutive evaluations",
          "[train]") {
  const auto data = scripted_data();
  // ndcg@50 = hits / 200: 0.100, 0.105 (+0.005: not better), 0.120 (+0.02: better), 0.125, 0.100,
  // 0.125, 0.140 (+0.02 over 0.120: better, the counter restarts), then 0.145, 0.145, 0.140, 0.135,
  // 0.145: five consecutive non-better evaluations, so training stops after epoch 12.
  auto model = scripted_model(
      data, curve({{1, 20}, {2, 21}, {3, 24}, {4, 25}, {5, 20}, {6, 25}, {7, 28}, {8, 29}, {9, 29},
                   {10, 28}, {11, 27}, {12, 29}, {13, 200}}));
  Trainer<ScriptedModel> trainer(options_with(StoppingRule::recpack()), Progress::silent());
  const TrainResult result = trainer.fit(model, data);
  CHECK(improved_epochs(result) == std::vector<int>{1, 3, 7});
  CHECK(result.best_epoch == 7);
  CHECK(result.best_score == 28.0 / 200);
  CHECK(result.best.valid.at("ndcg@50") == 28.0 / 200);
  CHECK(result.epochs_run == 12);
  CHECK(result.evaluations == 12);
  CHECK(result.stopped_early);
  CHECK(model.epochs() == 7);
}

TEST_CASE("trainer: CODIGEM's rule, calibrated recall@50 and a patience of 10 evaluations",
          "[train]") {
  const auto data = scripted_data();
  // Best after epoch 2, nine non-better evaluations (ties included), a better one at epoch 12
  // resets the count, then ten non-better ones: the run stops after epoch 22 (an epochs-since-best
  // patience would have stopped before epoch 22).
  auto model = scripted_model(
      data, curve({{1, 10},  {2, 12},  {3, 12},  {4, 11},  {5, 12},  {6, 11},  {7, 10},  {8, 12},
                   {9, 9},   {10, 12}, {11, 11}, {12, 13}, {13, 13}, {14, 12}, {15, 13}, {16, 0},
                   {17, 13}, {18, 13}, {19, 12}, {20, 11}, {21, 13}, {22, 13}, {23, 50}}));
  Trainer<ScriptedModel> trainer(options_with(StoppingRule::codigem()), Progress::silent());
  const TrainResult result = trainer.fit(model, data);
  CHECK(improved_epochs(result) == std::vector<int>{1, 2, 12});
  CHECK(result.best_epoch == 12);
  CHECK(result.selection_metric == "calibrated_recall@50");
  CHECK(result.best_score == 13.0 / 200);
  CHECK(result.epochs_run == 22);
  CHECK(model.epochs() == 12);
}

TEST_CASE("trainer: unknown metrics and cut-offs are rejected before any training", "[train]") {
  const auto data = scripted_data();
  const auto rejects = [&](TrainerOptions options, const std::vector<std::string>& in_message) {
    auto model = scripted_model(data, {});
    Trainer<ScriptedModel> trainer(std::move(options), Progress::silent());
    try {
      trainer.fit(model, data);
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      for (const auto& part : in_message) {
        INFO(what);
        CHECK(what.find(part) != std::string::npos);
      }
    }
    CHECK(model.batches == 0);
    CHECK(model.seen_batches.empty());
  };
  const std::string bases = "recall, calibrated_recall, ndcg, precision, mrr, hit_rate, coverage";

  StoppingRule rule = StoppingRule::diffrec();
  rule.metric = "ndcg@30";
  rejects(options_with(rule), {"\"ndcg@30\"", "10, 20, 50, 100", bases});
  rule.metric = "foo@20";
  rejects(options_with(rule), {"\"foo@20\"", "unknown", bases});
  for (const char* malformed : {"ndcg", "ndcg@", "ndcg@0", "ndcg@2x", "@20"}) {
    rule.metric = malformed;
    rejects(options_with(rule), {std::string("\"") + malformed + "\""});
  }

  TrainerOptions progress = options_with(StoppingRule::diffrec());
  progress.progress_metrics = {"recall@20", "hit_rate@7"};
  rejects(progress, {"progress_metrics", "\"hit_rate@7\""});

  // The cut-offs are the evaluation options' ones: recall@10 is fine by default, not with {20, 50}.
  TrainerOptions ks = options_with(StoppingRule::diffrec());
  ks.stopping.metric = "recall@10";
  ks.eval.ks = {20, 50};
  ks.progress_metrics = {};
  rejects(ks, {"\"recall@10\"", "K = 20, 50"});

  TrainerOptions bad_eval = options_with(StoppingRule::diffrec());
  bad_eval.eval.ks = {};
  rejects(bad_eval, {"ks"});
}

TEST_CASE("trainer: the progress line shows the requested metrics", "[train]") {
  const auto data = scripted_data();
  auto model = scripted_model(data, curve({{1, 20}, {2, 10}}));
  TrainerOptions options = options_with(StoppingRule::diffrec(), 3);
  options.stopping.eval_every = 2;
  options.progress_metrics = {"mrr@10", "precision@50", "mrr@10"};
  CapturedLines captured;
  Trainer<ScriptedModel> trainer(options, captured.sink());
  trainer.fit(model, data);
  REQUIRE(captured.lines.size() == 3);
  const std::string& plain = captured.lines[0];
  CHECK(plain.rfind("epoch    1 | loss ", 0) == 0);
  CHECK(plain.find(" s") != std::string::npos);
  CHECK(plain.find("valid") == std::string::npos);
  // Epoch 2 has the hits of epoch 2: 10 users. The selection metric comes first, the duplicate
  // once; precision@50 = 10 / 50 / 200.
  const std::string& evaluated = captured.lines[1];
  INFO(evaluated);
  CHECK(evaluated.rfind("epoch    2 | loss ", 0) == 0);
  CHECK(evaluated.find(" | train ") != std::string::npos);
  CHECK(evaluated.find(" | eval ") != std::string::npos);
  CHECK(evaluated.find(" | valid recall@20 0.0500 mrr@10 0.0500 precision@50 0.0010 | test "
                       "recall@20 0.0500 mrr@10 0.0500 precision@50 0.0010 *") !=
        std::string::npos);
  CHECK(evaluated.find("ndcg") == std::string::npos);
}

TEST_CASE("trainer: a non-finite loss throws NumericalError", "[train]") {
  const auto data = scripted_data();
  auto model = scripted_model(data, {});
  model.nan_at_batch = 5;
  Trainer<ScriptedModel> trainer(options_with(StoppingRule::diffrec(), 3), Progress::silent());
  CHECK_THROWS_AS(trainer.fit(model, data), NumericalError);
}

namespace {

// Records the training users; scores items by id (item 0 best) with the input row's items on top,
// so that masking the fold-in items or not changes the result.
struct RecordingModel {
  std::vector<index_t> users;
  const InteractionMatrix* train = nullptr;
  int batches = 0;

  double train_batch(const InteractionMatrix& matrix, std::span<const index_t> batch,
                     std::uint32_t) {
    train = &matrix;
    users.insert(users.end(), batch.begin(), batch.end());
    ++batches;
    return 0.5;
  }
  void score(const InteractionMatrix& input, std::span<const index_t> batch, ScoreMatrix& out) {
    out.resize(static_cast<Eigen::Index>(batch.size()), input.num_items());
    for (std::size_t b = 0; b < batch.size(); ++b) {
      const auto row = static_cast<Eigen::Index>(b);
      for (index_t i = 0; i < input.num_items(); ++i) out(row, i) = -static_cast<float>(i);
      for (const index_t i : input.items_of(batch[b])) out(row, i) += 1000.0f;
    }
  }
  int snapshot() const { return batches; }
  void restore(int) {}
};

static_assert(TrainableModel<RecordingModel>);

}  // namespace

TEST_CASE("trainer: the strong-generalisation protocol trains on val_train users only",
          "[train]") {
  StrongGeneralizationOptions split_options;
  split_options.seed = 3;
  const auto split = strong_generalization_split(recdiff::test::make_toy_data(), split_options);
  REQUIRE(!split.val_train_users.empty());
  REQUIRE(!split.valid_users.empty());

  for (const bool mask : {false, true}) {
    const StrongGeneralizationProtocol protocol(split, {mask});
    RecordingModel model;
    TrainerOptions options;
    options.max_epochs = 2;
    options.batch_size = 50;
    options.stopping = StoppingRule::recpack();
    options.eval = strong_generalization_eval_options();
    options.progress_metrics = {"calibrated_recall@20", "ndcg@100"};
    Trainer<RecordingModel> trainer(options, Progress::silent());
    const TrainResult result = trainer.fit(model, protocol);

    REQUIRE(model.train == &split.val_train);
    const auto n = split.val_train_users.size();
    REQUIRE(model.users.size() == 2 * n);
    for (std::size_t epoch = 0; epoch < 2; ++epoch) {
      std::vector<index_t> seen(model.users.begin() + static_cast<std::ptrdiff_t>(epoch * n),
                                model.users.begin() + static_cast<std::ptrdiff_t>((epoch + 1) * n));
      std::sort(seen.begin(), seen.end());
      CHECK(seen == split.val_train_users);
    }

    REQUIRE(result.evaluations == 2);
    const MetricSet valid = evaluate_strong_generalization(
        model, split, EvaluatedUsers::validation, strong_generalization_eval_options(),
        mask ? FoldInMasking::masked : FoldInMasking::unmasked);
    const MetricSet test = evaluate_strong_generalization(model, split, EvaluatedUsers::test);
    CHECK(result.best.valid.values() == valid.values());
    CHECK(result.best.test.values() == test.values());
    CHECK(result.best.valid.num_users() == static_cast<std::int64_t>(split.valid_users.size()));
    CHECK(result.best.test.num_users() == static_cast<std::int64_t>(split.test_users.size()));
    // The scorer puts the fold-in items on top: unmasked, they push every held-out item down.
    const MetricSet other = evaluate_strong_generalization(
        model, split, EvaluatedUsers::validation, strong_generalization_eval_options(),
        mask ? FoldInMasking::unmasked : FoldInMasking::masked);
    CHECK((mask ? valid.at("ndcg@20") > other.at("ndcg@20")
                : valid.at("ndcg@20") < other.at("ndcg@20")));
  }

  // The strong-generalisation cut-offs have no K = 10.
  RecordingModel model;
  TrainerOptions options;
  options.eval = strong_generalization_eval_options();
  options.stopping.metric = "ndcg@10";
  options.progress_metrics = {};
  Trainer<RecordingModel> trainer(options, Progress::silent());
  CHECK_THROWS_AS(trainer.fit(model, StrongGeneralizationProtocol(split)), std::invalid_argument);
  CHECK(model.batches == 0);
}
