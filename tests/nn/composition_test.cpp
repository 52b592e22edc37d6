// Compositions of modules: Sequence, Stack, Optional, Residual and Concat.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/nn/activation.hpp>
#include <recdiff/nn/concat.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/layer_norm.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/residual.hpp>
#include <recdiff/nn/row_l2_norm.hpp>
#include <recdiff/nn/sequence.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"

using recdiff::CpuBackend;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
using recdiff::test::training_pass;
namespace nn = recdiff::nn;

namespace {

template <class T, class Act = recdiff::Identity>
using Linear = nn::Linear<CpuBackend, T, Act>;

template <class T, class Act = recdiff::Identity>
Linear<T, Act> initialized(int in, int out, std::uint32_t index) {
  Linear<T, Act> layer(in, out);
  layer.initialize(CpuBackend::Context(1), nn::Init::xavier_zero_bias, 31, index);
  layer.bias() = random_matrix<T>(1, out, 100 + index);
  return layer;
}

// A parameter-free module that passes its input through and records how it was asked to
// differentiate.
template <class T>
struct Spy {
  using backend_type = CpuBackend;
  using scalar_type = T;
  using Matrix = Mat<T>;
  struct Log {
    int calls = 0;             // backward() calls
    int input_grad_asked = 0;  // of which with need_input_grad
  };
  Log* log = nullptr;

  const Matrix& forward(const CpuBackend::Context&, const Matrix& x, const nn::Pass& = {}) { return x; }
  const Matrix* backward(const CpuBackend::Context&, const Matrix& dy, bool need_input_grad) {
    ++log->calls;
    if (!need_input_grad) return nullptr;
    ++log->input_grad_asked;
    return &dy;
  }
  void collect_parameters(const std::string&, nn::ParameterList<CpuBackend, T>&) {}
  std::size_t num_parameters() const noexcept { return 0; }
};

// The network of the Sequence gradient check: optional input normalisation, dropout, a Tanh layer,
// two Tanh hidden layers, a linear readout.
template <class T>
using Net = nn::Sequence<nn::Optional<nn::RowL2Norm<CpuBackend, T>>, nn::Dropout<CpuBackend, T>,
                         Linear<T, recdiff::Tanh>, nn::Stack<Linear<T, recdiff::Tanh>>, Linear<T>>;

template <class T>
Net<T> make_net(bool normalise) {
  return Net<T>(nn::Optional<nn::RowL2Norm<CpuBackend, T>>(normalise), nn::Dropout<CpuBackend, T>(0.3),
                initialized<T, recdiff::Tanh>(7, 6, 0),
                nn::Stack<Linear<T, recdiff::Tanh>>({initialized<T, recdiff::Tanh>(6, 6, 1),
                                                     initialized<T, recdiff::Tanh>(6, 6, 2)}),
                initialized<T>(6, 4, 3));
}

}  // namespace

// --- Sequence ---------------------------------------------------------------------------------

TEST_CASE("Sequence: applies its modules in order; torch.nn.Sequential names", "[nn]") {
  CpuBackend::Context ctx(1);
  nn::Sequence<Linear<double>, nn::Activation<CpuBackend, double, recdiff::Relu>, Linear<double>> seq;
  seq.get<0>() = Linear<double>(2, 2);
  seq.get<0>().weight() << 1, -1, 2, 1;
  seq.get<0>().bias() << 0, -1;
  seq.get<2>() = Linear<double>(2, 1);
  seq.get<2>().weight() << 3, 1;
  seq.get<2>().bias() << 0.5;
  Mat<double> x(2, 2);
  x << 1, 2, -1, 0.5;
  // Row 0: (1 - 2, 2 + 2 - 1) = (-1, 3) -> relu (0, 3) -> 3 + 0.5; row 1: (-1.5, -2.5) -> 0 -> 0.5.
  const Mat<double>& y = seq.forward(ctx, x);
  REQUIRE(y.rows() == 2);
  REQUIRE(y.cols() == 1);
  CHECK(y(0, 0) == 3.5);
  CHECK(y(1, 0) == 0.5);
  CHECK(&y == &seq.get<2>().forward(ctx, seq.get<1>().forward(ctx, seq.get<0>().forward(ctx, x))));
  CHECK(recdiff::test::parameter_names(seq, "mlp.") ==
        std::vector<std::string>{"mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"});
  CHECK(seq.num_parameters() == 6 + 3);
  CHECK(decltype(seq)::size == 3);
}

TEMPLATE_TEST_CASE("Sequence: gradients match finite differences (Optional<RowL2Norm>, Dropout, "
                   "Linear<Tanh>, Stack<Linear<Tanh>>, Linear)",
                   "[nn][gradcheck]", float, double) {
  for (const bool normalise : {true, false}) {
    INFO("normalise " << normalise);
    auto net = make_net<TestType>(normalise);
    const Mat<TestType> x = random_matrix<TestType>(5, 7, 41);
    const auto check = recdiff::test::check_module(net, x, training_pass(2));
    recdiff::test::require_gradients<TestType>(check, 8);
    CHECK(check.parameters[2].first == "3.0.weight");
    CHECK(check.parameters[6].first == "4.weight");
  }
}

TEST_CASE("Sequence: leading parameter-free modules are not asked for input gradients", "[nn]") {
  CpuBackend::Context ctx(2);
  Spy<double>::Log first, middle;
  const Mat<double> x = random_matrix<double>(4, 5, 1), dy = random_matrix<double>(4, 3, 2);
  SECTION("spy, normalisation, dropout, then the first trainable layer") {
    nn::Sequence<Spy<double>, nn::RowL2Norm<CpuBackend, double>, nn::Dropout<CpuBackend, double>,
                 Linear<double, recdiff::Tanh>>
        seq(Spy<double>{&first}, {}, nn::Dropout<CpuBackend, double>(0.3),
            initialized<double, recdiff::Tanh>(5, 3, 0));
    auto params = nn::parameters_of(seq);
    nn::zero_grad(params);
    seq.forward(ctx, x, training_pass());
    CHECK(seq.backward(ctx, dy, false) == nullptr);
    CHECK(first.calls == 0);  // the chain stopped at the first trainable layer
    const Mat<double> dw = seq.get<3>().weight_grad();
    CHECK(!dw.isZero());
    // Asked for the input gradient, every module is.
    nn::zero_grad(params);
    seq.forward(ctx, x, training_pass());
    const Mat<double>* dx = seq.backward(ctx, dy, true);
    REQUIRE(dx != nullptr);
    CHECK(dx->cols() == 5);
    CHECK(first.input_grad_asked == 1);
    CHECK(seq.get<3>().weight_grad() == dw);
  }
  SECTION("a parameter-free module after a trainable one still passes the gradient back") {
    nn::Sequence<Linear<double, recdiff::Tanh>, Spy<double>, Linear<double>> seq(
        initialized<double, recdiff::Tanh>(5, 4, 0), Spy<double>{&middle}, initialized<double>(4, 3, 1));
    seq.forward(ctx, x);
    CHECK(seq.backward(ctx, dy, false) == nullptr);
    CHECK(middle.input_grad_asked == 1);
  }
  SECTION("Stack: the same rule") {
    nn::Stack<nn::Optional<Linear<double, recdiff::Tanh>>> stack(
        {nn::Optional<Linear<double, recdiff::Tanh>>(false, Linear<double, recdiff::Tanh>(5, 5)),
         nn::Optional<Linear<double, recdiff::Tanh>>(true, initialized<double, recdiff::Tanh>(5, 5, 1))});
    auto params = nn::parameters_of(stack);
    REQUIRE(params.size() == 2);
    CHECK(params[0].name == "1.weight");
    nn::zero_grad(params);
    stack.forward(ctx, x);
    CHECK(stack.backward(ctx, random_matrix<double>(4, 5, 3), false) == nullptr);
    CHECK(!stack.modules()[1].module().weight_grad().isZero());
  }
}

// --- Stack ------------------------------------------------------------------------------------

TEST_CASE("Stack: a run-time number of modules in order; empty is the identity", "[nn]") {
  CpuBackend::Context ctx(1);
  std::vector<Linear<double>> layers;
  for (int k = 0; k < 3; ++k) {
    layers.emplace_back(2, 2);
    layers.back().weight() << 2, 0, 0, 1;
    layers.back().bias() << 0, 1;
  }
  nn::Stack<Linear<double>> stack(std::move(layers));
  Mat<double> x(1, 2);
  x << 1, 1;
  const Mat<double>& y = stack.forward(ctx, x);
  CHECK(y(0, 0) == 8.0);  // 1 * 2^3
  CHECK(y(0, 1) == 4.0);  // 1 + 3
  CHECK(stack.size() == 3);
  CHECK(recdiff::test::parameter_names(stack).back() == "2.bias");
  nn::Stack<Linear<double>> empty;
  CHECK(&empty.forward(ctx, x) == &x);
  CHECK(empty.backward(ctx, x, true) == &x);
  CHECK(empty.backward(ctx, x, false) == nullptr);
  CHECK(empty.num_parameters() == 0);
}

TEMPLATE_TEST_CASE("Stack: gradients match finite differences", "[nn][gradcheck]", float, double) {
  nn::Stack<Linear<TestType, recdiff::Sigmoid>> stack({initialized<TestType, recdiff::Sigmoid>(5, 4, 0),
                                                       initialized<TestType, recdiff::Sigmoid>(4, 4, 1),
                                                       initialized<TestType, recdiff::Sigmoid>(4, 3, 2)});
  const Mat<TestType> x = random_matrix<TestType>(6, 5, 3);
  recdiff::test::require_gradients<TestType>(recdiff::test::check_module(stack, x), 6);
}

// --- Optional ---------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("Optional: enabled it is the module, disabled the identity without parameters",
                   "[nn][gradcheck]", float, double) {
  using T = TestType;
  CpuBackend::Context ctx(1);
  const Mat<T> x = random_matrix<T>(4, 5, 7);
  nn::Optional<Linear<T, recdiff::Tanh>> on(true, initialized<T, recdiff::Tanh>(5, 3, 0));
  nn::Optional<Linear<T, recdiff::Tanh>> off(false, initialized<T, recdiff::Tanh>(5, 3, 0));
  CHECK(on.enabled());
  CHECK(!off.enabled());
  CHECK(on.forward(ctx, x) == on.module().forward(ctx, x));
  CHECK(&off.forward(ctx, x) == &x);
  CHECK(off.num_parameters() == 0);
  CHECK(nn::parameters_of(off).empty());
  CHECK(on.num_parameters() == 18);
  CHECK(off.backward(ctx, x, true) == &x);
  CHECK(off.backward(ctx, x, false) == nullptr);
  recdiff::test::require_gradients<T>(recdiff::test::check_module(on, x), 2);
  recdiff::test::require_gradients<T>(recdiff::test::check_module(off, x), 0);
  nn::Optional<nn::RowL2Norm<CpuBackend, T>> norm(true);
  recdiff::test::require_gradients<T>(recdiff::test::check_module(norm, x), 0);
  CHECK(norm.forward(ctx, x).row(0).norm() == Approx(1.0));
}

// --- Residual ---------------------------------------------------------------------------------

TEST_CASE("Residual: y = x + M(x), dx = dy + dM", "[nn]") {
  CpuBackend::Context ctx(1);
  Linear<double> inner(2, 2);
  inner.weight() << 1, 2, 0, -1;
  inner.bias() << 0.5, 0;
  nn::Residual<Linear<double>> res(std::move(inner));
  Mat<double> x(1, 2);
  x << 1, 3;
  const Mat<double>& y = res.forward(ctx, x);
  // M(x) = (1 + 6 + 0.5, -3) -> y = (8.5, 0).
  CHECK(y(0, 0) == 8.5);
  CHECK(y(0, 1) == 0.0);
  Mat<double> dy(1, 2);
  dy << 1, 1;
  const Mat<double>* dx = res.backward(ctx, dy, true);
  REQUIRE(dx != nullptr);
  // dM/dx = dy W = (1, 1); plus dy.
  CHECK((*dx)(0, 0) == 2.0);
  CHECK((*dx)(0, 1) == 2.0);
  CHECK(res.backward(ctx, dy, false) == nullptr);
  CHECK(recdiff::test::parameter_names(res, "block.") ==
        std::vector<std::string>{"block.weight", "block.bias"});
  // Around an inactive dropout (which returns its input), y = 2 x and dx = 2 dy.
  nn::Residual<nn::Dropout<CpuBackend, double>> twice(nn::Dropout<CpuBackend, double>(0.5));
  CHECK(twice.forward(ctx, x) == 2 * x);
  CHECK(*twice.backward(ctx, dy, true) == 2 * dy);
  nn::Residual<Linear<double>> narrowing(Linear<double>(2, 3));
  REQUIRE_THROWS_AS(narrowing.forward(ctx, x), std::invalid_argument);
  REQUIRE_THROWS_WITH(narrowing.forward(ctx, x), Catch::Contains("needs the same shape"));
}

TEMPLATE_TEST_CASE("Residual: gradients match finite differences", "[nn][gradcheck]", float, double) {
  using T = TestType;
  // A Transformer-style sub-layer: x + Linear(Tanh(LayerNorm(x) W1 + b1)).
  using Block = nn::Sequence<nn::LayerNorm<CpuBackend, T>, Linear<T, recdiff::Tanh>, Linear<T>>;
  nn::LayerNorm<CpuBackend, T> norm(6);
  norm.weight() = random_matrix<T>(1, 6, 5);
  norm.bias() = random_matrix<T>(1, 6, 6);
  nn::Residual<Block> res(Block(norm, initialized<T, recdiff::Tanh>(6, 8, 0), initialized<T>(8, 6, 1)));
  const Mat<T> x = random_matrix<T>(5, 6, 9);
  recdiff::test::require_gradients<T>(recdiff::test::check_module(res, x), 6);
  nn::Residual<Linear<T, recdiff::Tanh>> simple(initialized<T, recdiff::Tanh>(6, 6, 2));
  recdiff::test::require_gradients<T>(recdiff::test::check_module(simple, x), 2);
}

// --- Concat -----------------------------------------------------------------------------------

TEST_CASE("Concat: [A(x), B(x)], dy split by columns, input gradients summed", "[nn]") {
  CpuBackend::Context ctx(1);
  Linear<double> a(2, 1), b(2, 2);
  a.weight() << 1, 1;
  a.bias() << 0;
  b.weight() << 1, 0, 0, 2;
  b.bias() << 0, 1;
  nn::Concat<Linear<double>, Linear<double>> cat(std::move(a), std::move(b));
  Mat<double> x(2, 2);
  x << 1, 2, 3, 4;
  const Mat<double>& y = cat.forward(ctx, x);
  REQUIRE(y.cols() == 3);
  CHECK(y(0, 0) == 3.0);
  CHECK(y(0, 1) == 1.0);
  CHECK(y(0, 2) == 5.0);
  CHECK(y(1, 0) == 7.0);
  CHECK(y(1, 1) == 3.0);
  CHECK(y(1, 2) == 9.0);
  Mat<double> dy(2, 3);
  dy << 1, 10, 100, 2, 20, 200;
  const Mat<double>* dx = cat.backward(ctx, dy, true);
  REQUIRE(dx != nullptr);
  // dA/dx = dy_a (1, 1); dB/dx = (dy_b1, 2 dy_b2).
  CHECK((*dx)(0, 0) == 1 + 10);
  CHECK((*dx)(0, 1) == 1 + 200);
  CHECK((*dx)(1, 0) == 2 + 20);
  CHECK((*dx)(1, 1) == 2 + 400);
  CHECK(cat.first().bias_grad()(0, 0) == 3.0);
  CHECK(cat.second().bias_grad()(0, 1) == 300.0);
  CHECK(cat.backward(ctx, dy, false) == nullptr);
  CHECK(recdiff::test::parameter_names(cat) ==
        std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
  CHECK(cat.num_parameters() == 3 + 6);
  REQUIRE_THROWS_WITH(cat.backward(ctx, Mat<double>::Zero(2, 2), true), Catch::Contains("expected 3"));
}

TEMPLATE_TEST_CASE("Concat: gradients match finite differences", "[nn][gradcheck]", float, double) {
  using T = TestType;
  // A trainable branch next to a parameter-free one (the input itself through a Tanh).
  nn::Concat<Linear<T, recdiff::Tanh>, nn::Activation<CpuBackend, T, recdiff::Tanh>> cat(
      initialized<T, recdiff::Tanh>(5, 3, 0));
  const Mat<T> x = random_matrix<T>(4, 5, 13);
  recdiff::test::require_gradients<T>(recdiff::test::check_module(cat, x), 2);
  nn::Concat<Linear<T, recdiff::Sigmoid>, nn::Sequence<nn::LayerNorm<CpuBackend, T>, Linear<T>>> two(
      initialized<T, recdiff::Sigmoid>(5, 2, 1),
      nn::Sequence<nn::LayerNorm<CpuBackend, T>, Linear<T>>(nn::LayerNorm<CpuBackend, T>(5),
                                                            initialized<T>(5, 3, 2)));
  recdiff::test::require_gradients<T>(recdiff::test::check_module(two, x), 6);
}
