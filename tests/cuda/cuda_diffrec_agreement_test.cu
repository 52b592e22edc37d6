// DiffRec on CudaBackend against DiffRec on CpuBackend: from the same seed, the same loss
// trajectory within float tolerance for 50 training steps, then the same top-20 lists for at least
// 99% of the users. Needs a CUDA device; exits 77 (skipped) without one.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/backend/cuda.hpp>
#include <recdiff/data/synthetic.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/eval/top_k.hpp>
#include <recdiff/models/diffrec.hpp>

#include "gpu_check.hpp"

using recdiff::index_t;

TEST_CASE("DiffRec on CUDA agrees with DiffRec on the CPU", "[cuda][gpu][diffrec]") {
  recdiff::test::require_cuda_device();
  recdiff::SyntheticConfig data;
  data.users = 500;
  data.items = 400;
  data.mean_items_per_user = 20;
  const auto train = recdiff::make_synthetic(data);

  recdiff::DiffRecConfig config;
  config.dims = {64};
  config.steps = 10;
  config.seed = 7;
  auto cpu = recdiff::make_diffrec<recdiff::CpuBackend>(config, data.items, {}, 1);
  auto gpu = recdiff::make_diffrec<recdiff::CudaBackend>(config, data.items);

  // 50 steps over consecutive batches of 100 users.
  const index_t batch = 100;
  std::vector<index_t> users(static_cast<std::size_t>(batch));
  int loss_mismatches = 0;
  for (std::uint32_t step = 0; step < 50; ++step) {
    for (index_t i = 0; i < batch; ++i)
      users[static_cast<std::size_t>(i)] =
          static_cast<index_t>((static_cast<index_t>(step) * batch + i) % data.users);
    const double a = cpu.train_batch(train, users, step);
    const double b = gpu.train_batch(train, users, step);
    if (!(std::abs(a - b) <= 1e-3 * std::max(1e-3, std::abs(a)))) {
      ++loss_mismatches;
      std::printf("step %u: cpu loss %.9g, cuda loss %.9g\n", step, a, b);
    }
  }
  CHECK(loss_mismatches == 0);

  // Top-20 of every user, train items excluded, compared list for list.
  std::vector<index_t> all(static_cast<std::size_t>(data.users));
  for (index_t u = 0; u < data.users; ++u) all[static_cast<std::size_t>(u)] = u;
  recdiff::ScoreMatrix cpu_scores, gpu_scores;
  cpu.score(train, all, cpu_scores);
  gpu.score(train, all, gpu_scores);
  CHECK(gpu_scores.rows() == data.users);
  CHECK(gpu_scores.cols() == data.items);
  int same = 0;
  for (index_t u = 0; u < data.users; ++u) {
    auto row = [&](const recdiff::ScoreMatrix& s) {
      return std::span<const float>(s.data() + static_cast<std::int64_t>(u) * data.items,
                                    static_cast<std::size_t>(data.items));
    };
    if (recdiff::top_k(row(cpu_scores), 20, train.items_of(u)) ==
        recdiff::top_k(row(gpu_scores), 20, train.items_of(u)))
      ++same;
  }
  std::printf("identical top-20 lists: %d of %d users\n", same, data.users);
  CHECK(same * 100 >= data.users * 99);
}
