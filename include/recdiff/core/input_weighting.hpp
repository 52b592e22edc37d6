#pragma once
/// @file
/// How a user's CSR row becomes the model's input vector x0: binary (DiffRec) or with T-DiffRec's
/// time-aware weights. Both are functions of (position in the row, row length) only, callable on the
/// host and on a device, so every backend densifies rows with them.

#include <cstddef>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>

namespace recdiff {

/// Every interaction is a 1.
struct BinaryInput : UnitValue {
  static constexpr const char* name = "binary";
};

/// T-DiffRec's weights (Wang et al., SIGIR 2023, section 3.5, Eq. 16): the m-th of a user's M
/// interactions, in row order (earliest first), weighs w_min + m (w_max - w_min) / (M - 1); a single
/// interaction weighs w_min. Weights lie in (0, 1]: they scale a binary interaction down.
struct TimeLinearInput {
  static constexpr const char* name = "time-linear";
  double w_min = 0.1;
  double w_max = 1.0;

  TimeLinearInput() = default;
  TimeLinearInput(double min_weight, double max_weight) : w_min(min_weight), w_max(max_weight) {
    if (!(min_weight > 0 && min_weight <= max_weight && max_weight <= 1))
      throw std::invalid_argument("recdiff::TimeLinearInput: need 0 < w_min <= w_max <= 1, got " +
                                  std::to_string(min_weight) + " and " +
                                  std::to_string(max_weight));
  }
  RECDIFF_HOST_DEVICE float operator()(std::size_t position, std::size_t length) const {
    if (length <= 1) return static_cast<float>(w_min);
    return static_cast<float>(w_min + static_cast<double>(position) * (w_max - w_min) /
                                          static_cast<double>(length - 1));
  }
};

}  // namespace recdiff
