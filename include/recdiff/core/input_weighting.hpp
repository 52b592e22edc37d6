#pragma once
/// @file
/// How a user's CSR row becomes the model's input vector x0: binary (DiffRec) or with T-DiffRec's
/// time-aware weights.

#include <cstddef>
#include <stdexcept>
#include <string>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>

namespace recdiff {

/// Every interaction is a 1.
struct BinaryInput {
  static constexpr const char* name = "binary";
  /// The value of the entry at `position` of user u's row of `x`.
  float operator()(const InteractionMatrix&, index_t, std::size_t) const { return 1.0f; }
};

/// T-DiffRec's weights (diffrec.md section 9): the m-th of a user's M interactions, in row order
/// (earliest first), weighs w_min + m (w_max - w_min) / (M - 1); a single interaction weighs w_min.
struct TimeLinearInput {
  static constexpr const char* name = "time-linear";
  double w_min = 0.1;
  double w_max = 1.0;

  TimeLinearInput() = default;
  TimeLinearInput(double min_weight, double max_weight) : w_min(min_weight), w_max(max_weight) {
    if (!(min_weight > 0 && min_weight <= max_weight))
      throw std::invalid_argument("recdiff::TimeLinearInput: need 0 < w_min <= w_max, got " +
                                  std::to_string(min_weight) + " and " +
                                  std::to_string(max_weight));
  }
  float operator()(const InteractionMatrix& x, index_t u, std::size_t position) const {
    const auto n = x.row_size(u);
    if (n <= 1) return static_cast<float>(w_min);
    return static_cast<float>(w_min + static_cast<double>(position) * (w_max - w_min) /
                                          static_cast<double>(n - 1));
  }
};

}  // namespace recdiff
