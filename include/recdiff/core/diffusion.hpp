#pragma once
/// @file
/// Diffusion: the core template of recdiff. One object of each policy — backend, noise kernel,
/// schedule, denoiser, objective — composed into the forward process used for training and the
/// reverse chain used for inference (DiffRec, Wang et al., SIGIR 2023, sections 3.1-3.3;
/// docs/architecture.md).

#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/concepts/denoiser.hpp>
#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/concepts/objective.hpp>
#include <recdiff/concepts/step_sampler.hpp>
#include <recdiff/core/latent_chain.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/nn/kernels.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/noise/detail/checks.hpp>
#include <recdiff/noise/noise_draw.hpp>
#include <recdiff/objective/row_terms.hpp>

namespace recdiff {

/// Run-time options of a Diffusion (DiffRec's released flags: reweight, sampling_steps,
/// sampling_noise).
struct DiffusionOptions {
  /// SNR reweighting of the per-row loss (on in every released DiffRec preset).
  bool reweight = true;
  /// T': 0 starts the reverse chain at the clean input, T' > 0 at q_sample(x0, T' - 1).
  int sampling_steps = 0;
  /// Add posterior noise in the reverse chain (off in every preset).
  bool sampling_noise = false;
  /// Train on CSR input where the policies allow it (Diffusion::sparse_training_available: one-way
  /// Bernoulli noise, a sparse first layer); false forces the dense path (benchmarks).
  bool sparse_training = true;
  /// Seeds the diffusion noise and the denoiser's dropout masks.
  std::uint64_t seed = 1;
  /// Run the reverse chain exactly in the denoiser's first hidden space where that applies
  /// (core/latent_chain.hpp): same scores up to float rounding, several times faster.
  bool latent_chain = true;
  /// Inference: -1 runs the reverse chain (DiffRec); k >= 0 scores each user by the x0 prediction
  /// of one denoiser pass at step k on the clean input (RecFusion's "the user vector is x^1, one
  /// reverse step": k = 0 for its MLP models, 1 for RecFusionT and the U-Nets).
  int predict_step = -1;
};

/// A diffusion model over user interaction vectors (or, inside a composite, over latent vectors).
///
/// **Training** is a pipeline of steps that a composite can also call one by one:
/// sample_steps (the step sampler), noise (q_sample), denoise (the network, training mode),
/// loss_terms (per-row losses and d loss / d out), then backward (parameter gradients) or
/// backward_to_x0 (also d loss / d x0, when the kernel and the objective allow it: an encoder that
/// produces x0 learns through the diffusion loss). loss_and_gradients runs them all.
///
/// **Inference** runs the reverse chain on CSR rows (reverse_chain) or on a dense batch
/// (reverse_chain_dense, e.g. a latent matrix). Inference noise (T' > 0, sampling noise) is keyed
/// by the row's id (the user id), never by its position in the batch, on the Philox stream of
/// inference, so scores do not depend on the batch size and never share draws with training.
///
/// @tparam BackendType  storage and kernels (CpuBackend, CudaBackend)
/// @tparam NoiseType    forward kernel, posterior and reverse step; owns its tables (Gaussian)
/// @tparam ScheduleType betas (DiffRecLinearVar, Linear, Constant, Cosine)
/// @tparam DenoiserType network predicting the objective's target from (x_k, k) (Mlp)
/// @tparam ObjectiveType what the network predicts and how it is scored (PredictX0,
///                       PredictEpsilon); must be a CompatibleObjective for NoiseType
template <class BackendType, class NoiseType, class ScheduleType, class DenoiserType,
          class ObjectiveType>
  requires Backend<BackendType, typename DenoiserType::scalar_type> &&
           NoiseSchedule<ScheduleType> && NoiseKernel<NoiseType, BackendType> &&
           Denoiser<DenoiserType, BackendType> &&
           CompatibleObjective<ObjectiveType, NoiseType, BackendType>
class Diffusion {
 public:
  using backend_type = BackendType;                         ///< the backend
  using noise_type = NoiseType;                             ///< the noise kernel
  using denoiser_type = DenoiserType;                       ///< the network
  using objective_type = ObjectiveType;                     ///< the objective
  using scalar_type = typename DenoiserType::scalar_type;   ///< the scalar type
  using Matrix = typename BackendType::template Matrix<scalar_type>;  ///< storage
  using Context = typename BackendType::Context;                      ///< execution context

  /// Builds the noise kernel's tables from `schedule` once and takes ownership of the denoiser.
  /// Throws std::invalid_argument when T' exceeds the number of steps or is negative.
  Diffusion(ScheduleType schedule, DenoiserType denoiser, DiffusionOptions options = {})
      : m_schedule(std::move(schedule)),
        m_noise(m_schedule),
        m_denoiser(std::move(denoiser)),
        m_options(options) {
    if (options.predict_step < -1 || options.predict_step >= m_noise.num_steps())
      throw std::invalid_argument("recdiff::Diffusion: predict_step must be -1 (reverse chain) or "
                                  "in [0, steps = " + std::to_string(m_noise.num_steps()) +
                                  "), got " + std::to_string(options.predict_step));
    if (options.sampling_steps < 0 || options.sampling_steps > m_noise.num_steps())
      throw std::invalid_argument("recdiff::Diffusion: sampling_steps must be in [0, steps = " +
                                  std::to_string(m_noise.num_steps()) + "], got " +
                                  std::to_string(options.sampling_steps));
  }

  const ScheduleType& schedule() const noexcept { return m_schedule; }   ///< the schedule
  const NoiseType& noise_kernel() const noexcept { return m_noise; }     ///< the noise kernel
  const DiffusionOptions& options() const noexcept { return m_options; } ///< the options
  DenoiserType& denoiser() noexcept { return m_denoiser; }               ///< the network
  const DenoiserType& denoiser() const noexcept { return m_denoiser; }   ///< the network

  // --- training, step by step ----------------------------------------------------------------------

  /// Draws one step per row with `sampler` (keyed by the run seed and `counter`, the global batch
  /// index); returns the steps. The sampler's factors p_b are kept for loss_terms.
  template <class SamplerType>
    requires StepSampler<SamplerType>
  std::span<const int> sample_steps(SamplerType& sampler, std::size_t batch, std::uint32_t counter) {
    sampler.sample(batch, m_options.seed, counter, m_steps, m_p);
    return m_steps;
  }

  /// x_t ~ q(x_k | x0) for the rows' steps (training noise, keyed by `counter`); x0 itself for a
  /// noiseless kernel. x0 must stay alive until loss_terms().
  const Matrix& noise(const Context& ctx, const Matrix& x0, std::span<const int> steps,
                      std::uint32_t counter) {
    m_x0 = &x0;
    if (m_noise.is_noiseless()) {
      if constexpr (requires { m_ws.eps; }) m_ws.eps.setZero(x0.rows(), x0.cols());
      m_x_t_ptr = &x0;
    } else {
      m_noise.template q_sample<BackendType, scalar_type>(
          ctx, x0, steps, NoiseDraw{m_options.seed, philox::Stream::noise, counter, nullptr}, m_ws,
          m_x_t);
      m_x_t_ptr = &m_x_t;
    }
    return *m_x_t_ptr;
  }

  /// The denoiser on x_t in training mode (dropout keyed by the run seed and `counter`).
  const Matrix& denoise(const Context& ctx, const Matrix& x_t, std::span<const int> steps,
                        std::uint32_t counter) {
    m_out = &m_denoiser.forward(ctx, x_t, nn::Pass{true, m_options.seed, counter, steps});
    return *m_out;
  }

  /// The per-row losses L_b = w_b l_b of the last denoise() against the last noise()'s x0 and x_t
  /// (host values, valid until the next call), with d loss / d out stored for backward(), where
  /// loss = (1/B) sum_b L_b / p_b; `p` empty means all 1. mean_batch_loss(result, p) is the loss.
  ///
  /// `loss_scale` (> 0) multiplies the loss whose gradient is stored, so that a composite can weigh
  /// the diffusion loss against its own terms (L-DiffRec's lambda); the returned L_b are unscaled.
  std::span<const double> loss_terms(const Context& ctx, std::span<const int> steps,
                                     std::span<const double> p, double loss_scale = 1.0) {
    if (!(loss_scale > 0) || !std::isfinite(loss_scale))
      throw std::invalid_argument("recdiff::Diffusion::loss_terms: loss_scale must be finite and "
                                  "> 0, got " + std::to_string(loss_scale));
    if (loss_scale != 1.0) {  // (1/B) sum L_b / (p_b / scale) = scale (1/B) sum L_b / p_b
      m_p_scaled.resize(steps.size());
      for (std::size_t b = 0; b < steps.size(); ++b)
        m_p_scaled[b] = (p.empty() ? 1.0 : p[b]) / loss_scale;
      p = m_p_scaled;
    }
    ObjectiveType::template row_terms<BackendType>(ctx, m_noise, steps, p, m_options.reweight,
                                                   m_rows);
    ObjectiveType::template loss_and_gradient<BackendType, scalar_type>(
        ctx, m_noise, m_ws, *m_out, *m_x0, *m_x_t_ptr, m_rows, m_row_loss, m_grad);
    m_has_output_grad = false;
    m_row_loss_host.resize(static_cast<std::size_t>(m_row_loss.rows()));
    BackendType::download(ctx, m_row_loss, std::span<double>(m_row_loss_host));
    return m_row_loss_host;
  }

  /// The sampler's factors p_b of the last sample_steps() (what loss_terms() takes).
  std::span<const double> step_probabilities() const noexcept { return m_p; }

  /// Adds `g` (B x I, the shape of the last denoise() output) to the gradient that backward() and
  /// backward_to_x0() send into the denoiser: the gradient of a composite's own term that reads the
  /// denoiser's output (L-DiffRec decodes the one-step x0 prediction), so that one backward pass
  /// carries both. The objective's dependence on x0 (its target) is unaffected.
  /// @throws std::logic_error before loss_terms(); std::invalid_argument on a shape mismatch
  void add_output_gradient(const Context& ctx, const Matrix& g) {
    if (m_grad.rows() == 0 && m_grad.cols() == 0)
      throw std::logic_error("recdiff::Diffusion::add_output_gradient: no loss_terms() to add to");
    if (g.rows() != m_grad.rows() || g.cols() != m_grad.cols())
      policy_detail::shape_mismatch("recdiff::Diffusion::add_output_gradient", "g", g.rows(),
                                    g.cols(), m_grad.rows(), m_grad.cols());
    if (!m_has_output_grad) {
      m_output_grad = m_grad;
      m_has_output_grad = true;
    }
    BackendType::for_each(ctx, g.rows(), g.cols(),
                          nn::AddInPlace<scalar_type>{m_output_grad.data(), g.data(), g.cols()});
  }

  /// Back-propagates the stored d loss / d out into the denoiser's parameter gradients (adding to
  /// them; see nn::Tensor).
  void backward(const Context& ctx) { m_denoiser.backward(ctx, denoiser_gradient(), false); }

  /// backward() and d loss / d x0 (B x I): through the denoiser's input and q_sample, plus the
  /// objective's own dependence on x0 (its target).
  const Matrix& backward_to_x0(const Context& ctx)
    requires DifferentiableNoise<NoiseType, BackendType> &&
             TargetDifferentiableObjective<ObjectiveType, BackendType>
  {
    const Matrix* grad_x_t = m_denoiser.backward(ctx, denoiser_gradient(), true);
    if (m_noise.is_noiseless())
      m_grad_x0 = *grad_x_t;
    else
      m_noise.template q_sample_backward<BackendType, scalar_type>(ctx, m_ws, *grad_x_t, false,
                                                                    m_grad_x0);
    ObjectiveType::template add_target_gradient<BackendType, scalar_type>(ctx, m_grad, m_grad_x0);
    return m_grad_x0;
  }

  /// The whole training step on a batch x0 (B x I): sample_steps, noise, denoise, loss_terms, the
  /// sampler's history update, backward. Returns loss = mean_b L_b / p_b. `counter` (the global
  /// batch index) keys the noise and dropout draws.
  template <class SamplerType>
    requires StepSampler<SamplerType>
  double loss_and_gradients(const Context& ctx, const Matrix& x0, SamplerType& sampler,
                            std::uint32_t counter) {
    const auto steps = sample_steps(sampler, static_cast<std::size_t>(x0.rows()), counter);
    const Matrix& x_t = noise(ctx, x0, steps, counter);
    denoise(ctx, x_t, steps, counter);
    const auto row_loss = loss_terms(ctx, steps, m_p);
    const double loss = mean_batch_loss(row_loss, m_p);
    sampler.update(steps, row_loss);
    backward(ctx);
    return loss;
  }

  /// Whether this diffusion can train on CSR input without densifying it: a kernel whose draws keep a
  /// subset of x0 (SparseNoise: the one-way Bernoulli process) and a denoiser whose first layer
  /// reads CSR rows in training (SparseInputDenoiser).
  static constexpr bool sparse_training_available =
      SparseNoise<NoiseType> && SparseInputDenoiser<DenoiserType, BackendType>;

  /// loss_and_gradients() with x_t drawn directly as the CSR rows `users` of `input` (entries 1) and
  /// fed to the denoiser's sparse first layer, so the first layer costs O(nnz of x_t x hidden)
  /// instead of O(B x I x hidden). x0 (B x I, the densified rows) is the loss's target. The draws
  /// equal those of noise() on x0, so the two paths give the same loss and gradients up to float
  /// rounding.
  template <class SamplerType>
    requires StepSampler<SamplerType> && sparse_training_available
  double loss_and_gradients_sparse(const Context& ctx, const Matrix& x0,
                                   const InteractionMatrix& input, std::span<const index_t> users,
                                   SamplerType& sampler, std::uint32_t counter) {
    const auto steps = sample_steps(sampler, users.size(), counter);
    m_x0 = &x0;
    // A backend that mirrors CSR matrices in device memory (CudaBackend) caches each mirror by the
    // matrix's id until told otherwise; every step draws a new matrix, so the previous step's
    // mirror is dropped here (its last use is already in stream order) instead of accumulating.
    if constexpr (requires { ctx.release_mirror(m_x_t_sparse.id()); })
      ctx.release_mirror(m_x_t_sparse.id());
    m_x_t_sparse = m_noise.template q_sample_sparse<scalar_type>(
        input, users, steps, NoiseDraw{m_options.seed, philox::Stream::noise, counter, nullptr});
    m_sparse_rows.resize(users.size());
    for (std::size_t b = 0; b < users.size(); ++b) m_sparse_rows[b] = static_cast<index_t>(b);
    if constexpr (requires { ObjectiveType::reads_x_t; }) {
      if constexpr (!ObjectiveType::reads_x_t) {
        m_x_t_ptr = &x0;  // shape only: the objective does not read x_t
      } else {
        BackendType::densify(ctx, m_x_t_sparse, m_sparse_rows, m_x_t);
        m_x_t_ptr = &m_x_t;
      }
    } else {
      BackendType::densify(ctx, m_x_t_sparse, m_sparse_rows, m_x_t);
      m_x_t_ptr = &m_x_t;
    }
    m_out = &m_denoiser.forward_sparse(ctx, m_x_t_sparse, m_sparse_rows, UnitValue{},
                                       nn::Pass{true, m_options.seed, counter, steps});
    const auto row_loss = loss_terms(ctx, steps, m_p);
    const double loss = mean_batch_loss(row_loss, m_p);
    sampler.update(steps, row_loss);
    backward(ctx);
    return loss;
  }

  // --- inference -----------------------------------------------------------------------------------

  /// The objective's x0 prediction from one denoiser pass at step k (evaluation mode) on the CSR
  /// rows `users` of `input` (the clean interaction vectors, entries valued by value(position,
  /// length)), written to `out` (B x I). The rows are read sparsely by a SparseInputDenoiser.
  /// @throws std::out_of_range unless 0 <= k < T
  template <class ValueFn>
  void predict_x0(const Context& ctx, const InteractionMatrix& input,
                  std::span<const index_t> users, ValueFn value, int k, Matrix& out) {
    m_chain_steps.assign(users.size(), k);
    policy_detail::check_steps("recdiff::Diffusion::predict_x0", m_chain_steps, m_noise.num_steps());
    const nn::Pass pass{false, m_options.seed, 0, m_chain_steps};
    const Matrix* f = nullptr;
    if constexpr (SparseInputDenoiser<DenoiserType, BackendType>) {
      f = &m_denoiser.forward_sparse(ctx, input, users, value, pass);
    } else {
      BackendType::densify(ctx, input, users, m_x, value);
      f = &m_denoiser.forward(ctx, m_x, pass);
    }
    if constexpr (ObjectiveType::output_is_x0) {
      out = *f;
    } else {
      if constexpr (SparseInputDenoiser<DenoiserType, BackendType>)
        BackendType::densify(ctx, input, users, m_x, value);
      ObjectiveType::template row_terms<BackendType>(ctx, m_noise, m_chain_steps, {},
                                                     m_options.reweight, m_rows);
      ObjectiveType::template x0_hat<BackendType, scalar_type>(ctx, m_noise, *f, m_x, m_rows, out);
    }
  }

  /// Runs the reverse chain from the CSR rows `users` of `input` (the users' clean interaction
  /// vectors, entries valued by value(position, length)), writing the final x (B x I) to `out`.
  /// With T' = 0 the first denoiser pass reads the rows sparsely (SparseInputDenoiser), and where
  /// the policies allow it (options().latent_chain) the whole chain runs in the denoiser's first
  /// hidden space (LatentReverseChain). Noise is keyed by the user ids.
  template <class ValueFn>
  void reverse_chain(const Context& ctx, const InteractionMatrix& input,
                     std::span<const index_t> users, ValueFn value, Matrix& out) {
    if constexpr (LatentChainDenoiser<DenoiserType, BackendType> && ObjectiveType::output_is_x0 &&
                  GaussianNoise<NoiseType>) {
      if (latent_chain_applies()) {
        m_latent.run(ctx, m_denoiser, m_noise, input, users, value, out);
        return;
      }
    }
    BackendType::densify(ctx, input, users, m_x, value);
    run_chain(ctx, users, out, [&](std::span<const int> steps) -> const Matrix& {
      if constexpr (SparseInputDenoiser<DenoiserType, BackendType>)
        return m_denoiser.forward_sparse(ctx, input, users, value,
                                         nn::Pass{false, m_options.seed, 0, steps});
      else
        return m_denoiser.forward(ctx, m_x, nn::Pass{false, m_options.seed, 0, steps});
    });
  }

  /// The reverse chain from a dense batch x (B x I, e.g. latent vectors); row b's noise is keyed by
  /// row_ids[b] (one id per row, e.g. the user ids). Runs in the denoiser's first hidden space
  /// under the same conditions as reverse_chain().
  /// @throws std::invalid_argument when row_ids does not hold one id per row
  void reverse_chain_dense(const Context& ctx, const Matrix& x, std::span<const index_t> row_ids,
                           Matrix& out) {
    if (static_cast<std::int64_t>(row_ids.size()) != x.rows())
      throw std::invalid_argument("recdiff::Diffusion::reverse_chain_dense: " +
                                  std::to_string(row_ids.size()) + " row ids for " +
                                  std::to_string(x.rows()) + " rows");
    if constexpr (LatentChainDenoiser<DenoiserType, BackendType> && ObjectiveType::output_is_x0 &&
                  GaussianNoise<NoiseType>) {
      if (latent_chain_applies()) {
        m_latent.run_dense(ctx, m_denoiser, m_noise, x, out);
        return;
      }
    }
    m_x = x;
    run_chain(ctx, row_ids, out, [&](std::span<const int> steps) -> const Matrix& {
      return m_denoiser.forward(ctx, m_x, nn::Pass{false, m_options.seed, 0, steps});
    });
  }

 private:
  bool latent_chain_applies() const {
    return m_options.latent_chain && starts_clean() && !m_options.sampling_noise &&
           m_denoiser.input_is_linear();
  }

  // d loss / d out as the denoiser receives it: the objective's, plus add_output_gradient()'s.
  const Matrix& denoiser_gradient() const noexcept {
    return m_has_output_grad ? m_output_grad : m_grad;
  }

  bool starts_clean() const noexcept {
    return m_options.sampling_steps == 0 || m_noise.is_noiseless();
  }

  // The chain from m_x (the clean input): optionally noised to step T' - 1, then k = T-1 .. 0.
  // `first_forward` computes the first denoiser pass while x is still the clean input.
  template <class FirstForward>
  void run_chain(const Context& ctx, std::span<const index_t> row_ids, Matrix& out,
                 FirstForward first_forward) {
    const auto batch = static_cast<std::size_t>(m_x.rows());
    BackendType::upload(ctx, row_ids, static_cast<std::int64_t>(row_ids.size()), 1, m_row_keys);
    const int steps = m_noise.num_steps();
    const auto draw = [&](std::uint32_t counter) {
      return NoiseDraw{m_options.seed, philox::Stream::inference, counter, m_row_keys.data()};
    };
    bool clean = starts_clean();
    if (!clean) {
      // Start from q_sample(x0, T' - 1), drawn with the counter T (reverse steps use 0..T-1).
      m_chain_steps.assign(batch, m_options.sampling_steps - 1);
      m_noise.template q_sample<BackendType, scalar_type>(
          ctx, m_x, m_chain_steps, draw(static_cast<std::uint32_t>(steps)), m_ws, m_x);
    }
    for (int k = steps - 1; k >= 0; --k) {
      m_chain_steps.assign(batch, k);
      const Matrix& f =
          clean ? first_forward(std::span<const int>(m_chain_steps))
                : m_denoiser.forward(ctx, m_x, nn::Pass{false, m_options.seed, 0, m_chain_steps});
      clean = false;
      if (m_noise.is_noiseless()) {
        m_x = f;  // DiffRec's s = 0 case: x = f(x, k)
        continue;
      }
      const Matrix* x0_hat = &f;
      if constexpr (!ObjectiveType::output_is_x0) {
        ObjectiveType::template row_terms<BackendType>(ctx, m_noise, m_chain_steps, {},
                                                       m_options.reweight, m_rows);
        ObjectiveType::template x0_hat<BackendType, scalar_type>(ctx, m_noise, f, m_x, m_rows,
                                                                 m_x0_hat);
        x0_hat = &m_x0_hat;
      }
      m_noise.template reverse_step<BackendType, scalar_type>(
          ctx, *x0_hat, m_x, m_chain_steps, draw(static_cast<std::uint32_t>(k)),
          m_options.sampling_noise, m_ws, m_x);
    }
    out.swap(m_x);
  }

  ScheduleType m_schedule;
  NoiseType m_noise;
  DenoiserType m_denoiser;
  DiffusionOptions m_options;
  // Work buffers, allocated once per batch shape and reused.
  typename NoiseType::template Workspace<BackendType, scalar_type> m_ws;
  std::vector<int> m_steps, m_chain_steps;
  std::vector<double> m_p, m_p_scaled;
  std::vector<double> m_row_loss_host;
  typename BackendType::template Matrix<double> m_rows, m_row_loss;
  typename BackendType::template Matrix<index_t> m_row_keys;
  Matrix m_x_t, m_grad, m_grad_x0, m_x, m_x0_hat;
  Matrix m_output_grad;             // m_grad + a composite's output gradient
  bool m_has_output_grad = false;
  InteractionMatrix m_x_t_sparse;      // the sparse training path's x_t
  std::vector<index_t> m_sparse_rows;  // 0 .. B-1: its rows
  const Matrix* m_x0 = nullptr;
  const Matrix* m_x_t_ptr = nullptr;
  const Matrix* m_out = nullptr;
  LatentReverseChain<BackendType, DenoiserType> m_latent;
};

}  // namespace recdiff
