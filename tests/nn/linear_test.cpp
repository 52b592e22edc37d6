#include <catch2/catch.hpp>

#include <cmath>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/nn/linear.hpp>

#include "nn/gradcheck.hpp"

using recdiff::CpuBackend;
using Linear = recdiff::nn::Linear<CpuBackend, double>;
using Matrix = CpuBackend::Matrix<double>;
using recdiff::test::gradcheck_tolerance;
using recdiff::test::gradient_error;

TEST_CASE("Linear: forward computes x W^T + b through the activation", "[nn]") {
  CpuBackend::Context ctx(1);
  Linear layer(2, 3);
  layer.weight() << 1, 2, -1, 0.5, 0, -2;
  layer.bias() << 0.1, 0.2, 0.3;
  Matrix x(2, 2), y;
  x << 1, -1, 2, 3;
  layer.forward(ctx, x, y);
  REQUIRE(y.rows() == 2);
  REQUIRE(y.cols() == 3);
  // Row 0: (1 - 2 + 0.1, -1 - 0.5 + 0.2, 0 + 2 + 0.3); row 1: (2 + 6 + 0.1, -2 + 1.5 + 0.2, -6 + 0.3).
  CHECK(y(0, 0) == Approx(-0.9));
  CHECK(y(0, 1) == Approx(-1.3));
  CHECK(y(0, 2) == Approx(2.3));
  CHECK(y(1, 0) == Approx(8.1));
  CHECK(y(1, 1) == Approx(-0.3));
  CHECK(y(1, 2) == Approx(-5.7));
  layer.forward(ctx, x, y, recdiff::Relu{});
  CHECK(y(0, 0) == 0.0);
  CHECK(y(0, 2) == Approx(2.3));
  CHECK(y(1, 2) == 0.0);
}

TEST_CASE("Linear: backward matches finite differences (weights, bias, input)", "[nn][gradcheck]") {
  CpuBackend::Context ctx(2);
  Linear layer(5, 3);
  layer.initialize(ctx, recdiff::nn::Init::diffrec, 7, 0);
  layer.bias().setRandom();  // the N(0, 0.001) bias is too small to test its gradient's scale
  Matrix x = Matrix::Random(4, 5), r = Matrix::Random(4, 3), y;
  const recdiff::Tanh act;
  auto loss = [&] {
    Matrix out;
    layer.forward(ctx, x, out, act);
    return out.cwiseProduct(r).sum();
  };
  layer.forward(ctx, x, y, act);
  Matrix dy = r;
  Linear::apply_activation_gradient(ctx, dy, y, act);
  Matrix dx;
  layer.backward(ctx, x, dy, dx);
  const Matrix dw = layer.weight_grad(), db = layer.bias_grad();
  CHECK(gradient_error(layer.weight(), dw, loss) < gradcheck_tolerance);
  CHECK(gradient_error(layer.bias(), db, loss) < gradcheck_tolerance);
  CHECK(gradient_error(x, dx, loss) < gradcheck_tolerance);
}

TEST_CASE("Linear: column sums of 200 columns span several blocks", "[nn]") {
  CpuBackend::Context ctx(2);
  Matrix x = Matrix::Random(37, 200), sums;
  Linear::column_sums(ctx, x, sums);
  REQUIRE(sums.cols() == 200);
  for (int j = 0; j < 200; ++j) CHECK(sums(0, j) == Approx(x.col(j).sum()).margin(1e-12));
}

TEST_CASE("Linear: invalid shapes throw", "[nn]") {
  CpuBackend::Context ctx(1);
  REQUIRE_THROWS_AS(Linear(0, 3), std::invalid_argument);
  REQUIRE_THROWS_WITH(Linear(2, -1), Catch::Contains("sizes must be positive"));
  Linear layer(2, 3);
  Matrix x(4, 5), y, dy(4, 3);
  REQUIRE_THROWS_AS(layer.forward(ctx, x, y), std::invalid_argument);
  REQUIRE_THROWS_WITH(layer.forward(ctx, x, y), Catch::Contains("expected 2"));
  REQUIRE_THROWS_AS(layer.backward(ctx, x, dy), std::invalid_argument);
  REQUIRE_THROWS_WITH(layer.backward(ctx, x, dy), Catch::Contains("shapes do not match"));
}
