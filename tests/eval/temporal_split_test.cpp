#include <algorithm>
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include <recdiff/eval/temporal_split.hpp>

using recdiff::index_t;
using recdiff::InteractionBuilder;
using recdiff::InteractionMatrix;
using V = std::vector<index_t>;

namespace {
V row(const InteractionMatrix& m, index_t u) {
  const auto r = m.items_of(u);
  return {r.begin(), r.end()};
}
}  // namespace

TEST_CASE("temporal_split: hand example, latest slice is valid", "[eval][split]") {
  // User 0: 10 interactions given in reverse time order (item k at time 100 - k).
  // train = floor(7) + 1 = 8 earliest, train + test = floor(8) + 1 = 9, valid = the last 1.
  InteractionBuilder b;
  for (index_t k = 0; k < 10; ++k) b.add(0, k, 4.0f, 100 - k);
  b.add(1, 3, 5.0f, 7);  // n = 1: train gets floor(0.7) + 1 = 1, nothing else
  // User 2: n = 4 with a tie: floor(2.8) + 1 = 3 train, floor(3.2) + 1 = 4 -> 1 test, 0 valid.
  b.add(2, 0, 1.0f, 50);
  b.add(2, 1, 1.0f, 20);
  b.add(2, 2, 1.0f, 20);
  b.add(2, 3, 1.0f, 10);
  const auto data = b.build(4, 10);  // user 3 has no interaction
  const auto s = recdiff::temporal_split(data);
  REQUIRE(row(s.train, 0) == V{9, 8, 7, 6, 5, 4, 3, 2});
  REQUIRE(row(s.test, 0) == V{1});
  REQUIRE(row(s.valid, 0) == V{0});
  REQUIRE(row(s.train, 1) == V{3});
  REQUIRE(row(s.test, 1).empty());
  REQUIRE(row(s.train, 2) == V{3, 1, 2});  // the tie keeps input order
  REQUIRE(row(s.test, 2) == V{0});
  REQUIRE(row(s.valid, 2).empty());
  REQUIRE(s.train.num_users() == 4);
  REQUIRE(s.valid.num_items() == 10);
  REQUIRE(s.train.row_size(3) == 0);
  REQUIRE(s.train.ratings_of(0)[0] == 4.0f);
  REQUIRE(s.train.timestamps_of(0)[0] == 91);
}

TEST_CASE("temporal_split: sizes, disjointness and time order on toy data", "[eval][split]") {
  const auto data = recdiff::test::make_toy_data();
  const auto s = recdiff::temporal_split(data);
  REQUIRE(s.train.nnz() + s.test.nnz() + s.valid.nnz() == data.nnz());
  for (index_t u = 0; u < data.num_users(); ++u) {
    const auto n = static_cast<double>(data.row_size(u));
    const auto n_train = static_cast<std::int64_t>(std::floor(0.7 * n)) + 1;
    const auto n_train_test = static_cast<std::int64_t>(std::floor(0.8 * n)) + 1;
    REQUIRE(s.train.row_size(u) == n_train);
    REQUIRE(s.test.row_size(u) == n_train_test - n_train);
    REQUIRE(s.valid.row_size(u) == data.row_size(u) - n_train_test);
    V all = row(s.train, u);
    for (const index_t i : row(s.test, u)) all.push_back(i);
    for (const index_t i : row(s.valid, u)) all.push_back(i);
    V original = row(data, u);
    std::sort(all.begin(), all.end());
    std::sort(original.begin(), original.end());
    REQUIRE(all == original);  // a partition: no item in two parts, none lost
    const auto t = s.train.timestamps_of(u);
    REQUIRE(std::is_sorted(t.begin(), t.end()));
    const auto tt = s.test.timestamps_of(u);
    const auto tv = s.valid.timestamps_of(u);
    if (!tt.empty()) REQUIRE(t.back() <= tt.front());
    if (!tv.empty()) REQUIRE((tt.empty() ? t.back() : tt.back()) <= tv.front());
  }
}

TEST_CASE("temporal_split: seeded tie shuffling only permutes equal timestamps", "[eval][split]") {
  InteractionBuilder b;
  for (index_t k = 0; k < 20; ++k) b.add(0, k, 1.0f, k < 10 ? 5 : 9);
  const auto data = b.build();
  recdiff::TemporalSplitOptions options;
  options.ties = recdiff::TimestampTies::shuffle;
  options.seed = 11;
  const auto a = recdiff::temporal_split(data, options);
  const auto again = recdiff::temporal_split(data, options);
  REQUIRE(a.train == again.train);
  options.seed = 12;
  const auto other = recdiff::temporal_split(data, options);
  // train = floor(14) + 1 = 15: all of the time-5 block, then 5 of the time-9 block.
  V first_ten = row(a.train, 0);
  first_ten.resize(10);
  std::sort(first_ten.begin(), first_ten.end());
  REQUIRE(first_ten == V{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  REQUIRE(row(a.train, 0) != V{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
  REQUIRE(row(a.train, 0) != row(other.train, 0));
}

TEST_CASE("temporal_split: missing timestamps and bad fractions throw", "[eval][split]") {
  const auto plain = recdiff::test::matrix_from_rows({{0, 1}}, 2);
  REQUIRE_THROWS_AS(recdiff::temporal_split(plain), std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::temporal_split(plain), Catch::Contains("has no timestamps"));
  const auto data = recdiff::test::make_toy_data();
  recdiff::TemporalSplitOptions options;
  options.train_fraction = 0.9;
  options.train_test_fraction = 0.8;
  REQUIRE_THROWS_AS(recdiff::temporal_split(data, options), std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::temporal_split(data, options),
                      Catch::Contains("0 <= train <= train+test < 1, got 0.900000 and 0.800000"));
}
