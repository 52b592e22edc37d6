#pragma once
/// @file
/// Dropout: inverted dropout with counter-based Philox masks (no mask is stored).

#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/nn/kernels.hpp>

namespace recdiff::nn {

/// Inverted dropout: in training, element (i, j) is zeroed with probability p and survivors are
/// scaled by 1 / (1 - p); in evaluation the layer is the identity and is simply not called.
///
/// The mask is a pure function of (seed, Stream::dropout, counter, row, column), so the backward pass
/// recomputes it instead of storing it, and the same (seed, counter) reproduces the same mask on any
/// backend and thread count. Use a new counter for every training step.
/// @tparam BackendType a backend (recdiff::CpuBackend)
/// @tparam T the scalar type
template <class BackendType, class T>
class Dropout {
 public:
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// @throws std::invalid_argument unless 0 <= p < 1
  explicit Dropout(double p = 0.0) : m_p(p) {
    if (!(p >= 0.0 && p < 1.0))
      throw std::invalid_argument("recdiff::nn::Dropout: p must be in [0, 1), got " +
                                  std::to_string(p));
  }

  /// Drop probability.
  double p() const noexcept { return m_p; }

  /// out = dropout(in) (out resized to in's shape only when it differs; out may alias in).
  void forward(const Context& ctx, const Matrix& in, Matrix& out, std::uint64_t seed,
               std::uint32_t counter) const {
    if (&out != &in) out.resize(in.rows(), in.cols());
    apply(ctx, in.data(), out.data(), in.rows(), in.cols(), seed, counter);
  }

  /// dx = dy masked and scaled exactly as forward(seed, counter) did (dx may alias dy).
  void backward(const Context& ctx, const Matrix& dy, Matrix& dx, std::uint64_t seed,
                std::uint32_t counter) const {
    forward(ctx, dy, dx, seed, counter);
  }

 private:
  void apply(const Context& ctx, const T* in, T* out, std::int64_t rows, std::int64_t cols,
             std::uint64_t seed, std::uint32_t counter) const {
    const auto p = static_cast<float>(m_p);
    const T scale = T(1) / (T(1) - static_cast<T>(m_p));
    BackendType::for_each(ctx, rows, DropoutKernel<T>::groups(cols),
                          DropoutKernel<T>{in, out, cols, seed, counter, p, scale});
  }

  double m_p;
};

}  // namespace recdiff::nn
