// Silu and Gelu: values at known points, derivatives of the input against finite differences,
// the Activation module (which keeps its input for them) against finite differences, and the
// compile-time split between output- and input-derivative activations.
#include <catch2/catch.hpp>

#include <cmath>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/activation.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"

using recdiff::CpuBackend;
using recdiff::test::Mat;
using recdiff::test::random_matrix;

static_assert(recdiff::InputDerivativeActivation<recdiff::Silu, double>);
static_assert(recdiff::InputDerivativeActivation<recdiff::Gelu, float>);
static_assert(!recdiff::InputDerivativeActivation<recdiff::Tanh, double>);
// Neither offers an output-based derivative, so the fused Linear<B, T, Act> (which keeps only its
// output) cannot be instantiated with them.
template <class A>
concept HasOutputDerivative = requires(const A& a) { a.derivative(1.0); };
static_assert(HasOutputDerivative<recdiff::Tanh>);
static_assert(!HasOutputDerivative<recdiff::Silu>);
static_assert(!HasOutputDerivative<recdiff::Gelu>);
static_assert(recdiff::Module<recdiff::nn::Activation<CpuBackend, float, recdiff::Gelu>, CpuBackend>);

TEST_CASE("Silu and Gelu: values at known points", "[nn][math]") {
  const recdiff::Silu silu;
  const recdiff::Gelu gelu;
  CHECK(silu(0.0) == 0.0);
  CHECK(silu(1.0) == Approx(0.7310585786300049));
  CHECK(silu(-2.0) == Approx(-0.23840584404423515));
  CHECK(silu(-800.0) == 0.0);  // exp overflows to inf: -800 / inf = -0
  CHECK(silu(800.0) == 800.0);
  CHECK(silu.input_derivative(0.0) == 0.5);
  CHECK(silu.input_derivative(-800.0) == 0.0);
  // GELU (erf form): x Phi(x).
  CHECK(gelu(0.0) == 0.0);
  CHECK(gelu(1.0) == Approx(0.8413447460685429));
  CHECK(gelu(-0.5) == Approx(-0.15426876936299344));
  CHECK(gelu(3.0) == Approx(2.99595030590511).epsilon(1e-14));
  CHECK(gelu.input_derivative(0.0) == 0.5);
  CHECK(gelu(1.0f) == Approx(0.8413447f));
  CHECK(silu(1.0f) == Approx(0.7310586f));
}

TEST_CASE("Silu and Gelu: input_derivative matches finite differences", "[nn][gradcheck]") {
  for (const double x : {-6.0, -2.3, -0.7, -0.1, 0.0, 0.2, 0.9, 1.7, 5.0}) {
    INFO("x = " << x);
    const double h = 1e-6;
    const recdiff::Silu silu;
    const recdiff::Gelu gelu;
    CHECK(silu.input_derivative(x) ==
          Approx((silu(x + h) - silu(x - h)) / (2 * h)).epsilon(1e-8).margin(1e-10));
    CHECK(gelu.input_derivative(x) ==
          Approx((gelu(x + h) - gelu(x - h)) / (2 * h)).epsilon(1e-8).margin(1e-10));
  }
}

TEMPLATE_TEST_CASE("Activation<Silu> and Activation<Gelu>: gradients from the stored input",
                   "[nn][gradcheck]", float, double) {
  using T = TestType;
  CpuBackend::Context ctx(2);
  // 3 x the usual range, so that inputs fall on both sides of the functions' minima.
  const Mat<T> x = T(3) * random_matrix<T>(5, 7, 12);
  SECTION("Silu") {
    recdiff::nn::Activation<CpuBackend, T, recdiff::Silu> module;
    recdiff::test::require_gradients<T>(recdiff::test::check_module(module, x), 0);
    const Mat<T>& y = module.forward(ctx, x);
    CHECK(y(1, 2) == recdiff::Silu{}(x(1, 2)));
  }
  SECTION("Gelu") {
    recdiff::nn::Activation<CpuBackend, T, recdiff::Gelu> module;
    recdiff::test::require_gradients<T>(recdiff::test::check_module(module, x), 0);
    const Mat<T>& y = module.forward(ctx, x);
    CHECK(y(4, 6) == recdiff::Gelu{}(x(4, 6)));
  }
}

TEST_CASE("Activation: backward needs a forward pass and the output's shape", "[nn]") {
  CpuBackend::Context ctx(1);
  recdiff::nn::Activation<CpuBackend, double, recdiff::Silu> silu;
  REQUIRE_THROWS_AS(silu.backward(ctx, Mat<double>::Zero(2, 2), true), std::logic_error);
  CHECK(silu.backward(ctx, Mat<double>::Zero(2, 2), false) == nullptr);
  silu.forward(ctx, Mat<double>::Ones(2, 2));
  REQUIRE_THROWS_WITH(silu.backward(ctx, Mat<double>::Zero(2, 3), true),
                      Catch::Contains("expected the output's 2x2"));
}
