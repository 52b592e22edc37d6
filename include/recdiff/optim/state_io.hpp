#pragma once
/// @file
/// What every optimiser shares: checks of hyper-parameters and parameter lists, the pre-step check of
/// shapes, and the transfer of named state tensors and counters between backend storage and a
/// checkpoint (through Backend::download / Backend::upload only, so that device state works too).

#include <cmath>
#include <cstdint>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/error.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/nn/parameter.hpp>

namespace recdiff::optim_detail {

/// Throws std::invalid_argument("<who>: <what>").
[[noreturn]] inline void fail(const std::string& who, const std::string& what) {
  throw std::invalid_argument(who + ": " + what);
}

/// Requires a finite `value` > 0 (learning rates, eps).
inline void require_positive(const std::string& who, const char* name, double value) {
  if (!(value > 0) || !std::isfinite(value))
    fail(who, std::string(name) + " must be > 0 and finite, got " + std::to_string(value));
}

/// Requires a finite `value` >= 0 (weight decay, momentum).
inline void require_non_negative(const std::string& who, const char* name, double value) {
  if (!(value >= 0) || !std::isfinite(value))
    fail(who, std::string(name) + " must be >= 0 and finite, got " + std::to_string(value));
}

/// Requires `value` in [0, 1) (moment decays).
inline void require_unit_interval(const std::string& who, const char* name, double value) {
  if (!(value >= 0 && value < 1))
    fail(who, std::string(name) + " must be in [0, 1), got " + std::to_string(value));
}

/// The checks of an Adam-family configuration `c` (Adam, AdamW, Adamax) besides the learning rate:
/// beta1 and beta2 in [0, 1), eps > 0, weight_decay >= 0 (all finite).
template <class Config>
void require_moment_config(const std::string& who, const Config& c) {
  require_unit_interval(who, "beta1", c.beta1);
  require_unit_interval(who, "beta2", c.beta2);
  require_positive(who, "eps", c.eps);
  require_non_negative(who, "weight_decay", c.weight_decay);
}

/// "rows x cols" for messages.
inline std::string shape_text(std::int64_t rows, std::int64_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

/// Requires every parameter to point at a tensor and to have a non-empty name that no other parameter
/// of the list has (the names key the optimiser's state in checkpoints).
template <class BackendType, class T>
void check_parameters(const std::string& who, const nn::ParameterList<BackendType, T>& params) {
  std::set<std::string> seen;
  for (const auto& p : params) {
    if (p.name.empty()) fail(who, "a parameter has an empty name");
    if (p.tensor == nullptr) fail(who, "parameter " + p.name + " has no tensor");
    if (!seen.insert(p.name).second) fail(who, "two parameters are named " + p.name);
  }
}

/// Before a step: materialises every gradient (nn::Tensor::gradient()) and requires it and the value
/// to have the shape `shape(t)` recorded at construction, so that a failure leaves every tensor and
/// every state unchanged. Throws std::invalid_argument naming the parameter.
template <class BackendType, class T, class Shape>
void prepare_step(const std::string& who, const nn::ParameterList<BackendType, T>& params,
                  Shape shape) {
  for (std::size_t t = 0; t < params.size(); ++t) {
    const auto& p = params[t];
    const auto [rows, cols] = shape(t);
    const auto& value = p.tensor->value;
    if (value.rows() != rows || value.cols() != cols)
      fail(who, "value of " + p.name + " is " + shape_text(value.rows(), value.cols()) +
                    ", the optimiser was built for " + shape_text(rows, cols));
    const auto& grad = p.tensor->gradient();
    if (grad.rows() != rows || grad.cols() != cols)
      fail(who, "gradient of " + p.name + " is " + shape_text(grad.rows(), grad.cols()) +
                    ", expected " + shape_text(rows, cols));
  }
}

/// Adds backend matrix `m` to `w` as tensor `name` (downloaded to the host first).
template <class BackendType, class Matrix>
void save_matrix(const typename BackendType::Context& ctx, CheckpointWriter& w,
                 const std::string& name, const Matrix& m) {
  using T = std::remove_cvref_t<decltype(*m.data())>;
  std::vector<T> host(static_cast<std::size_t>(m.rows() * m.cols()));
  BackendType::download(ctx, m, std::span<T>(host));
  w.add_tensor(name, static_cast<std::uint64_t>(m.rows()), static_cast<std::uint64_t>(m.cols()),
               host.data());
}

/// Reads tensor `name` (rows x cols of T) from `r` into a fresh backend matrix. With `non_negative`,
/// every value must be >= 0 (second moments, infinity norms), else IoError naming r.path(). The
/// reader raises IoError on a missing entry, another element type or another shape.
template <class BackendType, class T>
typename BackendType::template Matrix<T> stage_matrix(const typename BackendType::Context& ctx,
                                                      const CheckpointReader& r,
                                                      const std::string& name, std::int64_t rows,
                                                      std::int64_t cols, bool non_negative) {
  const std::vector<T> host =
      r.tensor<T>(name, static_cast<std::uint64_t>(rows), static_cast<std::uint64_t>(cols));
  if (non_negative)
    for (std::size_t k = 0; k < host.size(); ++k)
      if (!(host[k] >= T(0)))
        throw IoError(r.path(), "tensor '" + name + "' holds " +
                                    std::to_string(static_cast<double>(host[k])) + " at position " +
                                    std::to_string(k) + ", expected values >= 0");
  typename BackendType::template Matrix<T> out;
  BackendType::upload(ctx, std::span<const T>(host), rows, cols, out);
  return out;
}

/// Adds counter `value` to `w` as a 1x1 float64 tensor `name`.
inline void save_counter(CheckpointWriter& w, const std::string& name, std::int64_t value) {
  const double v = static_cast<double>(value);
  w.add_tensor(name, 1, 1, &v);
}

/// Reads the 1x1 float64 counter `name`, which must hold a whole number in [0, 2^53]; IoError naming
/// r.path() otherwise (and from the reader on a missing entry or another shape).
inline std::int64_t stage_counter(const CheckpointReader& r, const std::string& name) {
  const double v = r.tensor<double>(name, 1, 1)[0];
  if (!(v >= 0 && v <= 9007199254740992.0) || v != std::floor(v))
    throw IoError(r.path(), "counter '" + name + "' holds " + std::to_string(v) +
                                ", expected a whole number >= 0");
  return static_cast<std::int64_t>(v);
}

}  // namespace recdiff::optim_detail
