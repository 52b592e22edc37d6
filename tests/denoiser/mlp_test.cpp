#include <catch2/catch.hpp>

#include <numeric>
#include <string>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/denoiser.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/denoiser/mlp.hpp>
#include <recdiff/nn/linear.hpp>

#include "nn/gradcheck.hpp"

using recdiff::CpuBackend;
template <class T, class ActivationType = recdiff::Tanh>
using Mlp = recdiff::Mlp<CpuBackend, T, ActivationType>;
template <class T>
using Matrix = CpuBackend::Matrix<T>;

static_assert(recdiff::Denoiser<Mlp<float>, CpuBackend>);
static_assert(recdiff::SparseInputDenoiser<Mlp<float>, CpuBackend>);
static_assert(recdiff::SparseInputDenoiser<Mlp<double, recdiff::Sigmoid>, CpuBackend>);
static_assert(!recdiff::Denoiser<recdiff::nn::Linear<CpuBackend, float>, CpuBackend>);

namespace {

template <class T>
typename Mlp<T>::Config small_config(bool norm, double dropout = 0.5) {
  typename Mlp<T>::Config c;
  c.items = 7;
  c.dims = {3, 5};
  c.emb_size = 4;
  c.dropout = dropout;
  c.norm = norm;
  return c;
}

// A small CSR matrix (users x items) with a few entries per row, one empty row.
recdiff::InteractionMatrix random_interactions(int users, int items, unsigned seed) {
  recdiff::InteractionBuilder b;
  std::uint32_t state = seed;
  for (int u = 0; u < users; ++u) {
    if (u == 3) continue;
    for (int i = 0; i < items; ++i) {
      state = state * 1664525u + 1013904223u;
      if ((state >> 24) % 5 == 0) b.add(u, i);
    }
  }
  return b.build(users, items);
}

}  // namespace

TEST_CASE("Mlp: layer shapes and parameter counts of the ml-1m presets", "[denoiser]") {
  Mlp<float>::Config c;
  c.items = 2810;
  c.dims = {200, 600};
  const Mlp<float> mlp(c);
  CHECK(mlp.widths() == std::vector<int>{2820, 600, 200, 600, 2810});
  CHECK(mlp.num_parameters() == 3622320);
  CHECK(mlp.first_weight_items_t().rows() == 2810);
  CHECK(mlp.first_weight_items_t().cols() == 600);
  CHECK(mlp.first_weight_emb().rows() == 600);
  CHECK(mlp.first_weight_emb().cols() == 10);
  CHECK(mlp.layers().size() == 3);
  CHECK(mlp.last_layer().in_features() == 600);
  CHECK(mlp.last_layer().out_features() == 2810);
  CHECK(mlp.emb_layer().in_features() == 10);

  c.dims = {1000};
  Mlp<float> wide(c);
  CHECK(wide.widths() == std::vector<int>{2820, 1000, 2810});
  CHECK(wide.num_parameters() == 5633920);
  std::size_t total = 0;
  for (const auto& p : wide.parameters()) total += static_cast<std::size_t>(p.value->size());
  CHECK(total == 5633920);
}

TEST_CASE("Mlp: parameter names and order", "[denoiser]") {
  Mlp<double> mlp(small_config<double>(false));
  std::vector<std::string> names;
  for (const auto& p : mlp.parameters()) {
    names.push_back(p.name);
    CHECK(p.grad->rows() == p.value->rows());
    CHECK(p.grad->cols() == p.value->cols());
  }
  // widths 11 -> 5 -> 3 -> 5 -> 7
  CHECK(names == std::vector<std::string>{
                     "emb_layer.weight", "emb_layer.bias", "in_layers.0.weight.items_t",
                     "in_layers.0.weight.emb", "in_layers.0.bias", "in_layers.1.weight",
                     "in_layers.1.bias", "out_layers.0.weight", "out_layers.0.bias",
                     "out_layers.1.weight", "out_layers.1.bias"});
}

TEST_CASE("Mlp: the split first layer is initialised as one logical Linear(I + E -> h)",
          "[denoiser]") {
  Mlp<double> mlp(small_config<double>(false), 42);
  recdiff::nn::Linear<CpuBackend, double> logical(11, 5);
  logical.initialize(CpuBackend::Context(1), recdiff::nn::Init::diffrec, 42, 1);
  CHECK(mlp.first_weight_items_t() == logical.weight().leftCols(7).transpose());
  CHECK(mlp.first_weight_emb() == logical.weight().rightCols(4));
  CHECK(mlp.first_bias() == logical.bias());
  auto cfg = small_config<double>(false);
  cfg.init = recdiff::nn::Init::xavier_zero_bias;
  Mlp<double> xavier(cfg, 42);
  CHECK(xavier.first_weight_items_t() == mlp.first_weight_items_t());
  CHECK(xavier.first_bias().isZero());
  CHECK(xavier.last_layer().bias().isZero());
}

TEST_CASE("Mlp: backward matches finite differences for every parameter tensor",
          "[denoiser][gradcheck]") {
  const bool norm = GENERATE(false, true);
  const bool train = GENERATE(true, false);
  CAPTURE(norm, train);
  CpuBackend::Context ctx(2);
  Mlp<double> mlp(small_config<double>(norm), 3);
  // Biases of N(0, 0.001) barely move the loss; random ones make their gradients visible.
  for (auto& p : mlp.parameters())
    if (p.name.find("bias") != std::string::npos) p.value->setRandom();
  const Matrix<double> x = Matrix<double>::Random(4, 7).cwiseAbs();
  const Matrix<double> r = Matrix<double>::Random(4, 7);
  const std::vector<int> steps{0, 3, 17, 39};
  auto loss = [&] {
    Matrix<double> out;
    mlp.forward(ctx, x, steps, train, 99, 5, out);
    return out.cwiseProduct(r).sum();
  };
  Matrix<double> out;
  mlp.forward(ctx, x, steps, train, 99, 5, out);
  mlp.backward(ctx, r);
  for (auto& p : mlp.parameters()) {
    const Matrix<double> analytic = *p.grad;
    CAPTURE(p.name);
    CHECK(analytic.norm() > 0);
    CHECK(recdiff::test::gradient_error(*p.value, analytic, loss) <
          recdiff::test::gradcheck_tolerance);
  }
}

TEST_CASE("Mlp: backward with other activations matches finite differences",
          "[denoiser][gradcheck]") {
  CpuBackend::Context ctx(1);
  Mlp<double, recdiff::Sigmoid> mlp(small_config<double>(false, 0.0), 8);
  const Matrix<double> x = Matrix<double>::Random(5, 7);
  const Matrix<double> r = Matrix<double>::Random(5, 7);
  const std::vector<int> steps{1, 2, 3, 4, 5};
  auto loss = [&] {
    Matrix<double> out;
    mlp.forward(ctx, x, steps, true, 1, 1, out);
    return out.cwiseProduct(r).sum();
  };
  Matrix<double> out;
  mlp.forward(ctx, x, steps, true, 1, 1, out);
  mlp.backward(ctx, r);
  for (auto& p : mlp.parameters()) {
    const Matrix<double> analytic = *p.grad;
    CAPTURE(p.name);
    CHECK(recdiff::test::gradient_error(*p.value, analytic, loss) <
          recdiff::test::gradcheck_tolerance);
  }
}

TEST_CASE("Mlp: dropout is applied in training only", "[denoiser]") {
  CpuBackend::Context ctx(1);
  Mlp<double> mlp(small_config<double>(false), 3);
  const Matrix<double> x = Matrix<double>::Random(4, 7);
  const std::vector<int> steps{0, 1, 2, 3};
  Matrix<double> eval_a, eval_b, train_a, train_b, train_c;
  mlp.forward(ctx, x, steps, false, 1, 1, eval_a);
  mlp.forward(ctx, x, steps, false, 2, 2, eval_b);
  mlp.forward(ctx, x, steps, true, 1, 1, train_a);
  mlp.forward(ctx, x, steps, true, 1, 1, train_b);
  mlp.forward(ctx, x, steps, true, 1, 2, train_c);
  CHECK(eval_a == eval_b);
  CHECK(train_a == train_b);
  CHECK(train_a != eval_a);
  CHECK(train_a != train_c);
}

TEST_CASE("Mlp: forward_sparse equals forward(train = false) on the densified rows",
          "[denoiser]") {
  const bool norm = GENERATE(false, true);
  CAPTURE(norm);
  CpuBackend::Context ctx(2);
  auto cfg = small_config<float>(norm);
  cfg.items = 40;
  cfg.dims = {12, 20};
  Mlp<float> mlp(cfg, 5);
  const auto interactions = random_interactions(30, 40, 17);
  const std::vector<recdiff::index_t> users{3, 0, 29, 5, 11, 11, 2, 20, 7, 13, 1, 28, 4, 9, 15,
                                            16, 17, 18};
  std::vector<int> steps(users.size());
  for (std::size_t i = 0; i < steps.size(); ++i) steps[i] = static_cast<int>(7 * i % 40);
  Matrix<float> dense, expected, actual;
  CpuBackend::densify(ctx, interactions, users, dense);
  mlp.forward(ctx, dense, steps, false, 0, 0, expected);
  mlp.forward_sparse(ctx, interactions, users, steps, actual);
  REQUIRE(actual.rows() == expected.rows());
  REQUIRE(actual.cols() == expected.cols());
  // Depth-40 dot products in float: differences are a few ulps of the O(1) outputs.
  CHECK((actual - expected).cwiseAbs().maxCoeff() < 1e-5f);
  // A weighted variant (T-DiffRec rows) goes through the same path.
  auto weight = [](std::size_t p, std::size_t n) {
    return 0.1f + 0.9f * static_cast<float>(p + 1) / static_cast<float>(n);
  };
  CpuBackend::densify(ctx, interactions, users, dense, weight);
  mlp.forward(ctx, dense, steps, false, 0, 0, expected);
  mlp.forward_sparse(ctx, interactions, users, weight, steps, actual);
  CHECK((actual - expected).cwiseAbs().maxCoeff() < 1e-5f);
}

TEST_CASE("Mlp: forward and backward are bit-identical with 1 and 2 threads", "[denoiser]") {
  auto cfg = small_config<float>(false);
  cfg.items = 90;
  cfg.dims = {16, 40};
  Mlp<float> one(cfg, 9), two(cfg, 9);
  const Matrix<float> x = Matrix<float>::Random(37, 90).cwiseAbs();
  const Matrix<float> r = Matrix<float>::Random(37, 90);
  std::vector<int> steps(37);
  std::iota(steps.begin(), steps.end(), 0);
  Matrix<float> out_one, out_two;
  one.forward(CpuBackend::Context(1), x, steps, true, 4, 2, out_one);
  two.forward(CpuBackend::Context(2), x, steps, true, 4, 2, out_two);
  CHECK(out_one == out_two);
  one.backward(CpuBackend::Context(1), r);
  two.backward(CpuBackend::Context(2), r);
  auto p1 = one.parameters();
  auto p2 = two.parameters();
  for (std::size_t t = 0; t < p1.size(); ++t) {
    CAPTURE(p1[t].name);
    CHECK(*p1[t].grad == *p2[t].grad);
  }
}

TEST_CASE("Mlp: buffers are reused at a fixed batch size", "[denoiser]") {
  CpuBackend::Context ctx(1);
  Mlp<float> mlp(small_config<float>(false), 1);
  const Matrix<float> x = Matrix<float>::Random(4, 7), r = Matrix<float>::Random(4, 7);
  const std::vector<int> steps{0, 1, 2, 3};
  Matrix<float> out;
  mlp.forward(ctx, x, steps, true, 1, 1, out);
  mlp.backward(ctx, r);
  const float* out_data = out.data();
  const float* grad_data = mlp.parameters()[2].grad->data();
  mlp.forward(ctx, x, steps, true, 1, 2, out);
  mlp.backward(ctx, r);
  CHECK(out.data() == out_data);
  CHECK(mlp.parameters()[2].grad->data() == grad_data);
}

TEST_CASE("Mlp: invalid configurations and calls throw", "[denoiser]") {
  using Config = Mlp<float>::Config;
  auto make = [](Config c) { return Mlp<float>(c); };
  Config c = small_config<float>(false);
  c.dims = {};
  REQUIRE_THROWS_AS(make(c), std::invalid_argument);
  REQUIRE_THROWS_WITH(make(c), Catch::Contains("dims must name at least one"));
  c = small_config<float>(false);
  c.dims = {3, 0};
  REQUIRE_THROWS_WITH(make(c), Catch::Contains("every entry of dims must be positive"));
  c = small_config<float>(false);
  c.items = 0;
  REQUIRE_THROWS_WITH(make(c), Catch::Contains("items must be positive"));
  c = small_config<float>(false, 1.0);
  REQUIRE_THROWS_WITH(make(c), Catch::Contains("dropout must be in [0, 1)"));
  c = small_config<float>(false);
  c.emb_size = 1;
  REQUIRE_THROWS_WITH(make(c), Catch::Contains("emb_size must be >= 2"));

  CpuBackend::Context ctx(1);
  Mlp<float> mlp(small_config<float>(false));
  Matrix<float> out, wrong(4, 6), x = Matrix<float>::Zero(4, 7), grad(3, 7);
  const std::vector<int> steps{0, 1, 2, 3}, three{0, 1, 2}, negative{0, -1, 2, 3};
  REQUIRE_THROWS_AS(mlp.backward(ctx, x), std::logic_error);
  REQUIRE_THROWS_WITH(mlp.backward(ctx, x), Catch::Contains("no forward() pass"));
  REQUIRE_THROWS_AS(mlp.forward(ctx, wrong, steps, false, 0, 0, out), std::invalid_argument);
  REQUIRE_THROWS_WITH(mlp.forward(ctx, wrong, steps, false, 0, 0, out),
                      Catch::Contains("expected items = 7"));
  REQUIRE_THROWS_WITH(mlp.forward(ctx, x, three, false, 0, 0, out),
                      Catch::Contains("3 steps for 4 rows"));
  REQUIRE_THROWS_WITH(mlp.forward(ctx, x, negative, false, 0, 0, out),
                      Catch::Contains("0-based, got -1"));
  mlp.forward(ctx, x, steps, false, 0, 0, out);
  REQUIRE_THROWS_AS(mlp.backward(ctx, grad), std::invalid_argument);
  REQUIRE_THROWS_WITH(mlp.backward(ctx, grad), Catch::Contains("expected 4x7"));
  const auto interactions = random_interactions(5, 8, 1);
  const std::vector<recdiff::index_t> users{0, 1, 2, 4};
  REQUIRE_THROWS_WITH(mlp.forward_sparse(ctx, interactions, users, steps, out),
                      Catch::Contains("input has 8 items, expected 7"));
  const auto fits = random_interactions(5, 7, 1);
  mlp.forward_sparse(ctx, fits, users, steps, out);
  REQUIRE_THROWS_WITH(mlp.backward(ctx, x), Catch::Contains("forward_sparse"));
}
