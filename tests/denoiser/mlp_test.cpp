#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/denoiser.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/denoiser/mlp.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

#include "nn/gradcheck.hpp"
#include "nn/module_check.hpp"

using recdiff::CpuBackend;
template <class T, class ActivationType = recdiff::Tanh>
using Mlp = recdiff::Mlp<CpuBackend, T, ActivationType>;
template <class T>
using Matrix = CpuBackend::Matrix<T>;
using recdiff::nn::Pass;

static_assert(recdiff::Module<Mlp<float>, CpuBackend>);
static_assert(recdiff::Denoiser<Mlp<float>, CpuBackend>);
static_assert(recdiff::Denoiser<Mlp<double>, CpuBackend>);
static_assert(recdiff::SparseInputDenoiser<Mlp<float>, CpuBackend>);
static_assert(recdiff::SparseInputDenoiser<Mlp<double, recdiff::Sigmoid>, CpuBackend>);
static_assert(recdiff::LatentChainDenoiser<Mlp<float>, CpuBackend>);
static_assert(recdiff::LatentChainDenoiser<Mlp<double, recdiff::Sigmoid>, CpuBackend>);
// A layer is a Module but not a Denoiser (no items()).
static_assert(recdiff::Module<recdiff::nn::Linear<CpuBackend, float>, CpuBackend>);
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

// A pass over `steps`.
Pass pass_of(const std::vector<int>& steps, bool train, std::uint64_t seed = 1,
             std::uint32_t counter = 0) {
  return Pass{train, seed, counter, steps};
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

// Biases of N(0, 0.001) barely move the loss; random ones make their gradients visible.
template <class MlpType>
void randomize_biases(MlpType& mlp) {
  for (auto& p : recdiff::nn::parameters_of(mlp))
    if (p.name.find("bias") != std::string::npos) p.value().setRandom();
}

// Every parameter gradient of `mlp`, in order.
template <class MlpType>
std::vector<Matrix<typename MlpType::scalar_type>> gradients(MlpType& mlp) {
  std::vector<Matrix<typename MlpType::scalar_type>> out;
  for (auto& p : recdiff::nn::parameters_of(mlp)) out.push_back(p.tensor->gradient());
  return out;
}

// Asserts that check_module found every parameter gradient (and the input's, when checked) within
// the double tolerance, and that the analytic gradients it left behind are not trivially zero.
template <class MlpType>
void require_exact_gradients(MlpType& mlp, const recdiff::test::ModuleCheck& check,
                             bool input = true) {
  auto params = recdiff::nn::parameters_of(mlp);
  REQUIRE(check.parameters.size() == params.size());
  for (std::size_t k = 0; k < params.size(); ++k) {
    const auto& [name, error] = check.parameters[k];
    INFO("parameter " << name << ": relative error " << error);
    CHECK(name == params[k].name);
    CHECK(params[k].tensor->gradient().norm() > 0);
    CHECK(error < recdiff::test::Tolerances<double>::gradient);
  }
  if (input) {
    REQUIRE(check.input_checked);
    INFO("input: relative error " << check.input);
    CHECK(check.input < recdiff::test::Tolerances<double>::gradient);
  }
}

}  // namespace

TEST_CASE("Mlp: layer shapes and parameter counts of the ml-1m presets", "[denoiser]") {
  Mlp<float>::Config c;
  c.items = 2810;
  c.dims = {200, 600};
  Mlp<float> mlp(c);
  CHECK(mlp.items() == 2810);
  CHECK(mlp.widths() == std::vector<int>{2820, 600, 200, 600, 2810});
  CHECK(mlp.num_parameters() == 3622320);
  CHECK(recdiff::nn::count_scalars(recdiff::nn::parameters_of(mlp)) == 3622320);
  CHECK(mlp.first_weight_items_t().rows() == 2810);
  CHECK(mlp.first_weight_items_t().cols() == 600);
  CHECK(mlp.first_layer().weight_emb().rows() == 600);
  CHECK(mlp.first_layer().weight_emb().cols() == 10);
  CHECK(mlp.first_layer().items() == 2810);
  CHECK(mlp.first_layer().hidden() == 600);
  CHECK(mlp.first_layer().emb_size() == 10);
  CHECK(mlp.first_layer().step_embedding().layer().in_features() == 10);
  REQUIRE(mlp.hidden_layers().size() == 2);  // 600 -> 200 -> 600
  CHECK(mlp.hidden_layers()[0].in_features() == 600);
  CHECK(mlp.hidden_layers()[0].out_features() == 200);
  CHECK(mlp.hidden_layers()[1].out_features() == 600);
  CHECK(mlp.last_layer().in_features() == 600);
  CHECK(mlp.last_layer().out_features() == 2810);
  CHECK(mlp.input_is_linear());

  c.dims = {1000};
  Mlp<float> wide(c);
  CHECK(wide.widths() == std::vector<int>{2820, 1000, 2810});
  CHECK(wide.num_parameters() == 5633920);
  CHECK(wide.hidden_layers().empty());
  std::size_t total = 0;
  for (const auto& p : recdiff::nn::parameters_of(wide)) total += p.tensor->size();
  CHECK(total == 5633920);

  c.norm = true;
  const Mlp<float> normed(c);
  CHECK_FALSE(normed.input_is_linear());
  CHECK(normed.num_parameters() == 5633920);  // the norm has no parameters
}

TEST_CASE("Mlp: parameter names and order", "[denoiser]") {
  const std::vector<std::string> expected{
      "in_layers.0.weight.items_t", "in_layers.0.weight.emb", "in_layers.0.bias",
      "emb_layer.weight",           "emb_layer.bias",         "in_layers.1.weight",
      "in_layers.1.bias",           "out_layers.0.weight",    "out_layers.0.bias",
      "out_layers.1.weight",        "out_layers.1.bias"};
  // widths 11 -> 5 -> 3 -> 5 -> 7; (rows, cols) of each tensor.
  const std::vector<std::pair<int, int>> shapes{{7, 5}, {5, 4}, {1, 5}, {4, 4}, {1, 4}, {3, 5},
                                                {1, 3}, {5, 3}, {1, 5}, {7, 5}, {1, 7}};
  for (const bool norm : {false, true}) {
    CAPTURE(norm);
    Mlp<double> mlp(small_config<double>(norm));
    const auto params = recdiff::nn::parameters_of(mlp);
    std::vector<std::string> names;
    REQUIRE(params.size() == shapes.size());
    for (std::size_t k = 0; k < params.size(); ++k) {
      names.push_back(params[k].name);
      CAPTURE(params[k].name);
      CHECK(params[k].value().rows() == shapes[k].first);
      CHECK(params[k].value().cols() == shapes[k].second);
      CHECK(params[k].tensor->gradient().rows() == params[k].value().rows());
      CHECK(params[k].tensor->gradient().cols() == params[k].value().cols());
    }
    CHECK(names == expected);
    // The views point at the module's own tensors.
    CHECK(&params[0].value() == &mlp.first_weight_items_t());
    CHECK(&params[9].value() == &mlp.last_layer().weight());
    CHECK(&params[10].value() == &mlp.last_layer().bias());
  }

  // A prefix, appended after what the list already holds (the emb_layer renaming keeps to its own
  // entries).
  Mlp<double> mlp(small_config<double>(false));
  Mlp<double> other(small_config<double>(false));
  recdiff::nn::ParameterList<CpuBackend, double> list;
  other.collect_parameters("a.", list);
  mlp.collect_parameters("denoiser.", list);
  REQUIRE(list.size() == 2 * expected.size());
  for (std::size_t k = 0; k < expected.size(); ++k) {
    CHECK(list[k].name == "a." + expected[k]);
    CHECK(list[expected.size() + k].name == "denoiser." + expected[k]);
  }
  CHECK(recdiff::nn::parameters_of(mlp, "x.")[3].name == "x.emb_layer.weight");
}

TEST_CASE("Mlp: the split first layer is initialised as one logical Linear(I + E -> h)",
          "[denoiser]") {
  const CpuBackend::Context ctx(1);
  Mlp<double> mlp(small_config<double>(false), 42);
  recdiff::nn::Linear<CpuBackend, double> logical(11, 5);
  logical.initialize(ctx, recdiff::nn::Init::diffrec, 42, 1);
  CHECK(mlp.first_weight_items_t() == logical.weight().leftCols(7).transpose());
  CHECK(mlp.first_layer().weight_emb() == logical.weight().rightCols(4));
  CHECK(mlp.first_layer().bias() == logical.bias());
  // Philox layer indices: emb_layer 0, the first layer 1, then 2, 3, ... in forward order.
  recdiff::nn::Linear<CpuBackend, double> emb(4, 4), hidden0(5, 3), hidden1(3, 5), readout(5, 7);
  emb.initialize(ctx, recdiff::nn::Init::diffrec, 42, 0);
  hidden0.initialize(ctx, recdiff::nn::Init::diffrec, 42, 2);
  hidden1.initialize(ctx, recdiff::nn::Init::diffrec, 42, 3);
  readout.initialize(ctx, recdiff::nn::Init::diffrec, 42, 4);
  CHECK(mlp.first_layer().step_embedding().layer().weight() == emb.weight());
  CHECK(mlp.first_layer().step_embedding().layer().bias() == emb.bias());
  REQUIRE(mlp.hidden_layers().size() == 2);
  CHECK(mlp.hidden_layers()[0].weight() == hidden0.weight());
  CHECK(mlp.hidden_layers()[1].weight() == hidden1.weight());
  CHECK(mlp.last_layer().weight() == readout.weight());
  CHECK(mlp.last_layer().bias() == readout.bias());
  // Another seed draws other numbers; initialize() redraws the same ones.
  Mlp<double> other(small_config<double>(false), 43);
  CHECK(other.first_weight_items_t() != mlp.first_weight_items_t());
  other.initialize(ctx, 42);
  CHECK(other.first_weight_items_t() == mlp.first_weight_items_t());
  CHECK(other.last_layer().weight() == mlp.last_layer().weight());

  auto cfg = small_config<double>(false);
  cfg.init = recdiff::nn::Init::xavier_zero_bias;
  Mlp<double> xavier(cfg, 42);
  CHECK(xavier.first_weight_items_t() == mlp.first_weight_items_t());
  CHECK(xavier.first_layer().bias().isZero());
  CHECK(xavier.last_layer().bias().isZero());
}

TEST_CASE("Mlp: backward matches finite differences for every parameter tensor and the input",
          "[denoiser][gradcheck]") {
  const bool norm = GENERATE(false, true);
  const bool train = GENERATE(true, false);
  CAPTURE(norm, train);
  Mlp<double> mlp(small_config<double>(norm), 3);
  randomize_biases(mlp);
  const Matrix<double> x = Matrix<double>::Random(4, 7).cwiseAbs();
  const std::vector<int> steps{0, 3, 17, 39};
  // A training pass keeps its counter, so dropout draws the same mask at every evaluation.
  const auto check = recdiff::test::check_module(mlp, x, pass_of(steps, train, 99, 5), true);
  require_exact_gradients(mlp, check);
}

TEST_CASE("Mlp: backward with other activations matches finite differences",
          "[denoiser][gradcheck]") {
  Mlp<double, recdiff::Sigmoid> mlp(small_config<double>(false, 0.0), 8);
  const Matrix<double> x = Matrix<double>::Random(5, 7);
  const std::vector<int> steps{1, 2, 3, 4, 5};
  const auto check = recdiff::test::check_module(mlp, x, pass_of(steps, true, 1, 1), true);
  require_exact_gradients(mlp, check);
}

TEST_CASE("Mlp: the input gradient through dropout and norm matches finite differences",
          "[denoiser][gradcheck]") {
  CpuBackend::Context ctx(2);
  Mlp<double> mlp(small_config<double>(true, 0.5), 11);
  randomize_biases(mlp);
  Matrix<double> x = Matrix<double>::Random(6, 7).cwiseAbs();
  const Matrix<double> r = Matrix<double>::Random(6, 7);
  const std::vector<int> steps{0, 1, 5, 9, 20, 39};
  const Pass pass = pass_of(steps, true, 1234, 77);
  auto loss = [&] { return mlp.forward(ctx, x, pass).cwiseProduct(r).sum(); };
  auto params = recdiff::nn::parameters_of(mlp);

  // Without the input gradient: nullptr, and the parameter gradients of one pass.
  recdiff::nn::zero_grad(params);
  mlp.forward(ctx, x, pass);
  CHECK(mlp.backward(ctx, r) == nullptr);
  const auto without = gradients(mlp);

  recdiff::nn::zero_grad(params);
  mlp.forward(ctx, x, pass);
  const Matrix<double>* dx = mlp.backward(ctx, r, true);
  REQUIRE(dx != nullptr);
  REQUIRE(dx->rows() == 6);
  REQUIRE(dx->cols() == 7);
  const Matrix<double> analytic = *dx;
  // Asking for dx changes no parameter gradient.
  const auto with = gradients(mlp);
  for (std::size_t k = 0; k < params.size(); ++k) {
    CAPTURE(params[k].name);
    CHECK(with[k] == without[k]);
  }
  CHECK(analytic.norm() > 0);
  CHECK(recdiff::test::gradient_error(x, analytic, loss) < recdiff::test::gradcheck_tolerance);

  // The dropout mask is the pass's: another counter gives another input gradient.
  mlp.forward(ctx, x, pass_of(steps, true, 1234, 78));
  CHECK(*mlp.backward(ctx, r, true) != analytic);
}

TEST_CASE("Mlp: gradients accumulate across backward() calls until zero_grad()", "[denoiser]") {
  CpuBackend::Context ctx(2);
  Mlp<double> mlp(small_config<double>(false), 5);
  randomize_biases(mlp);
  const Matrix<double> x1 = Matrix<double>::Random(4, 7).cwiseAbs();
  const Matrix<double> x2 = Matrix<double>::Random(4, 7).cwiseAbs();
  const Matrix<double> r1 = Matrix<double>::Random(4, 7), r2 = Matrix<double>::Random(4, 7);
  const std::vector<int> steps1{0, 1, 2, 3}, steps2{9, 8, 7, 6};
  const Pass pass1 = pass_of(steps1, true, 3, 1), pass2 = pass_of(steps2, true, 3, 2);
  auto params = recdiff::nn::parameters_of(mlp);

  recdiff::nn::zero_grad(params);
  for (auto& p : params) CHECK(p.tensor->gradient().isZero());  // materialised zeros
  recdiff::nn::zero_grad(params);
  mlp.forward(ctx, x1, pass1);
  mlp.backward(ctx, r1);
  const auto g1 = gradients(mlp);
  recdiff::nn::zero_grad(params);
  mlp.forward(ctx, x2, pass2);
  mlp.backward(ctx, r2);
  const auto g2 = gradients(mlp);

  // Two passes without zero_grad() in between: the sum of both, up to the rounding of the addition.
  recdiff::nn::zero_grad(params);
  mlp.forward(ctx, x1, pass1);
  mlp.backward(ctx, r1);
  mlp.forward(ctx, x2, pass2);
  mlp.backward(ctx, r2);
  for (std::size_t k = 0; k < params.size(); ++k) {
    CAPTURE(params[k].name);
    const Matrix<double> expected = g1[k] + g2[k];
    CHECK(!g1[k].isZero());
    CHECK(!g2[k].isZero());
    CHECK((params[k].tensor->gradient() - expected).norm() <= 1e-12 * (1 + expected.norm()));
  }
  // The same pass twice: twice its gradient.
  recdiff::nn::zero_grad(params);
  mlp.forward(ctx, x1, pass1);
  mlp.backward(ctx, r1);
  mlp.forward(ctx, x1, pass1);
  mlp.backward(ctx, r1);
  for (std::size_t k = 0; k < params.size(); ++k) {
    CAPTURE(params[k].name);
    CHECK((params[k].tensor->gradient() - 2 * g1[k]).norm() <= 1e-12 * (1 + g1[k].norm()));
  }
  // zero_grad() restarts them: one pass then gives its own gradient bit for bit.
  recdiff::nn::zero_grad(params);
  mlp.forward(ctx, x2, pass2);
  mlp.backward(ctx, r2);
  for (std::size_t k = 0; k < params.size(); ++k) {
    CAPTURE(params[k].name);
    CHECK(params[k].tensor->gradient() == g2[k]);
  }
  // Tensor::zero_grad() on one tensor restarts that one only.
  params[0].tensor->zero_grad();
  mlp.forward(ctx, x1, pass1);
  mlp.backward(ctx, r1);
  CHECK(params[0].tensor->gradient() == g1[0]);
  CHECK((params[1].tensor->gradient() - (g1[1] + g2[1])).norm() <=
        1e-12 * (1 + (g1[1] + g2[1]).norm()));
}

TEST_CASE("Mlp: dropout is applied in training only", "[denoiser]") {
  CpuBackend::Context ctx(1);
  Mlp<double> mlp(small_config<double>(false), 3);
  const Matrix<double> x = Matrix<double>::Random(4, 7);
  const std::vector<int> steps{0, 1, 2, 3};
  const Matrix<double> eval_a = mlp.forward(ctx, x, pass_of(steps, false, 1, 1));
  const Matrix<double> eval_b = mlp.forward(ctx, x, pass_of(steps, false, 2, 2));
  const Matrix<double> train_a = mlp.forward(ctx, x, pass_of(steps, true, 1, 1));
  const Matrix<double> train_b = mlp.forward(ctx, x, pass_of(steps, true, 1, 1));
  const Matrix<double> train_c = mlp.forward(ctx, x, pass_of(steps, true, 1, 2));
  const Matrix<double> train_d = mlp.forward(ctx, x, pass_of(steps, true, 2, 1));
  CHECK(eval_a == eval_b);
  CHECK(train_a == train_b);
  CHECK(train_a != eval_a);
  CHECK(train_a != train_c);
  CHECK(train_a != train_d);
  // Without dropout a training pass is the evaluation pass.
  Mlp<double> plain(small_config<double>(false, 0.0), 3);
  CHECK(plain.forward(ctx, x, pass_of(steps, true, 1, 1)) == eval_a);
}

TEST_CASE("Mlp: forward_sparse equals forward(train = false) on the densified rows", "[denoiser]") {
  const bool norm = GENERATE(false, true);
  CAPTURE(norm);
  CpuBackend::Context ctx(2);
  auto cfg = small_config<float>(norm);
  cfg.items = 40;
  cfg.dims = {12, 20};
  Mlp<float> mlp(cfg, 5);
  const auto interactions = random_interactions(30, 40, 17);
  const std::vector<recdiff::index_t> users{3,  0, 29, 5, 11, 11, 2,  20, 7,
                                            13, 1, 28, 4, 9,  15, 16, 17, 18};
  std::vector<int> steps(users.size());
  for (std::size_t i = 0; i < steps.size(); ++i) steps[i] = static_cast<int>(7 * i % 40);
  const Pass eval = pass_of(steps, false, 0, 0);
  Matrix<float> dense;
  CpuBackend::densify(ctx, interactions, users, dense);
  const Matrix<float> expected = mlp.forward(ctx, dense, eval);
  const Matrix<float> actual =
      mlp.forward_sparse(ctx, interactions, users, recdiff::UnitValue{}, eval);
  REQUIRE(actual.rows() == expected.rows());
  REQUIRE(actual.cols() == expected.cols());
  // Depth-40 dot products in float: differences are a few ulps of the O(1) outputs.
  CHECK((actual - expected).cwiseAbs().maxCoeff() < 1e-5f);
  // A training pass does not apply dropout to the sparse path.
  const Matrix<float> in_training = mlp.forward_sparse(
      ctx, interactions, users, recdiff::UnitValue{}, pass_of(steps, true, 4, 4));
  CHECK(in_training == actual);
  // A weighted variant (T-DiffRec rows) goes through the same path.
  auto weight = [](std::size_t p, std::size_t n) {
    return 0.1f + 0.9f * static_cast<float>(p + 1) / static_cast<float>(n);
  };
  CpuBackend::densify(ctx, interactions, users, dense, weight);
  const Matrix<float> expected_weighted = mlp.forward(ctx, dense, eval);
  const Matrix<float> actual_weighted = mlp.forward_sparse(ctx, interactions, users, weight, eval);
  CHECK((actual_weighted - expected_weighted).cwiseAbs().maxCoeff() < 1e-5f);
  CHECK((actual_weighted - actual).cwiseAbs().maxCoeff() > 1e-4f);
}

TEST_CASE("Mlp: hidden_from_item_product and the readout reproduce forward", "[denoiser]") {
  CpuBackend::Context ctx(2);
  auto cfg = small_config<double>(false);
  cfg.items = 30;
  cfg.dims = {6, 10};
  Mlp<double> mlp(cfg, 21);
  randomize_biases(mlp);
  const Matrix<double> x = Matrix<double>::Random(9, 30).cwiseAbs();
  const std::vector<int> steps{0, 1, 2, 3, 5, 8, 13, 21, 34};
  const Pass eval = pass_of(steps, false);
  const Matrix<double> expected = mlp.forward(ctx, x, eval);
  // z = x W1[:, :I]^T, then the rest of the network up to the readout's input, then the readout.
  const Matrix<double> z = x * mlp.first_weight_items_t();
  const Matrix<double> h = mlp.hidden_from_item_product(ctx, z, eval);
  REQUIRE(h.cols() == mlp.last_layer().in_features());
  Matrix<double> out = h * mlp.last_layer().weight().transpose();
  out.rowwise() += mlp.last_layer().bias().row(0);
  REQUIRE(out.rows() == expected.rows());
  REQUIRE(out.cols() == expected.cols());
  CHECK((out - expected).cwiseAbs().maxCoeff() < 1e-12);
  // A single-hidden-size network has no hidden layers: h is the first layer's output.
  cfg.dims = {8};
  Mlp<double> shallow(cfg, 2);
  const Matrix<double> expected_shallow = shallow.forward(ctx, x, eval);
  const Matrix<double> h1 =
      shallow.hidden_from_item_product(ctx, x * shallow.first_weight_items_t(), eval);
  Matrix<double> out1 = h1 * shallow.last_layer().weight().transpose();
  out1.rowwise() += shallow.last_layer().bias().row(0);
  CHECK((out1 - expected_shallow).cwiseAbs().maxCoeff() < 1e-12);

  // With input normalisation the first layer is not linear in x.
  cfg.norm = true;
  Mlp<double> normed(cfg, 2);
  REQUIRE_THROWS_AS(normed.hidden_from_item_product(ctx, z.leftCols(8), eval),
                    std::invalid_argument);
  REQUIRE_THROWS_WITH(normed.hidden_from_item_product(ctx, z.leftCols(8), eval),
                      Catch::Contains("not available with input normalisation"));
  REQUIRE_THROWS_WITH(mlp.hidden_from_item_product(ctx, z.leftCols(4), eval),
                      Catch::Contains("input has 4 columns, expected 10"));
}

TEST_CASE("Mlp: forward and backward are bit-identical with 1 and 2 threads", "[denoiser]") {
  auto cfg = small_config<float>(GENERATE(false, true));
  cfg.items = 90;
  cfg.dims = {16, 40};
  CAPTURE(cfg.norm);
  Mlp<float> one(cfg, 9), two(cfg, 9);
  const Matrix<float> x = Matrix<float>::Random(37, 90).cwiseAbs();
  const Matrix<float> r = Matrix<float>::Random(37, 90);
  std::vector<int> steps(37);
  std::iota(steps.begin(), steps.end(), 0);
  const Pass pass = pass_of(steps, true, 4, 2);
  const Matrix<float> out_one = one.forward(CpuBackend::Context(1), x, pass);
  const Matrix<float> out_two = two.forward(CpuBackend::Context(2), x, pass);
  CHECK(out_one == out_two);
  const Matrix<float> dx_one = *one.backward(CpuBackend::Context(1), r, true);
  const Matrix<float> dx_two = *two.backward(CpuBackend::Context(2), r, true);
  CHECK(dx_one == dx_two);
  auto p1 = recdiff::nn::parameters_of(one);
  auto p2 = recdiff::nn::parameters_of(two);
  REQUIRE(p1.size() == p2.size());
  for (std::size_t t = 0; t < p1.size(); ++t) {
    CAPTURE(p1[t].name);
    CHECK(p1[t].tensor->gradient() == p2[t].tensor->gradient());
  }
}

TEST_CASE("Mlp: buffers are reused at a fixed batch size", "[denoiser]") {
  CpuBackend::Context ctx(1);
  Mlp<float> mlp(small_config<float>(false), 1);
  const Matrix<float> x = Matrix<float>::Random(4, 7), r = Matrix<float>::Random(4, 7);
  const std::vector<int> steps{0, 1, 2, 3};
  auto params = recdiff::nn::parameters_of(mlp);
  const float* out_data = mlp.forward(ctx, x, pass_of(steps, true, 1, 1)).data();
  mlp.backward(ctx, r);
  const float* grad_data = params[0].tensor->gradient().data();
  const float* dx_data = nullptr;
  recdiff::nn::zero_grad(params);
  CHECK(mlp.forward(ctx, x, pass_of(steps, true, 1, 2)).data() == out_data);
  dx_data = mlp.backward(ctx, r, true)->data();
  CHECK(params[0].tensor->gradient().data() == grad_data);
  mlp.forward(ctx, x, pass_of(steps, true, 1, 3));
  CHECK(mlp.backward(ctx, r, true)->data() == dx_data);
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
  c = small_config<float>(false, -0.1);
  REQUIRE_THROWS_WITH(make(c), Catch::Contains("dropout must be in [0, 1)"));
  c = small_config<float>(false);
  c.emb_size = 1;
  REQUIRE_THROWS_WITH(make(c), Catch::Contains("emb_size must be >= 2"));

  CpuBackend::Context ctx(1);
  Mlp<float> mlp(small_config<float>(false));
  Matrix<float> wrong(4, 6), x = Matrix<float>::Zero(4, 7), grad(3, 7);
  const std::vector<int> steps{0, 1, 2, 3}, three{0, 1, 2}, negative{0, -1, 2, 3};
  REQUIRE_THROWS_AS(mlp.backward(ctx, x), std::logic_error);
  REQUIRE_THROWS_WITH(mlp.backward(ctx, x), Catch::Contains("no forward() pass"));
  REQUIRE_THROWS_AS(mlp.forward(ctx, wrong, pass_of(steps, false)), std::invalid_argument);
  REQUIRE_THROWS_WITH(mlp.forward(ctx, wrong, pass_of(steps, false)),
                      Catch::Contains("expected items = 7"));
  REQUIRE_THROWS_WITH(mlp.forward(ctx, x, pass_of(three, false)),
                      Catch::Contains("3 steps for 4 rows"));
  REQUIRE_THROWS_WITH(mlp.forward(ctx, x, pass_of(negative, false)),
                      Catch::Contains("0-based, got -1"));
  mlp.forward(ctx, x, pass_of(steps, false));
  REQUIRE_THROWS_AS(mlp.backward(ctx, grad), std::invalid_argument);
  REQUIRE_THROWS_WITH(mlp.backward(ctx, grad), Catch::Contains("expected the output's 4x7"));
  const auto interactions = random_interactions(5, 8, 1);
  const std::vector<recdiff::index_t> users{0, 1, 2, 4};
  REQUIRE_THROWS_WITH(
      mlp.forward_sparse(ctx, interactions, users, recdiff::UnitValue{}, pass_of(steps, false)),
      Catch::Contains("input has 8 items, expected 7"));
  REQUIRE_THROWS_WITH(mlp.forward_sparse(ctx, random_interactions(5, 7, 1), users,
                                         recdiff::UnitValue{}, pass_of(three, false)),
                      Catch::Contains("3 steps for 4 rows"));
  // A CSR pass leaves nothing for backward() to differentiate.
  const auto fits = random_interactions(5, 7, 1);
  mlp.forward_sparse(ctx, fits, users, recdiff::UnitValue{}, pass_of(steps, false));
  REQUIRE_THROWS_AS(mlp.backward(ctx, x), std::logic_error);
  REQUIRE_THROWS_WITH(mlp.backward(ctx, x), Catch::Contains("no dense forward() pass"));
}
