// UNet1D and UNet2D (RecFusion's U-Net ablations): the Denoiser concept, parameter names and the
// parameter count derived by hand, output shapes, the forward pass against the xtensor reference
// of the spec's steps 1-7, finite-difference gradients of the whole network, determinism, step
// dependence and argument checks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/denoiser.hpp>
#include <recdiff/denoiser/unet.hpp>

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
using UNet1D = recdiff::UNet1D<CpuBackend, T>;
template <class T>
using UNet2D = recdiff::UNet2D<CpuBackend, T>;

static_assert(recdiff::Denoiser<UNet1D<float>, CpuBackend>);
static_assert(recdiff::Denoiser<UNet2D<float>, CpuBackend>);
static_assert(recdiff::Denoiser<UNet1D<double>, CpuBackend>);
static_assert(!recdiff::SparseInputDenoiser<UNet1D<float>, CpuBackend>);

namespace {

// The parameter count from the architecture, layer by layer, with K = 3^dims (a 3-tap or 3 x 3
// kernel) and the stem's, downsampling's and head's kernels 7^dims, 4^dims and 1.
std::size_t count_by_hand(int dims) {
  auto pow = [](std::size_t b, int e) { return e == 1 ? b : b * b; };
  const std::size_t k3 = pow(3, dims), k7 = pow(7, dims), k4 = pow(4, dims);
  auto conv = [](std::size_t cin, std::size_t cout, std::size_t taps) { return cout * cin * taps + cout; };
  auto res_block = [&](std::size_t cin, std::size_t cout) {
    return (4 * 2 * cout + 2 * cout)          // mlp: Linear(4, 2 Cout)
           + conv(cin, cout, k3) + 2 * cout   // block1: WSConv + GroupNorm affine
           + conv(cout, cout, k3) + 2 * cout  // block2
           + (cin != cout ? conv(cin, cout, 1) : 0);  // res_conv
  };
  const std::size_t time_mlp = 2 * (4 * 4 + 4);
  return time_mlp + conv(1, 1, k7)                   // 1. init_conv
         + res_block(1, 1) + conv(1, 1, k4)          // 2. ResBlock, downsampling
         + res_block(1, 1) + conv(1, 2, k3)          // 3.
         + 2 * res_block(2, 2)                       // 4. mid blocks
         + res_block(3, 2) + conv(2, 1, k3)          // 5. (after the x2 upsampling)
         + res_block(2, 1) + conv(1, 1, k3)          // 6.
         + res_block(2, 1) + conv(1, 1, 1);          // 7. final ResBlock and 1 x 1 head
}

// Moves every GroupNorm gain and bias of the network away from 1 and 0 (so that the checks see
// them), keeping the initialised weights.
template <class Net>
void perturb_norms(Net& net) {
  std::uint32_t seed = 100;
  for (auto& p : nn::parameters_of(net)) {
    if (p.name.find(".norm.") == std::string::npos) continue;
    using T = typename Net::scalar_type;
    const bool gain = p.name.ends_with("weight");
    p.value() = (gain ? Mat<T>::Ones(1, p.value().cols()) : Mat<T>::Zero(1, p.value().cols())) +
                T(0.3) * random_matrix<T>(1, p.value().cols(), seed++);
  }
}

nn::Pass pass_with(std::span<const int> steps, bool train = false, std::uint32_t counter = 2) {
  nn::Pass pass;
  pass.train = train;
  pass.seed = 5;
  pass.counter = counter;
  pass.steps = steps;
  return pass;
}

}  // namespace

TEST_CASE("UNet: parameter count by hand (356 in 1-D, 656 in 2-D, whatever I)", "[denoiser][unet]") {
  CHECK(count_by_hand(1) == 356);
  CHECK(count_by_hand(2) == 656);
  for (const int items : {8, 20, 1008}) {
    INFO("I = " << items);
    UNet1D<float> u1(items);
    UNet2D<float> u2(items);
    CHECK(u1.num_parameters() == count_by_hand(1));
    CHECK(u2.num_parameters() == count_by_hand(2));
    CHECK(nn::count_scalars(nn::parameters_of(u1)) == u1.num_parameters());
    CHECK(nn::count_scalars(nn::parameters_of(u2)) == u2.num_parameters());
    CHECK(u1.items() == items);
  }
}

TEST_CASE("UNet: parameter names follow the reference U-Net, in forward order", "[denoiser][unet]") {
  UNet1D<float> net(8);
  const auto names = recdiff::test::parameter_names(net);
  CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
  CHECK(names.front() == "time_mlp.1.weight");
  CHECK(names[4] == "init_conv.weight");
  CHECK(names[6] == "downs.0.0.mlp.1.weight");
  CHECK(names.back() == "final_conv.bias");
  for (const std::string expected :
       {"downs.0.3.weight", "downs.1.3.bias", "mid_block1.block2.norm.weight", "mid_block2.mlp.1.bias",
        "ups.0.0.res_conv.weight", "ups.0.3.1.weight", "ups.1.0.res_conv.bias", "ups.1.3.weight",
        "final_res_block.block1.proj.weight", "final_res_block.res_conv.weight"})
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  CHECK(std::find(names.begin(), names.end(), "downs.0.0.res_conv.weight") == names.end());
  CHECK(recdiff::test::parameter_names(net, "denoiser.").front() == "denoiser.time_mlp.1.weight");
}

TEST_CASE("UNet: initialisation is PyTorch's default, reproducible from the seed", "[denoiser][unet]") {
  UNet1D<double> a(8, 3), b(8, 3), c(8, 4);
  auto pa = nn::parameters_of(a), pb = nn::parameters_of(b), pc = nn::parameters_of(c);
  bool differs = false;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].name);
    CHECK(pa[i].value() == pb[i].value());
    differs = differs || pa[i].value() != pc[i].value();
    if (pa[i].name.find(".norm.") != std::string::npos) {
      const double expected = pa[i].name.ends_with("weight") ? 1.0 : 0.0;
      CHECK(pa[i].value() == Mat<double>::Constant(1, pa[i].value().cols(), expected));
    }
  }
  CHECK(differs);
  // init_conv: fan_in 7, bound 1 / sqrt(7).
  CHECK(pa[4].value().cwiseAbs().maxCoeff() < 1 / std::sqrt(7.0));
  CHECK(pa[4].value().cwiseAbs().maxCoeff() > 0.1);
}

TEST_CASE("UNet1D: forward equals the xtensor reference of steps 1-7 (one step per row)",
          "[denoiser][unet]") {
  CpuBackend::Context ctx(2);
  for (const int items : {8, 12}) {
    INFO("I = " << items);
    UNet1D<double> net(items, 7);
    perturb_norms(net);
    const Mat<double> x = random_matrix<double>(3, items, 1);
    const std::vector<int> steps{0, 1, 2};
    const Mat<double> y = net.forward(ctx, x, pass_with(steps));
    REQUIRE(y.rows() == 3);
    REQUIRE(y.cols() == items);
    const Array ref = recdiff::test::unet_ref(recdiff::test::to_array(x, Shape{3, std::size_t(items)}),
                                              steps, recdiff::test::param_table(net), 1);
    CHECK(recdiff::test::max_relative_difference(
              recdiff::test::to_array(y, Shape{3, std::size_t(items)}), ref) < 1e-12);
    // Each row is its own sequence: row 1 alone, with its step, gives the same bits.
    const Mat<double> row = x.row(1);
    const std::vector<int> one{1};
    CHECK(net.forward(ctx, row, pass_with(one)) == y.row(1));
    // The step matters.
    const std::vector<int> later{5, 5, 5};
    CHECK((net.forward(ctx, x, pass_with(later)) - y).cwiseAbs().maxCoeff() > 1e-6);
  }
}

TEST_CASE("UNet2D: forward equals the xtensor reference of the batch as one image",
          "[denoiser][unet]") {
  CpuBackend::Context ctx(2);
  for (const auto& [rows, items] : {std::pair{4, 8}, std::pair{6, 10}, std::pair{2, 4}}) {
    INFO(rows << " x " << items);
    UNet2D<double> net(items, 9);
    perturb_norms(net);
    CHECK(net.dropout() == 0.1);
    const Mat<double> x = random_matrix<double>(rows, items, 2);
    const std::vector<int> steps(static_cast<std::size_t>(rows), 1);
    const Mat<double> y = net.forward(ctx, x, pass_with(steps));  // evaluation: no dropout
    REQUIRE(y.rows() == rows);
    REQUIRE(y.cols() == items);
    const Array ref = recdiff::test::unet_ref(
        recdiff::test::to_array(x, Shape{std::size_t(rows), std::size_t(items)}), steps,
        recdiff::test::param_table(net), 2);
    CHECK(recdiff::test::max_relative_difference(
              recdiff::test::to_array(y, Shape{std::size_t(rows), std::size_t(items)}), ref) < 1e-12);
    CHECK(net.time_mlp().features().rows() == 1);  // one image, one embedding
    // The users interact: changing one row changes the others' outputs.
    Mat<double> x2 = x;
    x2(0, 0) += 1;
    const Mat<double> y2 = net.forward(ctx, x2, pass_with(steps));
    CHECK((y2.row(rows - 1) - y.row(rows - 1)).cwiseAbs().maxCoeff() > 0);
    // Training dropout changes the output, keyed by the pass.
    const Mat<double> t1 = net.forward(ctx, x, pass_with(steps, true, 3));
    CHECK(net.forward(ctx, x, pass_with(steps, true, 3)) == t1);
    CHECK(t1 != y);
  }
}

TEST_CASE("UNet1D (I = 8): gradients of every parameter and of the input match finite differences",
          "[denoiser][unet][gradcheck]") {
  UNet1D<double> net(8, 11);
  perturb_norms(net);
  const std::vector<int> steps{1, 0, 2};
  const auto check = recdiff::test::check_module(net, random_matrix<double>(3, 8, 3), pass_with(steps));
  recdiff::test::require_unet_gradients<double>(check, net, nn::parameters_of(net).size());
}

TEST_CASE("UNet2D (B = 4, I = 8): gradients of every parameter and of the input match finite "
          "differences (training pass, dropout on)",
          "[denoiser][unet][gradcheck]") {
  UNet2D<double> net(8, 12);
  perturb_norms(net);
  const std::vector<int> steps{2, 2, 2, 2};
  const auto check =
      recdiff::test::check_module(net, random_matrix<double>(4, 8, 4), pass_with(steps, true, 7));
  recdiff::test::require_unet_gradients<double>(check, net, nn::parameters_of(net).size());
}

TEST_CASE("UNet1D and UNet2D in float: input gradient by finite differences, every gradient equal "
          "to the double network's",
          "[denoiser][unet][gradcheck]") {
  {
    UNet1D<double> d(8, 11);
    UNet1D<float> f(8, 11);
    perturb_norms(d);
    const std::vector<int> steps{1, 0, 2};
    const Mat<double> x = random_matrix<double>(3, 8, 3);
    recdiff::test::require_float_matches_double(f, d, x, pass_with(steps));
    const auto check = recdiff::test::check_module(f, Mat<float>(x.cast<float>()), pass_with(steps));
    CHECK(check.input < recdiff::test::Tolerances<float>::gradient);
  }
  {
    UNet2D<double> d(8, 12);
    UNet2D<float> f(8, 12);
    perturb_norms(d);
    const std::vector<int> steps{2, 2, 2, 2};
    const Mat<double> x = random_matrix<double>(4, 8, 4);
    recdiff::test::require_float_matches_double(f, d, x, pass_with(steps, true, 7));
    const auto check =
        recdiff::test::check_module(f, Mat<float>(x.cast<float>()), pass_with(steps, true, 7));
    CHECK(check.input < recdiff::test::Tolerances<float>::gradient);
  }
}

TEST_CASE("UNet: gradients accumulate, and no input gradient unless asked", "[denoiser][unet]") {
  UNet1D<double> net(8, 13);
  const std::vector<int> steps{1, 2};
  CpuBackend::Context ctx(1);
  {  // two backward passes without zero_grad(): twice the gradient; after zero_grad(): once.
    const Mat<double> x = random_matrix<double>(2, 8, 5), r = random_matrix<double>(2, 8, 6);
    auto params = nn::parameters_of(net);
    nn::zero_grad(params);
    net.forward(ctx, x, pass_with(steps));
    net.backward(ctx, r, false);
    std::vector<Mat<double>> once;
    for (auto& p : params) once.push_back(p.tensor->gradient());
    net.forward(ctx, x, pass_with(steps));
    net.backward(ctx, r, false);
    for (std::size_t k = 0; k < params.size(); ++k) {
      INFO(params[k].name);
      CHECK((params[k].tensor->gradient() - 2.0 * once[k]).norm() <= 1e-12 * (1 + once[k].norm()));
      if (!recdiff::test::normalised_away(params[k])) CHECK(!once[k].isZero());
    }
    nn::zero_grad(params);
    net.forward(ctx, x, pass_with(steps));
    net.backward(ctx, r, false);
    for (std::size_t k = 0; k < params.size(); ++k) CHECK(params[k].tensor->gradient() == once[k]);
  }
  const Mat<double> x = random_matrix<double>(2, 8, 5);
  net.forward(ctx, x, pass_with(steps));
  CHECK(net.backward(ctx, Mat<double>::Ones(2, 8), false) == nullptr);
  const Mat<double>* dx = net.backward(ctx, Mat<double>::Ones(2, 8), true);
  REQUIRE(dx != nullptr);
  CHECK(dx->rows() == 2);
  CHECK(dx->cols() == 8);
}

TEST_CASE("UNet: the same bits at any thread count (long rows, several chunks)", "[denoiser][unet]") {
  const Mat<float> x1 = random_matrix<float>(5, 600, 6);
  const std::vector<int> steps1{0, 1, 2, 1, 0};
  const Mat<float> x2 = random_matrix<float>(6, 520, 7);
  const std::vector<int> steps2(6, 1);
  for (const int threads : {1, 3}) {
    INFO(threads << " threads");
    UNet1D<float> a(600, 1), b(600, 1);
    CpuBackend::Context ca(threads), cb(2);
    CHECK(a.forward(ca, x1, pass_with(steps1)) == b.forward(cb, x1, pass_with(steps1)));
    UNet2D<float> c(520, 1), d(520, 1);
    const Mat<float> dy = random_matrix<float>(6, 520, 8);
    auto pc = nn::parameters_of(c), pd = nn::parameters_of(d);
    nn::zero_grad(pc);
    nn::zero_grad(pd);
    CHECK(c.forward(ca, x2, pass_with(steps2, true)) == d.forward(cb, x2, pass_with(steps2, true)));
    CHECK(*c.backward(ca, dy, true) == *d.backward(cb, dy, true));
    for (std::size_t i = 0; i < pc.size(); ++i) {
      INFO(pc[i].name);
      CHECK(pc[i].tensor->gradient() == pd[i].tensor->gradient());
    }
  }
}

TEST_CASE("UNet: bad arguments are refused with the values named", "[denoiser][unet]") {
  CpuBackend::Context ctx(1);
  REQUIRE_THROWS_WITH(UNet1D<double>(7), Catch::Contains("even") && Catch::Contains("got 7"));
  REQUIRE_THROWS_AS(UNet2D<double>(0), std::invalid_argument);
  REQUIRE_THROWS_AS(UNet2D<double>(8, 1, 1.0), std::invalid_argument);
  UNet1D<double> u1(8);
  const std::vector<int> two{0, 1}, three{1, 1, 1}, mixed{0, 1, 0, 1}, negative{0, -1};
  REQUIRE_THROWS_AS(u1.backward(ctx, Mat<double>::Zero(2, 8)), std::logic_error);
  REQUIRE_THROWS_WITH(u1.forward(ctx, Mat<double>::Zero(2, 6), pass_with(two)),
                      Catch::Contains("6 columns, expected items = 8"));
  REQUIRE_THROWS_WITH(u1.forward(ctx, Mat<double>::Zero(2, 8), pass_with(three)),
                      Catch::Contains("3 steps for 2 rows"));
  REQUIRE_THROWS_WITH(u1.forward(ctx, Mat<double>::Zero(2, 8), nn::Pass{}),
                      Catch::Contains("0 steps for 2 rows"));
  REQUIRE_THROWS_WITH(u1.forward(ctx, Mat<double>::Zero(2, 8), pass_with(negative)),
                      Catch::Contains("got -1"));
  const Mat<double> x = Mat<double>::Zero(2, 8);
  u1.forward(ctx, x, pass_with(two));
  REQUIRE_THROWS_WITH(u1.backward(ctx, Mat<double>::Zero(3, 8)), Catch::Contains("expected 2x8"));
  UNet2D<double> u2(8);
  REQUIRE_THROWS_WITH(u2.forward(ctx, Mat<double>::Zero(3, 8), pass_with(three)),
                      Catch::Contains("B must be even") && Catch::Contains("got 3"));
  REQUIRE_THROWS_WITH(u2.forward(ctx, Mat<double>::Zero(4, 8), pass_with(mixed)),
                      Catch::Contains("one step, got steps 0 and 1"));
}
