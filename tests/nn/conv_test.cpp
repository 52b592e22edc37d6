// Conv1d / Conv2d: hand-computed values, the xtensor reference, shapes, PyTorch's default
// initialisation, finite-difference gradients (stride 1 and 2, padding, with and without weight
// standardisation and bias), accumulation, thread-count independence and argument checks.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/nn/conv.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"
#include "nn/unet_reference.hpp"

using recdiff::CpuBackend;
using recdiff::test::Array;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
using recdiff::test::Shape;
namespace nn = recdiff::nn;

template <class T>
using Conv1d = nn::Conv1d<CpuBackend, T>;
template <class T>
using Conv2d = nn::Conv2d<CpuBackend, T>;

static_assert(recdiff::Module<Conv1d<float>, CpuBackend>);
static_assert(recdiff::Module<Conv2d<double>, CpuBackend>);

namespace {

// One convolution configuration of the tests.
struct Case {
  int dims, cin, cout, kernel, stride, padding;
  bool bias, ws;
  int height, width;  // input extent (height 1 for 1-D)
};

std::string label(const Case& c) {
  return std::to_string(c.dims) + "-D " + std::to_string(c.cin) + "->" + std::to_string(c.cout) +
         " k" + std::to_string(c.kernel) + " s" + std::to_string(c.stride) + " p" +
         std::to_string(c.padding) + (c.bias ? " bias" : " no bias") + (c.ws ? " WS" : "") + " " +
         std::to_string(c.height) + "x" + std::to_string(c.width);
}

const std::vector<Case> cases{
    {1, 1, 1, 3, 1, 1, true, true, 1, 9},    {1, 2, 3, 3, 1, 1, true, false, 1, 10},
    {1, 1, 1, 4, 2, 1, true, false, 1, 10},  {1, 2, 1, 7, 1, 3, false, false, 1, 11},
    {1, 3, 2, 1, 1, 0, true, false, 1, 6},   {1, 2, 2, 3, 2, 0, true, true, 1, 9},
    {2, 1, 1, 3, 1, 1, true, true, 5, 6},    {2, 2, 3, 3, 1, 1, true, false, 4, 5},
    {2, 1, 1, 4, 2, 1, true, false, 6, 8},   {2, 1, 2, 7, 1, 3, true, false, 4, 4},
    {2, 3, 2, 1, 1, 0, false, true, 3, 5},   {2, 2, 1, 3, 2, 0, true, true, 5, 7},
};

nn::ConvOptions options(const Case& c) { return {c.stride, c.padding, c.bias, c.ws}; }

// Runs `f(conv)` with the layer of case c, initialised from `seed`.
template <class T, class F>
void with_conv(const Case& c, std::uint64_t seed, F f) {
  CpuBackend::Context ctx(2);
  if (c.dims == 1) {
    Conv1d<T> conv(c.cin, c.cout, c.kernel, options(c));
    conv.initialize(ctx, seed, 3);
    f(conv);
  } else {
    Conv2d<T> conv(c.cin, c.cout, c.kernel, c.width, options(c));
    conv.initialize(ctx, seed, 3);
    f(conv);
  }
}

}  // namespace

TEST_CASE("Conv1d: a tiny convolution by hand (padding, stride, bias, weight standardisation)",
          "[nn][conv]") {
  CpuBackend::Context ctx(1);
  Mat<double> x(1, 4);
  x << 1, 2, 3, 4;
  Conv1d<double> conv(1, 1, 3, {1, 1, true, false});
  conv.weight() << 1, 2, 3;
  conv.bias() << 0.5;
  // Zero-padded [0 1 2 3 4 0]: y_l = x_{l-1} + 2 x_l + 3 x_{l+1} + 0.5.
  Mat<double> expected(1, 4);
  expected << 8.5, 14.5, 20.5, 11.5;
  CHECK(conv.forward(ctx, x) == expected);
  // Stride 2: positions 0 and 2 only.
  Conv1d<double> strided(1, 1, 3, {2, 1, true, false});
  strided.weight() << 1, 2, 3;
  strided.bias() << 0.5;
  Mat<double> expected2(1, 2);
  expected2 << 8.5, 20.5;
  CHECK(strided.forward(ctx, x) == expected2);
  // Weight standardisation: [1 2 3] has mean 2 and biased variance 2/3, so the kernel in use is
  // [-1 0 1] / sqrt(2/3 + 1e-5).
  Conv1d<double> ws(1, 1, 3, {1, 1, true, true});
  ws.weight() << 1, 2, 3;
  ws.bias() << 0.5;
  const double s = std::sqrt(2.0 / 3.0 + 1e-5);
  const Mat<double>& y = ws.forward(ctx, x);
  CHECK(y(0, 0) == Approx(2 / s + 0.5));
  CHECK(y(0, 1) == Approx(2 / s + 0.5));
  CHECK(y(0, 2) == Approx(2 / s + 0.5));
  CHECK(y(0, 3) == Approx(-3 / s + 0.5));
  CHECK(ws.kernel_in_use()(0, 0) == Approx(-1 / s));
  CHECK(ws.kernel_in_use()(0, 1) == 0.0);
  CHECK(ws.weight()(0, 2) == 3.0);  // the stored weight is untouched
  // Two input channels, two output channels, kernel 1: y(co) = sum_ci w(co, ci) x(ci) + b(co);
  // the rows of x are the samples, channel-major: [x(c0, l0) x(c0, l1) x(c1, l0) x(c1, l1)].
  Conv1d<double> mix(2, 2, 1);
  mix.weight() << 1, 10, -1, 2;
  mix.bias() << 0, 100;
  Mat<double> x2(2, 4);
  x2 << 1, 2, 3, 4, 5, 6, 7, 8;
  Mat<double> expected3(2, 4);
  expected3 << 31, 42, 105, 106, 75, 86, 109, 110;
  CHECK(mix.forward(ctx, x2) == expected3);
}

TEST_CASE("Conv2d: a 2 x 2 kernel on a 3 x 3 image by hand (no padding, then stride 2 with padding)",
          "[nn][conv]") {
  CpuBackend::Context ctx(1);
  Mat<double> x(1, 9);
  x << 1, 2, 3, 4, 5, 6, 7, 8, 9;  // rows [1 2 3], [4 5 6], [7 8 9]
  Conv2d<double> conv(1, 1, 2, 3, {1, 0, false, false});
  conv.weight() << 1, 2, 3, 4;  // [[1 2], [3 4]]
  Mat<double> expected(1, 4);
  expected << 37, 47, 67, 77;
  CHECK(conv.forward(ctx, x) == expected);
  // Stride 2, padding 1: windows at rows/cols {-1, 0} and {1, 2}.
  Conv2d<double> strided(1, 1, 2, 3, {2, 1, true, false});
  strided.weight() << 1, 2, 3, 4;
  strided.bias() << -1;
  Mat<double> expected2(1, 4);
  expected2 << 4 - 1, 18 - 1, 36 - 1, 77 - 1;
  CHECK(strided.forward(ctx, x) == expected2);
  CHECK(strided.output_extent(3) == 2);
}

TEST_CASE("Conv: output shapes follow floor((L + 2p - k) / s) + 1", "[nn][conv]") {
  CpuBackend::Context ctx(1);
  // The U-Nets' layers on I = 10 (1-D) and a 6 x 10 image (2-D).
  struct Shape1 {
    int cin, cout, k, s, p;
    std::int64_t lout;
  };
  for (const auto& c : {Shape1{1, 1, 7, 1, 3, 10}, Shape1{1, 1, 4, 2, 1, 5}, Shape1{1, 2, 3, 1, 1, 10},
                        Shape1{2, 1, 1, 1, 0, 10}, Shape1{1, 1, 3, 2, 0, 4}}) {
    Conv1d<float> conv(c.cin, c.cout, c.k, {c.s, c.p, true, false});
    const Mat<float>& y = conv.forward(ctx, Mat<float>::Zero(3, c.cin * 10));
    CHECK(y.rows() == 3);
    CHECK(y.cols() == c.cout * c.lout);
    CHECK(conv.output_extent(10) == c.lout);
    Conv2d<float> conv2(c.cin, c.cout, c.k, 10, {c.s, c.p, true, false});
    const Mat<float>& y2 = conv2.forward(ctx, Mat<float>::Zero(2, c.cin * 6 * 10));
    CHECK(y2.rows() == 2);
    CHECK(y2.cols() == c.cout * conv2.output_extent(6) * c.lout);
  }
}

TEST_CASE("Conv: forward equals the xtensor reference", "[nn][conv]") {
  CpuBackend::Context ctx(2);
  for (const Case& c : cases) {
    INFO(label(c));
    with_conv<double>(c, 5, [&](auto& conv) {
      const std::int64_t n = 3;
      const Mat<double> x = random_matrix<double>(n, c.cin * c.height * c.width, 21);
      const Mat<double>& y = conv.forward(ctx, x);
      const Array xa = recdiff::test::to_array(
          x, Shape{3, std::size_t(c.cin), std::size_t(c.height), std::size_t(c.width)});
      const Array w = recdiff::test::to_array(conv.weight(), Shape{std::size_t(c.cout), std::size_t(conv.fan_in())});
      const Array b = recdiff::test::to_array(conv.bias(), Shape{1, std::size_t(conv.bias().cols())});
      const Array ref = recdiff::test::conv_ref(xa, w, c.bias ? &b : nullptr, c.kernel, c.dims,
                                                c.stride, c.padding, c.ws);
      const Array ya = recdiff::test::to_array(y, Shape(ref.shape().begin(), ref.shape().end()));
      CHECK(recdiff::test::max_relative_difference(ya, ref) < 1e-13);
    });
  }
}

TEST_CASE("Conv: PyTorch's default initialisation, reproducible from the seed", "[nn][conv]") {
  CpuBackend::Context ctx(2);
  Conv2d<double> a(2, 3, 3, 5), b(2, 3, 3, 5);
  a.initialize(ctx, 7, 4);
  b.initialize(CpuBackend::Context(1), 7, 4);
  CHECK(a.weight() == b.weight());
  CHECK(a.bias() == b.bias());
  const double bound = 1 / std::sqrt(18.0);  // fan_in = 2 x 3 x 3
  CHECK(a.weight().maxCoeff() < bound);
  CHECK(a.weight().minCoeff() >= -bound);
  CHECK(a.weight().maxCoeff() > 0.5 * bound);  // 54 draws spread over the interval
  CHECK(a.weight().minCoeff() < -0.5 * bound);
  CHECK(a.bias().cwiseAbs().maxCoeff() < bound);
  CHECK(a.bias().cwiseAbs().minCoeff() > 0);
  b.initialize(ctx, 8, 4);
  CHECK(a.weight() != b.weight());
  b.initialize(ctx, 7, 5);
  CHECK(a.weight() != b.weight());
  CHECK(a.num_parameters() == 54 + 3);
  Conv1d<double> plain(2, 3, 3, {1, 0, false, false});
  CHECK(plain.num_parameters() == 18);
  CHECK(recdiff::test::parameter_names(plain, "c.") == std::vector<std::string>{"c.weight"});
  CHECK(recdiff::test::parameter_names(a, "c.") == std::vector<std::string>{"c.weight", "c.bias"});
}

TEMPLATE_TEST_CASE("Conv: gradients match finite differences", "[nn][conv][gradcheck]", float,
                   double) {
  using T = TestType;
  for (const Case& c : cases) {
    INFO(label(c));
    with_conv<T>(c, 9, [&](auto& conv) {
      const Mat<T> x = random_matrix<T>(2, c.cin * c.height * c.width, 31);
      const auto check = recdiff::test::check_module(conv, x);
      recdiff::test::require_gradients<T>(check, c.bias ? 2 : 1);
    });
  }
}

TEST_CASE("Conv: gradients over several chunks of output positions", "[nn][conv][gradcheck]") {
  // 1-D rows of 600 positions (three chunks of 256 output columns) and a 2 x 300 image.
  Conv1d<double> conv(2, 2, 3, {1, 1, true, true});
  conv.initialize(CpuBackend::Context(2), 3, 1);
  recdiff::test::require_gradients<double>(
      recdiff::test::check_module(conv, random_matrix<double>(2, 2 * 600, 41)), 2);
  Conv2d<double> conv2(1, 1, 4, 300, {2, 1, true, false});
  conv2.initialize(CpuBackend::Context(2), 3, 2);
  recdiff::test::require_gradients<double>(
      recdiff::test::check_module(conv2, random_matrix<double>(1, 4 * 300, 43)), 2);
}

TEST_CASE("Conv: gradients accumulate", "[nn][conv]") {
  Conv1d<double> conv(2, 3, 3, {2, 1, true, true});
  conv.initialize(CpuBackend::Context(2), 3, 1);
  recdiff::test::check_accumulation(conv, random_matrix<double>(3, 2 * 9, 5));
  Conv2d<double> conv2(2, 1, 3, 4, {1, 1, true, false});
  conv2.initialize(CpuBackend::Context(2), 3, 1);
  recdiff::test::check_accumulation(conv2, random_matrix<double>(2, 2 * 3 * 4, 6));
}

TEST_CASE("Conv: the same bits at any thread count", "[nn][conv]") {
  for (const int threads : {1, 3}) {
    INFO(threads << " threads");
    for (const bool ws : {false, true}) {
      Conv2d<float> a(2, 3, 3, 530, {1, 1, true, ws}), b(2, 3, 3, 530, {1, 1, true, ws});
      a.initialize(CpuBackend::Context(2), 1, 0);
      b.initialize(CpuBackend::Context(2), 1, 0);
      const Mat<float> x = random_matrix<float>(1, 2 * 20 * 530, 8);
      const Mat<float> dy = random_matrix<float>(1, 3 * 20 * 530, 9);
      CpuBackend::Context one(threads), two(2);
      auto pa = nn::parameters_of(a);
      auto pb = nn::parameters_of(b);
      nn::zero_grad(pa);
      nn::zero_grad(pb);
      CHECK(a.forward(one, x) == b.forward(two, x));
      CHECK(*a.backward(one, dy, true) == *b.backward(two, dy, true));
      CHECK(a.weight_grad() == b.weight_grad());
      CHECK(a.bias_grad() == b.bias_grad());
    }
  }
}

TEST_CASE("Conv: bad arguments are refused with the values named", "[nn][conv]") {
  CpuBackend::Context ctx(1);
  REQUIRE_THROWS_WITH(Conv1d<double>(0, 1, 3), Catch::Contains("got 0, 1, 3"));
  REQUIRE_THROWS_AS(Conv1d<double>(1, 0, 3), std::invalid_argument);
  REQUIRE_THROWS_AS(Conv1d<double>(1, 1, 0), std::invalid_argument);
  REQUIRE_THROWS_WITH(Conv1d<double>(1, 1, 3, {0, 1, true, false}), Catch::Contains("stride 0"));
  REQUIRE_THROWS_WITH(Conv1d<double>(1, 1, 3, {1, -1, true, false}), Catch::Contains("padding -1"));
  REQUIRE_THROWS_WITH(Conv2d<double>(1, 1, 3, 0), Catch::Contains("width"));
  Conv1d<double> conv(2, 1, 3);
  REQUIRE_THROWS_AS(conv.backward(ctx, Mat<double>::Zero(1, 4), true), std::logic_error);
  REQUIRE_THROWS_WITH(conv.forward(ctx, Mat<double>::Zero(1, 5)),
                      Catch::Contains("5 columns") && Catch::Contains("in_channels = 2"));
  REQUIRE_THROWS_WITH(conv.forward(ctx, Mat<double>::Zero(1, 2)), Catch::Contains("smaller than the kernel"));
  conv.forward(ctx, Mat<double>::Zero(1, 8));
  REQUIRE_THROWS_WITH(conv.backward(ctx, Mat<double>::Zero(1, 3), true), Catch::Contains("expected the output's 1x2"));
  Conv2d<double> conv2(1, 1, 3, 4);
  REQUIRE_THROWS_WITH(conv2.forward(ctx, Mat<double>::Zero(1, 10)),
                      Catch::Contains("in_channels x width = 4"));
}
