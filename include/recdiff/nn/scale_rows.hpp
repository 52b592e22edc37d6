#pragma once
/// @file
/// ScaleRows: multiplies every row of a matrix by its own factor (B x 1), as one element functor.

#include <cstdint>

#include <recdiff/config.hpp>

namespace recdiff::nn {

/// y[r, c] *= scale[r] for a row-major rows x cols matrix y.
template <class T>
struct ScaleRows {
  T* y;
  const T* scale;
  std::int64_t cols;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t c) const { y[r * cols + c] *= scale[r]; }
};

}  // namespace recdiff::nn
