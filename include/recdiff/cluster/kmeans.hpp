#pragma once
/// @file
/// K-means (Lloyd's algorithm) for L-DiffRec's item clustering (Wang et al., SIGIR 2023, Sec. 3.4),
/// NumPy's legacy random permutation that its released code draws the initial centres with,
/// k-means++ seeding, and ItemClusters: the item permutation that groups items by cluster.
///
/// The defaults reproduce the clustering of the released L-DiffRec code (library kmeans_pytorch
/// 0.3, Euclidean distance): centres initialised at the points `np.random.choice(n, C,
/// replace=False)` picks after `np.random.seed(1)`, float32 distances, tol 1e-4 on the squared sum
/// of the centre shifts, no iteration cap, and the labels of the last assignment returned.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include <recdiff/cluster/detail/parallel.hpp>
#include <recdiff/config.hpp>
#include <recdiff/math/philox.hpp>

namespace recdiff {

/// Dense row-major float32 points, one point per row (the input of kmeans, its centres, and the
/// item embeddings of cluster/item_embeddings.hpp).
using PointMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The permutation of 0 .. n-1 that NumPy's legacy `np.random.RandomState(seed).permutation(n)`
/// returns, bit for bit: an MT19937 seeded like `RandomState(seed)` (its 32-bit stream is that of
/// `std::mt19937(seed)`), then a Fisher-Yates shuffle of 0 .. n-1 from the last position down, each
/// partner index j in [0, i] drawn by NumPy's masked rejection sampling (mask = the smallest
/// all-ones word >= i; draw 32-bit words & mask until one is <= i). Throws std::invalid_argument for
/// n < 0.
inline std::vector<index_t> numpy_legacy_permutation(index_t n, std::uint32_t seed) {
  if (n < 0)
    throw std::invalid_argument("recdiff::numpy_legacy_permutation: n must be >= 0, got " +
                                std::to_string(n));
  std::vector<index_t> out(static_cast<std::size_t>(n));
  std::iota(out.begin(), out.end(), index_t{0});
  std::mt19937 generator(seed);
  for (index_t i = n - 1; i >= 1; --i) {
    auto mask = static_cast<std::uint32_t>(i);
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    std::uint32_t j = 0;
    do {
      j = static_cast<std::uint32_t>(generator()) & mask;
    } while (j > static_cast<std::uint32_t>(i));
    std::swap(out[static_cast<std::size_t>(i)], out[j]);
  }
  return out;
}

/// What `np.random.seed(seed); np.random.choice(n, size, replace=False)` returns: the first `size`
/// entries of numpy_legacy_permutation(n, seed). Throws std::invalid_argument unless
/// 0 <= size <= n.
inline std::vector<index_t> numpy_legacy_choice(index_t n, index_t size, std::uint32_t seed) {
  if (n < 0 || size < 0 || size > n)
    throw std::invalid_argument("recdiff::numpy_legacy_choice: need 0 <= size <= n, got size = " +
                                std::to_string(size) + ", n = " + std::to_string(n));
  auto perm = numpy_legacy_permutation(n, seed);
  perm.resize(static_cast<std::size_t>(size));
  return perm;
}

/// How kmeans picks its initial centres.
enum class KMeansInit {
  /// The points numpy_legacy_choice(n, C, seed) names, in that order (kmeans_pytorch 0.3's
  /// `initialize` after `np.random.seed(seed)`). The seed must fit in 32 bits, as NumPy requires.
  numpy_legacy_choice,
  /// k-means++ (Arthur and Vassilvitskii 2007) with Philox draws: see kmeans_plusplus_indices.
  plusplus,
};

/// Settings of kmeans. The defaults reproduce the released L-DiffRec clustering.
struct KMeansOptions {
  KMeansInit init = KMeansInit::numpy_legacy_choice;  ///< initial centres
  std::uint64_t seed = 1;      ///< seed of the initialisation (L-DiffRec: 1)
  double tol = 1e-4;           ///< stop when (sum_c ||centre_c - previous centre_c||)^2 < tol
  int max_iterations = 0;      ///< cap on Lloyd iterations; 0 = none (kmeans_pytorch's iter_limit)
  int threads = 0;             ///< OpenMP threads, 0 = all; the results do not depend on it
};

/// What kmeans returns.
struct KMeansResult {
  /// Cluster of every point, in [0, C): the assignments of the LAST iteration, made against the
  /// centres before its update (as kmeans_pytorch returns them).
  std::vector<index_t> labels;
  /// C x dim centres after the last update.
  PointMatrix centres;
  /// Lloyd iterations run (assignment + update each); >= 1.
  int iterations = 0;
  /// Sum over points of the squared distance to the centre its label names, that centre taken as it
  /// was when the label was assigned (= inertia_history.back()).
  double inertia = 0;
  /// inertia of the assignment of every iteration, in order (iterations entries). Lloyd's algorithm
  /// never increases it (up to float rounding of the centres).
  std::vector<double> inertia_history;
  /// The point indices the initial centres were copied from (C entries).
  std::vector<index_t> initial_indices;
  /// True when the tol rule stopped the loop, false when max_iterations did.
  bool converged = false;
};

namespace cluster_detail {

/// Philox step key of kmeans_plusplus_indices' draws (stream Stream::init, row = centre number).
inline constexpr std::uint32_t kmeans_plusplus_key = 0x4B4D5050u;  // "KMPP"

/// Squared Euclidean distance in float, summed over the coordinates in order.
inline float squared_distance(const float* a, const float* b, int dim) {
  float acc = 0.0f;
  for (int t = 0; t < dim; ++t) {
    const float diff = a[t] - b[t];
    acc += diff * diff;
  }
  return acc;
}

/// A double in [0, 1) with 53 random bits from Philox (seed, Stream::init, key, row, group 0).
inline double unit_double(std::uint64_t seed, std::uint32_t key, std::uint32_t row) {
  const philox::Block b = philox::random_block(seed, philox::Stream::init, key, row, 0);
  const std::uint64_t bits = (std::uint64_t{b.v[0] >> 5} << 26) | std::uint64_t{b.v[1] >> 6};
  return static_cast<double>(bits) * 0x1.0p-53;
}

/// Checks kmeans' arguments; throws std::invalid_argument naming `function`.
inline void check_kmeans_arguments(const char* function, const float* points, index_t n, int dim,
                                   int clusters) {
  const std::string f(function);
  if (dim < 1) throw std::invalid_argument(f + ": dim must be >= 1, got " + std::to_string(dim));
  if (n < 0) throw std::invalid_argument(f + ": n must be >= 0, got " + std::to_string(n));
  if (clusters < 1)
    throw std::invalid_argument(f + ": clusters must be >= 1, got " + std::to_string(clusters));
  if (clusters > n)
    throw std::invalid_argument(f + ": clusters must be <= n = " + std::to_string(n) + " points, got " +
                                std::to_string(clusters));
  if (points == nullptr) throw std::invalid_argument(f + ": points is null");
  const auto d = static_cast<std::size_t>(dim);
  for (std::size_t p = 0; p < static_cast<std::size_t>(n); ++p)
    for (std::size_t t = 0; t < d; ++t)
      if (!std::isfinite(points[p * d + t]))
        throw std::invalid_argument(f + ": points must be finite, row " + std::to_string(p) +
                                    " column " + std::to_string(t) + " is " +
                                    std::to_string(points[p * d + t]));
}

}  // namespace cluster_detail

/// k-means++ seeding (Arthur and Vassilvitskii 2007): the first centre is a uniform point, each next
/// one a point drawn with probability proportional to its squared distance D(x)^2 to the nearest
/// centre chosen so far. Returns the `clusters` point indices, in the order chosen.
///
/// Deterministic for a seed and independent of `threads`: draw k is u_k, a 53-bit uniform from
/// Philox (seed, Stream::init, key "KMPP", row k); the first index is floor(u_0 n); then the chosen
/// point is the first p (in index order) whose running double sum of the float D(x)^2 exceeds
/// u_k * total. Points already chosen have D = 0 and are never drawn again; when every remaining point
/// sits on a chosen centre (total = 0: fewer distinct points than clusters) the lowest unchosen index
/// is taken. `points` is n x dim row-major. Throws std::invalid_argument as kmeans does.
inline std::vector<index_t> kmeans_plusplus_indices(const float* points, index_t n, int dim,
                                                    int clusters, std::uint64_t seed, int threads = 0) {
  constexpr const char* fn = "recdiff::kmeans_plusplus_indices";
  cluster_detail::check_kmeans_arguments(fn, points, n, dim, clusters);
  const int nt = cluster_detail::resolve_threads(fn, threads);
  const auto d = static_cast<std::size_t>(dim);
  const auto un = static_cast<std::size_t>(n);
  std::vector<index_t> chosen;
  chosen.reserve(static_cast<std::size_t>(clusters));
  std::vector<char> taken(un, 0);
  auto first = static_cast<index_t>(cluster_detail::unit_double(seed, cluster_detail::kmeans_plusplus_key, 0) *
                                    static_cast<double>(n));
  if (first >= n) first = n - 1;
  chosen.push_back(first);
  taken[static_cast<std::size_t>(first)] = 1;
  std::vector<float> nearest(un);
  const float* c0 = points + static_cast<std::size_t>(first) * d;
  cluster_detail::parallel_for(nt, n, [&](std::int64_t p) {
    nearest[static_cast<std::size_t>(p)] =
        cluster_detail::squared_distance(points + static_cast<std::size_t>(p) * d, c0, dim);
  }, 256);
  for (int k = 1; k < clusters; ++k) {
    double total = 0.0;
    for (std::size_t p = 0; p < un; ++p)
      if (!taken[p]) total += nearest[p];
    index_t pick = -1;
    if (total > 0.0) {
      const double target =
          cluster_detail::unit_double(seed, cluster_detail::kmeans_plusplus_key,
                                      static_cast<std::uint32_t>(k)) * total;
      double running = 0.0;
      for (std::size_t p = 0; p < un; ++p) {
        if (taken[p] || nearest[p] <= 0.0f) continue;
        running += nearest[p];
        pick = static_cast<index_t>(p);  // the last candidate, should rounding leave running <= target
        if (running > target) break;
      }
    }
    if (pick < 0)
      for (std::size_t p = 0; p < un && pick < 0; ++p)
        if (!taken[p]) pick = static_cast<index_t>(p);
    chosen.push_back(pick);
    taken[static_cast<std::size_t>(pick)] = 1;
    const float* c = points + static_cast<std::size_t>(pick) * d;
    cluster_detail::parallel_for(nt, n, [&](std::int64_t p) {
      const auto q = static_cast<std::size_t>(p);
      const float dist = cluster_detail::squared_distance(points + q * d, c, dim);
      if (dist < nearest[q]) nearest[q] = dist;
    }, 256);
  }
  return chosen;
}

/// Lloyd's k-means of n points of dimension `dim` (row-major, `points[p * dim + t]`) into `clusters`
/// clusters, as kmeans_pytorch 0.3 runs it with the Euclidean distance:
///
/// 1. initial centres: the points named by the KMeansInit rule (default: NumPy's legacy choice, seed 1);
/// 2. assignment: every point goes to the centre of least squared Euclidean distance, computed in
///    float32 (argmin; ties to the lower centre index);
/// 3. update: every centre becomes the mean of its points (summed in double in ascending point order,
///    rounded to float);
/// 4. stop when (sum_c ||centre_c - previous centre_c||)^2 < tol, or after max_iterations
///    iterations when that is > 0; otherwise go to 2.
///
/// The labels returned are those of the last assignment (made against the centres before the last
/// update). Difference from kmeans_pytorch: a cluster left without points keeps its previous centre,
/// where kmeans_pytorch averages the empty selection and gets a NaN centre (later variants re-draw a
/// random point from torch's global generator instead); the result here stays finite and
/// reproducible. Runs where no cluster empties (L-DiffRec's ML-1M clustering) are unaffected.
///
/// Threads: points are assigned independently, and each (centre, block of coordinates) sum runs
/// over its points in index order whatever the thread count, so the labels, centres and inertia are
/// bit-identical at any `threads`. Memory: O(n + C dim) beyond the input.
///
/// Throws std::invalid_argument naming the argument and value for clusters < 1, clusters > n,
/// dim < 1, a non-finite coordinate (its row and column), tol <= 0 or not finite, max_iterations < 0,
/// threads < 0, or a numpy_legacy_choice seed above 2^32 - 1.
inline KMeansResult kmeans(const float* points, index_t n, int dim, int clusters,
                           const KMeansOptions& options = {}) {
  constexpr const char* fn = "recdiff::kmeans";
  cluster_detail::check_kmeans_arguments(fn, points, n, dim, clusters);
  if (!(options.tol > 0.0) || !std::isfinite(options.tol))
    throw std::invalid_argument(std::string(fn) + ": options.tol must be finite and > 0, got " +
                                std::to_string(options.tol));
  if (options.max_iterations < 0)
    throw std::invalid_argument(std::string(fn) + ": options.max_iterations must be >= 0 (0 = none), got " +
                                std::to_string(options.max_iterations));
  const int nt = cluster_detail::resolve_threads(fn, options.threads);
  if (options.init == KMeansInit::numpy_legacy_choice &&
      options.seed > std::numeric_limits<std::uint32_t>::max())
    throw std::invalid_argument(std::string(fn) +
                                ": options.seed must be <= 4294967295 for KMeansInit::numpy_legacy_choice, got " +
                                std::to_string(options.seed));

  const auto d = static_cast<std::size_t>(dim);
  const auto un = static_cast<std::size_t>(n);
  const auto uc = static_cast<std::size_t>(clusters);
  KMeansResult result;
  result.initial_indices =
      options.init == KMeansInit::numpy_legacy_choice
          ? numpy_legacy_choice(n, clusters, static_cast<std::uint32_t>(options.seed))
          : kmeans_plusplus_indices(points, n, dim, clusters, options.seed, nt);
  PointMatrix centres(clusters, dim);
  for (std::size_t c = 0; c < uc; ++c)
    for (std::size_t t = 0; t < d; ++t)
      centres.data()[c * d + t] =
          points[static_cast<std::size_t>(result.initial_indices[c]) * d + t];
  PointMatrix previous(clusters, dim);

  std::vector<index_t> labels(un);
  std::vector<float> distance(un);
  std::vector<index_t> sizes(uc), offsets(uc + 1), members(un), cursor(uc);
  constexpr int block = 16;  // coordinates per centre-update task
  const int blocks = (dim + block - 1) / block;
  for (;;) {
    // Assignment.
    const float* cen = centres.data();
    cluster_detail::parallel_for(nt, n, [&](std::int64_t p) {
      const float* x = points + static_cast<std::size_t>(p) * d;
      index_t best = 0;
      float best_distance = cluster_detail::squared_distance(x, cen, dim);
      for (int c = 1; c < clusters; ++c) {
        const float dist = cluster_detail::squared_distance(x, cen + static_cast<std::size_t>(c) * d, dim);
        if (dist < best_distance) {
          best_distance = dist;
          best = c;
        }
      }
      labels[static_cast<std::size_t>(p)] = best;
      distance[static_cast<std::size_t>(p)] = best_distance;
    }, 64);
    double inertia = 0.0;
    for (std::size_t p = 0; p < un; ++p) inertia += distance[p];
    result.inertia_history.push_back(inertia);

    // Members of each cluster in ascending point order (counting sort).
    std::fill(sizes.begin(), sizes.end(), 0);
    for (std::size_t p = 0; p < un; ++p) ++sizes[static_cast<std::size_t>(labels[p])];
    offsets[0] = 0;
    for (std::size_t c = 0; c < uc; ++c) offsets[c + 1] = offsets[c] + sizes[c];
    std::copy(offsets.begin(), offsets.end() - 1, cursor.begin());
    for (std::size_t p = 0; p < un; ++p)
      members[static_cast<std::size_t>(cursor[static_cast<std::size_t>(labels[p])]++)] =
          static_cast<index_t>(p);

    // Update: task (c, b) owns coordinates [b * block, min(dim, (b + 1) * block)) of centre c.
    previous = centres;
    float* out = centres.data();
    cluster_detail::parallel_for(nt, std::int64_t{clusters} * blocks, [&](std::int64_t task) {
      const auto c = static_cast<std::size_t>(task / blocks);
      const int t0 = static_cast<int>(task % blocks) * block;
      const int width = std::min(block, dim - t0);
      if (sizes[c] == 0) return;  // an empty cluster keeps its centre
      double acc[block] = {};
      for (index_t m = offsets[c]; m < offsets[c + 1]; ++m) {
        const float* x = points + static_cast<std::size_t>(members[static_cast<std::size_t>(m)]) * d +
                         static_cast<std::size_t>(t0);
        for (int t = 0; t < width; ++t) acc[t] += x[t];
      }
      const double count = static_cast<double>(sizes[c]);
      for (int t = 0; t < width; ++t)
        out[c * d + static_cast<std::size_t>(t0 + t)] = static_cast<float>(acc[t] / count);
    });
    ++result.iterations;

    double shift = 0.0;
    for (std::size_t c = 0; c < uc; ++c) {
      double squared = 0.0;
      for (std::size_t t = 0; t < d; ++t) {
        const double diff = static_cast<double>(centres.data()[c * d + t]) - previous.data()[c * d + t];
        squared += diff * diff;
      }
      shift += std::sqrt(squared);
    }
    if (shift * shift < options.tol) {
      result.converged = true;
      break;
    }
    if (options.max_iterations > 0 && result.iterations >= options.max_iterations) break;
  }
  result.labels = std::move(labels);
  result.centres = std::move(centres);
  result.inertia = result.inertia_history.back();
  return result;
}

/// kmeans of the rows of `points` (n x dim, row-major float): the same as the pointer overload with
/// points.data(), points.rows() and points.cols().
inline KMeansResult kmeans(const PointMatrix& points, int clusters, const KMeansOptions& options = {}) {
  if (points.rows() > std::numeric_limits<index_t>::max() ||
      points.cols() > std::numeric_limits<int>::max())
    throw std::invalid_argument("recdiff::kmeans: points is " + std::to_string(points.rows()) + " x " +
                                std::to_string(points.cols()) + ", too large for index_t rows");
  return kmeans(points.data(), static_cast<index_t>(points.rows()), static_cast<int>(points.cols()),
                clusters, options);
}

/// The item order L-DiffRec's released code builds from a clustering (its category map): cluster 0's
/// items in ascending id order, then cluster 1's, and so on.
///
/// Position p of the permuted item space is original item perm[p]; original item i sits at position
/// inverse[i]; cluster c occupies positions [offsets[c], offsets[c + 1]) and holds sizes[c] items.
/// So a users x items row x becomes x_perm[p] = x[perm[p]], and a score s_perm over permuted
/// positions maps back with s[i] = s_perm[inverse[i]]. A cluster may be empty (size 0).
struct ItemClusters {
  std::vector<index_t> perm;     ///< position -> original item (items entries)
  std::vector<index_t> inverse;  ///< original item -> position (items entries)
  std::vector<index_t> sizes;    ///< items per cluster (clusters entries)
  std::vector<index_t> offsets;  ///< first position of each cluster, plus the total (clusters + 1)

  /// Builds the order from `labels` (label of item i = labels[i]). Throws std::invalid_argument for
  /// clusters < 1 or a label outside [0, clusters) (naming the item).
  ItemClusters(std::span<const index_t> labels, int clusters) {
    if (clusters < 1)
      throw std::invalid_argument("recdiff::ItemClusters: clusters must be >= 1, got " +
                                  std::to_string(clusters));
    if (labels.size() > static_cast<std::size_t>(std::numeric_limits<index_t>::max()))
      throw std::invalid_argument("recdiff::ItemClusters: too many labels (" +
                                  std::to_string(labels.size()) + ")");
    const auto uc = static_cast<std::size_t>(clusters);
    sizes.assign(uc, 0);
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] < 0 || labels[i] >= clusters)
        throw std::invalid_argument("recdiff::ItemClusters: labels[" + std::to_string(i) + "] = " +
                                    std::to_string(labels[i]) + " is outside [0, " +
                                    std::to_string(clusters) + ")");
      ++sizes[static_cast<std::size_t>(labels[i])];
    }
    offsets.assign(uc + 1, 0);
    for (std::size_t c = 0; c < uc; ++c) offsets[c + 1] = offsets[c] + sizes[c];
    std::vector<index_t> cursor(offsets.begin(), offsets.end() - 1);
    perm.resize(labels.size());
    inverse.resize(labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const index_t pos = cursor[static_cast<std::size_t>(labels[i])]++;
      perm[static_cast<std::size_t>(pos)] = static_cast<index_t>(i);
      inverse[i] = pos;
    }
  }

  /// Number of clusters.
  int num_clusters() const noexcept { return static_cast<int>(sizes.size()); }
  /// Number of items.
  index_t num_items() const noexcept { return static_cast<index_t>(perm.size()); }
  /// The original ids of cluster c's items, ascending. Throws std::out_of_range for a bad c.
  std::span<const index_t> items_of(int c) const {
    if (c < 0 || c >= num_clusters())
      throw std::out_of_range("recdiff::ItemClusters::items_of: cluster " + std::to_string(c) +
                              " outside [0, " + std::to_string(num_clusters()) + ")");
    const auto first = static_cast<std::size_t>(offsets[static_cast<std::size_t>(c)]);
    return {perm.data() + first, static_cast<std::size_t>(sizes[static_cast<std::size_t>(c)])};
  }
};

}  // namespace recdiff
