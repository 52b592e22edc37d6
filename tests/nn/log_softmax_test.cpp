#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/nn/log_softmax.hpp>

using recdiff::CpuBackend;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
template <class T>
using LogSoftmax = recdiff::nn::LogSoftmax<CpuBackend, T>;

static_assert(recdiff::Module<LogSoftmax<float>, CpuBackend>);
static_assert(recdiff::Module<LogSoftmax<double>, CpuBackend>);

TEST_CASE("LogSoftmax: values of a hand-computed row", "[nn][log_softmax]") {
  CpuBackend::Context ctx(1);
  LogSoftmax<double> layer;
  Mat<double> x(2, 3);
  x << 0, 0, 0, 0, std::log(2.0), std::log(3.0);
  const Mat<double>& y = layer.forward(ctx, x);
  for (int j = 0; j < 3; ++j) CHECK(y(0, j) == Approx(-std::log(3.0)).epsilon(1e-14));
  CHECK(y(1, 0) == Approx(std::log(1.0 / 6)).epsilon(1e-14));
  CHECK(y(1, 1) == Approx(std::log(2.0 / 6)).epsilon(1e-14));
  CHECK(y(1, 2) == Approx(std::log(3.0 / 6)).epsilon(1e-14));
}

TEST_CASE("LogSoftmax: stable for large logits, float agrees with double", "[nn][log_softmax]") {
  CpuBackend::Context ctx(2);
  // exp(1000) overflows in double and exp(100) in float; the shift by the row maximum avoids both.
  Mat<double> x(2, 4);
  x << 1000, 1001, 999, -1000, 100, 100, 100, 100;
  LogSoftmax<double> d;
  const Mat<double> y = d.forward(ctx, x);
  REQUIRE(y.allFinite());
  const double lse = 1001 + std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  CHECK(y(0, 0) == Approx(1000 - lse).epsilon(1e-12));
  CHECK(y(0, 1) == Approx(1001 - lse).epsilon(1e-12));
  CHECK(y(0, 3) == Approx(-1000 - lse).epsilon(1e-12));
  for (int j = 0; j < 4; ++j) CHECK(y(1, j) == Approx(-std::log(4.0)).epsilon(1e-12));

  LogSoftmax<float> f;
  const Mat<float> xf = random_matrix<float>(37, 301, 5) * 30.0f;
  const Mat<float> yf = f.forward(ctx, xf);
  const Mat<double> yd = d.forward(ctx, xf.cast<double>());
  REQUIRE(yf.allFinite());
  CHECK((yf.cast<double>() - yd).cwiseAbs().maxCoeff() < 1e-4);
  // Each row of exp(y) sums to 1.
  for (Eigen::Index i = 0; i < yf.rows(); ++i)
    CHECK(yf.row(i).cast<double>().array().exp().sum() == Approx(1.0).epsilon(1e-5));
  // Logits far below the maximum give exactly exp(y) = 0 in float, never NaN.
  Mat<float> wide(1, 3);
  wide << 0.0f, -200.0f, -1e30f;
  const Mat<float> yw = f.forward(ctx, wide);
  REQUIRE(yw.allFinite());
  CHECK(yw(0, 0) == 0.0f);
}

TEST_CASE("LogSoftmax: backward is the exact derivative (finite differences, double)",
          "[nn][log_softmax][gradcheck]") {
  LogSoftmax<double> layer;
  const auto check = recdiff::test::check_module(layer, random_matrix<double>(5, 7, 3) * 3.0);
  recdiff::test::require_gradients<double>(check, 0);
}

TEST_CASE("LogSoftmax: float backward matches finite differences", "[nn][log_softmax][gradcheck]") {
  LogSoftmax<float> layer;
  const auto check = recdiff::test::check_module(layer, random_matrix<float>(4, 6, 8));
  recdiff::test::require_gradients<float>(check, 0);
}

TEST_CASE("LogSoftmax: same bits at 1 and 2 threads, shape errors", "[nn][log_softmax]") {
  CpuBackend::Context one(1), two(2);
  LogSoftmax<float> a, b;
  const Mat<float> x = random_matrix<float>(41, 50, 9) * 5.0f;
  const Mat<float> ya = a.forward(one, x);
  const Mat<float> yb = b.forward(two, x);
  CHECK(ya == yb);
  const Mat<float> dy = random_matrix<float>(41, 50, 10);
  const Mat<float> da = *a.backward(one, dy, true);
  const Mat<float> db = *b.backward(two, dy, true);
  CHECK(da == db);
  CHECK(a.backward(one, dy, false) == nullptr);
  REQUIRE_THROWS_AS(a.backward(one, random_matrix<float>(3, 50, 1), true), std::invalid_argument);
}
