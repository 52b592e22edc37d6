#pragma once
// The finite-difference check of a Module, written once over the scalar type: for a fixed random
// weighting R of the output, loss(theta, x) = sum(forward(x) .* R); backward(R) must give
// dloss/dtheta for every parameter (accumulated from zero) and dloss/dx. Central differences with a
// step and a bound per scalar type (Tolerances<T>), mlpack's ||g - g_fd|| / ||g + g_fd|| score.

#include <Eigen/Core>

#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

#include "nn/gradcheck.hpp"

namespace recdiff::test {

/// Finite-difference step and bound on the relative gradient error, per scalar type. float: the
/// rounding error of a float loss over a step of 1e-2 is ~1e-5 relative, so a correct gradient
/// scores ~1e-4 and a wrong term near 1.
template <class T>
struct Tolerances;
template <>
struct Tolerances<double> {
  static constexpr double step = 1e-6;
  static constexpr double gradient = 1e-6;
};
template <>
struct Tolerances<float> {
  static constexpr double step = 1e-2;
  static constexpr double gradient = 2e-2;
};

/// Result of check_module: the relative error of each parameter (by name) and of the input.
struct ModuleCheck {
  std::vector<std::pair<std::string, double>> parameters;
  double input = 0;
  bool input_checked = false;
};

/// Checks `module`'s backward pass on input x under `pass` (which must be deterministic: a training
/// pass keeps its counter, so dropout draws the same mask each time). With check_input = false the
/// input gradient is not compared (modules whose input is not differentiable, e.g. indices).
template <class ModuleType>
ModuleCheck check_module(ModuleType& module, CpuBackend::Matrix<typename ModuleType::scalar_type> x,
                         const nn::Pass& pass = {}, bool check_input = true,
                         unsigned weighting_seed = 7) {
  using T = typename ModuleType::scalar_type;
  using Matrix = CpuBackend::Matrix<T>;
  CpuBackend::Context ctx(2);
  const double h = Tolerances<T>::step;
  std::srand(weighting_seed);
  const Matrix first = module.forward(ctx, x, pass);
  const Matrix r = Matrix::Random(first.rows(), first.cols());
  auto loss = [&] {
    const Matrix& out = module.forward(ctx, x, pass);
    return static_cast<double>(out.template cast<double>().cwiseProduct(r.template cast<double>()).sum());
  };
  auto params = nn::parameters_of(module);
  nn::zero_grad(params);
  module.forward(ctx, x, pass);
  const Matrix* dx = module.backward(ctx, r, check_input);
  ModuleCheck result;
  Matrix dx_copy;
  if (check_input && dx != nullptr) dx_copy = *dx;
  for (auto& p : params) {
    const Matrix analytic = p.tensor->gradient();
    result.parameters.emplace_back(p.name, gradient_error(p.value(), analytic, loss, h));
  }
  if (check_input) {
    result.input_checked = dx != nullptr;
    if (dx != nullptr) result.input = gradient_error(x, dx_copy, loss, h);
  }
  return result;
}

}  // namespace recdiff::test
