// The Bernoulli noise kernels and the BernoulliBce objective on CudaBackend against CpuBackend:
// q_sample and reverse_step give the same bits for the same draw (every probability is a per-row
// coefficient computed on the host, combined by selection or std::fma, never by a contractible
// multiply-add), and the BCE loss, gradient and sigmoid agree within float tolerance. Compiling this
// file instantiates every Bernoulli kernel for the device. Every test case needs a CUDA device and
// exits 77 (skipped) without one.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/backend/cuda.hpp>
#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/concepts/objective.hpp>
#include <recdiff/noise/noise.hpp>
#include <recdiff/objective/objective.hpp>
#include <recdiff/schedule/schedule.hpp>

#include "gpu_check.hpp"

using recdiff::Bernoulli;
using recdiff::BernoulliBce;
using recdiff::CpuBackend;
using recdiff::CudaBackend;
using recdiff::FairCoin;
using recdiff::index_t;
using recdiff::NoiseDraw;
using recdiff::OneWay;
using recdiff::TwoWayFlip;
using recdiff::philox::Stream;

static_assert(recdiff::NoiseKernel<Bernoulli<TwoWayFlip>, CudaBackend> &&
              recdiff::NoiseKernel<Bernoulli<FairCoin>, CudaBackend> &&
              recdiff::NoiseKernel<Bernoulli<OneWay>, CudaBackend>);
static_assert(!recdiff::DifferentiableNoise<Bernoulli<OneWay>, CudaBackend>);
static_assert(recdiff::CompatibleObjective<BernoulliBce, Bernoulli<TwoWayFlip>, CudaBackend> &&
              recdiff::CompatibleObjective<BernoulliBce, Bernoulli<FairCoin>, CudaBackend> &&
              recdiff::CompatibleObjective<BernoulliBce, Bernoulli<OneWay>, CudaBackend>);
static_assert(!recdiff::CompatibleObjective<recdiff::PredictEpsilon, Bernoulli<OneWay>, CudaBackend>);

namespace {

template <class T>
std::vector<T> unit_vector(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> d(0, 1);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(rng));
  return v;
}

// A binary row pattern with a few non-binary entries (the affine extension).
template <class T>
std::vector<T> bits(std::size_t n, std::mt19937& rng) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = rng() % 3 == 0 ? T(1) : T(0);
  v[1] = T(0.25);
  v[n - 2] = T(0.75);
  return v;
}

template <class T>
CpuBackend::Matrix<T> cpu_matrix(const std::vector<T>& v, std::int64_t rows, std::int64_t cols) {
  CpuBackend::Matrix<T> m(rows, cols);
  std::copy(v.begin(), v.end(), m.data());
  return m;
}

template <class T>
CudaBackend::Matrix<T> gpu_matrix(const CudaBackend::Context& ctx, const std::vector<T>& v,
                                  std::int64_t rows, std::int64_t cols) {
  CudaBackend::Matrix<T> m;
  CudaBackend::upload(ctx, std::span<const T>(v), rows, cols, m);
  return m;
}

template <class T>
std::vector<T> host(const CudaBackend::Context& ctx, const CudaBackend::Matrix<T>& m) {
  std::vector<T> v(static_cast<std::size_t>(m.size()));
  CudaBackend::download(ctx, m, std::span<T>(v));
  return v;
}

template <class T>
double max_abs_diff(const std::vector<T>& a, const T* b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    d = std::max(d, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return d;
}

// q_sample, then reverse_step (binary and non-binary x_t, with and without sampling), on both
// backends with the same draws; returns nothing, checks bit equality.
template <class Process, class T>
void check_kernels(const CudaBackend::Context& gctx, const CpuBackend::Context& cctx) {
  std::mt19937 rng(11);
  const Bernoulli<Process> noise(recdiff::Linear(10, 0.02, 0.4));
  const std::int64_t rows = 13, cols = 150;  // a ragged last column group
  std::vector<int> steps(static_cast<std::size_t>(rows));
  for (std::size_t b = 0; b < steps.size(); ++b) steps[b] = static_cast<int>(b % 10);
  const auto n = static_cast<std::size_t>(rows * cols);
  const auto x0 = bits<T>(n, rng);
  const auto x0_hat = unit_vector<T>(n, rng);
  const auto soft = unit_vector<T>(n, rng);
  std::vector<index_t> keys(static_cast<std::size_t>(rows));
  for (std::size_t b = 0; b < keys.size(); ++b) keys[b] = static_cast<index_t>(1000 - 7 * b);
  CpuBackend::Matrix<index_t> ckeys;
  CpuBackend::upload(cctx, std::span<const index_t>(keys), rows, 1, ckeys);
  CudaBackend::Matrix<index_t> gkeys;
  CudaBackend::upload(gctx, std::span<const index_t>(keys), rows, 1, gkeys);

  typename Bernoulli<Process>::template Workspace<CpuBackend, T> cws;
  typename Bernoulli<Process>::template Workspace<CudaBackend, T> gws;
  for (const bool keyed : {false, true}) {
    CAPTURE(keyed);
    const NoiseDraw cdraw{7, Stream::noise, 3, keyed ? ckeys.data() : nullptr};
    const NoiseDraw gdraw{7, Stream::noise, 3, keyed ? gkeys.data() : nullptr};
    CpuBackend::Matrix<T> cx_t;
    noise.template q_sample<CpuBackend, T>(cctx, cpu_matrix(x0, rows, cols), steps, cdraw, cws,
                                           cx_t);
    CudaBackend::Matrix<T> gx_t;
    noise.template q_sample<CudaBackend, T>(gctx, gpu_matrix(gctx, x0, rows, cols), steps, gdraw,
                                            gws, gx_t);
    const auto x_t = host(gctx, gx_t);
    CHECK(std::memcmp(x_t.data(), cx_t.data(), n * sizeof(T)) == 0);

    const NoiseDraw cinf{7, Stream::inference, 4, keyed ? ckeys.data() : nullptr};
    const NoiseDraw ginf{7, Stream::inference, 4, keyed ? gkeys.data() : nullptr};
    for (const bool sample : {false, true})
      for (const bool binary : {true, false}) {
        CAPTURE(sample, binary);
        CpuBackend::Matrix<T> cout_m;
        const CpuBackend::Matrix<T> cin = binary ? cx_t : cpu_matrix(soft, rows, cols);
        noise.template reverse_step<CpuBackend, T>(cctx, cpu_matrix(x0_hat, rows, cols), cin,
                                                   steps, cinf, sample, cws, cout_m);
        CudaBackend::Matrix<T> gout;
        const CudaBackend::Matrix<T> gin = binary ? gx_t : gpu_matrix(gctx, soft, rows, cols);
        noise.template reverse_step<CudaBackend, T>(gctx, gpu_matrix(gctx, x0_hat, rows, cols),
                                                    gin, steps, ginf, sample, gws, gout);
        const auto out = host(gctx, gout);
        CHECK(std::memcmp(out.data(), cout_m.data(), n * sizeof(T)) == 0);
      }
  }
}

}  // namespace

TEMPLATE_TEST_CASE("Bernoulli kernels on the device draw the host's bits", "[cuda][gpu][bernoulli]",
                   TwoWayFlip, FairCoin, OneWay) {
  recdiff::test::require_cuda_device();
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  check_kernels<TestType, float>(gctx, cctx);
  check_kernels<TestType, double>(gctx, cctx);
}

TEST_CASE("BernoulliBce on the device agrees with the host", "[cuda][gpu][bernoulli]") {
  recdiff::test::require_cuda_device();
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  std::mt19937 rng(5);
  const Bernoulli<OneWay> noise(recdiff::Quadratic(3));
  const std::int64_t rows = 9, cols = 211;
  const auto n = static_cast<std::size_t>(rows * cols);
  std::vector<float> logits(n);
  std::uniform_real_distribution<double> d(-6, 6);
  for (auto& a : logits) a = static_cast<float>(d(rng));
  logits[3] = 80.0f;  // extreme logits stay finite on both sides
  logits[4] = -80.0f;
  std::vector<float> x0(n);
  for (auto& x : x0) x = rng() % 4 == 0 ? 1.0f : 0.0f;
  std::vector<int> steps(static_cast<std::size_t>(rows));
  std::vector<double> p(static_cast<std::size_t>(rows));
  for (std::size_t b = 0; b < steps.size(); ++b) {
    steps[b] = static_cast<int>(b % 3);
    p[b] = 0.5 + 0.25 * static_cast<double>(b);
  }

  CpuBackend::Matrix<double> crows, closs;
  CpuBackend::Matrix<float> cgrad, cx0_hat;
  Bernoulli<OneWay>::Workspace<CpuBackend, float> cws;
  BernoulliBce::row_terms<CpuBackend>(cctx, noise, steps, p, true, crows);
  const auto clogits = cpu_matrix(logits, rows, cols), cx0 = cpu_matrix(x0, rows, cols);
  BernoulliBce::loss_and_gradient<CpuBackend, float>(cctx, noise, cws, clogits, cx0, cx0, crows,
                                                     closs, cgrad);
  BernoulliBce::x0_hat<CpuBackend, float>(cctx, noise, clogits, cx0, crows, cx0_hat);

  CudaBackend::Matrix<double> grows, gloss;
  CudaBackend::Matrix<float> ggrad, gx0_hat;
  Bernoulli<OneWay>::Workspace<CudaBackend, float> gws;
  BernoulliBce::row_terms<CudaBackend>(gctx, noise, steps, p, true, grows);
  const auto glogits = gpu_matrix(gctx, logits, rows, cols), gx0 = gpu_matrix(gctx, x0, rows, cols);
  BernoulliBce::loss_and_gradient<CudaBackend, float>(gctx, noise, gws, glogits, gx0, gx0, grows,
                                                      gloss, ggrad);
  BernoulliBce::x0_hat<CudaBackend, float>(gctx, noise, glogits, gx0, grows, gx0_hat);

  const auto loss = host(gctx, gloss);
  for (std::size_t b = 0; b < loss.size(); ++b) {
    CAPTURE(b);
    REQUIRE(std::isfinite(loss[b]));
    CHECK(std::abs(loss[b] - closs.data()[b]) <= 1e-5 * std::max(1.0, std::abs(closs.data()[b])));
  }
  CHECK(max_abs_diff(host(gctx, ggrad), cgrad.data()) < 1e-6);
  CHECK(max_abs_diff(host(gctx, gx0_hat), cx0_hat.data()) < 1e-6);
}
