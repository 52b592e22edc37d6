#pragma once
/// @file
/// Module: a differentiable building block with named trainable parameters (layers, activations,
/// compositions, whole networks).

#include <concepts>
#include <cstddef>
#include <string>

#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff {

/// A module M on backend B: y = f(x; theta) for a batch x (rows x features), with a hand-written
/// backward pass. `M::scalar_type` is its scalar type and `M::backend_type` its backend.
///
/// - `forward(ctx, x, pass)` -> `const Matrix&`: the output, stored in the module (or, for a module
///   that leaves its input unchanged in this pass, x itself). It stays valid until the next
///   forward(). x must stay alive and unchanged until backward().
/// - `backward(ctx, dy, need_input_grad)` -> `const Matrix*`: for dy = dLoss/dy of the last
///   forward(), ADDS dLoss/dtheta to every parameter's gradient (nn::Tensor: the first write after
///   zero_grad() overwrites) and, when `need_input_grad`, returns dLoss/dx (valid until the next
///   backward()); otherwise it returns nullptr and may skip that work.
/// - `collect_parameters(prefix, list)` appends every trainable tensor, named prefix + its own name,
///   in a fixed order; `num_parameters()` counts their scalars.
///
/// Laws the compiler cannot check: forward is a pure function of (x, theta, pass), bit-identical at
/// any thread count; backward is the exact derivative (finite-difference checked in double,
/// tests/nn/module_check.hpp); no virtual call is made in either.
template <class M, class B>
concept Module =
    requires {
      typename M::scalar_type;
      typename M::backend_type;
    } &&
    requires(M& m, const M& cm, const typename B::Context& ctx,
             const typename B::template Matrix<typename M::scalar_type>& x, const nn::Pass& pass,
             nn::ParameterList<B, typename M::scalar_type>& list, const std::string& prefix,
             bool need_input_grad) {
      {
        m.forward(ctx, x, pass)
      } -> std::same_as<const typename B::template Matrix<typename M::scalar_type>&>;
      {
        m.backward(ctx, x, need_input_grad)
      } -> std::same_as<const typename B::template Matrix<typename M::scalar_type>*>;
      m.collect_parameters(prefix, list);
      { cm.num_parameters() } -> std::convertible_to<std::size_t>;
    };

}  // namespace recdiff
