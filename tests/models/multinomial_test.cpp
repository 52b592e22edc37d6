// MultinomialLikelihood: hand-computed values, CSR = dense, the gradient against finite
// differences.
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "nn/gradcheck.hpp"
#include "nn/module_test_util.hpp"
#include "support/toy_data.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/objective/multinomial.hpp>

using recdiff::CpuBackend;
using recdiff::index_t;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
template <class T>
using Likelihood = recdiff::MultinomialLikelihood<CpuBackend, T>;

TEST_CASE("Multinomial: hand-computed loss and gradient on a 2 x 3 batch",
          "[objective][multinomial]") {
  CpuBackend::Context ctx(1);
  // Row 0: logits 0, 0, 0 (softmax 1/3 each), clicks on items 0 and 2: l_0 = 2 ln 3.
  // Row 1: logits ln 1, ln 2, ln 3 (softmax 1/6, 2/6, 3/6), click on item 1: l_1 = -ln(1/3) = ln 3.
  Mat<double> logits(2, 3), x(2, 3);
  logits << 0, 0, 0, 0, std::log(2.0), std::log(3.0);
  x << 1, 0, 1, 0, 1, 0;
  Likelihood<double> loss;
  const double value = loss.loss_and_gradient(ctx, logits, x);
  CHECK(value == Approx(1.5 * std::log(3.0)).epsilon(1e-14));
  REQUIRE(loss.row_losses().size() == 2);
  CHECK(loss.row_losses()[0] == Approx(2 * std::log(3.0)).epsilon(1e-14));
  CHECK(loss.row_losses()[1] == Approx(std::log(3.0)).epsilon(1e-14));
  // d loss / d f = (n_b softmax - x) / B.
  Mat<double> expected(2, 3);
  expected << -1.0 / 6, 1.0 / 3, -1.0 / 6, 1.0 / 12, -1.0 / 3, 1.0 / 4;
  CHECK((loss.gradient() - expected).cwiseAbs().maxCoeff() < 1e-15);

  // The same batch as CSR rows 1 and 0 of a matrix (row b of the logits belongs to users[b]).
  const auto m = recdiff::test::matrix_from_rows({{1}, {2, 0}}, 3);
  const std::vector<index_t> users{1, 0};
  Likelihood<double> sparse;
  CHECK(sparse.loss_and_gradient(ctx, logits, m, users) == Approx(value).epsilon(1e-15));
  CHECK((sparse.gradient() - expected).cwiseAbs().maxCoeff() < 1e-15);

  // Float: the same numbers to float precision.
  Likelihood<float> f;
  CHECK(f.loss_and_gradient(ctx, logits.cast<float>(), x.cast<float>()) ==
        Approx(value).epsilon(1e-6));
  CHECK((f.gradient().cast<double>() - expected).cwiseAbs().maxCoeff() < 1e-6);
}

TEST_CASE("Multinomial: gradient w.r.t. the logits matches finite differences (double)",
          "[objective][multinomial][gradcheck]") {
  CpuBackend::Context ctx(2);
  Mat<double> logits = random_matrix<double>(6, 9, 4) * 4.0;
  Mat<double> x = Mat<double>::Zero(6, 9);
  for (int b = 0; b < 6; ++b)
    for (int i = 0; i < 9; ++i)
      if ((b + 2 * i) % 3 == 0) x(b, i) = 1;
  x(5, 0) = 2;  // a count above 1 too
  Likelihood<double> loss;
  loss.loss_and_gradient(ctx, logits, x);
  const Mat<double> analytic = loss.gradient();
  Likelihood<double> probe;
  const double error = recdiff::test::gradient_error(
      logits, analytic, [&] { return probe.loss_and_gradient(ctx, logits, x); });
  CHECK(error < recdiff::test::gradcheck_tolerance);
}

TEST_CASE("Multinomial: CSR target equals the densified one and is thread-count independent",
          "[objective][multinomial]") {
  const auto data = recdiff::test::make_toy_data();
  std::vector<index_t> users;
  for (index_t u = 0; u < data.num_users(); u += 3) users.push_back(u);
  const auto rows = static_cast<std::int64_t>(users.size());
  const Mat<float> logits = random_matrix<float>(rows, data.num_items(), 12) * 6.0f;
  CpuBackend::Context one(1), two(2);
  Mat<float> dense;
  CpuBackend::densify(one, data, users, dense);
  Likelihood<float> a, b, c;
  const double la = a.loss_and_gradient(one, logits, dense);
  const double lb = b.loss_and_gradient(two, logits, dense);
  const double lc = c.loss_and_gradient(two, logits, data, users);
  CHECK(la == lb);
  CHECK(a.gradient() == b.gradient());
  CHECK(lc == Approx(la).epsilon(1e-12));
  CHECK((c.gradient() - a.gradient()).cwiseAbs().maxCoeff() < 1e-8);
  // Each gradient row sums to 0 (softmax sums to 1): (n_b - n_b) / B.
  for (Eigen::Index r = 0; r < a.gradient().rows(); ++r)
    CHECK(std::abs(a.gradient().row(r).cast<double>().sum()) < 1e-6);
}

TEST_CASE("Multinomial: stable for large logits, shape errors", "[objective][multinomial]") {
  CpuBackend::Context ctx(1);
  Mat<float> logits(1, 3), x(1, 3);
  logits << 500.0f, -500.0f, 499.0f;
  x << 0, 1, 1;
  Likelihood<float> loss;
  const double value = loss.loss_and_gradient(ctx, logits, x);
  const double lse = 500 + std::log(1 + std::exp(-1.0));
  CHECK(value == Approx(2 * lse - (-500.0 + 499.0)).epsilon(1e-6));
  REQUIRE(loss.gradient().allFinite());
  REQUIRE_THROWS_AS(loss.loss_and_gradient(ctx, logits, Mat<float>::Zero(2, 3)),
                    std::invalid_argument);
  const auto m = recdiff::test::matrix_from_rows({{1}}, 4);
  const std::vector<index_t> users{0};
  REQUIRE_THROWS_WITH(loss.loss_and_gradient(ctx, logits, m, users), Catch::Contains("4 items"));
  const std::vector<index_t> outside{3};
  const auto m3 = recdiff::test::matrix_from_rows({{1}}, 3);
  REQUIRE_THROWS_WITH(loss.loss_and_gradient(ctx, logits, m3, outside),
                      Catch::Contains("user 3 outside"));
}
