#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/detail/xtensor_include.hpp>
#include <recdiff/nn/layer_norm.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"

using recdiff::CpuBackend;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
template <class T>
using LayerNorm = recdiff::nn::LayerNorm<CpuBackend, T>;

TEST_CASE("LayerNorm: closed forms (torch eps, BERT eps, constant rows, gamma and beta)", "[nn]") {
  CpuBackend::Context ctx(1);
  LayerNorm<double> norm(3);
  REQUIRE(norm.eps() == 1e-5);
  CHECK(norm.weight() == Mat<double>::Ones(1, 3));
  CHECK(norm.bias() == Mat<double>::Zero(1, 3));
  Mat<double> x(2, 3);
  x << 1, 2, 3, 5, 5, 5;
  const Mat<double>& y = norm.forward(ctx, x);
  // mean 2, biased variance 2/3: (x - 2) / sqrt(2/3 + 1e-5).
  const double s = std::sqrt(2.0 / 3.0 + 1e-5);
  CHECK(y(0, 0) == Approx(-1.0 / s));
  CHECK(y(0, 0) == Approx(-1.2247).epsilon(1e-4));
  CHECK(y(0, 1) == 0.0);
  CHECK(y(0, 2) == Approx(1.2247).epsilon(1e-4));
  // A constant row has variance 0: eps keeps it finite, the output is 0.
  CHECK(y.row(1).isZero());
  CHECK(norm.inverse_std()(1, 0) == Approx(1 / std::sqrt(1e-5)));
  // BERT's eps: the exact sqrt(3/2) to 1e-11.
  LayerNorm<double> bert(3, LayerNorm<double>::bert_eps);
  CHECK(bert.forward(ctx, x)(0, 2) == Approx(std::sqrt(1.5)).epsilon(1e-11));
  // y = xhat * gamma + beta.
  norm.weight() << 2, 3, -1;
  norm.bias() << 0.5, 1, 0;
  const Mat<double>& z = norm.forward(ctx, x);
  CHECK(z(0, 0) == Approx(-2.0 / s + 0.5));
  CHECK(z(0, 1) == 1.0);
  CHECK(z(0, 2) == Approx(-1.0 / s));
  CHECK(z(1, 1) == 1.0);
  CHECK(recdiff::test::parameter_names(norm, "ln.") == std::vector<std::string>{"ln.weight", "ln.bias"});
  CHECK(norm.num_parameters() == 6);
  norm.initialize(ctx);
  CHECK(norm.weight() == Mat<double>::Ones(1, 3));
  CHECK(norm.bias() == Mat<double>::Zero(1, 3));
  REQUIRE_THROWS_WITH(norm.forward(ctx, Mat<double>::Zero(2, 4)), Catch::Contains("expected 3"));
  REQUIRE_THROWS_AS(LayerNorm<double>(0), std::invalid_argument);
  REQUIRE_THROWS_AS(LayerNorm<double>(3, -1.0), std::invalid_argument);
  LayerNorm<double> fresh(3);
  REQUIRE_THROWS_AS(fresh.backward(ctx, x, true), std::logic_error);
}

TEST_CASE("LayerNorm: a (B, L, H) batch of sequences flattened to (B * L) x H matches an xtensor "
          "reference",
          "[nn]") {
  constexpr std::size_t B = 3, L = 5, H = 8;
  // The batch, with a different offset and scale per sequence and position.
  xt::xtensor<double, 3> seq = xt::xtensor<double, 3>::from_shape({B, L, H});
  const Mat<double> noise = random_matrix<double>(B * L, H, 17);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t l = 0; l < L; ++l)
      for (std::size_t h = 0; h < H; ++h)
        seq(b, l, h) = static_cast<double>(b) - 0.5 * static_cast<double>(l) +
                       (1.0 + static_cast<double>(l)) *
                           noise(static_cast<Eigen::Index>(b * L + l), static_cast<Eigen::Index>(h));
  xt::xtensor<double, 1> gamma = xt::linspace<double>(0.5, 2.0, H);
  xt::xtensor<double, 1> beta = xt::linspace<double>(-1.0, 1.0, H);

  // Reference: mean and biased variance over the last axis, broadcast back.
  const double eps = 1e-5;
  const xt::xtensor<double, 3> mean = xt::mean(seq, {2}, xt::keep_dims);
  const xt::xtensor<double, 3> var = xt::mean(xt::square(seq - mean), {2}, xt::keep_dims);
  const xt::xtensor<double, 3> expected = (seq - mean) / xt::sqrt(var + eps) * gamma + beta;

  // The module on the row-major (B * L) x H view of the same memory.
  LayerNorm<double> norm(static_cast<int>(H));
  norm.weight() = Eigen::Map<const Mat<double>>(gamma.data(), 1, H);
  norm.bias() = Eigen::Map<const Mat<double>>(beta.data(), 1, H);
  const Mat<double> x = Eigen::Map<const Mat<double>>(seq.data(), B * L, H);
  const Mat<double>& y = norm.forward(CpuBackend::Context(2), x);
  const auto got = xt::adapt(y.data(), static_cast<std::size_t>(y.size()), xt::no_ownership(), std::vector<std::size_t>{B, L, H});
  CHECK(xt::allclose(got, expected, 1e-12, 1e-12));
  // Every normalised position xhat has mean 0 and mean square var / (var + eps).
  const xt::xtensor<double, 3> xhat = (got - beta) / gamma;
  const xt::xtensor<double, 2> v = xt::view(var, xt::all(), xt::all(), 0);
  CHECK(xt::allclose(xt::mean(xhat, {2}), xt::zeros<double>({B, L}), 1e-12, 1e-12));
  CHECK(xt::allclose(xt::mean(xt::square(xhat), {2}), v / (v + eps), 1e-10, 1e-10));
}

TEMPLATE_TEST_CASE("LayerNorm: input, gamma and beta gradients match finite differences",
                   "[nn][gradcheck]", float, double) {
  using T = TestType;
  for (const double eps : {LayerNorm<T>::torch_eps, LayerNorm<T>::bert_eps}) {
    INFO("eps " << eps);
    LayerNorm<T> norm(70, eps);  // 70 columns: two blocks of the column sums
    norm.weight() = random_matrix<T>(1, 70, 1);
    norm.bias() = random_matrix<T>(1, 70, 2);
    const Mat<T> x = random_matrix<T>(6, 70, 3);
    recdiff::test::require_gradients<T>(recdiff::test::check_module(norm, x), 2);
  }
  // A narrow layer with rows of very different scales.
  LayerNorm<T> narrow(4);
  narrow.weight() << T(1.5), T(-0.5), T(1), T(2);
  Mat<T> x = random_matrix<T>(3, 4, 5);
  x.row(1) *= T(4);
  x.row(2).array() += T(3);
  recdiff::test::require_gradients<T>(recdiff::test::check_module(narrow, x), 2);
}

TEST_CASE("LayerNorm: forward and backward are bit-identical at 1 and 3 threads", "[nn]") {
  LayerNorm<float> norm(100);
  norm.weight() = random_matrix<float>(1, 100, 6);
  const Mat<float> x = random_matrix<float>(45, 100, 8), dy = random_matrix<float>(45, 100, 9);
  auto run = [&](int threads) {
    CpuBackend::Context ctx(threads);
    auto params = recdiff::nn::parameters_of(norm);
    recdiff::nn::zero_grad(params);
    const Mat<float> y = norm.forward(ctx, x);
    const Mat<float> dx = *norm.backward(ctx, dy, true);
    return std::vector<Mat<float>>{y, dx, norm.weight_grad(), norm.bias_grad()};
  };
  CHECK(run(1) == run(3));
}
