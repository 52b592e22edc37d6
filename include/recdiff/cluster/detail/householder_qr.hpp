#pragma once
/// @file
/// Thin QR factorisation of a tall dense matrix by Householder reflections (Golub and Van Loan,
/// Matrix Computations, Sec. 5.2), written so that its bits do not depend on the thread count: each
/// reflector is applied to every column by one thread, column by column, with the row sums in order.
/// (Eigen's blocked QR goes through its GEMM, which OpenMP may split differently per thread count.)

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include <recdiff/cluster/detail/parallel.hpp>

namespace recdiff::cluster_detail {

/// Factors the m x l matrix `a` (m >= l) as a = Q R with Q m x l of orthonormal columns and R l x l
/// upper triangular. On return `a` holds Q and `r`, when not null, holds R. Q's columns are
/// orthonormal even when `a` is rank-deficient (a zero column gets the identity reflector). Throws
/// std::invalid_argument when m < l.
inline void householder_qr(Eigen::MatrixXd& a, Eigen::MatrixXd* r, int threads) {
  const Eigen::Index m = a.rows();
  const Eigen::Index l = a.cols();
  if (m < l)
    throw std::invalid_argument("recdiff::cluster_detail::householder_qr: needs rows >= cols, got " +
                                std::to_string(m) + " x " + std::to_string(l));
  std::vector<double> vnorm2(static_cast<std::size_t>(l), 0.0);  // v^T v of each reflector, 0 = none
  std::vector<double> diagonal(static_cast<std::size_t>(l), 0.0);
  for (Eigen::Index k = 0; k < l; ++k) {
    double* x = a.col(k).data();
    double norm2 = 0.0;
    for (Eigen::Index i = k; i < m; ++i) norm2 += x[i] * x[i];
    if (norm2 == 0.0) continue;  // H_k = I, R(k, k) = 0
    const double norm = std::sqrt(norm2);
    const double alpha = x[k] >= 0.0 ? -norm : norm;  // v_0 = x_0 - alpha never cancels
    // v = x - alpha e_k, stored over x: v^T v = norm2 - 2 alpha x_0 + alpha^2 = 2 (norm2 - alpha x_0).
    const double vv = 2.0 * (norm2 - alpha * x[k]);
    x[k] -= alpha;
    vnorm2[static_cast<std::size_t>(k)] = vv;
    diagonal[static_cast<std::size_t>(k)] = alpha;
    parallel_for(threads, l - k - 1, [&](std::int64_t jj) {
      double* y = a.col(k + 1 + jj).data();
      double s = 0.0;
      for (Eigen::Index i = k; i < m; ++i) s += x[i] * y[i];
      const double f = 2.0 * s / vv;
      for (Eigen::Index i = k; i < m; ++i) y[i] -= f * x[i];
    });
  }
  if (r != nullptr) {
    r->setZero(l, l);
    for (Eigen::Index j = 0; j < l; ++j) {
      for (Eigen::Index i = 0; i < j; ++i) (*r)(i, j) = a(i, j);
      (*r)(j, j) = diagonal[static_cast<std::size_t>(j)];
    }
  }
  // Q = H_0 H_1 ... H_{l-1} [I; 0], applied from the last reflector; H_k changes columns >= k only.
  Eigen::MatrixXd q = Eigen::MatrixXd::Identity(m, l);
  for (Eigen::Index k = l - 1; k >= 0; --k) {
    const double vv = vnorm2[static_cast<std::size_t>(k)];
    if (vv == 0.0) continue;
    const double* v = a.col(k).data();
    parallel_for(threads, l - k, [&](std::int64_t jj) {
      double* y = q.col(k + jj).data();
      double s = 0.0;
      for (Eigen::Index i = k; i < m; ++i) s += v[i] * y[i];
      const double f = 2.0 * s / vv;
      for (Eigen::Index i = k; i < m; ++i) y[i] -= f * v[i];
    });
  }
  a = std::move(q);
}

}  // namespace recdiff::cluster_detail
