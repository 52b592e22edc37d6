#pragma once
/// @file
/// Adamax (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.1): Adam
/// with the second moment replaced by an exponentially weighted infinity norm, with the semantics of
/// torch.optim.Adamax (eps added to |g|, coupled weight decay). CODIGEM trains with Adamax, lr 1e-3.

#include <array>
#include <cmath>
#include <cstdint>
#include <utility>

#include <recdiff/optim/adamax_update.hpp>
#include <recdiff/optim/optimizer_base.hpp>
#include <recdiff/optim/state_io.hpp>

namespace recdiff {

/// Hyper-parameters of Adamax (defaults: torch.optim.Adamax's).
struct AdamaxConfig {
  double lr = 2e-3;           ///< learning rate
  double beta1 = 0.9;         ///< first-moment decay
  double beta2 = 0.999;       ///< infinity-norm decay
  double eps = 1e-8;          ///< added to |g| in the infinity norm
  double weight_decay = 0.0;  ///< coupled L2 weight decay (g += wd * theta)
};

/// The state Adamax keeps for one parameter tensor.
template <class BackendType, class T>
struct AdamaxState {
  typename BackendType::template Matrix<T> m;  ///< first moment, the tensor's shape
  typename BackendType::template Matrix<T> u;  ///< weighted infinity norm, the tensor's shape
  std::int64_t step = 0;                       ///< updates applied so far
};

/// Adamax over a fixed list of parameter tensors:
///   g' = g + wd theta;  m = beta1 m + (1 - beta1) g';  u = max(beta2 u, |g'| + eps);
///   theta -= lr / (1 - beta1^n) * m / u,
/// one fused AdamaxUpdate pass per tensor, reading the gradient through nn::Tensor::gradient().
///
/// Checkpoint entries (save_state / stage_state), for every parameter p: prefix + "m." + p.name and
/// prefix + "u." + p.name (T tensors of p's shape), prefix + "step." + p.name (1x1 float64).
/// @tparam BackendType a backend; @tparam T the scalar type
template <class BackendType, class T>
class Adamax : public OptimizerBase<Adamax<BackendType, T>, BackendType, T, AdamaxConfig,
                                    AdamaxState<BackendType, T>> {
 public:
  /// The shared part: types, step, accessors, reset, save_state, stage_state.
  using Base = OptimizerBase<Adamax, BackendType, T, AdamaxConfig, AdamaxState<BackendType, T>>;

  /// Name of the algorithm.
  static constexpr const char* name = "adamax";

  /// Optimises `parameters` (the module must outlive the optimiser and not move). m and u start at
  /// zero, shaped as the values are now.
  /// @throws std::invalid_argument on lr <= 0, betas outside [0, 1), eps <= 0, weight_decay < 0 (or
  ///         a non-finite value), a parameter without tensor, an empty or a repeated name
  explicit Adamax(typename Base::ParameterList parameters, AdamaxConfig config = {})
      : Base(std::move(parameters), config) {}

 private:
  friend Base;
  using Slot = optim_detail::TensorSlot<AdamaxState<BackendType, T>, typename Base::Matrix>;

  static constexpr const char* who = "recdiff::Adamax";
  // Checkpoint order: m, then u (which must be >= 0), then the step count.
  static constexpr std::array slots{Slot{"m.", &Base::State::m, false},
                                    Slot{"u.", &Base::State::u, true}};

  static void check_config(const AdamaxConfig& config) {
    optim_detail::require_moment_config(who, config);
  }

  static AdamaxUpdate<T> fused_update(const AdamaxConfig& c, typename Base::Matrix& theta,
                                      const typename Base::Matrix& grad, typename Base::State* s) {
    const auto n = static_cast<double>(++s->step);
    return AdamaxUpdate<T>{theta.data(),
                           grad.data(),
                           s->m.data(),
                           s->u.data(),
                           theta.cols(),
                           static_cast<T>(c.beta1),
                           static_cast<T>(c.beta2),
                           static_cast<T>(c.eps),
                           static_cast<T>(c.lr / (1.0 - std::pow(c.beta1, n))),
                           static_cast<T>(c.weight_decay)};
  }
};

}  // namespace recdiff
