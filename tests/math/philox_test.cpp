#include <catch2/catch.hpp>

#include <cmath>

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

TEST_CASE("uniform draws are in [0, 1) with mean 1/2, and streams differ", "[math]") {
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
