// Popularity and EASE on ml-1m_clean under DiffRec's protocol, against the float64 reference
// numbers of an independent numpy implementation (docs/results.md) (test R@10, R@20, N@10,
// N@20).
#include <catch2/catch.hpp>

#include "support/shared_data.hpp"
#include <recdiff/baseline/ease.hpp>
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/data/diffrec_split.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>

using Catch::WithinAbs;

namespace {

// The reference values are rounded to 4 decimals; 5e-4 also leaves room for float scores.
constexpr double kTolerance = 5e-4;

recdiff::TrainValidTest load_ml1m() {
  const auto file = recdiff::test::require_shared_data("ml-1m_clean/train_list.npy");
  return recdiff::load_diffrec_split(file.parent_path());
}

recdiff::EvalOptions options() {
  recdiff::EvalOptions o;
  o.ks = {10, 20};
  return o;
}

}  // namespace

TEST_CASE("ml-1m_clean: Popularity matches the reference numbers", "[baseline][repro]") {
  const auto data = load_ml1m();
  REQUIRE(data.train.num_users() == 5949);
  REQUIRE(data.train.num_items() == 2810);
  recdiff::Popularity popularity;
  popularity.fit(data.train);
  const auto r = recdiff::evaluate_diffrec_protocol(popularity, data, options());
  INFO("valid\n" << r.valid << "test\n" << r.test);
  REQUIRE_THAT(r.test.at("recall@10"), WithinAbs(0.0535, kTolerance));
  REQUIRE_THAT(r.test.at("recall@20"), WithinAbs(0.0993, kTolerance));
  REQUIRE_THAT(r.test.at("ndcg@10"), WithinAbs(0.0587, kTolerance));
  REQUIRE_THAT(r.test.at("ndcg@20"), WithinAbs(0.0721, kTolerance));
  REQUIRE_THAT(r.valid.at("recall@20"), WithinAbs(0.0793, kTolerance));
}

TEST_CASE("ml-1m_clean: EASE (lambda 1000) matches the reference numbers", "[baseline][repro]") {
  const auto data = load_ml1m();
  recdiff::Ease ease;
  ease.fit(data.train, 1000.0);
  const auto r = recdiff::evaluate_diffrec_protocol(ease, data, options());
  INFO("valid\n" << r.valid << "test\n" << r.test);
  REQUIRE_THAT(r.test.at("recall@10"), WithinAbs(0.1066, kTolerance));
  REQUIRE_THAT(r.test.at("recall@20"), WithinAbs(0.1816, kTolerance));
  REQUIRE_THAT(r.test.at("ndcg@10"), WithinAbs(0.0910, kTolerance));
  REQUIRE_THAT(r.test.at("ndcg@20"), WithinAbs(0.1165, kTolerance));
  REQUIRE_THAT(r.valid.at("recall@20"), WithinAbs(0.1180, kTolerance));
}
