#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include <recdiff/data/transforms.hpp>

using Catch::Contains;
using recdiff::InteractionBuilder;
using recdiff::InteractionMatrix;

namespace {

template <class T>
std::vector<T> vec(std::span<const T> s) {
  return {s.begin(), s.end()};
}

}  // namespace

TEST_CASE("binarize keeps ratings >= threshold, drops the ratings, keeps order and timestamps",
          "[data][transforms]") {
  InteractionBuilder b;
  b.add(0, 3, 5.f, 100);
  b.add(0, 1, 3.5f, 101);
  b.add(1, 2, 4.f, 102);
  b.add(0, 0, 4.f, 103);
  b.add(2, 1, 1.f, 104);
  const InteractionMatrix m = b.build();
  const InteractionMatrix p = recdiff::binarize(m, 4.f);
  REQUIRE(p.num_users() == 3);
  REQUIRE(p.num_items() == 4);
  REQUIRE(p.nnz() == 3);
  REQUIRE_FALSE(p.has_ratings());
  REQUIRE(vec(p.items_of(0)) == std::vector<int>{3, 0});
  REQUIRE(vec(p.timestamps_of(0)) == std::vector<std::int64_t>{100, 103});
  REQUIRE(vec(p.items_of(1)) == std::vector<int>{2});
  REQUIRE(p.row_size(2) == 0);
  REQUIRE(recdiff::binarize(m, 3.5f).nnz() == 4);

  recdiff::RatingsData d{m, {}, {}};
  for (const char* id : {"u0", "u1", "u2"}) d.users.insert(id);
  const auto pd = recdiff::binarize(d, 4.f);
  REQUIRE(pd.matrix == p);
  REQUIRE(pd.users == d.users);

  InteractionBuilder plain;
  plain.add(0, 0);
  REQUIRE_THROWS_AS(recdiff::binarize(plain.build(), 4.f), std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::binarize(InteractionMatrix(), 4.f), Contains("recdiff::binarize: the matrix has no ratings"));
  REQUIRE_THROWS_AS(recdiff::binarize(m, std::numeric_limits<float>::quiet_NaN()), std::invalid_argument);
}

namespace {

// A chain that the iterative k-core (2, 2) peels in three rounds:
// item 3 has one user -> user 3 falls to one item -> item 2 falls to one user -> user 2 falls to one
// item. User 4 has no interaction at all. Only users 0, 1 and items 0, 1 survive.
InteractionMatrix chain() {
  InteractionBuilder b;
  const int pairs[][2] = {{0, 1}, {0, 0}, {1, 0}, {1, 1}, {2, 1}, {2, 2}, {3, 2}, {3, 3}};
  std::int64_t t = 0;
  for (const auto& p : pairs) b.add(p[0], p[1], static_cast<float>(p[1]) + 0.5f, t++);
  return b.build(5, 4);
}

}  // namespace

TEST_CASE("kcore iterates to a fixed point and re-indexes densely", "[data][transforms]") {
  const auto r = recdiff::kcore(chain(), 2, 2);
  REQUIRE(r.kept_users == std::vector<int>{0, 1});
  REQUIRE(r.kept_items == std::vector<int>{0, 1});
  REQUIRE(r.matrix.num_users() == 2);
  REQUIRE(r.matrix.num_items() == 2);
  REQUIRE(vec(r.matrix.items_of(0)) == std::vector<int>{1, 0});  // row order kept
  REQUIRE(vec(r.matrix.ratings_of(0)) == std::vector<float>{1.5f, 0.5f});
  REQUIRE(vec(r.matrix.timestamps_of(1)) == std::vector<std::int64_t>{2, 3});
}

TEST_CASE("kcore with one pass filters users once, then items once", "[data][transforms]") {
  // Users all have 2 items; the item pass drops item 3 only; user 3 keeps 1 item and is not
  // re-checked; user 4 (empty) goes.
  const auto r = recdiff::kcore(chain(), 2, 2, /*iterative=*/false);
  REQUIRE(r.kept_users == std::vector<int>{0, 1, 2, 3});
  REQUIRE(r.kept_items == std::vector<int>{0, 1, 2});
  REQUIRE(r.matrix.nnz() == 7);
  REQUIRE(vec(r.matrix.items_of(3)) == std::vector<int>{2});
}

TEST_CASE("kcore re-indexes ids of sparse columns and follows the IdMaps", "[data][transforms]") {
  InteractionBuilder b;
  b.add(1, 7);
  b.add(1, 4);
  b.add(3, 7);
  b.add(3, 4);
  b.add(3, 9);
  recdiff::RatingsData d{b.build(), {}, {}};
  for (int u = 0; u < 4; ++u) d.users.insert("user" + std::to_string(u));
  for (int i = 0; i < 10; ++i) d.items.insert("item" + std::to_string(i));
  const auto r = recdiff::kcore(d, 0, 2);
  REQUIRE(r.matrix.num_users() == 2);
  REQUIRE(r.matrix.num_items() == 2);
  REQUIRE(r.users.ids() == std::vector<std::string>{"user1", "user3"});
  REQUIRE(r.items.ids() == std::vector<std::string>{"item4", "item7"});
  REQUIRE(vec(r.matrix.items_of(0)) == std::vector<int>{1, 0});
  REQUIRE(vec(r.matrix.items_of(1)) == std::vector<int>{1, 0});
  // Minimums of 0 only drop what is empty.
  const auto all = recdiff::kcore(d.matrix, 0, 0);
  REQUIRE(all.matrix.nnz() == 5);
  REQUIRE(all.kept_items == std::vector<int>{4, 7, 9});
  REQUIRE_THROWS_AS(recdiff::kcore(d.matrix, -1, 2), std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::kcore(d.matrix, 1, -2), Contains("min_item -2"));
}
