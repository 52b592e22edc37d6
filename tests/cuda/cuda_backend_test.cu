// Every CudaBackend operation against CpuBackend on random data, Philox bits on the device against
// the host, the core's kernels (ColumnSums with and without accumulation, the Gaussian noise kernel
// keyed by device row keys, the Mlp module's forward and backward passes, the transposed CSR product
// and InputLinear's sparse training pass) on both backends, and the device top-K against
// recdiff::top_k. Every test case needs a CUDA device and exits 77 (skipped)
// without one.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/backend/cuda.hpp>
#include <recdiff/concepts/backend.hpp>
#include <recdiff/concepts/denoiser.hpp>
#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/concepts/objective.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/data/synthetic.hpp>
#include <recdiff/denoiser/mlp.hpp>
#include <recdiff/eval/top_k.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/input_linear.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/noise/noise_draw.hpp>
#include <recdiff/objective/predict_epsilon.hpp>
#include <recdiff/objective/predict_x0.hpp>
#include <recdiff/schedule/diffrec_linear_var.hpp>

#include "gpu_check.hpp"

using recdiff::CpuBackend;
using recdiff::CudaBackend;
using recdiff::index_t;
using recdiff::Op;

// The policies of DiffRec conform on CudaBackend (the library headers no longer assert this).
static_assert(recdiff::Backend<CudaBackend, float> && recdiff::Backend<CudaBackend, double>);
static_assert(recdiff::BackendMatrix<CudaBackend::Matrix<index_t>>);
using CudaMlp = recdiff::Mlp<CudaBackend, float, recdiff::Tanh>;
static_assert(recdiff::Denoiser<CudaMlp, CudaBackend> &&
              recdiff::SparseInputDenoiser<CudaMlp, CudaBackend> &&
              recdiff::LatentChainDenoiser<CudaMlp, CudaBackend>);
static_assert(recdiff::NoiseKernel<recdiff::Gaussian, CudaBackend> &&
              recdiff::DifferentiableNoise<recdiff::Gaussian, CudaBackend> &&
              recdiff::GaussianNoise<recdiff::Gaussian>);
static_assert(recdiff::CompatibleObjective<recdiff::PredictX0, recdiff::Gaussian, CudaBackend> &&
              recdiff::CompatibleObjective<recdiff::PredictEpsilon, recdiff::Gaussian, CudaBackend>);

namespace {

template <class T>
std::vector<T> random_vector(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> d(-1, 1);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(rng));
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

template <class T>
void check_gemm(const CudaBackend::Context& gctx, const CpuBackend::Context& cctx, double tol) {
  std::mt19937 rng(3);
  for (const Op oa : {Op::none, Op::transpose})
    for (const Op ob : {Op::none, Op::transpose})
      for (const auto [m, n, k] : {std::array<std::int64_t, 3>{1, 1, 1}, {7, 33, 5}, {130, 61, 257}}) {
        const std::int64_t ar = oa == Op::none ? m : k, ac = oa == Op::none ? k : m;
        const std::int64_t br = ob == Op::none ? k : n, bc = ob == Op::none ? n : k;
        const auto a = random_vector<T>(static_cast<std::size_t>(ar * ac), rng);
        const auto b = random_vector<T>(static_cast<std::size_t>(br * bc), rng);
        const auto c = random_vector<T>(static_cast<std::size_t>(m * n), rng);
        auto cc = cpu_matrix(c, m, n);
        CpuBackend::gemm(cctx, T(0.5), cpu_matrix(a, ar, ac), oa, cpu_matrix(b, br, bc), ob, T(-1), cc);
        auto gc = gpu_matrix(gctx, c, m, n);
        CudaBackend::gemm(gctx, T(0.5), gpu_matrix(gctx, a, ar, ac), oa, gpu_matrix(gctx, b, br, bc),
                          ob, T(-1), gc);
        CHECK(max_abs_diff(host(gctx, gc), cc.data()) < tol);
      }
  // Inner dimension 0: C = beta C.
  auto gc = gpu_matrix(gctx, std::vector<T>{1, 2, 3, 4}, 2, 2);
  CudaBackend::gemm(gctx, T(1), CudaBackend::Matrix<T>(2, 0), Op::none, CudaBackend::Matrix<T>(0, 2),
                    Op::none, T(3), gc);
  CHECK((host(gctx, gc) == std::vector<T>{3, 6, 9, 12}));
  bool threw = false;
  try {
    CudaBackend::Matrix<T> a(2, 3), b(4, 5), out(2, 5);
    CudaBackend::gemm(gctx, T(1), a, Op::none, b, Op::none, T(0), out);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("op(A) 2x3, op(B) 4x5, C 2x5") != std::string::npos;
  }
  CHECK(threw);
}

// y = 2 x + row - col: a functor as the core writes them.
struct Affine {
  float* y;
  const float* x;
  std::int64_t cols;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t c) const {
    y[r * cols + c] = 2.0f * x[r * cols + c] + static_cast<float>(r - c);
  }
};

// out[r, c] = the Philox words and normals of (seed, Stream::noise, 5, r, c).
struct PhiloxFill {
  std::uint32_t* words;
  float* normals;
  std::int64_t cols;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t c) const {
    using namespace recdiff::philox;
    const Block b = random_block(99, Stream::noise, 5, static_cast<std::uint32_t>(r),
                                 static_cast<std::uint32_t>(c / 4));
    words[r * cols + c] = b.v[c % 4];
    normals[r * cols + c] = normal(99, Stream::noise, 5, static_cast<std::uint32_t>(r),
                                   static_cast<std::uint32_t>(c));
  }
};

}  // namespace

TEST_CASE("CudaBackend::gemm equals CpuBackend::gemm for every op combination", "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  check_gemm<float>(gctx, cctx, 1e-4);
  check_gemm<double>(gctx, cctx, 1e-12);
}

TEST_CASE("CudaBackend upload, download, copies and element-wise kernels", "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  std::mt19937 rng(5);
  // upload / download round trips, through staging and (over 1 MiB) directly.
  for (const std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(1000), std::size_t(300000)}) {
    const auto v = random_vector<double>(n, rng);
    CHECK(host(gctx, gpu_matrix(gctx, v, static_cast<std::int64_t>(n), 1)) == v);
  }
  const std::vector<int> ints{3, -1, 7, 0, 42, 5};
  CHECK(host(gctx, gpu_matrix(gctx, ints, 2, 3)) == ints);
  {  // copies and setZero go through the legacy stream, ordered with the context's stream
    auto a = gpu_matrix(gctx, ints, 2, 3);
    CudaBackend::Matrix<int> b(a);
    a.setZero();
    CHECK(host(gctx, b) == ints);
    CHECK(host(gctx, a) == std::vector<int>(6, 0));
  }

  // for_each and for_each_row (ColumnSums, the core's per-row kernel).
  {
    const std::int64_t rows = 37, cols = 301;
    const auto x = random_vector<float>(static_cast<std::size_t>(rows * cols), rng);
    auto cx = cpu_matrix(x, rows, cols);
    CpuBackend::Matrix<float> cy(rows, cols);
    CpuBackend::for_each(cctx, rows, cols, Affine{cy.data(), cx.data(), cols});
    auto gx = gpu_matrix(gctx, x, rows, cols);
    CudaBackend::Matrix<float> gy(rows, cols);
    CudaBackend::for_each(gctx, rows, cols, Affine{gy.data(), gx.data(), cols});
    CHECK(max_abs_diff(host(gctx, gy), cy.data()) == 0.0);
    using Sums = recdiff::nn::ColumnSums<float>;
    CpuBackend::Matrix<float> cs(1, cols);
    CpuBackend::for_each_row(cctx, Sums::blocks(cols), Sums{cx.data(), cs.data(), rows, cols});
    CudaBackend::Matrix<float> gs(1, cols);
    CudaBackend::for_each_row(gctx, Sums::blocks(cols), Sums{gx.data(), gs.data(), rows, cols});
    CHECK(max_abs_diff(host(gctx, gs), cs.data()) < 1e-5);
    // accumulate: sums += the column sums (how a gradient accumulates across backward passes).
    CpuBackend::for_each_row(cctx, Sums::blocks(cols), Sums{cx.data(), cs.data(), rows, cols, true});
    CudaBackend::for_each_row(gctx, Sums::blocks(cols), Sums{gx.data(), gs.data(), rows, cols, true});
    CHECK(max_abs_diff(host(gctx, gs), cs.data()) < 2e-5);
  }

  // index_t storage (steps, row keys of the noise draws) round-trips.
  {
    const std::vector<index_t> keys{0, 17, 3, 123456, -1, 2147483647};
    CudaBackend::Matrix<index_t> m;
    CudaBackend::upload(gctx, std::span<const index_t>(keys), 6, 1, m);
    CHECK(m.rows() == 6);
    CHECK(m.cols() == 1);
    CHECK(host(gctx, m) == keys);
  }

}

TEST_CASE("Philox on the device draws the host's bits", "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  {
    const std::int64_t rows = 9, cols = 70;
    CpuBackend::Matrix<std::uint32_t> cw(rows, cols);
    CpuBackend::Matrix<float> cn(rows, cols);
    CpuBackend::for_each(cctx, rows, cols, PhiloxFill{cw.data(), cn.data(), cols});
    CudaBackend::Matrix<std::uint32_t> gw(rows, cols);
    CudaBackend::Matrix<float> gn(rows, cols);
    CudaBackend::for_each(gctx, rows, cols, PhiloxFill{gw.data(), gn.data(), cols});
    const auto words = host(gctx, gw);
    const auto normals = host(gctx, gn);
    CHECK(std::memcmp(words.data(), cw.data(), words.size() * sizeof(std::uint32_t)) == 0);
    CHECK(std::memcmp(normals.data(), cn.data(), normals.size() * sizeof(float)) == 0);
  }

}

TEST_CASE("Gaussian noise kernel on the device draws the host's noise", "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  std::mt19937 rng(11);
  const recdiff::Gaussian noise(recdiff::DiffRecLinearVar(10, 0.1, 1e-3, 2e-2, true));
  const std::int64_t rows = 13, cols = 150;  // a ragged last column group
  std::vector<int> steps(static_cast<std::size_t>(rows));
  for (std::size_t b = 0; b < steps.size(); ++b) steps[b] = static_cast<int>(b % 10);
  const auto x0 = random_vector<float>(static_cast<std::size_t>(rows * cols), rng);
  const auto x0_hat = random_vector<float>(static_cast<std::size_t>(rows * cols), rng);
  // Inference keys rows by user id: row keys held in backend storage on each side.
  std::vector<index_t> keys(static_cast<std::size_t>(rows));
  for (std::size_t b = 0; b < keys.size(); ++b) keys[b] = static_cast<index_t>(1000 - 7 * b);
  CpuBackend::Matrix<index_t> ckeys;
  CpuBackend::upload(cctx, std::span<const index_t>(keys), rows, 1, ckeys);
  CudaBackend::Matrix<index_t> gkeys;
  CudaBackend::upload(gctx, std::span<const index_t>(keys), rows, 1, gkeys);

  recdiff::Gaussian::Workspace<CpuBackend, float> cws;
  recdiff::Gaussian::Workspace<CudaBackend, float> gws;
  for (const bool keyed : {false, true}) {
    const recdiff::NoiseDraw cdraw{7, recdiff::philox::Stream::noise, 3,
                                   keyed ? ckeys.data() : nullptr};
    const recdiff::NoiseDraw gdraw{7, recdiff::philox::Stream::noise, 3,
                                   keyed ? gkeys.data() : nullptr};
    // q_sample: the same eps bits, x_t up to a fused multiply-add.
    CpuBackend::Matrix<float> cx_t;
    noise.q_sample<CpuBackend, float>(cctx, cpu_matrix(x0, rows, cols), steps, cdraw, cws, cx_t);
    CudaBackend::Matrix<float> gx_t;
    noise.q_sample<CudaBackend, float>(gctx, gpu_matrix(gctx, x0, rows, cols), steps, gdraw, gws,
                                       gx_t);
    const auto eps = host(gctx, gws.eps);
    CHECK(std::memcmp(eps.data(), cws.eps.data(), eps.size() * sizeof(float)) == 0);
    CHECK(max_abs_diff(host(gctx, gx_t), cx_t.data()) < 1e-6);

    // q_sample_backward, overwriting then accumulating.
    const auto g = random_vector<float>(static_cast<std::size_t>(rows * cols), rng);
    CpuBackend::Matrix<float> cgx0;
    CudaBackend::Matrix<float> ggx0;
    for (const bool accumulate : {false, true}) {
      noise.q_sample_backward<CpuBackend, float>(cctx, cws, cpu_matrix(g, rows, cols), accumulate,
                                                 cgx0);
      noise.q_sample_backward<CudaBackend, float>(gctx, gws, gpu_matrix(gctx, g, rows, cols),
                                                  accumulate, ggx0);
      CHECK(max_abs_diff(host(gctx, ggx0), cgx0.data()) < 1e-6);
    }

    // reverse_step: the posterior mean, then with sampling noise (keyed like the inference chain).
    for (const bool sample : {false, true}) {
      const recdiff::NoiseDraw cinf{7, recdiff::philox::Stream::inference, 4,
                                    keyed ? ckeys.data() : nullptr};
      const recdiff::NoiseDraw ginf{7, recdiff::philox::Stream::inference, 4,
                                    keyed ? gkeys.data() : nullptr};
      CpuBackend::Matrix<float> cout_m;
      noise.reverse_step<CpuBackend, float>(cctx, cpu_matrix(x0_hat, rows, cols), cx_t, steps,
                                            cinf, sample, cws, cout_m);
      CudaBackend::Matrix<float> gout;
      noise.reverse_step<CudaBackend, float>(gctx, gpu_matrix(gctx, x0_hat, rows, cols), gx_t,
                                             steps, ginf, sample, gws, gout);
      CHECK(max_abs_diff(host(gctx, gout), cout_m.data()) < 1e-5);
    }
  }
}

TEST_CASE("Mlp forward and backward on the device agree with the CPU", "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  std::mt19937 rng(13);
  recdiff::MlpConfig config;
  config.items = 70;
  config.dims = {24, 40};
  config.emb_size = 6;
  config.dropout = 0.3;
  recdiff::Mlp<CpuBackend, float, recdiff::Tanh> cnet(config, 5);
  recdiff::Mlp<CudaBackend, float, recdiff::Tanh> gnet(config, 5);
  auto cparams = recdiff::nn::parameters_of(cnet);
  auto gparams = recdiff::nn::parameters_of(gnet);
  REQUIRE(cparams.size() == gparams.size());
  for (std::size_t i = 0; i < cparams.size(); ++i) {  // the same Philox initialisation
    CHECK(gparams[i].name == cparams[i].name);
    CHECK(max_abs_diff(host(gctx, gparams[i].value()), cparams[i].value().data()) < 1e-6);
  }

  const std::int64_t rows = 9;
  const auto x = random_vector<float>(static_cast<std::size_t>(rows * config.items), rng);
  const auto dy = random_vector<float>(static_cast<std::size_t>(rows * config.items), rng);
  const std::vector<int> steps{0, 1, 2, 3, 4, 5, 6, 7, 8};
  const auto cx = cpu_matrix(x, rows, config.items);
  const auto gx = gpu_matrix(gctx, x, rows, config.items);
  const auto cdy = cpu_matrix(dy, rows, config.items);
  const auto gdy = gpu_matrix(gctx, dy, rows, config.items);
  recdiff::nn::zero_grad(cparams);
  recdiff::nn::zero_grad(gparams);
  // Two training passes (different dropout masks) accumulate into the gradients; the second also
  // returns the input gradient.
  for (const std::uint32_t counter : {1u, 2u}) {
    const recdiff::nn::Pass pass{true, 5, counter, steps};
    const auto& cy = cnet.forward(cctx, cx, pass);
    const auto& gy = gnet.forward(gctx, gx, pass);
    CHECK(max_abs_diff(host(gctx, gy), cy.data()) < 1e-4);
    const bool need_input_grad = counter == 2;
    const auto* cdx = cnet.backward(cctx, cdy, need_input_grad);
    const auto* gdx = gnet.backward(gctx, gdy, need_input_grad);
    CHECK((cdx == nullptr) == (gdx == nullptr));
    if (cdx != nullptr && gdx != nullptr) CHECK(max_abs_diff(host(gctx, *gdx), cdx->data()) < 1e-4);
  }
  for (std::size_t i = 0; i < cparams.size(); ++i) {
    INFO(cparams[i].name);
    CHECK(max_abs_diff(host(gctx, gparams[i].tensor->gradient()),
                       cparams[i].tensor->gradient().data()) < 1e-3);
  }
  // The sparse evaluation pass reads the CSR rows directly.
  recdiff::SyntheticConfig sc;
  sc.users = 20;
  sc.items = config.items;
  sc.mean_items_per_user = 8;
  const auto csr = recdiff::make_synthetic(sc);
  const std::vector<index_t> users{0, 3, 5, 19};
  const std::vector<int> eval_steps{9, 0, 4, 2};
  const recdiff::nn::Pass eval{false, 5, 0, eval_steps};
  const auto& cs = cnet.forward_sparse(cctx, csr, users, recdiff::UnitValue{}, eval);
  const auto& gs = gnet.forward_sparse(gctx, csr, users, recdiff::UnitValue{}, eval);
  CHECK(max_abs_diff(host(gctx, gs), cs.data()) < 1e-4);
}

TEST_CASE("CudaBackend densify, sparse_times and top_k on CSR rows", "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(1);
  std::mt19937 rng(9);
  // densify and sparse_times on synthetic CSR rows, with T-DiffRec's weights.
  recdiff::SyntheticConfig sc;
  sc.users = 300;
  sc.items = 500;
  const auto csr = recdiff::make_synthetic(sc);
  std::vector<index_t> users;
  for (index_t u = 0; u < 300; u += 7) users.push_back(u);
  const recdiff::TimeLinearInput weights(0.2, 1.0);
  {
    CpuBackend::Matrix<float> cd;
    CpuBackend::densify(cctx, csr, users, cd, weights);
    CudaBackend::Matrix<float> gd;
    CudaBackend::densify(gctx, csr, users, gd, weights);
    CHECK(gd.rows() == cd.rows());
    CHECK(gd.cols() == cd.cols());
    CHECK(max_abs_diff(host(gctx, gd), cd.data()) == 0.0);
    const std::int64_t n = 75;
    const auto r = random_vector<float>(static_cast<std::size_t>(sc.items * n), rng);
    const auto c = random_vector<float>(users.size() * n, rng);
    auto cc = cpu_matrix(c, static_cast<std::int64_t>(users.size()), n);
    CpuBackend::sparse_times(cctx, csr, users, weights, cpu_matrix(r, sc.items, n), 0.5f, cc);
    auto gc = gpu_matrix(gctx, c, static_cast<std::int64_t>(users.size()), n);
    CudaBackend::sparse_times(gctx, csr, users, weights, gpu_matrix(gctx, r, sc.items, n), 0.5f, gc);
    CHECK(max_abs_diff(host(gctx, gc), cc.data()) < 1e-4);
    CHECK(gctx.mirror_count() == 1);  // one upload of the CSR for both calls
  }

  // Device top-K vs recdiff::top_k, train items excluded; ties, -inf and NaN included.
  {
    const index_t k = 20;
    const std::int64_t rows = static_cast<std::int64_t>(users.size()), items = sc.items;
    std::uniform_int_distribution<int> level(0, 40), special(0, 30);
    std::vector<float> s(static_cast<std::size_t>(rows * items));
    for (auto& x : s) {
      x = static_cast<float>(level(rng)) * 0.25f;
      if (special(rng) == 0) x = -std::numeric_limits<float>::infinity();
      if (special(rng) == 1) x = std::nanf("");
    }
    const recdiff::InteractionMatrix* excluded[] = {&csr};
    CudaBackend::Matrix<index_t> top_items;
    CudaBackend::Matrix<float> top_scores;
    CudaBackend::top_k(gctx, gpu_matrix(gctx, s, rows, items), excluded, users, k, top_items,
                       top_scores);
    const auto got = host(gctx, top_items);
    const auto got_scores = host(gctx, top_scores);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::span<const float> row(s.data() + r * items, static_cast<std::size_t>(items));
      const auto want = recdiff::top_k(row, k, csr.items_of(users[static_cast<std::size_t>(r)]));
      for (std::size_t j = 0; j < static_cast<std::size_t>(k); ++j) {
        const auto at = static_cast<std::size_t>(r * k) + j;
        CHECK(got[at] == (j < want.size() ? want[j] : -1));
        if (j < want.size()) CHECK(got_scores[at] == row[static_cast<std::size_t>(want[j])]);
      }
    }
  }
}

TEST_CASE("CudaBackend sparse_transpose_times and InputLinear's sparse training pass agree with the CPU",
          "[cuda][gpu]") {
  recdiff::test::require_cuda_device();
  const CudaBackend::Context gctx;
  const CpuBackend::Context cctx(2);
  std::mt19937 rng(17);
  recdiff::SyntheticConfig sc;
  sc.users = 300;
  sc.items = 500;
  const auto csr = recdiff::make_synthetic(sc);
  std::vector<index_t> users;
  for (index_t u = 299; u >= 0; u -= 7) users.push_back(u);
  const auto rows = static_cast<std::int64_t>(users.size());
  const recdiff::TimeLinearInput weights(0.2, 1.0);

  // The primitive: out = beta out + X^T D, overwriting, scaling and accumulating.
  {
    recdiff::nn::SparseBatchColumns<float> cols;
    cols.assign(csr, users, weights);
    REQUIRE(cols.nnz() > 0);
    const std::span<const recdiff::offset_t> off(cols.offsets);
    const std::span<const index_t> crow(cols.rows);
    const std::span<const float> cval(cols.values);
    const std::int64_t n = 75;
    const auto d = random_vector<float>(static_cast<std::size_t>(rows * n), rng);
    const auto start = random_vector<float>(static_cast<std::size_t>(sc.items * n), rng);
    const auto cd = cpu_matrix(d, rows, n);
    const auto gd = gpu_matrix(gctx, d, rows, n);
    for (const float beta : {0.0f, 0.5f, 1.0f}) {
      INFO("beta " << beta);
      auto cc = cpu_matrix(start, sc.items, n);
      CpuBackend::sparse_transpose_times(cctx, off, crow, cval, cd, beta, cc);
      auto gc = gpu_matrix(gctx, start, sc.items, n);
      CudaBackend::sparse_transpose_times(gctx, off, crow, cval, gd, beta, gc);
      const auto first = host(gctx, gc);
      CHECK(max_abs_diff(first, cc.data()) < 1e-4);
      // No atomics: a second launch gives the same bits.
      auto again = gpu_matrix(gctx, start, sc.items, n);
      CudaBackend::sparse_transpose_times(gctx, off, crow, cval, gd, beta, again);
      CHECK(host(gctx, again) == first);
    }
    // The device entry point checks its arguments like the CPU's.
    CudaBackend::Matrix<float> short_d(rows - 1, n), out(sc.items, n);
    bool threw = false;
    try {
      CudaBackend::sparse_transpose_times(gctx, off, crow, cval, short_d, 0.0f, out);
    } catch (const std::invalid_argument& e) {
      threw = std::string(e.what()).find("recdiff::CudaBackend::sparse_transpose_times: row") !=
              std::string::npos;
    }
    CHECK(threw);
  }

  // InputLinear: sparse training forward + backward with steps and a row scale on both backends.
  {
    const int hidden = 40, emb = 8;
    recdiff::nn::InputLinear<CpuBackend, float, recdiff::Tanh> clayer(sc.items, hidden, emb);
    recdiff::nn::InputLinear<CudaBackend, float, recdiff::Tanh> glayer(sc.items, hidden, emb);
    clayer.initialize(cctx, recdiff::nn::Init::diffrec, 3, 0, 1);
    glayer.initialize(gctx, recdiff::nn::Init::diffrec, 3, 0, 1);
    auto cparams = recdiff::nn::parameters_of(clayer);
    auto gparams = recdiff::nn::parameters_of(glayer);
    REQUIRE(cparams.size() == gparams.size());
    std::vector<int> steps(users.size());
    for (std::size_t b = 0; b < steps.size(); ++b) steps[b] = static_cast<int>(b % 10);
    const recdiff::nn::Pass pass{true, 3, 1, steps};
    std::vector<float> scale(users.size());
    for (std::size_t b = 0; b < scale.size(); ++b) scale[b] = 0.25f + 0.05f * static_cast<float>(b % 9);
    const auto cscale = cpu_matrix(scale, rows, 1);
    const auto gscale = gpu_matrix(gctx, scale, rows, 1);
    const auto dy = random_vector<float>(static_cast<std::size_t>(rows * hidden), rng);
    const auto cdy = cpu_matrix(dy, rows, hidden);
    const auto gdy = gpu_matrix(gctx, dy, rows, hidden);
    recdiff::nn::zero_grad(cparams);
    recdiff::nn::zero_grad(gparams);
    for (int pass_index = 0; pass_index < 2; ++pass_index) {  // the second pass accumulates
      const auto& cy = clayer.forward_sparse(cctx, csr, users, weights, pass, &cscale);
      const auto& gy = glayer.forward_sparse(gctx, csr, users, weights, pass, &gscale);
      CHECK(max_abs_diff(host(gctx, gy), cy.data()) < 1e-5);
      CHECK(clayer.backward(cctx, cdy, false) == nullptr);
      CHECK(glayer.backward(gctx, gdy, false) == nullptr);
    }
    for (std::size_t i = 0; i < cparams.size(); ++i) {
      INFO(cparams[i].name);
      const auto& cg = cparams[i].tensor->gradient();
      CHECK(cg.cwiseAbs().maxCoeff() > 0.01f);
      CHECK(max_abs_diff(host(gctx, gparams[i].tensor->gradient()), cg.data()) < 1e-4);
    }
  }
}
