// CudaBackend::top_k: the k = 100 best items of every score row, the users' training items
// excluded (what a full DiffRec evaluation does per batch), at ml-1m_clean's item count and at a
// Netflix-sized one. Manual timing with CUDA events; the scores are already on the device.
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include <recdiff/data/synthetic.hpp>
#include <recdiff/math/philox.hpp>

#include "cuda/cuda_bench.hpp"

namespace {

using recdiff::CudaBackend;
using recdiff::index_t;

void BM_TopK(benchmark::State& state) {
  const CudaBackend::Context ctx(0);
  const std::int64_t b = state.range(0);
  const auto items = static_cast<index_t>(state.range(1));
  const auto k = static_cast<index_t>(state.range(2));
  recdiff::SyntheticConfig synthetic;
  synthetic.users = static_cast<index_t>(b);
  synthetic.items = items;
  synthetic.mean_items_per_user = 68.0;
  const auto train = recdiff::make_synthetic(synthetic);
  std::vector<float> host(static_cast<std::size_t>(b) * static_cast<std::size_t>(items));
  for (std::size_t i = 0; i < host.size(); ++i)
    host[i] = recdiff::philox::uniform(5, recdiff::philox::Stream::user, 0,
                                       static_cast<std::uint32_t>(i / items),
                                       static_cast<std::uint32_t>(i % items));
  CudaBackend::Matrix<float> scores, best_scores;
  CudaBackend::Matrix<index_t> best_items;
  CudaBackend::upload(ctx, std::span<const float>(host), b, items, scores);
  std::vector<index_t> users(static_cast<std::size_t>(b));
  std::iota(users.begin(), users.end(), index_t{0});
  const recdiff::InteractionMatrix* excluded[] = {&train};
  CudaBackend::top_k(ctx, scores, excluded, users, k, best_items, best_scores);  // warm-up
  recdiff::bench::EventTimer timer(ctx.stream());
  double total = 0;
  for (auto _ : state) {
    timer.start();
    CudaBackend::top_k(ctx, scores, excluded, users, k, best_items, best_scores);
    const double seconds = timer.stop_seconds();
    total += seconds;
    state.SetIterationTime(seconds);
  }
  state.counters["users/s"] = static_cast<double>(b) * static_cast<double>(state.iterations()) / total;
  state.counters["scores/s"] = static_cast<double>(b) * static_cast<double>(items) *
                               static_cast<double>(state.iterations()) / total;
}
BENCHMARK(BM_TopK)
    ->ArgNames({"B", "I", "k"})
    ->Args({1024, 2810, 100})
    ->Args({1024, 17770, 100})
    ->Args({4096, 17770, 100})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

RECDIFF_CUDA_BENCHMARK_MAIN()
