// Evaluation protocols: the metric names they report, DiffRecProtocol and the fold-in masking of
// the strong-generalisation evaluation.
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/evaluator.hpp>
#include <recdiff/eval/protocol.hpp>
#include <recdiff/eval/strong_generalization.hpp>
#include <recdiff/eval/strong_generalization_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>

using namespace recdiff;

namespace {

// Ranks items by id (item 0 best), the input row's items above all others.
struct InputFirstScorer {
  void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out) {
    out.resize(static_cast<Eigen::Index>(users.size()), input.num_items());
    for (std::size_t b = 0; b < users.size(); ++b) {
      const auto row = static_cast<Eigen::Index>(b);
      for (index_t i = 0; i < input.num_items(); ++i) out(row, i) = -static_cast<float>(i);
      for (const index_t i : input.items_of(users[b])) out(row, i) += 1000.0f;
    }
  }
};

}  // namespace

TEST_CASE("protocol: metric names come from the evaluator", "[eval][protocol]") {
  CHECK(evaluator_metric_bases() ==
        std::vector<std::string>{"recall", "calibrated_recall", "ndcg", "precision", "mrr",
                                 "hit_rate", "coverage"});
  const std::vector<index_t> ks{5, 20};
  const auto names = metric_names(ks);
  REQUIRE(names.size() == 14);
  CHECK(names.front() == "recall@5");
  CHECK(names.back() == "coverage@20");
  // Every name is in the evaluator's result, and nothing else is.
  const auto data = temporal_split(recdiff::test::make_toy_data());
  InputFirstScorer scorer;
  EvalOptions options;
  options.ks = ks;
  const auto result = DiffRecProtocol(data).evaluate(scorer, options);
  REQUIRE(result.valid.size() == names.size());
  for (const auto& name : names) CHECK(result.valid.contains(name));

  CHECK_NOTHROW(require_metric("ndcg@20", ks, "test"));
  CHECK_NOTHROW(require_metric("coverage@5", ks, "test"));
  for (const char* bad : {"ndcg@10", "foo@5", "ndcg", "ndcg@", "ndcg@-5", "ndcg@5a", "@5"})
    CHECK_THROWS_AS(require_metric(bad, ks, "test"), std::invalid_argument);
  try {
    require_metric("ndcg@10", ks, "who");
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    CHECK(what.rfind("who: metric \"ndcg@10\"", 0) == 0);
    CHECK(what.find("K = 5, 20") != std::string::npos);
  }
}

TEST_CASE("protocol: DiffRecProtocol is evaluate_diffrec_protocol over all users",
          "[eval][protocol]") {
  const auto data = temporal_split(recdiff::test::make_toy_data());
  const DiffRecProtocol protocol(data);
  CHECK(&protocol.train_matrix() == &data.train);
  REQUIRE(static_cast<index_t>(protocol.train_users().size()) == data.train.num_users());
  for (index_t u = 0; u < data.train.num_users(); ++u)
    CHECK(protocol.train_users()[static_cast<std::size_t>(u)] == u);
  EvalOptions options;
  CHECK(protocol.cutoffs(options) == options.ks);
  InputFirstScorer scorer;
  const auto a = protocol.evaluate(scorer, options);
  const auto b = evaluate_diffrec_protocol(scorer, data, options);
  CHECK(a.valid.values() == b.valid.values());
  CHECK(a.test.values() == b.test.values());
}

TEST_CASE("protocol: unmasked strong-generalisation validation keeps fold-in items ranked",
          "[eval][protocol]") {
  StrongGeneralizationOptions split_options;
  split_options.seed = 5;
  const auto split = strong_generalization_split(recdiff::test::make_toy_data(), split_options);
  InputFirstScorer scorer;
  const EvalOptions options = strong_generalization_eval_options();
  const MetricSet unmasked = evaluate_strong_generalization(
      scorer, split, EvaluatedUsers::validation, options, FoldInMasking::unmasked);
  const EvalTask task{{}, split.valid_held_out, Averaging::users_with_targets};
  const MetricSet expected = Evaluator(options).evaluate(
      scorer, split.valid_fold_in, task, std::span<const index_t>(split.valid_users));
  CHECK(unmasked.values() == expected.values());
  // With the fold-in items on top, masking them can only help.
  const MetricSet masked =
      evaluate_strong_generalization(scorer, split, EvaluatedUsers::validation, options);
  CHECK(masked.at("ndcg@20") > unmasked.at("ndcg@20"));

  // The protocol: RecPack's default leaves validation unmasked, test is always masked.
  const StrongGeneralizationProtocol protocol(split);
  CHECK_FALSE(protocol.options().mask_validation_fold_in);
  CHECK(&protocol.train_matrix() == &split.val_train);
  CHECK(std::vector<index_t>(protocol.train_users().begin(), protocol.train_users().end()) ==
        split.val_train_users);
  const auto round = protocol.evaluate(scorer, options);
  CHECK(round.valid.values() == unmasked.values());
  CHECK(round.test.values() ==
        evaluate_strong_generalization(scorer, split, EvaluatedUsers::test, options).values());
  const StrongGeneralizationProtocol masking(split, {true});
  CHECK(masking.evaluate(scorer, options).valid.values() == masked.values());
}
