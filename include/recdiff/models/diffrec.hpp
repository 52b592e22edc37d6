#pragma once
/// @file
/// DiffRec and T-DiffRec (Wang et al., SIGIR 2023): the model types and the presets of the released
/// runs (the authors' published run commands), so that a paper configuration is run by name.

#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/core/diffusion.hpp>
#include <recdiff/core/diffusion_recommender.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/denoiser/mlp.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/noise/gaussian.hpp>
#include <recdiff/objective/predict_epsilon.hpp>
#include <recdiff/objective/predict_x0.hpp>
#include <recdiff/optim/adam.hpp>
#include <recdiff/sampler/importance.hpp>
#include <recdiff/sampler/uniform.hpp>
#include <recdiff/schedule/diffrec_linear_var.hpp>

namespace recdiff {

/// Every hyper-parameter of a DiffRec run. Defaults are the ml-1m_clean preset.
struct DiffRecConfig {
  double lr = 1e-3;
  double weight_decay = 0.0;
  int batch_size = 400;
  int epochs = 1000;
  std::vector<int> dims{200, 600};  ///< hidden sizes from the bottleneck outwards (the released DNN's in_dims)
  int emb_size = 10;
  std::string mean_type = "x0";     ///< "x0" or "eps"
  /// Step sampler: "importance" (the released code's, always on) or "uniform" (the paper's Eq. 13,
  /// the Fig. 5 ablation).
  std::string sampler = "importance";
  int steps = 40;
  double noise_scale = 5e-3;
  double noise_min = 5e-3;
  double noise_max = 1e-2;
  int sampling_steps = 0;
  bool sampling_noise = false;  ///< posterior noise in the reverse chain (off in every preset)
  bool reweight = true;
  double dropout = 0.5;
  bool norm = false;
  std::uint64_t seed = 1;
  /// T-DiffRec's time weights; both 0 = plain DiffRec (binary input).
  double w_min = 0.0;
  double w_max = 0.0;
  /// Run inference through the exact latent-space chain (same scores up to rounding, faster).
  bool latent_chain = true;

  /// Checks every value; throws std::invalid_argument naming the first bad one and the fix.
  void validate() const {
    auto fail = [](const std::string& what) { throw std::invalid_argument("recdiff::DiffRecConfig: " + what); };
    if (!(lr > 0)) fail("lr must be > 0");
    if (!(weight_decay >= 0)) fail("weight_decay must be >= 0");
    if (batch_size < 1) fail("batch_size must be >= 1");
    if (epochs < 1) fail("epochs must be >= 1");
    if (dims.empty()) fail("dims must list at least one hidden size");
    for (int d : dims)
      if (d < 1) fail("every entry of dims must be >= 1");
    if (emb_size < 1) fail("emb_size must be >= 1");
    if (mean_type != "x0" && mean_type != "eps") fail("mean_type must be x0 or eps, got '" + mean_type + "'");
    if (sampler != "importance" && sampler != "uniform")
      fail("sampler must be importance or uniform, got '" + sampler + "'");
    if (steps < 1) fail("steps must be >= 1, got " + std::to_string(steps));
    if (!(noise_scale >= 0)) fail("noise_scale must be >= 0");
    if (!(noise_min > 0 && noise_max > 0)) fail("noise_min and noise_max must be > 0");
    if (!(noise_min < noise_max))
      fail("noise_min must be smaller than noise_max (the variance schedule rises from one to the "
           "other), got noise_min = " + std::to_string(noise_min) + " and noise_max = " +
           std::to_string(noise_max));
    if (sampling_steps < 0 || sampling_steps > steps) fail("sampling_steps must be in [0, steps]");
    if (!(dropout >= 0 && dropout < 1)) fail("dropout must be in [0, 1)");
    if (w_min != 0 || w_max != 0)
      if (!(w_min > 0 && w_min <= w_max && w_max <= 1))
        fail("time weights need 0 < w_min <= w_max <= 1, got w_min = " + std::to_string(w_min) +
             " and w_max = " + std::to_string(w_max));
  }

  /// key=value lines (stored in checkpoints and JSON reports).
  std::string to_string() const {
    std::ostringstream os;
    os.precision(17);
    os << "lr=" << lr << "\nweight_decay=" << weight_decay << "\nbatch_size=" << batch_size
       << "\nepochs=" << epochs << "\ndims=";
    for (std::size_t i = 0; i < dims.size(); ++i) os << (i ? "," : "") << dims[i];
    os << "\nemb_size=" << emb_size << "\nmean_type=" << mean_type << "\nsampler=" << sampler << "\nsteps=" << steps
       << "\nnoise_scale=" << noise_scale << "\nnoise_min=" << noise_min
       << "\nnoise_max=" << noise_max << "\nsampling_steps=" << sampling_steps
       << "\nsampling_noise=" << sampling_noise
       << "\nreweight=" << reweight << "\ndropout=" << dropout << "\nnorm=" << norm
       << "\nseed=" << seed << "\nw_min=" << w_min << "\nw_max=" << w_max
       << "\nlatent_chain=" << latent_chain << "\n";
    return os.str();
  }

  /// Parses to_string()'s output. Throws std::invalid_argument on an unknown key or bad value.
  static DiffRecConfig from_string(const std::string& text) {
    DiffRecConfig c;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const auto eq = line.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("recdiff::DiffRecConfig: bad line '" + line + "'");
      const std::string key = line.substr(0, eq), v = line.substr(eq + 1);
      std::istringstream vs(v);
      if (key == "lr") vs >> c.lr;
      else if (key == "weight_decay") vs >> c.weight_decay;
      else if (key == "batch_size") vs >> c.batch_size;
      else if (key == "epochs") vs >> c.epochs;
      else if (key == "dims") {
        c.dims.clear();
        std::string part;
        while (std::getline(vs, part, ',')) c.dims.push_back(std::stoi(part));
      } else if (key == "emb_size") vs >> c.emb_size;
      else if (key == "mean_type") c.mean_type = v;
      else if (key == "sampler") c.sampler = v;
      else if (key == "steps") vs >> c.steps;
      else if (key == "noise_scale") vs >> c.noise_scale;
      else if (key == "noise_min") vs >> c.noise_min;
      else if (key == "noise_max") vs >> c.noise_max;
      else if (key == "sampling_steps") vs >> c.sampling_steps;
      else if (key == "sampling_noise") vs >> c.sampling_noise;
      else if (key == "reweight") vs >> c.reweight;
      else if (key == "dropout") vs >> c.dropout;
      else if (key == "norm") vs >> c.norm;
      else if (key == "seed") vs >> c.seed;
      else if (key == "w_min") vs >> c.w_min;
      else if (key == "w_max") vs >> c.w_max;
      else if (key == "latent_chain") vs >> c.latent_chain;
      else throw std::invalid_argument("recdiff::DiffRecConfig: unknown key '" + key + "'");
    }
    c.validate();
    return c;
  }
};

/// The presets of the released DiffRec runs, by dataset name: ml-1m_clean,
/// ml-1m_noisy, yelp_clean, yelp_noisy, amazon-book_clean, amazon-book_noisy. T-DiffRec's
/// released presets are t-amazon-book_clean and t-yelp_clean (10.3).
inline DiffRecConfig diffrec_preset(const std::string& name) {
  DiffRecConfig c;
  auto set = [&](double lr, std::vector<int> dims, int steps, double s, double lo, double hi) {
    c.lr = lr;
    c.dims = std::move(dims);
    c.steps = steps;
    c.noise_scale = s;
    c.noise_min = lo;
    c.noise_max = hi;
  };
  if (name == "ml-1m_clean") set(1e-3, {200, 600}, 40, 5e-3, 5e-3, 1e-2);
  else if (name == "ml-1m_noisy") set(1e-3, {200, 600}, 5, 0.5, 1e-3, 1e-2);
  else if (name == "yelp_clean") set(1e-5, {1000}, 5, 1e-2, 1e-3, 1e-2);
  else if (name == "yelp_noisy") set(1e-5, {1000}, 5, 1e-3, 5e-4, 1e-2);
  else if (name == "amazon-book_clean") set(5e-5, {1000}, 5, 1e-4, 5e-4, 5e-3);
  else if (name == "amazon-book_noisy") set(5e-5, {1000}, 10, 5e-3, 1e-4, 5e-4);
  else if (name == "t-amazon-book_clean") {
    set(1e-5, {1000}, 10, 5e-4, 1e-3, 5e-3);
    c.w_min = 0.1;
    c.w_max = 1.0;
  } else if (name == "t-yelp_clean") {
    set(1e-5, {1000}, 5, 5e-3, 1e-3, 1e-2);
    c.w_min = 0.5;
    c.w_max = 1.0;
  } else {
    throw std::invalid_argument(
        "recdiff::diffrec_preset: unknown preset '" + name +
        "' (ml-1m_clean, ml-1m_noisy, yelp_clean, yelp_noisy, amazon-book_clean, "
        "amazon-book_noisy, t-amazon-book_clean, t-yelp_clean)");
  }
  return c;
}

/// The DiffRec diffusion: Gaussian noise, DiffRec's variance schedule, tanh MLP denoiser.
template <class BackendType, class ObjectiveType = PredictX0>
using DiffRecDiffusion = Diffusion<BackendType, Gaussian, DiffRecLinearVar,
                                   Mlp<BackendType, float, Tanh>, ObjectiveType>;

/// DiffRec (binary input) and T-DiffRec (time-weighted input) as trainable recommenders. The
/// released code always samples steps by importance; UniformSampler is the paper's base case
/// (Eq. 13), its Fig. 5 ablation.
template <class BackendType, class ObjectiveType = PredictX0, class InputType = BinaryInput,
          class SamplerType = ImportanceSampler>
using DiffRec = DiffusionRecommender<DiffRecDiffusion<BackendType, ObjectiveType>,
                                     AdamW<BackendType, float>, SamplerType, InputType>;
template <class BackendType, class ObjectiveType = PredictX0>
using TDiffRec = DiffRec<BackendType, ObjectiveType, TimeLinearInput>;

/// Builds a DiffRec model for `items` items from a configuration (validated first).
/// `context_arg` constructs the backend's Context: the thread count on the CPU (0 = all cores), the
/// device index with CudaBackend.
template <class BackendType, class ObjectiveType = PredictX0, class InputType = BinaryInput,
          class SamplerType = ImportanceSampler>
DiffRec<BackendType, ObjectiveType, InputType, SamplerType> make_diffrec(const DiffRecConfig& c,
                                                                         index_t items,
                                                                         InputType input = {},
                                                                         int context_arg = 0) {
  c.validate();
  using Net = Mlp<BackendType, float, Tanh>;
  typename Net::Config net;
  net.items = items;
  net.dims = c.dims;
  net.emb_size = c.emb_size;
  net.dropout = c.dropout;
  net.norm = c.norm;
  DiffusionOptions options;
  options.reweight = c.reweight;
  options.sampling_steps = c.sampling_steps;
  options.sampling_noise = c.sampling_noise;
  options.seed = c.seed;
  options.latent_chain = c.latent_chain;
  DiffRecDiffusion<BackendType, ObjectiveType> diffusion(
      DiffRecLinearVar(c.steps, c.noise_scale, c.noise_min, c.noise_max, /*fix_first_beta=*/true),
      Net(net, c.seed), options);
  AdamConfig adam;
  adam.lr = c.lr;
  adam.weight_decay = c.weight_decay;
  return DiffRec<BackendType, ObjectiveType, InputType, SamplerType>(
      std::move(diffusion), adam, SamplerType(c.steps), std::move(input), context_arg);
}

}  // namespace recdiff
