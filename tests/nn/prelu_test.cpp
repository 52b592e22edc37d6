#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/nn/prelu.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"

using recdiff::CpuBackend;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
template <class T>
using PRelu = recdiff::nn::PRelu<CpuBackend, T>;

TEST_CASE("PRelu: y = x for x > 0, a x otherwise; shared or per-column slopes", "[nn]") {
  CpuBackend::Context ctx(1);
  Mat<double> x(2, 3);
  x << -2, 3, 0, 1, -4, -0.5;
  PRelu<double> shared;  // one slope, torch's initial 0.25
  REQUIRE(shared.num_slopes() == 1);
  CHECK(shared.weight()(0, 0) == 0.25);
  const Mat<double>& y = shared.forward(ctx, x);
  CHECK(y(0, 0) == -0.5);
  CHECK(y(0, 1) == 3.0);
  CHECK(y(0, 2) == 0.0);
  CHECK(y(1, 0) == 1.0);
  CHECK(y(1, 1) == -1.0);
  CHECK(y(1, 2) == -0.125);
  PRelu<double> per_column(3, 0.1);
  per_column.weight() << 0.5, 2, -1;  // a slope may be any real number
  const Mat<double>& z = per_column.forward(ctx, x);
  CHECK(z(0, 0) == -1.0);
  CHECK(z(0, 1) == 3.0);
  CHECK(z(1, 1) == -8.0);
  CHECK(z(1, 2) == 0.5);
  CHECK(recdiff::test::parameter_names(per_column, "act.") == std::vector<std::string>{"act.weight"});
  CHECK(per_column.num_parameters() == 3);
  CHECK(shared.num_parameters() == 1);
  // Gradients by hand: dy = 1 everywhere.
  auto params = recdiff::nn::parameters_of(per_column);
  recdiff::nn::zero_grad(params);
  const Mat<double>* dx = per_column.backward(ctx, Mat<double>::Ones(2, 3), true);
  REQUIRE(dx != nullptr);
  CHECK((*dx)(0, 0) == 0.5);
  CHECK((*dx)(0, 1) == 1.0);
  CHECK((*dx)(1, 1) == 2.0);
  CHECK((*dx)(0, 2) == -1.0);  // x = 0 takes the negative side (torch's convention)
  // da_j = sum of x over the rows with x <= 0: (-2, -4, 0 - 0.5).
  CHECK(per_column.weight_grad()(0, 0) == -2.0);
  CHECK(per_column.weight_grad()(0, 1) == -4.0);
  CHECK(per_column.weight_grad()(0, 2) == -0.5);
  shared.forward(ctx, x);
  auto shared_params = recdiff::nn::parameters_of(shared);
  recdiff::nn::zero_grad(shared_params);
  CHECK(shared.backward(ctx, Mat<double>::Ones(2, 3), false) == nullptr);
  CHECK(shared.weight_grad()(0, 0) == -6.5);
  // initialize() writes the initial slope back.
  per_column.initialize(ctx);
  CHECK(per_column.weight() == Mat<double>::Constant(1, 3, 0.1));
  REQUIRE_THROWS_AS(per_column.forward(ctx, Mat<double>::Zero(2, 4)), std::invalid_argument);
  REQUIRE_THROWS_WITH(per_column.forward(ctx, Mat<double>::Zero(2, 4)),
                      Catch::Contains("expected 3 (one slope per column)"));
  REQUIRE_THROWS_AS(PRelu<double>(0), std::invalid_argument);
  PRelu<double> fresh;
  REQUIRE_THROWS_AS(fresh.backward(ctx, x, true), std::logic_error);
}

TEMPLATE_TEST_CASE("PRelu: slope and input gradients match finite differences", "[nn][gradcheck]",
                   float, double) {
  using T = TestType;
  // |x| >= 0.05: a float finite-difference step (0.01) never crosses the kink.
  const Mat<T> x = random_matrix<T>(5, 70, 3, 0.05);  // 70 columns: two column blocks
  SECTION("shared slope") {
    PRelu<T> prelu;
    recdiff::test::require_gradients<T>(recdiff::test::check_module(prelu, x), 1);
  }
  SECTION("one slope per column") {
    PRelu<T> prelu(70);
    prelu.weight() = random_matrix<T>(1, 70, 4);
    recdiff::test::require_gradients<T>(recdiff::test::check_module(prelu, x), 1);
  }
}

TEST_CASE("PRelu: forward and backward are bit-identical at 1 and 3 threads", "[nn]") {
  const Mat<float> x = random_matrix<float>(45, 130, 8), dy = random_matrix<float>(45, 130, 9);
  for (const int slopes : {1, 130}) {
    PRelu<float> prelu(slopes);
    auto run = [&](int threads) {
      CpuBackend::Context ctx(threads);
      auto params = recdiff::nn::parameters_of(prelu);
      recdiff::nn::zero_grad(params);
      const Mat<float> y = prelu.forward(ctx, x);
      const Mat<float> dx = *prelu.backward(ctx, dy, true);
      return std::vector<Mat<float>>{y, dx, prelu.weight_grad()};
    };
    CHECK(run(1) == run(3));
  }
}
