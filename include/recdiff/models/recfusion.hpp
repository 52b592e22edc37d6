#pragma once
/// @file
/// The RecFusion family (Bénédict, Jeunen, Papa, Bhargav, Odijk and de Rijke, "RecFusion: A
/// Binomial Diffusion Process for 1D Data for Recommendation", 2023): RecFusion, RecFusionT,
/// RecFusionVar and RecFusionBin as Diffusion instantiations trained on the whole chain, with their
/// presets (docs/models.md).

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include <recdiff/config.hpp>
#include <recdiff/core/diffusion.hpp>
#include <recdiff/core/diffusion_recommender.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/denoiser/prelu_mlp.hpp>
#include <recdiff/denoiser/unet.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/image_batches.hpp>
#include <recdiff/noise/bernoulli.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/objective/recfusion_terms.hpp>
#include <recdiff/optim/adam.hpp>
#include <recdiff/sampler/whole_chain.hpp>
#include <recdiff/schedule/beta_schedule.hpp>
#include <recdiff/schedule/constant.hpp>
#include <recdiff/schedule/linear.hpp>
#include <recdiff/schedule/quadratic.hpp>

namespace recdiff {

/// Every hyper-parameter of a RecFusion-family run. Defaults are the released classes' defaults
/// (T = 3, quadratic 1e-4 -> 0.1, M = 200, depth 4, Adam 1e-4, batch 200, 200 epochs).
struct RecFusionConfig {
  int steps = 3;                       ///< T
  std::string schedule = "quadratic";  ///< quadratic | linear | constant (beta_start for all steps)
  double beta_start = 1e-4;
  double beta_end = 0.1;
  int hidden = 200;  ///< M
  int depth = 4;     ///< applications of the shared hidden layer (p_dnns_depth)
  double lr = 1e-4;
  int batch_size = 200;
  int epochs = 200;
  std::uint64_t seed = 1;
  /// RecFusionT: where the step offset goes (the paper: input; the released code: output).
  StepOffsetAt step_offset = StepOffsetAt::input;
  /// RecFusionBin: two-way | fair-coin (the paper's Eq. 6) | one-way (the paper's process (c)).
  std::string process = "one-way";
  /// RecFusionBin: add the released code's Gaussian terms to the BCE.
  bool gaussian_terms = false;
  /// RecFusionBin with the one-way process: keep the noised input sparse in training (the first
  /// layer is a CSR x dense product); false densifies it (the same numbers, slower).
  bool sparse_training = true;

  /// Checks every value; throws std::invalid_argument naming the first bad one.
  void validate() const {
    auto fail = [](const std::string& what) {
      throw std::invalid_argument("recdiff::RecFusionConfig: " + what);
    };
    if (steps < 1) fail("steps must be >= 1, got " + std::to_string(steps));
    if (schedule != "quadratic" && schedule != "linear" && schedule != "constant")
      fail("schedule must be quadratic, linear or constant, got '" + schedule + "'");
    if (!(beta_start > 0 && beta_start <= 1)) fail("beta_start must be in (0, 1]");
    if (!(beta_end > 0 && beta_end <= 1)) fail("beta_end must be in (0, 1]");
    if (hidden < 1) fail("hidden must be >= 1");
    if (depth < 0) fail("depth must be >= 0");
    if (!(lr > 0)) fail("lr must be > 0");
    if (batch_size < 1) fail("batch_size must be >= 1");
    if (epochs < 1) fail("epochs must be >= 1");
    if (process != "two-way" && process != "fair-coin" && process != "one-way")
      fail("process must be two-way, fair-coin or one-way, got '" + process + "'");
  }

  /// The schedule's betas.
  BetaSchedule make_schedule() const {
    if (schedule == "linear") return Linear(steps, beta_start, beta_end);
    if (schedule == "constant") return Constant(steps, beta_start);
    return Quadratic(steps, beta_start, beta_end);
  }

  /// key=value lines (checkpoints and JSON reports).
  std::string to_string() const {
    std::ostringstream os;
    os.precision(17);
    os << "steps=" << steps << "\nschedule=" << schedule << "\nbeta_start=" << beta_start
       << "\nbeta_end=" << beta_end << "\nhidden=" << hidden << "\ndepth=" << depth
       << "\nlr=" << lr << "\nbatch_size=" << batch_size << "\nepochs=" << epochs
       << "\nseed=" << seed << "\nstep_offset="
       << (step_offset == StepOffsetAt::input ? "input"
           : step_offset == StepOffsetAt::output ? "output"
                                                 : "none")
       << "\nprocess=" << process << "\ngaussian_terms=" << gaussian_terms
       << "\nsparse_training=" << sparse_training << "\n";
    return os.str();
  }
};

/// Presets: "recfusion" (the released final runs: T = 2, depth 2), "recfusion-default" (the class
/// defaults, T = 3, depth 4: RecFusionT/Var/Bin/U-Nets use these), and "recfusion-bin" (one-way,
/// T = 3, quadratic).
/// @throws std::invalid_argument for an unknown name
inline RecFusionConfig recfusion_preset(const std::string& name) {
  RecFusionConfig c;
  if (name == "recfusion") {
    c.steps = 2;
    c.depth = 2;
  } else if (name == "recfusion-default" || name == "recfusion-bin") {
  } else {
    throw std::invalid_argument("recdiff::recfusion_preset: unknown preset '" + name +
                                "' (recfusion, recfusion-default, recfusion-bin)");
  }
  return c;
}

/// The Gaussian chain of a RecFusion model with denoiser D and loss L (any schedule, kept as its
/// betas).
template <class BackendType, class DenoiserType, RecFusionLoss Loss, int ReconstructionStep = 0>
using RecFusionGaussianDiffusion =
    Diffusion<BackendType, Gaussian, BetaSchedule, DenoiserType,
              RecFusionTerms<Loss, ReconstructionStep>>;

/// A RecFusion-family recommender over a diffusion: Adam, every step of the chain per user.
template <class DiffusionType>
using RecFusionRecommender = DiffusionRecommender<DiffusionType,
                                                  Adam<typename DiffusionType::backend_type, float>,
                                                  WholeChain, BinaryInput>;

/// RecFusion (MLP): tanh head, shared hidden layer, latent-identity loss.
template <class BackendType>
using RecFusion = RecFusionRecommender<RecFusionGaussianDiffusion<
    BackendType, PReluMlp<BackendType, float, Tanh>, RecFusionLoss::latent_identity>>;
/// RecFusionT: RecFusion's network with a learned step offset, magnitude loss, inference at step 1.
template <class BackendType>
using RecFusionT = RecFusionRecommender<RecFusionGaussianDiffusion<
    BackendType, PReluMlp<BackendType, float, Tanh>, RecFusionLoss::magnitude>>;
/// RecFusionVar: a 2 I mean / log-variance head, the latents' Gaussian NLL.
template <class BackendType>
using RecFusionVar = RecFusionRecommender<RecFusionGaussianDiffusion<
    BackendType, PReluMlp<BackendType, float, Identity>, RecFusionLoss::learned_variance>>;
/// RecFusionBin: binomial diffusion with `Process` (OneWay: the paper's process (c)), logits out,
/// BCE from the logits (optionally with the code's Gaussian terms: Loss =
/// bce_with_gaussian_terms).
template <class BackendType, class Process = OneWay, RecFusionLoss Loss = RecFusionLoss::bce>
using RecFusionBin = RecFusionRecommender<Diffusion<BackendType, Bernoulli<Process>, BetaSchedule,
                                                    PReluMlp<BackendType, float, Identity>,
                                                    RecFusionTerms<Loss>>>;

/// RecFusionUNet1D: the 1-D U-Net on each user's row (B, 1, I), trained on z_1..z_{T-1} with the
/// magnitude loss, reconstruction at step 1, inference U(x, 1). I must be even.
template <class BackendType>
using RecFusionUNet1D = RecFusionRecommender<RecFusionGaussianDiffusion<
    BackendType, UNet1D<BackendType, float>, RecFusionLoss::magnitude, 1>>;
/// RecFusionUNet2D: the 2-D U-Net on each batch of users as one (1, 1, B, I) image
/// (nn::ImageBatches cuts whole-chain and evaluation batches into images of one step).
template <class BackendType>
using RecFusionUNet2D = RecFusionRecommender<RecFusionGaussianDiffusion<
    BackendType, nn::ImageBatches<UNet2D<BackendType, float>>, RecFusionLoss::magnitude, 1>>;

namespace recfusion_detail {
// The Adam settings of every RecFusion model.
inline AdamConfig adam(const RecFusionConfig& c) {
  AdamConfig a;
  a.lr = c.lr;
  return a;
}

// A RecFusion-family model of type Model from `net`: train on steps first_step .. T-1, score by the
// x0 prediction at predict_step.
template <class Model, class Net>
Model build(const RecFusionConfig& c, Net net, int first_step, int predict_step, int context_arg) {
  using DiffusionType = typename Model::diffusion_type;
  if (c.steps <= first_step)
    throw std::invalid_argument("recdiff: this RecFusion variant trains on steps " +
                                std::to_string(first_step) + "..T-1 and needs steps >= " +
                                std::to_string(first_step + 1) + ", got " +
                                std::to_string(c.steps));
  DiffusionOptions options;
  options.reweight = false;
  options.seed = c.seed;
  options.latent_chain = false;
  options.predict_step = std::min(predict_step, c.steps - 1);
  options.sparse_training = c.sparse_training;
  typename Model::Context ctx(context_arg);
  net.initialize(ctx, c.seed);
  DiffusionType diffusion(c.make_schedule(), std::move(net), options);
  return Model(std::move(diffusion), adam(c), WholeChain(c.steps, first_step), BinaryInput{},
               context_arg);
}

inline PReluMlpConfig net_config(const RecFusionConfig& c, index_t items) {
  PReluMlpConfig n;
  n.items = static_cast<int>(items);
  n.hidden = c.hidden;
  n.depth = c.depth;
  return n;
}
}  // namespace recfusion_detail

/// RecFusion for `items` items. `context_arg`: threads (CPU, 0 = all cores) or device index.
template <class BackendType>
RecFusion<BackendType> make_recfusion(const RecFusionConfig& c, index_t items, int context_arg = 0) {
  c.validate();
  return recfusion_detail::build<RecFusion<BackendType>>(
      c, PReluMlp<BackendType, float, Tanh>(recfusion_detail::net_config(c, items)), 0, 0,
      context_arg);
}

/// RecFusionT (the step offset where c.step_offset says; inference at step 1, as released).
template <class BackendType>
RecFusionT<BackendType> make_recfusion_t(const RecFusionConfig& c, index_t items,
                                         int context_arg = 0) {
  c.validate();
  PReluMlpConfig n = recfusion_detail::net_config(c, items);
  n.step_offset = c.step_offset == StepOffsetAt::none ? StepOffsetAt::input : c.step_offset;
  return recfusion_detail::build<RecFusionT<BackendType>>(
      c, PReluMlp<BackendType, float, Tanh>(n), 0, 1, context_arg);
}

/// RecFusionVar.
template <class BackendType>
RecFusionVar<BackendType> make_recfusion_var(const RecFusionConfig& c, index_t items,
                                             int context_arg = 0) {
  c.validate();
  PReluMlpConfig n = recfusion_detail::net_config(c, items);
  n.outputs = 2 * static_cast<int>(items);
  return recfusion_detail::build<RecFusionVar<BackendType>>(
      c, PReluMlp<BackendType, float, Identity>(n), 0, 0, context_arg);
}

/// RecFusionUNet1D (the class defaults: T = 3, so it trains on z_1 and z_2).
/// @throws std::invalid_argument for an odd number of items
template <class BackendType>
RecFusionUNet1D<BackendType> make_recfusion_unet1d(const RecFusionConfig& c, index_t items,
                                                   int context_arg = 0) {
  c.validate();
  return recfusion_detail::build<RecFusionUNet1D<BackendType>>(
      c, UNet1D<BackendType, float>(static_cast<int>(items), c.seed), 1, 1, context_arg);
}

/// RecFusionUNet2D: images of at most c.batch_size users.
/// @throws std::invalid_argument for an odd number of items
template <class BackendType>
RecFusionUNet2D<BackendType> make_recfusion_unet2d(const RecFusionConfig& c, index_t items,
                                                   int context_arg = 0) {
  c.validate();
  return recfusion_detail::build<RecFusionUNet2D<BackendType>>(
      c,
      nn::ImageBatches<UNet2D<BackendType, float>>(
          UNet2D<BackendType, float>(static_cast<int>(items), c.seed), c.batch_size),
      1, 1, context_arg);
}

/// RecFusionBin with a process and loss fixed by the type (see visit_recfusion_bin for the run-time
/// choice from c.process and c.gaussian_terms).
template <class BackendType, class Process = OneWay, RecFusionLoss Loss = RecFusionLoss::bce>
RecFusionBin<BackendType, Process, Loss> make_recfusion_bin(const RecFusionConfig& c, index_t items,
                                                            int context_arg = 0) {
  c.validate();
  return recfusion_detail::build<RecFusionBin<BackendType, Process, Loss>>(
      c, PReluMlp<BackendType, float, Identity>(recfusion_detail::net_config(c, items)), 0, 0,
      context_arg);
}

/// Calls fn(model) with the RecFusionBin that c.process and c.gaussian_terms name.
template <class BackendType, class Fn>
decltype(auto) visit_recfusion_bin(const RecFusionConfig& c, index_t items, int context_arg, Fn&& fn) {
  c.validate();
  auto with = [&]<class Process>(Process) -> decltype(auto) {
    if (c.gaussian_terms) {
      auto m = make_recfusion_bin<BackendType, Process, RecFusionLoss::bce_with_gaussian_terms>(
          c, items, context_arg);
      return fn(m);
    }
    auto m = make_recfusion_bin<BackendType, Process, RecFusionLoss::bce>(c, items, context_arg);
    return fn(m);
  };
  if (c.process == "two-way") return with(TwoWayFlip{});
  if (c.process == "fair-coin") return with(FairCoin{});
  return with(OneWay{});
}

}  // namespace recdiff
