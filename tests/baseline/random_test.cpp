#include <algorithm>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/baseline/random.hpp>
#include <recdiff/eval/diffrec_protocol.hpp>
#include <recdiff/eval/temporal_split.hpp>

using recdiff::index_t;
using recdiff::ScoreMatrix;

namespace {

std::vector<index_t> all_users(index_t n) {
  std::vector<index_t> users(static_cast<std::size_t>(n));
  std::iota(users.begin(), users.end(), 0);
  return users;
}

// Scores of every user of `data`, computed in batches of `batch` users.
ScoreMatrix scores_in_batches(const recdiff::Random& model, const recdiff::InteractionMatrix& data,
                              std::size_t batch) {
  const auto users = all_users(data.num_users());
  ScoreMatrix all(data.num_users(), data.num_items());
  ScoreMatrix part;
  for (std::size_t begin = 0; begin < users.size(); begin += batch) {
    const std::size_t n = std::min(batch, users.size() - begin);
    model.score(data, std::span<const index_t>(users.data() + begin, n), part);
    all.middleRows(static_cast<Eigen::Index>(begin), static_cast<Eigen::Index>(n)) = part;
  }
  return all;
}

}  // namespace

TEST_CASE("Random: k positive scores per user, only for training items",
          "[baseline][random]") {
  // 400 items of which only the even ones below 300 occur in training.
  recdiff::test::ToyDataOptions toy;
  toy.users = 50;
  toy.items = 150;
  toy.min_items = 5;
  toy.max_items = 40;
  auto rows = std::vector<std::vector<index_t>>{};
  const auto base = recdiff::test::make_toy_data(toy);
  for (index_t u = 0; u < base.num_users(); ++u) {
    std::vector<index_t> row;
    for (const index_t i : base.items_of(u)) row.push_back(2 * i);
    rows.push_back(row);
  }
  const auto train = recdiff::test::matrix_from_rows(rows, 400);
  const auto counts = train.item_counts();
  const auto candidates = std::count_if(counts.begin(), counts.end(), [](auto c) { return c > 0; });
  REQUIRE(candidates > 20);

  recdiff::Random model(20, 5);
  model.fit(train);
  REQUIRE(static_cast<std::ptrdiff_t>(model.candidates().size()) == candidates);
  const ScoreMatrix s = scores_in_batches(model, train, 64);
  for (Eigen::Index u = 0; u < s.rows(); ++u) {
    int nonzero = 0;
    for (Eigen::Index i = 0; i < s.cols(); ++i) {
      const float v = s(u, i);
      REQUIRE(v >= 0.0f);
      REQUIRE(v <= 1.0f);
      if (v > 0) {
        ++nonzero;
        REQUIRE(counts[static_cast<std::size_t>(i)] > 0);  // never an item absent from training
      }
    }
    REQUIRE(nonzero == 20);
  }
  // Users differ.
  REQUIRE(s.row(0) != s.row(1));

  // Fewer candidates than k: every candidate scores.
  recdiff::Random wide(1000, 5);
  wide.fit(train);
  const ScoreMatrix w = scores_in_batches(wide, train, 7);
  for (Eigen::Index u = 0; u < w.rows(); ++u) REQUIRE((w.row(u).array() > 0).count() == candidates);
}

TEST_CASE("Random: reproducible, independent of the batch, seeded", "[baseline][random]") {
  const auto data = recdiff::test::make_toy_data();
  recdiff::Random a(200, 3), b(200, 3), c(200, 4);
  a.fit(data);
  b.fit(data);
  c.fit(data);
  const ScoreMatrix one = scores_in_batches(a, data, 1);
  const ScoreMatrix big = scores_in_batches(b, data, 1000);
  const ScoreMatrix odd = scores_in_batches(a, data, 37);
  REQUIRE(one == big);
  REQUIRE(one == odd);
  REQUIRE(scores_in_batches(c, data, 64) != one);
  // Scores depend on the user id, not on the row's position in the batch.
  const std::vector<index_t> users{17, 3};
  ScoreMatrix pair;
  a.score(data, users, pair);
  REQUIRE(pair.row(0) == one.row(17));
  REQUIRE(pair.row(1) == one.row(3));
  // The 120 toy items all occur: every user keeps all of them (k = 200 > 120).
  REQUIRE((one.array() > 0).count() == one.size());
}

TEST_CASE("Random: about the recall of chance, below Popularity", "[baseline][random]") {
  const auto split = recdiff::temporal_split(recdiff::test::make_toy_data());
  recdiff::Random random(200, 1);
  random.fit(split.train);
  recdiff::Popularity popularity;
  popularity.fit(split.train);
  recdiff::EvalOptions options;
  options.ks = {20};
  const auto r = recdiff::evaluate_diffrec_protocol(random, split, options);
  const auto p = recdiff::evaluate_diffrec_protocol(popularity, split, options);
  INFO("Random test recall@20 " << r.test.at("recall@20") << ", Popularity "
                                << p.test.at("recall@20"));
  REQUIRE(r.test.at("recall@20") > 0.0);
  REQUIRE(r.test.at("recall@20") < p.test.at("recall@20"));
}

TEST_CASE("Random: misuse throws", "[baseline][random]") {
  REQUIRE_THROWS_AS(recdiff::Random(0), std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::Random(0), Catch::Contains("k must be >= 1"));
  recdiff::Random model;
  const auto data = recdiff::test::matrix_from_rows({{0, 1}}, 3);
  const std::vector<index_t> users{0};
  ScoreMatrix out;
  REQUIRE_THROWS_AS(model.score(data, users, out), std::logic_error);
  model.fit(data);
  const auto other = recdiff::test::matrix_from_rows({{0, 1}}, 4);
  REQUIRE_THROWS_AS(model.score(other, users, out), std::invalid_argument);
}
