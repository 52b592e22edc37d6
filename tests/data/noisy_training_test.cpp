// Noisy training data (DiffRec, Wang et al. SIGIR 2023, section 4.2.2): random false positives
// appended to the training rows, and the natural-noise split of a ratings matrix with timestamps.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <span>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "support/toy_data.hpp"
#include <recdiff/data/noisy_training.hpp>
#include <recdiff/data/transforms.hpp>
#include <recdiff/eval/temporal_split.hpp>

using Catch::Contains;
using recdiff::index_t;
using recdiff::InteractionBuilder;
using recdiff::InteractionMatrix;
using recdiff::TrainValidTest;

namespace {

template <class T>
std::vector<T> vec(std::span<const T> s) {
  return {s.begin(), s.end()};
}

TrainValidTest toy_split() { return recdiff::temporal_split(recdiff::test::make_toy_data()); }

// The added pairs (user, item) of `noisy` over `clean`, after checking that every row of noisy
// train starts with the clean row and that valid and test are unchanged.
std::vector<std::pair<index_t, index_t>> added_pairs(const TrainValidTest& clean,
                                                     const TrainValidTest& noisy) {
  REQUIRE(noisy.valid == clean.valid);
  REQUIRE(noisy.test == clean.test);
  REQUIRE(noisy.train.num_users() == clean.train.num_users());
  REQUIRE(noisy.train.num_items() == clean.train.num_items());
  std::vector<std::pair<index_t, index_t>> out;
  for (index_t u = 0; u < clean.train.num_users(); ++u) {
    const auto before = clean.train.items_of(u);
    const auto after = noisy.train.items_of(u);
    REQUIRE(after.size() >= before.size());
    REQUIRE(vec(after.first(before.size())) == vec(before));
    for (std::size_t k = before.size(); k < after.size(); ++k) out.emplace_back(u, after[k]);
  }
  return out;
}

}  // namespace

TEST_CASE("with_random_noise: round(fraction nnz) new pairs at the row ends, none in any split",
          "[data][noise]") {
  const TrainValidTest clean = toy_split();
  for (const double fraction : {0.1, 0.3, 0.5, 1.0}) {
    INFO("fraction " << fraction);
    const TrainValidTest noisy = recdiff::with_random_noise(clean, fraction, 7);
    const auto added = added_pairs(clean, noisy);
    const auto expected = std::llround(fraction * static_cast<double>(clean.train.nnz()));
    REQUIRE(static_cast<long long>(added.size()) == expected);
    REQUIRE(noisy.train.nnz() == clean.train.nnz() + expected);
    std::set<std::pair<index_t, index_t>> distinct(added.begin(), added.end());
    REQUIRE(distinct.size() == added.size());
    for (const auto& [u, i] : added) {
      REQUIRE(i >= 0);
      REQUIRE(i < clean.train.num_items());
      REQUIRE_FALSE(clean.train.contains(u, i));
      REQUIRE_FALSE(clean.valid.contains(u, i));
      REQUIRE_FALSE(clean.test.contains(u, i));
    }
    // The toy split has timestamps and ratings (all 1): the noise carries the user's latest
    // training timestamp and rating 0.
    REQUIRE(noisy.train.has_timestamps());
    REQUIRE(noisy.train.has_ratings());
    for (index_t u = 0; u < clean.train.num_users(); ++u) {
      const auto t = clean.train.timestamps_of(u);
      const std::int64_t latest = t.empty() ? 0 : *std::max_element(t.begin(), t.end());
      const auto nt = noisy.train.timestamps_of(u);
      const auto nr = noisy.train.ratings_of(u);
      for (std::size_t k = 0; k < nt.size(); ++k) {
        REQUIRE(nt[k] == (k < t.size() ? t[k] : latest));
        REQUIRE(nr[k] == (k < t.size() ? 1.0f : 0.0f));
      }
    }
  }
}

TEST_CASE("with_random_noise: the seed reproduces the draw, another seed changes it",
          "[data][noise]") {
  const TrainValidTest clean = toy_split();
  const TrainValidTest a = recdiff::with_random_noise(clean, 0.2, 11);
  const TrainValidTest b = recdiff::with_random_noise(clean, 0.2, 11);
  const TrainValidTest c = recdiff::with_random_noise(clean, 0.2, 12);
  REQUIRE(a.train == b.train);
  REQUIRE(a.train.nnz() == c.train.nnz());
  REQUIRE_FALSE(a.train == c.train);
  // Not a shifted copy: most added pairs differ.
  const auto pa = added_pairs(clean, a);
  const auto pc = added_pairs(clean, c);
  const std::set<std::pair<index_t, index_t>> sa(pa.begin(), pa.end());
  std::size_t shared = 0;
  for (const auto& p : pc) shared += sa.count(p);
  // Expected overlap about |added| * |added| / free, here below 10% of |added|.
  REQUIRE(shared < pa.size() / 5);
}

TEST_CASE("with_random_noise: every free pair has probability wanted / free (Monte Carlo)",
          "[data][noise]") {
  // 6 users x 5 items; 9 train, 3 valid, 2 test pairs: 16 free pairs.
  const auto train = recdiff::test::matrix_from_rows({{0, 1}, {2}, {3, 4}, {0}, {1, 2}, {0}}, 5);
  const auto valid = recdiff::test::matrix_from_rows({{2}, {}, {0}, {}, {}, {4}}, 5);
  const auto test = recdiff::test::matrix_from_rows({{}, {3}, {}, {}, {0}, {}}, 5);
  const TrainValidTest clean{train, valid, test};
  const std::size_t free = 30 - 14;
  // fraction 0.5: round(4.5) = 5 pairs (rejection path, 2 * 5 <= 16); fraction 1: 9 pairs
  // (enumeration and partial shuffle, 2 * 9 > 16).
  for (const double fraction : {0.5, 1.0}) {
    const auto wanted = static_cast<std::size_t>(std::llround(fraction * 9));
    const int runs = 4000;
    std::vector<int> hits(30, 0);
    for (int s = 0; s < runs; ++s) {
      const auto seed = static_cast<std::uint64_t>(s);
      const auto added = added_pairs(clean, recdiff::with_random_noise(clean, fraction, seed));
      REQUIRE(added.size() == wanted);
      for (const auto& [u, i] : added) ++hits[static_cast<std::size_t>(u * 5 + i)];
    }
    const double p = static_cast<double>(wanted) / static_cast<double>(free);
    const double sd = std::sqrt(runs * p * (1 - p));
    int nonzero = 0;
    for (index_t u = 0; u < 6; ++u)
      for (index_t i = 0; i < 5; ++i) {
        const int h = hits[static_cast<std::size_t>(u * 5 + i)];
        const bool taken = train.contains(u, i) || valid.contains(u, i) || test.contains(u, i);
        INFO("fraction " << fraction << ", pair (" << u << ", " << i << "): " << h << " hits");
        if (taken) {
          REQUIRE(h == 0);
        } else {
          ++nonzero;
          REQUIRE(std::abs(h - runs * p) < 5 * sd);
        }
      }
    REQUIRE(nonzero == static_cast<int>(free));
  }
}

TEST_CASE("with_random_noise: a nearly full grid (enumeration path) and too few free pairs",
          "[data][noise]") {
  // 3 users x 4 items; 6 train + 2 valid + 1 test pairs: 3 free pairs, (0, 3), (1, 2), (2, 0).
  const auto train = recdiff::test::matrix_from_rows({{0, 1}, {3, 0}, {1, 2}}, 4);
  const auto valid = recdiff::test::matrix_from_rows({{2}, {1}, {}}, 4);
  const auto test = recdiff::test::matrix_from_rows({{}, {}, {3}}, 4);
  const TrainValidTest clean{train, valid, test};
  // fraction 0.5: 3 pairs, all the free ones.
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const TrainValidTest noisy = recdiff::with_random_noise(clean, 0.5, seed);
    REQUIRE(vec(noisy.train.items_of(0)) == std::vector<index_t>{0, 1, 3});
    REQUIRE(vec(noisy.train.items_of(1)) == std::vector<index_t>{3, 0, 2});
    REQUIRE(vec(noisy.train.items_of(2)) == std::vector<index_t>{1, 2, 0});
  }
  // fraction 1/3: 2 of the 3; every pair of them is drawn for some seed.
  std::set<std::vector<index_t>> seen;
  for (std::uint64_t seed = 0; seed < 60; ++seed) {
    const auto added = added_pairs(clean, recdiff::with_random_noise(clean, 1.0 / 3.0, seed));
    REQUIRE(added.size() == 2);
    std::vector<index_t> keys;
    for (const auto& [u, i] : added) keys.push_back(u * 4 + i);
    std::sort(keys.begin(), keys.end());
    seen.insert(keys);
  }
  REQUIRE(seen.size() == 3);
  REQUIRE_THROWS_AS(recdiff::with_random_noise(clean, 1.0, 1), std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::with_random_noise(clean, 1.0, 1),
                      Contains("6 noise pairs asked for") && Contains("only 3 of the 3 x 4"));
}

TEST_CASE("with_random_noise: ratings get 0, a tiny fraction adds nothing, bad arguments throw",
          "[data][noise]") {
  InteractionBuilder b;
  b.add(0, 0, 5.f, 10);
  b.add(0, 2, 4.f, 30);
  b.add(0, 1, 4.f, 20);
  b.add(1, 1, 5.f, 7);
  b.add(1, 3, 4.f, 9);
  const InteractionMatrix train = b.build(3, 6);
  const auto empty = recdiff::test::matrix_from_rows({{}, {}, {}}, 6);
  const TrainValidTest clean{train, empty, empty};
  const TrainValidTest noisy = recdiff::with_random_noise(clean, 1.0, 3);
  REQUIRE(noisy.train.nnz() == 10);
  for (index_t u = 0; u < 3; ++u) {
    const auto r = noisy.train.ratings_of(u);
    const auto t = noisy.train.timestamps_of(u);
    const std::size_t original = static_cast<std::size_t>(train.row_size(u));
    REQUIRE(vec(r.first(original)) == vec(train.ratings_of(u)));
    const std::int64_t latest = u == 0 ? 30 : u == 1 ? 9 : 0;  // user 2 has no training row
    for (std::size_t k = original; k < r.size(); ++k) {
      REQUIRE(r[k] == 0.0f);
      REQUIRE(t[k] == latest);
    }
  }
  // round(0.05 * 5) = 0: nothing added.
  REQUIRE(recdiff::with_random_noise(clean, 0.05, 3).train == train);

  for (const double bad : {0.0, -0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    REQUIRE_THROWS_AS(recdiff::with_random_noise(clean, bad, 1), std::invalid_argument);
    REQUIRE_THROWS_WITH(recdiff::with_random_noise(clean, bad, 1),
                        Contains("recdiff::with_random_noise: fraction must be in (0, 1]"));
  }
  const TrainValidTest misshapen{train, recdiff::test::matrix_from_rows({{}, {}}, 6), empty};
  REQUIRE_THROWS_WITH(recdiff::with_random_noise(misshapen, 0.5, 1),
                      Contains("train is 3 x 6 but valid or test is 2 x 6"));
}

TEST_CASE("natural_noise_split: a hand-made ratings matrix with timestamps", "[data][noise]") {
  // (item, rating, timestamp) rows over 13 items, threshold 4.
  InteractionBuilder b;
  // User 0: positives 0(t10) 2(20) 4(30) 9(35) 6(40) 8(60) 10(70), given out of time order;
  // negatives 1(5) 5(15) 3(25) 7(50) 11(65).
  for (const auto& [i, r, t] : std::vector<std::tuple<index_t, float, std::int64_t>>{{8, 5, 60},
                                                                                     {1, 2, 5},
                                                                                     {0, 5, 10},
                                                                                     {5, 3, 15},
                                                                                     {2, 4, 20},
                                                                                     {3, 1, 25},
                                                                                     {4, 5, 30},
                                                                                     {6, 4, 40},
                                                                                     {9, 4, 35},
                                                                                     {7, 2, 50},
                                                                                     {10, 4, 70},
                                                                                     {11, 1, 65}})
    b.add(0, i, r, t);
  // User 1: positives 3, 4 at t100; negatives 5 at t100 (a tie) and 6 at t90.
  b.add(1, 3, 4.f, 100);
  b.add(1, 5, 2.f, 100);
  b.add(1, 4, 5.f, 100);
  b.add(1, 6, 1.f, 90);
  // User 2: negatives only.
  b.add(2, 0, 1.f, 5);
  b.add(2, 1, 3.5f, 6);
  // User 3: one positive 2(t50); negatives 3(t40), 4(t60).
  b.add(3, 4, 2.f, 60);
  b.add(3, 2, 5.f, 50);
  b.add(3, 3, 3.f, 40);
  const InteractionMatrix ratings = b.build(4, 13);

  const TrainValidTest s = recdiff::natural_noise_split(ratings, 4.0f);
  for (const InteractionMatrix* m : {&s.train, &s.valid, &s.test}) {
    REQUIRE(m->num_users() == 4);
    REQUIRE(m->num_items() == 13);
    REQUIRE(m->has_ratings());
    REQUIRE(m->has_timestamps());
  }
  // User 0: 7 positives: train the earliest floor(4.9) + 1 = 5 (0 2 4 9 6, last at t40), test up to
  // floor(5.6) + 1 = 6 (8), valid the rest (10). The negatives at t <= 40 (1, 5, 3) join train in
  // time order; 7 (t50) and 11 (t65) are later and dropped.
  CHECK(vec(s.train.items_of(0)) == std::vector<index_t>{1, 0, 5, 2, 3, 4, 9, 6});
  CHECK(vec(s.train.ratings_of(0)) == std::vector<float>{2, 5, 3, 4, 1, 5, 4, 4});
  CHECK(vec(s.train.timestamps_of(0)) == std::vector<std::int64_t>{5, 10, 15, 20, 25, 30, 35, 40});
  CHECK(vec(s.test.items_of(0)) == std::vector<index_t>{8});
  CHECK(vec(s.test.timestamps_of(0)) == std::vector<std::int64_t>{60});
  CHECK(vec(s.valid.items_of(0)) == std::vector<index_t>{10});
  CHECK(vec(s.valid.ratings_of(0)) == std::vector<float>{4});
  // User 1: 2 positives, both in train (floor(1.4) + 1 = 2); both negatives are not later than
  // t100; at the tie the positives come first.
  CHECK(vec(s.train.items_of(1)) == std::vector<index_t>{6, 3, 4, 5});
  CHECK(vec(s.train.timestamps_of(1)) == std::vector<std::int64_t>{90, 100, 100, 100});
  CHECK(s.test.row_size(1) == 0);
  CHECK(s.valid.row_size(1) == 0);
  // User 2: no positive, so nothing anywhere (3.5 < 4 is a negative).
  CHECK(s.train.row_size(2) == 0);
  CHECK(s.test.row_size(2) == 0);
  CHECK(s.valid.row_size(2) == 0);
  // User 3: one positive (train), the earlier negative joins it, the later one does not.
  CHECK(vec(s.train.items_of(3)) == std::vector<index_t>{3, 2});
  CHECK(vec(s.train.ratings_of(3)) == std::vector<float>{3, 5});
  CHECK(s.test.row_size(3) == 0);
  CHECK(s.valid.row_size(3) == 0);
  CHECK(s.train.nnz() == 14);
  CHECK(s.test.nnz() == 1);
  CHECK(s.valid.nnz() == 1);

  // A threshold of 3: user 2's 3.5 becomes a positive (its only train item), user 0's 5(t15)
  // and user 3's 3(t40) too; user 0 then has 8 positives (train floor(5.6) + 1 = 6: 0 5 2 4 9 6,
  // test 8, valid 10).
  const TrainValidTest s3 = recdiff::natural_noise_split(ratings, 3.0f);
  CHECK(vec(s3.train.items_of(0)) == std::vector<index_t>{1, 0, 5, 2, 3, 4, 9, 6});
  CHECK(vec(s3.test.items_of(0)) == std::vector<index_t>{8});
  CHECK(vec(s3.valid.items_of(0)) == std::vector<index_t>{10});
  CHECK(vec(s3.train.items_of(2)) == std::vector<index_t>{0, 1});
  CHECK(vec(s3.train.items_of(3)) == std::vector<index_t>{3, 2});
}

TEST_CASE("natural_noise_split: valid and test are temporal_split's of the positives",
          "[data][noise]") {
  std::mt19937_64 rng(5);
  InteractionBuilder b;
  for (index_t u = 0; u < 60; ++u)
    for (index_t i = 0; i < 40; ++i)
      if (rng() % 3 == 0)
        b.add(u, i, static_cast<float>(1 + rng() % 5), static_cast<std::int64_t>(rng() % 50));
  const InteractionMatrix ratings = b.build(60, 40);
  recdiff::TemporalSplitOptions options;
  options.ties = recdiff::TimestampTies::shuffle;
  options.seed = 3;
  const TrainValidTest s = recdiff::natural_noise_split(ratings, 4.0f, options);
  const TrainValidTest clean = recdiff::temporal_split(recdiff::binarize(ratings, 4.0f), options);
  std::int64_t negatives = 0;
  for (index_t u = 0; u < 60; ++u) {
    CHECK(vec(s.valid.items_of(u)) == vec(clean.valid.items_of(u)));
    CHECK(vec(s.test.items_of(u)) == vec(clean.test.items_of(u)));
    // Train: the clean train positives in their order, plus negatives up to the last of them.
    std::vector<index_t> positives;
    const auto items = s.train.items_of(u);
    const auto r = s.train.ratings_of(u);
    const auto t = s.train.timestamps_of(u);
    REQUIRE(std::is_sorted(t.begin(), t.end()));
    const auto ct = clean.train.timestamps_of(u);
    for (std::size_t k = 0; k < items.size(); ++k) {
      if (r[k] >= 4) {
        positives.push_back(items[k]);
      } else {
        ++negatives;
        REQUIRE(t[k] <= *std::max_element(ct.begin(), ct.end()));
      }
    }
    CHECK(positives == vec(clean.train.items_of(u)));
    for (const float v : s.valid.ratings_of(u)) CHECK(v >= 4);
    for (const float v : s.test.ratings_of(u)) CHECK(v >= 4);
  }
  // Every negative no later than its user's last training positive is in train.
  std::int64_t expected = 0;
  for (index_t u = 0; u < 60; ++u) {
    const auto ct = clean.train.timestamps_of(u);
    if (ct.empty()) continue;
    const std::int64_t last = *std::max_element(ct.begin(), ct.end());
    const auto rr = ratings.ratings_of(u);
    const auto tt = ratings.timestamps_of(u);
    for (std::size_t k = 0; k < rr.size(); ++k) expected += rr[k] < 4 && tt[k] <= last;
  }
  CHECK(negatives == expected);
  CHECK(negatives > 100);
}

TEST_CASE("natural_noise_split: needs ratings and timestamps", "[data][noise]") {
  const auto no_ratings = recdiff::test::matrix_from_rows({{0, 1}}, 3);
  REQUIRE_THROWS_AS(recdiff::natural_noise_split(no_ratings, 4.0f), std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::natural_noise_split(no_ratings, 4.0f),
                      Contains("recdiff::natural_noise_split") && Contains("no ratings"));
  const InteractionMatrix no_times(1, 3, {0, 2}, {0, 1}, {4.f, 2.f});
  REQUIRE_THROWS_WITH(recdiff::natural_noise_split(no_times, 4.0f), Contains("no timestamps"));
  const InteractionMatrix full(1, 3, {0, 2}, {0, 1}, {4.f, 2.f}, {1, 2});
  REQUIRE_THROWS_WITH(recdiff::natural_noise_split(full, std::nanf("")), Contains("NaN"));
  recdiff::TemporalSplitOptions bad;
  bad.train_fraction = 0.9;
  REQUIRE_THROWS_WITH(recdiff::natural_noise_split(full, 4.0f, bad), Contains("fractions"));
}
