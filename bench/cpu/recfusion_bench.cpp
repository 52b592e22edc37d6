// RecFusion's training step at ML-1M's shape (I = 3,416 items, mean activity 0.047, M = 200,
// batch 200): RecFusionBin with the one-way process on its sparse path (the noised input stays a
// CSR matrix, the first layer is a CSR x dense product in both passes) against the same model
// forced onto the dense path, and the Gaussian RecFusion step for scale. Synthetic data: the
// timing depends only on the shape.
//
//   recfusion_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true

#include <benchmark/benchmark.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/data/synthetic.hpp>
#include <recdiff/models/recfusion.hpp>

namespace {

using recdiff::CpuBackend;
using recdiff::index_t;

const recdiff::InteractionMatrix& ml1m_shaped() {
  static const recdiff::InteractionMatrix data = [] {
    recdiff::SyntheticConfig c;
    c.users = 2000;
    c.items = 3416;
    c.mean_items_per_user = 0.047 * 3416;
    return recdiff::make_synthetic(c);
  }();
  return data;
}

recdiff::RecFusionConfig config(bool sparse) {
  recdiff::RecFusionConfig c = recdiff::recfusion_preset("recfusion-bin");  // T 3, one-way
  c.sparse_training = sparse;
  return c;
}

template <class Model>
void run_steps(benchmark::State& state, Model& model) {
  const auto& data = ml1m_shaped();
  std::vector<index_t> users(200);
  std::uint32_t step = 0;
  for (auto _ : state) {
    for (std::size_t b = 0; b < users.size(); ++b)
      users[b] = static_cast<index_t>((step * 200 + b) % static_cast<std::size_t>(data.num_users()));
    benchmark::DoNotOptimize(model.train_batch(data, users, step++));
  }
  state.SetItemsProcessed(state.iterations() * 200);
}

// Arg 0: threads.
void BM_RecFusionBinStep(benchmark::State& state, bool sparse) {
  auto model = recdiff::make_recfusion_bin<CpuBackend>(config(sparse), 3416,
                                                       static_cast<int>(state.range(0)));
  run_steps(state, model);
}

void BM_RecFusionStep(benchmark::State& state) {
  recdiff::RecFusionConfig c = recdiff::recfusion_preset("recfusion-default");  // T 3, Gaussian
  auto model = recdiff::make_recfusion<CpuBackend>(c, 3416, static_cast<int>(state.range(0)));
  run_steps(state, model);
}

BENCHMARK_CAPTURE(BM_RecFusionBinStep, sparse, true)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RecFusionBinStep, dense, false)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RecFusionStep)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
