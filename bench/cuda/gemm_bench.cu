// CudaBackend::gemm at the shapes of one DiffRec training step (ml-1m_clean preset, B = 400,
// I = 2810), each reported as a fraction of the cuBLAS SGEMM peak measured at start-up in the same
// run. Manual timing with CUDA events around each call (no host synchronisation inside the timed
// region). FP32 math unless --tf32 is passed before the benchmark flags.
//
//   cuda_gemm_bench [--tf32] [Google Benchmark flags]
#include <cstring>
#include <vector>

#include <recdiff/denoiser/mlp.hpp>
#include <recdiff/models/diffrec.hpp>

#include "cuda/cuda_bench.hpp"

namespace {

using recdiff::CudaBackend;
using recdiff::bench::GemmShape;

bool g_tf32 = false;
double g_peak_gflops = 0;

const CudaBackend::Context& context() {
  static const CudaBackend::Context ctx = [] {
    CudaBackend::Context c(0);
    c.enable_tf32(g_tf32);
    return c;
  }();
  return ctx;
}

std::vector<GemmShape> training_shapes() {
  const auto c = recdiff::diffrec_preset("ml-1m_clean");
  using CpuNet = recdiff::Mlp<recdiff::CpuBackend, float, recdiff::Tanh>;
  CpuNet::Config net;
  net.items = 2810;
  net.dims = c.dims;
  net.emb_size = c.emb_size;
  return recdiff::bench::diffrec_training_gemms(c.batch_size, CpuNet(net, c.seed).widths(),
                                                c.emb_size);
}

void BM_Gemm(benchmark::State& state) {
  const auto shapes = training_shapes();
  const GemmShape& shape = shapes.at(static_cast<std::size_t>(state.range(0)));
  const auto& ctx = context();
  const bool ta = shape.op_a == recdiff::Op::transpose, tb = shape.op_b == recdiff::Op::transpose;
  CudaBackend::Matrix<float> a, b, c;
  a.setZero(ta ? shape.k : shape.m, ta ? shape.m : shape.k);
  b.setZero(tb ? shape.n : shape.k, tb ? shape.k : shape.n);
  c.setZero(shape.m, shape.n);
  CudaBackend::gemm(ctx, 1.0f, a, shape.op_a, b, shape.op_b, 0.0f, c);  // warm-up
  recdiff::bench::EventTimer timer(ctx.stream());
  double total = 0;
  for (auto _ : state) {
    timer.start();
    CudaBackend::gemm(ctx, 1.0f, a, shape.op_a, b, shape.op_b, 0.0f, c);
    const double seconds = timer.stop_seconds();
    total += seconds;
    state.SetIterationTime(seconds);
  }
  const double gflops =
      shape.flops() * static_cast<double>(state.iterations()) / total * 1e-9;
  state.SetLabel(shape.label());
  state.counters["GFLOP/s"] = gflops;
  state.counters["fraction_of_cublas_peak"] = gflops / g_peak_gflops;
}

void BM_CublasPeak(benchmark::State& state) {
  for (auto _ : state) state.SetIterationTime(1.0);
  state.counters["GFLOP/s"] = g_peak_gflops;
  state.SetLabel("cublasSgemm 8192^3 NN, best of three medians");
}

}  // namespace

int main(int argc, char** argv) {
  if (!recdiff::bench::cuda_device_available()) {
    std::printf("skipped: no CUDA device\n");
    return recdiff::bench::no_device_exit_code;
  }
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--tf32") == 0) g_tf32 = true;
    else args.push_back(argv[i]);
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  g_peak_gflops = recdiff::bench::cublas_sgemm_peak_gflops(context());
  benchmark::AddCustomContext("device", recdiff::bench::device_description());
  benchmark::AddCustomContext("math", g_tf32 ? "tf32" : "fp32");
  benchmark::RegisterBenchmark("BM_CublasPeak", BM_CublasPeak)->Iterations(1)->UseManualTime();
  const auto shapes = training_shapes();
  for (std::size_t i = 0; i < shapes.size(); ++i)
    benchmark::RegisterBenchmark(("BM_Gemm/" + shapes[i].label()).c_str(), BM_Gemm)
        ->Arg(static_cast<std::int64_t>(i))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
