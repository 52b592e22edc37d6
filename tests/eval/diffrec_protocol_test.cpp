#include <vector>

#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include <recdiff/eval/diffrec_protocol.hpp>

using recdiff::index_t;
using recdiff::InteractionMatrix;
using recdiff::ScoreMatrix;
using recdiff::test::matrix_from_rows;

namespace {

// Ranks items by id (item 0 best) for everyone; records what it was fed.
struct ByIdScorer {
  int calls = 0;
  const InteractionMatrix* seen_input = nullptr;
  void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out) {
    ++calls;
    seen_input = &input;
    out.resize(static_cast<Eigen::Index>(users.size()), input.num_items());
    for (Eigen::Index b = 0; b < out.rows(); ++b)
      for (Eigen::Index i = 0; i < out.cols(); ++i) out(b, i) = -static_cast<float>(i);
  }
};

}  // namespace

TEST_CASE("DiffRec protocol: validation masks train only, test masks train + valid",
          "[eval][protocol]") {
  // User 0: train {0}, valid {2}, test {1}. User 1 has no valid/test items but counts in the mean.
  recdiff::TrainValidTest data;
  data.train = matrix_from_rows({{0}, {3}}, 6);
  data.valid = matrix_from_rows({{2}, {}}, 6);
  data.test = matrix_from_rows({{1}, {}}, 6);
  ByIdScorer scorer;
  recdiff::EvalOptions options;
  options.ks = {1, 2};
  const auto r = recdiff::evaluate_diffrec_protocol(scorer, data, options);
  REQUIRE(scorer.calls == 1);  // one scoring pass for both rounds
  REQUIRE(scorer.seen_input == &data.train);
  // Validation, user 0 ranks 1 2 3 ...: the test item 1 is not masked and takes rank 1.
  REQUIRE(r.valid.at("recall@1") == 0.0);
  REQUIRE(r.valid.at("recall@2") == 0.5);  // hit at rank 2, divided by both users
  REQUIRE(r.valid.num_users() == 2);
  // Test, user 0 ranks 1 3 4 ...: valid item 2 is masked, the test item is first.
  REQUIRE(r.test.at("recall@1") == 0.5);
  REQUIRE(r.test.at("ndcg@1") == 0.5);
  REQUIRE(r.test.num_users() == 2);
}

TEST_CASE("DiffRec protocol: a test item that is also a valid item can never be hit at test",
          "[eval][protocol]") {
  recdiff::TrainValidTest data;
  data.train = matrix_from_rows({{5}}, 6);
  data.valid = matrix_from_rows({{0}}, 6);
  data.test = matrix_from_rows({{0}}, 6);
  ByIdScorer scorer;
  recdiff::EvalOptions options;
  options.ks = {5};
  const auto r = recdiff::evaluate_diffrec_protocol(scorer, data, options);
  REQUIRE(r.valid.at("recall@5") == 1.0);
  REQUIRE(r.test.at("recall@5") == 0.0);
}
