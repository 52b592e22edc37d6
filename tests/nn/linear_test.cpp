#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/nn/linear.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"

using recdiff::CpuBackend;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
template <class T, class Act = recdiff::Identity>
using Linear = recdiff::nn::Linear<CpuBackend, T, Act>;

namespace {

// The 2 -> 3 layer of the hand-computed case.
template <class Act>
Linear<double, Act> hand_layer() {
  Linear<double, Act> layer(2, 3);
  layer.weight() << 1, 2, -1, 0.5, 0, -2;
  layer.bias() << 0.1, 0.2, 0.3;
  return layer;
}

// An input for `layer` whose pre-activations x W^T + b all lie at least `margin` away from 0, so
// that no finite-difference step crosses a rectifier's kink (tries seeds in turn; deterministic).
template <class T, class Act>
Mat<T> input_off_kink(const Linear<T, Act>& layer, std::int64_t rows, double margin) {
  for (std::uint32_t seed = 1; seed < 1000; ++seed) {
    const Mat<T> x = random_matrix<T>(rows, layer.in_features(), seed);
    const Eigen::MatrixXd pre = (x.template cast<double>() * layer.weight().template cast<double>().transpose())
                                    .rowwise() +
                                layer.bias().template cast<double>().row(0);
    if (pre.cwiseAbs().minCoeff() > margin) return x;
  }
  FAIL("no input with pre-activations away from 0");
  return {};
}

template <class T, class Act>
void check_linear_gradients(Act act) {
  CpuBackend::Context ctx(2);
  Linear<T, Act> layer(5, 3, act);
  layer.initialize(ctx, recdiff::nn::Init::diffrec, 7, 0);
  // The N(0, 0.001) bias is too small to test its gradient's scale.
  layer.bias() = random_matrix<T>(1, 3, 5);
  const Mat<T> x = input_off_kink(layer, 4, 0.05);
  const auto check = recdiff::test::check_module(layer, x);
  recdiff::test::require_gradients<T>(check, 2);
}

}  // namespace

TEST_CASE("Linear: forward computes act(x W^T + b) with the fused activation", "[nn]") {
  CpuBackend::Context ctx(1);
  auto layer = hand_layer<recdiff::Identity>();
  Mat<double> x(2, 2);
  x << 1, -1, 2, 3;
  const Mat<double>& y = layer.forward(ctx, x);
  REQUIRE(&y == &layer.forward(ctx, x));  // the layer's own output buffer
  REQUIRE(y.rows() == 2);
  REQUIRE(y.cols() == 3);
  // Row 0: (1 - 2 + 0.1, -1 - 0.5 + 0.2, 0 + 2 + 0.3); row 1: (2 + 6 + 0.1, -2 + 1.5 + 0.2, -6 + 0.3).
  const double expected[2][3] = {{-0.9, -1.3, 2.3}, {8.1, -0.3, -5.7}};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(y(i, j) == Approx(expected[i][j]));
  auto relu = hand_layer<recdiff::Relu>();
  const Mat<double>& yr = relu.forward(ctx, x);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(yr(i, j) == Approx(std::max(expected[i][j], 0.0)));
  auto tanh = hand_layer<recdiff::Tanh>();
  const Mat<double>& yt = tanh.forward(ctx, x);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(yt(i, j) == Approx(std::tanh(expected[i][j])));
  auto sigmoid = hand_layer<recdiff::Sigmoid>();
  const Mat<double>& ys = sigmoid.forward(ctx, x);
  CHECK(ys(0, 2) == Approx(1 / (1 + std::exp(-2.3))));
}

TEMPLATE_TEST_CASE("Linear: gradients match finite differences (Identity, Tanh, Sigmoid, Relu)",
                   "[nn][gradcheck]", float, double) {
  SECTION("Identity") { check_linear_gradients<TestType>(recdiff::Identity{}); }
  SECTION("Tanh") { check_linear_gradients<TestType>(recdiff::Tanh{}); }
  SECTION("Sigmoid") { check_linear_gradients<TestType>(recdiff::Sigmoid{}); }
  SECTION("Relu") { check_linear_gradients<TestType>(recdiff::Relu{}); }
}

TEST_CASE("Linear: backward without the input gradient returns nullptr and still accumulates",
          "[nn]") {
  CpuBackend::Context ctx(2);
  Linear<double, recdiff::Tanh> a(4, 3), b(4, 3);
  a.initialize(ctx, recdiff::nn::Init::diffrec, 3, 1);
  b.initialize(ctx, recdiff::nn::Init::diffrec, 3, 1);
  const Mat<double> x = random_matrix<double>(6, 4, 2), dy = random_matrix<double>(6, 3, 3);
  auto pa = recdiff::nn::parameters_of(a), pb = recdiff::nn::parameters_of(b);
  recdiff::nn::zero_grad(pa);
  recdiff::nn::zero_grad(pb);
  a.forward(ctx, x);
  b.forward(ctx, x);
  REQUIRE(a.backward(ctx, dy, false) == nullptr);
  const Mat<double>* dx = b.backward(ctx, dy, true);
  REQUIRE(dx != nullptr);
  CHECK(dx->rows() == 6);
  CHECK(dx->cols() == 4);
  CHECK(a.weight_grad() == b.weight_grad());
  CHECK(a.bias_grad() == b.bias_grad());
}

TEST_CASE("Linear: parameters are named prefix + weight and bias", "[nn]") {
  Linear<float> layer(5, 3);
  CHECK(recdiff::test::parameter_names(layer, "out.") ==
        std::vector<std::string>{"out.weight", "out.bias"});
  CHECK(layer.num_parameters() == 18);
  CHECK(recdiff::nn::count_scalars(recdiff::nn::parameters_of(layer)) == 18);
  CHECK(layer.in_features() == 5);
  CHECK(layer.out_features() == 3);
}

TEST_CASE("Linear: column sums of 200 columns span several blocks", "[nn]") {
  CpuBackend::Context ctx(2);
  const Mat<double> x = random_matrix<double>(37, 200, 4);
  Mat<double> sums;
  Linear<double>::column_sums(ctx, x, sums);
  REQUIRE(sums.cols() == 200);
  for (int j = 0; j < 200; ++j) CHECK(sums(0, j) == Approx(x.col(j).sum()).margin(1e-12));
  // Into a tensor's gradient: the first write after zero_grad overwrites, later ones add.
  recdiff::nn::Tensor<CpuBackend, double> t(1, 200);
  t.grad.setConstant(123.0);
  Linear<double>::column_sums(ctx, x, t);
  CHECK(t.gradient() == sums);
  Linear<double>::column_sums(ctx, x, t);
  CHECK(t.gradient().isApprox(2 * sums));
}

TEST_CASE("Linear: invalid shapes and a backward without forward throw", "[nn]") {
  CpuBackend::Context ctx(1);
  REQUIRE_THROWS_AS(Linear<double>(0, 3), std::invalid_argument);
  REQUIRE_THROWS_WITH(Linear<double>(2, -1), Catch::Contains("sizes must be positive"));
  Linear<double> layer(2, 3);
  const Mat<double> x(4, 5), dy(4, 3), bad_dy(4, 2), good_x = Mat<double>::Zero(4, 2);
  REQUIRE_THROWS_AS(layer.backward(ctx, dy, true), std::logic_error);
  REQUIRE_THROWS_WITH(layer.backward(ctx, dy, true), Catch::Contains("no forward() pass"));
  REQUIRE_THROWS_AS(layer.forward(ctx, x), std::invalid_argument);
  REQUIRE_THROWS_WITH(layer.forward(ctx, x), Catch::Contains("expected 2"));
  layer.forward(ctx, good_x);
  REQUIRE_THROWS_AS(layer.backward(ctx, bad_dy, true), std::invalid_argument);
  REQUIRE_THROWS_WITH(layer.backward(ctx, bad_dy, true),
                      Catch::Contains("dy is 4x2, expected the output's 4x3"));
}

TEST_CASE("Linear: forward and backward are bit-identical at 1 and 3 threads", "[nn]") {
  Linear<float, recdiff::Tanh> layer(30, 20);
  layer.initialize(CpuBackend::Context(1), recdiff::nn::Init::diffrec, 5, 2);
  const Mat<float> x = random_matrix<float>(45, 30, 6), dy = random_matrix<float>(45, 20, 7);
  auto run = [&](int threads) {
    CpuBackend::Context ctx(threads);
    auto params = recdiff::nn::parameters_of(layer);
    recdiff::nn::zero_grad(params);
    const Mat<float> y = layer.forward(ctx, x);
    const Mat<float> dx = *layer.backward(ctx, dy, true);
    return std::vector<Mat<float>>{y, dx, layer.weight_grad(), layer.bias_grad()};
  };
  CHECK(run(1) == run(3));
}
