#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <recdiff/math/philox.hpp>

using namespace recdiff::philox;

// Known-answer vectors of Philox4x32-10 published with the Random123 library.
TEST_CASE("philox4x32_10 reproduces the published known answers", "[math]") {
  const Block zero = philox4x32_10(Block{{0, 0, 0, 0}}, 0, 0);
  CHECK(zero.v[0] == 0x6627e8d5u);
  CHECK(zero.v[1] == 0xe169c58du);
  CHECK(zero.v[2] == 0xbc57ac4cu);
  CHECK(zero.v[3] == 0x9b00dbd8u);
  const Block ones =
      philox4x32_10(Block{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu,
                    0xffffffffu);
  CHECK(ones.v[0] == 0x408f276du);
  CHECK(ones.v[1] == 0x41c83b0eu);
  CHECK(ones.v[2] == 0xa20bc7c6u);
  CHECK(ones.v[3] == 0x6d5451fdu);
  const Block pi = philox4x32_10(Block{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                                 0xa4093822u, 0x299f31d0u);
  CHECK(pi.v[0] == 0xd16cfe09u);
  CHECK(pi.v[1] == 0x94fdccebu);
  CHECK(pi.v[2] == 0x5001e420u);
  CHECK(pi.v[3] == 0x24126ea1u);
}

TEST_CASE("normal draws have zero mean and unit variance", "[math]") {
  double sum = 0, sum2 = 0, sum4 = 0;
  const int rows = 200, cols = 1000;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const double z = normal(42, Stream::noise, 3, r, c);
      sum += z;
      sum2 += z * z;
      sum4 += z * z * z * z;
    }
  const double n = rows * cols;
  CHECK(std::abs(sum / n) < 0.01);
  CHECK(std::abs(sum2 / n - 1.0) < 0.01);
  CHECK(std::abs(sum4 / n - 3.0) < 0.05);  // kurtosis of a Gaussian
}

TEST_CASE("uniform draws satisfy 0 <= u < 1 with mean 1/2, and streams differ", "[math]") {
  double sum = 0;
  for (int c = 0; c < 100000; ++c) {
    const float u = uniform(7, Stream::dropout, 0, 0, c);
    REQUIRE(u >= 0.0f);
    REQUIRE(u < 1.0f);
    sum += u;
  }
  CHECK(std::abs(sum / 100000 - 0.5) < 0.005);
  CHECK(uniform(7, Stream::dropout, 0, 0, 0) != uniform(7, Stream::noise, 0, 0, 0));
  CHECK(uniform(7, Stream::dropout, 0, 0, 0) != uniform(8, Stream::dropout, 0, 0, 0));
  CHECK(uniform(7, Stream::dropout, 0, 0, 0) != uniform(7, Stream::dropout, 1, 0, 0));
  CHECK(uniform(7, Stream::dropout, 0, 0, 0) != uniform(7, Stream::dropout, 0, 1, 0));
}

TEST_CASE("box_muller: closed forms at exact uniforms", "[math]") {
  float z0, z1;
  // w0 = 2^32 - 1: u1 = 1, so r = 0.
  box_muller(0xFFFFFFFFu, 0x12345678u, z0, z1);
  CHECK(z0 == 0.0f);
  CHECK(z1 == 0.0f);
  // w0 = 2^31 - 1: u1 = 1/2, r = sqrt(2 ln 2); w1 = 0: u2 = 0, angle 0.
  const double r = std::sqrt(2.0 * std::log(2.0));
  box_muller(0x7FFFFFFFu, 0u, z0, z1);
  CHECK(z0 == Approx(r).epsilon(3e-7));
  CHECK(z1 == 0.0f);
  // w1 = 2^30: u2 = 1/4, a quarter turn.
  box_muller(0x7FFFFFFFu, 0x40000000u, z0, z1);
  CHECK(z0 == 0.0f);
  CHECK(z1 == Approx(r).epsilon(3e-7));
  // w1 = 2^31 + 2^29: u2 = 5/8.
  box_muller(0x7FFFFFFFu, 0xA0000000u, z0, z1);
  CHECK(z0 == Approx(-r * std::sqrt(0.5)).epsilon(3e-7));
  CHECK(z1 == Approx(-r * std::sqrt(0.5)).epsilon(3e-7));
}

TEST_CASE("random_blocks and normals: every lane equals the one-block functions, bit for bit",
          "[math]") {
  const std::uint64_t seed = 0x0123456789ABCDEFull;
  for (const std::uint32_t first : {0u, 16u, 4000u, 0xFFFFFFF8u}) {
    std::uint32_t words[4][16];
    random_blocks<16>(seed, Stream::dropout, 9, 77, first, words);
    float z[64];
    normals<16>(seed, Stream::noise, 9, 77, first, z);
    for (std::uint32_t l = 0; l < 16; ++l) {
      const Block b = random_block(seed, Stream::dropout, 9, 77, first + l);
      float expected[4];
      normal4(seed, Stream::noise, 9, 77, first + l, expected);
      for (int w = 0; w < 4; ++w) {
        CHECK(words[w][l] == b.v[w]);
        CHECK(z[4 * l + w] == expected[w]);
        if (first < (1u << 30))  // columns are 32-bit: groups from 2^30 on have no column index
          CHECK(z[4 * l + w] == normal(seed, Stream::noise, 9, 77, 4 * (first + l) + w));
      }
    }
  }
}

TEST_CASE("normal draws: tails and the fraction within one standard deviation", "[math]") {
  const int n = 400000;
  int within_one = 0, beyond_three = 0;
  double largest = 0;
  for (int k = 0; k < n; ++k) {
    const double z = normal(5, Stream::noise, 0, static_cast<std::uint32_t>(k / 1000),
                            static_cast<std::uint32_t>(k % 1000));
    within_one += std::abs(z) < 1.0;
    beyond_three += std::abs(z) > 3.0;
    largest = std::max(largest, std::abs(z));
  }
  // P(|Z| < 1) = 0.682689, sd of the fraction 0.00074; P(|Z| > 3) = 0.0026998, sd 8.2e-5.
  CHECK(static_cast<double>(within_one) / n == Approx(0.682689).margin(0.004));
  CHECK(static_cast<double>(beyond_three) / n == Approx(0.0026998).margin(0.0005));
  CHECK(largest > 4.0);
  CHECK(largest < 5.9);  // sqrt(-2 ln 2^-24) = 5.77 bounds Box-Muller with 24-bit uniforms
}
