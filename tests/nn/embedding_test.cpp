#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/detail/xtensor_include.hpp>
#include <recdiff/nn/embedding.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"

using recdiff::CpuBackend;
using recdiff::index_t;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
template <class T>
using Embedding = recdiff::nn::Embedding<CpuBackend, T>;

namespace {

// Embedding seen through the Module interface with fixed ids, so that check_module and
// check_accumulation can drive it: the matrix input is ignored and there is no input gradient.
template <class T>
struct LookupOf {
  using backend_type = CpuBackend;
  using scalar_type = T;
  Embedding<T>* embedding;
  std::vector<index_t> ids;

  const Mat<T>& forward(const CpuBackend::Context& ctx, const Mat<T>&, const recdiff::nn::Pass& pass) {
    return embedding->forward_ids(ctx, ids, pass);
  }
  const Mat<T>* backward(const CpuBackend::Context& ctx, const Mat<T>& dy, bool) {
    embedding->backward(ctx, dy);
    return nullptr;
  }
  void collect_parameters(const std::string& prefix, recdiff::nn::ParameterList<CpuBackend, T>& out) {
    embedding->collect_parameters(prefix, out);
  }
  std::size_t num_parameters() const noexcept { return embedding->num_parameters(); }
};

}  // namespace

// Its input is ids, not a differentiable matrix: Embedding is deliberately not a Module.
static_assert(!recdiff::Module<Embedding<float>, CpuBackend>);
static_assert(recdiff::Module<LookupOf<float>, CpuBackend>);

TEST_CASE("Embedding: forward_ids returns the table rows of the ids", "[nn]") {
  CpuBackend::Context ctx(1);
  Embedding<double> emb(4, 3);
  emb.weight() << 0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32;
  const std::vector<index_t> ids{2, 0, 2, 3};
  const Mat<double>& y = emb.forward_ids(ctx, ids);
  REQUIRE(y.rows() == 4);
  REQUIRE(y.cols() == 3);
  CHECK(y.row(0) == emb.weight().row(2));
  CHECK(y.row(1) == emb.weight().row(0));
  CHECK(y.row(2) == emb.weight().row(2));
  CHECK(y(3, 1) == 31.0);
  CHECK(recdiff::test::parameter_names(emb, "item_emb.") == std::vector<std::string>{"item_emb.weight"});
  CHECK(emb.num_parameters() == 12);
  CHECK(emb.num_embeddings() == 4);
  CHECK(emb.dim() == 3);
  CHECK(!emb.padding_id());
  const std::vector<index_t> none;
  CHECK(emb.forward_ids(ctx, none).rows() == 0);
  const std::vector<index_t> bad{1, 4};
  REQUIRE_THROWS_AS(emb.forward_ids(ctx, bad), std::invalid_argument);
  REQUIRE_THROWS_WITH(emb.forward_ids(ctx, bad), Catch::Contains("id 4 at position 1 is outside [0, 4)"));
  const std::vector<index_t> negative{-1};
  REQUIRE_THROWS_WITH(emb.forward_ids(ctx, negative), Catch::Contains("id -1 at position 0"));
  REQUIRE_THROWS_AS(Embedding<double>(0, 3), std::invalid_argument);
  REQUIRE_THROWS_AS(Embedding<double>(4, 3, 4), std::invalid_argument);
  Embedding<double> fresh(4, 3);
  REQUIRE_THROWS_AS(fresh.backward(ctx, y), std::logic_error);
}

TEST_CASE("Embedding: a (B, L) batch of id sequences gives the (B, L, H) lookup of an xtensor "
          "reference",
          "[nn]") {
  constexpr std::size_t B = 3, L = 6, H = 5, N = 11;
  CpuBackend::Context ctx(2);
  Embedding<double> emb(static_cast<index_t>(N), static_cast<int>(H), 0);
  emb.initialize(ctx, 7, 2);
  // Sequences left-padded with id 0, as SASRec feeds them.
  const xt::xtensor<index_t, 2> seqs = {{0, 0, 3, 5, 5, 1}, {0, 10, 9, 8, 7, 6}, {2, 4, 6, 8, 10, 2}};
  const xt::xtensor<double, 2> table =
      xt::adapt(emb.weight().data(), N * H, xt::no_ownership(), std::vector<std::size_t>{N, H});
  // Reference: the rows of the table picked by the flattened ids, reshaped to (B, L, H).
  const std::vector<std::size_t> flat(seqs.begin(), seqs.end());
  xt::xarray<double> expected = xt::view(table, xt::keep(flat), xt::all());
  expected.reshape({B, L, H});
  const std::vector<index_t> ids(seqs.begin(), seqs.end());
  const Mat<double>& y = emb.forward_ids(ctx, ids);
  const auto got = xt::adapt(y.data(), B * L * H, xt::no_ownership(), std::vector<std::size_t>{B, L, H});
  CHECK(got == expected);
  // Padding positions are zero rows.
  CHECK(xt::all(xt::equal(xt::view(got, 0, xt::range(0, 2), xt::all()), 0.0)));
  CHECK(xt::all(xt::not_equal(xt::view(got, 2, xt::all(), xt::all()), 0.0)));
}

TEMPLATE_TEST_CASE("Embedding: the table gradient matches finite differences", "[nn][gradcheck]",
                   float, double) {
  using T = TestType;
  CpuBackend::Context ctx(2);
  Embedding<T> emb(9, 4, 0);
  emb.initialize(ctx, 3, 0, 0.5);
  // Duplicates (5 three times), the padding id, and ids absent from the batch (2, 4, 8).
  LookupOf<T> lookup{&emb, {5, 1, 0, 5, 7, 3, 5, 6, 0}};
  const Mat<T> unused = Mat<T>::Zero(9, 1);
  const auto check = recdiff::test::check_module(lookup, unused, {}, false);
  recdiff::test::require_gradients<T>(check, 1, false);
  CHECK(!check.input_checked);
  recdiff::test::check_accumulation(lookup, unused);
}

TEST_CASE("Embedding: duplicate ids add up, the padding row stays zero and gets no gradient",
          "[nn]") {
  CpuBackend::Context ctx(3);
  Embedding<double> emb(6, 2, 0);
  emb.initialize(ctx, 11, 1);
  CHECK(emb.weight().row(0).isZero(0));  // the padding row
  CHECK(!emb.weight().row(1).isZero());
  const std::vector<index_t> ids{2, 0, 2, 4, 2, 0};
  const Mat<double>& y = emb.forward_ids(ctx, ids);
  CHECK(y.row(1).isZero(0));
  CHECK(y.row(5).isZero(0));
  Mat<double> dy(6, 2);
  dy << 1, 10, 100, 1000, 2, 20, 3, 30, 4, 40, 5, 50;
  auto params = recdiff::nn::parameters_of(emb);
  recdiff::nn::zero_grad(params);
  emb.backward(ctx, dy);
  const Mat<double>& g = emb.weight_grad();
  CHECK(g(2, 0) == 1 + 2 + 4);    // rows 0, 2, 4 of dy
  CHECK(g(2, 1) == 10 + 20 + 40);
  CHECK(g(4, 0) == 3);
  CHECK(g.row(0).isZero(0));      // padding: no gradient
  CHECK(g.row(1).isZero(0));      // absent ids: zero
  CHECK(g.row(3).isZero(0));
  CHECK(g.row(5).isZero(0));
  // A second pass accumulates; zero_grad then a pass of other ids overwrites every row.
  emb.backward(ctx, dy);
  CHECK(emb.weight_grad()(2, 0) == 14);
  recdiff::nn::zero_grad(params);
  const std::vector<index_t> other{5};
  emb.forward_ids(ctx, other);
  Mat<double> one(1, 2);
  one << 7, 8;
  emb.backward(ctx, one);
  CHECK(emb.weight_grad().row(2).isZero(0));
  CHECK(emb.weight_grad()(5, 1) == 8);
  REQUIRE_THROWS_WITH(emb.backward(ctx, dy), Catch::Contains("dy is 6x2, expected the output's 1x2"));
}

TEST_CASE("Embedding: initialisation is N(0, stddev^2), reproducible at any thread count", "[nn]") {
  Embedding<float> a(500, 64), b(500, 64), c(500, 64);
  a.initialize(CpuBackend::Context(1), 5, 3);
  b.initialize(CpuBackend::Context(3), 5, 3);
  c.initialize(CpuBackend::Context(1), 5, 4);
  CHECK(a.weight() == b.weight());
  CHECK(a.weight() != c.weight());
  const auto w = a.weight().cast<double>();
  const double mean = w.mean();
  const double sd = std::sqrt((w.array() - mean).square().mean());
  // 32,000 draws: the sample mean within ~0.006, the std within ~0.4% of 1.
  CHECK(mean == Approx(0.0).margin(0.03));
  CHECK(sd == Approx(1.0).epsilon(0.02));
  // Forward and backward bits do not depend on the thread count either.
  std::vector<index_t> ids;
  for (index_t k = 0; k < 90; ++k) ids.push_back((k * 37) % 500);
  for (index_t k = 0; k < 30; ++k) ids.push_back(k % 7);
  const Mat<float> dy = random_matrix<float>(120, 64, 3);
  auto run = [&](int threads) {
    CpuBackend::Context ctx(threads);
    auto params = recdiff::nn::parameters_of(a);
    recdiff::nn::zero_grad(params);
    const Mat<float> y = a.forward_ids(ctx, ids);
    a.backward(ctx, dy);
    return std::vector<Mat<float>>{y, a.weight_grad()};
  };
  CHECK(run(1) == run(3));
}
