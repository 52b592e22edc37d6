// The laws of the Optimizer concept, checked for every optimiser (and SGD in each of its stateful and
// stateless forms), in float and double: thread-count independence, checkpoint round trips, staging
// that never modifies, lazily zeroed gradients and reset.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/optimizer.hpp>
#include <recdiff/io/checkpoint.hpp>
#include <recdiff/optim/optim.hpp>

#include "optim_support.hpp"
#include "support/shared_data.hpp"

using recdiff::CpuBackend;
using recdiff::test::write_grad;

static_assert(recdiff::Optimizer<recdiff::Adam<CpuBackend, float>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::Adam<CpuBackend, double>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::AdamW<CpuBackend, float>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::AdamW<CpuBackend, double>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::Adamax<CpuBackend, float>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::Adamax<CpuBackend, double>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::Sgd<CpuBackend, float>, CpuBackend>);
static_assert(recdiff::Optimizer<recdiff::Sgd<CpuBackend, double>, CpuBackend>);

namespace {

// One case per optimiser configuration: the type and a configuration that exercises its weight decay
// and, for SGD, each form of momentum.
struct AdamFloat {
  using Opt = recdiff::Adam<CpuBackend, float>;
  static recdiff::AdamConfig config() { return {.lr = 1e-2, .weight_decay = 0.01}; }
};
struct AdamWDouble {
  using Opt = recdiff::AdamW<CpuBackend, double>;
  static recdiff::AdamConfig config() { return {.lr = 1e-2, .weight_decay = 0.05}; }
};
struct AdamWFloat {
  using Opt = recdiff::AdamW<CpuBackend, float>;
  static recdiff::AdamConfig config() { return {.lr = 1e-3}; }
};
struct AdamaxFloat {
  using Opt = recdiff::Adamax<CpuBackend, float>;
  static recdiff::AdamaxConfig config() { return {.lr = 1e-3, .weight_decay = 0.01}; }
};
struct AdamaxDouble {
  using Opt = recdiff::Adamax<CpuBackend, double>;
  static recdiff::AdamaxConfig config() { return {}; }
};
struct SgdNesterovDouble {
  using Opt = recdiff::Sgd<CpuBackend, double>;
  static recdiff::SgdConfig config() {
    return {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true};
  }
};
struct SgdDampenedFloat {
  using Opt = recdiff::Sgd<CpuBackend, float>;
  static recdiff::SgdConfig config() { return {.lr = 0.05, .momentum = 0.8, .dampening = 0.2}; }
};
struct SgdPlainFloat {
  using Opt = recdiff::Sgd<CpuBackend, float>;
  static recdiff::SgdConfig config() { return {.lr = 0.05, .weight_decay = 0.01}; }
};

// A two-tensor "model" of the shapes the laws are checked on (37 x 200 weight, 1 x 13 bias), with
// deterministic values and a deterministic gradient per step.
template <class T>
struct Model {
  using Matrix = CpuBackend::Matrix<T>;
  recdiff::nn::Tensor<CpuBackend, T> weight{37, 200};
  recdiff::nn::Tensor<CpuBackend, T> bias{1, 13};

  Model() {
    for (Eigen::Index k = 0; k < weight.value.size(); ++k)
      weight.value.data()[k] = static_cast<T>(std::cos(0.11 * static_cast<double>(k)) * 0.3);
    for (Eigen::Index k = 0; k < bias.value.size(); ++k)
      bias.value.data()[k] = static_cast<T>(0.1 * static_cast<double>(k) - 0.6);
  }
  recdiff::nn::ParameterList<CpuBackend, T> parameters() {
    return {{"layers.0.weight", &weight}, {"layers.0.bias", &bias}};
  }
  // The gradient a backward pass of step n would write; on every third step the bias is left
  // lazily zero (no write since zero_grad()).
  void backward(int n) {
    Matrix g(weight.value.rows(), weight.value.cols());
    for (Eigen::Index k = 0; k < g.size(); ++k)
      g.data()[k] = static_cast<T>(recdiff::test::pseudo_grad(k, n, static_cast<double>(weight.value.data()[k])));
    write_grad(weight, g);
    if (n % 3 != 0) {
      Matrix gb(1, 13);
      for (Eigen::Index k = 0; k < gb.size(); ++k)
        gb.data()[k] = static_cast<T>(recdiff::test::pseudo_grad(k + 7, n, 0.0));
      write_grad(bias, gb);
    }
  }
  bool operator==(const Model& o) const {
    return weight.value == o.weight.value && bias.value == o.bias.value;
  }
};

template <class Opt, class T>
void train(Model<T>& model, Opt& opt, int from, int to, const CpuBackend::Context& ctx) {
  for (int n = from; n <= to; ++n) {
    opt.zero_grad();
    model.backward(n);
    opt.step(ctx);
  }
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The optimiser's state alone, as checkpoint bytes (equal bytes: equal state, bit for bit).
template <class Opt>
std::string state_bytes(const Opt& opt, const recdiff::test::TempDir& dir, const std::string& file) {
  recdiff::CheckpointWriter w;
  opt.save_state(CpuBackend::Context(1), w, "optimizer.");
  w.write(dir / file);
  return slurp(dir / file);
}

bool has_state(const recdiff::SgdConfig& c) { return c.momentum > 0; }
template <class Config>
bool has_state(const Config&) {
  return true;
}

}  // namespace

#define OPTIMIZER_CASES                                                                      \
  AdamFloat, AdamWDouble, AdamWFloat, AdamaxFloat, AdamaxDouble, SgdNesterovDouble,           \
      SgdDampenedFloat, SgdPlainFloat

TEMPLATE_TEST_CASE("Optimizer laws: steps are bit-identical at 1 and 2 threads", "[optim]",
                   OPTIMIZER_CASES) {
  using Opt = typename TestType::Opt;
  using T = typename Opt::scalar_type;
  Model<T> one, two;
  Opt a(one.parameters(), TestType::config()), b(two.parameters(), TestType::config());
  train(one, a, 1, 6, CpuBackend::Context(1));
  train(two, b, 1, 6, CpuBackend::Context(2));
  CHECK(one == two);
  const recdiff::test::TempDir dir;
  CHECK(state_bytes(a, dir, "a.bin") == state_bytes(b, dir, "b.bin"));
  // And the values did move.
  CHECK_FALSE(one == Model<T>());
}

TEMPLATE_TEST_CASE("Optimizer laws: save_state, stage_state and commit restore an equal optimiser",
                   "[optim]", OPTIMIZER_CASES) {
  using Opt = typename TestType::Opt;
  using T = typename Opt::scalar_type;
  const CpuBackend::Context ctx(2);
  const recdiff::test::TempDir dir;
  Model<T> original;
  Opt a(original.parameters(), TestType::config());
  train(original, a, 1, 4, ctx);
  {
    recdiff::CheckpointWriter w;
    a.save_state(ctx, w, "optimizer.");
    w.write(dir / "ckpt.bin");
  }
  // A fresh model with the same values (the model's own checkpoint part) and a fresh optimiser.
  Model<T> resumed;
  resumed.weight.value = original.weight.value;
  resumed.bias.value = original.bias.value;
  Opt b(resumed.parameters(), TestType::config());
  const recdiff::CheckpointReader r(dir / "ckpt.bin");
  std::function<void()> commit = b.stage_state(ctx, r, "optimizer.");
  commit();
  CHECK(state_bytes(a, dir, "a.bin") == state_bytes(b, dir, "b.bin"));
  train(original, a, 5, 9, ctx);
  train(resumed, b, 5, 9, ctx);
  CHECK(original == resumed);
  CHECK(state_bytes(a, dir, "a2.bin") == state_bytes(b, dir, "b2.bin"));
  // Entries use the parameter names under the prefix.
  if (has_state(TestType::config())) CHECK(r.has("optimizer.step.layers.0.bias"));
}

TEMPLATE_TEST_CASE("Optimizer laws: stage_state never modifies, and a bad checkpoint throws IoError",
                   "[optim]", OPTIMIZER_CASES) {
  using Opt = typename TestType::Opt;
  using T = typename Opt::scalar_type;
  const CpuBackend::Context ctx(1);
  const recdiff::test::TempDir dir;
  Model<T> model, twin;
  Opt opt(model.parameters(), TestType::config()), untouched(twin.parameters(), TestType::config());
  train(model, opt, 1, 2, ctx);
  train(twin, untouched, 1, 2, ctx);

  // A checkpoint of an optimiser over the weight only: every bias entry is missing.
  {
    Model<T> other;
    Opt partial(recdiff::nn::ParameterList<CpuBackend, T>{{"layers.0.weight", &other.weight}},
                TestType::config());
    train(other, partial, 1, 3, ctx);
    recdiff::CheckpointWriter w;
    partial.save_state(ctx, w, "optimizer.");
    w.write(dir / "partial.bin");
  }
  // A checkpoint whose bias has another shape.
  {
    recdiff::nn::Tensor<CpuBackend, T> weight(37, 200), bias(1, 14);
    Opt wrong(recdiff::nn::ParameterList<CpuBackend, T>{{"layers.0.weight", &weight},
                                                        {"layers.0.bias", &bias}},
              TestType::config());
    recdiff::CheckpointWriter w;
    wrong.save_state(ctx, w, "optimizer.");
    w.write(dir / "shape.bin");
  }
  // A complete checkpoint of another trajectory (staged but not committed).
  {
    Model<T> other;
    Opt full(other.parameters(), TestType::config());
    train(other, full, 3, 8, ctx);
    recdiff::CheckpointWriter w;
    full.save_state(ctx, w, "optimizer.");
    w.write(dir / "full.bin");
  }
  const recdiff::CheckpointReader partial(dir / "partial.bin"), shape(dir / "shape.bin"),
      full(dir / "full.bin");
  if (has_state(TestType::config())) {
    REQUIRE_THROWS_AS((void)opt.stage_state(ctx, partial, "optimizer."), recdiff::IoError);
    REQUIRE_THROWS_WITH((void)opt.stage_state(ctx, partial, "optimizer."),
                        Catch::Contains("missing entry 'optimizer.") &&
                            Catch::Contains(".layers.0.bias'"));
    REQUIRE_THROWS_WITH((void)opt.stage_state(ctx, shape, "optimizer."),
                        Catch::Contains("has shape 1x14"));
    REQUIRE_THROWS_AS((void)opt.stage_state(ctx, full, "other."), recdiff::IoError);
  } else {
    // Nothing to read: staging succeeds on any checkpoint and installs nothing.
    opt.stage_state(ctx, partial, "optimizer.")();
  }
  auto commit = opt.stage_state(ctx, full, "optimizer.");  // staged, not yet committed
  CHECK(state_bytes(opt, dir, "o.bin") == state_bytes(untouched, dir, "u.bin"));
  train(model, opt, 3, 3, ctx);
  train(twin, untouched, 3, 3, ctx);
  CHECK(model == twin);
  CHECK(state_bytes(opt, dir, "o2.bin") == state_bytes(untouched, dir, "u2.bin"));
  // Committing now installs the staged state.
  commit();
  CHECK(state_bytes(opt, dir, "o3.bin") == slurp(dir / "full.bin"));
}

TEMPLATE_TEST_CASE("Optimizer laws: a lazily zeroed gradient steps as an explicit zero", "[optim]",
                   OPTIMIZER_CASES) {
  using Opt = typename TestType::Opt;
  using T = typename Opt::scalar_type;
  using Matrix = CpuBackend::Matrix<T>;
  const CpuBackend::Context ctx(2);
  const recdiff::test::TempDir dir;
  Model<T> lazy, explicit_zero;
  Opt a(lazy.parameters(), TestType::config()), b(explicit_zero.parameters(), TestType::config());
  train(lazy, a, 1, 2, ctx);
  train(explicit_zero, b, 1, 2, ctx);
  // Stale gradient memory from the last backward pass, then zero_grad() and no write at all.
  a.zero_grad();
  b.zero_grad();
  write_grad(explicit_zero.weight, Matrix(Matrix::Zero(37, 200)));
  write_grad(explicit_zero.bias, Matrix(Matrix::Zero(1, 13)));
  REQUIRE_FALSE(lazy.weight.grad.isZero());
  a.step(ctx);
  b.step(ctx);
  CHECK(lazy == explicit_zero);
  CHECK(state_bytes(a, dir, "a.bin") == state_bytes(b, dir, "b.bin"));
  CHECK(lazy.weight.gradient().isZero());
}

TEMPLATE_TEST_CASE("Optimizer laws: reset gives a fresh optimiser; accessors", "[optim]",
                   OPTIMIZER_CASES) {
  using Opt = typename TestType::Opt;
  using T = typename Opt::scalar_type;
  const CpuBackend::Context ctx(1);
  const recdiff::test::TempDir dir;
  Model<T> used, fresh_model;
  Opt opt(used.parameters(), TestType::config());
  train(used, opt, 1, 3, ctx);
  opt.reset();
  fresh_model.weight.value = used.weight.value;
  fresh_model.bias.value = used.bias.value;
  Opt fresh(fresh_model.parameters(), TestType::config());
  CHECK(state_bytes(opt, dir, "r.bin") == state_bytes(fresh, dir, "f.bin"));
  train(used, opt, 4, 5, ctx);
  train(fresh_model, fresh, 4, 5, ctx);
  CHECK(used == fresh_model);

  CHECK(opt.learning_rate() == TestType::config().lr);
  opt.set_learning_rate(0.25);
  CHECK(opt.learning_rate() == 0.25);
  CHECK(opt.config().lr == 0.25);
  REQUIRE(opt.parameters().size() == 2);
  CHECK(opt.parameters()[1].name == "layers.0.bias");
  CHECK(opt.parameters()[1].tensor == &used.bias);
  CHECK(std::string(Opt::name).size() > 0);
}
