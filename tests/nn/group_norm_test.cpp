// GroupNorm(1, C): closed forms, the xtensor reference over (N, C, L) and (N, C, H, W) maps,
// finite-difference gradients (one and several chunks per plane), accumulation, thread-count
// independence and argument checks.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/nn/group_norm.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"
#include "nn/unet_reference.hpp"

using recdiff::CpuBackend;
using recdiff::test::Array;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
using recdiff::test::Shape;
template <class T>
using GroupNorm = recdiff::nn::GroupNorm<CpuBackend, T>;

static_assert(recdiff::Module<GroupNorm<float>, CpuBackend>);

TEST_CASE("GroupNorm: one group normalises over all channels and positions of a sample",
          "[nn][group_norm]") {
  CpuBackend::Context ctx(1);
  GroupNorm<double> norm(2);
  CHECK(norm.eps() == 1e-5);
  CHECK(norm.weight() == Mat<double>::Ones(1, 2));
  CHECK(norm.bias() == Mat<double>::Zero(1, 2));
  CHECK(norm.num_parameters() == 4);
  CHECK(recdiff::test::parameter_names(norm, "n.") == std::vector<std::string>{"n.weight", "n.bias"});
  // Sample 0: channels [1 2] and [3 6]: mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5.
  // Sample 1: a constant map: variance 0, output 0 (eps keeps it finite).
  Mat<double> x(2, 4);
  x << 1, 2, 3, 6, 5, 5, 5, 5;
  const double s = std::sqrt(3.5 + 1e-5);
  const Mat<double>& y = norm.forward(ctx, x);
  CHECK(y(0, 0) == Approx(-2 / s));
  CHECK(y(0, 1) == Approx(-1 / s));
  CHECK(y(0, 2) == 0.0);
  CHECK(y(0, 3) == Approx(3 / s));
  CHECK(y.row(1).isZero());
  CHECK(norm.mean()(0, 0) == 3.0);
  CHECK(norm.inverse_std()(1, 0) == Approx(1 / std::sqrt(1e-5)));
  // The affine map is per channel: gamma_c and beta_c act on all positions of channel c.
  norm.weight() << 2, -1;
  norm.bias() << 0.5, 10;
  const Mat<double>& z = norm.forward(ctx, x);
  CHECK(z(0, 0) == Approx(-4 / s + 0.5));
  CHECK(z(0, 1) == Approx(-2 / s + 0.5));
  CHECK(z(0, 2) == 10.0);
  CHECK(z(0, 3) == Approx(-3 / s + 10));
  CHECK(z(1, 2) == 10.0);
  norm.initialize(ctx);
  CHECK(norm.weight() == Mat<double>::Ones(1, 2));
}

TEST_CASE("GroupNorm: forward equals the xtensor reference", "[nn][group_norm]") {
  CpuBackend::Context ctx(2);
  struct Case {
    std::size_t n, c, h, w;
  };
  for (const Case& k : {Case{3, 1, 1, 10}, Case{2, 3, 1, 600}, Case{1, 2, 7, 90}, Case{2, 3, 4, 5}}) {
    INFO(k.n << " x " << k.c << " x " << k.h << " x " << k.w);
    GroupNorm<double> norm(static_cast<int>(k.c));
    norm.weight() = random_matrix<double>(1, static_cast<std::int64_t>(k.c), 3);
    norm.bias() = random_matrix<double>(1, static_cast<std::int64_t>(k.c), 4);
    const Mat<double> x = 3.0 * random_matrix<double>(static_cast<std::int64_t>(k.n),
                                                      static_cast<std::int64_t>(k.c * k.h * k.w), 5);
    const Shape shape{k.n, k.c, k.h, k.w};
    const Array ref = recdiff::test::group_norm_ref(
        recdiff::test::to_array(x, shape), recdiff::test::to_array(norm.weight(), Shape{1, k.c}),
        recdiff::test::to_array(norm.bias(), Shape{1, k.c}));
    CHECK(recdiff::test::max_relative_difference(
              recdiff::test::to_array(norm.forward(ctx, x), shape), ref) < 1e-12);
  }
}

TEMPLATE_TEST_CASE("GroupNorm: gradients match finite differences", "[nn][group_norm][gradcheck]",
                   float, double) {
  using T = TestType;
  struct Case {
    int n, c, s;
  };
  // One short plane, several channels, and (double only) planes of several chunks.
  std::vector<Case> cases{{3, 1, 8}, {2, 3, 7}, {1, 2, 20}};
  if constexpr (std::is_same_v<T, double>) cases.push_back({2, 2, 300});
  for (const Case& k : cases) {
    INFO(k.n << " samples, " << k.c << " channels of " << k.s);
    GroupNorm<T> norm(k.c);
    norm.weight() = Mat<T>::Ones(1, k.c) + T(0.5) * random_matrix<T>(1, k.c, 6);
    norm.bias() = random_matrix<T>(1, k.c, 7);
    const auto check = recdiff::test::check_module(norm, random_matrix<T>(k.n, k.c * k.s, 8));
    recdiff::test::require_gradients<T>(check, 2);
  }
}

TEST_CASE("GroupNorm: gradients accumulate, and the bits do not depend on the thread count",
          "[nn][group_norm]") {
  GroupNorm<double> norm(3);
  norm.weight() << 1.5, -0.5, 2;
  recdiff::test::check_accumulation(norm, random_matrix<double>(2, 3 * 11, 9));

  GroupNorm<float> a(3), b(3);
  const Mat<float> x = random_matrix<float>(1, 3 * 200 * 9, 10);  // one image of 3 x 200 x 9
  const Mat<float> dy = random_matrix<float>(1, 3 * 200 * 9, 11);
  auto pa = recdiff::nn::parameters_of(a);
  auto pb = recdiff::nn::parameters_of(b);
  recdiff::nn::zero_grad(pa);
  recdiff::nn::zero_grad(pb);
  CpuBackend::Context one(1), three(3);
  CHECK(a.forward(one, x) == b.forward(three, x));
  CHECK(*a.backward(one, dy, true) == *b.backward(three, dy, true));
  CHECK(a.weight_grad() == b.weight_grad());
  CHECK(a.bias_grad() == b.bias_grad());
  CHECK(a.backward(one, dy, false) == nullptr);
}

TEST_CASE("GroupNorm: bad arguments are refused with the values named", "[nn][group_norm]") {
  CpuBackend::Context ctx(1);
  REQUIRE_THROWS_WITH(GroupNorm<double>(0), Catch::Contains("got 0"));
  REQUIRE_THROWS_AS(GroupNorm<double>(2, -1.0), std::invalid_argument);
  GroupNorm<double> norm(3);
  REQUIRE_THROWS_AS(norm.backward(ctx, Mat<double>::Zero(1, 3), true), std::logic_error);
  REQUIRE_THROWS_WITH(norm.forward(ctx, Mat<double>::Zero(2, 8)),
                      Catch::Contains("8 columns") && Catch::Contains("channels = 3"));
  norm.forward(ctx, Mat<double>::Zero(2, 9));
  REQUIRE_THROWS_WITH(norm.backward(ctx, Mat<double>::Zero(2, 6), true),
                      Catch::Contains("expected the output's 2x9"));
}
