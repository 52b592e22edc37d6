// TimeMlp and ResBlock: the step features and the embedding against the reference, the block's
// forward pass (scale/shift modulation, skip path) against the xtensor reference, finite-difference
// gradients of every parameter, of the input and of the step embedding (1-D and 2-D, with the 2-D
// blocks' training dropout), parameter names and counts, and argument checks.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/nn/res_block.hpp>
#include <recdiff/nn/time_mlp.hpp>

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
using TimeMlp = nn::TimeMlp<CpuBackend, T>;
template <class T, int Dims>
using ResBlock = nn::ResBlock<CpuBackend, T, Dims>;

static_assert(recdiff::Module<TimeMlp<float>, CpuBackend>);

namespace {

// A ResBlock with its step embedding held as a parameter, so that check_module differentiates the
// block with respect to temb as well (the U-Net sums these gradients into its time MLP).
template <class T, int Dims>
struct ResBlockProbe {
  using backend_type = CpuBackend;
  using scalar_type = T;
  using Matrix = Mat<T>;
  ResBlock<T, Dims> block;
  nn::Tensor<CpuBackend, T> temb;

  const Matrix& forward(const CpuBackend::Context& ctx, const Matrix& x, const nn::Pass& pass) {
    return block.forward(ctx, x, temb.value, pass);
  }
  const Matrix* backward(const CpuBackend::Context& ctx, const Matrix& dy, bool need_input_grad) {
    const Matrix* dx = block.backward(ctx, dy, need_input_grad);
    if (temb.grad_beta() == T(0))
      temb.grad = block.temb_grad();
    else
      temb.grad += block.temb_grad();
    return dx;
  }
  void collect_parameters(const std::string& prefix, nn::ParameterList<CpuBackend, T>& out) {
    out.push_back({prefix + "temb", &temb});
    block.collect_parameters(prefix, out);
  }
  std::size_t num_parameters() const { return temb.size() + block.num_parameters(); }
};

// The block's GroupNorm gains and biases moved away from 1 and 0, so that the checks see them.
template <class T, int Dims>
void perturb_norms(ResBlock<T, Dims>& block, std::uint32_t seed) {
  const auto c = block.out_channels();
  block.norm1().weight() = Mat<T>::Ones(1, c) + T(0.3) * random_matrix<T>(1, c, seed);
  block.norm1().bias() = T(0.3) * random_matrix<T>(1, c, seed + 1);
  block.norm2().weight() = Mat<T>::Ones(1, c) + T(0.3) * random_matrix<T>(1, c, seed + 2);
  block.norm2().bias() = T(0.3) * random_matrix<T>(1, c, seed + 3);
}

template <class T, int Dims>
ResBlock<T, Dims> make_block(int cin, int cout, int width, double dropout = 0.0) {
  auto block = [&] {
    if constexpr (Dims == 1)
      return ResBlock<T, Dims>(cin, cout, dropout, 5u);
    else
      return ResBlock<T, Dims>(cin, cout, width, dropout, 5u);
  }();
  block.initialize(CpuBackend::Context(2), 13, 0);
  perturb_norms(block, 20);
  return block;
}

}  // namespace

TEST_CASE("TimeMlp: features [sin t, sin 1e-4 t, cos t, cos 1e-4 t], then Linear, GELU, Linear",
          "[nn][time_mlp]") {
  CpuBackend::Context ctx(2);
  TimeMlp<double> mlp;
  mlp.initialize(ctx, 3, 0);
  const std::vector<int> steps{0, 1, 7, 999};
  const Mat<double>& temb = mlp.embed(ctx, steps, 4);
  const Mat<double>& f = mlp.features();
  CHECK(f(0, 0) == 0.0);
  CHECK(f(0, 2) == 1.0);
  CHECK(f(2, 0) == Approx(std::sin(7.0)));
  CHECK(f(2, 1) == Approx(std::sin(7e-4)));
  CHECK(f(3, 2) == Approx(std::cos(999.0)));
  CHECK(f(3, 3) == Approx(std::cos(0.0999)));
  const auto params = recdiff::test::param_table(mlp);
  const Array ref = recdiff::test::time_mlp_ref(steps, params, "");
  CHECK(recdiff::test::max_relative_difference(recdiff::test::to_array(temb, Shape{4, 4}), ref) < 1e-14);
  CHECK(mlp.num_parameters() == 40);
  CHECK(recdiff::test::parameter_names(mlp, "time_mlp.") ==
        std::vector<std::string>{"time_mlp.1.weight", "time_mlp.1.bias", "time_mlp.3.weight",
                                 "time_mlp.3.bias"});
  // PyTorch's default bounds: 1 / sqrt(4).
  CHECK(mlp.network().get<0>().weight().cwiseAbs().maxCoeff() < 0.5);
  CHECK(mlp.network().get<2>().bias().cwiseAbs().maxCoeff() < 0.5);
  CHECK(mlp.network().get<0>().weight() != mlp.network().get<2>().weight());
  REQUIRE_THROWS_WITH(mlp.embed(ctx, steps, 3), Catch::Contains("4 steps for 3 rows"));
  const std::vector<int> negative{0, -1};
  REQUIRE_THROWS_WITH(mlp.embed(ctx, negative, 2), Catch::Contains("got -1"));
}

TEMPLATE_TEST_CASE("TimeMlp: parameter gradients match finite differences", "[nn][time_mlp][gradcheck]",
                   float, double) {
  using T = TestType;
  TimeMlp<T> mlp;
  mlp.initialize(CpuBackend::Context(2), 4, 0);
  const std::vector<int> steps{0, 3, 1, 2, 9};
  nn::Pass pass;
  pass.steps = steps;
  const auto check = recdiff::test::check_module(mlp, Mat<T>::Zero(5, 3), pass);
  recdiff::test::require_gradients<T>(check, 4);  // the input gradient is zero: checked too
}

TEST_CASE("ResBlock: forward equals the xtensor reference (modulation, GroupNorm, skip path)",
          "[nn][res_block]") {
  CpuBackend::Context ctx(2);
  const nn::Pass eval;
  struct Case {
    int cin, cout;
  };
  for (const Case& c : {Case{1, 1}, Case{3, 2}, Case{2, 1}, Case{2, 2}}) {
    INFO(c.cin << " -> " << c.cout);
    {  // 1-D: 3 samples of 10 positions, one embedding each.
      auto block = make_block<double, 1>(c.cin, c.cout, 0);
      const Mat<double> x = random_matrix<double>(3, c.cin * 10, 1);
      const Mat<double> temb = 2.0 * random_matrix<double>(3, 4, 2);
      const Mat<double>& y = block.forward(ctx, x, temb, eval);
      const auto params = recdiff::test::param_table(block);
      const Array ref = recdiff::test::res_block_ref(
          recdiff::test::to_array(x, Shape{3, std::size_t(c.cin), 1, 10}),
          recdiff::test::to_array(temb, Shape{3, 4}), params, "", 1);
      CHECK(recdiff::test::max_relative_difference(
                recdiff::test::to_array(y, Shape{3, std::size_t(c.cout), 1, 10}), ref) < 1e-12);
      CHECK(block.has_residual_conv() == (c.cin != c.cout));
    }
    {  // 2-D: one 6 x 5 image.
      auto block = make_block<double, 2>(c.cin, c.cout, 5, 0.1);
      const Mat<double> x = random_matrix<double>(1, c.cin * 30, 3);
      const Mat<double> temb = 2.0 * random_matrix<double>(1, 4, 4);
      const Mat<double>& y = block.forward(ctx, x, temb, eval);  // evaluation: no dropout
      const auto params = recdiff::test::param_table(block);
      const Array ref = recdiff::test::res_block_ref(
          recdiff::test::to_array(x, Shape{1, std::size_t(c.cin), 6, 5}),
          recdiff::test::to_array(temb, Shape{1, 4}), params, "", 2);
      CHECK(recdiff::test::max_relative_difference(
                recdiff::test::to_array(y, Shape{1, std::size_t(c.cout), 6, 5}), ref) < 1e-12);
    }
  }
}

TEST_CASE("ResBlock: gradients of parameters, input and step embedding match finite differences",
          "[nn][res_block][gradcheck]") {
  struct Case {
    int cin, cout;
  };
  for (const Case& c : {Case{1, 1}, Case{3, 2}, Case{2, 1}}) {
    INFO(c.cin << " -> " << c.cout);
    const std::size_t tensors = 1 + 10 + (c.cin != c.cout ? 2 : 0);  // temb, block, skip conv
    {
      ResBlockProbe<double, 1> probe{make_block<double, 1>(c.cin, c.cout, 0),
                                     nn::Tensor<CpuBackend, double>(3, 4)};
      probe.temb.value = 2.0 * random_matrix<double>(3, 4, 5);
      const auto check = recdiff::test::check_module(probe, random_matrix<double>(3, c.cin * 8, 6));
      recdiff::test::require_unet_gradients<double>(check, probe, tensors);
    }
    {  // 2-D, one 4 x 6 image, training pass: dropout(0.1) with a fixed mask.
      ResBlockProbe<double, 2> probe{make_block<double, 2>(c.cin, c.cout, 6, 0.1),
                                     nn::Tensor<CpuBackend, double>(1, 4)};
      probe.temb.value = 2.0 * random_matrix<double>(1, 4, 7);
      const auto check = recdiff::test::check_module(probe, random_matrix<double>(1, c.cin * 24, 8),
                                                     recdiff::test::training_pass(4));
      recdiff::test::require_unet_gradients<double>(check, probe, tensors);
    }
  }
}

TEST_CASE("ResBlock in float: input gradient by finite differences, every gradient equal to the "
          "double block's",
          "[nn][res_block][gradcheck]") {
  struct Case {
    int cin, cout;
  };
  for (const Case& c : {Case{1, 1}, Case{3, 2}, Case{2, 1}}) {
    INFO(c.cin << " -> " << c.cout);
    {
      ResBlockProbe<double, 1> d{make_block<double, 1>(c.cin, c.cout, 0), nn::Tensor<CpuBackend, double>(3, 4)};
      ResBlockProbe<float, 1> f{make_block<float, 1>(c.cin, c.cout, 0), nn::Tensor<CpuBackend, float>(3, 4)};
      d.temb.value = 2.0 * random_matrix<double>(3, 4, 5);
      const Mat<double> x = random_matrix<double>(3, c.cin * 8, 6);
      recdiff::test::require_float_matches_double(f, d, x, nn::Pass{});
      const auto check = recdiff::test::check_module(f, Mat<float>(x.cast<float>()));
      CHECK(check.input < recdiff::test::Tolerances<float>::gradient);
    }
    {
      ResBlockProbe<double, 2> d{make_block<double, 2>(c.cin, c.cout, 6, 0.1), nn::Tensor<CpuBackend, double>(1, 4)};
      ResBlockProbe<float, 2> f{make_block<float, 2>(c.cin, c.cout, 6, 0.1), nn::Tensor<CpuBackend, float>(1, 4)};
      d.temb.value = 2.0 * random_matrix<double>(1, 4, 7);
      const Mat<double> x = random_matrix<double>(1, c.cin * 24, 8);
      recdiff::test::require_float_matches_double(f, d, x, recdiff::test::training_pass(4));
      const auto check = recdiff::test::check_module(f, Mat<float>(x.cast<float>()), recdiff::test::training_pass(4));
      CHECK(check.input < recdiff::test::Tolerances<float>::gradient);
    }
  }
}

TEST_CASE("ResBlock: parameter gradients over several chunks per plane", "[nn][res_block][gradcheck]") {
  // Planes of 300 positions: the scale and shift gradients add two chunks' partial sums. (The
  // input gradient over several chunks is checked in the Conv and GroupNorm tests.)
  ResBlockProbe<double, 1> probe{make_block<double, 1>(2, 3, 0), nn::Tensor<CpuBackend, double>(2, 4)};
  probe.temb.value = random_matrix<double>(2, 4, 9);
  const auto check = recdiff::test::check_module(probe, random_matrix<double>(2, 2 * 300, 10), {}, false);
  recdiff::test::require_gradients<double>(check, 13, false);
}

TEST_CASE("ResBlock: training dropout after Block2 (2-D), keyed by the pass", "[nn][res_block]") {
  CpuBackend::Context ctx(2);
  auto block = make_block<double, 2>(1, 1, 8, 0.1);
  CHECK(block.dropout() == 0.1);
  const Mat<double> x = random_matrix<double>(1, 64, 11);
  const Mat<double> temb = random_matrix<double>(1, 4, 12);
  const Mat<double> eval = block.forward(ctx, x, temb, nn::Pass{});
  const Mat<double> train = block.forward(ctx, x, temb, recdiff::test::training_pass(5));
  const Mat<double> again = block.forward(ctx, x, temb, recdiff::test::training_pass(5));
  const Mat<double> other = block.forward(ctx, x, temb, recdiff::test::training_pass(6));
  CHECK(train == again);
  CHECK(train != eval);
  CHECK(train != other);
  // Dropped positions leave only the skip path: out = x there.
  int dropped = 0;
  for (int k = 0; k < 64; ++k) dropped += train(0, k) == x(0, k) ? 1 : 0;
  CHECK(dropped >= 1);
  CHECK(dropped <= 20);
}

TEST_CASE("ResBlock: parameter names and counts", "[nn][res_block]") {
  ResBlock<float, 1> same(2, 2);
  CHECK(recdiff::test::parameter_names(same, "b.") ==
        std::vector<std::string>{"b.mlp.1.weight", "b.mlp.1.bias", "b.block1.proj.weight",
                                 "b.block1.proj.bias", "b.block1.norm.weight", "b.block1.norm.bias",
                                 "b.block2.proj.weight", "b.block2.proj.bias", "b.block2.norm.weight",
                                 "b.block2.norm.bias"});
  // 10 Cout (mlp) + (3 Cin + 1) Cout + 2 Cout + (3 Cout + 1) Cout + 2 Cout.
  CHECK(same.num_parameters() == 20 + 14 + 4 + 14 + 4);
  ResBlock<float, 2> skip(3, 2, 7);
  CHECK(recdiff::test::parameter_names(skip).back() == "res_conv.bias");
  // 10 Cout + (9 Cin + 1) Cout + 2 Cout + (9 Cout + 1) Cout + 2 Cout + (Cin + 1) Cout.
  CHECK(skip.num_parameters() == 20 + 56 + 4 + 38 + 4 + 8);
  CHECK(recdiff::nn::count_scalars(recdiff::nn::parameters_of(skip)) == skip.num_parameters());
}

TEST_CASE("ResBlock: bad arguments are refused", "[nn][res_block]") {
  CpuBackend::Context ctx(1);
  REQUIRE_THROWS_WITH((ResBlock<double, 1>(0, 1)), Catch::Contains("got 0 -> 1"));
  REQUIRE_THROWS_AS((ResBlock<double, 1>(1, 1, 1.0)), std::invalid_argument);
  REQUIRE_THROWS_AS((ResBlock<double, 2>(1, 1, 0)), std::invalid_argument);
  ResBlock<double, 1> block(1, 2);
  REQUIRE_THROWS_AS(block.backward(ctx, Mat<double>::Zero(2, 8), true), std::logic_error);
  REQUIRE_THROWS_AS(block.temb_grad(), std::logic_error);
  REQUIRE_THROWS_WITH(block.forward(ctx, Mat<double>::Zero(2, 4), Mat<double>::Zero(1, 4), nn::Pass{}),
                      Catch::Contains("temb is 1x4, expected 2x4"));
  const Mat<double> x = Mat<double>::Zero(2, 4), temb = Mat<double>::Zero(2, 4);
  block.forward(ctx, x, temb, nn::Pass{});
  REQUIRE_THROWS_AS(block.temb_grad(), std::logic_error);
  REQUIRE_THROWS_WITH(block.backward(ctx, Mat<double>::Zero(2, 4), true),
                      Catch::Contains("expected the output's 2x8"));
  CHECK(block.backward(ctx, Mat<double>::Ones(2, 8), false) == nullptr);
  CHECK(block.temb_grad().rows() == 2);
}
