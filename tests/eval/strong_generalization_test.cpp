#include <algorithm>
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include <recdiff/baseline/popularity.hpp>
#include <recdiff/eval/strong_generalization.hpp>

using recdiff::index_t;
using recdiff::InteractionMatrix;
using recdiff::strong_generalization_split;
using recdiff::StrongGeneralizationOptions;
using V = std::vector<index_t>;

namespace {

V sorted_row(const InteractionMatrix& m, index_t u) {
  const auto r = m.items_of(u);
  V v(r.begin(), r.end());
  std::sort(v.begin(), v.end());
  return v;
}

// Every user has `n` interactions, so interaction shares equal user shares.
InteractionMatrix uniform_rows(index_t users, index_t n) {
  std::vector<std::vector<index_t>> rows(static_cast<std::size_t>(users));
  for (auto& r : rows)
    for (index_t i = 0; i < n; ++i) r.push_back(i);
  return recdiff::test::matrix_from_rows(rows, n);
}

}  // namespace

TEST_CASE("strong generalisation: user counts of the spec", "[eval][split]") {
  struct Case {
    index_t users, full, val_train, part;
  };
  for (const Case c :
       {Case{5949, 5354, 4759, 595}, Case{6040, 5436, 4832, 604}, Case{938, 844, 750, 94}}) {
    const auto s = strong_generalization_split(uniform_rows(c.users, 10));
    REQUIRE(static_cast<index_t>(s.full_train_users.size()) == c.full);
    REQUIRE(static_cast<index_t>(s.val_train_users.size()) == c.val_train);
    REQUIRE(static_cast<index_t>(s.valid_users.size()) == c.full - c.val_train);
    REQUIRE(static_cast<index_t>(s.test_users.size()) == c.part);
  }
}

TEST_CASE("strong generalisation: disjoint users, fold-in/held-out partition rows",
          "[eval][split]") {
  recdiff::test::ToyDataOptions toy;
  toy.min_items = 2;  // some users with n <= 4 have an empty held-out part and are dropped
  const auto data = recdiff::test::make_toy_data(toy);
  StrongGeneralizationOptions options;
  options.seed = 42;
  const auto s = strong_generalization_split(data, options);
  std::vector<int> part(static_cast<std::size_t>(data.num_users()), 0);
  for (const index_t u : s.val_train_users) part[static_cast<std::size_t>(u)] += 1;
  for (const index_t u : s.valid_users) part[static_cast<std::size_t>(u)] += 10;
  for (const index_t u : s.test_users) part[static_cast<std::size_t>(u)] += 100;
  for (const index_t u : s.full_train_users) REQUIRE(part[static_cast<std::size_t>(u)] <= 10);
  std::size_t dropped = 0;
  for (index_t u = 0; u < data.num_users(); ++u) {
    const int p = part[static_cast<std::size_t>(u)];
    REQUIRE((p == 0 || p == 1 || p == 10 || p == 100));  // no user in two parts
    const bool full = std::binary_search(s.full_train_users.begin(), s.full_train_users.end(), u);
    REQUIRE(sorted_row(s.full_train, u) == (full ? sorted_row(data, u) : V{}));
    REQUIRE(sorted_row(s.val_train, u) == (p == 1 ? sorted_row(data, u) : V{}));
    if (p == 10 || p == 100) {
      const auto& in = p == 10 ? s.valid_fold_in : s.test_fold_in;
      const auto& out = p == 10 ? s.valid_held_out : s.test_held_out;
      const auto n = static_cast<double>(data.row_size(u));
      REQUIRE(in.row_size(u) == static_cast<std::int64_t>(std::ceil(0.8 * n)));
      REQUIRE(out.row_size(u) > 0);
      V both = sorted_row(in, u);
      const V held = sorted_row(out, u);
      both.insert(both.end(), held.begin(), held.end());
      std::sort(both.begin(), both.end());
      REQUIRE(both == sorted_row(data, u));
      REQUIRE(std::adjacent_find(both.begin(), both.end()) == both.end());
    } else if (p == 0) {
      ++dropped;  // a test or validation user with n <= 4
      REQUIRE(data.row_size(u) <= 4);
      REQUIRE(s.test_fold_in.row_size(u) + s.valid_fold_in.row_size(u) == 0);
    }
  }
  REQUIRE(s.valid_users.size() + s.test_users.size() + dropped ==
          data.num_users() - s.val_train_users.size());
  REQUIRE(dropped > 0);
  REQUIRE(s.test_fold_in.num_users() == data.num_users());
}

TEST_CASE("strong generalisation: same seed same split, other seed other split", "[eval][split]") {
  const auto data = recdiff::test::make_toy_data();
  StrongGeneralizationOptions options;
  options.seed = 5;
  const auto a = strong_generalization_split(data, options);
  const auto b = strong_generalization_split(data, options);
  REQUIRE(a.test_users == b.test_users);
  REQUIRE(a.valid_users == b.valid_users);
  REQUIRE(a.test_fold_in == b.test_fold_in);
  REQUIRE(a.valid_held_out == b.valid_held_out);
  options.seed = 6;
  const auto c = strong_generalization_split(data, options);
  REQUIRE(a.test_users != c.test_users);
  REQUIRE(a.full_train != c.full_train);
}

TEST_CASE("strong generalisation: evaluation averages over the evaluated users", "[eval][split]") {
  const auto data = recdiff::test::make_toy_data();
  const auto s = strong_generalization_split(data);
  recdiff::Popularity popularity;
  popularity.fit(s.full_train);
  const auto test = recdiff::evaluate_strong_generalization(popularity, s);
  REQUIRE(test.num_users() == static_cast<std::int64_t>(s.test_users.size()));
  REQUIRE(test.contains("calibrated_recall@20"));
  REQUIRE(test.contains("calibrated_recall@50"));
  REQUIRE(test.contains("ndcg@100"));
  REQUIRE(test.at("calibrated_recall@20") >= test.at("recall@20"));
  REQUIRE(test.at("recall@20") > 0.0);
  const auto valid =
      recdiff::evaluate_strong_generalization(popularity, s, recdiff::EvaluatedUsers::validation);
  REQUIRE(valid.num_users() == static_cast<std::int64_t>(s.valid_users.size()));
}

TEST_CASE("strong generalisation: bad options throw", "[eval][split]") {
  const auto data = recdiff::test::make_toy_data();
  StrongGeneralizationOptions options;
  options.test_fraction = 0.6;
  options.validation_fraction = 0.5;
  REQUIRE_THROWS_AS(strong_generalization_split(data, options), std::invalid_argument);
  REQUIRE_THROWS_WITH(strong_generalization_split(data, options),
                      Catch::Contains("test + validation < 1, got 0.600000 and 0.500000"));
  options = {};
  options.fold_in_fraction = 1.0;
  REQUIRE_THROWS_AS(strong_generalization_split(data, options), std::invalid_argument);
  REQUIRE_THROWS_WITH(strong_generalization_split(data, options),
                      Catch::Contains("fold_in_fraction must be in (0, 1), got 1.000000"));
  options = {};
  options.max_attempts = 0;
  REQUIRE_THROWS_AS(strong_generalization_split(data, options), std::invalid_argument);
  REQUIRE_THROWS_WITH(strong_generalization_split(data, options),
                      Catch::Contains("max_attempts must be >= 1"));
}
