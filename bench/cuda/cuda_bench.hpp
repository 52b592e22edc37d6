#pragma once
/// @file
/// What the CUDA benchmarks share: the no-device exit (77, "skipped" to CTest), CUDA-event timing of
/// work enqueued on a stream, the cuBLAS SGEMM peak measured in the same run, and device memory.

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <recdiff/backend/cuda.hpp>

#include "cpu/gemm_peak.hpp"

namespace recdiff::bench {

/// True when the CUDA runtime sees at least one device.
inline bool cuda_device_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

/// The exit code of a CUDA benchmark on a machine without a GPU: 77, which CTest reports as skipped.
inline constexpr int no_device_exit_code = 77;

/// Name and compute capability of `device`, e.g. "NVIDIA H100 80GB HBM3 (sm_90)".
inline std::string device_description(int device = 0) {
  cudaDeviceProp p{};
  RECDIFF_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ")";
}

/// Device memory in use on the current device (all processes), in MiB.
inline double device_memory_used_mib() {
  std::size_t free_bytes = 0, total_bytes = 0;
  RECDIFF_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return static_cast<double>(total_bytes - free_bytes) / (1024.0 * 1024.0);
}

/// Elapsed GPU time of the work enqueued on one stream between start() and stop_seconds().
class EventTimer {
 public:
  explicit EventTimer(cudaStream_t stream) : m_stream(stream) {
    RECDIFF_CUDA_CHECK(cudaEventCreate(&m_start));
    RECDIFF_CUDA_CHECK(cudaEventCreate(&m_stop));
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  ~EventTimer() {
    cudaEventDestroy(m_start);
    cudaEventDestroy(m_stop);
  }

  /// Records the start event on the stream.
  void start() { RECDIFF_CUDA_CHECK(cudaEventRecord(m_start, m_stream)); }

  /// Records the stop event, waits for it and returns the seconds between the two events.
  double stop_seconds() {
    RECDIFF_CUDA_CHECK(cudaEventRecord(m_stop, m_stream));
    RECDIFF_CUDA_CHECK(cudaEventSynchronize(m_stop));
    float ms = 0;
    RECDIFF_CUDA_CHECK(cudaEventElapsedTime(&ms, m_start, m_stop));
    return 1e-3 * static_cast<double>(ms);
  }

 private:
  cudaStream_t m_stream;
  cudaEvent_t m_start{};
  cudaEvent_t m_stop{};
};

/// Seconds of one row-major C = op(A) op(B) through CudaBackend::gemm at `shape`, the median of
/// `repetitions` timed calls after a warm-up call. Operands are zero-filled (GEMM speed does not
/// depend on the values).
inline double backend_gemm_seconds(const CudaBackend::Context& ctx, const GemmShape& shape,
                                   int repetitions = 21) {
  using Matrix = CudaBackend::Matrix<float>;
  const bool ta = shape.op_a == Op::transpose, tb = shape.op_b == Op::transpose;
  Matrix a, b, c;
  a.setZero(ta ? shape.k : shape.m, ta ? shape.m : shape.k);
  b.setZero(tb ? shape.n : shape.k, tb ? shape.k : shape.n);
  c.setZero(shape.m, shape.n);
  CudaBackend::gemm(ctx, 1.0f, a, shape.op_a, b, shape.op_b, 0.0f, c);
  EventTimer timer(ctx.stream());
  std::vector<double> t;
  for (int r = 0; r < repetitions; ++r) {
    timer.start();
    CudaBackend::gemm(ctx, 1.0f, a, shape.op_a, b, shape.op_b, 0.0f, c);
    t.push_back(timer.stop_seconds());
  }
  std::nth_element(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t.size() / 2), t.end());
  return t[t.size() / 2];
}

/// The cuBLAS SGEMM peak of this device in GFLOP/s: cublasSgemm called directly (column-major, NN)
/// on n x n operands on the context's handle and math mode (FP32 unless TF32 was enabled), the best
/// of three medians of 9 calls.
inline double cublas_sgemm_peak_gflops(const CudaBackend::Context& ctx, int n = 8192) {
  CudaBackend::Matrix<float> a, b, c;
  a.setZero(n, n);
  b.setZero(n, n);
  c.setZero(n, n);
  ctx.activate();
  const float one = 1.0f, zero = 0.0f;
  auto sgemm = [&] {
    RECDIFF_CUBLAS_CHECK(cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one,
                                     a.data(), n, b.data(), n, &zero, c.data(), n));
  };
  sgemm();
  EventTimer timer(ctx.stream());
  const double flops = 2.0 * static_cast<double>(n) * n * n;
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<double> t;
    for (int r = 0; r < 9; ++r) {
      timer.start();
      sgemm();
      t.push_back(timer.stop_seconds());
    }
    std::nth_element(t.begin(), t.begin() + 4, t.end());
    best = std::max(best, flops / t[4] * 1e-9);
  }
  return best;
}

}  // namespace recdiff::bench

/// main() of a CUDA Google Benchmark program: exits 77 when there is no device, else runs the
/// registered benchmarks.
#define RECDIFF_CUDA_BENCHMARK_MAIN()                                                     \
  int main(int argc, char** argv) {                                                      \
    if (!::recdiff::bench::cuda_device_available()) {                                    \
      std::printf("skipped: no CUDA device\n");                                           \
      return ::recdiff::bench::no_device_exit_code;                                       \
    }                                                                                     \
    ::benchmark::Initialize(&argc, argv);                                                 \
    if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;                   \
    ::benchmark::AddCustomContext("device", ::recdiff::bench::device_description());      \
    ::benchmark::RunSpecifiedBenchmarks();                                                \
    ::benchmark::Shutdown();                                                              \
    return 0;                                                                             \
  }
