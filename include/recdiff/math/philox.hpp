#pragma once
/// @file
/// Philox4x32-10 counter-based random numbers (Salmon et al., SC 2011) as pure host/device functions.
///
/// Every random number in recdiff is a function of (seed, stream, step, row, column) only: no generator
/// state is carried between calls. Results therefore do not depend on the thread count or on the order
/// in which rows are processed, and a CUDA kernel calling the same functions draws the same bits.

#include <cstdint>

#include <recdiff/config.hpp>
#include <recdiff/math/fast_math.hpp>

namespace recdiff::philox {

/// Four 32-bit words: a counter or a block of random output.
struct Block {
  std::uint32_t v[4];
};

/// Purposes of random draws. Each gets its own counter space, so e.g. dropout masks never reuse the
/// bits of the diffusion noise.
enum class Stream : std::uint32_t {
  noise = 1,         ///< Gaussian diffusion noise (q_sample, reverse-step noise)
  dropout = 2,       ///< dropout masks
  step_sampler = 3,  ///< diffusion step indices
  init = 4,          ///< parameter initialisation
  shuffle = 5,       ///< epoch permutations and data splits
  latent = 6,        ///< VAE reparameterisation noise
  user = 7,          ///< free for user code
  inference = 8,     ///< noise of the reverse chain at inference (T' > 0 start, sampling noise)
};

namespace detail {
RECDIFF_HOST_DEVICE void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi,
                                 std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}
}  // namespace detail

/// The Philox4x32 bijection with 10 rounds applied to `counter` under the 64-bit key (k0, k1).
RECDIFF_HOST_DEVICE Block philox4x32_10(Block counter, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
  constexpr std::uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
  Block c = counter;
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    detail::mulhilo(m0, c.v[0], hi0, lo0);
    detail::mulhilo(m1, c.v[2], hi1, lo1);
    c = Block{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
    k0 += w0;
    k1 += w1;
  }
  return c;
}

/// Four random words for (seed, stream, step, row, group). `group` indexes blocks of four columns.
RECDIFF_HOST_DEVICE Block random_block(std::uint64_t seed, Stream stream, std::uint32_t step,
                                       std::uint32_t row, std::uint32_t group) {
  return philox4x32_10(Block{{group, row, step, static_cast<std::uint32_t>(stream)}},
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

/// Maps a word to a float in (0, 1]: the 24 high bits plus one, times 2^-24 (never 0, so log is safe).
RECDIFF_HOST_DEVICE float to_unit_open_zero(std::uint32_t x) {
  return static_cast<float>((x >> 8) + 1u) * 5.9604644775390625e-8f;
}

/// Maps a word to a float in [0, 1).
RECDIFF_HOST_DEVICE float to_unit(std::uint32_t x) {
  return static_cast<float>(x >> 8) * 5.9604644775390625e-8f;
}

/// Four uniform floats in [0, 1) for (seed, stream, step, row, group).
RECDIFF_HOST_DEVICE void uniform4(std::uint64_t seed, Stream stream, std::uint32_t step,
                                  std::uint32_t row, std::uint32_t group, float out[4]) {
  const Block b = random_block(seed, stream, step, row, group);
  for (int l = 0; l < 4; ++l) out[l] = to_unit(b.v[l]);
}

/// Two standard normal floats from two words by Box-Muller in float: u1 = to_unit_open_zero(w0),
/// u2 = to_unit(w1), r = sqrt(-2 log u1), z0 = r cos(2 pi u2), z1 = r sin(2 pi u2). The maths is
/// recdiff's own (math/fast_math.hpp), not libm's, so host and device agree bit for bit, and a loop
/// over pairs vectorises.
RECDIFF_HOST_DEVICE void box_muller(std::uint32_t w0, std::uint32_t w1, float& z0, float& z1) {
  const float r = math::fast_sqrt(-2.0f * math::fast_log(to_unit_open_zero(w0)));
  float s, c;
  math::sincos_2pi(to_unit(w1), s, c);
  z0 = r * c;
  z1 = r * s;
}

/// Four standard normal floats for (seed, stream, step, row, group): box_muller on words (0, 1)
/// and (2, 3) of the block.
RECDIFF_HOST_DEVICE void normal4(std::uint64_t seed, Stream stream, std::uint32_t step,
                                 std::uint32_t row, std::uint32_t group, float out[4]) {
  const Block b = random_block(seed, stream, step, row, group);
  box_muller(b.v[0], b.v[1], out[0], out[1]);
  box_muller(b.v[2], b.v[3], out[2], out[3]);
}

/// The blocks of N consecutive groups first_group .. first_group + N - 1 of (seed, stream, step,
/// row), as structure of arrays: words[w][l] is word w of group first_group + l, equal to
/// random_block(..., first_group + l).v[w]. Each lane runs all ten rounds inside one loop over the
/// lanes, which the compiler vectorises (several blocks' 32-bit multiplies per instruction).
template <int N>
RECDIFF_HOST_DEVICE void random_blocks(std::uint64_t seed, Stream stream, std::uint32_t step,
                                       std::uint32_t row, std::uint32_t first_group,
                                       std::uint32_t (&words)[4][N]) {
  for (int l = 0; l < N; ++l) {
    const Block b = random_block(seed, stream, step, row, first_group + static_cast<std::uint32_t>(l));
    for (int w = 0; w < 4; ++w) words[w][l] = b.v[w];
  }
}

/// 4N standard normal floats for the N groups first_group .. first_group + N - 1 of (seed, stream,
/// step, row): out[4 l + c] equals normal4(..., first_group + l)[c], bit for bit, computed lane-wise
/// so that Philox and Box-Muller vectorise.
template <int N>
RECDIFF_HOST_DEVICE void normals(std::uint64_t seed, Stream stream, std::uint32_t step,
                                 std::uint32_t row, std::uint32_t first_group, float (&out)[4 * N]) {
  std::uint32_t words[4][N];
  random_blocks<N>(seed, stream, step, row, first_group, words);
  float z[4][N];
  for (int pair = 0; pair < 2; ++pair)
    for (int l = 0; l < N; ++l)
      box_muller(words[2 * pair][l], words[2 * pair + 1][l], z[2 * pair][l], z[2 * pair + 1][l]);
  for (int l = 0; l < N; ++l)
    for (int c = 0; c < 4; ++c) out[4 * l + c] = z[c][l];
}

/// One standard normal float for element (row, col): lane col % 4 of normal4(..., col / 4).
RECDIFF_HOST_DEVICE float normal(std::uint64_t seed, Stream stream, std::uint32_t step,
                                 std::uint32_t row, std::uint32_t col) {
  float z[4];
  normal4(seed, stream, step, row, col / 4u, z);
  return z[col % 4u];
}

/// One uniform float in [0, 1) for element (row, col): lane col % 4 of uniform4(..., col / 4).
RECDIFF_HOST_DEVICE float uniform(std::uint64_t seed, Stream stream, std::uint32_t step,
                                  std::uint32_t row, std::uint32_t col) {
  const Block b = random_block(seed, stream, step, row, col / 4u);
  return to_unit(b.v[col % 4u]);
}

}  // namespace recdiff::philox
