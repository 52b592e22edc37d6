#pragma once
/// @file
/// NoiseDraw: how one call of a noise kernel keys its random numbers.

#include <cstdint>

#include <recdiff/config.hpp>
#include <recdiff/math/philox.hpp>

namespace recdiff {

/// The Philox key of a noise draw: element (b, i) of a batch is drawn from
/// (seed, stream, counter, row key of b, i), where the row key is row_keys[b] when row_keys is set
/// (a backend pointer holding one id per batch row: the user id at inference, so that a user's
/// noise does not depend on the batch it is scored in) and b otherwise.
///
/// Training draws use Stream::noise with the global batch index as counter; inference draws use
/// Stream::inference with the reverse step as counter, so the two never collide whatever the number
/// of steps or batches.
struct NoiseDraw {
  std::uint64_t seed = 1;                           ///< run seed
  philox::Stream stream = philox::Stream::noise;    ///< training or inference stream
  std::uint32_t counter = 0;                        ///< batch index or reverse step
  const index_t* row_keys = nullptr;                ///< per-row ids in backend storage, or null

  /// The Philox row of batch row b.
  RECDIFF_HOST_DEVICE std::uint32_t row(std::int64_t b) const {
    return static_cast<std::uint32_t>(row_keys != nullptr ? row_keys[b] : b);
  }
};

}  // namespace recdiff
