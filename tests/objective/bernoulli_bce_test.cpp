#include <cmath>
#include <limits>
#include <random>
#include <span>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/concepts/objective.hpp>
#include <recdiff/math/bce.hpp>
#include <recdiff/noise/noise.hpp>
#include <recdiff/objective/objective.hpp>
#include <recdiff/schedule/schedule.hpp>

#include "nn/gradcheck.hpp"

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using recdiff::Bernoulli;
using recdiff::BernoulliBce;
using recdiff::CpuBackend;
using recdiff::RowTerm;
template <class T>
using Matrix = CpuBackend::Matrix<T>;
using Noise = Bernoulli<recdiff::OneWay>;
template <class T>
using Workspace = Noise::Workspace<CpuBackend, T>;

static_assert(recdiff::Objective<BernoulliBce>);
static_assert(recdiff::CompatibleObjective<BernoulliBce, Bernoulli<recdiff::TwoWayFlip>, CpuBackend> &&
              recdiff::CompatibleObjective<BernoulliBce, Bernoulli<recdiff::FairCoin>, CpuBackend> &&
              recdiff::CompatibleObjective<BernoulliBce, Bernoulli<recdiff::OneWay>, CpuBackend>);
static_assert(!recdiff::CompatibleObjective<BernoulliBce, recdiff::Gaussian, CpuBackend>);
static_assert(!recdiff::TargetDifferentiableObjective<BernoulliBce, CpuBackend>);
static_assert(!BernoulliBce::output_is_x0 && BernoulliBce::row_term_count == RowTerm::count);

namespace {

constexpr double ln2 = 0.6931471805599453;

// The batch loss (1/B) sum_b L_b / p_b from the row terms' probability column.
double mean_loss(const Matrix<double>& rows, const Matrix<double>& row_loss) {
  std::vector<double> p(static_cast<std::size_t>(rows.rows()));
  for (std::size_t b = 0; b < p.size(); ++b)
    p[b] = rows(static_cast<Eigen::Index>(b), RowTerm::probability);
  return recdiff::mean_batch_loss(
      std::span<const double>(row_loss.data(), static_cast<std::size_t>(row_loss.size())), p);
}

}  // namespace

TEST_CASE("bce_from_logits: stable values and derivative", "[objective][bce]") {
  using recdiff::math::bce_from_logits;
  using recdiff::math::bce_from_logits_derivative;
  using recdiff::math::sigmoid;
  using recdiff::math::softplus;
  CHECK_THAT(softplus(0.0), WithinRel(ln2, 1e-15));
  CHECK(softplus(80.0) == 80.0);
  CHECK_THAT(softplus(-80.0), WithinRel(std::exp(-80.0), 1e-14));  // not rounded to 0
  CHECK(softplus(-800.0) == 0.0);
  CHECK(softplus(800.0) == 800.0);  // exp(800) would overflow
  CHECK(sigmoid(0.0) == 0.5);
  CHECK(sigmoid(800.0) == 1.0);
  CHECK(sigmoid(-800.0) == 0.0);
  CHECK_THAT(sigmoid(-80.0), WithinRel(std::exp(-80.0), 1e-14));
  CHECK_THAT(sigmoid(2.0f), WithinRel(0.8807970779778823f, 1e-6f));

  // bce(x, a) = x softplus(-a) + (1 - x) softplus(a), also for a non-binary x.
  for (const double x : {0.0, 1.0, 0.3}) {
    for (const double a : {-7.5, -1.0, 0.0, 0.25, 3.0, 12.0}) {
      CAPTURE(x, a);
      const double p = 1.0 / (1.0 + std::exp(-a));
      // (The naive form loses digits in 1 - p for large a; the stable one does not.)
      CHECK_THAT(bce_from_logits(x, a),
                 WithinAbs(-x * std::log(p) - (1 - x) * std::log(1 - p), 1e-9));
      CHECK_THAT(bce_from_logits(x, a),
                 WithinAbs(x * softplus(-a) + (1 - x) * softplus(a), 1e-13));
      // The derivative against a central difference.
      const double h = 1e-6;
      CHECK_THAT(bce_from_logits_derivative(x, a),
                 WithinAbs((bce_from_logits(x, a + h) - bce_from_logits(x, a - h)) / (2 * h), 1e-8));
      CHECK(bce_from_logits_derivative(x, a) == sigmoid(a) - x);
    }
  }
  // Extreme logits: finite, and right.
  CHECK(bce_from_logits(0.0, 80.0) == 80.0);
  CHECK_THAT(bce_from_logits(1.0, 80.0), WithinRel(std::exp(-80.0), 1e-14));
  CHECK_THAT(bce_from_logits(1.0, -80.0), WithinRel(80.0, 1e-15));
  CHECK_THAT(bce_from_logits(0.0, -80.0), WithinRel(std::exp(-80.0), 1e-14));
  CHECK(bce_from_logits(1.0, 1e30) == 0.0);
  CHECK(std::isfinite(bce_from_logits(0.0, 1e30)));
  CHECK(bce_from_logits_derivative(1.0, 80.0) == 0.0);
  CHECK(bce_from_logits_derivative(0.0, -80.0) > 0.0);
  for (const float a : {-80.0f, 80.0f, -1e30f, 1e30f})
    for (const float x : {0.0f, 1.0f}) {
      CAPTURE(a, x);
      CHECK(std::isfinite(bce_from_logits(x, a)));
      CHECK(bce_from_logits(x, a) >= 0.0f);
      CHECK(std::isfinite(bce_from_logits_derivative(x, a)));
    }
  CHECK(bce_from_logits(0.0f, 80.0f) == 80.0f);
}

TEST_CASE("BernoulliBce: weights are 1, row terms hold step and probability", "[objective][bce]") {
  const Noise noise(recdiff::Quadratic(3));
  const CpuBackend::Context ctx(1);
  for (const int k : {0, 1, 2}) {
    CHECK(BernoulliBce::weight(noise, k, true) == 1.0);
    CHECK(BernoulliBce::weight(noise, k, false) == 1.0);
  }
  REQUIRE_THROWS_AS(BernoulliBce::weight(noise, 3, true), std::out_of_range);
  REQUIRE_THROWS_WITH(BernoulliBce::weight(noise, -1, true),
                      Catch::Contains("recdiff::BernoulliBce::weight: steps[0] = -1"));
  const std::vector<int> steps{2, 0, 1};
  const std::vector<double> p{0.5, 0.25, 2.0};
  Matrix<double> rows;
  BernoulliBce::row_terms<CpuBackend>(ctx, noise, steps, p, true, rows);
  REQUIRE(rows.rows() == 3);
  REQUIRE(rows.cols() == RowTerm::count);
  for (Eigen::Index b = 0; b < 3; ++b) {
    CHECK(rows(b, RowTerm::step) == steps[static_cast<std::size_t>(b)]);
    CHECK(rows(b, RowTerm::weight) == 1.0);
    CHECK(rows(b, RowTerm::probability) == p[static_cast<std::size_t>(b)]);
  }
  const std::vector<double> bad_p{0.5, 0.0, 1.0};
  REQUIRE_THROWS_AS(BernoulliBce::row_terms<CpuBackend>(ctx, noise, steps, bad_p, true, rows),
                    std::invalid_argument);
  const std::vector<int> late{0, 3, 1};
  REQUIRE_THROWS_WITH(BernoulliBce::row_terms<CpuBackend>(ctx, noise, late, {}, true, rows),
                      Catch::Contains("recdiff::BernoulliBce::row_terms: steps[1] = 3"));
}

TEST_CASE("BernoulliBce: hand-computed loss, gradient and x0_hat", "[objective][bce]") {
  const Noise noise(recdiff::Quadratic(3));
  const CpuBackend::Context ctx(1);
  Matrix<double> x0(2, 2), logits(2, 2);
  x0 << 1, 0, 0, 1;
  logits << 0, 2, -1, 3;
  const std::vector<int> steps{0, 2};
  const std::vector<double> p{1.0, 0.5};
  Matrix<double> rows, row_loss, grad;
  Workspace<double> ws;
  BernoulliBce::row_terms<CpuBackend>(ctx, noise, steps, p, true, rows);
  BernoulliBce::loss_and_gradient<CpuBackend, double>(ctx, noise, ws, logits, x0, x0, rows,
                                                      row_loss, grad);
  // L_0 = bce(1, 0) + bce(0, 2) = ln 2 + log(1 + e^2); L_1 = log(1 + e^-1) + log(1 + e^-3).
  CHECK_THAT(row_loss(0, 0), WithinRel(2.820075191602918, 1e-14));
  CHECK_THAT(row_loss(1, 0), WithinRel(0.3618490390919649, 1e-14));
  // loss = (1/2) (L_0 / 1 + L_1 / 0.5).
  CHECK_THAT(mean_loss(rows, row_loss), WithinRel(1.771886634893424, 1e-14));
  // grad = (1 / p_b) (1 / 2) (sigmoid(a) - x).
  CHECK_THAT(grad(0, 0), WithinRel(-0.25, 1e-15));
  CHECK_THAT(grad(0, 1), WithinRel(0.44039853898894116, 1e-14));
  CHECK_THAT(grad(1, 0), WithinRel(0.2689414213699951, 1e-14));
  CHECK_THAT(grad(1, 1), WithinRel(-0.047425873177566635, 1e-13));

  Matrix<double> x0_hat;
  BernoulliBce::x0_hat<CpuBackend, double>(ctx, noise, logits, x0, rows, x0_hat);
  REQUIRE(x0_hat.rows() == 2);
  CHECK(x0_hat(0, 0) == 0.5);
  CHECK_THAT(x0_hat(0, 1), WithinRel(0.8807970779778823, 1e-15));
  CHECK_THAT(x0_hat(1, 0), WithinRel(0.2689414213699951, 1e-15));
  // In place.
  Matrix<double> same = logits;
  BernoulliBce::x0_hat<CpuBackend, double>(ctx, noise, same, x0, rows, same);
  CHECK(same == x0_hat);

  REQUIRE_THROWS_AS((BernoulliBce::loss_and_gradient<CpuBackend, double>(
                        ctx, noise, ws, logits, x0.topRows(1), x0, rows, row_loss, grad)),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(
      (BernoulliBce::loss_and_gradient<CpuBackend, double>(ctx, noise, ws, logits, x0.topRows(1),
                                                           x0, rows, row_loss, grad)),
      Catch::Contains("recdiff::BernoulliBce::loss_and_gradient: x0 is 1x2, expected 2x2"));
  REQUIRE_THROWS_WITH(
      (BernoulliBce::loss_and_gradient<CpuBackend, double>(ctx, noise, ws, logits, x0, x0,
                                                           rows.leftCols(2), row_loss, grad)),
      Catch::Contains("rows is 2x2, expected 2x3"));
}

TEST_CASE("BernoulliBce: gradient matches finite differences", "[objective][bce][gradcheck]") {
  const Bernoulli<recdiff::TwoWayFlip> noise(recdiff::Linear(5, 0.05, 0.3));
  const CpuBackend::Context ctx(2);
  const Eigen::Index b = 6, n = 9;
  std::mt19937 rng(17);
  std::uniform_real_distribution<double> u(-4.0, 4.0);
  Matrix<double> logits(b, n), x0(b, n);
  for (Eigen::Index i = 0; i < logits.size(); ++i) {
    logits.data()[i] = u(rng);
    x0.data()[i] = rng() % 3 == 0 ? 1.0 : 0.0;
  }
  const std::vector<int> steps{0, 4, 2, 1, 3, 4};
  const std::vector<double> p{1.0, 0.5, 2.0, 0.8, 1.25, 0.1};
  Matrix<double> rows, row_loss, grad;
  Bernoulli<recdiff::TwoWayFlip>::Workspace<CpuBackend, double> ws;
  BernoulliBce::row_terms<CpuBackend>(ctx, noise, steps, p, true, rows);
  auto loss = [&] {
    Matrix<double> l, g;
    BernoulliBce::loss_and_gradient<CpuBackend, double>(ctx, noise, ws, logits, x0, x0, rows, l, g);
    return mean_loss(rows, l);
  };
  BernoulliBce::loss_and_gradient<CpuBackend, double>(ctx, noise, ws, logits, x0, x0, rows,
                                                      row_loss, grad);
  CHECK(recdiff::test::gradient_error(logits, grad, loss) < recdiff::test::gradcheck_tolerance);
  // The per-row loss is the unweighted sum over items (w = 1).
  for (Eigen::Index r = 0; r < b; ++r) {
    double sum = 0;
    for (Eigen::Index c = 0; c < n; ++c)
      sum += recdiff::math::bce_from_logits(x0(r, c), logits(r, c));
    CHECK_THAT(row_loss(r, 0), WithinRel(sum, 1e-13));
  }
}

TEMPLATE_TEST_CASE("BernoulliBce: extreme logits give a finite loss and gradient",
                   "[objective][bce]", float, double) {
  const Noise noise(recdiff::Quadratic(2));
  const CpuBackend::Context ctx(1);
  Matrix<TestType> logits(2, 4), x0(2, 4);
  logits << 80, -80, 80, -80, 80, 80, -80, -80;
  x0 << 1, 0, 1, 0, 1, 0, 1, 0;
  Matrix<double> rows, row_loss;
  Matrix<TestType> grad;
  Workspace<TestType> ws;
  BernoulliBce::row_terms<CpuBackend>(ctx, noise, std::vector<int>{0, 1}, {}, false, rows);
  BernoulliBce::loss_and_gradient<CpuBackend, TestType>(ctx, noise, ws, logits, x0, x0, rows,
                                                        row_loss, grad);
  REQUIRE(row_loss.allFinite());
  REQUIRE(grad.allFinite());
  // Row 0 is predicted right everywhere (loss ~ 4 e^-80), row 1 wrong twice (80 each).
  CHECK(row_loss(0, 0) >= 0.0);
  CHECK(row_loss(0, 0) < 1e-30);
  CHECK_THAT(row_loss(1, 0), WithinRel(160.0, 1e-6));
  CHECK(std::abs(double(grad(0, 0))) < 1e-30);
  CHECK_THAT(double(grad(1, 1)), WithinRel(0.5, 1e-6));   // (1/2)(1 - 0)
  CHECK_THAT(double(grad(1, 2)), WithinRel(-0.5, 1e-6));  // (1/2)(0 - 1)
}
