#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include <Eigen/Dense>
#include <catch2/catch.hpp>

#include "support/shared_data.hpp"
#include <recdiff/cluster/cluster.hpp>
#include <recdiff/data/npy.hpp>

using Catch::Matchers::Contains;
using recdiff::index_t;
using recdiff::InteractionMatrix;
using recdiff::IoError;

namespace {

/// users x items: user u of block b (block sizes `user_blocks`) interacts with every item of block b
/// (sizes `item_blocks`), then users and items past the blocks, and `noise_probability` of the other
/// cells at random. Without noise the singular values are sqrt(users_b * items_b).
InteractionMatrix block_matrix(const std::vector<index_t>& user_blocks, const std::vector<index_t>& item_blocks,
                               index_t users, index_t items, double noise_probability, std::uint64_t seed,
                               Eigen::MatrixXd* dense) {
  std::vector<index_t> user_block(static_cast<std::size_t>(users), -1), item_block(static_cast<std::size_t>(items), -1);
  index_t u0 = 0, i0 = 0;
  for (std::size_t b = 0; b < user_blocks.size(); ++b) {
    for (index_t u = 0; u < user_blocks[b]; ++u) user_block[static_cast<std::size_t>(u0 + u)] = static_cast<index_t>(b);
    for (index_t i = 0; i < item_blocks[b]; ++i) item_block[static_cast<std::size_t>(i0 + i)] = static_cast<index_t>(b);
    u0 += user_blocks[b];
    i0 += item_blocks[b];
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  recdiff::InteractionBuilder builder;
  dense->setZero(users, items);
  // Items of a row in decreasing order, so the CSR rows are not sorted.
  for (index_t u = 0; u < users; ++u)
    for (index_t i = items - 1; i >= 0; --i) {
      const bool in_block = user_block[static_cast<std::size_t>(u)] >= 0 &&
                            user_block[static_cast<std::size_t>(u)] == item_block[static_cast<std::size_t>(i)];
      if (in_block || uniform(rng) < noise_probability) {
        builder.add(u, i);
        (*dense)(u, i) = 1.0;
      }
    }
  return builder.build(users, items);
}

}  // namespace

TEST_CASE("svd_item_embeddings: exact singular values of a block matrix", "[cluster][svd]") {
  Eigen::MatrixXd dense;
  const auto x = block_matrix({40, 30, 25, 20}, {30, 25, 20, 15}, 115, 90, 0.0, 1, &dense);
  const auto e = recdiff::svd_item_embeddings(x, 4, 7);
  REQUIRE(e.rows() == 90);
  REQUIRE(e.cols() == 4);
  const double expected[4] = {std::sqrt(40.0 * 30), std::sqrt(30.0 * 25), std::sqrt(25.0 * 20),
                              std::sqrt(20.0 * 15)};
  for (int j = 0; j < 4; ++j) REQUIRE(e.col(j).cast<double>().norm() == Approx(expected[j]).epsilon(1e-6));
  // Column j is sigma_j times the normalised indicator of item block j (largest entry positive).
  const index_t first[5] = {0, 30, 55, 75, 90};
  for (int j = 0; j < 4; ++j)
    for (index_t i = 0; i < 90; ++i) {
      const bool inside = i >= first[j] && i < first[j + 1];
      const double want = inside ? expected[j] / std::sqrt(static_cast<double>(first[j + 1] - first[j])) : 0.0;
      REQUIRE(e(i, j) == Approx(want).margin(1e-5));
    }
}

TEST_CASE("svd_item_embeddings: leading singular values match a dense SVD", "[cluster][svd]") {
  Eigen::MatrixXd dense;
  const auto x = block_matrix({60, 45, 35, 30, 20}, {40, 30, 25, 20, 15}, 260, 170, 0.04, 3, &dense);
  const int k = 5;
  const auto e = recdiff::svd_item_embeddings(x, k, 11);
  // Exact: the items x users matrix X^T = U S V^T.
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(dense.transpose(), Eigen::ComputeThinU);
  const Eigen::VectorXd& s = svd.singularValues();
  REQUIRE(s(k - 1) > 1.5 * s(k));  // a real gap, so rank k is well defined
  for (int j = 0; j < k; ++j) {
    INFO("singular value " << j);
    REQUIRE(e.col(j).cast<double>().norm() == Approx(s(j)).epsilon(1e-3));
  }
  // The embeddings themselves, up to each column's sign: compare U_k S_k with its sign fixed the
  // same way (largest entry positive), and the Gram matrix E E^T (sign-free).
  const Eigen::MatrixXd ref = svd.matrixU().leftCols(k) * s.head(k).asDiagonal();
  const Eigen::MatrixXd ed = e.cast<double>();
  for (int j = 0; j < k; ++j) {
    Eigen::Index top = 0;
    ref.col(j).cwiseAbs().maxCoeff(&top);
    const double sign = ref(top, j) < 0 ? -1.0 : 1.0;
    const double err = (ed.col(j) - sign * ref.col(j)).norm() / ref.col(j).norm();
    INFO("column " << j);
    REQUIRE(err < 1e-2);
  }
  const Eigen::MatrixXd gram_err = ed * ed.transpose() - ref * ref.transpose();
  REQUIRE(gram_err.norm() < 1e-3 * (ref * ref.transpose()).norm());
}

TEST_CASE("svd_item_embeddings: reproducible from the seed at any thread count", "[cluster][svd]") {
  Eigen::MatrixXd dense;
  const auto x = block_matrix({50, 40, 30}, {30, 30, 20}, 180, 120, 0.05, 9, &dense);
  const auto a = recdiff::svd_item_embeddings(x, 6, 42, 2, 10, 1);
  const auto b = recdiff::svd_item_embeddings(x, 6, 42, 2, 10, 1);
  const auto c = recdiff::svd_item_embeddings(x, 6, 42, 2, 10, 2);
  const auto d = recdiff::svd_item_embeddings(x, 6, 42, 2, 10, 3);
  const auto bytes = sizeof(float) * 120 * 6;
  REQUIRE(std::memcmp(a.data(), b.data(), bytes) == 0);
  REQUIRE(std::memcmp(a.data(), c.data(), bytes) == 0);
  REQUIRE(std::memcmp(a.data(), d.data(), bytes) == 0);
  // Another seed: another test matrix, the same leading singular values.
  const auto other = recdiff::svd_item_embeddings(x, 6, 43, 2, 10, 1);
  REQUIRE(std::memcmp(a.data(), other.data(), bytes) != 0);
  for (int j = 0; j < 3; ++j)
    REQUIRE(other.col(j).norm() == Approx(a.col(j).norm()).epsilon(1e-4));
  // dim = min(users, items) and no oversampling room: a full factorisation, still orthogonal.
  const auto small = block_matrix({3, 2}, {2, 2}, 6, 5, 0.3, 2, &dense);
  const auto full = recdiff::svd_item_embeddings(small, 5, 1, 0, 10);
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(dense.transpose());
  for (int j = 0; j < 5; ++j)
    REQUIRE(full.col(j).cast<double>().norm() == Approx(svd.singularValues()(j)).margin(1e-5));
}

TEST_CASE("svd_item_embeddings: bad arguments are rejected", "[cluster][svd]") {
  Eigen::MatrixXd dense;
  const auto x = block_matrix({4, 3}, {3, 2}, 8, 6, 0.2, 1, &dense);
  REQUIRE_THROWS_WITH(recdiff::svd_item_embeddings(x, 0, 1), Contains("dim") && Contains("got 0"));
  REQUIRE_THROWS_WITH(recdiff::svd_item_embeddings(x, 7, 1), Contains("min(users, items) = 6") && Contains("got 7"));
  REQUIRE_THROWS_WITH(recdiff::svd_item_embeddings(x, 2, 1, -1), Contains("power_iterations"));
  REQUIRE_THROWS_WITH(recdiff::svd_item_embeddings(x, 2, 1, 2, -3), Contains("oversampling"));
  REQUIRE_THROWS_WITH(recdiff::svd_item_embeddings(x, 2, 1, 2, 10, -1), Contains("threads"));
  REQUIRE(recdiff::svd_item_embeddings(x, 6, 1).cols() == 6);
}

TEST_CASE("load_item_embeddings: float32 and float64 files", "[cluster][npy]") {
  recdiff::test::TempDir dir;
  xt::xtensor<float, 2> f32 = {{1.0f, -2.5f, 3.0f}, {0.25f, 5.0f, -6.0f}};
  recdiff::save_npy(dir / "f32.npy", f32);
  const auto a = recdiff::load_item_embeddings(dir / "f32.npy", 2);
  REQUIRE(a.rows() == 2);
  REQUIRE(a.cols() == 3);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) REQUIRE(a(i, j) == f32(i, j));
  xt::xtensor<double, 2> f64 = {{0.1, 1e-3}, {-7.0, 1.0 / 3.0}, {2.0, 4.0}};
  recdiff::save_npy(dir / "f64.npy", f64);
  const auto b = recdiff::load_item_embeddings(dir / "f64.npy", 3);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) REQUIRE(b(i, j) == static_cast<float>(f64(i, j)));
}

TEST_CASE("load_item_embeddings: defects are IoErrors naming the file", "[cluster][npy]") {
  recdiff::test::TempDir dir;
  xt::xtensor<float, 2> f32 = {{1.0f, 2.0f}, {3.0f, 4.0f}, {5.0f, 6.0f}};
  const auto good = dir / "good.npy";
  recdiff::save_npy(good, f32);
  REQUIRE_THROWS_WITH(recdiff::load_item_embeddings(good, 4),
                      Contains("good.npy") && Contains("expected 4 rows") && Contains("(3, 2)"));
  REQUIRE_THROWS_AS(recdiff::load_item_embeddings(good, -1), std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::load_item_embeddings(dir / "missing.npy", 3),
                      Contains("missing.npy") && Contains("no such file"));
  xt::xtensor<float, 1> flat = {1.0f, 2.0f, 3.0f};
  recdiff::save_npy(dir / "flat.npy", flat);
  REQUIRE_THROWS_WITH(recdiff::load_item_embeddings(dir / "flat.npy", 3),
                      Contains("flat.npy") && Contains("2-D"));
  xt::xtensor<std::int32_t, 2> ints = {{1, 2}, {3, 4}};
  recdiff::save_npy(dir / "ints.npy", ints);
  REQUIRE_THROWS_WITH(recdiff::load_item_embeddings(dir / "ints.npy", 2),
                      Contains("ints.npy") && Contains("'<i4'"));
  f32(1, 1) = std::numeric_limits<float>::quiet_NaN();
  recdiff::save_npy(dir / "nan.npy", f32);
  try {
    recdiff::load_item_embeddings(dir / "nan.npy", 3);
    FAIL("no exception");
  } catch (const IoError& error) {
    REQUIRE_THAT(error.what(), Contains("nan.npy") && Contains("row 1, column 1"));
    REQUIRE(error.offset().has_value());
  }
  xt::xtensor<double, 2> huge = {{1.0, 1e300}};
  recdiff::save_npy(dir / "huge.npy", huge);
  REQUIRE_THROWS_WITH(recdiff::load_item_embeddings(dir / "huge.npy", 1),
                      Contains("float32 range") && Contains("row 0, column 1"));
  std::ofstream(dir / "junk.npy") << "not a numpy file";
  REQUIRE_THROWS_AS(recdiff::load_item_embeddings(dir / "junk.npy", 1), IoError);
}

TEST_CASE("svd embeddings cluster the items of a block matrix by block", "[cluster][svd][kmeans]") {
  Eigen::MatrixXd dense;
  const auto x = block_matrix({50, 40, 30}, {35, 25, 20}, 150, 80, 0.03, 5, &dense);
  const auto e = recdiff::svd_item_embeddings(x, 3, 1);
  recdiff::KMeansOptions o;
  o.init = recdiff::KMeansInit::plusplus;
  const auto r = recdiff::kmeans(e, 3, o);
  const recdiff::ItemClusters ic(r.labels, 3);
  // Every item is in a block (users 120..149 only add noise): one cluster per block.
  for (const auto& [lo, hi] : {std::pair{0, 35}, std::pair{35, 60}, std::pair{60, 80}})
    for (index_t i = lo + 1; i < hi; ++i) REQUIRE(r.labels[static_cast<std::size_t>(i)] == r.labels[static_cast<std::size_t>(lo)]);
  REQUIRE(r.labels[0] != r.labels[35]);
  REQUIRE(r.labels[0] != r.labels[60]);
  REQUIRE(r.labels[35] != r.labels[60]);
}

TEST_CASE("normalize_rows: unit rows, zero rows kept, directions unchanged", "[cluster][svd]") {
  recdiff::ItemEmbeddings e(3, 2);
  e << 3.f, 4.f, 0.f, 0.f, -2.f, 0.f;
  recdiff::normalize_rows(e);
  CHECK(e(0, 0) == Approx(0.6f));
  CHECK(e(0, 1) == Approx(0.8f));
  CHECK(e(1, 0) == 0.f);
  CHECK(e(1, 1) == 0.f);
  CHECK(e(2, 0) == Approx(-1.f));
  CHECK(e(2, 1) == 0.f);
}

TEST_CASE("normalised svd embeddings cluster by block, not by popularity", "[cluster][svd][kmeans]") {
  // Blocks of very different popularity: the first block's items are taken by many more users.
  Eigen::MatrixXd dense;
  const auto x = block_matrix({100, 30}, {20, 40}, 130, 60, 0.02, 5, &dense);
  auto e = recdiff::svd_item_embeddings(x, 2, 1);
  recdiff::normalize_rows(e);
  const auto r = recdiff::kmeans(e, 2, {});
  for (index_t i = 1; i < 20; ++i) REQUIRE(r.labels[static_cast<std::size_t>(i)] == r.labels[0]);
  for (index_t i = 21; i < 60; ++i) REQUIRE(r.labels[static_cast<std::size_t>(i)] == r.labels[20]);
  REQUIRE(r.labels[0] != r.labels[20]);
}
