// Host-side checks of the CUDA backend (no GPU, no CUDA header): the cuBLAS argument mapping, the
// launch geometry, the top-K tiling and selection rule, the error text.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include <recdiff/backend/cuda/plan/error_message.hpp>
#include <recdiff/backend/cuda/plan/gemm_plan.hpp>
#include <recdiff/backend/cuda/plan/launch.hpp>
#include <recdiff/backend/cuda/plan/top_k_key.hpp>
#include <recdiff/backend/cuda/plan/top_k_plan.hpp>
#include <recdiff/eval/top_k.hpp>

using recdiff::index_t;
using recdiff::Op;
namespace cu = recdiff::cuda;

namespace {

// Column-major GEMM with the argument semantics of cublasDgemm / reference BLAS dgemm:
// C (m x n, ldc) = alpha op(A) op(B) + beta C, op(A) m x k, op(B) k x n; C is not read when beta == 0.
void colmajor_gemm(bool transa, bool transb, std::int64_t m, std::int64_t n, std::int64_t k,
                   double alpha, const double* a, std::int64_t lda, const double* b,
                   std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t i = 0; i < m; ++i) {
      double sum = 0;
      for (std::int64_t l = 0; l < k; ++l) {
        const double av = transa ? a[l + i * lda] : a[i + l * lda];
        const double bv = transb ? b[j + l * ldb] : b[l + j * ldb];
        sum += av * bv;
      }
      double& out = c[i + j * ldc];
      out = alpha * sum + (beta == 0 ? 0.0 : beta * out);
    }
}

std::vector<double> random_values(std::int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> d(-1, 1);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// Row-major op(A) op(B) by definition.
double row_major_product(const std::vector<double>& a, std::int64_t a_cols, Op oa,
                         const std::vector<double>& b, std::int64_t b_cols, Op ob, std::int64_t i,
                         std::int64_t j, std::int64_t k) {
  double s = 0;
  for (std::int64_t l = 0; l < k; ++l) {
    const double av = oa == Op::none ? a[i * a_cols + l] : a[l * a_cols + i];
    const double bv = ob == Op::none ? b[l * b_cols + j] : b[j * b_cols + l];
    s += av * bv;
  }
  return s;
}

}  // namespace

TEST_CASE("the reference column-major GEMM honours op and leading dimensions", "[cuda][gemm]") {
  // A = [1 2; 3 4] stored column-major with lda = 3 (a padding row of 99).
  const double a[] = {1, 3, 99, 2, 4, 99};
  const double b[] = {5, 7, 6, 8};  // B = [5 6; 7 8], ldb = 2
  double c[] = {1, 1, 1, 1};
  colmajor_gemm(false, false, 2, 2, 2, 1.0, a, 3, b, 2, 0.0, c, 2);
  // A B = [19 22; 43 50]
  CHECK(c[0] == 19);
  CHECK(c[1] == 43);
  CHECK(c[2] == 22);
  CHECK(c[3] == 50);
  double d[] = {1, 1, 1, 1};
  colmajor_gemm(true, false, 2, 2, 2, 2.0, a, 3, b, 2, 1.0, d, 2);
  // 2 A^T B + 1 = 2 [26 30; 38 44] + 1
  CHECK(d[0] == 53);
  CHECK(d[1] == 77);
  CHECK(d[2] == 61);
  CHECK(d[3] == 89);
}

TEST_CASE("plan_gemm drives a column-major GEMM to the row-major product", "[cuda][gemm]") {
  std::mt19937 rng(7);
  const std::int64_t sizes[] = {1, 2, 3, 5, 17};
  for (const Op oa : {Op::none, Op::transpose})
    for (const Op ob : {Op::none, Op::transpose})
      for (const std::int64_t m : sizes)
        for (const std::int64_t n : sizes)
          for (const std::int64_t k : {std::int64_t(1), std::int64_t(4), std::int64_t(13)}) {
            const std::int64_t a_rows = oa == Op::none ? m : k, a_cols = oa == Op::none ? k : m;
            const std::int64_t b_rows = ob == Op::none ? k : n, b_cols = ob == Op::none ? n : k;
            const auto a = random_values(a_rows * a_cols, rng);
            const auto b = random_values(b_rows * b_cols, rng);
            auto c = random_values(m * n, rng);
            const auto c0 = c;
            const auto p = cu::plan_gemm("test", a_rows, a_cols, oa, b_rows, b_cols, ob, m, n);
            REQUIRE(p.kind == cu::GemmKind::gemm);
            CHECK(p.lda == b_cols);
            CHECK(p.ldb == a_cols);
            CHECK(p.ldc == n);
            colmajor_gemm(p.transa, p.transb, p.m, p.n, p.k, 0.5, b.data(), p.lda, a.data(), p.ldb,
                          -2.0, c.data(), p.ldc);
            for (std::int64_t i = 0; i < m; ++i)
              for (std::int64_t j = 0; j < n; ++j) {
                const double want = 0.5 * row_major_product(a, a_cols, oa, b, b_cols, ob, i, j, k) -
                                    2.0 * c0[static_cast<std::size_t>(i * n + j)];
                REQUIRE(c[static_cast<std::size_t>(i * n + j)] == Approx(want).margin(1e-12));
              }
          }
}

TEST_CASE("plan_gemm: empty and inner-dimension-0 products, shape errors", "[cuda][gemm]") {
  CHECK(cu::plan_gemm("t", 0, 3, Op::none, 3, 4, Op::none, 0, 4).kind == cu::GemmKind::empty);
  CHECK(cu::plan_gemm("t", 2, 3, Op::none, 3, 0, Op::none, 2, 0).kind == cu::GemmKind::empty);
  const auto s = cu::plan_gemm("t", 2, 0, Op::none, 0, 4, Op::none, 2, 4);
  CHECK(s.kind == cu::GemmKind::scale);
  CHECK(s.m * s.n == 8);
  CHECK(s.lda == 4);
  CHECK(s.ldb == 1);  // a leading dimension is at least 1 even for an empty operand
  // A^T with A 3x2, B^T with B 5x3: op(A) 2x3, op(B) 3x5.
  const auto t = cu::plan_gemm("t", 3, 2, Op::transpose, 5, 3, Op::transpose, 2, 5);
  CHECK(t.transa);
  CHECK(t.transb);
  CHECK(t.m == 5);
  CHECK(t.n == 2);
  CHECK(t.k == 3);
  CHECK(t.lda == 3);
  CHECK(t.ldb == 2);
  CHECK(t.ldc == 5);
  REQUIRE_THROWS_AS(cu::plan_gemm("recdiff::CudaBackend::gemm", 2, 3, Op::none, 4, 5, Op::none, 2, 5),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(
      cu::plan_gemm("recdiff::CudaBackend::gemm", 2, 3, Op::none, 4, 5, Op::none, 2, 5),
      Catch::Contains("recdiff::CudaBackend::gemm: shapes do not match: op(A) 2x3, op(B) 4x5, C 2x5"));
  REQUIRE_THROWS_WITH(cu::plan_gemm("g", 2, 3, Op::none, 3, 5, Op::none, 3, 5),
                      Catch::Contains("C 3x5"));
  const std::int64_t big = std::int64_t(1) << 31;
  REQUIRE_THROWS_AS(cu::plan_gemm("g", big, 1, Op::none, 1, 1, Op::none, big, 1),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(cu::plan_gemm("g", big, 1, Op::none, 1, 1, Op::none, big, 1),
                      Catch::Contains("exceeds cuBLAS's int range"));
}

namespace {
// Every item in [0, count) is visited exactly once by the grid-stride loops of a launch, where a
// block has `units` work units (threads, or warps for one warp per row).
void require_covers(const cu::Launch& l, std::int64_t units, std::int64_t count) {
  std::vector<int> seen(static_cast<std::size_t>(count), 0);
  for (std::int64_t b = 0; b < l.grid; ++b)
    for (std::int64_t t = 0; t < units; ++t) {
      const auto g = cu::grid_stride(b, l.grid, units, t);
      for (std::int64_t i = g.first; i < count; i += g.stride) ++seen[static_cast<std::size_t>(i)];
    }
  for (const int s : seen) REQUIRE(s == 1);
}
}  // namespace

TEST_CASE("launch geometry: 0, 1, partial blocks, capped grids", "[cuda][launch]") {
  CHECK(cu::plan_elementwise(0, 100).grid == 0);
  const auto one = cu::plan_elementwise(1, 100);
  CHECK(one.grid == 1);
  CHECK(one.block == 256);
  CHECK(cu::plan_elementwise(256, 100).grid == 1);
  CHECK(cu::plan_elementwise(257, 100).grid == 2);
  const std::int64_t huge = std::int64_t(480000) * 17800;
  CHECK(cu::plan_elementwise(huge, 4224).grid == 4224);
  for (const std::int64_t count : {1, 31, 255, 256, 257, 1000, 5000}) {
    require_covers(cu::plan_elementwise(count, 1000), 256, count);
    require_covers(cu::plan_elementwise(count, 3), 256, count);  // capped: the loop strides
  }
  CHECK(cu::plan_warp_per_row(0, 10).grid == 0);
  CHECK(cu::plan_warp_per_row(1, 10).grid == 1);
  CHECK(cu::plan_warp_per_row(8, 10).grid == 1);
  CHECK(cu::plan_warp_per_row(9, 10).grid == 2);
  CHECK(cu::plan_warp_per_row(100000, 10).grid == 10);
  for (const std::int64_t rows : {1, 7, 8, 9, 100, 333}) require_covers(cu::plan_warp_per_row(rows, 5), 8, rows);
  const auto row_block = cu::plan_block_per_row(10, 1, 100);
  CHECK(row_block.grid == 10);
  CHECK(row_block.block == 32);
  CHECK(cu::plan_block_per_row(10, 33, 100).block == 64);
  CHECK(cu::plan_block_per_row(10, 600, 100).block == 256);
  CHECK(cu::plan_block_per_row(100000, 600, 4224).grid == 4224);
  CHECK(cu::plan_block_per_row(0, 600, 100).grid == 0);
  CHECK(cu::plan_block_per_row(5, 0, 100).grid == 0);
  REQUIRE_THROWS_AS(cu::plan_elementwise(-1, 10), std::invalid_argument);
  REQUIRE_THROWS_WITH(cu::plan_elementwise(-1, 10), Catch::Contains("got count -1"));
  REQUIRE_THROWS_WITH(cu::plan_elementwise(5, 0), Catch::Contains("max_grid 0"));
  REQUIRE_THROWS_WITH(cu::plan_warp_per_row(5, 10, 48), Catch::Contains("block 48"));
  REQUIRE_THROWS_AS(cu::plan_block_per_row(5, -1, 10), std::invalid_argument);
  REQUIRE_THROWS_WITH(cu::plan_block_per_row(5, -1, 10), Catch::Contains("cols must be >= 0, got -1"));
}

TEST_CASE("top-K tiling arithmetic", "[cuda][top_k]") {
  const auto p = cu::plan_top_k(6040, 3706, 20);
  CHECK(p.tiles == 2);
  CHECK(p.group == 102);  // 2048 / 20
  CHECK(p.passes == 1);
  CHECK(p.lists_after(0) == 2);
  CHECK(p.lists_after(1) == 1);
  const auto one = cu::plan_top_k(3, 2048, 100);
  CHECK(one.tiles == 1);
  CHECK(one.passes == 0);
  const auto big = cu::plan_top_k(10, 17800, 1024);  // group 2: a merge tree of pairs
  CHECK(big.tiles == 9);
  CHECK(big.group == 2);
  CHECK(big.passes == 4);  // 9 -> 5 -> 3 -> 2 -> 1
  CHECK(big.lists_after(2) == 3);
  const auto small = cu::plan_top_k(1, 1000, 3, 8);
  CHECK(small.tiles == 125);
  CHECK(small.group == 2);
  CHECK(small.passes == 7);  // 125 63 32 16 8 4 2 1
  CHECK(cu::plan_top_k(4, 0, 10).empty());
  CHECK(cu::plan_top_k(4, 100, 0).empty());
  CHECK(cu::plan_top_k(0, 100, 5).empty());
  CHECK(cu::plan_top_k(1, 1, 1).tiles == 1);
  REQUIRE_THROWS_AS(cu::plan_top_k(1, 10, 1025), std::invalid_argument);
  REQUIRE_THROWS_WITH(cu::plan_top_k(1, 10, 1025), Catch::Contains("k must be at most 1024, got 1025"));
  REQUIRE_THROWS_WITH(cu::plan_top_k(1, 10, 2, 12), Catch::Contains("power of two"));
  REQUIRE_THROWS_WITH(cu::plan_top_k(-1, 10, 2), Catch::Contains("rows -1"));
}

TEST_CASE("top-K keys order as recdiff::TopK ranks", "[cuda][top_k]") {
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(cu::top_k_key(-inf, 3) == cu::kNoKey);
  CHECK(cu::top_k_key(std::nanf(""), 3) == cu::kNoKey);
  CHECK(cu::top_k_key(-std::nanf(""), 3) == cu::kNoKey);
  CHECK(cu::top_k_key(-std::numeric_limits<float>::max(), 0) > cu::kNoKey);
  CHECK(cu::top_k_key(inf, 5) > cu::top_k_key(1e38f, 0));
  CHECK(cu::top_k_key(1.0f, 5) > cu::top_k_key(0.5f, 0));
  CHECK(cu::top_k_key(-0.5f, 5) > cu::top_k_key(-1.0f, 0));
  CHECK(cu::top_k_key(0.25f, 2) > cu::top_k_key(0.25f, 3));  // tie: lower item first
  CHECK(cu::top_k_key(-0.0f, 2) > cu::top_k_key(0.0f, 3));   // -0 ties with +0
  CHECK(cu::top_k_key(0.0f, 1) > cu::top_k_key(-1e-45f, 0));
  for (const float s : {0.0f, 1.5f, -2.25f, 3e-39f, -1e30f, inf, 7.0f})
    for (const index_t item : {0, 1, 77, 2147483647}) {
      const auto key = cu::top_k_key(s, item);
      CHECK(cu::top_k_key_item(key) == item);
      CHECK(cu::top_k_key_score(key) == s);
    }
}

namespace {
// The device algorithm on the host, pass for pass: tile keys with exclusions, bitonic sort of each
// tile into descending order (same bitonic_step), keep k; merge groups of lists; decode.
std::vector<index_t> simulated_device_top_k(const std::vector<float>& scores,
                                            const std::vector<index_t>& excluded,
                                            const cu::TopKPlan& plan) {
  const auto tile = plan.tile, k = plan.k;
  auto sort_tile = [&](std::vector<std::uint64_t>& keys) {
    for (std::int64_t size = 2; size <= tile; size <<= 1)
      for (std::int64_t stride = size / 2; stride > 0; stride >>= 1)
        for (std::int64_t pair = 0; pair < tile / 2; ++pair)
          cu::bitonic_step(keys.data(), size, stride, pair);
  };
  std::vector<std::uint64_t> lists;
  for (std::int64_t t = 0; t < plan.tiles; ++t) {
    std::vector<std::uint64_t> keys(static_cast<std::size_t>(tile), cu::kNoKey);
    for (std::int64_t i = 0; i < tile && t * tile + i < plan.items; ++i)
      keys[static_cast<std::size_t>(i)] =
          cu::top_k_key(scores[static_cast<std::size_t>(t * tile + i)], static_cast<index_t>(t * tile + i));
    for (const index_t e : excluded)
      if (e >= t * tile && e < (t + 1) * tile) keys[static_cast<std::size_t>(e - t * tile)] = cu::kNoKey;
    sort_tile(keys);
    lists.insert(lists.end(), keys.begin(), keys.begin() + k);
  }
  for (int pass = 1; pass <= plan.passes; ++pass) {
    const auto in = plan.lists_after(pass - 1), out = plan.lists_after(pass);
    std::vector<std::uint64_t> next;
    for (std::int64_t g = 0; g < out; ++g) {
      std::vector<std::uint64_t> keys(static_cast<std::size_t>(tile), cu::kNoKey);
      const auto count = std::min(plan.group, in - g * plan.group) * k;
      for (std::int64_t i = 0; i < count; ++i)
        keys[static_cast<std::size_t>(i)] = lists[static_cast<std::size_t>(g * plan.group * k + i)];
      sort_tile(keys);
      next.insert(next.end(), keys.begin(), keys.begin() + k);
    }
    lists.swap(next);
  }
  REQUIRE(static_cast<std::int64_t>(lists.size()) == k);
  std::vector<index_t> items;
  for (const auto key : lists)
    if (key != cu::kNoKey) items.push_back(cu::top_k_key_item(key));
  return items;
}
}  // namespace

TEST_CASE("the tiled top-K selection equals recdiff::top_k", "[cuda][top_k]") {
  std::mt19937 rng(11);
  const float inf = std::numeric_limits<float>::infinity();
  for (const std::int64_t items : {1, 5, 8, 9, 64, 300, 1000})
    for (const std::int64_t k : {1, 3, 4, 20})
      for (const std::int64_t tile : {8, 64}) {
        if (k > tile / 2) continue;
        std::vector<float> scores(static_cast<std::size_t>(items));
        // Few distinct values force ties; some -inf, NaN, -0 and +inf entries.
        std::uniform_int_distribution<int> level(-3, 3), special(0, 19);
        for (auto& s : scores) {
          s = static_cast<float>(level(rng)) * 0.5f;
          const int sp = special(rng);
          if (sp == 0) s = -inf;
          if (sp == 1) s = std::nanf("");
          if (sp == 2) s = -0.0f;
          if (sp == 3) s = inf;
        }
        std::vector<index_t> excluded;
        for (index_t i = 0; i < items; i += 3) excluded.push_back(i);
        const auto plan = cu::plan_top_k(1, items, k, tile);
        const auto want = recdiff::top_k(scores, static_cast<index_t>(k), excluded);
        REQUIRE(simulated_device_top_k(scores, excluded, plan) == want);
      }
}

TEST_CASE("CUDA error messages name the call, the place and the reason", "[cuda][error]") {
  const auto m = cu::cuda_error_message("CUDA", "cudaMalloc(&p, n)", "alloc.cuh", 42,
                                        "cudaErrorMemoryAllocation", "out of memory");
  CHECK(m ==
        "recdiff: CUDA call `cudaMalloc(&p, n)` failed at alloc.cuh:42: cudaErrorMemoryAllocation: "
        "out of memory");
}
