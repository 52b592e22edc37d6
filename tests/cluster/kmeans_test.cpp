#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include "support/shared_data.hpp"
#include <recdiff/cluster/cluster.hpp>

using Catch::Matchers::Contains;
using recdiff::index_t;
using recdiff::KMeansInit;
using recdiff::KMeansOptions;
using recdiff::KMeansResult;
using recdiff::PointMatrix;

namespace {

/// Gaussian blobs: `per_blob` points around each of `centres` (rows), standard deviation `spread`,
/// shuffled; labels[p] = the blob of point p.
struct Blobs {
  PointMatrix points;
  std::vector<index_t> labels;
};

Blobs make_blobs(const std::vector<std::vector<float>>& centres, int per_blob, float spread,
                 std::uint64_t seed) {
  const int k = static_cast<int>(centres.size());
  const int dim = static_cast<int>(centres[0].size());
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<index_t> order(static_cast<std::size_t>(k * per_blob));
  for (std::size_t p = 0; p < order.size(); ++p) order[p] = static_cast<index_t>(p);
  std::shuffle(order.begin(), order.end(), rng);
  Blobs b;
  b.points.resize(k * per_blob, dim);
  b.labels.resize(order.size());
  for (std::size_t p = 0; p < order.size(); ++p) {
    const auto blob = static_cast<std::size_t>(order[p]) / static_cast<std::size_t>(per_blob);
    b.labels[p] = static_cast<index_t>(blob);
    for (int t = 0; t < dim; ++t)
      b.points(static_cast<Eigen::Index>(p), t) = centres[blob][static_cast<std::size_t>(t)] + normal(rng);
  }
  return b;
}

/// k far-apart centres in `dim` dimensions: 20 * e_c plus a small offset per centre.
std::vector<std::vector<float>> separated_centres(int k, int dim) {
  std::vector<std::vector<float>> c(static_cast<std::size_t>(k), std::vector<float>(static_cast<std::size_t>(dim), 0.0f));
  for (int j = 0; j < k; ++j) {
    c[static_cast<std::size_t>(j)][static_cast<std::size_t>(j % dim)] += 20.0f * static_cast<float>(1 + j / dim);
    c[static_cast<std::size_t>(j)][static_cast<std::size_t>((j + 1) % dim)] -= 3.0f;
  }
  return c;
}

/// True when `found` equals `truth` up to a bijective relabelling.
bool same_partition(const std::vector<index_t>& found, const std::vector<index_t>& truth) {
  if (found.size() != truth.size()) return false;
  std::map<index_t, index_t> forward, backward;
  for (std::size_t p = 0; p < found.size(); ++p) {
    const auto [f, fnew] = forward.emplace(found[p], truth[p]);
    const auto [b, bnew] = backward.emplace(truth[p], found[p]);
    if (f->second != truth[p] || b->second != found[p]) return false;
  }
  return true;
}

float squared_distance(const PointMatrix& points, Eigen::Index p, const float* centre) {
  float acc = 0.0f;
  for (Eigen::Index t = 0; t < points.cols(); ++t) {
    const float d = points(p, t) - centre[t];
    acc += d * d;
  }
  return acc;
}

}  // namespace

TEST_CASE("numpy_legacy_choice: the indices NumPy's legacy RandomState draws", "[cluster][kmeans]") {
  // Each value printed by NumPy 2.4.6:
  //   np.random.seed(seed); np.random.choice(n, size, replace=False)
  struct Case {
    std::uint32_t seed;
    index_t n, size;
    std::vector<index_t> expected;
  };
  const std::vector<Case> cases{
      {1, 2810, 2, {909, 396}},
      {1, 10, 10, {2, 9, 6, 4, 0, 3, 1, 7, 8, 5}},
      {0, 100, 5, {26, 86, 2, 55, 75}},
      {42, 7, 3, {0, 1, 5}},
      {2023, 1000, 8, {847, 874, 471, 476, 764, 138, 49, 226}},
      {7, 1, 1, {0}},
      {5, 70000, 4, {6628, 2777, 7414, 63950}},
      {123456789, 3, 2, {1, 2}},
      {4294967295u, 50, 6, {21, 38, 40, 19, 39, 28}},
  };
  for (const auto& c : cases) {
    INFO("seed " << c.seed << ", n " << c.n << ", size " << c.size);
    REQUIRE(recdiff::numpy_legacy_choice(c.n, c.size, c.seed) == c.expected);
  }
  // np.random.seed(3); np.random.permutation(12)
  REQUIRE(recdiff::numpy_legacy_permutation(12, 3) ==
          std::vector<index_t>{5, 4, 1, 2, 11, 6, 7, 0, 3, 9, 8, 10});
  REQUIRE(recdiff::numpy_legacy_permutation(0, 1).empty());
  REQUIRE_THROWS_AS(recdiff::numpy_legacy_choice(5, 6, 1), std::invalid_argument);
  REQUIRE_THROWS_AS(recdiff::numpy_legacy_permutation(-1, 1), std::invalid_argument);
}

TEST_CASE("kmeans: default init starts at numpy's choice, one iteration assigns against it",
          "[cluster][kmeans]") {
  const auto blobs = make_blobs(separated_centres(3, 4), 40, 4.0f, 11);
  KMeansOptions one;
  one.max_iterations = 1;
  const KMeansResult r = recdiff::kmeans(blobs.points, 3, one);
  const auto init = recdiff::numpy_legacy_choice(120, 3, 1);
  REQUIRE(r.initial_indices == init);
  REQUIRE(r.iterations == 1);
  REQUIRE_FALSE(r.converged);
  // Labels: the nearest initial point (ties to the lower index); inertia: their distances.
  double inertia = 0.0;
  std::vector<std::vector<double>> sums(3, std::vector<double>(4, 0.0));
  std::vector<int> counts(3, 0);
  for (Eigen::Index p = 0; p < 120; ++p) {
    index_t best = 0;
    float best_d = squared_distance(blobs.points, p, blobs.points.row(init[0]).data());
    for (index_t c = 1; c < 3; ++c) {
      const float d = squared_distance(blobs.points, p, blobs.points.row(init[static_cast<std::size_t>(c)]).data());
      if (d < best_d) {
        best_d = d;
        best = c;
      }
    }
    REQUIRE(r.labels[static_cast<std::size_t>(p)] == best);
    inertia += best_d;
    ++counts[static_cast<std::size_t>(best)];
    for (int t = 0; t < 4; ++t) sums[static_cast<std::size_t>(best)][static_cast<std::size_t>(t)] += blobs.points(p, t);
  }
  REQUIRE(r.inertia == Approx(inertia).epsilon(1e-12));
  REQUIRE(r.inertia_history.size() == 1);
  // Centres: the means of the points carrying each returned label.
  for (int c = 0; c < 3; ++c)
    for (int t = 0; t < 4; ++t)
      REQUIRE(r.centres(c, t) == Approx(sums[static_cast<std::size_t>(c)][static_cast<std::size_t>(t)] /
                                        counts[static_cast<std::size_t>(c)]).epsilon(1e-6));
}

TEST_CASE("kmeans: inertia never increases across Lloyd iterations", "[cluster][kmeans]") {
  // Overlapping blobs in 2-D: many iterations before the centres settle.
  const std::vector<std::vector<float>> centres{{0, 0}, {3, 0}, {0, 3}, {3, 3}, {1.5f, 1.5f}, {6, 1}};
  const auto blobs = make_blobs(centres, 300, 1.2f, 5);
  for (const KMeansInit init : {KMeansInit::numpy_legacy_choice, KMeansInit::plusplus}) {
    KMeansOptions o;
    o.init = init;
    o.tol = 1e-8;
    const KMeansResult r = recdiff::kmeans(blobs.points, 6, o);
    INFO("init " << static_cast<int>(init) << ", iterations " << r.iterations);
    REQUIRE(r.converged);
    REQUIRE(r.iterations >= 5);
    REQUIRE(r.inertia_history.size() == static_cast<std::size_t>(r.iterations));
    REQUIRE(r.inertia == r.inertia_history.back());
    for (std::size_t t = 1; t < r.inertia_history.size(); ++t)
      REQUIRE(r.inertia_history[t] <= r.inertia_history[t - 1] * (1.0 + 1e-7));
    REQUIRE(r.inertia_history.back() < 0.9 * r.inertia_history.front());
    // A capped run is a prefix of the full one.
    KMeansOptions capped = o;
    capped.max_iterations = 3;
    const KMeansResult c = recdiff::kmeans(blobs.points, 6, capped);
    REQUIRE(c.iterations == 3);
    REQUIRE_FALSE(c.converged);
    REQUIRE(std::vector<double>(r.inertia_history.begin(), r.inertia_history.begin() + 3) ==
            c.inertia_history);
    // At convergence the centres are the means of the returned labels' points.
    for (int k = 0; k < 6; ++k) {
      double sx = 0, sy = 0;
      int count = 0;
      for (Eigen::Index p = 0; p < blobs.points.rows(); ++p)
        if (r.labels[static_cast<std::size_t>(p)] == k) {
          sx += blobs.points(p, 0);
          sy += blobs.points(p, 1);
          ++count;
        }
      REQUIRE(count > 0);
      REQUIRE(r.centres(k, 0) == Approx(sx / count).epsilon(1e-6).margin(1e-6));
      REQUIRE(r.centres(k, 1) == Approx(sy / count).epsilon(1e-6).margin(1e-6));
    }
  }
}

TEST_CASE("kmeans: identical bits at 1, 2 and 3 threads", "[cluster][kmeans]") {
  const auto blobs = make_blobs(separated_centres(7, 20), 430, 9.0f, 3);
  for (const KMeansInit init : {KMeansInit::numpy_legacy_choice, KMeansInit::plusplus}) {
    KMeansOptions o;
    o.init = init;
    o.seed = 17;
    o.threads = 1;
    const KMeansResult a = recdiff::kmeans(blobs.points, 7, o);
    REQUIRE(a.iterations > 1);
    for (const int threads : {2, 3}) {
      o.threads = threads;
      const KMeansResult b = recdiff::kmeans(blobs.points, 7, o);
      REQUIRE(a.initial_indices == b.initial_indices);
      REQUIRE(a.labels == b.labels);
      REQUIRE(a.iterations == b.iterations);
      REQUIRE(a.inertia_history == b.inertia_history);
      REQUIRE(std::memcmp(a.centres.data(), b.centres.data(), sizeof(float) * 7 * 20) == 0);
    }
  }
}

TEST_CASE("kmeans: well-separated blobs are recovered exactly", "[cluster][kmeans]") {
  const auto blobs = make_blobs(separated_centres(5, 6), 60, 0.5f, 21);
  for (const std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    KMeansOptions o;
    o.init = KMeansInit::plusplus;
    o.seed = seed;
    const KMeansResult r = recdiff::kmeans(blobs.points, 5, o);
    INFO("k-means++ seed " << seed);
    REQUIRE(r.converged);
    REQUIRE(same_partition(r.labels, blobs.labels));
  }
  // The default (numpy) initialisation on two blobs.
  const auto two = make_blobs(separated_centres(2, 3), 100, 0.5f, 8);
  const KMeansResult r = recdiff::kmeans(two.points, 2);
  REQUIRE(same_partition(r.labels, two.labels));
  REQUIRE(r.initial_indices == recdiff::numpy_legacy_choice(200, 2, 1));
}

TEST_CASE("kmeans_plusplus_indices: deterministic per seed, one centre per separated blob",
          "[cluster][kmeans]") {
  const auto blobs = make_blobs(separated_centres(6, 6), 50, 0.3f, 4);
  const index_t n = static_cast<index_t>(blobs.points.rows());
  std::set<std::vector<index_t>> distinct;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    const auto a = recdiff::kmeans_plusplus_indices(blobs.points.data(), n, 6, 6, seed, 1);
    const auto b = recdiff::kmeans_plusplus_indices(blobs.points.data(), n, 6, 6, seed, 2);
    REQUIRE(a == b);
    REQUIRE(a.size() == 6);
    std::set<index_t> blob_of;
    for (const index_t p : a) {
      REQUIRE(p >= 0);
      REQUIRE(p < n);
      blob_of.insert(blobs.labels[static_cast<std::size_t>(p)]);
    }
    REQUIRE(blob_of.size() == 6);  // D^2 weighting never picks a second point of a covered blob here
    distinct.insert(a);
  }
  REQUIRE(distinct.size() == 5);  // different seeds, different initial indices
  KMeansOptions o;
  o.init = KMeansInit::plusplus;
  o.seed = 3;
  REQUIRE(recdiff::kmeans(blobs.points, 6, o).initial_indices ==
          recdiff::kmeans_plusplus_indices(blobs.points.data(), n, 6, 6, 3));
  // Fewer distinct points than clusters: the duplicates are still all taken, each once.
  PointMatrix same = PointMatrix::Constant(4, 2, 1.5f);
  same(3, 0) = 2.0f;
  auto idx = recdiff::kmeans_plusplus_indices(same.data(), 4, 2, 4, 9);
  std::sort(idx.begin(), idx.end());
  REQUIRE(idx == std::vector<index_t>{0, 1, 2, 3});
}

TEST_CASE("kmeans: an empty cluster keeps its centre", "[cluster][kmeans]") {
  // Two identical points and one far away, 3 clusters: k-means++ takes all three points, so two
  // centres coincide.
  PointMatrix x(3, 1);
  x << 0.0f, 0.0f, 10.0f;
  KMeansOptions o;
  o.init = KMeansInit::plusplus;  // picks all three points (duplicates last)
  const KMeansResult r = recdiff::kmeans(x, 3, o);
  // The two centres on 0 tie; every 0-point goes to the lower index, the other stays empty at 0.
  REQUIRE(r.converged);
  std::vector<int> counts(3, 0);
  for (const index_t l : r.labels) ++counts[static_cast<std::size_t>(l)];
  REQUIRE(std::count(counts.begin(), counts.end(), 0) == 1);
  for (int c = 0; c < 3; ++c) REQUIRE(std::isfinite(r.centres(c, 0)));
  REQUIRE(r.inertia == 0.0);
}

TEST_CASE("kmeans: bad arguments are rejected with their name and value", "[cluster][kmeans]") {
  PointMatrix x = PointMatrix::Zero(5, 3);
  x(2, 1) = 1.0f;
  REQUIRE_THROWS_WITH(recdiff::kmeans(x, 0), Contains("clusters") && Contains("0"));
  REQUIRE_THROWS_WITH(recdiff::kmeans(x, 6), Contains("clusters must be <= n = 5") && Contains("6"));
  REQUIRE_THROWS_WITH(recdiff::kmeans(x.data(), 5, 0, 2), Contains("dim") && Contains("0"));
  REQUIRE_THROWS_AS(recdiff::kmeans(nullptr, 5, 3, 2), std::invalid_argument);
  PointMatrix bad = x;
  bad(3, 2) = std::nanf("");
  REQUIRE_THROWS_WITH(recdiff::kmeans(bad, 2), Contains("row 3") && Contains("column 2"));
  bad(3, 2) = INFINITY;
  REQUIRE_THROWS_WITH(recdiff::kmeans(bad, 2), Contains("row 3"));
  KMeansOptions o;
  o.tol = 0.0;
  REQUIRE_THROWS_WITH(recdiff::kmeans(x, 2, o), Contains("tol"));
  o.tol = -1.0;
  REQUIRE_THROWS_WITH(recdiff::kmeans(x, 2, o), Contains("tol") && Contains("-1"));
  o.tol = std::nan("");
  REQUIRE_THROWS_WITH(recdiff::kmeans(x, 2, o), Contains("tol"));
  o = {};
  o.max_iterations = -1;
  REQUIRE_THROWS_WITH(recdiff::kmeans(x, 2, o), Contains("max_iterations"));
  o = {};
  o.threads = -2;
  REQUIRE_THROWS_WITH(recdiff::kmeans(x, 2, o), Contains("threads"));
  o = {};
  o.seed = std::uint64_t{1} << 32;
  REQUIRE_THROWS_WITH(recdiff::kmeans(x, 2, o), Contains("seed") && Contains("4294967296"));
  o.init = KMeansInit::plusplus;  // a 64-bit seed is fine for Philox
  REQUIRE(recdiff::kmeans(x, 2, o).labels.size() == 5);
  REQUIRE_THROWS_AS(recdiff::kmeans_plusplus_indices(x.data(), 5, 3, 0, 1), std::invalid_argument);
}

TEST_CASE("ItemClusters: permutation, inverse, sizes and offsets", "[cluster][kmeans]") {
  const std::vector<index_t> labels{1, 0, 2, 0, 1, 1, 2};
  const recdiff::ItemClusters ic(labels, 4);  // cluster 3 is empty
  REQUIRE(ic.num_clusters() == 4);
  REQUIRE(ic.num_items() == 7);
  REQUIRE(ic.perm == std::vector<index_t>{1, 3, 0, 4, 5, 2, 6});
  REQUIRE(ic.inverse == std::vector<index_t>{2, 0, 5, 1, 3, 4, 6});
  REQUIRE(ic.sizes == std::vector<index_t>{2, 3, 2, 0});
  REQUIRE(ic.offsets == std::vector<index_t>{0, 2, 5, 7, 7});
  const auto c1 = ic.items_of(1);
  REQUIRE(std::vector<index_t>(c1.begin(), c1.end()) == std::vector<index_t>{0, 4, 5});
  REQUIRE(ic.items_of(3).empty());
  for (index_t i = 0; i < 7; ++i) REQUIRE(ic.perm[static_cast<std::size_t>(ic.inverse[static_cast<std::size_t>(i)])] == i);
  REQUIRE_THROWS_AS(ic.items_of(4), std::out_of_range);
  REQUIRE_THROWS_WITH(recdiff::ItemClusters(std::vector<index_t>{0, 3}, 3),
                      Contains("labels[1] = 3"));
  REQUIRE_THROWS_WITH(recdiff::ItemClusters(std::vector<index_t>{-1}, 3), Contains("labels[0] = -1"));
  REQUIRE_THROWS_WITH(recdiff::ItemClusters(std::vector<index_t>{0}, 0), Contains("clusters"));
}

TEST_CASE("kmeans: L-DiffRec's ML-1M clustering (2810 items, C = 2)", "[cluster][kmeans][data]") {
  const auto file = recdiff::test::require_shared_data("ml-1m_clean/item_emb.npy");
  const auto emb = recdiff::load_item_embeddings(file, 2810);
  REQUIRE(emb.cols() == 64);
  const KMeansResult r = recdiff::kmeans(emb, 2);
  REQUIRE(r.initial_indices == std::vector<index_t>{909, 396});
  REQUIRE(r.converged);
  const recdiff::ItemClusters ic(r.labels, 2);
  INFO("sizes " << ic.sizes[0] << ", " << ic.sizes[1] << " after " << r.iterations << " iterations");
  REQUIRE(std::abs(ic.sizes[0] - 1850) <= 2);
  REQUIRE(std::abs(ic.sizes[1] - 960) <= 2);
}
