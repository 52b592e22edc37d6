// InputLinear trained on CSR rows: forward_sparse in a training pass followed by backward() gives the
// output and the parameter gradients of the dense path on the densified rows (with and without the
// step embedding, entry values and a row scale), the same bits at 1 and 2 threads, gradients that
// accumulate, and parameter gradients that match central finite differences. Also the batch's
// columns (SparseBatchColumns, hand-computed) and CpuBackend::sparse_transpose_times against the
// explicit X^T D.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/input_linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

#include "nn/gradcheck.hpp"
#include "nn/module_test_util.hpp"
#include "support/toy_data.hpp"

using recdiff::CpuBackend;
using recdiff::index_t;
using recdiff::offset_t;
template <class T>
using Matrix = CpuBackend::Matrix<T>;
template <class T>
using Layer = recdiff::nn::InputLinear<CpuBackend, T, recdiff::Tanh>;

namespace {

// Entry value by position: 0.5 + 0.5 (p + 1) / n (T-DiffRec-like weights, never 1 for all).
struct RampValue {
  float operator()(std::size_t position, std::size_t length) const {
    return 0.5f + 0.5f * static_cast<float>(position + 1) / static_cast<float>(length);
  }
};

// (p + 1) / n: exact in binary for the rows of the hand-computed case.
struct FractionValue {
  float operator()(std::size_t position, std::size_t length) const {
    return static_cast<float>(position + 1) / static_cast<float>(length);
  }
};

// users x items, each row a random subset of the items (density `density`, shuffled order); row 1
// is empty.
recdiff::InteractionMatrix random_csr(index_t users, index_t items, double density,
                                      std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution keep(density);
  std::vector<offset_t> offsets{0};
  std::vector<index_t> indices;
  for (index_t u = 0; u < users; ++u) {
    std::vector<index_t> row;
    if (u != 1)
      for (index_t i = 0; i < items; ++i)
        if (keep(rng)) row.push_back(i);
    std::shuffle(row.begin(), row.end(), rng);
    indices.insert(indices.end(), row.begin(), row.end());
    offsets.push_back(static_cast<offset_t>(indices.size()));
  }
  return recdiff::InteractionMatrix(users, items, std::move(offsets), std::move(indices));
}

template <class T>
Matrix<T> scale_of(std::size_t rows, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.2, 2.0);
  Matrix<T> s(static_cast<Eigen::Index>(rows), 1);
  for (Eigen::Index r = 0; r < s.rows(); ++r) s(r, 0) = static_cast<T>(u(rng));
  return s;
}

template <class T>
std::vector<Matrix<T>> gradients(Layer<T>& layer) {
  std::vector<Matrix<T>> out;
  for (auto& p : recdiff::nn::parameters_of(layer)) out.push_back(p.tensor->gradient());
  return out;
}

template <class T>
double max_abs(const Matrix<T>& a) {
  return a.size() == 0 ? 0.0 : static_cast<double>(a.cwiseAbs().maxCoeff());
}

template <class T>
Layer<T> make_layer(int items, int hidden, int emb) {
  Layer<T> layer(items, hidden, emb);
  CpuBackend::Context ctx(1);
  layer.initialize(ctx, recdiff::nn::Init::diffrec, 8, 0, 1);
  // A non-zero bias and step-embedding bias, so every term is exercised.
  for (auto& p : recdiff::nn::parameters_of(layer))
    if (p.name.find("bias") != std::string::npos)
      p.value() = recdiff::test::random_matrix<T>(p.value().rows(), p.value().cols(), 31);
  return layer;
}

std::vector<int> steps_for(std::size_t rows) {
  std::vector<int> steps(rows);
  for (std::size_t b = 0; b < rows; ++b) steps[b] = static_cast<int>((7 * b + 3) % 10);
  return steps;
}

}  // namespace

TEST_CASE("SparseBatchColumns: the columns of a batch, hand-computed", "[nn]") {
  // Batch rows: b0 = user 3 {0, 1, 2, 4}, b1 = user 0 {0, 2}, b2 = user 2 {}, b3 = user 1 {1},
  // b4 = user 4 {3}, b5 = user 3 again. Values (p + 1) / n.
  const auto csr = recdiff::test::matrix_from_rows({{0, 2}, {1}, {}, {0, 1, 2, 4}, {3}}, 5);
  const std::vector<index_t> users{3, 0, 2, 1, 4, 3};
  recdiff::nn::SparseBatchColumns<double> cols;
  cols.assign(csr, users, FractionValue{});
  CHECK(cols.offsets == std::vector<offset_t>{0, 3, 6, 9, 10, 12});
  CHECK(cols.rows == std::vector<index_t>{0, 1, 5, 0, 3, 5, 0, 1, 5, 4, 0, 5});
  CHECK(cols.values == std::vector<double>{0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.75, 1, 0.75, 1, 1, 1});
  CHECK(cols.nnz() == 12);
  // Reused for a smaller batch: everything is rebuilt.
  const std::vector<index_t> one{4};
  cols.assign(csr, one, recdiff::UnitValue{});
  CHECK(cols.offsets == std::vector<offset_t>{0, 0, 0, 0, 1, 1});
  CHECK(cols.rows == std::vector<index_t>{0});
  CHECK(cols.values == std::vector<double>{1});
  const std::vector<index_t> bad{0, 5};
  REQUIRE_THROWS_AS(cols.assign(csr, bad, recdiff::UnitValue{}), std::invalid_argument);
  REQUIRE_THROWS_WITH(cols.assign(csr, bad, recdiff::UnitValue{}),
                      Catch::Contains("user 5 outside the matrix's 5 users"));
}

TEMPLATE_TEST_CASE("CpuBackend::sparse_transpose_times equals the explicit X^T D", "[backend]",
                   float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-13;
  const auto csr = random_csr(40, 150, 0.08, 3);
  std::vector<index_t> users(40);
  std::iota(users.begin(), users.end(), 0);
  recdiff::nn::SparseBatchColumns<T> cols;
  cols.assign(csr, users, RampValue{});
  Matrix<T> x;
  CpuBackend::Context one(1), two(2);
  CpuBackend::densify(one, csr, users, x, RampValue{});
  const Matrix<T> d = recdiff::test::random_matrix<T>(40, 17, 5);
  const Matrix<T> start = recdiff::test::random_matrix<T>(150, 17, 6);
  const Matrix<T> xtd = x.transpose() * d;
  REQUIRE(max_abs(xtd) > 0.5);
  const std::span<const offset_t> off(cols.offsets);
  const std::span<const index_t> rows(cols.rows);
  const std::span<const T> vals(cols.values);
  // beta = 0 overwrites, even NaN.
  Matrix<T> out = Matrix<T>::Constant(150, 17, std::numeric_limits<T>::quiet_NaN());
  CpuBackend::sparse_transpose_times(one, off, rows, vals, d, T(0), out);
  CHECK(max_abs<T>(out - xtd) <= tol);
  // beta = 0.5 and beta = 1; the same bits at 1 and 2 threads.
  for (const T beta : {T(0.5), T(1)}) {
    Matrix<T> a = start, b = start;
    CpuBackend::sparse_transpose_times(one, off, rows, vals, d, beta, a);
    CpuBackend::sparse_transpose_times(two, off, rows, vals, d, beta, b);
    CHECK(max_abs<T>(a - (beta * start + xtd)) <= tol);
    CHECK(a == b);
  }
  // Items nobody holds keep their row with beta = 1 (and are zero with beta = 0).
  bool some_empty = false;
  for (std::size_t i = 0; i + 1 < cols.offsets.size(); ++i) some_empty |= cols.offsets[i] == cols.offsets[i + 1];
  CHECK(some_empty);

  // Argument checks name the function and the bad value.
  Matrix<T> small(149, 17);
  REQUIRE_THROWS_WITH(CpuBackend::sparse_transpose_times(one, off, rows, vals, d, T(0), small),
                      Catch::Contains("sparse_transpose_times: col_offsets has 151 entries, "
                                      "expected out.rows() + 1 = 150"));
  Matrix<T> narrow(150, 16);
  REQUIRE_THROWS_WITH(CpuBackend::sparse_transpose_times(one, off, rows, vals, d, T(0), narrow),
                      Catch::Contains("shapes do not match: D 40x17, out 150x16"));
  const Matrix<T> short_d = d.topRows(39);
  REQUIRE_THROWS_WITH(CpuBackend::sparse_transpose_times(one, off, rows, vals, short_d, T(0), out),
                      Catch::Contains("row 39 outside D's 39 rows"));
  REQUIRE_THROWS_AS(CpuBackend::sparse_transpose_times(one, off, rows, vals.first(vals.size() - 1),
                                                       d, T(0), out),
                    std::invalid_argument);
  std::vector<offset_t> unsorted = cols.offsets;
  std::swap(unsorted[1], unsorted[2]);
  if (unsorted[1] != unsorted[2])
    REQUIRE_THROWS_WITH(CpuBackend::sparse_transpose_times(one, std::span<const offset_t>(unsorted),
                                                           rows, vals, d, T(0), out),
                        Catch::Contains("non-decreasing"));
}

TEMPLATE_TEST_CASE("InputLinear: sparse forward and backward equal the dense path on the densified rows",
                   "[nn]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  CpuBackend::Context ctx(2);
  const index_t items = 60;
  // Rows from any matrix: some users of a larger matrix (repeated, out of order, an empty row),
  // or a batch-local matrix whose rows are the batch.
  const auto big = random_csr(30, items, 0.15, 11);
  const std::vector<index_t> picked{7, 1, 22, 7, 0, 29, 13, 4, 18, 9, 3};
  const auto local = random_csr(9, items, 0.2, 12);
  std::vector<index_t> all_local(9);
  std::iota(all_local.begin(), all_local.end(), 0);
  struct Source {
    const recdiff::InteractionMatrix* csr;
    std::span<const index_t> users;
  };
  for (const Source src : {Source{&big, picked}, Source{&local, all_local}}) {
    const std::size_t rows = src.users.size();
    const auto steps = steps_for(rows);
    for (const int emb : {0, 6}) {
      for (const bool scaled : {false, true}) {
        for (const bool ramp : {false, true}) {
          INFO("batch-local " << (src.csr == &local) << ", emb " << emb << ", scaled " << scaled
                              << ", ramp " << ramp);
          Layer<T> sparse = make_layer<T>(items, 5, emb);
          Layer<T> dense = sparse;
          recdiff::nn::Pass pass = recdiff::test::training_pass(4);
          if (emb > 0) pass.steps = steps;
          Matrix<T> x;
          if (ramp)
            CpuBackend::densify(ctx, *src.csr, src.users, x, RampValue{});
          else
            CpuBackend::densify(ctx, *src.csr, src.users, x);
          const Matrix<T> s = scale_of<T>(rows, 3);
          if (scaled)
            for (Eigen::Index r = 0; r < x.rows(); ++r) x.row(r) *= s(r, 0);
          const Matrix<T> dy = recdiff::test::random_matrix<T>(static_cast<std::int64_t>(rows), 5, 9);

          auto sparse_params = recdiff::nn::parameters_of(sparse);
          auto dense_params = recdiff::nn::parameters_of(dense);
          recdiff::nn::zero_grad(sparse_params);
          recdiff::nn::zero_grad(dense_params);
          const Matrix<T> want = dense.forward(ctx, x, pass);
          dense.backward(ctx, dy, false);
          const Matrix<T>* scale = scaled ? &s : nullptr;
          const Matrix<T> got =
              ramp ? sparse.forward_sparse(ctx, *src.csr, src.users, RampValue{}, pass, scale)
                   : sparse.forward_sparse(ctx, *src.csr, src.users, recdiff::UnitValue{}, pass,
                                           scale);
          CHECK(sparse.backward(ctx, dy, false) == nullptr);
          CHECK(max_abs<T>(got - want) <= tol);
          const auto gs = gradients(sparse);
          const auto gd = gradients(dense);
          REQUIRE(gs.size() == (emb > 0 ? 5u : 2u));
          for (std::size_t k = 0; k < gs.size(); ++k) {
            INFO("parameter " << sparse_params[k].name);
            CHECK(max_abs(gd[k]) > 0.01);  // a meaningful comparison
            CHECK(max_abs<T>(gs[k] - gd[k]) <= tol * (1 + max_abs(gd[k])));
          }
        }
      }
    }
  }
}

TEST_CASE("InputLinear: the sparse training pass has the same bits at 1 and 2 threads", "[nn]") {
  // 300 items and 48 rows: both threads own items in the transposed product.
  const auto csr = random_csr(64, 300, 0.05, 21);
  std::vector<index_t> users;
  for (index_t u = 63; u >= 16; --u) users.push_back(u);
  const auto steps = steps_for(users.size());
  recdiff::nn::Pass pass = recdiff::test::training_pass(2);
  pass.steps = steps;
  const Matrix<float> s = scale_of<float>(users.size(), 4);
  const Matrix<float> dy = recdiff::test::random_matrix<float>(48, 24, 13);
  std::vector<Matrix<float>> out, grads;
  for (const int threads : {1, 2}) {
    CpuBackend::Context ctx(threads);
    Layer<float> layer = make_layer<float>(300, 24, 8);
    auto params = recdiff::nn::parameters_of(layer);
    recdiff::nn::zero_grad(params);
    out.push_back(layer.forward_sparse(ctx, csr, users, RampValue{}, pass, &s));
    layer.backward(ctx, dy, false);
    for (auto& g : gradients(layer)) grads.push_back(g);
  }
  CHECK(out[0] == out[1]);
  REQUIRE(grads.size() == 10);
  for (std::size_t k = 0; k < 5; ++k) {
    INFO("parameter " << k);
    CHECK(max_abs(grads[k]) > 0);
    CHECK(grads[k] == grads[k + 5]);
  }
}

TEST_CASE("InputLinear: sparse gradients accumulate, and a training pass keeps the evaluation output",
          "[nn]") {
  using T = double;
  CpuBackend::Context ctx(2);
  const auto csr = random_csr(20, 40, 0.2, 31);
  const std::vector<index_t> users{3, 8, 1, 19, 0, 12, 5};
  const auto steps = steps_for(users.size());
  recdiff::nn::Pass pass = recdiff::test::training_pass(7);
  pass.steps = steps;
  const Matrix<T> s = scale_of<T>(users.size(), 5);
  const Matrix<T> dy = recdiff::test::random_matrix<T>(7, 6, 17);
  Layer<T> layer = make_layer<T>(40, 6, 4);
  auto params = recdiff::nn::parameters_of(layer);

  // Training and evaluation passes give the same output bits.
  recdiff::nn::Pass eval = pass;
  eval.train = false;
  const Matrix<T> evaluated = layer.forward_sparse(ctx, csr, users, RampValue{}, eval, &s);
  const Matrix<T> trained = layer.forward_sparse(ctx, csr, users, RampValue{}, pass, &s);
  CHECK(evaluated == trained);

  recdiff::nn::zero_grad(params);
  layer.forward_sparse(ctx, csr, users, RampValue{}, pass, &s);
  layer.backward(ctx, dy, false);
  const auto once = gradients(layer);
  // A second backward after the same pass, and a third after a new pass, add up.
  layer.backward(ctx, dy, false);
  layer.forward_sparse(ctx, csr, users, RampValue{}, pass, &s);
  layer.backward(ctx, dy, false);
  const auto thrice = gradients(layer);
  for (std::size_t k = 0; k < once.size(); ++k) {
    INFO("parameter " << params[k].name);
    CHECK(max_abs(once[k]) > 0.01);
    CHECK(max_abs<T>(thrice[k] - T(3) * once[k]) <= 1e-12 * (1 + max_abs(once[k])));
  }
  // zero_grad, then one pass: the single-pass bits.
  recdiff::nn::zero_grad(params);
  layer.forward_sparse(ctx, csr, users, RampValue{}, pass, &s);
  layer.backward(ctx, dy, false);
  const auto again = gradients(layer);
  for (std::size_t k = 0; k < once.size(); ++k) CHECK(again[k] == once[k]);
  // A dense pass and a sparse pass accumulate into the same tensors.
  Matrix<T> x;
  CpuBackend::densify(ctx, csr, users, x, RampValue{});
  for (Eigen::Index r = 0; r < x.rows(); ++r) x.row(r) *= s(r, 0);
  layer.forward(ctx, x, pass);
  layer.backward(ctx, dy, false);
  const auto mixed = gradients(layer);
  for (std::size_t k = 0; k < once.size(); ++k)
    CHECK(max_abs<T>(mixed[k] - T(2) * once[k]) <= 1e-12 * (1 + max_abs(once[k])));
}

TEST_CASE("InputLinear: sparse-path parameter gradients match finite differences", "[nn][gradcheck]") {
  using T = double;
  CpuBackend::Context ctx(2);
  const auto csr = random_csr(12, 15, 0.3, 41);
  const std::vector<index_t> users{2, 0, 11, 5, 1, 7};
  const auto steps = steps_for(users.size());
  const Matrix<T> r = recdiff::test::random_matrix<T>(6, 4, 43);
  for (const int emb : {0, 4}) {
    for (const bool scaled : {false, true}) {
      INFO("emb " << emb << ", scaled " << scaled);
      Layer<T> layer = make_layer<T>(15, 4, emb);
      recdiff::nn::Pass pass = recdiff::test::training_pass(1);
      if (emb > 0) pass.steps = steps;
      const Matrix<T> s = scale_of<T>(users.size(), 6);
      const Matrix<T>* scale = scaled ? &s : nullptr;
      auto loss = [&] {
        return layer.forward_sparse(ctx, csr, users, RampValue{}, pass, scale).cwiseProduct(r).sum();
      };
      auto params = recdiff::nn::parameters_of(layer);
      recdiff::nn::zero_grad(params);
      layer.forward_sparse(ctx, csr, users, RampValue{}, pass, scale);
      layer.backward(ctx, r, false);
      REQUIRE(params.size() == (emb > 0 ? 5u : 2u));
      for (auto& p : params) {
        const Matrix<T> analytic = p.tensor->gradient();
        INFO("parameter " << p.name);
        CHECK(max_abs(analytic) > 1e-3);
        CHECK(recdiff::test::gradient_error(p.value(), analytic, loss) <
              recdiff::test::gradcheck_tolerance);
      }
      // A wrong gradient is caught: the check is not vacuous.
      Matrix<T> wrong = params[0].tensor->gradient();
      wrong(0, 0) += 0.5;
      CHECK(recdiff::test::gradient_error(params[0].value(), wrong, loss) > 1e-3);
    }
  }
}

TEST_CASE("InputLinear: what a sparse pass refuses", "[nn]") {
  CpuBackend::Context ctx(1);
  const auto csr = random_csr(6, 10, 0.4, 51);
  const std::vector<index_t> users{0, 2, 5};
  Layer<float> layer = make_layer<float>(10, 3, 0);
  const Matrix<float> dy = recdiff::test::random_matrix<float>(3, 3, 2);
  // No input gradient for CSR rows; nothing is accumulated before the refusal.
  auto params = recdiff::nn::parameters_of(layer);
  recdiff::nn::zero_grad(params);
  layer.forward_sparse(ctx, csr, users, recdiff::UnitValue{}, recdiff::test::training_pass());
  REQUIRE_THROWS_AS(layer.backward(ctx, dy, true), std::logic_error);
  REQUIRE_THROWS_WITH(layer.backward(ctx, dy, true),
                      Catch::Contains("input gradient of CSR rows is not supported"));
  CHECK(params[0].tensor->grad_zero);
  // dy of the wrong shape.
  const Matrix<float> wide = recdiff::test::random_matrix<float>(3, 4, 2);
  REQUIRE_THROWS_WITH(layer.backward(ctx, wide, false), Catch::Contains("dy is 3x4, expected 3x3"));
  // An evaluation pass keeps nothing to differentiate.
  layer.forward_sparse(ctx, csr, users, recdiff::UnitValue{}, recdiff::nn::Pass{});
  REQUIRE_THROWS_WITH(layer.backward(ctx, dy, false), Catch::Contains("no dense forward()"));
  // A row scale must be B x 1; a training pass checks the users.
  const Matrix<float> bad_scale = Matrix<float>::Ones(2, 1);
  REQUIRE_THROWS_WITH(layer.forward_sparse(ctx, csr, users, recdiff::UnitValue{},
                                           recdiff::nn::Pass{}, &bad_scale),
                      Catch::Contains("row_scale is 2x1, expected 3x1"));
  const std::vector<index_t> outside{0, 6};
  REQUIRE_THROWS_WITH(layer.forward_sparse(ctx, csr, outside, recdiff::UnitValue{},
                                           recdiff::test::training_pass()),
                      Catch::Contains("user 6 outside"));
  // A refused pass leaves nothing to differentiate either.
  REQUIRE_THROWS_AS(layer.backward(ctx, dy, false), std::logic_error);
}
