#pragma once
/// @file
/// Adam and AdamW (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015;
/// Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019): one class template, the
/// two differing only in how weight decay enters (torch.optim.Adam / torch.optim.AdamW semantics).

#include <array>
#include <cmath>
#include <cstdint>
#include <utility>

#include <recdiff/optim/adam_update.hpp>
#include <recdiff/optim/optimizer_base.hpp>
#include <recdiff/optim/state_io.hpp>

namespace recdiff {

/// How an Adam-family optimiser applies weight decay wd.
enum class WeightDecay {
  coupled,   ///< Adam: L2 added to the gradient (g += wd * theta), so it passes through the moments
  decoupled  ///< AdamW: theta *= 1 - lr * wd before the Adam step, independent of the moments
};

/// Hyper-parameters of Adam / AdamW (defaults: torch's, and DiffRec's lr 1e-3 with wd 0).
struct AdamConfig {
  double lr = 1e-3;            ///< learning rate
  double beta1 = 0.9;          ///< first-moment decay
  double beta2 = 0.999;        ///< second-moment decay
  double eps = 1e-8;           ///< denominator guard
  double weight_decay = 0.0;   ///< wd (see WeightDecay)
};

/// The state Adam keeps for one parameter tensor (the same type for Adam and AdamW, so a checkpoint
/// holds the same entries for both).
template <class BackendType, class T>
struct AdamState {
  typename BackendType::template Matrix<T> m;  ///< first moment, the tensor's shape
  typename BackendType::template Matrix<T> v;  ///< second moment, the tensor's shape
  std::int64_t step = 0;                       ///< updates applied so far
};

/// Adam with bias correction (no amsgrad) over a fixed list of parameter tensors. Each tensor has
/// its own state (first and second moments, step count). step() applies one fused AdamUpdate pass
/// per tensor, reading the gradient through nn::Tensor::gradient() (a gradient left lazily zero by
/// zero_grad() counts as zero). With weight_decay = 0 both modes are the same algorithm.
///
/// Checkpoint entries (save_state / stage_state), for every parameter p:
/// prefix + "m." + p.name and prefix + "v." + p.name (T tensors of p's shape) and
/// prefix + "step." + p.name (1x1 float64 counter). The hyper-parameters are not part of the state.
/// @tparam BackendType a backend (recdiff::CpuBackend, recdiff::CudaBackend)
/// @tparam T the scalar type
/// @tparam Mode WeightDecay::coupled (Adam) or WeightDecay::decoupled (AdamW)
template <class BackendType, class T, WeightDecay Mode>
class AdamOptimizer : public OptimizerBase<AdamOptimizer<BackendType, T, Mode>, BackendType, T,
                                           AdamConfig, AdamState<BackendType, T>> {
 public:
  /// The shared part: types, step, accessors, reset, save_state, stage_state.
  using Base = OptimizerBase<AdamOptimizer, BackendType, T, AdamConfig, AdamState<BackendType, T>>;

  /// Name of the algorithm: "adam" (coupled decay) or "adamw" (decoupled decay).
  static constexpr const char* name = Mode == WeightDecay::coupled ? "adam" : "adamw";

  /// Optimises `parameters` (e.g. a module's nn::parameters_of; the module must outlive the
  /// optimiser and not move). Moments start at zero, shaped as the values are now.
  /// @throws std::invalid_argument on lr <= 0, betas outside [0, 1), eps <= 0, weight_decay < 0 (or
  ///         a non-finite value), a parameter without tensor, an empty or a repeated name
  explicit AdamOptimizer(typename Base::ParameterList parameters, AdamConfig config = {})
      : Base(std::move(parameters), config) {}

 private:
  friend Base;
  using Slot = optim_detail::TensorSlot<AdamState<BackendType, T>, typename Base::Matrix>;

  static constexpr const char* who =
      Mode == WeightDecay::coupled ? "recdiff::Adam" : "recdiff::AdamW";
  // Checkpoint order: m, then v (which must be >= 0), then the step count.
  static constexpr std::array slots{Slot{"m.", &Base::State::m, false},
                                    Slot{"v.", &Base::State::v, true}};

  static void check_config(const AdamConfig& config) {
    optim_detail::require_moment_config(who, config);
  }

  // Kingma & Ba 2015, Algorithm 1, with the order of operations of torch.optim.Adam / AdamW.
  static AdamUpdate<T> fused_update(const AdamConfig& c, typename Base::Matrix& theta,
                                    const typename Base::Matrix& grad, typename Base::State* s) {
    const double lr = c.lr, wd = c.weight_decay;
    const bool decoupled = Mode == WeightDecay::decoupled;
    const auto n = static_cast<double>(++s->step);
    return AdamUpdate<T>{theta.data(),
                         grad.data(),
                         s->m.data(),
                         s->v.data(),
                         theta.cols(),
                         static_cast<T>(c.beta1),
                         static_cast<T>(c.beta2),
                         static_cast<T>(c.eps),
                         static_cast<T>(lr / (1.0 - std::pow(c.beta1, n))),
                         static_cast<T>(std::sqrt(1.0 - std::pow(c.beta2, n))),
                         static_cast<T>(decoupled ? 1.0 - lr * wd : 1.0),
                         static_cast<T>(decoupled ? 0.0 : wd)};
  }
};

/// Adam with coupled L2 weight decay (torch.optim.Adam).
template <class BackendType, class T>
using Adam = AdamOptimizer<BackendType, T, WeightDecay::coupled>;

/// Adam with decoupled weight decay (torch.optim.AdamW), DiffRec's optimiser.
template <class BackendType, class T>
using AdamW = AdamOptimizer<BackendType, T, WeightDecay::decoupled>;

}  // namespace recdiff
