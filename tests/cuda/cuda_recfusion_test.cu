// The RecFusion family (RecFusion, RecFusionT, RecFusionVar, RecFusionBin), CODIGEM and RecFusion's
// port of it on CudaBackend against the same models on CpuBackend: PReluMlp's forward and backward
// passes (outputs, input and parameter gradients, dense and CSR input), then every model built from
// the same configuration and seed on both backends: the same initial parameters and scores, three
// training steps with the same losses (relative 1e-4), and the same parameters and scores after
// them within float tolerance; checkpoints written on one backend and loaded on the other. Compiling
// this file instantiates every model's training, scoring and checkpoint path for the device (the
// whole-chain batch, RecFusionBin's sparse path with the one-way Bernoulli kernel, the chain row
// kernels, CODIGEM's step networks). Every test case needs a CUDA device and exits 77 (skipped)
// without one.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "support/shared_data.hpp"
#include "support/toy_data.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/backend/cuda.hpp>
#include <recdiff/concepts/denoiser.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/models/codigem.hpp>
#include <recdiff/models/recfusion.hpp>
#include <recdiff/train/trainer.hpp>

#include "agreement.hpp"
#include "gpu_check.hpp"

using recdiff::CpuBackend;
using recdiff::CudaBackend;
using recdiff::index_t;
using recdiff::RecFusionLoss;
using recdiff::ScoreMatrix;
namespace nn = recdiff::nn;

static_assert(recdiff::SparseInputDenoiser<recdiff::PReluMlp<CudaBackend, float, recdiff::Tanh>,
                                           CudaBackend>);
static_assert(recdiff::Denoiser<
              recdiff::PReluMlp<CudaBackend, float, recdiff::Identity, recdiff::DistinctHidden>,
              CudaBackend>);
static_assert(recdiff::Module<nn::StepOffset<CudaBackend, float>, CudaBackend>);
static_assert(recdiff::TrainableModel<recdiff::RecFusion<CudaBackend>>);
static_assert(recdiff::TrainableModel<recdiff::RecFusionT<CudaBackend>>);
static_assert(recdiff::TrainableModel<recdiff::RecFusionVar<CudaBackend>>);
static_assert(recdiff::TrainableModel<recdiff::RecFusionBin<CudaBackend>>);
static_assert(recdiff::TrainableModel<recdiff::Codigem<CudaBackend>>);
static_assert(recdiff::TrainableModel<recdiff::CodigemRecFusionPort<CudaBackend>>);
static_assert(recdiff::RecFusionBin<CudaBackend>::diffusion_type::sparse_training_available);
static_assert(!recdiff::RecFusionBin<
              CudaBackend, recdiff::TwoWayFlip>::diffusion_type::sparse_training_available);

namespace {

using namespace recdiff::test::agreement;

std::vector<float> random_values(std::size_t n, std::mt19937& rng, double scale = 1.0) {
  std::uniform_real_distribution<double> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(u(rng));
  return v;
}

// Checkpoints across backends: `cpu` and `gpu` (same configuration, the host parameters copied
// into the device model) train two steps each; then the device model's checkpoint is loaded into
// a fresh host model `cpu_copy` and the host model's into a fresh device model `gpu_copy`. The
// loaded parameters are the saved ones exactly, the scores agree across the backends, and two
// more steps from the loaded optimiser states give the same losses and parameters.
template <class CpuModel, class GpuModel, class Save, class Load>
void check_checkpoints(const std::string& label, CpuModel& cpu, GpuModel& gpu, CpuModel& cpu_copy,
                       GpuModel& gpu_copy, Save save, Load load) {
  INFO(label);
  const auto data = toy_data();
  const CudaBackend::Context& gctx = gpu.context();
  copy_parameters(gctx, gpu.parameters(), cpu.parameters());
  for (std::uint32_t step = 0; step < 2; ++step) {
    cpu.train_batch(data, batch_users(step), step);
    gpu.train_batch(data, batch_users(step), step);
  }
  const recdiff::test::TempDir dir;
  save(gpu, dir / "device.ckpt");
  save(cpu, dir / "host.ckpt");
  load(cpu_copy, dir / "device.ckpt");
  load(gpu_copy, dir / "host.ckpt");
  // Loaded values are the saved bits: the bound admits no relative difference but 0.
  check_parameters("device checkpoint on the host", gctx, gpu.parameters(), cpu_copy.parameters(),
                   1e-30);
  check_parameters("host checkpoint on the device", gpu_copy.context(), gpu_copy.parameters(),
                   cpu.parameters(), 1e-30);
  ScoreMatrix a, b;
  gpu.score(data, score_users(), a);
  cpu_copy.score(data, score_users(), b);
  CHECK(relative_error(values(a), values(b)) < kInitialScores);
  cpu.score(data, score_users(), a);
  gpu_copy.score(data, score_users(), b);
  CHECK(relative_error(values(b), values(a)) < kInitialScores);
  for (std::uint32_t step = 2; step < 4; ++step) {
    const auto users = batch_users(step);
    const double host = cpu_copy.train_batch(data, users, step);
    const double device = gpu.train_batch(data, users, step);
    INFO("step " << step << ": host loss " << host << ", device loss " << device);
    CHECK(std::abs(host - device) <= kLoss * std::abs(host));
    const double device_copy = gpu_copy.train_batch(data, users, step);
    const double host_original = cpu.train_batch(data, users, step);
    INFO("host loss " << host_original << ", device copy's loss " << device_copy);
    CHECK(std::abs(host_original - device_copy) <= kLoss * std::abs(host_original));
  }
  check_parameters("after training on from the device checkpoint", gctx, gpu.parameters(),
                   cpu_copy.parameters(), kTrained);
  check_parameters("after training on from the host checkpoint", gpu_copy.context(),
                   gpu_copy.parameters(), cpu.parameters(), kTrained);
}

recdiff::RecFusionConfig small_recfusion() {
  recdiff::RecFusionConfig c = recdiff::recfusion_preset("recfusion-default");  // T = 3
  c.hidden = 16;
  c.depth = 2;
  c.lr = 1e-3;
  c.seed = kSeed;
  return c;
}

recdiff::CodigemConfig small_codigem(bool port) {
  recdiff::CodigemConfig c = recdiff::codigem_preset(port ? "codigem-recfusion" : "codigem");
  c.hidden = 16;
  c.depth = 2;
  c.seed = kSeed;
  return c;
}

// PReluMlp's parameter values: the host's copied into the device network (after checking that
// the two initialisations agree), each moved by up to 0.1 first so that slopes are not all 0.25.
template <class CpuNet, class GpuNet>
void share_net_parameters(const CudaBackend::Context& gctx, CpuNet& cnet, GpuNet& gnet,
                          std::mt19937& rng) {
  const auto cparams = nn::parameters_of(cnet);
  const auto gparams = nn::parameters_of(gnet);
  check_parameters("initial parameters", gctx, gparams, cparams, 1e-6);
  for (const auto& p : cparams) {
    auto& v = p.value();
    const auto noise = random_values(static_cast<std::size_t>(v.size()), rng, 0.1);
    for (std::size_t k = 0; k < noise.size(); ++k) v.data()[k] += noise[k];
  }
  copy_parameters(gctx, gparams, cparams);
}

// Two forward + backward passes of PReluMlp of `config` on both backends (dense input, the second
// with the input gradient), then a CSR forward pass and its backward; outputs and input gradients
// compared after each pass, the parameter gradients accumulated over all three at the end.
template <class Head, class Hidden>
void check_net(const std::string& label, const recdiff::PReluMlpConfig& config) {
  INFO(label);
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  std::mt19937 rng(29);
  recdiff::PReluMlp<CpuBackend, float, Head, Hidden> cnet(config);
  recdiff::PReluMlp<CudaBackend, float, Head, Hidden> gnet(config);
  cnet.initialize(cctx, kSeed, 3);
  gnet.initialize(gctx, kSeed, 3);
  share_net_parameters(gctx, cnet, gnet, rng);
  const auto cparams = nn::parameters_of(cnet);
  const auto gparams = nn::parameters_of(gnet);
  nn::zero_grad(cparams);
  nn::zero_grad(gparams);

  const std::int64_t rows = 13, items = config.items;
  const std::vector<int> steps{0, 2, 1, 1, 0, 2, 2, 1, 0, 0, 1, 2, 1};
  const nn::Pass pass{true, kSeed, 4, steps};
  constexpr double bound = 1e-5;
  auto compare_backward = [&](const auto& cy, const auto& gy, bool need_input_grad) {
    check_close("forward", gctx, gy, cy, bound);
    const auto dy = random_values(static_cast<std::size_t>(cy.size()), rng);
    CpuBackend::Matrix<float> cdy(cy.rows(), cy.cols());
    std::copy(dy.begin(), dy.end(), cdy.data());
    CudaBackend::Matrix<float> gdy;
    CudaBackend::upload(gctx, std::span<const float>(dy), cy.rows(), cy.cols(), gdy);
    const auto* cdx = cnet.backward(cctx, cdy, need_input_grad);
    const auto* gdx = gnet.backward(gctx, gdy, need_input_grad);
    REQUIRE((cdx == nullptr) == (gdx == nullptr));
    if (need_input_grad) {
      REQUIRE(cdx != nullptr);
      check_close("input gradient", gctx, *gdx, *cdx, bound);
    }
  };
  for (const bool need_input_grad : {false, true}) {
    const auto x = random_values(static_cast<std::size_t>(rows * items), rng, 0.5);
    CpuBackend::Matrix<float> cx(rows, items);
    std::copy(x.begin(), x.end(), cx.data());
    CudaBackend::Matrix<float> gx;
    CudaBackend::upload(gctx, std::span<const float>(x), rows, items, gx);
    compare_backward(cnet.forward(cctx, cx, pass), gnet.forward(gctx, gx, pass), need_input_grad);
  }
  // CSR rows (entries 1), a repeated user among them.
  const auto data = toy_data();
  const std::vector<index_t> users{0, 7, 3, 39, 12, 3, 20, 8, 1, 30, 31, 5, 17};
  REQUIRE(users.size() == steps.size());
  compare_backward(cnet.forward_sparse(cctx, data, users, recdiff::UnitValue{}, pass),
                   gnet.forward_sparse(gctx, data, users, recdiff::UnitValue{}, pass), false);
  REQUIRE(cparams.size() == gparams.size());
  for (std::size_t i = 0; i < cparams.size(); ++i)
    check_close("gradient of " + cparams[i].name, gctx, gparams[i].tensor->gradient(),
                cparams[i].tensor->gradient(), bound);
}

}  // namespace

TEST_CASE("PReluMlp on the device agrees with the CPU (forward, backward, CSR input)",
          "[cuda][gpu][recfusion]") {
  recdiff::test::require_cuda_device();
  recdiff::PReluMlpConfig c;
  c.items = kItems;
  c.hidden = 12;
  c.depth = 3;
  check_net<recdiff::Tanh, recdiff::SharedHidden>("shared hidden, tanh head", c);
  check_net<recdiff::Tanh, recdiff::DistinctHidden>("distinct hidden, tanh head", c);
  c.step_offset = recdiff::StepOffsetAt::input;
  check_net<recdiff::Tanh, recdiff::SharedHidden>("step offset at the input", c);
  c.step_offset = recdiff::StepOffsetAt::output;
  check_net<recdiff::Tanh, recdiff::SharedHidden>("step offset at the output", c);
  c.step_offset = recdiff::StepOffsetAt::none;
  c.outputs = 2 * kItems;
  c.first_layer_std = 1e-2;
  check_net<recdiff::Identity, recdiff::DistinctHidden>("2 I identity head, normal first layer", c);
  c.outputs = 0;
  c.first_layer_std = 0;
  c.depth = 0;
  check_net<recdiff::Identity, recdiff::SharedHidden>("depth 0", c);
}

TEST_CASE("RecFusion, RecFusionT and RecFusionVar on the device agree with the CPU",
          "[cuda][gpu][recfusion]") {
  recdiff::test::require_cuda_device();
  const auto c = small_recfusion();
  {
    auto cpu = recdiff::make_recfusion<CpuBackend>(c, kItems, 1);
    auto gpu = recdiff::make_recfusion<CudaBackend>(c, kItems);
    check_models("RecFusion", cpu, gpu);
  }
  for (const auto at : {recdiff::StepOffsetAt::input, recdiff::StepOffsetAt::output}) {
    auto ct = c;
    ct.step_offset = at;
    auto cpu = recdiff::make_recfusion_t<CpuBackend>(ct, kItems, 1);
    auto gpu = recdiff::make_recfusion_t<CudaBackend>(ct, kItems);
    check_models(at == recdiff::StepOffsetAt::input ? "RecFusionT (offset at the input)"
                                                    : "RecFusionT (offset at the output)",
                 cpu, gpu);
  }
  {
    auto cpu = recdiff::make_recfusion_var<CpuBackend>(c, kItems, 1);
    auto gpu = recdiff::make_recfusion_var<CudaBackend>(c, kItems);
    check_models("RecFusionVar", cpu, gpu);
  }
}

TEST_CASE(
    "RecFusionBin (one-way sparse and dense, two-way, Gaussian terms) on the device agrees "
    "with the CPU",
    "[cuda][gpu][recfusion]") {
  recdiff::test::require_cuda_device();
  auto c = small_recfusion();
  c.process = "one-way";
  c.sparse_training = true;
  {
    auto cpu =
        recdiff::make_recfusion_bin<CpuBackend, recdiff::OneWay, RecFusionLoss::bce>(c, kItems, 1);
    auto gpu =
        recdiff::make_recfusion_bin<CudaBackend, recdiff::OneWay, RecFusionLoss::bce>(c, kItems);
    REQUIRE(gpu.diffusion().options().sparse_training);
    check_models("RecFusionBin one-way, sparse training", cpu, gpu);
  }
  c.sparse_training = false;
  {
    auto cpu =
        recdiff::make_recfusion_bin<CpuBackend, recdiff::OneWay, RecFusionLoss::bce>(c, kItems, 1);
    auto gpu =
        recdiff::make_recfusion_bin<CudaBackend, recdiff::OneWay, RecFusionLoss::bce>(c, kItems);
    check_models("RecFusionBin one-way, dense training", cpu, gpu);
  }
  c.process = "two-way";
  {
    auto cpu = recdiff::make_recfusion_bin<CpuBackend, recdiff::TwoWayFlip, RecFusionLoss::bce>(
        c, kItems, 1);
    auto gpu = recdiff::make_recfusion_bin<CudaBackend, recdiff::TwoWayFlip, RecFusionLoss::bce>(
        c, kItems);
    check_models("RecFusionBin two-way", cpu, gpu);
  }
  // The Gaussian terms read x_t, so the sparse path densifies its CSR draw as well.
  c.process = "one-way";
  c.sparse_training = true;
  c.gaussian_terms = true;
  {
    auto cpu = recdiff::make_recfusion_bin<CpuBackend, recdiff::OneWay,
                                           RecFusionLoss::bce_with_gaussian_terms>(c, kItems, 1);
    auto gpu = recdiff::make_recfusion_bin<CudaBackend, recdiff::OneWay,
                                           RecFusionLoss::bce_with_gaussian_terms>(c, kItems);
    check_models("RecFusionBin one-way with the Gaussian terms, sparse training", cpu, gpu);
  }
}

TEST_CASE("CODIGEM and RecFusion's port of it on the device agree with the CPU",
          "[cuda][gpu][codigem]") {
  recdiff::test::require_cuda_device();
  {
    const auto c = small_codigem(false);
    REQUIRE(c.noisy_prediction);
    auto cpu = recdiff::make_codigem<CpuBackend>(c, kItems, 1);
    auto gpu = recdiff::make_codigem<CudaBackend>(c, kItems);
    check_models("CODIGEM (official, noisy prediction)", cpu, gpu);
  }
  {
    const auto c = small_codigem(true);
    auto cpu = recdiff::make_codigem_recfusion_port<CpuBackend>(c, kItems, 1);
    auto gpu = recdiff::make_codigem_recfusion_port<CudaBackend>(c, kItems);
    check_models("CODIGEM, RecFusion's port", cpu, gpu);
  }
}

TEST_CASE("RecFusionBin and CODIGEM checkpoints move between the device and the host",
          "[cuda][gpu][recfusion][codigem]") {
  recdiff::test::require_cuda_device();
  {
    auto c = small_recfusion();
    auto make_cpu = [&] {
      return recdiff::make_recfusion_bin<CpuBackend, recdiff::OneWay, RecFusionLoss::bce>(c, kItems,
                                                                                          1);
    };
    auto make_gpu = [&] {
      return recdiff::make_recfusion_bin<CudaBackend, recdiff::OneWay, RecFusionLoss::bce>(c,
                                                                                           kItems);
    };
    auto cpu = make_cpu(), cpu_copy = make_cpu();
    auto gpu = make_gpu(), gpu_copy = make_gpu();
    check_checkpoints(
        "RecFusionBin", cpu, gpu, cpu_copy, gpu_copy,
        [&](const auto& m, const std::filesystem::path& path) {
          m.save(path, "recfusion-bin", c.to_string());
        },
        [](auto& m, const std::filesystem::path& path) { m.load(path, "recfusion-bin"); });
  }
  {
    const auto c = small_codigem(false);
    auto cpu = recdiff::make_codigem<CpuBackend>(c, kItems, 1);
    auto cpu_copy = recdiff::make_codigem<CpuBackend>(c, kItems, 1);
    auto gpu = recdiff::make_codigem<CudaBackend>(c, kItems);
    auto gpu_copy = recdiff::make_codigem<CudaBackend>(c, kItems);
    check_checkpoints(
        "CODIGEM", cpu, gpu, cpu_copy, gpu_copy,
        [](const auto& m, const std::filesystem::path& path) { m.save(path); },
        [](auto& m, const std::filesystem::path& path) { m.load(path); });
  }
}
