#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/objective/objective.hpp>
#include <recdiff/schedule/schedule.hpp>

using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;
using recdiff::CpuBackend;
using recdiff::DiffusionTables;
using recdiff::PredictEpsilon;
using recdiff::PredictX0;
using recdiff::RowTerm;
template <class T>
using Matrix = CpuBackend::Matrix<T>;

namespace {

// The batch loss from host-side CPU matrices: the per-row losses and the probability column.
double mean_loss(const Matrix<double>& rows, const Matrix<double>& row_loss) {
  std::vector<double> p(static_cast<std::size_t>(rows.rows()));
  for (std::size_t b = 0; b < p.size(); ++b) p[b] = rows(static_cast<Eigen::Index>(b), RowTerm::probability);
  return recdiff::mean_batch_loss(
      std::span<const double>(row_loss.data(), static_cast<std::size_t>(row_loss.size())), p);
}

const DiffusionTables& ml1m() {
  static const DiffusionTables t(recdiff::DiffRecLinearVar(40, 0.005, 0.005, 0.01));
  return t;
}

// A batch: binary x0, x_t from the forward process, a model output near the targets.
template <class T>
struct Batch {
  Matrix<T> x0, x_t, eps, out;
};

template <class T>
Batch<T> make_batch(const DiffusionTables& tables, const std::vector<int>& steps, int cols) {
  const auto rows = static_cast<Eigen::Index>(steps.size());
  Batch<T> b;
  b.x0.resize(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) b.x0(r, c) = T((r * 3 + c * 5) % 7 == 0 ? 1 : 0);
  Matrix<T> a, s;
  recdiff::Gaussian::forward_coefficients<CpuBackend, T>(CpuBackend::Context(1), tables, steps, a, s);
  recdiff::Gaussian::q_sample<CpuBackend, T>(CpuBackend::Context(1), b.x0, a, s, 17, 1, b.x_t,
                                             b.eps);
  b.out.resize(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) b.out(r, c) = T(0.3 * std::sin(1.0 + r + 0.7 * c));
  return b;
}

// ||g - g_fd|| / ||g + g_fd|| for the loss (1/B) sum_b L_b / p_b against central differences.
// The loss is quadratic in `out`, so central differences have no truncation error; only rounding
// remains, about eps_double * |loss| / h ~ 1e-10 relative for h = 1e-6, well under the 1e-6 bound.
template <class O>
double gradcheck(const DiffusionTables& tables, const std::vector<int>& steps,
                 const std::vector<double>& p) {
  const CpuBackend::Context ctx(1);
  Batch<double> b = make_batch<double>(tables, steps, 9);
  Matrix<double> rows, row_loss, grad, ignored;
  O::template row_terms<CpuBackend>(CpuBackend::Context(1), tables, steps, p, true, rows);
  O::template loss_and_gradient<CpuBackend, double>(ctx, b.out, b.x0, b.x_t, b.eps, rows, row_loss,
                                                    grad);
  const double h = 1e-6;
  double diff2 = 0, sum2 = 0;
  for (Eigen::Index r = 0; r < b.out.rows(); ++r)
    for (Eigen::Index c = 0; c < b.out.cols(); ++c) {
      const double saved = b.out(r, c);
      b.out(r, c) = saved + h;
      O::template loss_and_gradient<CpuBackend, double>(ctx, b.out, b.x0, b.x_t, b.eps, rows,
                                                        row_loss, ignored);
      const double up = mean_loss(rows, row_loss);
      b.out(r, c) = saved - h;
      O::template loss_and_gradient<CpuBackend, double>(ctx, b.out, b.x0, b.x_t, b.eps, rows,
                                                        row_loss, ignored);
      const double down = mean_loss(rows, row_loss);
      b.out(r, c) = saved;
      const double fd = (up - down) / (2 * h);
      diff2 += (grad(r, c) - fd) * (grad(r, c) - fd);
      sum2 += (grad(r, c) + fd) * (grad(r, c) + fd);
    }
  return std::sqrt(diff2 / sum2);
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
  const DiffusionTables noiseless(recdiff::DiffRecLinearVar(40, 0.0, 0.005, 0.01));
  CHECK(PredictX0::weight(noiseless, 5, true) == 1.0);
}

TEST_CASE("PredictEpsilon: weights follow the reference formula", "[objective]") {
  const auto& t = ml1m();
  CHECK(PredictEpsilon::weight(t, 0, true) == 1.0);
  for (int k : {1, 2, 39}) {
    const auto kk = static_cast<std::size_t>(k);
    const double one_minus_prev = 1.0 - t.alpha_bar()[kk - 1];
    const double expected =
        (1.0 - t.alpha_bar()[kk]) / (one_minus_prev * one_minus_prev * (1.0 - t.betas()[kk]));
    CHECK_THAT(PredictEpsilon::weight(t, k, true), WithinRel(expected, 1e-14));
  }
  // k = 1 by hand from diffrec.md 2.3: 1.0641035256608866e-05 / ((1e-5)^2 (1 - 6.41e-7)) ~ 106410.
  CHECK_THAT(PredictEpsilon::weight(t, 1, true),
             WithinRel(1.0641035256608866e-05 / (9.99999999995449e-06 * 9.99999999995449e-06 *
                                                 (1.0 - 6.410416670821206e-07)),
                       1e-9));
  CHECK(PredictEpsilon::weight(t, 3, false) == 1.0);
  REQUIRE_THROWS_AS(PredictEpsilon::weight(t, 40, true), std::out_of_range);
  REQUIRE_THROWS_WITH(PredictEpsilon::weight(t, 40, true),
                      Catch::Contains("recdiff::PredictEpsilon::weight"));
}

TEST_CASE("PredictX0: row losses, batch loss and row terms", "[objective]") {
  const auto& t = ml1m();
  const std::vector<int> steps{0, 1, 39};
  const std::vector<double> p{0.5, 1.0, 2.0};
  Batch<double> b = make_batch<double>(t, steps, 11);
  Matrix<double> rows, row_loss, grad;
  PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), t, steps, p, true, rows);
  REQUIRE(rows.rows() == 3);
  REQUIRE(rows.cols() == RowTerm::count);
  CHECK(rows(2, RowTerm::step) == 39.0);
  CHECK(rows(1, RowTerm::weight) == PredictX0::weight(t, 1, true));
  CHECK(rows(2, RowTerm::probability) == 2.0);
  PredictX0::loss_and_gradient<CpuBackend, double>(CpuBackend::Context(2), b.out, b.x0, b.x_t,
                                                   b.eps, rows, row_loss, grad);
  double expected_total = 0;
  for (Eigen::Index r = 0; r < 3; ++r) {
    const double mse = (b.out.row(r) - b.x0.row(r)).squaredNorm() / 11.0;
    const double w = PredictX0::weight(t, steps[std::size_t(r)], true);
    CHECK_THAT(row_loss(r, 0), WithinRel(w * mse, 1e-13));
    expected_total += w * mse / p[std::size_t(r)];
  }
  CHECK_THAT(mean_loss(rows, row_loss), WithinRel(expected_total / 3, 1e-13));

  Matrix<double> x0_hat;
  PredictX0::x0_hat<CpuBackend, double>(CpuBackend::Context(1), b.out, b.x_t, rows, x0_hat);
  CHECK(x0_hat == b.out);

  // Without p every factor is 1; with a bad p or step the call throws.
  PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), t, steps, {}, true, rows);
  CHECK(rows(0, RowTerm::probability) == 1.0);
  const std::vector<double> short_p{1.0};
  REQUIRE_THROWS_AS(PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), t, steps, short_p, true, rows),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), t, steps, short_p, true, rows),
                      Catch::Contains("recdiff::PredictX0::row_terms: p is 1x1, expected 3x1"));
  const std::vector<double> zero_p{1.0, 0.0, 1.0};
  REQUIRE_THROWS_AS(PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), t, steps, zero_p, true, rows),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), t, steps, zero_p, true, rows),
                      Catch::Contains("p[1] must be positive"));
  const std::vector<int> bad_steps{0, 40};
  REQUIRE_THROWS_AS(PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), t, bad_steps, {}, true, rows),
                    std::out_of_range);
  REQUIRE_THROWS_WITH(PredictX0::row_terms<CpuBackend>(CpuBackend::Context(1), t, bad_steps, {}, true, rows),
                      Catch::Contains("steps[1] = 40"));
  REQUIRE_THROWS_AS(
      (PredictX0::loss_and_gradient<CpuBackend, double>(
          CpuBackend::Context(1), b.out, b.x0.leftCols(3), b.x_t, b.eps, rows, row_loss, grad)),
      std::invalid_argument);
  REQUIRE_THROWS_WITH(
      (PredictX0::loss_and_gradient<CpuBackend, double>(
          CpuBackend::Context(1), b.out, b.x0.leftCols(3), b.x_t, b.eps, rows, row_loss, grad)),
      Catch::Contains("recdiff::PredictX0::loss_and_gradient: x0 is 3x3, "
                      "expected 3x11"));
}

TEST_CASE("PredictEpsilon: the k = 0 row uses the x0 likelihood term", "[objective]") {
  const auto& t = ml1m();
  const std::vector<int> steps{0, 5, 0, 20};
  const std::vector<double> p{1.0, 1.0, 0.25, 3.0};
  Batch<double> b = make_batch<double>(t, steps, 13);
  Matrix<double> rows, row_loss, grad, x0_hat;
  PredictEpsilon::row_terms<CpuBackend>(CpuBackend::Context(1), t, steps, p, true, rows);
  PredictEpsilon::loss_and_gradient<CpuBackend, double>(CpuBackend::Context(1), b.out, b.x0, b.x_t,
                                                        b.eps, rows, row_loss, grad);
  PredictEpsilon::x0_hat<CpuBackend, double>(CpuBackend::Context(1), b.out, b.x_t, rows, x0_hat);
  for (Eigen::Index r = 0; r < 4; ++r) {
    const auto k = static_cast<std::size_t>(steps[std::size_t(r)]);
    const double cr = t.sqrt_recip_alpha_bar()[k], cm = t.sqrt_recipm1_alpha_bar()[k];
    for (Eigen::Index c = 0; c < 13; ++c)
      REQUIRE_THAT(x0_hat(r, c), WithinAbs(cr * b.x_t(r, c) - cm * b.out(r, c), 1e-15));
    double expected;
    if (k == 0)
      expected = (b.x0.row(r) - x0_hat.row(r)).squaredNorm() / 2.0 / 13.0;
    else
      expected = PredictEpsilon::weight(t, int(k), true) *
                 (b.out.row(r) - b.eps.row(r)).squaredNorm() / 13.0;
    CHECK_THAT(row_loss(r, 0), WithinRel(expected, 1e-12));
  }
}

TEST_CASE("Objectives: gradients match central finite differences", "[objective][gradcheck]") {
  const DiffusionTables small(recdiff::Linear(10, 0.01, 0.2));
  const std::vector<int> steps{0, 1, 4, 9, 0};
  const std::vector<double> p{0.7, 1.0, 1.3, 0.2, 2.5};
  for (const DiffusionTables* t : {&small, &ml1m()}) {
    CHECK(gradcheck<PredictX0>(*t, steps, p) < 1e-6);
    CHECK(gradcheck<PredictEpsilon>(*t, steps, p) < 1e-6);
  }
}

TEST_CASE("Objectives: float losses and gradients are bit-identical at 1 and 2 threads",
          "[objective]") {
  std::vector<int> steps(37);
  for (std::size_t i = 0; i < steps.size(); ++i) steps[i] = static_cast<int>((i * 7) % 40);
  const Batch<float> b = make_batch<float>(ml1m(), steps, 101);
  Matrix<double> rows, loss1, loss2;
  Matrix<float> grad1, grad2;
  PredictEpsilon::row_terms<CpuBackend>(CpuBackend::Context(1), ml1m(), steps, {}, true, rows);
  PredictEpsilon::loss_and_gradient<CpuBackend, float>(CpuBackend::Context(1), b.out, b.x0, b.x_t,
                                                       b.eps, rows, loss1, grad1);
  PredictEpsilon::loss_and_gradient<CpuBackend, float>(CpuBackend::Context(2), b.out, b.x0, b.x_t,
                                                       b.eps, rows, loss2, grad2);
  REQUIRE(std::memcmp(loss1.data(), loss2.data(), sizeof(double) * 37) == 0);
  REQUIRE(std::memcmp(grad1.data(), grad2.data(), sizeof(float) * grad1.size()) == 0);
}
