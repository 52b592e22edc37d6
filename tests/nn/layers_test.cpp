#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/row_l2_norm.hpp>
#include <recdiff/nn/step_embedding.hpp>

#include "nn/gradcheck.hpp"

using recdiff::CpuBackend;
template <class T>
using Matrix = CpuBackend::Matrix<T>;

TEST_CASE("sinusoidal_embedding: check values of diffrec.md 3.2 (E = 10)", "[nn]") {
  CpuBackend::Context ctx(1);
  const std::vector<int> steps{0, 1};
  Matrix<float> te;
  recdiff::nn::sinusoidal_embedding<CpuBackend>(ctx, steps, 10, te);
  REQUIRE(te.rows() == 2);
  REQUIRE(te.cols() == 10);
  for (int j = 0; j < 5; ++j) CHECK(te(0, j) == 1.0f);
  for (int j = 5; j < 10; ++j) CHECK(te(0, j) == 0.0f);
  const float k1[10] = {0.5403023f, 0.9874668f, 0.9996845f, 0.9999921f, 0.9999998f,
                        0.8414710f, 0.1578266f, 0.0251162f, 0.0039811f, 0.0006310f};
  for (int j = 0; j < 10; ++j) CHECK(te(1, j) == Approx(k1[j]).epsilon(2e-6).margin(5e-8));
  // sin(k freq_j) ~ k freq_j for small arguments: the frequencies themselves.
  const std::vector<int> big{1000};
  recdiff::nn::sinusoidal_embedding<CpuBackend>(ctx, big, 10, te);
  CHECK(te(0, 9) == Approx(std::sin(1000 * 0.000630957344f)).epsilon(1e-5));
}

TEST_CASE("sinusoidal_embedding: odd sizes end with a zero column", "[nn]") {
  CpuBackend::Context ctx(1);
  const std::vector<int> steps{3};
  Matrix<double> te;
  recdiff::nn::sinusoidal_embedding<CpuBackend>(ctx, steps, 5, te);
  // half = 2: freq = (1, exp(-ln(10000) / 2) = 0.01).
  CHECK(te(0, 0) == Approx(std::cos(3.0)).epsilon(1e-6));
  CHECK(te(0, 1) == Approx(std::cos(0.03)).epsilon(1e-6));
  CHECK(te(0, 2) == Approx(std::sin(3.0)).epsilon(1e-6));
  CHECK(te(0, 3) == Approx(std::sin(0.03)).epsilon(1e-6));
  CHECK(te(0, 4) == 0.0);
  REQUIRE_THROWS_AS(recdiff::nn::sinusoidal_embedding<CpuBackend>(ctx, steps, 1, te),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(recdiff::nn::sinusoidal_embedding<CpuBackend>(ctx, steps, 1, te),
                      Catch::Contains("dim must be >= 2"));
}

TEST_CASE("Dropout: drops a fraction p, scales survivors, reproducible per counter", "[nn]") {
  CpuBackend::Context one(1), two(2);
  const recdiff::nn::Dropout<CpuBackend, float> dropout(0.3);
  const Matrix<float> x = Matrix<float>::Constant(203, 157, 2.0f);
  Matrix<float> a, b, c;
  dropout.forward(one, x, a, 11, 5);
  dropout.forward(two, x, b, 11, 5);
  dropout.forward(one, x, c, 11, 6);
  CHECK(a == b);  // bits do not depend on the thread count
  CHECK(a != c);  // a new counter draws a new mask
  std::int64_t zeros = 0;
  for (Eigen::Index k = 0; k < a.size(); ++k) {
    const float v = a.data()[k];
    if (v == 0.0f)
      ++zeros;
    else
      REQUIRE(v == Approx(2.0f / 0.7f));
  }
  // 31,871 Bernoulli(0.3) draws: standard deviation of the fraction ~ 0.0026.
  CHECK(static_cast<double>(zeros) / a.size() == Approx(0.3).margin(0.012));
  // The backward pass applies the same mask and scale.
  Matrix<float> dy = Matrix<float>::Constant(203, 157, 1.0f), dx;
  dropout.backward(one, dy, dx, 11, 5);
  CHECK(dx == a / 2.0f);
  using FloatDropout = recdiff::nn::Dropout<CpuBackend, float>;
  REQUIRE_THROWS_AS(FloatDropout(1.0), std::invalid_argument);
  REQUIRE_THROWS_WITH(FloatDropout(-0.1), Catch::Contains("p must be in [0, 1)"));
}

TEST_CASE("Dropout: element (i, j) is dropped exactly when philox uniform (i, j) < p", "[nn]") {
  // 157 columns: two full 64-column kernel groups and a ragged one of 29.
  const recdiff::nn::Dropout<CpuBackend, float> dropout(0.4);
  Matrix<float> x(9, 157), y;
  for (Eigen::Index k = 0; k < x.size(); ++k) x.data()[k] = 0.01f * static_cast<float>(k) - 3.0f;
  dropout.forward(CpuBackend::Context(1), x, y, 23, 4);
  const float scale = 1.0f / (1.0f - 0.4f);
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      const float u = recdiff::philox::uniform(23, recdiff::philox::Stream::dropout, 4,
                                               static_cast<std::uint32_t>(i),
                                               static_cast<std::uint32_t>(j));
      REQUIRE(y(i, j) == (u < 0.4f ? 0.0f : x(i, j) * scale));
    }
  // In place gives the same bits.
  Matrix<float> z = x;
  dropout.forward(CpuBackend::Context(2), z, z, 23, 4);
  CHECK(z == y);
}

TEST_CASE("RowL2Norm: unit rows, zero rows kept, backward matches finite differences",
          "[nn][gradcheck]") {
  CpuBackend::Context ctx(1);
  recdiff::nn::RowL2Norm<CpuBackend, double> norm;
  Matrix<double> x(3, 4), y;
  x << 3, 0, 4, 0, 0, 0, 0, 0, 1, -2, 0.5, 1.5;
  norm.forward(ctx, x, y);
  CHECK(y(0, 0) == Approx(0.6));
  CHECK(y(0, 2) == Approx(0.8));
  CHECK(y.row(1).isZero());
  CHECK(y.row(2).norm() == Approx(1.0));
  CHECK(norm.divisors()(1, 0) == 1e-12);

  Matrix<double> xs = x.bottomRows(1).replicate(2, 1);
  xs(1, 3) = -0.25;
  const Matrix<double> r = Matrix<double>::Random(2, 4);
  auto loss = [&] {
    recdiff::nn::RowL2Norm<CpuBackend, double> n;
    Matrix<double> out;
    n.forward(ctx, xs, out);
    return out.cwiseProduct(r).sum();
  };
  Matrix<double> ys, dx;
  norm.forward(ctx, xs, ys);
  norm.backward(ctx, ys, r, dx);
  CHECK(recdiff::test::gradient_error(xs, dx, loss) < recdiff::test::gradcheck_tolerance);
}

TEST_CASE("init: weight and bias statistics of both policies", "[nn]") {
  CpuBackend::Context ctx(2);
  recdiff::nn::Linear<CpuBackend, float> layer(600, 200);
  layer.initialize(ctx, recdiff::nn::Init::diffrec, 1, 3);
  const auto& w = layer.weight();
  const double mean = w.cast<double>().mean();
  const double sd = std::sqrt((w.cast<double>().array() - mean).square().mean());
  // 120,000 draws: the sample std is within ~0.3% of sqrt(2 / 800) = 0.05.
  CHECK(mean == Approx(0.0).margin(0.0005));
  CHECK(sd == Approx(std::sqrt(2.0 / 800.0)).epsilon(0.01));
  const double bias_sd = std::sqrt(layer.bias().cast<double>().array().square().mean());
  CHECK(bias_sd == Approx(0.001).epsilon(0.15));  // 200 draws

  recdiff::nn::Linear<CpuBackend, float> same(600, 200), xavier(600, 200);
  same.initialize(CpuBackend::Context(1), recdiff::nn::Init::diffrec, 1, 3);
  CHECK(same.weight() == layer.weight());  // reproducible, thread-count independent
  CHECK(same.bias() == layer.bias());
  xavier.initialize(ctx, recdiff::nn::Init::xavier_zero_bias, 1, 3);
  CHECK(xavier.weight() == layer.weight());
  CHECK(xavier.bias().isZero());
  same.initialize(ctx, recdiff::nn::Init::diffrec, 1, 4);
  CHECK(same.weight() != layer.weight());  // another layer index, other numbers
}

TEST_CASE("init: a block or a transposed copy gets the numbers of the logical matrix", "[nn]") {
  CpuBackend::Context ctx(2);
  Matrix<double> full(9, 13), left(9, 6), right_t(7, 9);
  recdiff::nn::fill_normal<CpuBackend>(ctx, full, 0.5, 3, 8);
  recdiff::nn::fill_normal<CpuBackend>(ctx, left, 0.5, 3, 8, 0);
  recdiff::nn::fill_normal<CpuBackend>(ctx, right_t, 0.5, 3, 8, 6, true);
  CHECK(left == full.leftCols(6));
  CHECK(right_t == full.rightCols(7).transpose());
}
