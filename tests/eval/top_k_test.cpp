#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/eval/top_k.hpp>

using recdiff::index_t;
using recdiff::top_k;
using V = std::vector<index_t>;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
}

TEST_CASE("TopK: best first, excluded items skipped", "[eval][topk]") {
  const std::vector<float> s{0.1f, 0.9f, 0.5f, 0.7f, 0.3f};
  REQUIRE(top_k(s, 3) == V{1, 3, 2});
  const V excluded{3};
  REQUIRE(top_k(s, 3, excluded) == V{1, 2, 4});
  REQUIRE(top_k(s, 0).empty());
}

TEST_CASE("TopK: ties go to the lower item id", "[eval][topk]") {
  const std::vector<float> s{0.5f, 0.7f, 0.5f, 0.7f, 0.5f, 0.2f};
  REQUIRE(top_k(s, 6) == V{1, 3, 0, 2, 4, 5});
  REQUIRE(top_k(s, 3) == V{1, 3, 0});
  const std::vector<float> flat(8, 1.0f);
  REQUIRE(top_k(flat, 4) == V{0, 1, 2, 3});
}

TEST_CASE("TopK: -inf and NaN are never returned; K beyond the eligible items", "[eval][topk]") {
  const std::vector<float> s{-kInf, 2.0f, std::nanf(""), -5.0f, kInf};
  REQUIRE(top_k(s, 10) == V{4, 1, 3});
  const V all{0, 1, 2, 3, 4};
  REQUIRE(top_k(s, 3, all).empty());
  const std::vector<float> none(4, -kInf);
  REQUIRE(top_k(none, 2).empty());
}

TEST_CASE("TopK: a reused selector forgets the previous exclusions", "[eval][topk]") {
  recdiff::TopK selector(4);
  const std::vector<float> s{4, 3, 2, 1};
  const V ex{0, 1};
  selector.exclude(ex);
  auto first = selector.select(s, 2);
  REQUIRE(V(first.begin(), first.end()) == V{2, 3});
  auto second = selector.select(s, 2);
  REQUIRE(V(second.begin(), second.end()) == V{0, 1});
}

TEST_CASE("TopK: equals a full stable sort on random rows with many ties", "[eval][topk]") {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    const index_t n = 1 + static_cast<index_t>(rng() % 300);
    std::vector<float> s(static_cast<std::size_t>(n));
    for (auto& x : s) x = static_cast<float>(rng() % 17);  // few distinct values: many ties
    V excluded;
    for (index_t i = 0; i < n; ++i)
      if (rng() % 5 == 0) excluded.push_back(i);
    V reference;
    for (index_t i = 0; i < n; ++i)
      if (std::find(excluded.begin(), excluded.end(), i) == excluded.end()) reference.push_back(i);
    std::stable_sort(reference.begin(), reference.end(), [&](index_t a, index_t b) {
      return s[static_cast<std::size_t>(a)] > s[static_cast<std::size_t>(b)];
    });
    const index_t k = 1 + static_cast<index_t>(rng() % 120);
    if (static_cast<std::size_t>(k) < reference.size())
      reference.resize(static_cast<std::size_t>(k));
    REQUIRE(top_k(s, k, excluded) == reference);
  }
}

TEST_CASE("TopK: bad arguments throw", "[eval][topk]") {
  recdiff::TopK selector(3);
  const std::vector<float> s{1, 2, 3};
  const std::vector<float> wrong{1, 2};
  REQUIRE_THROWS_AS(selector.select(s, -1), std::invalid_argument);
  REQUIRE_THROWS_WITH(selector.select(s, -1), Catch::Contains("k must be >= 0, got -1"));
  REQUIRE_THROWS_AS(selector.select(wrong, 1), std::invalid_argument);
  REQUIRE_THROWS_WITH(selector.select(wrong, 1), Catch::Contains("2 entries, expected 3"));
}
