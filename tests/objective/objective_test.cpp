#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/concepts/objective.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/objective/objective.hpp>
#include <recdiff/schedule/schedule.hpp>

#include "nn/gradcheck.hpp"

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using recdiff::CpuBackend;
using recdiff::Gaussian;
using recdiff::GaussianTables;
using recdiff::NoiseDraw;
using recdiff::PredictEpsilon;
using recdiff::PredictX0;
using recdiff::RowTerm;
template <class T>
using Matrix = CpuBackend::Matrix<T>;
template <class T>
using Workspace = Gaussian::Workspace<CpuBackend, T>;

namespace {

// A noise kernel without Gaussian tables: it satisfies NoiseKernel, but the Gaussian objectives
// (which read the SNR and x0-from-eps tables) must reject it.
struct TablelessNoise {
  static constexpr const char* name = "TablelessNoise";
  template <class B, class T>
  struct Workspace {
    typename B::template Matrix<T> eps;
  };
  int num_steps() const { return 1; }
  bool is_noiseless() const { return true; }
  template <class B, class T>
  void q_sample(const typename B::Context&, const typename B::template Matrix<T>& x0,
                std::span<const int>, const NoiseDraw&, Workspace<B, T>&,
                typename B::template Matrix<T>& x_t) const {
    x_t = x0;
  }
  template <class B, class T>
  void reverse_step(const typename B::Context&, const typename B::template Matrix<T>& x0_hat,
                    const typename B::template Matrix<T>&, std::span<const int>, const NoiseDraw&,
                    bool, Workspace<B, T>&, typename B::template Matrix<T>& out) const {
    out = x0_hat;
  }
};

}  // namespace

static_assert(recdiff::Objective<PredictX0>);
static_assert(recdiff::Objective<PredictEpsilon>);
static_assert(recdiff::CompatibleObjective<PredictX0, Gaussian, CpuBackend>);
static_assert(recdiff::CompatibleObjective<PredictEpsilon, Gaussian, CpuBackend>);
static_assert(recdiff::NoiseKernel<TablelessNoise, CpuBackend>);
static_assert(!recdiff::GaussianNoise<TablelessNoise>);
static_assert(!recdiff::CompatibleObjective<PredictX0, TablelessNoise, CpuBackend>);
static_assert(!recdiff::CompatibleObjective<PredictEpsilon, TablelessNoise, CpuBackend>);
static_assert(recdiff::TargetDifferentiableObjective<PredictX0, CpuBackend>);
static_assert(!recdiff::TargetDifferentiableObjective<PredictEpsilon, CpuBackend>);
static_assert(PredictX0::output_is_x0 && !PredictEpsilon::output_is_x0);
static_assert(PredictX0::row_term_count == RowTerm::count);
static_assert(PredictEpsilon::row_term_count == RowTerm::count + 2);

namespace {

// The batch loss from host-side CPU matrices: the per-row losses and the probability column.
double mean_loss(const Matrix<double>& rows, const Matrix<double>& row_loss) {
  std::vector<double> p(static_cast<std::size_t>(rows.rows()));
  for (std::size_t b = 0; b < p.size(); ++b)
    p[b] = rows(static_cast<Eigen::Index>(b), RowTerm::probability);
  return recdiff::mean_batch_loss(
      std::span<const double>(row_loss.data(), static_cast<std::size_t>(row_loss.size())), p);
}

const Gaussian& ml1m() {
  static const Gaussian g(recdiff::DiffRecLinearVar(40, 0.005, 0.005, 0.01));
  return g;
}

// A batch: binary x0, x_t from the forward process (its eps in ws.eps), a model output near the
// targets.
template <class T>
struct Batch {
  Matrix<T> x0, x_t, out;
  Workspace<T> ws;
};

template <class T>
Batch<T> make_batch(const Gaussian& noise, const std::vector<int>& steps, int cols) {
  const auto rows = static_cast<Eigen::Index>(steps.size());
  Batch<T> b;
  b.x0.resize(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) b.x0(r, c) = T((r * 3 + c * 5) % 7 == 0 ? 1 : 0);
  noise.q_sample<CpuBackend, T>(CpuBackend::Context(1), b.x0, steps,
                                NoiseDraw{17, recdiff::philox::Stream::noise, 1, nullptr}, b.ws,
                                b.x_t);
  b.out.resize(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) b.out(r, c) = T(0.3 * std::sin(1.0 + r + 0.7 * c));
  return b;
}

// The batch loss (1/B) sum_b L_b / p_b of objective O at the batch's current values.
template <class O>
double batch_loss(const Gaussian& noise, Batch<double>& b, const Matrix<double>& rows) {
  Matrix<double> row_loss, ignored;
  O::template loss_and_gradient<CpuBackend, double>(CpuBackend::Context(1), noise, b.ws, b.out,
                                                    b.x0, b.x_t, rows, row_loss, ignored);
  return mean_loss(rows, row_loss);
}

// ||g - g_fd|| / ||g + g_fd|| for the loss (1/B) sum_b L_b / p_b against central differences in
// the output. The loss is quadratic in `out`, so central differences have no truncation error; only
// rounding remains, about eps_double * |loss| / h ~ 1e-10 relative for h = 1e-6, well under the
// 1e-6 bound.
template <class O>
double gradcheck(const Gaussian& noise, const std::vector<int>& steps,
                 const std::vector<double>& p) {
  const CpuBackend::Context ctx(1);
  Batch<double> b = make_batch<double>(noise, steps, 9);
  Matrix<double> rows, row_loss, grad;
  O::template row_terms<CpuBackend>(CpuBackend::Context(1), noise, steps, p, true, rows);
  O::template loss_and_gradient<CpuBackend, double>(ctx, noise, b.ws, b.out, b.x0, b.x_t, rows,
                                                    row_loss, grad);
  return recdiff::test::gradient_error(b.out, grad, [&] { return batch_loss<O>(noise, b, rows); });
}

}  // namespace

TEST_CASE("PredictX0: weights of the ml-1m_clean preset", "[objective]") {
  CHECK(PredictX0::weight(ml1m(), 0, true) == 1.0);
  // SNR differences lose ~1-2 digits to cancellation (SNR ~ 1e5, difference ~ 6e3).
  CHECK_THAT(PredictX0::weight(ml1m(), 1, true), WithinRel(6024.181305659746, 1e-10));
  CHECK_THAT(PredictX0::weight(ml1m(), 2, true), WithinRel(5339.606146363178, 1e-10));
  CHECK_THAT(PredictX0::weight(ml1m(), 39, true), WithinRel(533.0456563331463, 1e-10));
  CHECK(PredictX0::weight(ml1m(), 7, false) == 1.0);
  REQUIRE_THROWS_AS(PredictX0::weight(ml1m(), 40, true), std::out_of_range);
  REQUIRE_THROWS_WITH(
      PredictX0::weight(ml1m(), -1, true),
      Catch::Contains("recdiff::PredictX0::weight: steps[0] = -1 is outside [0, 40)"));
  const Gaussian noiseless(recdiff::DiffRecLinearVar(40, 0.0, 0.005, 0.01));
  CHECK(PredictX0::weight(noiseless, 5, true) == 1.0);
}

TEST_CASE("PredictEpsilon: weights follow the reference formula", "[objective]") {
  const Gaussian& g = ml1m();
  const GaussianTables& t = g.tables();
  CHECK(PredictEpsilon::weight(g, 0, true) == 1.0);
  for (int k : {1, 2, 39}) {
    const auto kk = static_cast<std::size_t>(k);
    const double one_minus_prev = 1.0 - t.alpha_bar()[kk - 1];
    const double expected =
        (1.0 - t.alpha_bar()[kk]) / (one_minus_prev * one_minus_prev * (1.0 - t.betas()[kk]));
    CHECK_THAT(PredictEpsilon::weight(g, k, true), WithinRel(expected, 1e-14));
  }
  // k = 1 by hand from the ml-1m_clean tables: 1.0641035256608866e-05 / ((1e-5)^2 (1 - 6.41e-7)) ~ 106410.
  CHECK_THAT(PredictEpsilon::weight(g, 1, true),
             WithinRel(1.0641035256608866e-05 / (9.99999999995449e-06 * 9.99999999995449e-06 *
                                                 (1.0 - 6.410416670821206e-07)),
                       1e-9));
  CHECK(PredictEpsilon::weight(g, 3, false) == 1.0);
  REQUIRE_THROWS_AS(PredictEpsilon::weight(g, 40, true), std::out_of_range);
  REQUIRE_THROWS_WITH(PredictEpsilon::weight(g, 40, true),
                      Catch::Contains("recdiff::PredictEpsilon::weight"));
  const Gaussian noiseless(recdiff::DiffRecLinearVar(40, 0.0, 0.005, 0.01));
  CHECK(PredictEpsilon::weight(noiseless, 5, true) == 1.0);
}

TEST_CASE("PredictX0: row losses, batch loss and row terms", "[objective]") {
  const Gaussian& g = ml1m();
  const std::vector<int> steps{0, 1, 39};
  const std::vector<double> p{0.5, 1.0, 2.0};
  Batch<double> b = make_batch<double>(g, steps, 11);
  Matrix<double> rows, row_loss, grad;
  PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), g, steps, p, true, rows);
  REQUIRE(rows.rows() == 3);
  REQUIRE(rows.cols() == RowTerm::count);
  CHECK(rows(2, RowTerm::step) == 39.0);
  CHECK(rows(1, RowTerm::weight) == PredictX0::weight(g, 1, true));
  CHECK(rows(2, RowTerm::probability) == 2.0);
  PredictX0::loss_and_gradient<CpuBackend, double>(CpuBackend::Context(2), g, b.ws, b.out, b.x0,
                                                   b.x_t, rows, row_loss, grad);
  double expected_total = 0;
  for (Eigen::Index r = 0; r < 3; ++r) {
    const double mse = (b.out.row(r) - b.x0.row(r)).squaredNorm() / 11.0;
    const double w = PredictX0::weight(g, steps[std::size_t(r)], true);
    CHECK_THAT(row_loss(r, 0), WithinRel(w * mse, 1e-13));
    expected_total += w * mse / p[std::size_t(r)];
  }
  CHECK_THAT(mean_loss(rows, row_loss), WithinRel(expected_total / 3, 1e-13));

  Matrix<double> x0_hat;
  PredictX0::x0_hat<CpuBackend, double>(CpuBackend::Context(1), g, b.out, b.x_t, rows, x0_hat);
  CHECK(x0_hat == b.out);

  // Without reweighting every weight is 1; without p every factor is 1; with a bad p or step the
  // call throws.
  PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), g, steps, p, false, rows);
  CHECK(rows(1, RowTerm::weight) == 1.0);
  CHECK(rows(2, RowTerm::weight) == 1.0);
  PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), g, steps, {}, true, rows);
  CHECK(rows(0, RowTerm::probability) == 1.0);
  const std::vector<double> short_p{1.0};
  REQUIRE_THROWS_AS(
      PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), g, steps, short_p, true, rows),
      std::invalid_argument);
  REQUIRE_THROWS_WITH(
      PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), g, steps, short_p, true, rows),
      Catch::Contains("recdiff::PredictX0::row_terms: p is 1x1, expected 3x1"));
  const std::vector<double> zero_p{1.0, 0.0, 1.0};
  REQUIRE_THROWS_AS(
      PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), g, steps, zero_p, true, rows),
      std::invalid_argument);
  REQUIRE_THROWS_WITH(
      PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), g, steps, zero_p, true, rows),
      Catch::Contains("p[1] must be positive"));
  const std::vector<int> bad_steps{0, 40};
  REQUIRE_THROWS_AS(
      PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), g, bad_steps, {}, true, rows),
      std::out_of_range);
  REQUIRE_THROWS_WITH(
      PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), g, bad_steps, {}, true, rows),
      Catch::Contains("steps[1] = 40"));
  PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), g, steps, {}, true, rows);
  REQUIRE_THROWS_AS(
      (PredictX0::loss_and_gradient<CpuBackend, double>(
          CpuBackend::Context(1), g, b.ws, b.out, b.x0.leftCols(3), b.x_t, rows, row_loss, grad)),
      std::invalid_argument);
  REQUIRE_THROWS_WITH(
      (PredictX0::loss_and_gradient<CpuBackend, double>(
          CpuBackend::Context(1), g, b.ws, b.out, b.x0.leftCols(3), b.x_t, rows, row_loss, grad)),
      Catch::Contains("recdiff::PredictX0::loss_and_gradient: x0 is 3x3, "
                      "expected 3x11"));
  REQUIRE_THROWS_WITH(
      (PredictX0::loss_and_gradient<CpuBackend, double>(
          CpuBackend::Context(1), g, b.ws, b.out, b.x0, b.x_t, rows.leftCols(2), row_loss, grad)),
      Catch::Contains("recdiff::PredictX0::loss_and_gradient: rows is 3x2, "
                      "expected 3x3"));
}

TEST_CASE("PredictEpsilon: the k = 0 row uses the x0 likelihood term", "[objective]") {
  const Gaussian& g = ml1m();
  const GaussianTables& t = g.tables();
  const std::vector<int> steps{0, 5, 0, 20};
  const std::vector<double> p{1.0, 1.0, 0.25, 3.0};
  Batch<double> b = make_batch<double>(g, steps, 13);
  Matrix<double> rows, row_loss, grad, x0_hat;
  PredictEpsilon::row_terms<CpuBackend>(CpuBackend::Context(1), g, steps, p, true, rows);
  REQUIRE(rows.cols() == PredictEpsilon::row_term_count);
  PredictEpsilon::loss_and_gradient<CpuBackend, double>(CpuBackend::Context(1), g, b.ws, b.out,
                                                        b.x0, b.x_t, rows, row_loss, grad);
  PredictEpsilon::x0_hat<CpuBackend, double>(CpuBackend::Context(1), g, b.out, b.x_t, rows, x0_hat);
  for (Eigen::Index r = 0; r < 4; ++r) {
    const auto k = static_cast<std::size_t>(steps[std::size_t(r)]);
    const double cr = t.sqrt_recip_alpha_bar()[k], cm = t.sqrt_recipm1_alpha_bar()[k];
    CHECK(rows(r, RowTerm::count) == cr);
    CHECK(rows(r, RowTerm::count + 1) == cm);
    for (Eigen::Index c = 0; c < 13; ++c)
      REQUIRE_THAT(x0_hat(r, c), WithinAbs(cr * b.x_t(r, c) - cm * b.out(r, c), 1e-15));
    double expected;
    if (k == 0)
      expected = (b.x0.row(r) - x0_hat.row(r)).squaredNorm() / 2.0 / 13.0;
    else  // the target is the noise of the kernel's last q_sample
      expected = PredictEpsilon::weight(g, int(k), true) *
                 (b.out.row(r) - b.ws.eps.row(r)).squaredNorm() / 13.0;
    CHECK_THAT(row_loss(r, 0), WithinRel(expected, 1e-12));
  }

  // The eps target comes from the workspace: a workspace without a q_sample of this batch fails.
  Workspace<double> fresh;
  REQUIRE_THROWS_AS(
      (PredictEpsilon::loss_and_gradient<CpuBackend, double>(
          CpuBackend::Context(1), g, fresh, b.out, b.x0, b.x_t, rows, row_loss, grad)),
      std::invalid_argument);
  REQUIRE_THROWS_WITH(
      (PredictEpsilon::loss_and_gradient<CpuBackend, double>(
          CpuBackend::Context(1), g, fresh, b.out, b.x0, b.x_t, rows, row_loss, grad)),
      Catch::Contains("recdiff::PredictEpsilon::loss_and_gradient: eps is 0x0, expected 4x13"));
  REQUIRE_THROWS_WITH(
      (PredictEpsilon::x0_hat<CpuBackend, double>(CpuBackend::Context(1), g, b.out,
                                                  b.x_t.topRows(2), rows, x0_hat)),
      Catch::Contains("recdiff::PredictEpsilon::x0_hat: x_t is 2x13, expected 4x13"));
}

TEST_CASE("Objectives: gradients match central finite differences", "[objective][gradcheck]") {
  const Gaussian small(recdiff::Linear(10, 0.01, 0.2));
  const std::vector<int> steps{0, 1, 4, 9, 0};
  const std::vector<double> p{0.7, 1.0, 1.3, 0.2, 2.5};
  for (const Gaussian* g : {&small, &ml1m()}) {
    CHECK(gradcheck<PredictX0>(*g, steps, p) < 1e-6);
    CHECK(gradcheck<PredictEpsilon>(*g, steps, p) < 1e-6);
  }
}

TEST_CASE("PredictX0: add_target_gradient is d loss / d x0 with x_t fixed",
          "[objective][gradcheck]") {
  const Gaussian small(recdiff::Linear(10, 0.01, 0.2));
  const std::vector<int> steps{0, 1, 4, 9, 0};
  const std::vector<double> p{0.7, 1.0, 1.3, 0.2, 2.5};
  for (const Gaussian* g : {&small, &ml1m()}) {
    const CpuBackend::Context ctx(2);
    Batch<double> b = make_batch<double>(*g, steps, 9);
    Matrix<double> rows, row_loss, grad_out;
    PredictX0::row_terms<CpuBackend>(ctx, *g, steps, p, true, rows);
    PredictX0::loss_and_gradient<CpuBackend, double>(ctx, *g, b.ws, b.out, b.x0, b.x_t, rows,
                                                     row_loss, grad_out);
    // From a zero noise-path share, grad_x0 is the target path alone.
    Matrix<double> grad_x0 = Matrix<double>::Zero(b.x0.rows(), b.x0.cols());
    PredictX0::add_target_gradient<CpuBackend, double>(ctx, grad_out, grad_x0);
    CHECK(grad_x0.norm() > 0);
    CHECK(recdiff::test::gradient_error(b.x0, grad_x0, [&] {
            return batch_loss<PredictX0>(*g, b, rows);
          }) < recdiff::test::gradcheck_tolerance);
    CHECK(grad_x0 == -grad_out);
    // It adds to what grad_x0 holds (the noise path's share).
    const Matrix<double> share = Matrix<double>::Random(b.x0.rows(), b.x0.cols());
    Matrix<double> total = share;
    PredictX0::add_target_gradient<CpuBackend, double>(ctx, grad_out, total);
    CHECK(((total - share) - grad_x0).cwiseAbs().maxCoeff() < 1e-15);
  }
  const CpuBackend::Context ctx(1);
  const Matrix<double> grad_out = Matrix<double>::Ones(5, 9);
  Matrix<double> wrong = Matrix<double>::Zero(2, 9);
  REQUIRE_THROWS_AS((PredictX0::add_target_gradient<CpuBackend, double>(ctx, grad_out, wrong)),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(
      (PredictX0::add_target_gradient<CpuBackend, double>(ctx, grad_out, wrong)),
      Catch::Contains("recdiff::PredictX0::add_target_gradient: grad_x0 is 2x9, expected 5x9"));
}

TEST_CASE("Objectives: float losses and gradients are bit-identical at 1 and 2 threads",
          "[objective]") {
  std::vector<int> steps(37);
  for (std::size_t i = 0; i < steps.size(); ++i) steps[i] = static_cast<int>((i * 7) % 40);
  Batch<float> b = make_batch<float>(ml1m(), steps, 101);
  Matrix<double> rows, loss1, loss2;
  Matrix<float> grad1, grad2, x0_hat1, x0_hat2;
  PredictEpsilon::row_terms<CpuBackend>(CpuBackend::Context(1), ml1m(), steps, {}, true, rows);
  PredictEpsilon::loss_and_gradient<CpuBackend, float>(CpuBackend::Context(1), ml1m(), b.ws, b.out,
                                                       b.x0, b.x_t, rows, loss1, grad1);
  PredictEpsilon::loss_and_gradient<CpuBackend, float>(CpuBackend::Context(2), ml1m(), b.ws, b.out,
                                                       b.x0, b.x_t, rows, loss2, grad2);
  REQUIRE(std::memcmp(loss1.data(), loss2.data(), sizeof(double) * 37) == 0);
  REQUIRE(std::memcmp(grad1.data(), grad2.data(), sizeof(float) * grad1.size()) == 0);
  PredictEpsilon::x0_hat<CpuBackend, float>(CpuBackend::Context(1), ml1m(), b.out, b.x_t, rows,
                                            x0_hat1);
  PredictEpsilon::x0_hat<CpuBackend, float>(CpuBackend::Context(2), ml1m(), b.out, b.x_t, rows,
                                            x0_hat2);
  REQUIRE(std::memcmp(x0_hat1.data(), x0_hat2.data(), sizeof(float) * x0_hat1.size()) == 0);

  PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), ml1m(), steps, {}, true, rows);
  PredictX0::loss_and_gradient<CpuBackend, float>(CpuBackend::Context(1), ml1m(), b.ws, b.out, b.x0,
                                                  b.x_t, rows, loss1, grad1);
  PredictX0::loss_and_gradient<CpuBackend, float>(CpuBackend::Context(2), ml1m(), b.ws, b.out, b.x0,
                                                  b.x_t, rows, loss2, grad2);
  REQUIRE(std::memcmp(loss1.data(), loss2.data(), sizeof(double) * 37) == 0);
  REQUIRE(std::memcmp(grad1.data(), grad2.data(), sizeof(float) * grad1.size()) == 0);
  Matrix<float> target1 = Matrix<float>::Zero(37, 101), target2 = target1;
  PredictX0::add_target_gradient<CpuBackend, float>(CpuBackend::Context(1), grad1, target1);
  PredictX0::add_target_gradient<CpuBackend, float>(CpuBackend::Context(2), grad1, target2);
  REQUIRE(std::memcmp(target1.data(), target2.data(), sizeof(float) * target1.size()) == 0);
}
