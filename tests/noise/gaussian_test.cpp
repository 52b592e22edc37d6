#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/schedule/schedule.hpp>

#include "nn/gradcheck.hpp"

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using recdiff::CpuBackend;
using recdiff::Gaussian;
using recdiff::NoiseDraw;
using recdiff::philox::Stream;
template <class T>
using Matrix = CpuBackend::Matrix<T>;
template <class T>
using Workspace = Gaussian::Workspace<CpuBackend, T>;

static_assert(recdiff::NoiseKernel<Gaussian, CpuBackend>);
static_assert(recdiff::DifferentiableNoise<Gaussian, CpuBackend>);
static_assert(recdiff::GaussianNoise<Gaussian>);
// A schedule is not a noise kernel: it has no q_sample, no tables().
static_assert(!recdiff::NoiseKernel<recdiff::Linear, CpuBackend>);
static_assert(!recdiff::GaussianNoise<recdiff::Linear>);

namespace {

// A column count that is not a multiple of 4 exercises the ragged last Philox group.
constexpr int kCols = 1003;

template <class T>
Matrix<T> ramp(Eigen::Index rows, Eigen::Index cols) {
  Matrix<T> m(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c)
      m(r, c) = static_cast<T>(0.01 * ((r * 7 + c) % 97) - 0.3);
  return m;
}

// A schedule whose noise is large enough to be seen at every step (alpha_bar from 0.99 to ~0.32).
recdiff::Linear noisy_schedule() { return recdiff::Linear(10, 0.01, 0.2); }

const Gaussian& ml1m() {
  static const Gaussian g(recdiff::DiffRecLinearVar(40, 0.005, 0.005, 0.01));
  return g;
}

// alpha_bar_k = prod_{j<=k} (1 - beta_j), straight from the schedule (not from the tables).
double closed_form_alpha_bar(const std::vector<double>& betas, int k) {
  double prod = 1.0;
  for (int j = 0; j <= k; ++j) prod *= 1.0 - betas[static_cast<std::size_t>(j)];
  return prod;
}

float philox_normal(std::uint64_t seed, Stream stream, std::uint32_t counter, Eigen::Index row,
                    Eigen::Index col) {
  return recdiff::philox::normal(seed, stream, counter, static_cast<std::uint32_t>(row),
                                 static_cast<std::uint32_t>(col));
}

}  // namespace

TEST_CASE("Gaussian: is built from a schedule and exposes its tables", "[noise]") {
  const recdiff::DiffRecLinearVar schedule(40, 0.005, 0.005, 0.01);
  const Gaussian g(schedule);
  const recdiff::GaussianTables tables(schedule);
  CHECK(std::string(Gaussian::name) == "Gaussian");
  CHECK(g.num_steps() == 40);
  CHECK_FALSE(g.is_noiseless());
  CHECK(g.tables().alpha_bar() == tables.alpha_bar());
  CHECK(g.tables().posterior_log_variance_clipped() == tables.posterior_log_variance_clipped());
  for (int k : {0, 1, 17, 39}) {
    const auto [c1, c2] = g.posterior_mean_coefficients(k);
    CHECK(c1 == tables.posterior_mean_coef1()[static_cast<std::size_t>(k)]);
    CHECK(c2 == tables.posterior_mean_coef2()[static_cast<std::size_t>(k)]);
  }
  REQUIRE_THROWS_AS(g.posterior_mean_coefficients(40), std::out_of_range);
  REQUIRE_THROWS_WITH(
      g.posterior_mean_coefficients(-1),
      Catch::Contains(
          "recdiff::Gaussian::posterior_mean_coefficients: steps[0] = -1 is outside [0, 40)"));
  // A copy is an independent value with the same tables.
  const Gaussian copy = g;
  CHECK(copy.tables().snr() == g.tables().snr());
  CHECK(Gaussian(recdiff::Constant(3, 0.1)).num_steps() == 3);
}

TEST_CASE("Gaussian: q_sample has mean sqrt(alpha_bar_k) x0 and variance 1 - alpha_bar_k",
          "[noise]") {
  // Monte Carlo against the closed-form marginal q(x_k | x_0) = N(sqrt(ab_k) x0, (1 - ab_k) I), at
  // several steps, alpha_bar computed from the betas independently of the tables.
  const recdiff::Linear schedule = noisy_schedule();
  const Gaussian g(schedule);
  const CpuBackend::Context ctx(2);
  const Eigen::Index rows = 64;
  Matrix<double> x0(rows, kCols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < kCols; ++c) x0(r, c) = (r + c) % 2 == 0 ? 1.0 : 0.0;
  Workspace<double> ws;
  for (const int k : {0, 3, 6, 9}) {
    INFO("k = " << k);
    const double ab = closed_form_alpha_bar(schedule.betas(), k);
    const std::vector<int> steps(static_cast<std::size_t>(rows), k);
    Matrix<double> x_t;
    g.q_sample<CpuBackend, double>(ctx, x0, steps, NoiseDraw{1234, Stream::noise, 7, nullptr}, ws,
                                   x_t);
    REQUIRE(x_t.rows() == rows);
    REQUIRE(x_t.cols() == kCols);
    // The sample mean and variance over the N = 64 * 1003 / 2 elements with x0 = 1 and with
    // x0 = 0: standard errors sqrt(var / N) and var sqrt(2 / N); allow 5 of each.
    for (const double value : {0.0, 1.0}) {
      double n = 0, sum = 0, sum2 = 0;
      for (Eigen::Index r = 0; r < rows; ++r)
        for (Eigen::Index c = 0; c < kCols; ++c)
          if (x0(r, c) == value) {
            n += 1;
            sum += x_t(r, c);
            sum2 += x_t(r, c) * x_t(r, c);
          }
      const double mean = sum / n, var = sum2 / n - mean * mean;
      INFO("x0 = " << value);
      CHECK_THAT(mean, WithinAbs(std::sqrt(ab) * value, 5 * std::sqrt((1 - ab) / n)));
      CHECK_THAT(var, WithinAbs(1 - ab, 5 * (1 - ab) * std::sqrt(2 / n)));
    }
  }
}

TEST_CASE("Gaussian: q_sample standardised by each row's coefficients is N(0, 1)", "[noise]") {
  const Gaussian g(noisy_schedule());
  const CpuBackend::Context ctx(2);
  const Eigen::Index rows = 64;
  Matrix<float> x0(rows, kCols);
  std::vector<int> steps(static_cast<std::size_t>(rows));
  for (Eigen::Index r = 0; r < rows; ++r) {
    x0.row(r).setConstant(static_cast<float>(r % 2 == 0 ? 1.0 : 0.0));
    steps[static_cast<std::size_t>(r)] = static_cast<int>(r % 10);
  }
  Workspace<float> ws;
  Matrix<float> x_t;
  g.q_sample<CpuBackend, float>(ctx, x0, steps, NoiseDraw{1234, Stream::noise, 7, nullptr}, ws,
                                x_t);
  const Matrix<float>& a = ws.coef_a;
  const Matrix<float>& b = ws.coef_b;
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

TEST_CASE("Gaussian: q_sample noise is Philox (seed, stream, counter, row, col), kept in ws.eps",
          "[noise]") {
  const Gaussian g(noisy_schedule());
  const CpuBackend::Context ctx(1);
  const Matrix<double> x0 = ramp<double>(5, kCols);
  const std::vector<int> steps{1, 3, 5, 7, 9};
  Workspace<double> ws;
  Matrix<double> x_t;
  g.q_sample<CpuBackend, double>(ctx, x0, steps, NoiseDraw{99, Stream::noise, 3, nullptr}, ws, x_t);
  REQUIRE(ws.eps.rows() == 5);
  REQUIRE(ws.eps.cols() == kCols);
  for (Eigen::Index r = 0; r < 5; ++r) {
    const auto k = static_cast<std::size_t>(steps[static_cast<std::size_t>(r)]);
    CHECK(ws.coef_a(r, 0) == g.tables().sqrt_alpha_bar()[k]);
    CHECK(ws.coef_b(r, 0) == g.tables().sqrt_one_minus_alpha_bar()[k]);
    for (Eigen::Index c :
         {Eigen::Index(0), Eigen::Index(1), Eigen::Index(5), Eigen::Index(kCols - 1)})
      CHECK(ws.eps(r, c) == double(philox_normal(99, Stream::noise, 3, r, c)));
  }
  // eps = (x_t - a x0) / b up to the rounding of one multiply-add (b >= 0.1).
  for (Eigen::Index r = 0; r < 5; ++r) {
    REQUIRE(ws.coef_b(r, 0) >= 0.1);
    for (Eigen::Index c = 0; c < kCols; ++c)
      REQUIRE_THAT((x_t(r, c) - ws.coef_a(r, 0) * x0(r, c)) / ws.coef_b(r, 0),
                   WithinAbs(ws.eps(r, c), 1e-13));
  }
  const Matrix<double> eps = ws.eps;
  // Another counter draws other noise.
  Matrix<double> x_t2;
  g.q_sample<CpuBackend, double>(ctx, x0, steps, NoiseDraw{99, Stream::noise, 4, nullptr}, ws,
                                 x_t2);
  CHECK((ws.eps - eps).cwiseAbs().maxCoeff() > 0.1);
  // Another stream too, and it is that stream's Philox normal.
  g.q_sample<CpuBackend, double>(ctx, x0, steps, NoiseDraw{99, Stream::inference, 3, nullptr}, ws,
                                 x_t2);
  CHECK((ws.eps - eps).cwiseAbs().maxCoeff() > 0.1);
  CHECK(ws.eps(2, 7) == double(philox_normal(99, Stream::inference, 3, 2, 7)));
  // And another seed.
  g.q_sample<CpuBackend, double>(ctx, x0, steps, NoiseDraw{100, Stream::noise, 3, nullptr}, ws,
                                 x_t2);
  CHECK((ws.eps - eps).cwiseAbs().maxCoeff() > 0.1);

  // In place: x_t aliases x0.
  Matrix<double> x = x0;
  g.q_sample<CpuBackend, double>(ctx, x, steps, NoiseDraw{99, Stream::noise, 3, nullptr}, ws, x);
  CHECK(x == x_t);
  CHECK(ws.eps == eps);
}

TEST_CASE("Gaussian: row keys replace the batch row in the Philox key", "[noise]") {
  const Gaussian g(noisy_schedule());
  const CpuBackend::Context ctx(2);
  const Matrix<float> x6 = ramp<float>(6, kCols);
  const std::vector<int> steps6{0, 1, 2, 3, 4, 5};
  Workspace<float> ws6, ws2;
  Matrix<float> x_t6, x_t2, out6, out2;
  g.q_sample<CpuBackend, float>(ctx, x6, steps6, NoiseDraw{8, Stream::noise, 2, nullptr}, ws6,
                                x_t6);

  // A two-row batch holding rows 5 and 2 of the six, keyed by those row ids.
  Matrix<recdiff::index_t> keys(2, 1);
  keys << 5, 2;
  Matrix<float> x2(2, kCols);
  x2.row(0) = x6.row(5);
  x2.row(1) = x6.row(2);
  const std::vector<int> steps2{5, 2};
  const NoiseDraw keyed{8, Stream::noise, 2, keys.data()};
  CHECK(keyed.row(0) == 5u);
  CHECK(keyed.row(1) == 2u);
  CHECK(NoiseDraw{}.row(1) == 1u);
  g.q_sample<CpuBackend, float>(ctx, x2, steps2, keyed, ws2, x_t2);
  CHECK(ws2.eps.row(0) == ws6.eps.row(5));
  CHECK(ws2.eps.row(1) == ws6.eps.row(2));
  CHECK(x_t2.row(0) == x_t6.row(5));
  CHECK(x_t2.row(1) == x_t6.row(2));
  CHECK(ws2.eps(0, 10) == philox_normal(8, Stream::noise, 2, 5, 10));
  // Without the keys, row 0 would draw row 0's noise.
  g.q_sample<CpuBackend, float>(ctx, x2, steps2, NoiseDraw{8, Stream::noise, 2, nullptr}, ws2,
                                x_t2);
  CHECK(ws2.eps.row(0) == ws6.eps.row(0));
  CHECK(ws2.eps.row(0) != ws6.eps.row(5));

  // The reverse step's sampling noise follows the same rule (inference stream).
  const NoiseDraw inference6{8, Stream::inference, 4, nullptr};
  g.reverse_step<CpuBackend, float>(ctx, x6, x_t6, steps6, inference6, true, ws6, out6);
  Matrix<float> x_t2_keyed(2, kCols);
  x_t2_keyed.row(0) = x_t6.row(5);
  x_t2_keyed.row(1) = x_t6.row(2);
  g.reverse_step<CpuBackend, float>(ctx, x2, x_t2_keyed, steps2,
                                    NoiseDraw{8, Stream::inference, 4, keys.data()}, true, ws2,
                                    out2);
  CHECK(out2.row(0) == out6.row(5));
  CHECK(out2.row(1) == out6.row(2));
}

TEST_CASE("Gaussian: q_sample and reverse_step are bit-identical at 1 and 2 threads", "[noise]") {
  const Gaussian g(recdiff::Linear(40, 1e-3, 0.2));
  const Eigen::Index rows = 53;  // several 8-row chunks plus a remainder
  const Matrix<float> x0 = ramp<float>(rows, kCols);
  const Matrix<float> x0_hat = ramp<float>(rows, kCols).reverse();
  std::vector<int> steps(static_cast<std::size_t>(rows));
  for (std::size_t r = 0; r < steps.size(); ++r) steps[r] = static_cast<int>((r * 3) % 40);
  Workspace<float> ws1, ws2;
  Matrix<float> xt1, xt2, out1, out2;
  const NoiseDraw draw{5, Stream::noise, 11, nullptr};
  g.q_sample<CpuBackend, float>(CpuBackend::Context(1), x0, steps, draw, ws1, xt1);
  g.q_sample<CpuBackend, float>(CpuBackend::Context(2), x0, steps, draw, ws2, xt2);
  REQUIRE(std::memcmp(xt1.data(), xt2.data(), sizeof(float) * xt1.size()) == 0);
  REQUIRE(std::memcmp(ws1.eps.data(), ws2.eps.data(), sizeof(float) * ws1.eps.size()) == 0);
  for (const bool sample : {true, false}) {
    CAPTURE(sample);
    const NoiseDraw reverse{5, Stream::inference, 12, nullptr};
    g.reverse_step<CpuBackend, float>(CpuBackend::Context(1), x0_hat, xt1, steps, reverse, sample,
                                      ws1, out1);
    g.reverse_step<CpuBackend, float>(CpuBackend::Context(2), x0_hat, xt1, steps, reverse, sample,
                                      ws2, out2);
    REQUIRE(std::memcmp(out1.data(), out2.data(), sizeof(float) * out1.size()) == 0);
  }
  // q_sample_backward too.
  Matrix<float> g1, g2;
  g.q_sample_backward<CpuBackend, float>(CpuBackend::Context(1), ws1, x0_hat, false, g1);
  g.q_sample_backward<CpuBackend, float>(CpuBackend::Context(2), ws2, x0_hat, false, g2);
  REQUIRE(std::memcmp(g1.data(), g2.data(), sizeof(float) * g1.size()) == 0);
}

TEST_CASE("Gaussian: reverse_step is the posterior mean plus keyed noise for k > 0", "[noise]") {
  const CpuBackend::Context ctx(2);
  const Gaussian& g = ml1m();
  const recdiff::GaussianTables& tables = g.tables();
  const std::vector<int> steps{0, 1, 39, 2};
  const Matrix<double> x0_hat = ramp<double>(4, kCols);
  const Matrix<double> x_t = ramp<double>(4, kCols).reverse();
  Workspace<double> ws;
  Matrix<double> mean, noisy;
  g.reverse_step<CpuBackend, double>(ctx, x0_hat, x_t, steps, NoiseDraw{21, Stream::noise, 2},
                                     false, ws, mean);
  g.reverse_step<CpuBackend, double>(ctx, x0_hat, x_t, steps, NoiseDraw{21, Stream::noise, 2}, true,
                                     ws, noisy);
  // The per-row coefficients gathered into the workspace.
  REQUIRE(ws.coef1.rows() == 4);
  CHECK(ws.coef1(2, 0) == tables.posterior_mean_coef1()[39]);
  CHECK(ws.coef2(1, 0) == tables.posterior_mean_coef2()[1]);
  REQUIRE(ws.noise_std.rows() == 4);
  CHECK(ws.noise_std(0, 0) == 0.0);  // k = 0: no noise on the last reverse step
  CHECK_THAT(ws.noise_std(1, 0), WithinRel(std::sqrt(6.024241548124456e-07), 1e-12));
  for (Eigen::Index r = 0; r < 4; ++r) {
    const auto [c1, c2] = g.posterior_mean_coefficients(steps[static_cast<std::size_t>(r)]);
    for (Eigen::Index c = 0; c < kCols; ++c) {
      REQUIRE_THAT(mean(r, c), WithinAbs(c1 * x0_hat(r, c) + c2 * x_t(r, c), 1e-15));
      const double z = philox_normal(21, Stream::noise, 2, r, c);
      REQUIRE_THAT(noisy(r, c), WithinAbs(mean(r, c) + ws.noise_std(r, 0) * z, 1e-15));
    }
  }
  CHECK(noisy.row(0) == mean.row(0));
  CHECK(noisy.row(1) != mean.row(1));

  // In place: out aliases x_t, then x0_hat.
  Matrix<double> x = x_t;
  g.reverse_step<CpuBackend, double>(ctx, x0_hat, x, steps, NoiseDraw{}, false, ws, x);
  CHECK(x == mean);
  Matrix<double> h = x0_hat;
  g.reverse_step<CpuBackend, double>(ctx, h, x_t, steps, NoiseDraw{21, Stream::noise, 2}, true, ws,
                                     h);
  CHECK(h == noisy);

  REQUIRE_THROWS_AS((g.reverse_step<CpuBackend, double>(ctx, x0_hat.topRows(3), x_t, steps,
                                                        NoiseDraw{}, false, ws, mean)),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(
      (g.reverse_step<CpuBackend, double>(ctx, x0_hat.topRows(3), x_t, steps, NoiseDraw{}, false,
                                          ws, mean)),
      Catch::Contains("recdiff::Gaussian::reverse_step: x0_hat is 3x1003, expected 4x1003"));
  const std::vector<int> three{0, 1, 2};
  REQUIRE_THROWS_AS(
      (g.reverse_step<CpuBackend, double>(ctx, x0_hat, x_t, three, NoiseDraw{}, true, ws, noisy)),
      std::invalid_argument);
  REQUIRE_THROWS_WITH(
      (g.reverse_step<CpuBackend, double>(ctx, x0_hat, x_t, three, NoiseDraw{}, true, ws, noisy)),
      Catch::Contains("recdiff::Gaussian::reverse_step: steps is 3x1, expected 4x1"));
}

TEST_CASE("Gaussian: reverse_step(sample = false) is coef1 x0_hat + coef2 x_t", "[noise]") {
  const CpuBackend::Context ctx(1);
  for (const Gaussian& g : {Gaussian(noisy_schedule()), Gaussian(recdiff::Cosine(10)),
                            Gaussian(recdiff::Constant(10, 0.05))}) {
    const std::vector<int> steps{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    const Matrix<double> x0_hat = ramp<double>(10, 37);
    const Matrix<double> x_t = Matrix<double>::Random(10, 37);
    Workspace<double> ws;
    Matrix<double> out;
    g.reverse_step<CpuBackend, double>(ctx, x0_hat, x_t, steps, NoiseDraw{3, Stream::inference, 1},
                                       false, ws, out);
    for (Eigen::Index r = 0; r < 10; ++r) {
      const auto [c1, c2] = g.posterior_mean_coefficients(steps[static_cast<std::size_t>(r)]);
      for (Eigen::Index c = 0; c < 37; ++c)
        REQUIRE_THAT(out(r, c), WithinAbs(c1 * x0_hat(r, c) + c2 * x_t(r, c), 1e-14));
    }
    // The posterior mean of x_k given the true x0 shrinks towards x0: with x_t = x0 it is
    // (c1 + c2) x0, and c1 + c2 -> 1 at k = 0.
    const auto [c1, c2] = g.posterior_mean_coefficients(0);
    CHECK_THAT(c1 + c2, WithinRel(1.0, 1e-9));
  }
}

TEST_CASE("Gaussian: coefficients are the table entries cast to T", "[noise]") {
  const Gaussian& g = ml1m();
  const recdiff::GaussianTables& tables = g.tables();
  const CpuBackend::Context ctx(1);
  const std::vector<int> steps{3, 0, 39};
  const Matrix<float> x0 = ramp<float>(3, 10);
  Workspace<float> ws;
  Matrix<float> x_t, out;
  g.q_sample<CpuBackend, float>(ctx, x0, steps, NoiseDraw{}, ws, x_t);
  g.reverse_step<CpuBackend, float>(ctx, x0, x_t, steps, NoiseDraw{}, true, ws, out);
  REQUIRE(ws.coef_a.rows() == 3);
  REQUIRE(ws.coef_a.cols() == 1);
  for (Eigen::Index i = 0; i < 3; ++i) {
    const auto k = static_cast<std::size_t>(steps[static_cast<std::size_t>(i)]);
    CHECK(ws.coef_a(i, 0) == static_cast<float>(tables.sqrt_alpha_bar()[k]));
    CHECK(ws.coef_b(i, 0) == static_cast<float>(tables.sqrt_one_minus_alpha_bar()[k]));
    CHECK(ws.coef1(i, 0) == static_cast<float>(tables.posterior_mean_coef1()[k]));
    CHECK(ws.coef2(i, 0) == static_cast<float>(tables.posterior_mean_coef2()[k]));
    // noise_std is computed in double, then cast.
    CHECK(ws.noise_std(i, 0) ==
          (k == 0
               ? 0.0f
               : static_cast<float>(std::exp(0.5 * tables.posterior_log_variance_clipped()[k]))));
  }
  const std::vector<int> bad{1, 40, 2};
  REQUIRE_THROWS_AS((g.q_sample<CpuBackend, float>(ctx, x0, bad, NoiseDraw{}, ws, x_t)),
                    std::out_of_range);
  REQUIRE_THROWS_WITH(
      (g.q_sample<CpuBackend, float>(ctx, x0, bad, NoiseDraw{}, ws, x_t)),
      Catch::Contains("recdiff::Gaussian::q_sample: steps[1] = 40 is outside [0, 40)"));
  const std::vector<int> negative{-1, 0, 0};
  REQUIRE_THROWS_AS(
      (g.reverse_step<CpuBackend, float>(ctx, x0, x_t, negative, NoiseDraw{}, false, ws, out)),
      std::out_of_range);
  REQUIRE_THROWS_WITH(
      (g.reverse_step<CpuBackend, float>(ctx, x0, x_t, negative, NoiseDraw{}, true, ws, out)),
      Catch::Contains("recdiff::Gaussian::reverse_step: steps[0] = -1"));

  const std::vector<int> two{0, 1};
  REQUIRE_THROWS_AS((g.q_sample<CpuBackend, float>(ctx, x0, two, NoiseDraw{}, ws, x_t)),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH((g.q_sample<CpuBackend, float>(ctx, x0, two, NoiseDraw{}, ws, x_t)),
                      Catch::Contains("recdiff::Gaussian::q_sample: steps is 2x1, expected 3x1"));
}

TEST_CASE("Gaussian: noiseless tables leave x0 unchanged and the reverse step returns x0_hat",
          "[noise]") {
  const CpuBackend::Context ctx(1);
  const Gaussian g(recdiff::DiffRecLinearVar(10, 0.0, 0.005, 0.01));
  REQUIRE(g.is_noiseless());
  REQUIRE(g.num_steps() == 10);
  const std::vector<int> steps{0, 5, 9};
  const Matrix<float> x0 = ramp<float>(3, 17);
  Workspace<float> ws;
  Matrix<float> x_t, out;
  g.q_sample<CpuBackend, float>(ctx, x0, steps, NoiseDraw{3, Stream::noise, 1}, ws, x_t);
  CHECK(x_t == x0);
  const Matrix<float> reversed = x_t.reverse();
  for (const bool sample : {true, false}) {
    g.reverse_step<CpuBackend, float>(ctx, x0, reversed, steps, NoiseDraw{3, Stream::noise, 2},
                                      sample, ws, out);
    CHECK(out == x0);
  }
  CHECK(g.posterior_mean_coefficients(5) == std::pair<double, double>(1.0, 0.0));
}

TEST_CASE("Gaussian: in float every column draws philox::normal, across 64-column groups",
          "[noise]") {
  // 150 columns: two full kernel groups of 64 and a ragged one of 22.
  const Eigen::Index rows = 3, cols = 150;
  REQUIRE(recdiff::noise_detail::column_groups(cols) == 3);
  const Gaussian g(recdiff::Linear(10, 0.05, 0.5));
  const std::vector<int> steps{0, 4, 9};
  const Matrix<float> x0 = ramp<float>(rows, cols);
  const CpuBackend::Context ctx(1);
  Workspace<float> ws;
  Matrix<float> x_t, out;
  g.q_sample<CpuBackend, float>(ctx, x0, steps, NoiseDraw{17, Stream::noise, 8}, ws, x_t);
  g.reverse_step<CpuBackend, float>(ctx, x0, x_t, steps, NoiseDraw{17, Stream::noise, 9}, true, ws,
                                    out);
  REQUIRE(ws.noise_std(0, 0) == 0.0f);
  REQUIRE(ws.noise_std(2, 0) > 0.1f);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) {
      const float z8 = philox_normal(17, Stream::noise, 8, r, c);
      const float z9 = philox_normal(17, Stream::noise, 9, r, c);
      REQUIRE(ws.eps(r, c) == z8);
      REQUIRE(x_t(r, c) ==
              Approx(ws.coef_a(r, 0) * x0(r, c) + ws.coef_b(r, 0) * z8).epsilon(1e-6).margin(1e-6));
      const float mean = ws.coef1(r, 0) * x0(r, c) + ws.coef2(r, 0) * x_t(r, c);
      REQUIRE(out(r, c) == Approx(mean + ws.noise_std(r, 0) * z9).epsilon(1e-5).margin(1e-5));
    }
}

TEST_CASE("Gaussian: q_sample_backward matches finite differences of x_t(x0)",
          "[noise][gradcheck]") {
  // With the draw fixed, x_t is a function of x0; the loss sum(R .* x_t) + sum(x_t^2) / 2 has
  // d loss / d x_t = R + x_t, which q_sample_backward carries to x0.
  for (const Gaussian& g : {Gaussian(noisy_schedule()), ml1m()}) {
    const CpuBackend::Context ctx(2);
    const std::vector<int> steps{0, 3, 9, 1};
    const NoiseDraw draw{41, Stream::noise, 6};
    Matrix<double> x0 = ramp<double>(4, 13);
    const Matrix<double> r = Matrix<double>::Random(4, 13);
    Workspace<double> ws;
    Matrix<double> x_t;
    auto loss = [&] {
      Workspace<double> w;
      Matrix<double> xt;
      g.q_sample<CpuBackend, double>(ctx, x0, steps, draw, w, xt);
      return xt.cwiseProduct(r).sum() + 0.5 * xt.squaredNorm();
    };
    g.q_sample<CpuBackend, double>(ctx, x0, steps, draw, ws, x_t);
    const Matrix<double> grad_x_t = r + x_t;
    Matrix<double> grad_x0;
    g.q_sample_backward<CpuBackend, double>(ctx, ws, grad_x_t, false, grad_x0);
    REQUIRE(grad_x0.rows() == 4);
    REQUIRE(grad_x0.cols() == 13);
    CHECK(recdiff::test::gradient_error(x0, grad_x0, loss) < recdiff::test::gradcheck_tolerance);
    for (Eigen::Index b = 0; b < 4; ++b)
      CHECK(grad_x0.row(b) ==
            (g.tables().sqrt_alpha_bar()[static_cast<std::size_t>(steps[std::size_t(b)])] *
             grad_x_t.row(b))
                .eval());

    // accumulate = true adds to what grad_x0 holds; false overwrites (and resizes).
    const Matrix<double> before = Matrix<double>::Random(4, 13);
    Matrix<double> acc = before;
    g.q_sample_backward<CpuBackend, double>(ctx, ws, grad_x_t, true, acc);
    CHECK(((acc - before) - grad_x0).cwiseAbs().maxCoeff() < 1e-14);
    Matrix<double> over = Matrix<double>::Random(2, 5);
    g.q_sample_backward<CpuBackend, double>(ctx, ws, grad_x_t, false, over);
    CHECK(over == grad_x0);

    Matrix<double> wrong = Matrix<double>::Zero(3, 13);
    REQUIRE_THROWS_AS((g.q_sample_backward<CpuBackend, double>(ctx, ws, grad_x_t, true, wrong)),
                      std::invalid_argument);
    REQUIRE_THROWS_WITH(
        (g.q_sample_backward<CpuBackend, double>(ctx, ws, grad_x_t, true, wrong)),
        Catch::Contains("recdiff::Gaussian::q_sample_backward: grad_x0 is 3x13, expected 4x13"));
    // Without a q_sample of that batch the workspace has no coefficients for it.
    Workspace<double> fresh;
    REQUIRE_THROWS_WITH(
        (g.q_sample_backward<CpuBackend, double>(ctx, fresh, grad_x_t, false, grad_x0)),
        Catch::Contains("recdiff::Gaussian::q_sample_backward: coef_a is 0x0, expected 4x1"));
  }
}
