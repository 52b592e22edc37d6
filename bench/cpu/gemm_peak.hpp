#pragma once
/// @file
/// SGEMM throughput of the CPU backend at given shapes, measured inside the benchmark that quotes
/// it, so that "fraction of peak" always compares two numbers taken in the same run on the same
/// machine (the machines are noisy: a peak measured yesterday says little about a timing taken
/// today).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>

namespace recdiff::bench {

/// One GEMM C (m x n) = op(A) op(B), op(A) being m x k.
struct GemmShape {
  std::int64_t m = 0;
  std::int64_t k = 0;
  std::int64_t n = 0;
  Op op_a = Op::none;
  Op op_b = Op::none;

  /// Floating-point operations of the product (a multiply and an add per term).
  double flops() const {
    return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n);
  }

  /// "400x2820x600 NN" (m x k x n, then the ops of A and B).
  std::string label() const {
    return std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) + " " +
           (op_a == Op::none ? "N" : "T") + (op_b == Op::none ? "N" : "T");
  }
};

/// The GEMMs of one DiffRec training step (Mlp forward + backward) for a batch of `batch` users and
/// layer widths {I + E, h1, ..., I} (Mlp::widths()), `emb` = E, with the operand layouts Mlp and
/// nn::Linear use:
/// - forward: x W1_items^T as (B x I)(I x h1), the embedding block (B x E)(h1 x E)^T, then
///   x W^T for every further layer;
/// - backward: dW = dy^T x for every layer after the first, dx = dy W for all of them; for the
/// first
///   layer dW1_items^T = x^T d, dW1_emb = d^T emb and the embedding's input gradient d W1_emb
///   (no gradient for the item columns of the input).
/// Their flops sum to the reference figures' 7.24 + 11.1 MFLOP per user for ml-1m_clean.
inline std::vector<GemmShape> diffrec_training_gemms(std::int64_t batch,
                                                     std::span<const int> widths,
                                                     std::int64_t emb) {
  const std::int64_t items = widths.back();
  const std::int64_t h1 = widths[1];
  std::vector<GemmShape> g;
  g.push_back({batch, items, h1, Op::none, Op::none});
  g.push_back({batch, emb, h1, Op::none, Op::transpose});
  for (std::size_t l = 1; l + 1 < widths.size(); ++l)
    g.push_back({batch, widths[l], widths[l + 1], Op::none, Op::transpose});
  for (std::size_t l = widths.size() - 1; l-- > 1;) {
    g.push_back({widths[l + 1], batch, widths[l], Op::transpose, Op::none});
    g.push_back({batch, widths[l + 1], widths[l], Op::none, Op::none});
  }
  g.push_back({items, batch, h1, Op::transpose, Op::none});
  g.push_back({h1, batch, emb, Op::transpose, Op::none});
  g.push_back({batch, h1, emb, Op::none, Op::none});
  return g;
}

/// Sum of the shapes' flops.
inline double total_flops(std::span<const GemmShape> shapes) {
  double f = 0;
  for (const auto& s : shapes) f += s.flops();
  return f;
}

/// Median over `repetitions` of the GFLOP/s of running every GEMM of `shapes` once, in order,
/// through CpuBackend::gemm (float, row-major, beta = 0) with Context(threads): total flops / total
/// time of one sequence. Operands are filled with small non-zero values and allocated once; one
/// untimed sequence warms the caches and OpenMP's thread pool first.
inline double sgemm_gflops(std::span<const GemmShape> shapes, int threads, int repetitions = 9) {
  using Matrix = CpuBackend::Matrix<float>;
  const CpuBackend::Context ctx(threads);
  struct Operands {
    Matrix a, b, c;
  };
  std::vector<Operands> ops;
  for (const auto& s : shapes) {
    Operands o;
    o.a =
        s.op_a == Op::none ? Matrix::Constant(s.m, s.k, 0.01f) : Matrix::Constant(s.k, s.m, 0.01f);
    o.b =
        s.op_b == Op::none ? Matrix::Constant(s.k, s.n, 0.02f) : Matrix::Constant(s.n, s.k, 0.02f);
    o.c = Matrix::Zero(s.m, s.n);
    ops.push_back(std::move(o));
  }
  auto run_all = [&] {
    for (std::size_t i = 0; i < shapes.size(); ++i)
      CpuBackend::gemm(ctx, 1.0f, ops[i].a, shapes[i].op_a, ops[i].b, shapes[i].op_b, 0.0f,
                       ops[i].c);
  };
  run_all();
  std::vector<double> seconds;
  for (int r = 0; r < std::max(1, repetitions); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run_all();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(seconds.begin(),
                   seconds.begin() + static_cast<std::ptrdiff_t>(seconds.size() / 2),
                   seconds.end());
  return total_flops(shapes) / seconds[seconds.size() / 2] * 1e-9;
}

/// sgemm_gflops of a single shape.
inline double sgemm_gflops(const GemmShape& shape, int threads, int repetitions = 9) {
  return sgemm_gflops(std::span<const GemmShape>(&shape, 1), threads, repetitions);
}

/// The SGEMM peak at `shape`: the best of `rounds` medians of sgemm_gflops(shape, threads). On a
/// shared machine one median can still catch a busy spell of a neighbour; the best of a few is the
/// rate the machine gives when it is free, which is what "fraction of peak" should compare with.
inline double sgemm_peak_gflops(const GemmShape& shape, int threads, int rounds = 3) {
  double best = 0;
  for (int r = 0; r < std::max(1, rounds); ++r) best = std::max(best, sgemm_gflops(shape, threads));
  return best;
}

/// The reference shape of the reference figures' "GEMM peak" table: ml-1m_clean's first layer,
/// (400 x 2820)(2820 x 600), both operands as stored.
inline GemmShape diffrec_reference_gemm() { return {400, 2820, 600, Op::none, Op::none}; }

}  // namespace recdiff::bench
