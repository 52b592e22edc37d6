#include <catch2/catch.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <functional>
#include <vector>

#include <recdiff/data/synthetic.hpp>

using Catch::Contains;
using recdiff::InteractionMatrix;
using recdiff::SyntheticConfig;

namespace {

// Share of all interactions held by the 10% most frequent items.
double top_decile_share(const InteractionMatrix& m) {
  auto counts = m.item_counts();
  std::sort(counts.begin(), counts.end(), std::greater<>());
  std::int64_t top = 0;
  for (std::size_t i = 0; i < counts.size() / 10; ++i) top += counts[i];
  return static_cast<double>(top) / static_cast<double>(m.nnz());
}

}  // namespace

TEST_CASE("synthetic: the default dataset has the documented shape", "[data][synthetic]") {
  const InteractionMatrix m = recdiff::make_synthetic({});
  REQUIRE(m.num_users() == 2000);
  REQUIRE(m.num_items() == 1000);
  const double mean = static_cast<double>(m.nnz()) / 2000.0;
  REQUIRE(mean > 38.0);
  REQUIRE(mean < 42.0);
  REQUIRE_FALSE(m.has_timestamps());
  REQUIRE_FALSE(m.has_ratings());
  for (recdiff::index_t u = 0; u < m.num_users(); ++u) {
    REQUIRE(m.row_size(u) >= 1);
    std::vector<int> row(m.items_of(u).begin(), m.items_of(u).end());
    std::sort(row.begin(), row.end());
    REQUIRE(std::adjacent_find(row.begin(), row.end()) == row.end());  // drawn without replacement
  }
  // Power-law popularity: the top 10% of items hold far more than 10% of the interactions.
  REQUIRE(top_decile_share(m) > 0.3);
}

TEST_CASE("synthetic: deterministic in the seed", "[data][synthetic]") {
  SyntheticConfig c;
  c.users = 300;
  c.items = 200;
  c.mean_items_per_user = 10;
  c.timestamps = true;
  const InteractionMatrix a = recdiff::make_synthetic(c);
  REQUIRE(a == recdiff::make_synthetic(c));
  c.seed = 43;
  const InteractionMatrix b = recdiff::make_synthetic(c);
  REQUIRE_FALSE(a == b);
  REQUIRE(b.num_users() == 300);
  REQUIRE(b.num_items() == 200);
  // Timestamps strictly increase along each row.
  for (recdiff::index_t u = 0; u < a.num_users(); ++u) {
    const auto t = a.timestamps_of(u);
    REQUIRE(t.size() == a.items_of(u).size());
    for (std::size_t k = 1; k < t.size(); ++k) REQUIRE(t[k] > t[k - 1]);
  }
}

TEST_CASE("synthetic: without popularity or taste the items are uniform", "[data][synthetic]") {
  SyntheticConfig c;
  c.popularity_exponent = 0;
  c.taste_strength = 0;
  const double share = top_decile_share(recdiff::make_synthetic(c));
  // 1000 items, ~80K draws: every item gets ~80 +- 9, so the top 100 hold a little over 10%.
  REQUIRE(share > 0.10);
  REQUIRE(share < 0.13);
}

TEST_CASE("synthetic: tastes matter, so EASE clearly beats popularity", "[data][synthetic]") {
  SyntheticConfig c;
  c.users = 1000;
  c.items = 300;
  c.mean_items_per_user = 20;
  const InteractionMatrix m = recdiff::make_synthetic(c);
  const int users = m.num_users(), items = m.num_items();
  // Hold out one item per user (at a position varying with u), train on the rest.
  Eigen::MatrixXd x = Eigen::MatrixXd::Zero(users, items);
  std::vector<int> held(static_cast<std::size_t>(users));
  for (int u = 0; u < users; ++u) {
    const auto row = m.items_of(u);
    const std::size_t h = static_cast<std::size_t>(u * 7919) % row.size();
    held[static_cast<std::size_t>(u)] = row[h];
    for (std::size_t k = 0; k < row.size(); ++k)
      if (k != h) x(u, row[k]) = 1.0;
  }
  // EASE (Steck 2019): B = I - P diagMat(1 / diag(P)), P = (X^T X + lambda I)^-1.
  Eigen::MatrixXd gram = x.transpose() * x;
  gram.diagonal().array() += 100.0;
  const Eigen::MatrixXd p = gram.inverse();
  Eigen::MatrixXd b = -p * p.diagonal().cwiseInverse().asDiagonal();
  b.diagonal().setZero();
  const Eigen::MatrixXd ease = x * b;
  const Eigen::VectorXd popularity = x.colwise().sum().transpose();
  auto hit_at_20 = [&](int u, auto score) {
    const double target = score(held[static_cast<std::size_t>(u)]);
    int better = 0;
    for (int i = 0; i < items; ++i) better += x(u, i) == 0.0 && score(i) > target;
    return better < 20;
  };
  int ease_hits = 0, pop_hits = 0;
  for (int u = 0; u < users; ++u) {
    ease_hits += hit_at_20(u, [&](int i) { return ease(u, i); });
    pop_hits += hit_at_20(u, [&](int i) { return popularity(i); });
  }
  INFO("HR@20 EASE " << ease_hits / double(users) << ", popularity " << pop_hits / double(users));
  REQUIRE(ease_hits > 1.4 * pop_hits);
}

TEST_CASE("synthetic: invalid configurations are rejected", "[data][synthetic]") {
  SyntheticConfig c;
  c.users = 0;
  REQUIRE_THROWS_AS(recdiff::make_synthetic(c), std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::make_synthetic(c), Contains("users and items must be > 0, got 0 x 1000"));
  c = {};
  c.mean_items_per_user = 1001;
  REQUIRE_THROWS_WITH(recdiff::make_synthetic(c), Contains("mean_items_per_user must be in [1, items = 1000]"));
  c = {};
  c.latent_dim = 0;
  REQUIRE_THROWS_WITH(recdiff::make_synthetic(c), Contains("latent_dim must be > 0"));
  c = {};
  c.popularity_exponent = -1;
  REQUIRE_THROWS_WITH(recdiff::make_synthetic(c), Contains("popularity_exponent must be finite and >= 0"));
  c = {};
  c.taste_strength = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(recdiff::make_synthetic(c), Contains("taste_strength must be finite and >= 0"));
}
