#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <recdiff/math/fast_math.hpp>

using namespace recdiff::math;

namespace {

// The spacing of floats at |ref| (at least the smallest normal's), in double.
double ulp_at(double ref) {
  const auto r = static_cast<float>(std::max(std::abs(ref), 1.1754944e-38));
  return static_cast<double>(std::nextafter(r, std::numeric_limits<float>::infinity())) - r;
}

// Error of a float result against a double reference, in units of the reference's last place.
double ulps(float got, double ref) { return std::abs(static_cast<double>(got) - ref) / ulp_at(ref); }

}  // namespace

TEST_CASE("fast_log: within 2 ulp of log at Box-Muller's inputs and from 1e-30 to 1e30",
          "[math]") {
  double worst = 0;
  // u = k 2^-24, every 7th k plus the ends: the inputs Box-Muller feeds it.
  for (std::uint32_t k = 1; k <= (1u << 24); k += (k < 4096 ? 1 : 7)) {
    const float u = static_cast<float>(k) * 5.9604644775390625e-8f;
    worst = std::max(worst, ulps(fast_log(u), std::log(static_cast<double>(u))));
  }
  for (float x = 1e-30f; x < 1e30f; x *= 1.0007f)
    worst = std::max(worst, ulps(fast_log(x), std::log(static_cast<double>(x))));
  CHECK(worst <= 2.0);
  CHECK(fast_log(1.0f) == 0.0f);
  CHECK(fast_log(2.0f) == Approx(0.6931471805599453).epsilon(2e-7));
  CHECK(fast_log(5.9604644775390625e-8f) == Approx(-16.635532333438686).epsilon(2e-7));
}

TEST_CASE("sincos_2pi: within 1e-7 of sin and cos of 2 pi u, exact at quarter turns", "[math]") {
  double worst = 0;
  for (std::uint32_t k = 0; k < (1u << 24); k += 5) {
    const float u = static_cast<float>(k) * 5.9604644775390625e-8f;
    float s, c;
    sincos_2pi(u, s, c);
    const double a = 6.283185307179586 * static_cast<double>(u);
    worst = std::max({worst, std::abs(s - std::sin(a)), std::abs(c - std::cos(a))});
  }
  CHECK(worst < 1e-7);
  const float quarters[4][3] = {{0.0f, 0.0f, 1.0f}, {0.25f, 1.0f, 0.0f}, {0.5f, 0.0f, -1.0f},
                                {0.75f, -1.0f, 0.0f}};
  for (const auto& q : quarters) {
    float s, c;
    sincos_2pi(q[0], s, c);
    CHECK(s == q[1]);
    CHECK(c == q[2]);
  }
  float s, c;
  sincos_2pi(0.125f, s, c);  // 45 degrees
  CHECK(s == Approx(0.7071067811865476).epsilon(2e-7));
  CHECK(c == Approx(0.7071067811865476).epsilon(2e-7));
}

TEST_CASE("fast_sqrt: within 2 ulp of sqrt from 1e-30 to 1e30, sqrt(0) = 0", "[math]") {
  double worst = 0;
  for (float x = 1e-30f; x < 1e30f; x *= 1.0007f)
    worst = std::max(worst, ulps(fast_sqrt(x), std::sqrt(static_cast<double>(x))));
  CHECK(worst <= 2.0);
  CHECK(fast_sqrt(0.0f) == 0.0f);
  CHECK(fast_sqrt(4.0f) == Approx(2.0f).epsilon(2.5e-7));
  CHECK(fast_sqrt(1e-8f) == Approx(1e-4f).epsilon(2.5e-7));
}

TEST_CASE("fast_expm1 and fast_tanh: within 2 and 3 ulp, accurate near 0, odd tanh", "[math]") {
  double worst_expm1 = 0, worst_tanh = 0;
  for (float x = -20.0f; x < 20.0f; x += 3.1e-4f) {
    worst_expm1 = std::max(worst_expm1, ulps(fast_expm1(x), std::expm1(static_cast<double>(x))));
    worst_tanh = std::max(worst_tanh, ulps(fast_tanh(x), std::tanh(static_cast<double>(x))));
  }
  // Tiny arguments, where exp(x) - 1 and 1 - 2 / (exp(2x) + 1) would cancel.
  for (float x = 1e-30f; x < 1e-2f; x *= 1.01f) {
    worst_expm1 = std::max(worst_expm1, ulps(fast_expm1(x), std::expm1(static_cast<double>(x))));
    worst_tanh = std::max(worst_tanh, ulps(fast_tanh(-x), std::tanh(-static_cast<double>(x))));
  }
  CHECK(worst_expm1 <= 2.0);
  CHECK(worst_tanh <= 3.0);
  CHECK(fast_expm1(0.0f) == 0.0f);
  CHECK(fast_expm1(1.0f) == Approx(1.718281828459045).epsilon(2.5e-7));
  CHECK(fast_tanh(0.0f) == 0.0f);
  CHECK(fast_tanh(0.5f) == Approx(0.46211715726000974).epsilon(2.5e-7));
  CHECK(fast_tanh(-0.5f) == -fast_tanh(0.5f));
  CHECK(fast_tanh(9.5f) == 1.0f);  // clamped: tanh rounds to 1 in float
  CHECK(fast_tanh(-1e6f) == -1.0f);
}
