#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/input_linear.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/row_l2_norm.hpp>
#include <recdiff/nn/step_embedding.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"
#include "support/toy_data.hpp"

using recdiff::CpuBackend;
template <class T>
using Matrix = CpuBackend::Matrix<T>;

TEST_CASE("sinusoidal_embedding: check values of the released code (E = 10)", "[nn]") {
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

TEST_CASE("Dropout: drops a fraction p, scales survivors, reproducible per counter and thread count",
          "[nn]") {
  CpuBackend::Context one(1), two(2);
  recdiff::nn::Dropout<CpuBackend, float> dropout(0.3);
  const Matrix<float> x = Matrix<float>::Constant(203, 157, 2.0f);
  const Matrix<float> a = dropout.forward(one, x, recdiff::test::training_pass(5, 11));
  const Matrix<float> b = dropout.forward(two, x, recdiff::test::training_pass(5, 11));
  const Matrix<float> c = dropout.forward(one, x, recdiff::test::training_pass(6, 11));
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
  CHECK(static_cast<double>(zeros) / static_cast<double>(a.size()) == Approx(0.3).margin(0.012));
  // The backward pass applies the same mask and scale (the last forward pass used counter 6).
  dropout.forward(two, x, recdiff::test::training_pass(5, 11));
  const Matrix<float> dy = Matrix<float>::Constant(203, 157, 1.0f);
  const Matrix<float>* dx = dropout.backward(one, dy, true);
  REQUIRE(dx != nullptr);
  CHECK(*dx == a / 2.0f);
  CHECK(dropout.backward(one, dy, false) == nullptr);
  // apply() with an explicit (seed, counter) is the same function.
  Matrix<float> d;
  dropout.apply(two, x, d, 11, 5);
  CHECK(d == a);
  using FloatDropout = recdiff::nn::Dropout<CpuBackend, float>;
  REQUIRE_THROWS_AS(FloatDropout(1.0), std::invalid_argument);
  REQUIRE_THROWS_WITH(FloatDropout(-0.1), Catch::Contains("p must be in [0, 1)"));
}

TEST_CASE("Dropout: element (i, j) is dropped exactly when philox uniform (i, j) < p", "[nn]") {
  // 157 columns: two full 64-column kernel groups and a ragged one of 29.
  const recdiff::nn::Dropout<CpuBackend, float> dropout(0.4);
  Matrix<float> x(9, 157), y;
  for (Eigen::Index k = 0; k < x.size(); ++k) x.data()[k] = 0.01f * static_cast<float>(k) - 3.0f;
  dropout.apply(CpuBackend::Context(1), x, y, 23, 4);
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
  dropout.apply(CpuBackend::Context(2), z, z, 23, 4);
  CHECK(z == y);
}

TEST_CASE("Dropout: outside training (or with p = 0) it is the identity; a salt changes the mask",
          "[nn]") {
  CpuBackend::Context ctx(2);
  const Matrix<double> x = recdiff::test::random_matrix<double>(12, 70, 3);
  recdiff::nn::Dropout<CpuBackend, double> dropout(0.5), none(0.0), salted(0.5, 1);
  CHECK(&dropout.forward(ctx, x) == &x);  // an evaluation pass returns its input
  CHECK(dropout.backward(ctx, x, true) == &x);
  CHECK(&none.forward(ctx, x, recdiff::test::training_pass()) == &x);
  CHECK(none.backward(ctx, x, true) == &x);
  CHECK(dropout.num_parameters() == 0);
  // salt s with counter c draws the mask of counter c + s.
  const Matrix<double> a = salted.forward(ctx, x, recdiff::test::training_pass(3));
  const Matrix<double> b = dropout.forward(ctx, x, recdiff::test::training_pass(4));
  const Matrix<double> c = dropout.forward(ctx, x, recdiff::test::training_pass(3));
  CHECK(a == b);
  CHECK(a != c);
}

TEMPLATE_TEST_CASE("Dropout: input gradient matches finite differences in a training pass",
                   "[nn][gradcheck]", float, double) {
  recdiff::nn::Dropout<CpuBackend, TestType> dropout(0.3);
  const Matrix<TestType> x = recdiff::test::random_matrix<TestType>(6, 70, 8);
  const auto pass = recdiff::test::training_pass(9);
  const auto check = recdiff::test::check_module(dropout, x, pass);
  recdiff::test::require_gradients<TestType>(check, 0);
  // The mask really dropped something.
  CpuBackend::Context ctx(1);
  CHECK((dropout.forward(ctx, x, pass).array() == 0).count() > 0);
}

TEST_CASE("RowL2Norm: unit rows, zero rows kept", "[nn]") {
  CpuBackend::Context ctx(1);
  recdiff::nn::RowL2Norm<CpuBackend, double> norm;
  Matrix<double> x(3, 4);
  x << 3, 0, 4, 0, 0, 0, 0, 0, 1, -2, 0.5, 1.5;
  const Matrix<double>& y = norm.forward(ctx, x);
  CHECK(y(0, 0) == Approx(0.6));
  CHECK(y(0, 2) == Approx(0.8));
  CHECK(y.row(1).isZero());
  CHECK(y.row(2).norm() == Approx(1.0));
  CHECK(norm.divisors()(0, 0) == Approx(5.0));
  CHECK(norm.divisors()(1, 0) == 1e-12);
  CHECK(norm.backward(ctx, y, false) == nullptr);
  // A zero row's gradient is dy / floor (the divisor is a constant there).
  const Matrix<double> dy = Matrix<double>::Constant(3, 4, 1e-12);
  const Matrix<double>* dx = norm.backward(ctx, dy, true);
  REQUIRE(dx != nullptr);
  CHECK((*dx)(1, 2) == Approx(1.0));
}

TEMPLATE_TEST_CASE("RowL2Norm: input gradient matches finite differences", "[nn][gradcheck]",
                   float, double) {
  recdiff::nn::RowL2Norm<CpuBackend, TestType> norm;
  const Matrix<TestType> x = recdiff::test::random_matrix<TestType>(5, 6, 12);
  recdiff::test::require_gradients<TestType>(recdiff::test::check_module(norm, x), 0);
}

TEST_CASE("StepEmbedding: the sinusoidal features through a linear layer", "[nn]") {
  CpuBackend::Context ctx(1);
  recdiff::nn::StepEmbedding<CpuBackend, double> emb(4);
  emb.layer().weight().setIdentity();
  emb.layer().bias().setZero();
  const std::vector<int> steps{0, 2};
  const Matrix<double> x = Matrix<double>::Zero(2, 7);  // only its row count matters
  recdiff::nn::Pass pass;
  pass.steps = steps;
  const Matrix<double> y = emb.forward(ctx, x, pass);
  REQUIRE(y.rows() == 2);
  REQUIRE(y.cols() == 4);
  // dim 4: half = 2, freq = (1, 0.01); row k = (cos k, cos 0.01 k, sin k, sin 0.01 k).
  CHECK(y(0, 0) == 1.0);
  CHECK(y(0, 1) == 1.0);
  CHECK(y(0, 2) == 0.0);
  CHECK(y(0, 3) == 0.0);
  CHECK(y(1, 0) == Approx(std::cos(2.0)).epsilon(1e-6));
  CHECK(y(1, 1) == Approx(std::cos(0.02)).epsilon(1e-6));
  CHECK(y(1, 2) == Approx(std::sin(2.0)).epsilon(1e-6));
  CHECK(y(1, 3) == Approx(std::sin(0.02)).epsilon(1e-5));
  // W = 2 I, b = 1: y = 2 sinusoidal + 1.
  emb.layer().weight() *= 2.0;
  emb.layer().bias().setOnes();
  const Matrix<double>& z = emb.forward(ctx, x, pass);
  CHECK(z(1, 2) == Approx(2 * std::sin(2.0) + 1).epsilon(1e-6));
  CHECK(recdiff::test::parameter_names(emb, "emb.") ==
        std::vector<std::string>{"emb.weight", "emb.bias"});
  CHECK(emb.num_parameters() == 20);
  const std::vector<int> one_step{1};
  pass.steps = one_step;
  REQUIRE_THROWS_WITH(emb.forward(ctx, x, pass), Catch::Contains("1 steps for 2 rows"));
  const std::vector<int> negative{0, -1};
  pass.steps = negative;
  REQUIRE_THROWS_WITH(emb.forward(ctx, x, pass), Catch::Contains("0-based"));
  REQUIRE_THROWS_WITH((recdiff::nn::StepEmbedding<CpuBackend, double>(1)),
                      Catch::Contains("dim must be >= 2"));
}

TEMPLATE_TEST_CASE("StepEmbedding: parameter gradients match finite differences, dx is zero",
                   "[nn][gradcheck]", float, double) {
  CpuBackend::Context ctx(2);
  recdiff::nn::StepEmbedding<CpuBackend, TestType> emb(6);
  emb.initialize(ctx, recdiff::nn::Init::diffrec, 3, 4);
  const std::vector<int> steps{0, 3, 17, 3, 250};
  recdiff::nn::Pass pass;
  pass.steps = steps;
  const Matrix<TestType> x = recdiff::test::random_matrix<TestType>(5, 9, 1);
  const auto check = recdiff::test::check_module(emb, x, pass);
  recdiff::test::require_gradients<TestType>(check, 2);
  CHECK(check.input == 0.0);
  emb.forward(ctx, x, pass);
  const Matrix<TestType>* dx =
      emb.backward(ctx, recdiff::test::random_matrix<TestType>(5, 6, 2), true);
  REQUIRE(dx != nullptr);
  CHECK(dx->rows() == 5);
  CHECK(dx->cols() == 9);  // the input's shape
  CHECK(dx->isZero(0));
  CHECK(emb.backward(ctx, recdiff::test::random_matrix<TestType>(5, 6, 2), false) == nullptr);
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

// --- InputLinear ------------------------------------------------------------------------------

namespace {

template <class T, class Act = recdiff::Identity>
using InputLinear = recdiff::nn::InputLinear<CpuBackend, T, Act>;

// The parameter tensor of `module` named `name`.
template <class ModuleType>
auto& parameter(ModuleType& module, const std::string& name) {
  for (const auto& p : recdiff::nn::parameters_of(module))
    if (p.name == name) return p.tensor->value;
  FAIL("no parameter " << name);
  throw std::logic_error("unreachable");
}

// Time-linear entry values (T-DiffRec's weighting shape): later positions weigh more.
struct RampValue {
  float operator()(std::size_t position, std::size_t length) const {
    return 0.5f + 0.5f * static_cast<float>(position + 1) / static_cast<float>(length);
  }
};

}  // namespace

TEST_CASE("InputLinear: forward is act(x W_x + emb(k) W_e^T + b), named parameters", "[nn]") {
  CpuBackend::Context ctx(1);
  InputLinear<double> layer(3, 2);
  layer.weight_items_t() << 1, 2, 3, 4, 5, 6;  // W_x^T, items x hidden
  parameter(layer, "bias") << 0.5, -1;
  Matrix<double> x(2, 3);
  x << 1, 0, 1, 0, 1, 0;
  const Matrix<double>& y = layer.forward(ctx, x);
  CHECK(y(0, 0) == 6.5);
  CHECK(y(0, 1) == 7.0);
  CHECK(y(1, 0) == 3.5);
  CHECK(y(1, 1) == 3.0);
  CHECK(!layer.has_steps());
  CHECK(recdiff::test::parameter_names(layer) == std::vector<std::string>{"weight.items_t", "bias"});
  CHECK(layer.num_parameters() == 8);

  // With steps: the step embedding (E = 2: (cos k, sin k)) through emb_layer, then W_e.
  InputLinear<double, recdiff::Tanh> cond(3, 2, 2);
  CHECK(recdiff::test::parameter_names(cond, "in.") ==
        std::vector<std::string>{"in.weight.items_t", "in.weight.emb", "in.bias",
                                 "in.emb_layer.weight", "in.emb_layer.bias"});
  CHECK(cond.num_parameters() == 6 + 4 + 2 + 4 + 2);
  cond.weight_items_t() << 1, 2, 3, 4, 5, 6;
  parameter(cond, "weight.emb") << 1, 0, 0, 1;  // W_e = I
  parameter(cond, "emb_layer.weight") << 1, 0, 0, 1;
  const std::vector<int> steps{0, 1};
  recdiff::nn::Pass pass;
  pass.steps = steps;
  const Matrix<double>& yc = cond.forward(ctx, x, pass);
  // emb(0) = (1, 0), emb(1) = (cos 1, sin 1); bias 0.
  CHECK(yc(0, 0) == Approx(std::tanh(6.0 + 1.0)));
  CHECK(yc(0, 1) == Approx(std::tanh(8.0)));
  CHECK(yc(1, 0) == Approx(std::tanh(3.0 + std::cos(1.0))).epsilon(1e-6));
  CHECK(yc(1, 1) == Approx(std::tanh(4.0 + std::sin(1.0))).epsilon(1e-6));
  REQUIRE_THROWS_AS(InputLinear<double>(3, 2, 1), std::invalid_argument);
  REQUIRE_THROWS_WITH(layer.forward(ctx, Matrix<double>::Zero(2, 4)), Catch::Contains("expected 3"));
}

TEMPLATE_TEST_CASE("InputLinear: gradients match finite differences, with and without steps",
                   "[nn][gradcheck]", float, double) {
  CpuBackend::Context ctx(2);
  const Matrix<TestType> x = recdiff::test::random_matrix<TestType>(5, 7, 21);
  SECTION("without steps") {
    InputLinear<TestType, recdiff::Tanh> layer(7, 4);
    layer.initialize(ctx, recdiff::nn::Init::xavier_zero_bias, 2, 0, 1);
    parameter(layer, "bias") = recdiff::test::random_matrix<TestType>(1, 4, 22);
    recdiff::test::require_gradients<TestType>(recdiff::test::check_module(layer, x), 2);
  }
  SECTION("with steps") {
    InputLinear<TestType, recdiff::Tanh> layer(7, 4, 6);
    layer.initialize(ctx, recdiff::nn::Init::diffrec, 2, 0, 1);
    parameter(layer, "bias") = recdiff::test::random_matrix<TestType>(1, 4, 22);
    parameter(layer, "emb_layer.bias") = recdiff::test::random_matrix<TestType>(1, 6, 23);
    const std::vector<int> steps{4, 0, 9, 4, 1};
    recdiff::nn::Pass pass;
    pass.steps = steps;
    recdiff::test::require_gradients<TestType>(recdiff::test::check_module(layer, x, pass), 5);
  }
}

TEMPLATE_TEST_CASE("InputLinear: forward_sparse on CSR rows equals forward on the densified rows",
                   "[nn]", float, double) {
  using T = TestType;
  CpuBackend::Context ctx(2);
  const auto csr = recdiff::test::matrix_from_rows({{0, 2}, {1}, {}, {0, 1, 2, 4}, {3}}, 5);
  const std::vector<recdiff::index_t> users{3, 0, 2, 1, 4, 3};
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  for (const int emb : {0, 4}) {
    InputLinear<T, recdiff::Tanh> layer(5, 3, emb);
    layer.initialize(ctx, recdiff::nn::Init::diffrec, 8, 0, 1);
    const std::vector<int> steps{1, 5, 0, 2, 2, 7};
    recdiff::nn::Pass pass;
    if (emb > 0) pass.steps = steps;
    Matrix<T> dense;
    CpuBackend::densify(ctx, csr, users, dense);
    const Matrix<T> expected = layer.forward(ctx, dense, pass);
    const Matrix<T> sparse = layer.forward_sparse(ctx, csr, users, recdiff::UnitValue{}, pass);
    INFO("emb_size " << emb);
    CHECK((sparse - expected).cwiseAbs().maxCoeff() <= tol);
    // Entry values given by a functor of (position, row length).
    CpuBackend::densify(ctx, csr, users, dense, RampValue{});
    const Matrix<T> expected_ramp = layer.forward(ctx, dense, pass);
    const Matrix<T> ramp = layer.forward_sparse(ctx, csr, users, RampValue{}, pass);
    CHECK((ramp - expected_ramp).cwiseAbs().maxCoeff() <= tol);
    // A per-row scale (input normalisation) scales each row's item product.
    Matrix<T> scale(6, 1);
    scale << 0.5, 1, 2, 0.25, 1, 3;
    Matrix<T> scaled_dense = dense;
    for (Eigen::Index r = 0; r < 6; ++r) scaled_dense.row(r) *= scale(r, 0);
    const Matrix<T> expected_scaled = layer.forward(ctx, scaled_dense, pass);
    const Matrix<T> scaled = layer.forward_sparse(ctx, csr, users, RampValue{}, pass, &scale);
    CHECK((scaled - expected_scaled).cwiseAbs().maxCoeff() <= tol);
    // The output from a given item product.
    const Matrix<T> z = dense * layer.weight_items_t();
    const Matrix<T> from_z = layer.forward_from_item_product(ctx, z, pass);
    CHECK((from_z - expected_ramp).cwiseAbs().maxCoeff() <= tol);
    // No dense input is kept after a CSR pass, so there is nothing to differentiate.
    layer.forward_sparse(ctx, csr, users, recdiff::UnitValue{}, pass);
    REQUIRE_THROWS_AS(layer.backward(ctx, sparse, false), std::logic_error);
    REQUIRE_THROWS_WITH(layer.backward(ctx, sparse, false), Catch::Contains("no dense forward()"));
  }
}
