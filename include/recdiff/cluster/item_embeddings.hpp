#pragma once
/// @file
/// Item embeddings for L-DiffRec's clustering (Wang et al., SIGIR 2023, Sec. 3.4): loaded from the
/// .npy file the released code ships (one row per item), or computed from the training interactions
/// by a randomized truncated SVD when no such file exists. Both return a PointMatrix, kmeans' input.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <Eigen/SVD>

#include <recdiff/cluster/detail/householder_qr.hpp>
#include <recdiff/cluster/detail/parallel.hpp>
#include <recdiff/cluster/kmeans.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/npy.hpp>
#include <recdiff/error.hpp>
#include <recdiff/math/philox.hpp>

namespace recdiff {

/// Items x d float32 embeddings, row i = item i.
using ItemEmbeddings = PointMatrix;

namespace cluster_detail {

/// Reads the rows of a validated 2-D .npy of element type T into float, checking every value.
template <class T>
PointMatrix read_item_embeddings(const std::filesystem::path& npy, index_t items) {
  NpyMatrixReader<T> reader(npy);
  if (reader.rows() != static_cast<std::uint64_t>(items))
    throw IoError(npy, "expected " + std::to_string(items) + " rows (one per item), got shape (" +
                           std::to_string(reader.rows()) + ", " + std::to_string(reader.cols()) + ")");
  if (reader.cols() == 0 || reader.cols() > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
    throw IoError(npy, "expected at least one embedding column, got shape (" +
                           std::to_string(reader.rows()) + ", " + std::to_string(reader.cols()) + ")");
  const auto cols = static_cast<std::size_t>(reader.cols());
  PointMatrix out(items, static_cast<Eigen::Index>(cols));
  constexpr std::size_t chunk = 1024;
  std::vector<T> buffer(chunk * cols);
  std::size_t row = 0;
  while (const std::size_t got = reader.read_rows(buffer.data(), chunk)) {
    for (std::size_t r = 0; r < got; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        const T value = buffer[r * cols + c];
        const auto f = static_cast<float>(value);
        if (!std::isfinite(value) || !std::isfinite(f))
          throw IoError::at_offset(npy, reader.offset_of(row + r, c),
                                   (std::isfinite(value) ? "value " + std::to_string(value) +
                                                               " outside the float32 range"
                                                         : "non-finite value " + std::to_string(value)) +
                                       " at row " + std::to_string(row + r) + ", column " +
                                       std::to_string(c));
        out.data()[(row + r) * cols + c] = f;
      }
    row += got;
  }
  return out;
}

/// Philox step key of svd_item_embeddings' Gaussian test matrix (stream Stream::init, row = user).
inline constexpr std::uint32_t randomized_svd_key = 0x52535644u;  // "RSVD"

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// out (items x l) = X^T m for m users x l: row i sums the rows of m of the users of item i, in
/// ascending user order (`item_offsets` / `item_users` is X's item-major transpose).
inline RowMatrixD items_times(const std::vector<offset_t>& item_offsets,
                              const std::vector<index_t>& item_users, const RowMatrixD& m, int threads) {
  const auto items = static_cast<Eigen::Index>(item_offsets.size() - 1);
  RowMatrixD out = RowMatrixD::Zero(items, m.cols());
  parallel_for(threads, items, [&](std::int64_t i) {
    auto row = out.row(i);
    for (offset_t k = item_offsets[static_cast<std::size_t>(i)];
         k < item_offsets[static_cast<std::size_t>(i) + 1]; ++k)
      row += m.row(item_users[static_cast<std::size_t>(k)]);
  }, 32);
  return out;
}

/// out (users x l) = X m for m items x l: row u sums the rows of m of user u's items, in row order.
inline RowMatrixD users_times(const InteractionMatrix& x, const RowMatrixD& m, int threads) {
  RowMatrixD out = RowMatrixD::Zero(x.num_users(), m.cols());
  parallel_for(threads, x.num_users(), [&](std::int64_t u) {
    auto row = out.row(u);
    for (const index_t i : x.items_of(static_cast<index_t>(u))) row += m.row(i);
  }, 32);
  return out;
}

}  // namespace cluster_detail

/// Loads `items` x d item embeddings from a 2-D, C-order, little-endian .npy file of float32
/// ('<f4') or float64 ('<f8', rounded to float). Throws std::invalid_argument for items < 0, and
/// recdiff::IoError naming the file for every defect the .npy reader reports (missing file, corrupt
/// header, not 2-D, truncated payload, ...), another dtype, a row count other than `items`, zero
/// columns, and a non-finite value or a float64 value beyond the float32 range (with its row, column
/// and byte offset).
inline ItemEmbeddings load_item_embeddings(const std::filesystem::path& npy, index_t items) {
  if (items < 0)
    throw std::invalid_argument("recdiff::load_item_embeddings: items must be >= 0, got " +
                                std::to_string(items));
  if (!std::filesystem::exists(npy)) throw IoError(npy, "no such file");
  if (!std::filesystem::is_regular_file(npy)) throw IoError(npy, "not a regular file");
  std::string descr;
  {
    std::ifstream in(npy, std::ios::binary);
    if (!in) throw IoError(npy, "cannot open for reading");
    descr = detail::read_npy_header(in, npy).descr;
  }
  if (descr == "<f8" || descr == ">f8") return cluster_detail::read_item_embeddings<double>(npy, items);
  if (descr == "<f4" || descr == ">f4") return cluster_detail::read_item_embeddings<float>(npy, items);
  throw IoError(npy, "item embeddings must be float32 ('<f4') or float64 ('<f8'), got dtype '" + descr + "'");
}

/// Item embeddings from a randomized truncated SVD of the items x users matrix A = X^T of `train`
/// (each stored interaction counts 1): Halko, Martinsson and Tropp 2011, Algorithm 4.4 (randomized
/// subspace iteration), every product re-orthonormalised by a Householder QR:
///
///   l = min(dim + oversampling, users, items);  Omega = users x l standard normals;
///   Q = qr(A Omega);  power_iterations times: Q' = qr(A^T Q), Q = qr(A Q');
///   B = Q^T A (formed as A^T Q = Q_b R);  R^T = V S W^T (Eigen's JacobiSVD, l x l);
///   embedding = first `dim` columns of (Q V) diag(S)  =  U_k diag(sigma_k).
///
/// Row i is item i's embedding, the item's row of U_k Sigma_k (A ~ U_k Sigma_k V_k^T): the items'
/// coordinates in the top-k user-space directions, so Euclidean distances between embeddings are
/// those between the items' rank-k approximated user columns. Column j has Euclidean norm ~sigma_j,
/// in decreasing order. Singular vectors are defined up to sign: each column is oriented so that its
/// entry of largest magnitude (the first, on ties) is positive.
///
/// Reproducible: Omega[u][j] = Philox normal (seed, Stream::init, key "RSVD", row u, column j), and
/// every sparse product, QR and SVD runs in double in a fixed order, so the result depends on the
/// seed only, not on `threads` (0 = all). X is never densified: memory is O((users + items) l) for
/// the dense panels plus O(nnz) for an item-major copy of X's indices.
///
/// Throws std::invalid_argument naming the argument and value for dim < 1 or dim > min(users, items),
/// power_iterations < 0, oversampling < 0, threads < 0.
inline ItemEmbeddings svd_item_embeddings(const InteractionMatrix& train, int dim, std::uint64_t seed,
                                          int power_iterations = 2, int oversampling = 10,
                                          int threads = 0) {
  constexpr const char* fn = "recdiff::svd_item_embeddings";
  const index_t users = train.num_users();
  const index_t items = train.num_items();
  const index_t rank_bound = std::min(users, items);
  if (dim < 1 || dim > rank_bound)
    throw std::invalid_argument(std::string(fn) + ": dim must be in [1, min(users, items) = " +
                                std::to_string(rank_bound) + "], got " + std::to_string(dim));
  if (power_iterations < 0)
    throw std::invalid_argument(std::string(fn) + ": power_iterations must be >= 0, got " +
                                std::to_string(power_iterations));
  if (oversampling < 0)
    throw std::invalid_argument(std::string(fn) + ": oversampling must be >= 0, got " +
                                std::to_string(oversampling));
  const int nt = cluster_detail::resolve_threads(fn, threads);
  const auto l = static_cast<Eigen::Index>(
      std::min<std::int64_t>(std::int64_t{dim} + oversampling, rank_bound));

  // X's item-major transpose (users ascending within an item): A's rows.
  std::vector<offset_t> item_offsets(static_cast<std::size_t>(items) + 1, 0);
  for (const index_t i : train.indices()) ++item_offsets[static_cast<std::size_t>(i) + 1];
  for (std::size_t i = 0; i < static_cast<std::size_t>(items); ++i) item_offsets[i + 1] += item_offsets[i];
  std::vector<index_t> item_users(train.indices().size());
  {
    std::vector<offset_t> cursor(item_offsets.begin(), item_offsets.end() - 1);
    for (index_t u = 0; u < users; ++u)
      for (const index_t i : train.items_of(u))
        item_users[static_cast<std::size_t>(cursor[static_cast<std::size_t>(i)]++)] = u;
  }

  // Gaussian test matrix Omega (users x l).
  cluster_detail::RowMatrixD omega(users, l);
  const std::int64_t groups = (l + 3) / 4;
  cluster_detail::parallel_for(nt, users, [&](std::int64_t u) {
    for (std::int64_t g = 0; g < groups; ++g) {
      float z[4];
      philox::normal4(seed, philox::Stream::init, cluster_detail::randomized_svd_key,
                      static_cast<std::uint32_t>(u), static_cast<std::uint32_t>(g), z);
      for (std::int64_t c = 0; c < 4 && 4 * g + c < l; ++c) omega(u, 4 * g + c) = z[c];
    }
  }, 64);

  // Range finder with subspace iteration; panels in column-major for the QR.
  Eigen::MatrixXd q = cluster_detail::items_times(item_offsets, item_users, omega, nt);
  cluster_detail::householder_qr(q, nullptr, nt);
  for (int it = 0; it < power_iterations; ++it) {
    Eigen::MatrixXd qu = cluster_detail::users_times(train, cluster_detail::RowMatrixD(q), nt);
    cluster_detail::householder_qr(qu, nullptr, nt);
    q = cluster_detail::items_times(item_offsets, item_users, cluster_detail::RowMatrixD(qu), nt);
    cluster_detail::householder_qr(q, nullptr, nt);
  }

  // B^T = A^T Q = Q_b R, so B = R^T Q_b^T and B's left singular vectors are those of R^T.
  Eigen::MatrixXd bt = cluster_detail::users_times(train, cluster_detail::RowMatrixD(q), nt);
  Eigen::MatrixXd r;
  cluster_detail::householder_qr(bt, &r, nt);
  const Eigen::MatrixXd rt = r.transpose();
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(rt, Eigen::ComputeFullU);
  const Eigen::MatrixXd& v = svd.matrixU();
  const Eigen::VectorXd& sigma = svd.singularValues();

  // Embedding = (Q V)_k diag(sigma_k), by an explicit loop (one writer per row, fixed sum order).
  cluster_detail::RowMatrixD e(items, dim);
  cluster_detail::parallel_for(nt, items, [&](std::int64_t i) {
    for (int j = 0; j < dim; ++j) {
      double s = 0.0;
      for (Eigen::Index t = 0; t < l; ++t) s += q(i, t) * v(t, j);
      e(i, j) = s * sigma(j);
    }
  }, 64);
  ItemEmbeddings out(items, dim);
  for (int j = 0; j < dim; ++j) {
    Eigen::Index top = 0;
    for (Eigen::Index i = 1; i < items; ++i)
      if (std::abs(e(i, j)) > std::abs(e(top, j))) top = i;
    const double sign = e(top, j) < 0.0 ? -1.0 : 1.0;
    for (Eigen::Index i = 0; i < items; ++i) out(i, j) = static_cast<float>(sign * e(i, j));
  }
  return out;
}

/// Scales every row of `embeddings` to unit Euclidean length (rows of norm 0 stay 0), so that
/// k-means compares items by direction (cosine) rather than by magnitude. SVD embeddings need it
/// before clustering: the norm of an item's row of U_k Sigma_k grows with its popularity, and
/// Euclidean k-means on the raw rows splits the few most popular items from all the others.
inline void normalize_rows(ItemEmbeddings& embeddings) {
  for (Eigen::Index r = 0; r < embeddings.rows(); ++r) {
    const float norm = embeddings.row(r).norm();
    if (norm > 0) embeddings.row(r) /= norm;
  }
}

}  // namespace recdiff
