#include <vector>

#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/eval/top_k.hpp>

using recdiff::index_t;
using recdiff::ScoreMatrix;

TEST_CASE("Popularity: count / max count for every user", "[baseline]") {
  // Item counts: 0 -> 3, 1 -> 1, 2 -> 0, 3 -> 3, 4 -> 2.
  const auto train = recdiff::test::matrix_from_rows({{0, 3}, {0, 4, 3}, {3, 0, 1, 4}}, 5);
  recdiff::Popularity popularity;
  popularity.fit(train);
  REQUIRE(popularity.item_scores() == std::vector<float>{1.0f, 1.0f / 3, 0.0f, 1.0f, 2.0f / 3});
  const std::vector<index_t> users{2, 0};
  ScoreMatrix out;
  popularity.score(train, users, out);
  REQUIRE(out.rows() == 2);
  REQUIRE(out.cols() == 5);
  REQUIRE(out.row(0) == out.row(1));
  REQUIRE(out(0, 4) == 2.0f / 3);
  // Equal counts of items 0 and 3: the lower id ranks first.
  const auto ranked = recdiff::top_k({out.row(0).data(), 5}, 5);
  REQUIRE(ranked == std::vector<index_t>{0, 3, 4, 1, 2});
}

TEST_CASE("Popularity: empty training data scores zero", "[baseline]") {
  const auto empty = recdiff::test::matrix_from_rows({{}, {}}, 3);
  recdiff::Popularity popularity;
  popularity.fit(empty);
  REQUIRE(popularity.item_scores() == std::vector<float>{0, 0, 0});
}

TEST_CASE("Popularity: misuse throws", "[baseline]") {
  const auto train = recdiff::test::matrix_from_rows({{0}}, 2);
  const auto wide = recdiff::test::matrix_from_rows({{0}}, 3);
  const std::vector<index_t> users{0};
  ScoreMatrix out;
  recdiff::Popularity popularity;
  REQUIRE_THROWS_AS(popularity.score(train, users, out), std::logic_error);
  REQUIRE_THROWS_WITH(popularity.score(train, users, out), Catch::Contains("before fit()"));
  popularity.fit(train);
  REQUIRE_THROWS_AS(popularity.score(wide, users, out), std::invalid_argument);
  REQUIRE_THROWS_WITH(popularity.score(wide, users, out),
                      Catch::Contains("input has 3 items, fitted on 2"));
}
