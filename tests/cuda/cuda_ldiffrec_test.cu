// L-DiffRec and LT-DiffRec on CudaBackend against the same models on CpuBackend: the same initial
// parameters and scores, three training steps with the same losses, the same parameters and scores
// after them (agreement.hpp), and checkpoints that move between the backends. Compiling this file
// instantiates the composite's training, scoring and checkpoint path for the device (the column
// gathers, the latent diffusion, the two optimisers). Every test case needs a CUDA device and exits
// 77 (skipped) without one.
#include <catch2/catch.hpp>

#include <vector>

#include "support/shared_data.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/backend/cuda.hpp>
#include <recdiff/models/ldiffrec.hpp>
#include <recdiff/train/trainer.hpp>

#include "agreement.hpp"
#include "gpu_check.hpp"

using namespace recdiff::test::agreement;

static_assert(recdiff::TrainableModel<recdiff::LDiffRec<CudaBackend>>);
static_assert(recdiff::TrainableModel<recdiff::LTDiffRec<CudaBackend>>);

namespace {

recdiff::LDiffRecConfig small_config() {
  recdiff::LDiffRecConfig c;
  c.clusters = 3;
  c.latent = 12;
  c.mlp_dims = {16};
  c.steps = 5;
  c.seed = kSeed;
  return c;
}

recdiff::ItemClusters clusters() {
  std::vector<index_t> labels(static_cast<std::size_t>(kItems));
  for (index_t i = 0; i < kItems; ++i) labels[static_cast<std::size_t>(i)] = (5 * i + 1) % 3;
  return recdiff::ItemClusters(labels, 3);
}

}  // namespace

TEST_CASE("L-DiffRec and LT-DiffRec on the device agree with the CPU", "[cuda][ldiffrec]") {
  recdiff::test::require_cuda_device();
  SECTION("L-DiffRec") {
    recdiff::LDiffRec<CpuBackend> cpu(small_config(), clusters(), {}, 1);
    recdiff::LDiffRec<CudaBackend> gpu(small_config(), clusters(), {}, 0);
    check_models("L-DiffRec", cpu, gpu);
  }
  SECTION("LT-DiffRec") {
    recdiff::LDiffRecConfig c = small_config();
    c.w_min = 0.3;
    c.w_max = 1.0;
    recdiff::LTDiffRec<CpuBackend> cpu(c, clusters(), recdiff::TimeLinearInput(0.3, 1.0), 1);
    recdiff::LTDiffRec<CudaBackend> gpu(c, clusters(), recdiff::TimeLinearInput(0.3, 1.0), 0);
    check_models("LT-DiffRec", cpu, gpu);
  }
}

TEST_CASE("L-DiffRec checkpoints move between the device and the host", "[cuda][ldiffrec]") {
  recdiff::test::require_cuda_device();
  const auto data = toy_data();
  recdiff::LDiffRec<CpuBackend> cpu(small_config(), clusters(), {}, 1);
  recdiff::LDiffRec<CudaBackend> gpu(small_config(), clusters(), {}, 0);
  copy_parameters(gpu.context(), gpu.parameters(), cpu.parameters());
  for (std::uint32_t step = 0; step < 2; ++step) {
    cpu.train_batch(data, batch_users(step), step);
    gpu.train_batch(data, batch_users(step), step);
  }
  const recdiff::test::TempDir dir;
  gpu.save(dir / "device.ckpt");
  recdiff::LDiffRec<CpuBackend> host_copy(small_config(), clusters(), {}, 1);
  host_copy.load(dir / "device.ckpt");
  check_parameters("device checkpoint on the host", gpu.context(), gpu.parameters(),
                   host_copy.parameters(), 1e-30);
  const double host = host_copy.train_batch(data, batch_users(2), 2);
  const double device = gpu.train_batch(data, batch_users(2), 2);
  INFO("host loss " << host << ", device loss " << device);
  CHECK(std::abs(host - device) <= kLoss * std::abs(host));
}
