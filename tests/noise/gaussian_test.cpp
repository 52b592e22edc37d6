#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/schedule/schedule.hpp>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using recdiff::CpuBackend;
using recdiff::Gaussian;
template <class T>
using Matrix = CpuBackend::Matrix<T>;

namespace {

// A column count that is not a multiple of 4 exercises the ragged last Philox group.
constexpr int kCols = 1003;

template <class T>
Matrix<T> column(std::initializer_list<double> values) {
  Matrix<T> m(static_cast<Eigen::Index>(values.size()), 1);
  Eigen::Index i = 0;
  for (double v : values) m(i++, 0) = static_cast<T>(v);
  return m;
}

template <class T>
Matrix<T> ramp(Eigen::Index rows, Eigen::Index cols) {
  Matrix<T> m(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c)
      m(r, c) = static_cast<T>(0.01 * ((r * 7 + c) % 97) - 0.3);
  return m;
}

}  // namespace

TEST_CASE("Gaussian: q_sample has mean a x0 and variance b^2", "[noise]") {
  const CpuBackend::Context ctx(2);
  const Eigen::Index rows = 64;
  Matrix<float> x0(rows, kCols), a(rows, 1), b(rows, 1);
  for (Eigen::Index r = 0; r < rows; ++r) {
    x0.row(r).setConstant(static_cast<float>(r % 2 == 0 ? 1.0 : 0.0));
    a(r, 0) = static_cast<float>(0.5 + 0.005 * r);
    b(r, 0) = static_cast<float>(0.1 + 0.02 * r);
  }
  Matrix<float> x_t, eps;
  Gaussian::q_sample<CpuBackend, float>(ctx, x0, a, b, 1234, 7, x_t, eps);
  REQUIRE(x_t.rows() == rows);
  REQUIRE(x_t.cols() == kCols);
  // Pooled standardised values z = (x_t - a x0) / b over N = 64 * 1003 elements: the mean has
  // standard error 1/sqrt(N) ~ 0.004 and the variance sqrt(2/N) ~ 0.0056; allow 4 of each.
  double sum = 0, sum2 = 0;
  const double n = static_cast<double>(rows) * kCols;
  for (Eigen::Index r = 0; r < rows; ++r) {
    double row_sum = 0;
    for (Eigen::Index c = 0; c < kCols; ++c) {
      const double z = (double(x_t(r, c)) - double(a(r, 0)) * x0(r, c)) / b(r, 0);
      sum += z;
      sum2 += z * z;
      row_sum += x_t(r, c);
    }
    // Per row: mean a x0 within 5 standard errors b / sqrt(1003).
    CHECK_THAT(row_sum / kCols,
               WithinAbs(double(a(r, 0)) * x0(r, 0), 5 * b(r, 0) / std::sqrt(kCols)));
  }
  CHECK_THAT(sum / n, WithinAbs(0.0, 4.0 / std::sqrt(n)));
  CHECK_THAT(sum2 / n - (sum / n) * (sum / n), WithinAbs(1.0, 4.0 * std::sqrt(2.0 / n)));
}

TEST_CASE("Gaussian: q_sample noise is Philox (seed, noise, step, row, col) and eps is returned",
          "[noise]") {
  const CpuBackend::Context ctx(1);
  const Matrix<double> x0 = ramp<double>(5, kCols);
  const Matrix<double> a = column<double>({0.9, 0.8, 0.7, 0.6, 0.5});
  const Matrix<double> b = column<double>({0.1, 0.2, 0.3, 0.4, 0.5});
  Matrix<double> x_t, eps;
  Gaussian::q_sample<CpuBackend, double>(ctx, x0, a, b, 99, 3, x_t, eps);
  for (Eigen::Index r = 0; r < 5; ++r)
    for (Eigen::Index c :
         {Eigen::Index(0), Eigen::Index(1), Eigen::Index(5), Eigen::Index(kCols - 1)}) {
      const float z =
          recdiff::philox::normal(99, recdiff::philox::Stream::noise, 3,
                                  static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(c));
      CHECK(eps(r, c) == double(z));
    }
  // eps = (x_t - a x0) / b up to the rounding of one multiply-add (b >= 0.1).
  for (Eigen::Index r = 0; r < 5; ++r)
    for (Eigen::Index c = 0; c < kCols; ++c)
      REQUIRE_THAT((x_t(r, c) - a(r, 0) * x0(r, c)) / b(r, 0), WithinAbs(eps(r, c), 1e-13));
  // Another step counter draws other noise.
  Matrix<double> x_t2, eps2;
  Gaussian::q_sample<CpuBackend, double>(ctx, x0, a, b, 99, 4, x_t2, eps2);
  CHECK((eps2 - eps).cwiseAbs().maxCoeff() > 0.1);
}

TEST_CASE("Gaussian: q_sample and reverse_step are bit-identical at 1 and 2 threads", "[noise]") {
  const Eigen::Index rows = 53;  // several 8-row chunks plus a remainder
  const Matrix<float> x0 = ramp<float>(rows, kCols);
  Matrix<float> a(rows, 1), b(rows, 1), s(rows, 1);
  for (Eigen::Index r = 0; r < rows; ++r) {
    a(r, 0) = 0.99f - 0.01f * float(r);
    b(r, 0) = 0.05f + 0.01f * float(r);
    s(r, 0) = r % 3 == 0 ? 0.0f : 0.02f;
  }
  Matrix<float> xt1, eps1, xt2, eps2, out1, out2;
  Gaussian::q_sample<CpuBackend, float>(CpuBackend::Context(1), x0, a, b, 5, 11, xt1, eps1);
  Gaussian::q_sample<CpuBackend, float>(CpuBackend::Context(2), x0, a, b, 5, 11, xt2, eps2);
  REQUIRE(std::memcmp(xt1.data(), xt2.data(), sizeof(float) * xt1.size()) == 0);
  REQUIRE(std::memcmp(eps1.data(), eps2.data(), sizeof(float) * eps1.size()) == 0);
  Gaussian::reverse_step<CpuBackend, float>(CpuBackend::Context(1), x0, xt1, a, b, s, 5, 12, out1);
  Gaussian::reverse_step<CpuBackend, float>(CpuBackend::Context(2), x0, xt1, a, b, s, 5, 12, out2);
  REQUIRE(std::memcmp(out1.data(), out2.data(), sizeof(float) * out1.size()) == 0);
}

TEST_CASE("Gaussian: posterior mean and reverse step", "[noise]") {
  const CpuBackend::Context ctx(2);
  const recdiff::DiffusionTables tables(recdiff::DiffRecLinearVar(40, 0.005, 0.005, 0.01));
  const std::vector<int> steps{0, 1, 39, 2};
  Matrix<double> c1, c2, sd;
  Gaussian::posterior_coefficients<CpuBackend, double>(CpuBackend::Context(1), tables, steps, c1, c2, sd);
  REQUIRE(c1.rows() == 4);
  CHECK(c1(2, 0) == tables.posterior_mean_coef1()[39]);
  CHECK(c2(1, 0) == tables.posterior_mean_coef2()[1]);
  CHECK(sd(0, 0) == 0.0);  // k = 0: no noise on the last reverse step
  CHECK_THAT(sd(1, 0), WithinRel(std::sqrt(6.024241548124456e-07), 1e-12));

  const Matrix<double> x0_hat = ramp<double>(4, kCols);
  const Matrix<double> x_t = ramp<double>(4, kCols).reverse();
  Matrix<double> mean, noisy;
  Gaussian::posterior_mean<CpuBackend, double>(ctx, x0_hat, x_t, c1, c2, mean);
  Gaussian::reverse_step<CpuBackend, double>(ctx, x0_hat, x_t, c1, c2, sd, 21, 2, noisy);
  for (Eigen::Index r = 0; r < 4; ++r)
    for (Eigen::Index c = 0; c < kCols; ++c) {
      REQUIRE_THAT(mean(r, c), WithinAbs(c1(r, 0) * x0_hat(r, c) + c2(r, 0) * x_t(r, c), 1e-15));
      const double z =
          recdiff::philox::normal(21, recdiff::philox::Stream::noise, 2,
                                  static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(c));
      REQUIRE_THAT(noisy(r, c), WithinAbs(mean(r, c) + sd(r, 0) * z, 1e-15));
    }
  CHECK(noisy.row(0) == mean.row(0));

  // In place: out aliases x_t.
  Matrix<double> x = x_t;
  Gaussian::posterior_mean<CpuBackend, double>(ctx, x0_hat, x, c1, c2, x);
  CHECK(x == mean);

  REQUIRE_THROWS_AS(
      (Gaussian::posterior_mean<CpuBackend, double>(ctx, x0_hat, x_t, sd.topRows(3), c2, mean)),
      std::invalid_argument);
  REQUIRE_THROWS_WITH(
      (Gaussian::posterior_mean<CpuBackend, double>(ctx, x0_hat, x_t, sd.topRows(3), c2, mean)),
      Catch::Contains("recdiff::Gaussian::posterior_mean: coef1 is 3x1, expected 4x1"));
  REQUIRE_THROWS_WITH((Gaussian::reverse_step<CpuBackend, double>(
                          ctx, x0_hat, x_t, c1, c2, Matrix<double>(2, 1), 1, 1, noisy)),
                      Catch::Contains("noise_std is 2x1, expected 4x1"));
}

TEST_CASE("Gaussian: coefficients are the table entries cast to T", "[noise]") {
  const recdiff::DiffusionTables tables(recdiff::DiffRecLinearVar(40, 0.005, 0.005, 0.01));
  const std::vector<int> steps{3, 0, 39};
  Matrix<float> a, b;
  Gaussian::forward_coefficients<CpuBackend, float>(CpuBackend::Context(1), tables, steps, a, b);
  REQUIRE(a.rows() == 3);
  REQUIRE(a.cols() == 1);
  for (Eigen::Index i = 0; i < 3; ++i) {
    CHECK(a(i, 0) ==
          static_cast<float>(tables.sqrt_alpha_bar()[std::size_t(steps[std::size_t(i)])]));
    CHECK(b(i, 0) == static_cast<float>(
                         tables.sqrt_one_minus_alpha_bar()[std::size_t(steps[std::size_t(i)])]));
  }
  const std::vector<int> bad{1, 40};
  REQUIRE_THROWS_AS((Gaussian::forward_coefficients<CpuBackend, float>(CpuBackend::Context(1), tables, bad, a, b)),
                    std::out_of_range);
  REQUIRE_THROWS_WITH((Gaussian::forward_coefficients<CpuBackend, float>(CpuBackend::Context(1), tables, bad, a, b)),
                      Catch::Contains("steps[1] = 40 is outside [0, 40)"));
  Matrix<float> c1, c2, sd;
  const std::vector<int> negative{-1};
  REQUIRE_THROWS_AS(
      (Gaussian::posterior_coefficients<CpuBackend, float>(CpuBackend::Context(1), tables, negative, c1, c2, sd)),
      std::out_of_range);
  REQUIRE_THROWS_WITH(
      (Gaussian::posterior_coefficients<CpuBackend, float>(CpuBackend::Context(1), tables, negative, c1, c2, sd)),
      Catch::Contains("recdiff::Gaussian::posterior_coefficients: steps[0] = -1"));

  const Matrix<float> x0 = ramp<float>(3, 10);
  Matrix<float> x_t, eps;
  REQUIRE_THROWS_AS((Gaussian::q_sample<CpuBackend, float>(CpuBackend::Context(1), x0, a.topRows(2),
                                                           b, 1, 1, x_t, eps)),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH((Gaussian::q_sample<CpuBackend, float>(CpuBackend::Context(1), x0, a,
                                                             b.topRows(1), 1, 1, x_t, eps)),
                      Catch::Contains("recdiff::Gaussian::q_sample: coef_b is 1x1, expected 3x1"));
}

TEST_CASE("Gaussian: noiseless tables leave x0 unchanged and the reverse step returns x0_hat",
          "[noise]") {
  const CpuBackend::Context ctx(1);
  const recdiff::DiffusionTables tables(recdiff::DiffRecLinearVar(10, 0.0, 0.005, 0.01));
  const std::vector<int> steps{0, 5, 9};
  Matrix<float> a, b, c1, c2, sd;
  Gaussian::forward_coefficients<CpuBackend, float>(CpuBackend::Context(1), tables, steps, a, b);
  Gaussian::posterior_coefficients<CpuBackend, float>(CpuBackend::Context(1), tables, steps, c1, c2, sd);
  const Matrix<float> x0 = ramp<float>(3, 17);
  Matrix<float> x_t, eps, out;
  Gaussian::q_sample<CpuBackend, float>(ctx, x0, a, b, 3, 1, x_t, eps);
  CHECK(x_t == x0);
  Gaussian::reverse_step<CpuBackend, float>(ctx, x0, x_t.reverse(), c1, c2, sd, 3, 2, out);
  CHECK(out == x0);
}

TEST_CASE("Gaussian: in float every column draws philox::normal, across 64-column groups",
          "[noise]") {
  // 150 columns: two full kernel groups of 64 and a ragged one of 22.
  const Eigen::Index rows = 3, cols = 150;
  REQUIRE(recdiff::noise_detail::column_groups(cols) == 3);
  const Matrix<float> x0 = ramp<float>(rows, cols);
  const Matrix<float> a = column<float>({0.9f, 0.5f, 0.25f});
  const Matrix<float> b = column<float>({0.1f, 0.5f, 1.0f});
  const Matrix<float> s = column<float>({0.0f, 0.5f, 2.0f});
  const CpuBackend::Context ctx(1);
  Matrix<float> x_t, eps, out;
  Gaussian::q_sample<CpuBackend, float>(ctx, x0, a, b, 17, 8, x_t, eps);
  Gaussian::reverse_step<CpuBackend, float>(ctx, x0, x_t, a, b, s, 17, 9, out);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) {
      const auto row = static_cast<std::uint32_t>(r), col = static_cast<std::uint32_t>(c);
      const float z8 = recdiff::philox::normal(17, recdiff::philox::Stream::noise, 8, row, col);
      const float z9 = recdiff::philox::normal(17, recdiff::philox::Stream::noise, 9, row, col);
      REQUIRE(eps(r, c) == z8);
      REQUIRE(x_t(r, c) == Approx(a(r, 0) * x0(r, c) + b(r, 0) * z8).epsilon(1e-6).margin(1e-6));
      const float mean = a(r, 0) * x0(r, c) + b(r, 0) * x_t(r, c);
      REQUIRE(out(r, c) == Approx(mean + s(r, 0) * z9).epsilon(1e-5).margin(1e-5));
    }
}
