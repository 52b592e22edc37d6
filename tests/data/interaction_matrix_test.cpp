#include <catch2/catch.hpp>

#include <recdiff/data/interaction_matrix.hpp>

using recdiff::InteractionBuilder;
using recdiff::InteractionMatrix;

TEST_CASE("builder keeps the insertion order of each row", "[data]") {
  InteractionBuilder b;
  b.add(1, 5);
  b.add(0, 2);
  b.add(1, 0);
  b.add(1, 3);
  b.add(0, 1);
  const InteractionMatrix m = b.build();
  REQUIRE(m.num_users() == 2);
  REQUIRE(m.num_items() == 6);
  REQUIRE(m.nnz() == 5);
  const auto r0 = m.items_of(0);
  const auto r1 = m.items_of(1);
  REQUIRE(std::vector<int>(r0.begin(), r0.end()) == std::vector<int>{2, 1});
  REQUIRE(std::vector<int>(r1.begin(), r1.end()) == std::vector<int>{5, 0, 3});
  REQUIRE(m.contains(1, 3));
  REQUIRE_FALSE(m.contains(0, 3));
  REQUIRE(m.item_counts() == std::vector<std::int64_t>{1, 1, 1, 1, 0, 1});
}

TEST_CASE("builder drops repeated pairs on request, keeping the first", "[data]") {
  InteractionBuilder b;
  b.add(0, 2, 4.0f, 10);
  b.add(0, 1, 3.0f, 11);
  b.add(0, 2, 5.0f, 12);
  b.add(2, 2, 1.0f, 13);
  const auto m = b.build(4, 3, InteractionBuilder::Duplicates::keep_first);
  REQUIRE(m.num_users() == 4);
  REQUIRE(m.nnz() == 3);
  REQUIRE(m.ratings_of(0)[0] == 4.0f);
  REQUIRE(m.timestamps_of(0)[1] == 11);
  REQUIRE(m.row_size(1) == 0);
  REQUIRE(m.row_size(3) == 0);
}

TEST_CASE("invalid CSR arrays and shapes are rejected", "[data]") {
  REQUIRE_THROWS_AS(InteractionMatrix(2, 3, {0, 1}, {0}), std::invalid_argument);
  REQUIRE_THROWS_AS(InteractionMatrix(1, 3, {0, 1}, {3}), std::invalid_argument);
  REQUIRE_THROWS_AS(InteractionMatrix(1, 3, {0, 2}, {0}), std::invalid_argument);
  InteractionBuilder b;
  b.add(3, 3);
  REQUIRE_THROWS_AS(b.build(2, 5), std::invalid_argument);
  REQUIRE_THROWS_AS(b.add(-1, 0), std::invalid_argument);
}
