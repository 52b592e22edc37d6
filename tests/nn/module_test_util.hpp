#pragma once
// Helpers shared by the nn tests: seeded inputs (optionally kept away from an activation's kink),
// the assertions on a check_module result, and the gradient-accumulation check.

#include <catch2/catch.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

#include "nn/module_check.hpp"

namespace recdiff::test {

template <class T>
using Mat = CpuBackend::Matrix<T>;

/// A rows x cols matrix of uniform values in [-1, 1] drawn from `seed`; with margin > 0 every value
/// is moved away from 0, |v| in [margin, 1] (inputs of rectifiers: a finite-difference step must not
/// cross the kink).
template <class T>
Mat<T> random_matrix(std::int64_t rows, std::int64_t cols, std::uint32_t seed, double margin = 0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Mat<T> m(rows, cols);
  for (Eigen::Index k = 0; k < m.size(); ++k) {
    const double v = u(rng);
    const double a = margin + std::abs(v) * (1 - margin);
    m.data()[k] = static_cast<T>(v < 0 ? -a : a);
  }
  return m;
}

/// Asserts that every parameter's relative gradient error, and (when `input`) the input's, is below
/// Tolerances<T>::gradient, and that the module has the `expected_parameters` tensors.
template <class T>
void require_gradients(const ModuleCheck& check, std::size_t expected_parameters, bool input = true) {
  REQUIRE(check.parameters.size() == expected_parameters);
  for (const auto& [name, error] : check.parameters) {
    INFO("parameter " << name << ": relative error " << error);
    CHECK(error < Tolerances<T>::gradient);
  }
  if (input) {
    REQUIRE(check.input_checked);
    INFO("input: relative error " << check.input);
    CHECK(check.input < Tolerances<T>::gradient);
  }
}

/// Gradients accumulate: two backward passes without zero_grad() give twice the gradient of one
/// (up to the rounding of the addition), and zero_grad() then one pass gives the single-pass
/// gradient bit for bit.
template <class ModuleType>
void check_accumulation(ModuleType& module, const Mat<typename ModuleType::scalar_type>& x,
                        const nn::Pass& pass = {}) {
  using T = typename ModuleType::scalar_type;
  CpuBackend::Context ctx(2);
  auto params = nn::parameters_of(module);
  REQUIRE(!params.empty());
  const Mat<T> out = module.forward(ctx, x, pass);
  const Mat<T> r = random_matrix<T>(out.rows(), out.cols(), 99);
  nn::zero_grad(params);
  module.forward(ctx, x, pass);
  module.backward(ctx, r, false);
  std::vector<Mat<T>> once;
  for (auto& p : params) once.push_back(p.tensor->gradient());
  module.forward(ctx, x, pass);
  module.backward(ctx, r, false);
  for (std::size_t k = 0; k < params.size(); ++k) {
    INFO("parameter " << params[k].name);
    const Mat<T> twice = params[k].tensor->gradient();
    const Mat<T> expected = T(2) * once[k];
    CHECK((twice - expected).norm() <= 1e-5 * (1 + expected.norm()));
    CHECK(!once[k].isZero());  // a meaningful check
  }
  nn::zero_grad(params);
  module.forward(ctx, x, pass);
  module.backward(ctx, r, false);
  for (std::size_t k = 0; k < params.size(); ++k) {
    INFO("parameter " << params[k].name);
    CHECK(params[k].tensor->gradient() == once[k]);
  }
}

/// The names of a module's parameters under `prefix`, in order.
template <class ModuleType>
std::vector<std::string> parameter_names(ModuleType& module, const std::string& prefix = "") {
  std::vector<std::string> names;
  for (const auto& p : nn::parameters_of(module, prefix)) names.push_back(p.name);
  return names;
}

/// A training pass with a fixed counter (deterministic dropout masks).
inline nn::Pass training_pass(std::uint32_t counter = 3, std::uint64_t seed = 17) {
  nn::Pass pass;
  pass.train = true;
  pass.seed = seed;
  pass.counter = counter;
  return pass;
}

}  // namespace recdiff::test
