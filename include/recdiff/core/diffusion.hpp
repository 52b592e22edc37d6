#pragma once
/// @file
/// Diffusion: the core template of recdiff. One object of each policy — backend, noise kernel,
/// schedule, denoiser, objective — composed into the forward process used for training and the
/// reverse chain used for inference (diffrec.md sections 2, 4 and 5).

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/concepts/denoiser.hpp>
#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/concepts/objective.hpp>
#include <recdiff/concepts/step_sampler.hpp>
#include <recdiff/core/latent_chain.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/objective/row_terms.hpp>
#include <recdiff/schedule/diffusion_tables.hpp>

namespace recdiff {

/// Run-time options of a Diffusion (diffrec.md sections 4.3 and 5).
struct DiffusionOptions {
  /// SNR reweighting of the per-row loss (on in every released DiffRec preset).
  bool reweight = true;
  /// T': 0 starts the reverse chain at the clean input, T' > 0 at q_sample(x0, T' - 1).
  int sampling_steps = 0;
  /// Add posterior noise in the reverse chain (off in every preset).
  bool sampling_noise = false;
  /// Seeds the diffusion noise and the denoiser's dropout masks.
  std::uint64_t seed = 1;
  /// Run the reverse chain exactly in the denoiser's first hidden space where that applies
  /// (core/latent_chain.hpp): same scores up to float rounding, several times faster.
  bool latent_chain = true;
};

/// A denoiser whose first layer is linear in x and whose readout is linear, exposing what the latent
/// reverse chain needs (Mlp).
template <class D, class BackendType>
concept LatentChainDenoiser =
    requires(D& d, const D& cd, const typename BackendType::Context& ctx,
             const typename BackendType::template Matrix<typename D::scalar_type>& z,
             typename BackendType::template Matrix<typename D::scalar_type>& h,
             std::span<const int> steps) {
      { cd.input_is_linear() } -> std::convertible_to<bool>;
      cd.first_weight_items_t();
      cd.last_layer().weight();
      cd.last_layer().bias();
      d.hidden_from_item_product(ctx, z, steps, h);
    };

/// A diffusion model over user interaction vectors.
///
/// @tparam BackendType  storage and kernels (CpuBackend)
/// @tparam NoiseType    forward kernel and posterior (Gaussian)
/// @tparam ScheduleType betas (DiffRecLinearVar, Linear, Constant, Cosine)
/// @tparam DenoiserType network predicting the objective's target from (x_k, k) (Mlp)
/// @tparam ObjectiveType what the network predicts and how it is scored (PredictX0, PredictEpsilon)
template <class BackendType, class NoiseType, class ScheduleType, class DenoiserType,
          class ObjectiveType>
  requires NoiseKernel<NoiseType, BackendType> && NoiseSchedule<ScheduleType> &&
           Denoiser<DenoiserType, BackendType> && Objective<ObjectiveType, BackendType>
class Diffusion {
 public:
  using backend_type = BackendType;
  using scalar_type = typename DenoiserType::scalar_type;
  using Matrix = typename BackendType::template Matrix<scalar_type>;
  using Context = typename BackendType::Context;

  /// Builds the tables of `schedule` once (double precision) and takes ownership of the denoiser.
  /// Throws std::invalid_argument when T' exceeds the number of steps or is negative.
  Diffusion(ScheduleType schedule, DenoiserType denoiser, DiffusionOptions options = {})
      : m_schedule(std::move(schedule)),
        m_tables(m_schedule),
        m_denoiser(std::move(denoiser)),
        m_options(options) {
    if (options.sampling_steps < 0 || options.sampling_steps > m_tables.num_steps())
      throw std::invalid_argument("recdiff::Diffusion: sampling_steps must be in [0, steps = " +
                                  std::to_string(m_tables.num_steps()) + "], got " +
                                  std::to_string(options.sampling_steps));
  }

  const ScheduleType& schedule() const noexcept { return m_schedule; }
  const DiffusionTables& tables() const noexcept { return m_tables; }
  const DiffusionOptions& options() const noexcept { return m_options; }
  DenoiserType& denoiser() noexcept { return m_denoiser; }
  const DenoiserType& denoiser() const noexcept { return m_denoiser; }

  /// The training objective on a batch x0 (B x I) with gradients: draws steps with `sampler`,
  /// noises x0, runs the denoiser (dropout on), and back-propagates
  /// loss = mean_b weight_b * mse_b / p_b into the denoiser's parameter gradients. Feeds the
  /// per-row weighted losses to the sampler's history. Returns the loss.
  /// `step_counter` (the global batch index) keys the noise and dropout draws.
  template <class SamplerType>
    requires StepSampler<SamplerType>
  double loss_and_gradients(const Context& ctx, const Matrix& x0, SamplerType& sampler,
                            std::uint32_t step_counter) {
    const auto batch = static_cast<std::size_t>(x0.rows());
    sampler.sample(batch, m_options.seed, step_counter, m_steps, m_p);
    const Matrix* x_t = &x0;
    if (!m_tables.is_noiseless()) {
      NoiseType::template forward_coefficients<BackendType, scalar_type>(ctx, m_tables, m_steps, m_coef_a,
                                                                         m_coef_b);
      NoiseType::template q_sample<BackendType, scalar_type>(ctx, x0, m_coef_a, m_coef_b,
                                                             m_options.seed, step_counter, m_x_t,
                                                             m_eps);
      x_t = &m_x_t;
    } else {
      m_eps.setZero(x0.rows(), x0.cols());
    }
    m_denoiser.forward(ctx, *x_t, m_steps, true, m_options.seed, step_counter, m_out);
    ObjectiveType::template row_terms<BackendType>(ctx, m_tables, m_steps, m_p, m_options.reweight,
                                                   m_rows);
    ObjectiveType::template loss_and_gradient<BackendType, scalar_type>(ctx, m_out, x0, *x_t, m_eps,
                                                                        m_rows, m_row_loss, m_grad);
    m_row_loss_host.resize(batch);
    BackendType::download(ctx, m_row_loss, std::span<double>(m_row_loss_host));
    const double loss = mean_batch_loss(m_row_loss_host, m_p);
    sampler.update(m_steps, m_row_loss_host);
    m_denoiser.backward(ctx, m_grad);
    return loss;
  }

  /// Runs the reverse chain on the CSR rows `users` of `input` (the users' clean interaction
  /// vectors, entries valued by `value(position, length)`), writing the final x (B x I) to `out`.
  /// With T' = 0 the first denoiser pass reads the rows sparsely (first layer as CSR x dense), and
  /// where the policies allow it (options().latent_chain) the whole chain runs in the denoiser's
  /// first hidden space (LatentReverseChain).
  template <class ValueFn>
  void reverse_chain(const Context& ctx, const InteractionMatrix& input,
                     std::span<const index_t> users, ValueFn value, std::uint32_t step_counter,
                     Matrix& out) {
    if constexpr (LatentChainDenoiser<DenoiserType, BackendType> &&
                  ObjectiveType::output_is_x0 && NoiseType::linear_posterior_mean) {
      if (m_options.latent_chain && m_options.sampling_steps == 0 && !m_options.sampling_noise &&
          m_denoiser.input_is_linear()) {
        m_latent.run(ctx, m_denoiser, m_tables, input, users, value, out);
        return;
      }
    }
    const auto batch = static_cast<std::int64_t>(users.size());
    BackendType::densify(ctx, input, users, m_x, value);
    const int steps = m_tables.num_steps();
    bool sparse_input = true;
    if (m_options.sampling_steps > 0 && !m_tables.is_noiseless()) {
      // Start from q_sample(x0, T' - 1) with fresh noise: the input is then dense.
      m_steps.assign(static_cast<std::size_t>(batch), m_options.sampling_steps - 1);
      NoiseType::template forward_coefficients<BackendType, scalar_type>(ctx, m_tables, m_steps, m_coef_a,
                                                                         m_coef_b);
      NoiseType::template q_sample<BackendType, scalar_type>(ctx, m_x, m_coef_a, m_coef_b,
                                                             m_options.seed, step_counter, m_x,
                                                             m_eps);
      sparse_input = false;
    }
    for (int k = steps - 1; k >= 0; --k) {
      m_steps.assign(static_cast<std::size_t>(batch), k);
      if (sparse_input)
        m_denoiser.forward_sparse(ctx, input, users, value, m_steps, m_out);
      else
        m_denoiser.forward(ctx, m_x, m_steps, false, m_options.seed, step_counter, m_out);
      sparse_input = false;
      if (m_tables.is_noiseless()) {
        m_x.swap(m_out);  // DiffRec's s = 0 case: x = f(x, k)
        continue;
      }
      const Matrix* x0_hat = &m_out;
      if constexpr (!ObjectiveType::output_is_x0) {
        ObjectiveType::template row_terms<BackendType>(ctx, m_tables, m_steps, {}, m_options.reweight,
                                                       m_rows);
        ObjectiveType::template x0_hat<BackendType, scalar_type>(ctx, m_out, m_x, m_rows, m_x0_hat);
        x0_hat = &m_x0_hat;
      }
      NoiseType::template posterior_coefficients<BackendType, scalar_type>(
          ctx, m_tables, m_steps, m_coef1, m_coef2, m_noise_std);
      if (m_options.sampling_noise)
        NoiseType::template reverse_step<BackendType, scalar_type>(
            ctx, *x0_hat, m_x, m_coef1, m_coef2, m_noise_std, m_options.seed,
            step_counter + static_cast<std::uint32_t>(k), m_x);
      else
        NoiseType::template posterior_mean<BackendType, scalar_type>(ctx, *x0_hat, m_x, m_coef1,
                                                                     m_coef2, m_x);
    }
    out.swap(m_x);
  }

 private:
  ScheduleType m_schedule;
  DiffusionTables m_tables;
  DenoiserType m_denoiser;
  DiffusionOptions m_options;
  // Work buffers, allocated once per batch shape and reused.
  std::vector<int> m_steps;
  std::vector<double> m_p;
  std::vector<double> m_row_loss_host;
  typename BackendType::template Matrix<double> m_rows, m_row_loss;
  Matrix m_coef_a, m_coef_b, m_coef1, m_coef2, m_noise_std;
  Matrix m_x_t, m_eps, m_out, m_grad, m_x, m_x0_hat;
  LatentReverseChain<BackendType, DenoiserType> m_latent;
};

}  // namespace recdiff
