#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include <recdiff/eval/evaluator.hpp>

using Catch::WithinAbs;
using recdiff::Averaging;
using recdiff::EvalOptions;
using recdiff::EvalTask;
using recdiff::Evaluator;
using recdiff::index_t;
using recdiff::InteractionMatrix;
using recdiff::ScoreMatrix;
using recdiff::test::matrix_from_rows;

namespace {

// Returns rows of a fixed users x items table and counts its calls.
struct TableScorer {
  ScoreMatrix table;
  int calls = 0;
  void score(const InteractionMatrix&, std::span<const index_t> users, ScoreMatrix& out) {
    ++calls;
    out.resize(static_cast<Eigen::Index>(users.size()), table.cols());
    for (std::size_t b = 0; b < users.size(); ++b)
      out.row(static_cast<Eigen::Index>(b)) = table.row(users[b]);
  }
};

TableScorer random_scorer(index_t users, index_t items, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  TableScorer s;
  s.table.resize(users, items);
  // Few distinct values, so that tie-breaking is exercised too.
  for (Eigen::Index i = 0; i < s.table.size(); ++i)
    s.table.data()[i] = static_cast<float>(rng() % 64) / 64.0f;
  return s;
}

}  // namespace

TEST_CASE("Evaluator: hand-computed averages under both averaging rules", "[eval][evaluator]") {
  // 3 users x 5 items. Scores rank items 4 3 2 1 0 for everyone.
  TableScorer scorer;
  scorer.table.resize(3, 5);
  for (int u = 0; u < 3; ++u) scorer.table.row(u) << 0.0f, 0.1f, 0.2f, 0.3f, 0.4f;
  const auto train = matrix_from_rows({{4}, {0}, {3}}, 5);
  const auto target = matrix_from_rows({{3, 0}, {4}, {}}, 5);
  // Ranked lists after masking: u0: 3 2 1 0; u1: 4 3 2 1; u2: 4 2 1 0.
  // K = 2: u0 hits {3} at rank 0 (n=2): recall .5, ndcg 1/(1+1/log2 3), precision .5, mrr 1.
  //        u1 hits {4} at rank 0 (n=1): recall 1, ndcg 1, precision .5, mrr 1.  u2: no target.
  EvalOptions options;
  options.ks = {2};
  const Evaluator evaluator(options);
  const EvalTask all{{train}, target, Averaging::all_users};
  const EvalTask nonempty{{train}, target, Averaging::users_with_targets};
  const std::vector<EvalTask> tasks{all, nonempty};
  const auto r = evaluator.evaluate(scorer, train, tasks);
  REQUIRE(scorer.calls == 1);
  const double ndcg0 = 1.0 / (1.0 + 1.0 / std::log2(3.0));
  REQUIRE(r[0].num_users() == 3);
  REQUIRE_THAT(r[0].at("recall@2"), WithinAbs(1.5 / 3, 1e-15));
  REQUIRE_THAT(r[0].at("ndcg@2"), WithinAbs((ndcg0 + 1.0) / 3, 1e-15));
  REQUIRE_THAT(r[0].at("precision@2"), WithinAbs(1.0 / 3, 1e-15));
  REQUIRE_THAT(r[0].at("mrr@2"), WithinAbs(2.0 / 3, 1e-15));
  REQUIRE_THAT(r[0].at("hit_rate@2"), WithinAbs(2.0 / 3, 1e-15));
  REQUIRE_THAT(r[0].at("calibrated_recall@2"), WithinAbs(1.5 / 3, 1e-15));
  // Top-2 lists {3,2}, {4,3}, {4,2}: items 2, 3, 4 of 5.
  REQUIRE_THAT(r[0].at("coverage@2"), WithinAbs(0.6, 1e-15));
  REQUIRE(r[1].num_users() == 2);
  REQUIRE_THAT(r[1].at("recall@2"), WithinAbs(0.75, 1e-15));
  REQUIRE_THAT(r[1].at("ndcg@2"), WithinAbs((ndcg0 + 1.0) / 2, 1e-15));
  // Only u0 and u1 are averaged: top-2 lists {3,2} and {4,3}.
  REQUIRE_THAT(r[1].at("coverage@2"), WithinAbs(0.6, 1e-15));
  REQUIRE(r[0].size() == 7);
}

TEST_CASE("Evaluator: results are bit-identical across thread counts and batch sizes",
          "[eval][evaluator]") {
  recdiff::test::ToyDataOptions toy;
  toy.users = 157;
  toy.items = 90;
  const auto data = recdiff::test::make_toy_data(toy);
  auto scorer = random_scorer(toy.users, toy.items, 3);
  const auto targets = matrix_from_rows(std::vector<std::vector<index_t>>(157, {1, 2, 80}), 90);
  const std::vector<EvalTask> tasks{{{data}, targets, Averaging::all_users},
                                    {{}, targets, Averaging::users_with_targets}};
  EvalOptions reference_options;
  reference_options.num_threads = 1;
  reference_options.batch_size = 1024;
  const auto reference = Evaluator(reference_options).evaluate(scorer, data, tasks);
  for (const int threads : {1, 2, 3}) {
    for (const index_t batch : {1, 7, 64, 1024}) {
      EvalOptions options;
      options.num_threads = threads;
      options.batch_size = batch;
      scorer.calls = 0;
      const auto r = Evaluator(options).evaluate(scorer, data, tasks);
      REQUIRE(scorer.calls == (157 + batch - 1) / batch);
      for (std::size_t t = 0; t < tasks.size(); ++t)
        REQUIRE(r[t].values() == reference[t].values());  // exact: same bits required
    }
  }
  REQUIRE(reference[0].at("recall@10") > 0.0);
}

TEST_CASE("Evaluator: user subset, progress callback and masks of several matrices",
          "[eval][evaluator]") {
  TableScorer scorer;
  scorer.table.resize(4, 4);
  for (int u = 0; u < 4; ++u) scorer.table.row(u) << 0.4f, 0.3f, 0.2f, 0.1f;
  const auto mask_a = matrix_from_rows({{0}, {}, {0}, {}}, 4);
  const auto mask_b = matrix_from_rows({{1}, {}, {}, {}}, 4);
  const auto target = matrix_from_rows({{2}, {2}, {1}, {3}}, 4);
  EvalOptions options;
  options.ks = {1};
  options.batch_size = 1;
  std::vector<std::pair<index_t, index_t>> progress;
  options.progress = [&](index_t done, index_t total) { progress.emplace_back(done, total); };
  const Evaluator evaluator(options);
  const EvalTask task{{mask_a, mask_b}, target, Averaging::all_users};
  const std::vector<index_t> users{2, 0};
  // u2 ranks 1 first (item 0 masked): hit. u0 ranks 2 first (0 and 1 masked): hit.
  const auto r = evaluator.evaluate(scorer, target, task, std::span<const index_t>(users));
  REQUIRE(r.num_users() == 2);
  REQUIRE(r.at("recall@1") == 1.0);
  REQUIRE(progress == std::vector<std::pair<index_t, index_t>>{{1, 2}, {2, 2}});
  const auto none = evaluator.evaluate(scorer, target, task, std::span<const index_t>());
  REQUIRE(none.num_users() == 0);
  REQUIRE(none.at("recall@1") == 0.0);
}

TEST_CASE("Evaluator: bad options, shapes, users and scores throw", "[eval][evaluator]") {
  EvalOptions bad_k;
  bad_k.ks = {10, 0};
  REQUIRE_THROWS_AS(Evaluator(bad_k), std::invalid_argument);
  REQUIRE_THROWS_WITH(Evaluator(bad_k), Catch::Contains("every K must be >= 1, got 0"));
  EvalOptions no_k;
  no_k.ks = {};
  REQUIRE_THROWS_WITH(Evaluator(no_k), Catch::Contains("ks must not be empty"));
  EvalOptions bad_batch;
  bad_batch.batch_size = 0;
  REQUIRE_THROWS_AS(Evaluator(bad_batch), std::invalid_argument);
  REQUIRE_THROWS_WITH(Evaluator(bad_batch), Catch::Contains("batch_size must be >= 1, got 0"));
  EvalOptions bad_threads;
  bad_threads.num_threads = -2;
  REQUIRE_THROWS_AS(Evaluator(bad_threads), std::invalid_argument);
  REQUIRE_THROWS_WITH(Evaluator(bad_threads), Catch::Contains("num_threads must be >= 0, got -2"));

  auto scorer = random_scorer(2, 3, 1);
  const auto input = matrix_from_rows({{0}, {1}}, 3);
  const auto wide = matrix_from_rows({{0}, {1}}, 4);
  const Evaluator evaluator;
  const EvalTask wrong_target{{input}, wide, Averaging::all_users};
  REQUIRE_THROWS_AS(evaluator.evaluate(scorer, input, wrong_target), std::invalid_argument);
  REQUIRE_THROWS_WITH(evaluator.evaluate(scorer, input, wrong_target),
                      Catch::Contains("task 0 targets is 2 x 4, expected the input's shape 2 x 3"));
  const EvalTask wrong_mask{{wide}, input, Averaging::all_users};
  REQUIRE_THROWS_WITH(evaluator.evaluate(scorer, input, wrong_mask),
                      Catch::Contains("task 0 mask 0 is 2 x 4"));
  REQUIRE_THROWS_WITH(evaluator.evaluate(scorer, input, std::span<const EvalTask>()),
                      Catch::Contains("no task given"));

  const EvalTask task{{input}, input, Averaging::all_users};
  const std::vector<index_t> outside{0, 2};
  REQUIRE_THROWS_AS(evaluator.evaluate(scorer, input, task, std::span<const index_t>(outside)),
                    std::out_of_range);
  REQUIRE_THROWS_WITH(evaluator.evaluate(scorer, input, task, std::span<const index_t>(outside)),
                      Catch::Contains("user 2 outside [0, 2)"));

  scorer.table(1, 2) = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_AS(evaluator.evaluate(scorer, input, task), recdiff::NumericalError);
  REQUIRE_THROWS_WITH(evaluator.evaluate(scorer, input, task), Catch::Contains("NaN for user 1"));

  struct ShortScorer {
    void score(const InteractionMatrix&, std::span<const index_t>, ScoreMatrix& out) const {
      out.resize(1, 3);
    }
  } short_scorer;
  REQUIRE_THROWS_AS(evaluator.evaluate(short_scorer, input, task), std::invalid_argument);
  REQUIRE_THROWS_WITH(evaluator.evaluate(short_scorer, input, task),
                      Catch::Contains("returned 1 x 3 scores, expected 2 x 3"));
}
