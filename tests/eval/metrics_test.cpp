#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/eval/metrics.hpp>

using Catch::WithinAbs;
using recdiff::index_t;
using recdiff::ranking_metrics;
using V = std::vector<index_t>;

TEST_CASE("metrics: hand-computed values with fewer targets than K", "[eval][metrics]") {
  // Ranked 7 3 9 1 5; targets {3, 5}: hits at 0-based ranks 1 and 4.
  const V ranked{7, 3, 9, 1, 5};
  const V targets{5, 3};
  const auto m5 = ranking_metrics(ranked, targets, 5);
  const double idcg = 1.0 + 1.0 / std::log2(3.0);
  REQUIRE_THAT(m5.recall, WithinAbs(1.0, 1e-15));
  REQUIRE_THAT(m5.calibrated_recall, WithinAbs(1.0, 1e-15));
  REQUIRE_THAT(m5.ndcg, WithinAbs((1.0 / std::log2(3.0) + 1.0 / std::log2(6.0)) / idcg, 1e-15));
  REQUIRE_THAT(m5.precision, WithinAbs(0.4, 1e-15));
  REQUIRE_THAT(m5.mrr, WithinAbs(0.5, 1e-15));
  REQUIRE(m5.hit_rate == 1.0);

  const auto m2 = ranking_metrics(ranked, targets, 2);
  REQUIRE_THAT(m2.recall, WithinAbs(0.5, 1e-15));
  REQUIRE_THAT(m2.calibrated_recall, WithinAbs(0.5, 1e-15));
  REQUIRE_THAT(m2.ndcg, WithinAbs((1.0 / std::log2(3.0)) / idcg, 1e-15));
  REQUIRE_THAT(m2.precision, WithinAbs(0.5, 1e-15));

  const auto m1 = ranking_metrics(ranked, targets, 1);
  REQUIRE(m1.recall == 0.0);
  REQUIRE(m1.ndcg == 0.0);
  REQUIRE(m1.mrr == 0.0);
  REQUIRE(m1.hit_rate == 0.0);
}

TEST_CASE("metrics: recall and calibrated recall differ when targets exceed K", "[eval][metrics]") {
  // 4 targets, K = 2, both top items hit.
  const V ranked{0, 1, 2};
  const V targets{0, 1, 5, 6};
  const auto m = ranking_metrics(ranked, targets, 2);
  REQUIRE_THAT(m.recall, WithinAbs(0.5, 1e-15));             // 2 / n_u
  REQUIRE_THAT(m.calibrated_recall, WithinAbs(1.0, 1e-15));  // 2 / min(K, n_u)
  REQUIRE_THAT(m.ndcg, WithinAbs(1.0, 1e-15));               // IDCG over min(n_u, K) = 2
  REQUIRE_THAT(m.mrr, WithinAbs(1.0, 1e-15));
}

TEST_CASE("metrics: single hit at rank 2 gives NDCG 1/log2(3)", "[eval][metrics]") {
  const V ranked{4, 2, 8};
  const V targets{2};
  const auto m = ranking_metrics(ranked, targets, 3);
  REQUIRE_THAT(m.ndcg, WithinAbs(1.0 / std::log2(3.0), 1e-15));
  REQUIRE_THAT(m.ndcg, WithinAbs(0.6309297535714575, 1e-15));
  REQUIRE_THAT(m.precision, WithinAbs(1.0 / 3.0, 1e-15));
}

TEST_CASE("metrics: a list shorter than K counts the missing ranks as misses", "[eval][metrics]") {
  const V ranked{3};
  const V targets{3, 4};
  const auto m = ranking_metrics(ranked, targets, 10);
  REQUIRE_THAT(m.recall, WithinAbs(0.5, 1e-15));
  REQUIRE_THAT(m.precision, WithinAbs(0.1, 1e-15));  // divided by K, not by the list length
  REQUIRE_THAT(m.ndcg, WithinAbs(1.0 / (1.0 + 1.0 / std::log2(3.0)), 1e-15));
}

TEST_CASE("metrics: empty targets give zeros", "[eval][metrics]") {
  const V ranked{1, 2};
  const auto m = ranking_metrics(ranked, V{}, 2);
  REQUIRE(m.recall == 0.0);
  REQUIRE(m.calibrated_recall == 0.0);
  REQUIRE(m.ndcg == 0.0);
  REQUIRE(m.precision == 0.0);
  REQUIRE(m.mrr == 0.0);
  REQUIRE(m.hit_rate == 0.0);
}

TEST_CASE("metrics: hit flags and coverage", "[eval][metrics]") {
  REQUIRE(recdiff::hit_flags(V{5, 1, 2}, V{2, 5}) == std::vector<std::uint8_t>{1, 0, 1});
  const std::vector<V> lists{{0, 1, 2}, {0, 3, 4}};
  REQUIRE_THAT(recdiff::catalogue_coverage(lists, 10, 1), WithinAbs(0.1, 1e-15));
  REQUIRE_THAT(recdiff::catalogue_coverage(lists, 10, 2), WithinAbs(0.3, 1e-15));
  REQUIRE_THAT(recdiff::catalogue_coverage(lists, 10, 50), WithinAbs(0.5, 1e-15));
}

TEST_CASE("metrics: bad arguments throw", "[eval][metrics]") {
  const std::vector<std::uint8_t> hits{1};
  REQUIRE_THROWS_AS(ranking_metrics(hits, 1, 0), std::invalid_argument);
  REQUIRE_THROWS_WITH(ranking_metrics(hits, 1, 0), Catch::Contains("k must be >= 1, got 0"));
  REQUIRE_THROWS_AS(ranking_metrics(hits, -1, 1), std::invalid_argument);
  REQUIRE_THROWS_WITH(ranking_metrics(hits, -1, 1), Catch::Contains("num_targets must be >= 0"));
  const std::vector<V> lists{{0, 12}};
  REQUIRE_THROWS_AS(recdiff::catalogue_coverage(lists, 10, 2), std::out_of_range);
  REQUIRE_THROWS_WITH(recdiff::catalogue_coverage(lists, 10, 2), Catch::Contains("item 12"));
  REQUIRE_THROWS_AS(recdiff::catalogue_coverage(lists, 0, 2), std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::catalogue_coverage(lists, 0, 2), Catch::Contains("must be >= 1"));
}
