#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/activation.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"

using recdiff::CpuBackend;
using recdiff::test::Mat;
using recdiff::test::random_matrix;

namespace {

// d a(x) / dx by central differences, compared with derivative(a(x)) at points away from kinks.
template <class ActivationType>
void check_derivative(ActivationType act) {
  for (const double x : {-2.3, -0.7, -0.1, 0.2, 0.9, 1.7}) {
    const double h = 1e-6;
    const double fd = (act(x + h) - act(x - h)) / (2 * h);
    CHECK(act.derivative(act(x)) == Approx(fd).epsilon(1e-8).margin(1e-10));
  }
}

}  // namespace

TEST_CASE("activations: values at known points", "[nn][math]") {
  CHECK(recdiff::Identity{}(-1.5) == -1.5);
  CHECK(recdiff::Tanh{}(0.5) == Approx(0.46211715726000974));
  CHECK(recdiff::Sigmoid{}(0.0) == 0.5);
  CHECK(recdiff::Sigmoid{}(2.0) == Approx(0.8807970779778823));
  CHECK(recdiff::Relu{}(-2.0) == 0.0);
  CHECK(recdiff::Relu{}(3.0) == 3.0);
  CHECK(recdiff::LeakyRelu{0.2}(-2.0) == Approx(-0.4));
  CHECK(recdiff::LeakyRelu{0.2}(2.0) == 2.0);
  CHECK(recdiff::Tanh{}(0.5f) == Approx(0.46211716f));
}

TEST_CASE("activations: derivative from the output matches finite differences", "[nn][gradcheck]") {
  check_derivative(recdiff::Identity{});
  check_derivative(recdiff::Tanh{});
  check_derivative(recdiff::Sigmoid{});
  check_derivative(recdiff::Relu{});
  check_derivative(recdiff::LeakyRelu{0.1});
}

TEST_CASE("activations: fused bias+activation and gradient kernels", "[nn][math]") {
  CpuBackend::Matrix<double> y(2, 3), dy(2, 3), b(1, 3);
  y << 0.1, -0.4, 0.7, 1.2, 0.0, -0.3;
  b << 0.5, -0.5, 0.25;
  const CpuBackend::Matrix<double> z = y;
  CpuBackend::Context ctx(2);
  CpuBackend::for_each(ctx, 2, 3,
                       recdiff::BiasActivation<double, recdiff::Tanh>{y.data(), b.data(), 3, {}});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(y(i, j) == std::tanh(z(i, j) + b(0, j)));
  dy.setConstant(2.0);
  CpuBackend::for_each(
      ctx, 2, 3, recdiff::ActivationGradient<double, recdiff::Tanh>{dy.data(), y.data(), 3, {}});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(dy(i, j) == Approx(2.0 * (1 - y(i, j) * y(i, j))));
}

TEST_CASE("activations: float Tanh is math::fast_tanh, within 3 ulp of std::tanh", "[nn][math]") {
  CpuBackend::Matrix<float> y(3, 70), b(1, 70);
  for (Eigen::Index j = 0; j < 70; ++j) b(0, j) = 0.05f * static_cast<float>(j) - 1.5f;
  for (Eigen::Index k = 0; k < y.size(); ++k) y.data()[k] = 0.07f * static_cast<float>(k % 41) - 1.4f;
  const CpuBackend::Matrix<float> z = y;
  CpuBackend::for_each(CpuBackend::Context(2), 3, 70,
                       recdiff::BiasActivation<float, recdiff::Tanh>{y.data(), b.data(), 70, {}});
  for (Eigen::Index i = 0; i < 3; ++i)
    for (Eigen::Index j = 0; j < 70; ++j) {
      const float x = z(i, j) + b(0, j);
      REQUIRE(y(i, j) == recdiff::math::fast_tanh(x));
      REQUIRE(y(i, j) == Approx(std::tanh(static_cast<double>(x))).epsilon(4e-7).margin(1e-30));
    }
}

// --- the Activation module ------------------------------------------------------------------------

namespace {

template <class T, class Act>
void check_activation_module(Act act) {
  recdiff::nn::Activation<CpuBackend, T, Act> module(act);
  // Values at least 0.05 from 0: a float finite-difference step (0.01) never crosses a kink.
  const Mat<T> x = random_matrix<T>(5, 7, 11, 0.05);
  const auto check = recdiff::test::check_module(module, x);
  recdiff::test::require_gradients<T>(check, 0);
}

}  // namespace

TEST_CASE("Activation: forward applies the functor element-wise", "[nn]") {
  CpuBackend::Context ctx(2);
  Mat<double> x(2, 3);
  x << -2.0, 0.0, 0.5, 2.0, -0.5, 3.0;
  recdiff::nn::Activation<CpuBackend, double, recdiff::Tanh> tanh;
  const Mat<double>& y = tanh.forward(ctx, x);
  CHECK(y(0, 2) == Approx(0.46211715726000974));
  CHECK(y(0, 1) == 0.0);
  CHECK(y(1, 1) == Approx(-0.46211715726000974));
  recdiff::nn::Activation<CpuBackend, double, recdiff::LeakyRelu> leaky(recdiff::LeakyRelu{0.2});
  const Mat<double>& yl = leaky.forward(ctx, x);
  CHECK(yl(0, 0) == Approx(-0.4));
  CHECK(yl(1, 0) == 2.0);
  CHECK(yl(1, 1) == Approx(-0.1));
  recdiff::nn::Activation<CpuBackend, double, recdiff::Sigmoid> sigmoid;
  CHECK(sigmoid.forward(ctx, x)(0, 1) == 0.5);
  recdiff::nn::Activation<CpuBackend, double, recdiff::Relu> relu;
  const Mat<double>& yr = relu.forward(ctx, x);
  CHECK(yr(0, 0) == 0.0);
  CHECK(yr(1, 2) == 3.0);
  CHECK(relu.num_parameters() == 0);
  CHECK(recdiff::nn::parameters_of(relu).empty());
  // No parameters: without the input gradient there is nothing to do.
  CHECK(relu.backward(ctx, x, false) == nullptr);
  const Mat<double>* dx = relu.backward(ctx, Mat<double>::Ones(2, 3), true);
  REQUIRE(dx != nullptr);
  CHECK((*dx)(0, 0) == 0.0);
  CHECK((*dx)(1, 2) == 1.0);
}

TEMPLATE_TEST_CASE("Activation: input gradient matches finite differences (Tanh, Sigmoid, Relu, "
                   "LeakyRelu)",
                   "[nn][gradcheck]", float, double) {
  SECTION("Tanh") { check_activation_module<TestType>(recdiff::Tanh{}); }
  SECTION("Sigmoid") { check_activation_module<TestType>(recdiff::Sigmoid{}); }
  SECTION("Relu") { check_activation_module<TestType>(recdiff::Relu{}); }
  SECTION("LeakyRelu") { check_activation_module<TestType>(recdiff::LeakyRelu{0.1}); }
}
