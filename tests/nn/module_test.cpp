// Every nn module satisfies recdiff::Module, and every module's parameter gradients accumulate
// across backward passes until zero_grad().
#include <catch2/catch.hpp>

#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/nn/nn.hpp>

#include "nn/module_test_util.hpp"

using recdiff::CpuBackend;
using recdiff::Module;
using recdiff::test::check_accumulation;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
namespace nn = recdiff::nn;

namespace {

template <class T>
constexpr bool all_modules() {
  using B = CpuBackend;
  static_assert(Module<nn::Linear<B, T>, B>);
  static_assert(Module<nn::Linear<B, T, recdiff::Tanh>, B>);
  static_assert(Module<nn::Linear<B, T, recdiff::Relu>, B>);
  static_assert(Module<nn::Activation<B, T, recdiff::Sigmoid>, B>);
  static_assert(Module<nn::Activation<B, T, recdiff::LeakyRelu>, B>);
  static_assert(Module<nn::Dropout<B, T>, B>);
  static_assert(Module<nn::RowL2Norm<B, T>, B>);
  static_assert(Module<nn::StepEmbedding<B, T>, B>);
  static_assert(Module<nn::InputLinear<B, T>, B>);
  static_assert(Module<nn::InputLinear<B, T, recdiff::Tanh>, B>);
  static_assert(Module<nn::PRelu<B, T>, B>);
  static_assert(Module<nn::LayerNorm<B, T>, B>);
  static_assert(Module<nn::Residual<nn::Linear<B, T>>, B>);
  static_assert(Module<nn::Concat<nn::Linear<B, T>, nn::PRelu<B, T>>, B>);
  static_assert(Module<nn::Sequence<nn::LayerNorm<B, T>>, B>);
  static_assert(Module<nn::Sequence<nn::Optional<nn::RowL2Norm<B, T>>, nn::Dropout<B, T>,
                                    nn::Linear<B, T, recdiff::Tanh>,
                                    nn::Stack<nn::Linear<B, T, recdiff::Tanh>>, nn::Linear<B, T>>,
                       B>);
  static_assert(Module<nn::Stack<nn::Linear<B, T>>, B>);
  static_assert(Module<nn::Optional<nn::Dropout<B, T>>, B>);
  static_assert(Module<nn::Residual<nn::Sequence<nn::LayerNorm<B, T>, nn::Linear<B, T, recdiff::Relu>>>, B>);
  // An id lookup is not a Module (its input is not a Matrix<T>).
  static_assert(!Module<nn::Embedding<B, T>, B>);
  return true;
}
static_assert(all_modules<float>());
static_assert(all_modules<double>());

template <class T>
nn::Linear<CpuBackend, T, recdiff::Tanh> tanh_layer(int in, int out, std::uint32_t index) {
  nn::Linear<CpuBackend, T, recdiff::Tanh> layer(in, out);
  layer.initialize(CpuBackend::Context(1), nn::Init::diffrec, 4, index);
  return layer;
}

}  // namespace

TEMPLATE_TEST_CASE("modules: two backward passes without zero_grad give twice the gradient, "
                   "zero_grad then one pass gives one",
                   "[nn]", float, double) {
  using T = TestType;
  using B = CpuBackend;
  CpuBackend::Context ctx(2);
  const Mat<T> x = random_matrix<T>(10, 70, 5, 0.05);
  SECTION("Linear") {
    auto layer = tanh_layer<T>(70, 9, 0);
    check_accumulation(layer, x);
  }
  SECTION("InputLinear with steps") {
    nn::InputLinear<B, T, recdiff::Tanh> layer(70, 6, 4);
    layer.initialize(ctx, nn::Init::diffrec, 3, 0, 1);
    const std::vector<int> steps{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    nn::Pass pass;
    pass.steps = steps;
    check_accumulation(layer, x, pass);
  }
  SECTION("StepEmbedding") {
    nn::StepEmbedding<B, T> emb(8);
    emb.initialize(ctx, nn::Init::diffrec, 3, 2);
    const std::vector<int> steps{9, 1, 2, 3, 4, 5, 6, 7, 8, 0};
    nn::Pass pass;
    pass.steps = steps;
    check_accumulation(emb, x, pass);
  }
  SECTION("PRelu, shared and per column") {
    nn::PRelu<B, T> shared, per_column(70);
    check_accumulation(shared, x);
    check_accumulation(per_column, x);
  }
  SECTION("LayerNorm") {
    nn::LayerNorm<B, T> norm(70);
    norm.weight() = random_matrix<T>(1, 70, 8);
    check_accumulation(norm, x);
  }
  SECTION("Sequence, Stack, Optional") {
    nn::Sequence<nn::Optional<nn::RowL2Norm<B, T>>, nn::Dropout<B, T>, nn::Linear<B, T, recdiff::Tanh>,
                 nn::Stack<nn::Linear<B, T, recdiff::Tanh>>>
        net(nn::Optional<nn::RowL2Norm<B, T>>(true), nn::Dropout<B, T>(0.3), tanh_layer<T>(70, 8, 0),
            nn::Stack<nn::Linear<B, T, recdiff::Tanh>>({tanh_layer<T>(8, 8, 1), tanh_layer<T>(8, 5, 2)}));
    check_accumulation(net, x, recdiff::test::training_pass(4));
  }
  SECTION("Residual and Concat") {
    nn::Residual<nn::Linear<B, T, recdiff::Tanh>> res(tanh_layer<T>(70, 70, 0));
    check_accumulation(res, x);
    nn::Concat<nn::Linear<B, T, recdiff::Tanh>, nn::LayerNorm<B, T>> cat(tanh_layer<T>(70, 3, 1),
                                                                        nn::LayerNorm<B, T>(70));
    check_accumulation(cat, x);
  }
}
