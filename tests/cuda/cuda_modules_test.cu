// Every nn module (and the U-Net denoisers built from them) on CudaBackend (float) against the same
// module on CpuBackend: forward outputs, input gradients and accumulated parameter gradients, with
// the CPU module's parameters uploaded into the device module. Compiling this file instantiates the
// forward and backward passes of every module for the device (nvcc refuses, among others, private
// nested kernel functors); the explicit instantiations below also compile the members no test case
// calls. Every test case needs a CUDA device and exits 77 (skipped) without one.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/backend/cuda.hpp>
#include <recdiff/concepts/backend.hpp>
#include <recdiff/concepts/denoiser.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/data/synthetic.hpp>
#include <recdiff/denoiser/unet.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/nn.hpp>

#include "gpu_check.hpp"

using recdiff::CpuBackend;
using recdiff::CudaBackend;
using recdiff::index_t;
namespace nn = recdiff::nn;

namespace {

// The backend tag the module makers of the tests take: make(Of<B>{}, ctx) builds on backend B.
template <class B>
using Of = std::type_identity<B>;

// The module types of the tests, over either backend.
template <class B>
using TanhLinear = nn::Linear<B, float, recdiff::Tanh>;
template <class B>
using Net = nn::Sequence<nn::Optional<nn::RowL2Norm<B, float>>, nn::Dropout<B, float>,
                         TanhLinear<B>, nn::Stack<TanhLinear<B>>, nn::Linear<B, float>>;
template <class B>
using Block = nn::Residual<nn::Sequence<TanhLinear<B>, nn::LayerNorm<B, float>>>;
template <class B>
using Branches = nn::Concat<nn::Linear<B, float, recdiff::Sigmoid>,
                            nn::Sequence<nn::LayerNorm<B, float>, nn::PRelu<B, float>>>;
template <class B>
using Head = nn::Sequence<nn::Linear<B, float>, nn::LogSoftmax<B, float>>;
template <class B>
using Vae = nn::Sequence<nn::Linear<B, float>, nn::GaussianLatent<B, float>, nn::Linear<B, float>>;

// A ResBlock (two inputs, not a Module) with its step embedding held as a parameter: the checks
// then compare the block's temb gradient too.
template <class B, int Dims>
struct ResBlockProbe {
  using backend_type = B;
  using scalar_type = float;
  using Matrix = typename B::template Matrix<float>;
  nn::ResBlock<B, float, Dims> block;
  nn::Tensor<B, float> temb;
  Matrix sum;

  const Matrix& forward(const typename B::Context& ctx, const Matrix& x, const nn::Pass& pass) {
    return block.forward(ctx, x, temb.value, pass);
  }
  const Matrix* backward(const typename B::Context& ctx, const Matrix& dy, bool need_input_grad) {
    const Matrix* dx = block.backward(ctx, dy, need_input_grad);
    if (temb.grad_beta() == 0.0f) {
      temb.grad = block.temb_grad();
    } else {
      nn::add_into<B>(ctx, temb.grad, block.temb_grad(), sum, "ResBlockProbe");
      temb.grad.swap(sum);
    }
    return dx;
  }
  void collect_parameters(const std::string& prefix, nn::ParameterList<B, float>& out) {
    out.push_back({prefix + "temb", &temb});
    block.collect_parameters(prefix, out);
  }
  std::size_t num_parameters() const { return temb.size() + block.num_parameters(); }
};

}  // namespace

// Every member of every module, compiled for the device (member templates, such as
// InputLinear::forward_sparse, are instantiated by the test cases).
template class recdiff::nn::Linear<CudaBackend, float, recdiff::Tanh>;
template class recdiff::nn::Linear<CudaBackend, float, recdiff::Sigmoid>;
template class recdiff::nn::Linear<CudaBackend, float>;
template class recdiff::nn::Activation<CudaBackend, float, recdiff::Sigmoid>;
template class recdiff::nn::Activation<CudaBackend, float, recdiff::LeakyRelu>;
template class recdiff::nn::Dropout<CudaBackend, float>;
template class recdiff::nn::RowL2Norm<CudaBackend, float>;
template class recdiff::nn::StepEmbedding<CudaBackend, float>;
template class recdiff::nn::InputLinear<CudaBackend, float, recdiff::Tanh>;
template class recdiff::nn::PRelu<CudaBackend, float>;
template class recdiff::nn::LayerNorm<CudaBackend, float>;
template class recdiff::nn::LogSoftmax<CudaBackend, float>;
template class recdiff::nn::GaussianLatent<CudaBackend, float>;
template class recdiff::nn::Embedding<CudaBackend, float>;
template class recdiff::nn::Stack<TanhLinear<CudaBackend>>;
template class recdiff::nn::Optional<nn::RowL2Norm<CudaBackend, float>>;
template class recdiff::nn::Sequence<
    nn::Optional<nn::RowL2Norm<CudaBackend, float>>, nn::Dropout<CudaBackend, float>,
    TanhLinear<CudaBackend>, nn::Stack<TanhLinear<CudaBackend>>, nn::Linear<CudaBackend, float>>;
template class recdiff::nn::Residual<
    nn::Sequence<TanhLinear<CudaBackend>, nn::LayerNorm<CudaBackend, float>>>;
template class recdiff::nn::Concat<
    nn::Linear<CudaBackend, float, recdiff::Sigmoid>,
    nn::Sequence<nn::LayerNorm<CudaBackend, float>, nn::PRelu<CudaBackend, float>>>;
// The U-Nets' pieces and the U-Nets.
template class recdiff::nn::Activation<CudaBackend, float, recdiff::Silu>;
template class recdiff::nn::Activation<CudaBackend, float, recdiff::Gelu>;
template class recdiff::nn::Conv<CudaBackend, float, 1>;
template class recdiff::nn::Conv<CudaBackend, float, 2>;
template class recdiff::nn::GroupNorm<CudaBackend, float>;
template class recdiff::nn::UpsampleNearest<CudaBackend, float, 1>;
template class recdiff::nn::UpsampleNearest<CudaBackend, float, 2>;
template class recdiff::nn::TimeMlp<CudaBackend, float>;
template class recdiff::nn::ResBlock<CudaBackend, float, 1>;
template class recdiff::nn::ResBlock<CudaBackend, float, 2>;
template class recdiff::nn::SegmentSums<CudaBackend, float>;
template class recdiff::UNet<CudaBackend, float, 1>;
template class recdiff::UNet<CudaBackend, float, 2>;

static_assert(recdiff::Module<TanhLinear<CudaBackend>, CudaBackend>);
static_assert(recdiff::Module<nn::Activation<CudaBackend, float, recdiff::Sigmoid>, CudaBackend>);
static_assert(recdiff::Module<nn::Dropout<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<nn::RowL2Norm<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<nn::StepEmbedding<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<nn::InputLinear<CudaBackend, float, recdiff::Tanh>, CudaBackend>);
static_assert(recdiff::Module<nn::PRelu<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<nn::LayerNorm<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<nn::LogSoftmax<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<nn::GaussianLatent<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<Net<CudaBackend>, CudaBackend>);
static_assert(recdiff::Module<Block<CudaBackend>, CudaBackend>);
static_assert(recdiff::Module<Branches<CudaBackend>, CudaBackend>);
static_assert(recdiff::Module<Head<CudaBackend>, CudaBackend>);
static_assert(recdiff::Module<Vae<CudaBackend>, CudaBackend>);
static_assert(recdiff::Module<nn::Activation<CudaBackend, float, recdiff::Gelu>, CudaBackend>);
static_assert(recdiff::Module<nn::Conv1d<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<nn::Conv2d<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<nn::GroupNorm<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<nn::UpsampleNearest<CudaBackend, float, 2>, CudaBackend>);
static_assert(recdiff::Module<nn::TimeMlp<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Module<ResBlockProbe<CudaBackend, 1>, CudaBackend>);
static_assert(recdiff::Denoiser<recdiff::UNet1D<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::Denoiser<recdiff::UNet2D<CudaBackend, float>, CudaBackend>);

namespace {

// Outputs and gradients of the device module must equal the host module's within this relative
// error (largest absolute difference over the largest absolute host value).
constexpr double tolerance = 1e-5;

std::vector<float> random_values(std::size_t n, std::mt19937& rng, double scale = 1.0) {
  std::uniform_real_distribution<double> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(u(rng));
  return v;
}

template <class T>
std::vector<T> values(const CpuBackend::Matrix<T>& m) {
  return std::vector<T>(m.data(), m.data() + m.size());
}

template <class T>
std::vector<T> values(const CudaBackend::Context& ctx, const CudaBackend::Matrix<T>& m) {
  std::vector<T> v(static_cast<std::size_t>(m.size()));
  CudaBackend::download(ctx, m, std::span<T>(v));
  return v;
}

CpuBackend::Matrix<float> cpu_matrix(const std::vector<float>& v, std::int64_t rows,
                                     std::int64_t cols) {
  CpuBackend::Matrix<float> m(rows, cols);
  std::copy(v.begin(), v.end(), m.data());
  return m;
}

CudaBackend::Matrix<float> gpu_matrix(const CudaBackend::Context& ctx, const std::vector<float>& v,
                                      std::int64_t rows, std::int64_t cols) {
  CudaBackend::Matrix<float> m;
  CudaBackend::upload(ctx, std::span<const float>(v), rows, cols, m);
  return m;
}

// max |device - host| / max |host| (the plain difference when the host values are all 0).
template <class T>
double relative_error(const std::vector<T>& device, const std::vector<T>& reference) {
  if (device.size() != reference.size()) return INFINITY;
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < device.size(); ++i) {
    diff = std::max(diff,
                    std::abs(static_cast<double>(device[i]) - static_cast<double>(reference[i])));
    scale = std::max(scale, std::abs(static_cast<double>(reference[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

// Shapes and values of a device matrix against a host one.
template <class T>
void check_close(const std::string& what, const CudaBackend::Context& gctx,
                 const CudaBackend::Matrix<T>& device, const CpuBackend::Matrix<T>& host,
                 double bound = tolerance) {
  INFO(what);
  REQUIRE(device.rows() == host.rows());
  REQUIRE(device.cols() == host.cols());
  const double error = relative_error(values(gctx, device), values(host));
  INFO("relative error " << error);
  CHECK(error < bound);
}

// The two modules' parameters have the same names and shapes and (freshly built and initialised
// the same way) the same values; the host values are then moved by up to `perturb` (so that gains
// of 1 and slopes of 0.25 are not all alike) and uploaded into the device module.
template <class CpuModule, class GpuModule>
void share_parameters(const CudaBackend::Context& gctx, CpuModule& cm, GpuModule& gm,
                      std::mt19937& rng, double perturb) {
  auto cparams = nn::parameters_of(cm);
  auto gparams = nn::parameters_of(gm);
  REQUIRE(cparams.size() == gparams.size());
  for (std::size_t i = 0; i < cparams.size(); ++i) {
    INFO("parameter " << cparams[i].name);
    CHECK(gparams[i].name == cparams[i].name);
    auto& c = cparams[i].value();
    check_close("initial value of " + cparams[i].name, gctx, gparams[i].value(), c);
    if (perturb > 0) {
      const auto noise = random_values(static_cast<std::size_t>(c.size()), rng, perturb);
      for (std::size_t k = 0; k < noise.size(); ++k) c.data()[k] += noise[k];
    }
    CudaBackend::upload(gctx, std::span<const float>(c.data(), static_cast<std::size_t>(c.size())),
                        c.rows(), c.cols(), gparams[i].value());
  }
}

// Two passes of forward and backward on both backends (counters `pass.counter` and the next one,
// the first without and the second with the input gradient), outputs and input gradients compared
// after each pass and the parameter gradients accumulated over both at the end.
template <class CpuModule, class GpuModule>
void check_passes(const CudaBackend::Context& gctx, const CpuBackend::Context& cctx, CpuModule& cm,
                  GpuModule& gm, std::int64_t rows, std::int64_t cols, nn::Pass pass,
                  std::mt19937& rng, double bound = tolerance) {
  const auto x = random_values(static_cast<std::size_t>(rows * cols), rng);
  const auto cx = cpu_matrix(x, rows, cols);
  const auto gx = gpu_matrix(gctx, x, rows, cols);
  auto cparams = nn::parameters_of(cm);
  auto gparams = nn::parameters_of(gm);
  nn::zero_grad(cparams);
  nn::zero_grad(gparams);
  const std::uint32_t first_counter = pass.counter;
  for (const bool need_input_grad : {false, true}) {
    pass.counter = first_counter + (need_input_grad ? 1u : 0u);
    const auto& cy = cm.forward(cctx, cx, pass);
    const auto& gy = gm.forward(gctx, gx, pass);
    check_close("forward", gctx, gy, cy, bound);
    const auto dy = random_values(static_cast<std::size_t>(cy.size()), rng);
    const auto cdy = cpu_matrix(dy, cy.rows(), cy.cols());
    const auto gdy = gpu_matrix(gctx, dy, cy.rows(), cy.cols());
    const auto* cdx = cm.backward(cctx, cdy, need_input_grad);
    const auto* gdx = gm.backward(gctx, gdy, need_input_grad);
    REQUIRE((cdx == nullptr) == (gdx == nullptr));
    if (need_input_grad) {
      REQUIRE(cdx != nullptr);
      check_close("input gradient", gctx, *gdx, *cdx, bound);
    }
  }
  REQUIRE(cparams.size() == gparams.size());
  for (std::size_t i = 0; i < cparams.size(); ++i)
    check_close("gradient of " + cparams[i].name, gctx, gparams[i].tensor->gradient(),
                cparams[i].tensor->gradient(), bound);
}

// The whole check for the module that `make(Of<B>{}, ctx)` builds and initialises on backend B
// (`bound`: the relative error allowed; deep networks with normalisations amplify the rounding
// differences of the two backends' GEMMs and contractions).
template <class Maker>
void check_module(const std::string& label, Maker make, std::int64_t rows, std::int64_t cols,
                  const nn::Pass& pass = {}, double perturb = 0.5, double bound = tolerance) {
  INFO(label);
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  std::mt19937 rng(17);
  auto cm = make(Of<CpuBackend>{}, cctx);
  auto gm = make(Of<CudaBackend>{}, gctx);
  share_parameters(gctx, cm, gm, rng, perturb);
  check_passes(gctx, cctx, cm, gm, rows, cols, pass, rng, bound);
}

constexpr std::uint64_t seed = 11;
const std::vector<int> row_steps{0, 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};  // one per row of a batch
constexpr std::int64_t batch = 13;                                        // not a multiple of 8
constexpr int kItems = 60, kHidden = 24, kEmb = 6;                        // InputLinear's sizes
constexpr int kLatent = 9;  // GaussianLatent: not a multiple of the 4 columns of a Philox block

}  // namespace

TEST_CASE("Linear, Activation, Dropout, RowL2Norm and LogSoftmax on the device agree with the CPU",
          "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  check_module(
      "Linear<Tanh>",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::Linear<B, float, recdiff::Tanh> m(37, 21);
        m.initialize(ctx, nn::Init::diffrec, seed, 1);
        return m;
      },
      batch, 37);
  check_module(
      "Linear (identity)",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::Linear<B, float> m(19, 70);
        m.initialize(ctx, nn::Init::xavier_zero_bias, seed, 2);
        return m;
      },
      batch, 19);
  check_module(
      "Activation<Sigmoid>",
      []<class B>(Of<B>, const typename B::Context&) {
        return nn::Activation<B, float, recdiff::Sigmoid>();
      },
      batch, 29);
  check_module(
      "Activation<LeakyRelu>",
      []<class B>(Of<B>, const typename B::Context&) {
        return nn::Activation<B, float, recdiff::LeakyRelu>();
      },
      batch, 29);
  const nn::Pass train{true, seed, 40, {}};
  check_module(
      "Dropout (training)",
      []<class B>(Of<B>, const typename B::Context&) { return nn::Dropout<B, float>(0.3, 5); },
      batch, 31, train);
  check_module(
      "Dropout (evaluation)",
      []<class B>(Of<B>, const typename B::Context&) { return nn::Dropout<B, float>(0.3); }, batch,
      31);
  check_module(
      "RowL2Norm",
      []<class B>(Of<B>, const typename B::Context&) { return nn::RowL2Norm<B, float>(); }, batch,
      45);
  check_module(
      "LogSoftmax",
      []<class B>(Of<B>, const typename B::Context&) { return nn::LogSoftmax<B, float>(); }, batch,
      83);
}

TEST_CASE("StepEmbedding and InputLinear (dense and CSR rows) on the device agree with the CPU",
          "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const nn::Pass steps{false, seed, 0, row_steps};
  check_module(
      "StepEmbedding",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::StepEmbedding<B, float> m(10);
        m.initialize(ctx, nn::Init::diffrec, seed, 0);
        return m;
      },
      batch, 7, steps);

  auto make = []<class B>(Of<B>, const typename B::Context& ctx) {
    nn::InputLinear<B, float, recdiff::Tanh> m(kItems, kHidden, kEmb);
    m.initialize(ctx, nn::Init::diffrec, seed, 1, 0);
    return m;
  };
  const nn::Pass train{true, seed, 3, row_steps};
  check_module("InputLinear<Tanh> with steps", make, batch, kItems, train);
  check_module(
      "InputLinear (no steps)",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::InputLinear<B, float> m(kItems, kHidden);
        m.initialize(ctx, nn::Init::xavier_zero_bias, seed, 1, 0);
        return m;
      },
      batch, kItems);

  // forward_sparse on CSR rows, with and without a per-row scale.
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  std::mt19937 rng(23);
  auto cm = make(Of<CpuBackend>{}, cctx);
  auto gm = make(Of<CudaBackend>{}, gctx);
  share_parameters(gctx, cm, gm, rng, 0.5);
  recdiff::SyntheticConfig sc;
  sc.users = 40;
  sc.items = kItems;
  sc.mean_items_per_user = 9;
  const auto csr = recdiff::make_synthetic(sc);
  const std::vector<index_t> users{0, 7, 3, 39, 12, 3, 20, 8, 1, 30, 31, 5, 17};
  REQUIRE(users.size() == row_steps.size());
  const nn::Pass eval{false, seed, 0, row_steps};
  check_close("forward_sparse", gctx,
              gm.forward_sparse(gctx, csr, users, recdiff::UnitValue{}, eval),
              cm.forward_sparse(cctx, csr, users, recdiff::UnitValue{}, eval));
  std::vector<float> scale(users.size());
  for (std::size_t r = 0; r < users.size(); ++r) scale[r] = 1.0f / static_cast<float>(r + 1);
  const auto cscale = cpu_matrix(scale, batch, 1);
  const auto gscale = gpu_matrix(gctx, scale, batch, 1);
  check_close("forward_sparse with row scale", gctx,
              gm.forward_sparse(gctx, csr, users, recdiff::UnitValue{}, eval, &gscale),
              cm.forward_sparse(cctx, csr, users, recdiff::UnitValue{}, eval, &cscale));
  // forward_from_item_product: the layer's tail on a given item product.
  const auto z = random_values(static_cast<std::size_t>(batch * kHidden), rng);
  check_close("forward_from_item_product", gctx,
              gm.forward_from_item_product(gctx, gpu_matrix(gctx, z, batch, kHidden), eval),
              cm.forward_from_item_product(cctx, cpu_matrix(z, batch, kHidden), eval));
}

TEST_CASE("PRelu, LayerNorm and their initial values on the device agree with the CPU",
          "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  {  // the constructors' initial values are written on the device too
    const CudaBackend::Context gctx;
    const nn::PRelu<CudaBackend, float> shared, per_column(70, 0.1);
    CHECK(values(gctx, shared.weight()) == std::vector<float>{0.25f});
    CHECK(values(gctx, per_column.weight()) == std::vector<float>(70, 0.1f));
    const nn::LayerNorm<CudaBackend, float> norm(70);
    CHECK(values(gctx, norm.weight()) == std::vector<float>(70, 1.0f));
    CHECK(values(gctx, norm.bias()) == std::vector<float>(70, 0.0f));
  }
  // 70 columns: two column blocks of the slope and gain sums.
  check_module(
      "PRelu (one shared slope)",
      []<class B>(Of<B>, const typename B::Context&) { return nn::PRelu<B, float>(); }, batch, 70);
  check_module(
      "PRelu (one slope per column)",
      []<class B>(Of<B>, const typename B::Context&) { return nn::PRelu<B, float>(70); }, batch,
      70);
  check_module(
      "LayerNorm",
      []<class B>(Of<B>, const typename B::Context&) { return nn::LayerNorm<B, float>(70); }, batch,
      70);
  check_module(
      "LayerNorm after initialize()",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::LayerNorm<B, float> m(33, nn::LayerNorm<B, float>::bert_eps);
        m.initialize(ctx);
        return m;
      },
      batch, 33);
}

TEST_CASE("Sequence, Stack, Optional, Residual and Concat on the device agree with the CPU",
          "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const nn::Pass train{true, seed, 8, {}};
  for (const bool normalise : {true, false}) {
    check_module(
        normalise ? "Sequence with Optional<RowL2Norm> on" : "Sequence with Optional off",
        [normalise]<class B>(Of<B>, const typename B::Context& ctx) {
          std::vector<TanhLinear<B>> hidden;
          for (std::uint32_t l = 0; l < 2; ++l) {
            hidden.emplace_back(16, 16);
            hidden.back().initialize(ctx, nn::Init::diffrec, seed, 2 + l);
          }
          TanhLinear<B> first(40, 16);
          first.initialize(ctx, nn::Init::diffrec, seed, 1);
          nn::Linear<B, float> readout(16, 40);
          readout.initialize(ctx, nn::Init::diffrec, seed, 4);
          return Net<B>(nn::Optional<nn::RowL2Norm<B, float>>(normalise),
                        nn::Dropout<B, float>(0.2), std::move(first),
                        nn::Stack<TanhLinear<B>>(std::move(hidden)), std::move(readout));
        },
        batch, 40, train);
  }
  check_module(
      "Optional<Linear> enabled",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        TanhLinear<B> inner(12, 9);
        inner.initialize(ctx, nn::Init::diffrec, seed, 1);
        return nn::Optional<TanhLinear<B>>(true, std::move(inner));
      },
      batch, 12);
  check_module(
      "Residual<Sequence<Linear<Tanh>, LayerNorm>>",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        TanhLinear<B> inner(26, 26);
        inner.initialize(ctx, nn::Init::diffrec, seed, 1);
        return Block<B>(nn::Sequence<TanhLinear<B>, nn::LayerNorm<B, float>>(
            std::move(inner), nn::LayerNorm<B, float>(26)));
      },
      batch, 26);
  check_module(
      "Concat<Linear<Sigmoid>, Sequence<LayerNorm, PRelu>>",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::Linear<B, float, recdiff::Sigmoid> a(18, 11);
        a.initialize(ctx, nn::Init::diffrec, seed, 1);
        return Branches<B>(std::move(a), nn::Sequence<nn::LayerNorm<B, float>, nn::PRelu<B, float>>(
                                             nn::LayerNorm<B, float>(18), nn::PRelu<B, float>(18)));
      },
      batch, 18);
  check_module(
      "Sequence<Linear, LogSoftmax>",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::Linear<B, float> a(15, 50);
        a.initialize(ctx, nn::Init::diffrec, seed, 1);
        return Head<B>(std::move(a), nn::LogSoftmax<B, float>());
      },
      batch, 15);
}

TEST_CASE("GaussianLatent on the device agrees with the CPU (samples, KL and gradients)",
          "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const nn::Pass train{true, seed, 21, {}};
  for (const double kl_weight : {0.0, 0.3}) {
    auto make = [kl_weight]<class B>(Of<B>, const typename B::Context&) {
      nn::GaussianLatent<B, float> m(kLatent);
      m.set_kl_weight(kl_weight);
      return m;
    };
    check_module("GaussianLatent (training)", make, batch, 2 * kLatent, train);
    check_module("GaussianLatent (evaluation)", make, batch, 2 * kLatent);

    const CudaBackend::Context gctx;
    const CpuBackend::Context cctx(1);
    std::mt19937 rng(31);
    auto cm = make(Of<CpuBackend>{}, cctx);
    auto gm = make(Of<CudaBackend>{}, gctx);
    const auto h = random_values(static_cast<std::size_t>(batch * 2 * kLatent), rng);
    const auto ch = cpu_matrix(h, batch, 2 * kLatent);
    const auto gh = gpu_matrix(gctx, h, batch, 2 * kLatent);
    check_close("z", gctx, gm.forward(gctx, gh, train), cm.forward(cctx, ch, train));
    check_close("row_kl", gctx, gm.row_kl(), cm.row_kl());
    CHECK(std::abs(gm.kl_sum(gctx) - cm.kl_sum(cctx)) <= 1e-9 * std::abs(cm.kl_sum(cctx)));
  }
  check_module(
      "Sequence<Linear, GaussianLatent, Linear>",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::Linear<B, float> encoder(30, 2 * kLatent), decoder(kLatent, 30);
        encoder.initialize(ctx, nn::Init::diffrec, seed, 1);
        decoder.initialize(ctx, nn::Init::diffrec, seed, 2);
        nn::GaussianLatent<B, float> z(kLatent);
        z.set_kl_weight(0.2);
        return Vae<B>(std::move(encoder), std::move(z), std::move(decoder));
      },
      batch, 30, train);
}

TEST_CASE("Embedding on the device agrees with the CPU (padding, duplicate ids)", "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  std::mt19937 rng(41);
  for (const std::optional<index_t> padding :
       {std::optional<index_t>{}, std::optional<index_t>{0}}) {
    INFO("padding " << (padding ? "0" : "none"));
    nn::Embedding<CpuBackend, float> cm(20, 70, padding);
    nn::Embedding<CudaBackend, float> gm(20, 70, padding);
    cm.initialize(cctx, seed, 3, 0.5);
    gm.initialize(gctx, seed, 3, 0.5);
    share_parameters(gctx, cm, gm, rng, 0.0);  // the padding row stays zero
    // Ids with duplicates, the padding id and rows that no id reaches.
    const std::vector<index_t> ids{4, 0, 7, 4, 19, 0, 4, 12, 7, 3, 0, 18, 4, 5, 6};
    auto cparams = nn::parameters_of(cm);
    auto gparams = nn::parameters_of(gm);
    nn::zero_grad(cparams);
    nn::zero_grad(gparams);
    for (int pass = 0; pass < 2; ++pass) {  // the second pass accumulates
      const auto& cy = cm.forward_ids(cctx, ids);
      const auto& gy = gm.forward_ids(gctx, ids);
      check_close("forward_ids", gctx, gy, cy);
      const auto dy = random_values(static_cast<std::size_t>(cy.size()), rng);
      cm.backward(cctx, cpu_matrix(dy, cy.rows(), cy.cols()));
      gm.backward(gctx, gpu_matrix(gctx, dy, cy.rows(), cy.cols()));
    }
    check_close("weight gradient", gctx, gm.weight_grad(), cm.weight_grad());
    if (padding) {
      const auto g = values(gctx, gm.weight_grad());
      CHECK(std::all_of(g.begin(), g.begin() + 70, [](float v) { return v == 0.0f; }));
    }
  }
}

TEST_CASE("Conv1d, Conv2d, GroupNorm, UpsampleNearest, Silu and Gelu on the device agree with the "
          "CPU",
          "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  // 1-D rows of 2 channels x 300 positions (two chunks of output columns), strided and padded,
  // with and without weight standardisation.
  for (const bool ws : {false, true}) {
    check_module(
        ws ? "Conv1d 2->3 k3 p1 (weight standardisation)" : "Conv1d 2->3 k3 p1",
        [ws]<class B>(Of<B>, const typename B::Context& ctx) {
          nn::Conv1d<B, float> m(2, 3, 3, {1, 1, true, ws});
          m.initialize(ctx, seed, 1);
          return m;
        },
        batch, 2 * 300);
  }
  check_module(
      "Conv1d 1->1 k4 s2 p1",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::Conv1d<B, float> m(1, 1, 4, {2, 1, true, false});
        m.initialize(ctx, seed, 2);
        return m;
      },
      batch, 40);
  check_module(
      "Conv2d 2->1 k3 p1 (weight standardisation), one 6 x 270 image",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::Conv2d<B, float> m(2, 1, 3, 270, {1, 1, true, true});
        m.initialize(ctx, seed, 3);
        return m;
      },
      1, 2 * 6 * 270);
  check_module(
      "Conv2d 1->2 k4 s2 p1 (no bias)",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::Conv2d<B, float> m(1, 2, 4, 10, {2, 1, false, false});
        m.initialize(ctx, seed, 4);
        return m;
      },
      2, 8 * 10);
  check_module(
      "GroupNorm(1, 3)",
      []<class B>(Of<B>, const typename B::Context&) { return nn::GroupNorm<B, float>(3); }, batch,
      3 * 100);
  check_module(
      "GroupNorm(1, 2), one image of 2 x 20 x 30",
      []<class B>(Of<B>, const typename B::Context&) { return nn::GroupNorm<B, float>(2); }, 1,
      2 * 20 * 30);
  check_module(
      "UpsampleNearest 1-D",
      []<class B>(Of<B>, const typename B::Context&) { return nn::UpsampleNearest<B, float, 1>(); },
      batch, 30);
  check_module(
      "UpsampleNearest 2-D",
      []<class B>(Of<B>, const typename B::Context&) { return nn::UpsampleNearest<B, float, 2>(15); },
      2, 2 * 4 * 15);
  check_module(
      "Activation<Silu>",
      []<class B>(Of<B>, const typename B::Context&) {
        return nn::Activation<B, float, recdiff::Silu>();
      },
      batch, 29);
  check_module(
      "Activation<Gelu>",
      []<class B>(Of<B>, const typename B::Context&) {
        return nn::Activation<B, float, recdiff::Gelu>();
      },
      batch, 29);
  {  // channel concatenation and split
    const CudaBackend::Context gctx;
    std::mt19937 rng(5);
    const auto a = random_values(3 * 400, rng), b = random_values(3 * 200, rng);
    CpuBackend::Matrix<float> ca = cpu_matrix(a, 3, 400), cb = cpu_matrix(b, 3, 200), cab, cda, cdb;
    CudaBackend::Matrix<float> ga = gpu_matrix(gctx, a, 3, 400), gb = gpu_matrix(gctx, b, 3, 200), gab,
                               gda, gdb;
    nn::concat_channels<CpuBackend>(CpuBackend::Context(1), ca, cb, cab);
    nn::concat_channels<CudaBackend>(gctx, ga, gb, gab);
    check_close("concat_channels", gctx, gab, cab);
    nn::split_channels<CudaBackend>(gctx, gab, 400, gda, gdb);
    check_close("split_channels (first)", gctx, gda, ca);
    check_close("split_channels (second)", gctx, gdb, cb);
  }
}

TEST_CASE("TimeMlp, ResBlock, UNet1D and UNet2D on the device agree with the CPU", "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const nn::Pass steps{false, seed, 0, row_steps};
  check_module(
      "TimeMlp",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        nn::TimeMlp<B, float> m;
        m.initialize(ctx, seed, 0);
        return m;
      },
      batch, 3, steps);
  check_module(
      "ResBlock 1-D 3->2",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        ResBlockProbe<B, 1> m{nn::ResBlock<B, float, 1>(3, 2), nn::Tensor<B, float>(batch, 4), {}};
        m.block.initialize(ctx, seed, 0);
        return m;
      },
      batch, 3 * 280, {}, 0.5, 1e-4);
  const nn::Pass train{true, seed, 12, {}};
  check_module(
      "ResBlock 2-D 1->1 (dropout, training)",
      []<class B>(Of<B>, const typename B::Context& ctx) {
        ResBlockProbe<B, 2> m{nn::ResBlock<B, float, 2>(1, 1, 40, 0.1, 3u), nn::Tensor<B, float>(1, 4), {}};
        m.block.initialize(ctx, seed, 0);
        return m;
      },
      1, 10 * 40, train, 0.5, 1e-4);
  check_module(
      "UNet1D (I = 60)",
      []<class B>(Of<B>, const typename B::Context&) { return recdiff::UNet1D<B, float>(60, seed); },
      batch, 60, steps, 0.05, 5e-4);
  const std::vector<int> image_steps(6, 2);
  const nn::Pass image_train{true, seed, 30, image_steps};
  check_module(
      "UNet2D (B = 6, I = 40, training)",
      []<class B>(Of<B>, const typename B::Context&) { return recdiff::UNet2D<B, float>(40, seed); },
      6, 40, image_train, 0.05, 5e-4);
}
