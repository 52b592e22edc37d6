#pragma once
// Helpers shared by the optimiser tests: tensors with given values and gradients, written the way a
// backward pass writes them (the first write after zero_grad() overwrites).

#include <cmath>
#include <cstdint>
#include <string>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/nn/parameter.hpp>

namespace recdiff::test {

template <class T>
using CpuTensor = nn::Tensor<CpuBackend, T>;
template <class T>
using CpuMatrix = CpuBackend::Matrix<T>;

// A tensor holding `value` (a matrix or an Eigen expression), with a lazily zero gradient.
template <class Derived>
CpuTensor<typename Derived::Scalar> tensor_of(const Eigen::MatrixBase<Derived>& value) {
  CpuTensor<typename Derived::Scalar> t(value.rows(), value.cols());
  t.value = value;
  return t;
}

// Writes `g` as the gradient, as a backward pass would (overwrites after zero_grad()).
template <class T, class Derived>
void write_grad(CpuTensor<T>& t, const Eigen::MatrixBase<Derived>& g) {
  t.grad_beta();
  t.grad = g;
}

// A deterministic pseudo-gradient for step n, element k, with magnitudes over several binades and
// both signs.
inline double pseudo_grad(std::int64_t k, int n, double theta) {
  return std::sin(0.37 * static_cast<double>(k) + 1.3 * n) * std::pow(10.0, -static_cast<double>(k % 3)) +
         0.2 * theta;
}

}  // namespace recdiff::test
