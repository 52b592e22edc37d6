#pragma once
// Central finite differences for the hand-written backward passes (double precision).
//
// The score is mlpack's ||g - g_fd|| / ||g + g_fd||. With h = 1e-6 the truncation error of the
// central difference is O(h^2 f''') ~ 1e-12 and the rounding error ~ eps |f| / h ~ 1e-10 for losses
// of order one, so a correct gradient scores far below the 1e-6 bound (mlpack's layer tests use 1e-4) and any
// wrong term (a missing factor, a wrong index) scores near 1.

#include <Eigen/Core>

namespace recdiff::test {

/// Bound on gradient_error for a correct gradient in double precision.
constexpr double gradcheck_tolerance = 1e-6;

/// Compares `analytic` (same shape as `param`) with the central difference of `loss()` with respect
/// to every element of `param`, which is perturbed in place and restored.
template <class MatrixType, class LossFn>
double gradient_error(MatrixType& param, const MatrixType& analytic, LossFn loss, double h = 1e-6) {
  MatrixType numeric(param.rows(), param.cols());
  for (Eigen::Index k = 0; k < param.size(); ++k) {
    const double saved = param.data()[k];
    param.data()[k] = saved + h;
    const double plus = loss();
    param.data()[k] = saved - h;
    const double minus = loss();
    param.data()[k] = saved;
    numeric.data()[k] = (plus - minus) / (2 * h);
  }
  const double denom = (analytic + numeric).norm();
  return denom == 0 ? (analytic - numeric).norm() : (analytic - numeric).norm() / denom;
}

}  // namespace recdiff::test
