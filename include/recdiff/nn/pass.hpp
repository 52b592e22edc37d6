#pragma once
/// @file
/// Pass: what one forward pass of a module is told besides its input.

#include <cstdint>
#include <span>

namespace recdiff::nn {

/// The per-call arguments of Module::forward.
///
/// Randomness (dropout masks, reparameterisation noise) is a pure Philox function of
/// (seed, stream, counter, row, column): the same Pass reproduces the same draws on any backend and
/// at any thread count. Give every training step its own counter.
struct Pass {
  bool train = false;           ///< training mode: dropout and sampling on
  std::uint64_t seed = 1;       ///< run seed
  std::uint32_t counter = 0;    ///< keys this pass's draws (the global batch index in training)
  std::span<const int> steps{}; ///< per-row diffusion step k (read by step-conditioned modules)
};

}  // namespace recdiff::nn
