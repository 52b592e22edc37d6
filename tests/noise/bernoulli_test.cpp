#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/noise/noise.hpp>
#include <recdiff/schedule/schedule.hpp>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using recdiff::Bernoulli;
using recdiff::CpuBackend;
using recdiff::FairCoin;
using recdiff::NoiseDraw;
using recdiff::OneWay;
using recdiff::TwoWayFlip;
using recdiff::philox::Stream;
template <class T>
using Matrix = CpuBackend::Matrix<T>;

static_assert(recdiff::BernoulliProcess<TwoWayFlip> && recdiff::BernoulliProcess<FairCoin> &&
              recdiff::BernoulliProcess<OneWay> && !recdiff::BernoulliProcess<recdiff::Gaussian>);
static_assert(recdiff::NoiseKernel<Bernoulli<TwoWayFlip>, CpuBackend> &&
              recdiff::NoiseKernel<Bernoulli<FairCoin>, CpuBackend> &&
              recdiff::NoiseKernel<Bernoulli<OneWay>, CpuBackend>);
static_assert(recdiff::BernoulliNoise<Bernoulli<TwoWayFlip>> &&
              recdiff::BernoulliNoise<Bernoulli<FairCoin>> &&
              recdiff::BernoulliNoise<Bernoulli<OneWay>>);
static_assert(!recdiff::DifferentiableNoise<Bernoulli<TwoWayFlip>, CpuBackend> &&
              !recdiff::GaussianNoise<Bernoulli<OneWay>>);
static_assert(recdiff::BetaScheduleNoise<Bernoulli<FairCoin>> &&
              recdiff::BetaScheduleNoise<recdiff::Gaussian>);
static_assert(!recdiff::BernoulliNoise<recdiff::Gaussian>);
// Only the one-way process keeps a sparse row sparse, so only it offers q_sample_sparse.
template <class N>
concept HasSparseSample = requires(const N& n, const recdiff::InteractionMatrix& x,
                                   std::span<const recdiff::index_t> users,
                                   std::span<const int> steps, const NoiseDraw& draw) {
  n.q_sample_sparse(x, users, steps, draw);
};
static_assert(HasSparseSample<Bernoulli<OneWay>>);
static_assert(!HasSparseSample<Bernoulli<TwoWayFlip>> && !HasSparseSample<Bernoulli<FairCoin>>);

namespace {

// A schedule with arbitrary betas.
struct Betas {
  std::vector<double> values;
  int num_steps() const { return static_cast<int>(values.size()); }
  const std::vector<double>& betas() const { return values; }
};
static_assert(recdiff::NoiseSchedule<Betas>);

// The betas of the spec's posterior check (paper t = 1..4 is our k = 0..3).
const Betas kPosteriorBetas{{0.05, 0.1, 0.2, 0.3}};

// A column count that is not a multiple of 64 (or of 4) exercises the ragged last group.
constexpr Eigen::Index kCols = 1003;

template <class T>
Matrix<T> checkerboard(Eigen::Index rows, Eigen::Index cols) {
  Matrix<T> m(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) m(r, c) = (r + c) % 2 == 0 ? T(1) : T(0);
  return m;
}

template <class T>
Matrix<T> probabilities(Eigen::Index rows, Eigen::Index cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Matrix<T> m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(u(rng));
  return m;
}

float uniform_of(const NoiseDraw& draw, Eigen::Index row, Eigen::Index col) {
  return recdiff::philox::uniform(draw.seed, draw.stream, draw.counter,
                                  static_cast<std::uint32_t>(row), static_cast<std::uint32_t>(col));
}

// One step of each process, written from its definition (RecFusion Sec. 2.3.2, Eq. 6),
// independently of the library's tables.
template <class Process>
int step(int x, double beta, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if constexpr (std::is_same_v<Process, TwoWayFlip>) {
    return u(rng) < beta ? 1 - x : x;  // flip with probability beta
  } else if constexpr (std::is_same_v<Process, FairCoin>) {
    if (u(rng) < beta) return u(rng) < 0.5 ? 1 : 0;  // replaced by a fair coin
    return x;
  } else {
    if (x == 0) return 0;                    // a 0 stays 0
    return u(rng) < 1.0 - beta / 2 ? 1 : 0;  // a 1 survives with probability 1 - beta/2
  }
}

// |freq - p| within 5 binomial standard deviations of n draws (exact when p is 0 or 1).
void check_frequency(double ones, double n, double p) {
  INFO("frequency " << ones / n << " of " << n << " draws, expected " << p);
  REQUIRE(n > 0);
  CHECK_THAT(ones / n, WithinAbs(p, 5.0 * std::sqrt(p * (1.0 - p) / n)));
}

}  // namespace

TEST_CASE("Bernoulli: is built from a schedule and exposes its betas", "[noise][bernoulli]") {
  const recdiff::Quadratic schedule(3);
  const Bernoulli<TwoWayFlip> two(schedule);
  CHECK(std::string(Bernoulli<TwoWayFlip>::name) == "Bernoulli<TwoWayFlip>");
  CHECK(std::string(Bernoulli<FairCoin>::name) == "Bernoulli<FairCoin>");
  CHECK(std::string(Bernoulli<OneWay>::name) == "Bernoulli<OneWay>");
  CHECK(two.num_steps() == 3);
  CHECK_FALSE(two.is_noiseless());
  REQUIRE(two.betas().size() == 3);
  CHECK(std::vector<double>(two.betas().begin(), two.betas().end()) == schedule.betas());
  // Gaussian exposes its betas the same way.
  const recdiff::Gaussian g(schedule);
  CHECK(std::vector<double>(g.betas().begin(), g.betas().end()) == schedule.betas());
  // A copy is an independent value with the same tables.
  const Bernoulli<TwoWayFlip> copy = two;
  CHECK(copy.tables().marginal_one() == two.tables().marginal_one());
  CHECK(copy.tables().posterior(0, 1) == two.tables().posterior(0, 1));
  // The tables check their input as the Gaussian tables do.
  REQUIRE_THROWS_AS(Bernoulli<OneWay>(Betas{{0.1, 1.5}}), std::invalid_argument);
  REQUIRE_THROWS_WITH(Bernoulli<OneWay>(Betas{{0.1, 1.5}}),
                      Catch::Contains("recdiff::BernoulliTables: beta_1 is outside (0, 1]"));
  const std::vector<double> two_betas{0.1, 0.2};
  REQUIRE_THROWS_WITH(recdiff::BernoulliTables<OneWay>(3, two_betas),
                      Catch::Contains("betas has the wrong length"));
}

TEST_CASE("Bernoulli: marginals match the corrected closed forms (spec check values)",
          "[noise][bernoulli]") {
  // Paper t = our k + 1. The printed values have 4 digits.
  const double digits = 5e-5;
  const Bernoulli<FairCoin> eq6(recdiff::Constant(10, 0.1));
  CHECK_THAT(eq6.marginal(0, 0.0), WithinAbs(0.0500, digits));
  CHECK_THAT(eq6.marginal(4, 0.0), WithinAbs(0.2048, digits));
  CHECK_THAT(eq6.marginal(9, 0.0), WithinAbs(0.3257, digits));
  CHECK_THAT(eq6.marginal(0, 1.0), WithinAbs(0.9500, digits));
  CHECK_THAT(eq6.marginal(4, 1.0), WithinAbs(0.7952, digits));
  CHECK_THAT(eq6.marginal(9, 1.0), WithinAbs(0.6743, digits));
  // ... and the exact form abar x0 + (1 - abar) / 2; the paper's Eq. 7 would give 0.1136 here.
  const double abar10 = std::pow(0.9, 10);
  CHECK_THAT(eq6.marginal(9, 0.0), WithinRel((1 - abar10) / 2, 1e-14));
  CHECK_THAT(eq6.marginal(9, 1.0), WithinRel(abar10 + (1 - abar10) / 2, 1e-14));
  CHECK(std::abs(eq6.marginal(9, 0.0) - 0.1136) > 0.2);

  const Bernoulli<FairCoin> half(recdiff::Constant(4, 0.5));
  CHECK_THAT(half.marginal(1, 0.0), WithinAbs(0.3750, digits));
  CHECK_THAT(half.marginal(3, 0.0), WithinAbs(0.4688, digits));
  CHECK_THAT(half.marginal(1, 1.0), WithinAbs(0.6250, digits));
  CHECK_THAT(half.marginal(3, 1.0), WithinAbs(0.5312, digits));

  const Bernoulli<TwoWayFlip> two(recdiff::Constant(10, 0.1));
  const Bernoulli<OneWay> one(recdiff::Constant(10, 0.1));
  CHECK_THAT(two.marginal(9, 1.0), WithinAbs(0.5537, digits));
  CHECK_THAT(one.marginal(9, 1.0), WithinAbs(0.5987, digits));
  CHECK_THAT(two.marginal(9, 1.0), WithinRel(0.5 + 0.5 * std::pow(0.8, 10), 1e-14));
  CHECK_THAT(two.marginal(9, 0.0), WithinRel(0.5 - 0.5 * std::pow(0.8, 10), 1e-14));
  CHECK_THAT(one.marginal(9, 1.0), WithinRel(std::pow(0.95, 10), 1e-14));
  CHECK(one.marginal(9, 0.0) == 0.0);
  // A non-binary x0 uses the affine extension.
  CHECK_THAT(one.marginal(9, 0.25), WithinRel(0.25 * std::pow(0.95, 10), 1e-14));
  CHECK_THAT(two.marginal(2, 0.25), WithinRel(0.5 - 0.25 * std::pow(0.8, 3), 1e-14));

  const Bernoulli<FairCoin> quadratic(recdiff::Quadratic(3));
  CHECK_THAT(quadratic.marginal(2, 1.0), WithinAbs(0.9380, digits));
  // The tables agree with marginal().
  for (int k = 0; k < 10; ++k) {
    CHECK(two.tables().marginal_zero()[static_cast<std::size_t>(k)] == two.marginal(k, 0.0));
    CHECK(two.tables().marginal_one()[static_cast<std::size_t>(k)] == two.marginal(k, 1.0));
  }
  REQUIRE_THROWS_AS(two.marginal(10, 1.0), std::out_of_range);
  REQUIRE_THROWS_WITH(two.marginal(-1, 1.0),
                      Catch::Contains("recdiff::Bernoulli::marginal: steps[0] = -1 is outside "
                                      "[0, 10)"));
}

TEST_CASE("Bernoulli: posteriors match the closed forms (spec check values)",
          "[noise][bernoulli]") {
  const Bernoulli<FairCoin> eq6(kPosteriorBetas);
  const Bernoulli<TwoWayFlip> two(kPosteriorBetas);
  const Bernoulli<OneWay> one(kPosteriorBetas);
  // Paper t = 4 is k = 3.
  CHECK_THAT(eq6.posterior(3, 0, 1), WithinAbs(0.4847, 5e-5));
  CHECK_THAT(two.posterior(3, 1, 0), WithinAbs(0.4807, 5e-5));
  CHECK_THAT(one.posterior(3, 0, 1), WithinAbs(0.4291, 5e-5));
  // By hand. Eq. 6: f = beta / 2 = 0.15, p = 1/2 + 1/2 (0.95)(0.9)(0.8) = 0.842, x_t = 0:
  // f p / (f p + (1 - f)(1 - p)).
  CHECK_THAT(eq6.posterior(3, 0, 1),
             WithinRel(0.15 * 0.842 / (0.15 * 0.842 + 0.85 * 0.158), 1e-12));
  // Two-way: f = 0.3, p = 1/2 - 1/2 (0.9)(0.8)(0.6) = 0.284, x_t = 1: (1 - f) p / ((1 - f) p +
  // f (1 - p)).
  CHECK_THAT(two.posterior(3, 1, 0),
             WithinRel(0.7 * 0.284 / (0.7 * 0.284 + 0.3 * 0.716), 1e-12));
  // One-way: s = 0.85, kappa_2 = 0.975 * 0.95 * 0.9, kappa_3 = kappa_2 * 0.85:
  // (1 - s) kappa_2 / (1 - kappa_3).
  const double kappa2 = 0.975 * 0.95 * 0.9;
  CHECK_THAT(one.posterior(3, 0, 1), WithinRel(0.15 * kappa2 / (1 - kappa2 * 0.85), 1e-12));
  // One-way: x_t = 1 means x_{k-1} = 1; x_t = 0 from x0 = 0 means x_{k-1} = 0.
  for (int k = 1; k < 4; ++k) {
    CHECK(one.posterior(k, 1, 1) == 1.0);
    CHECK(one.posterior(k, 1, 0) == 1.0);
    CHECK(one.posterior(k, 0, 0) == 0.0);
  }
  // At k = 0, x_{-1} is x0 itself.
  for (int x_t : {0, 1}) {
    CHECK(eq6.posterior(0, x_t, 1) == 1.0);
    CHECK(eq6.posterior(0, x_t, 0) == 0.0);
    CHECK(two.posterior(0, x_t, 0) == 0.0);
    CHECK(one.posterior(0, x_t, 1) == 1.0);
    CHECK(one.posterior(0, x_t, 0) == 0.0);
  }
  REQUIRE_THROWS_AS(two.posterior(4, 1, 0), std::out_of_range);
  REQUIRE_THROWS_AS(two.posterior(1, 2, 0), std::invalid_argument);
  REQUIRE_THROWS_WITH(two.posterior(1, 2, 0),
                      Catch::Contains("recdiff::Bernoulli::posterior: x_t must be 0 or 1, got 2"));
  REQUIRE_THROWS_WITH(two.posterior(1, 0, -1),
                      Catch::Contains("recdiff::Bernoulli::posterior: x0 must be 0 or 1, got -1"));
}

TEMPLATE_TEST_CASE("Bernoulli: marginal and posterior agree with a simulated chain",
                   "[noise][bernoulli][montecarlo]", TwoWayFlip, FairCoin, OneWay) {
  // The chain x_0 .. x_k simulated step by step with the process's own transitions (written in
  // this test), 200,000 chains per start value: P(x_k = 1) against marginal(k, x0) and the
  // frequency of x_{k-1} = 1 among chains with x_k = x_t against posterior(k, x_t, x0).
  const Bernoulli<TestType> noise(kPosteriorBetas);
  const auto& betas = kPosteriorBetas.values;
  std::mt19937_64 rng(20230619);
  const int chains = 200000;
  for (const int x0 : {0, 1}) {
    for (const int k : {1, 3}) {
      INFO("x0 = " << x0 << ", k = " << k);
      double ones = 0, cond[2] = {0, 0}, prev_ones[2] = {0, 0};
      for (int n = 0; n < chains; ++n) {
        int x = x0, prev = x0;
        for (int s = 0; s <= k; ++s) {
          prev = x;
          x = step<TestType>(x, betas[static_cast<std::size_t>(s)], rng);
        }
        ones += x;
        cond[x] += 1;
        prev_ones[x] += prev;
      }
      check_frequency(ones, chains, noise.marginal(k, x0));
      for (const int x_t : {0, 1}) {
        INFO("x_t = " << x_t);
        if (cond[x_t] == 0) {  // only x_t = 1 from x0 = 0 in the one-way process
          CHECK(TestType::one_way);
          CHECK(x0 == 0);
          CHECK(x_t == 1);
          continue;
        }
        check_frequency(prev_ones[x_t], cond[x_t], noise.posterior(k, x_t, x0));
      }
    }
  }
}

TEMPLATE_TEST_CASE("Bernoulli: q_sample frequencies match the marginal",
                   "[noise][bernoulli][montecarlo]", TwoWayFlip, FairCoin, OneWay) {
  // 256 x 1003 elements per step, half with x0 = 1: about 128,000 draws per (k, x0).
  const Bernoulli<TestType> noise(recdiff::Linear(10, 0.05, 0.3));
  const CpuBackend::Context ctx(2);
  const Eigen::Index rows = 256;
  const Matrix<float> x0 = checkerboard<float>(rows, kCols);
  typename Bernoulli<TestType>::template Workspace<CpuBackend, float> ws;
  for (const int k : {0, 4, 9}) {
    INFO("k = " << k);
    const std::vector<int> steps(static_cast<std::size_t>(rows), k);
    Matrix<float> x_t;
    noise.template q_sample<CpuBackend, float>(ctx, x0, steps,
                                               NoiseDraw{1234, Stream::noise, 7, nullptr}, ws, x_t);
    REQUIRE(x_t.rows() == rows);
    REQUIRE(x_t.cols() == kCols);
    REQUIRE(ws.marginal.rows() == rows);
    REQUIRE(ws.marginal.cols() == 2);
    CHECK(ws.marginal(0, 0) == static_cast<float>(noise.marginal(k, 0.0)));
    CHECK(ws.marginal(0, 1) == static_cast<float>(noise.marginal(k, 1.0)));
    CHECK((x_t.array() == 0.0f || x_t.array() == 1.0f).all());
    for (const float value : {0.0f, 1.0f}) {
      double n = 0, ones = 0;
      for (Eigen::Index i = 0; i < x_t.size(); ++i) {
        if (x0.data()[i] != value) continue;
        n += 1;
        ones += x_t.data()[i];
      }
      INFO("x0 = " << value);
      check_frequency(ones, n, noise.marginal(k, value));
    }
  }
}

TEMPLATE_TEST_CASE("Bernoulli: q_sample is the draw's Philox uniform below the row's marginal",
                   "[noise][bernoulli]", TwoWayFlip, FairCoin, OneWay) {
  // 150 columns: two full groups of 64 and a ragged one of 22; one step per row.
  const Bernoulli<TestType> noise(recdiff::Linear(5, 0.1, 0.6));
  const CpuBackend::Context ctx(1);
  const Eigen::Index rows = 5, cols = 150;
  const std::vector<int> steps{0, 1, 2, 3, 4};
  Matrix<double> x0 = checkerboard<double>(rows, cols);
  x0(1, 3) = 0.25;  // a non-binary entry: the affine extension of the marginal
  x0(4, 149) = 0.75;
  const NoiseDraw draw{99, Stream::noise, 3, nullptr};
  typename Bernoulli<TestType>::template Workspace<CpuBackend, double> ws;
  Matrix<double> x_t;
  noise.template q_sample<CpuBackend, double>(ctx, x0, steps, draw, ws, x_t);
  for (Eigen::Index r = 0; r < rows; ++r) {
    const int k = steps[static_cast<std::size_t>(r)];
    for (Eigen::Index c = 0; c < cols; ++c) {
      const double p0 = noise.marginal(k, 0.0), p1 = noise.marginal(k, 1.0);
      const double p = p0 + x0(r, c) * (p1 - p0);
      REQUIRE(x_t(r, c) == (double(uniform_of(draw, r, c)) < p ? 1.0 : 0.0));
    }
  }
  // In place: x_t aliases x0.
  Matrix<double> x = x0;
  noise.template q_sample<CpuBackend, double>(ctx, x, steps, draw, ws, x);
  CHECK(x == x_t);
  // Another counter, stream or seed draws other bits.
  for (const NoiseDraw other : {NoiseDraw{99, Stream::noise, 4, nullptr},
                                NoiseDraw{99, Stream::inference, 3, nullptr},
                                NoiseDraw{100, Stream::noise, 3, nullptr}}) {
    Matrix<double> y;
    noise.template q_sample<CpuBackend, double>(ctx, x0, steps, other, ws, y);
    CHECK((y - x_t).cwiseAbs().sum() > 10);
  }

  // Row keys replace the batch row: a two-row batch of rows 4 and 1, keyed by those ids.
  Matrix<recdiff::index_t> keys(2, 1);
  keys << 4, 1;
  Matrix<double> x2(2, cols);
  x2.row(0) = x0.row(4);
  x2.row(1) = x0.row(1);
  const std::vector<int> steps2{4, 1};
  Matrix<double> x_t2;
  noise.template q_sample<CpuBackend, double>(ctx, x2, steps2,
                                              NoiseDraw{99, Stream::noise, 3, keys.data()}, ws,
                                              x_t2);
  CHECK(x_t2.row(0) == x_t.row(4));
  CHECK(x_t2.row(1) == x_t.row(1));

  // Errors name the function and the argument.
  const std::vector<int> bad{0, 1, 5, 3, 4};
  REQUIRE_THROWS_AS((noise.template q_sample<CpuBackend, double>(ctx, x0, bad, draw, ws, x_t)),
                    std::out_of_range);
  REQUIRE_THROWS_WITH(
      (noise.template q_sample<CpuBackend, double>(ctx, x0, bad, draw, ws, x_t)),
      Catch::Contains("recdiff::Bernoulli::q_sample: steps[2] = 5 is outside [0, 5)"));
  REQUIRE_THROWS_WITH(
      (noise.template q_sample<CpuBackend, double>(ctx, x0, steps2, draw, ws, x_t)),
      Catch::Contains("recdiff::Bernoulli::q_sample: steps is 2x1, expected 5x1"));
}

TEMPLATE_TEST_CASE("Bernoulli: reverse_step is the posterior mixture, or a draw of it",
                   "[noise][bernoulli]", TwoWayFlip, FairCoin, OneWay) {
  const Bernoulli<TestType> noise(kPosteriorBetas);
  const CpuBackend::Context ctx(2);
  const Eigen::Index rows = 8, cols = 150;
  const std::vector<int> steps{0, 1, 2, 3, 3, 2, 1, 0};
  const Matrix<double> x_t = checkerboard<double>(rows, cols);
  const Matrix<double> x0_hat = probabilities<double>(rows, cols, 5);
  typename Bernoulli<TestType>::template Workspace<CpuBackend, double> ws;
  Matrix<double> mean, drawn;
  const NoiseDraw draw{21, Stream::inference, 2, nullptr};
  noise.template reverse_step<CpuBackend, double>(ctx, x0_hat, x_t, steps, draw, false, ws, mean);
  noise.template reverse_step<CpuBackend, double>(ctx, x0_hat, x_t, steps, draw, true, ws, drawn);
  REQUIRE(mean.rows() == rows);
  REQUIRE(mean.cols() == cols);
  for (Eigen::Index r = 0; r < rows; ++r) {
    const int k = steps[static_cast<std::size_t>(r)];
    for (Eigen::Index c = 0; c < cols; ++c) {
      const int x = static_cast<int>(x_t(r, c));
      const double h = x0_hat(r, c);
      const double mixture = h * noise.posterior(k, x, 1) + (1 - h) * noise.posterior(k, x, 0);
      REQUIRE_THAT(mean(r, c), WithinAbs(mixture, 1e-15));
      if (k == 0) {
        // The last reverse step returns the model's probability, drawn or not.
        REQUIRE(mean(r, c) == h);
        REQUIRE(drawn(r, c) == h);
      } else {
        REQUIRE(drawn(r, c) == (double(uniform_of(draw, r, c)) < mean(r, c) ? 1.0 : 0.0));
      }
    }
  }

  // A non-binary x_t (the previous step's probability) mixes the x_t = 0 and 1 values.
  const Matrix<double> soft = probabilities<double>(rows, cols, 6);
  Matrix<double> mixed;
  noise.template reverse_step<CpuBackend, double>(ctx, x0_hat, soft, steps, draw, false, ws, mixed);
  for (Eigen::Index r = 0; r < rows; ++r) {
    const int k = steps[static_cast<std::size_t>(r)];
    for (Eigen::Index c = 0; c < cols; ++c) {
      const double h = x0_hat(r, c), x = soft(r, c);
      auto at = [&](int xt) {
        return h * noise.posterior(k, xt, 1) + (1 - h) * noise.posterior(k, xt, 0);
      };
      REQUIRE_THAT(mixed(r, c), WithinAbs(x * at(1) + (1 - x) * at(0), 1e-15));
    }
  }

  // In place: out aliases x_t, then x0_hat.
  Matrix<double> x = x_t;
  noise.template reverse_step<CpuBackend, double>(ctx, x0_hat, x, steps, draw, true, ws, x);
  CHECK(x == drawn);
  Matrix<double> h = x0_hat;
  noise.template reverse_step<CpuBackend, double>(ctx, h, x_t, steps, draw, false, ws, h);
  CHECK(h == mean);

  REQUIRE_THROWS_AS((noise.template reverse_step<CpuBackend, double>(
                        ctx, x0_hat.topRows(3), x_t, steps, draw, false, ws, mean)),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(
      (noise.template reverse_step<CpuBackend, double>(ctx, x0_hat.topRows(3), x_t, steps, draw,
                                                       false, ws, mean)),
      Catch::Contains("recdiff::Bernoulli::reverse_step: x0_hat is 3x150, expected 8x150"));
  const std::vector<int> bad{0, 1, 2, 3, 4, 2, 1, 0};
  REQUIRE_THROWS_WITH(
      (noise.template reverse_step<CpuBackend, double>(ctx, x0_hat, x_t, bad, draw, true, ws,
                                                       mean)),
      Catch::Contains("recdiff::Bernoulli::reverse_step: steps[4] = 4 is outside [0, 4)"));
}

TEMPLATE_TEST_CASE("Bernoulli: sampled reverse steps have the posterior's frequencies",
                   "[noise][bernoulli][montecarlo]", TwoWayFlip, FairCoin, OneWay) {
  // 128 x 1003 elements at k = 3 with x0_hat = 0.3 everywhere: two probabilities (x_t = 0, 1).
  const Bernoulli<TestType> noise(kPosteriorBetas);
  const CpuBackend::Context ctx(2);
  const Eigen::Index rows = 128;
  const std::vector<int> steps(static_cast<std::size_t>(rows), 3);
  const Matrix<float> x_t = checkerboard<float>(rows, kCols);
  const Matrix<float> x0_hat = Matrix<float>::Constant(rows, kCols, 0.3f);
  typename Bernoulli<TestType>::template Workspace<CpuBackend, float> ws;
  Matrix<float> out;
  noise.template reverse_step<CpuBackend, float>(
      ctx, x0_hat, x_t, steps, NoiseDraw{8, Stream::inference, 3, nullptr}, true, ws, out);
  CHECK((out.array() == 0.0f || out.array() == 1.0f).all());
  for (const int x : {0, 1}) {
    double n = 0, ones = 0;
    for (Eigen::Index i = 0; i < out.size(); ++i) {
      if (x_t.data()[i] != static_cast<float>(x)) continue;
      n += 1;
      ones += out.data()[i];
    }
    INFO("x_t = " << x);
    check_frequency(ones, n, 0.3 * noise.posterior(3, x, 1) + 0.7 * noise.posterior(3, x, 0));
  }
}

TEMPLATE_TEST_CASE("Bernoulli: q_sample and reverse_step are bit-identical at 1 and 2 threads",
                   "[noise][bernoulli]", TwoWayFlip, FairCoin, OneWay) {
  const Bernoulli<TestType> noise(recdiff::Linear(40, 1e-3, 0.2));
  const Eigen::Index rows = 53;  // several chunks plus a remainder
  const Matrix<float> x0 = checkerboard<float>(rows, kCols);
  const Matrix<float> x0_hat = probabilities<float>(rows, kCols, 9);
  std::vector<int> steps(static_cast<std::size_t>(rows));
  for (std::size_t r = 0; r < steps.size(); ++r) steps[r] = static_cast<int>((r * 3) % 40);
  typename Bernoulli<TestType>::template Workspace<CpuBackend, float> ws1, ws2;
  Matrix<float> xt1, xt2, out1, out2;
  const NoiseDraw draw{5, Stream::noise, 11, nullptr};
  noise.template q_sample<CpuBackend, float>(CpuBackend::Context(1), x0, steps, draw, ws1, xt1);
  noise.template q_sample<CpuBackend, float>(CpuBackend::Context(2), x0, steps, draw, ws2, xt2);
  REQUIRE(std::memcmp(xt1.data(), xt2.data(), sizeof(float) * xt1.size()) == 0);
  for (const bool sample : {true, false}) {
    CAPTURE(sample);
    const NoiseDraw reverse{5, Stream::inference, 12, nullptr};
    noise.template reverse_step<CpuBackend, float>(CpuBackend::Context(1), x0_hat, xt1, steps,
                                                   reverse, sample, ws1, out1);
    noise.template reverse_step<CpuBackend, float>(CpuBackend::Context(2), x0_hat, xt1, steps,
                                                   reverse, sample, ws2, out2);
    REQUIRE(std::memcmp(out1.data(), out2.data(), sizeof(float) * out1.size()) == 0);
  }
}

TEST_CASE("Bernoulli<OneWay>: q_sample_sparse equals q_sample on the densified rows",
          "[noise][bernoulli]") {
  // A random 40 x 300 interaction matrix with ratings and timestamps, unsorted rows.
  std::mt19937 rng(3);
  recdiff::InteractionBuilder builder;
  for (recdiff::index_t u = 0; u < 40; ++u)
    for (int n = 0; n < 60; ++n) {
      const auto item = static_cast<recdiff::index_t>(rng() % 300);
      builder.add(u, item, static_cast<float>(1 + rng() % 5), static_cast<std::int64_t>(rng()));
    }
  const recdiff::InteractionMatrix x =
      builder.build(40, 300, recdiff::InteractionBuilder::Duplicates::keep_first);
  const Bernoulli<OneWay> noise(recdiff::Linear(10, 0.05, 0.6));
  const CpuBackend::Context ctx(2);
  // A batch with a repeated user and one user twice at different steps.
  const std::vector<recdiff::index_t> users{5, 2, 2, 39, 0, 17, 5};
  const std::vector<int> steps{0, 9, 3, 5, 9, 1, 7};
  std::vector<recdiff::index_t> batch_rows(users.size());
  std::iota(batch_rows.begin(), batch_rows.end(), 0);
  Matrix<recdiff::index_t> keys(static_cast<Eigen::Index>(users.size()), 1);
  for (std::size_t b = 0; b < users.size(); ++b)
    keys(static_cast<Eigen::Index>(b), 0) = 1000 + users[b];

  for (const NoiseDraw draw : {NoiseDraw{7, Stream::noise, 4, nullptr},
                               NoiseDraw{7, Stream::inference, 2, keys.data()}}) {
    CAPTURE(draw.row_keys != nullptr);
    Matrix<float> dense;
    CpuBackend::densify(ctx, x, users, dense);
    Bernoulli<OneWay>::Workspace<CpuBackend, float> ws;
    Matrix<float> x_t;
    noise.q_sample<CpuBackend, float>(ctx, dense, steps, draw, ws, x_t);

    const recdiff::InteractionMatrix sparse = noise.q_sample_sparse(x, users, steps, draw);
    REQUIRE(sparse.num_users() == static_cast<recdiff::index_t>(users.size()));
    REQUIRE(sparse.num_items() == x.num_items());
    Matrix<float> densified;
    CpuBackend::densify(ctx, sparse, batch_rows, densified);
    CHECK(densified == x_t);
    // Noise removed something but not everything, and only ever removes.
    CHECK(sparse.nnz() > 0);
    CHECK(x_t.sum() < dense.sum());
    CHECK(sparse.nnz() == static_cast<recdiff::offset_t>(x_t.sum()));
    // Survivors keep their order, ratings and timestamps.
    for (std::size_t b = 0; b < users.size(); ++b) {
      const auto row = x.items_of(users[b]);
      const auto kept = sparse.items_of(static_cast<recdiff::index_t>(b));
      std::size_t n = 0;
      for (std::size_t p = 0; p < row.size() && n < kept.size(); ++p) {
        if (row[p] != kept[n]) continue;
        CHECK(sparse.ratings_of(static_cast<recdiff::index_t>(b))[n] == x.ratings_of(users[b])[p]);
        CHECK(sparse.timestamps_of(static_cast<recdiff::index_t>(b))[n] ==
              x.timestamps_of(users[b])[p]);
        ++n;
      }
      CHECK(n == kept.size());
    }

    // The same in double.
    Matrix<double> dense_d, x_t_d, densified_d;
    CpuBackend::densify(ctx, x, users, dense_d);
    Bernoulli<OneWay>::Workspace<CpuBackend, double> ws_d;
    noise.q_sample<CpuBackend, double>(ctx, dense_d, steps, draw, ws_d, x_t_d);
    CpuBackend::densify(ctx, noise.q_sample_sparse<double>(x, users, steps, draw), batch_rows,
                        densified_d);
    CHECK(densified_d == x_t_d);
  }

  const std::vector<recdiff::index_t> outside{0, 40};
  const std::vector<int> two{0, 1};
  REQUIRE_THROWS_AS(noise.q_sample_sparse(x, outside, two, NoiseDraw{}), std::invalid_argument);
  REQUIRE_THROWS_WITH(noise.q_sample_sparse(x, outside, two, NoiseDraw{}),
                      Catch::Contains("recdiff::Bernoulli::q_sample_sparse: user 40 outside [0, 40)"));
  REQUIRE_THROWS_WITH(noise.q_sample_sparse(x, users, two, NoiseDraw{}),
                      Catch::Contains("recdiff::Bernoulli::q_sample_sparse: steps is 2x1, expected 7x1"));
  const std::vector<int> late{0, 10};
  REQUIRE_THROWS_AS(noise.q_sample_sparse(x, outside, late, NoiseDraw{}), std::out_of_range);
}

TEST_CASE("Bernoulli: a noiseless schedule leaves x0 unchanged and returns x0_hat",
          "[noise][bernoulli]") {
  const Bernoulli<TwoWayFlip> noise(recdiff::DiffRecLinearVar(10, 0.0, 0.005, 0.01));
  REQUIRE(noise.is_noiseless());
  REQUIRE(noise.num_steps() == 10);
  CHECK(noise.betas().empty());
  CHECK(noise.marginal(5, 1.0) == 1.0);
  CHECK(noise.marginal(5, 0.0) == 0.0);
  CHECK(noise.posterior(5, 0, 1) == 1.0);
  CHECK(noise.posterior(5, 1, 0) == 0.0);
  const CpuBackend::Context ctx(1);
  const std::vector<int> steps{0, 5, 9};
  const Matrix<float> x0 = checkerboard<float>(3, 70);
  Bernoulli<TwoWayFlip>::Workspace<CpuBackend, float> ws;
  Matrix<float> x_t, out;
  noise.q_sample<CpuBackend, float>(ctx, x0, steps, NoiseDraw{3, Stream::noise, 1}, ws, x_t);
  CHECK(x_t == x0);
  const Matrix<float> x0_hat = probabilities<float>(3, 70, 4);
  for (const bool sample : {true, false}) {
    noise.reverse_step<CpuBackend, float>(ctx, x0_hat, x_t, steps, NoiseDraw{3, Stream::noise, 2},
                                          sample, ws, out);
    CHECK(out == x0_hat);
  }
}
