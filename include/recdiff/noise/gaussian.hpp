#pragma once
/// @file
/// Gaussian: the Gaussian noise policy (forward sampling q(x_k | x_0), posterior mean and reverse
/// step).

#include <cmath>
#include <cstdint>
#include <span>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/noise/detail/checks.hpp>
#include <recdiff/noise/detail/gaussian_kernels.hpp>
#include <recdiff/schedule/diffusion_tables.hpp>

namespace recdiff {

/// Gaussian noise: x_k = sqrt(alpha_bar_k) x0 + sqrt(1 - alpha_bar_k) eps, eps ~ N(0, I), and the
/// reverse step x_{k-1} = coef1_k x0_hat + coef2_k x_k (+ exp(log_var_k / 2) z for k > 0).
///
/// Stateless; every function is static and templated on the backend and the scalar type T (neither
/// can be deduced: call e.g. `Gaussian::q_sample<CpuBackend, float>(...)`). Per-row coefficients
/// are (B x 1) backend matrices filled from the double tables by forward_coefficients /
/// posterior_coefficients, which cast each entry to T (the reference casts to float32).
/// Noise is Philox normal (seed, Stream::noise, step_counter, row, column): the caller gives every
/// draw of one seed (each training batch, each reverse step) its own step_counter.
/// Outputs are resized to the input's shape (a no-op when they already have it).
struct Gaussian {
  /// The posterior mean is coef1 x0_hat + coef2 x_k, linear in both (the latent reverse chain
  /// relies on it).
  static constexpr bool linear_posterior_mean = true;

  /// The backend's dense matrix of T.
  template <class BackendType, class T>
  using Matrix = typename BackendType::template Matrix<T>;

  /// coef_a = sqrt_alpha_bar[k_b], coef_b = sqrt_one_minus_alpha_bar[k_b], both (B x 1) with
  /// B = steps.size(). Throws std::out_of_range for a step outside [0, T).
  template <class BackendType, class T>
  static void forward_coefficients(const typename BackendType::Context& ctx,
                                   const DiffusionTables& tables, std::span<const int> steps,
                                   Matrix<BackendType, T>& coef_a, Matrix<BackendType, T>& coef_b) {
    policy_detail::check_steps("recdiff::Gaussian::forward_coefficients", steps,
                               tables.num_steps());
    policy_detail::gather<BackendType, T>(ctx, tables.sqrt_alpha_bar(), steps, coef_a);
    policy_detail::gather<BackendType, T>(ctx, tables.sqrt_one_minus_alpha_bar(), steps, coef_b);
  }

  /// coef1 = posterior_mean_coef1[k_b], coef2 = posterior_mean_coef2[k_b] and noise_std =
  /// exp(0.5 posterior_log_variance_clipped[k_b]) for k_b > 0, 0 for k_b = 0 (the last reverse step
  /// adds no noise), all (B x 1). noise_std is computed in double, then cast to T.
  /// Throws std::out_of_range for a step outside [0, T).
  template <class BackendType, class T>
  static void posterior_coefficients(const typename BackendType::Context& ctx,
                                     const DiffusionTables& tables, std::span<const int> steps,
                                     Matrix<BackendType, T>& coef1, Matrix<BackendType, T>& coef2,
                                     Matrix<BackendType, T>& noise_std) {
    policy_detail::check_steps("recdiff::Gaussian::posterior_coefficients", steps,
                               tables.num_steps());
    policy_detail::gather<BackendType, T>(ctx, tables.posterior_mean_coef1(), steps, coef1);
    policy_detail::gather<BackendType, T>(ctx, tables.posterior_mean_coef2(), steps, coef2);
    policy_detail::gather<BackendType, T>(
        ctx, tables.posterior_log_variance_clipped(), steps, noise_std,
        [](int k, double log_var) { return k > 0 ? std::exp(0.5 * log_var) : 0.0; });
  }

  /// x_t = coef_a_b x0 + coef_b_b eps with eps_{b,i} = Philox normal (seed, Stream::noise,
  /// step_counter, b, i); eps is stored too (the target of PredictEpsilon). x0 is B x I, the
  /// coefficients B x 1. x_t may alias x0; eps may not. Throws std::invalid_argument on a shape
  /// mismatch.
  template <class BackendType, class T>
  static void q_sample(const typename BackendType::Context& ctx, const Matrix<BackendType, T>& x0,
                       const Matrix<BackendType, T>& coef_a, const Matrix<BackendType, T>& coef_b,
                       std::uint64_t seed, std::uint32_t step_counter, Matrix<BackendType, T>& x_t,
                       Matrix<BackendType, T>& eps) {
    constexpr const char* where = "recdiff::Gaussian::q_sample";
    const std::int64_t rows = x0.rows(), cols = x0.cols();
    policy_detail::check_shape(where, "coef_a", coef_a, rows, 1);
    policy_detail::check_shape(where, "coef_b", coef_b, rows, 1);
    x_t.resize(rows, cols);
    eps.resize(rows, cols);
    const noise_detail::QSampleKernel<T> kernel{
        x0.data(), coef_a.data(), coef_b.data(), x_t.data(), eps.data(), cols, seed, step_counter};
    BackendType::for_each(ctx, rows, noise_detail::column_groups(cols), kernel);
  }

  /// out = coef1_b x0_hat + coef2_b x_t: the posterior mean, i.e. the reverse step without noise.
  /// x0_hat and x_t are B x I, the coefficients B x 1; out may alias x_t or x0_hat.
  /// Throws std::invalid_argument on a shape mismatch.
  template <class BackendType, class T>
  static void posterior_mean(const typename BackendType::Context& ctx,
                             const Matrix<BackendType, T>& x0_hat,
                             const Matrix<BackendType, T>& x_t, const Matrix<BackendType, T>& coef1,
                             const Matrix<BackendType, T>& coef2, Matrix<BackendType, T>& out) {
    reverse<BackendType, T>(ctx, "recdiff::Gaussian::posterior_mean", x0_hat, x_t, coef1, coef2,
                            nullptr, 0, 0, out);
  }

  /// out = coef1_b x0_hat + coef2_b x_t + noise_std_b z with z_{b,i} = Philox normal (seed,
  /// Stream::noise, step_counter, b, i), drawn only for rows whose noise_std is non-zero (k = 0
  /// rows from posterior_coefficients). Same shapes and aliasing rules as posterior_mean.
  template <class BackendType, class T>
  static void reverse_step(const typename BackendType::Context& ctx,
                           const Matrix<BackendType, T>& x0_hat, const Matrix<BackendType, T>& x_t,
                           const Matrix<BackendType, T>& coef1, const Matrix<BackendType, T>& coef2,
                           const Matrix<BackendType, T>& noise_std, std::uint64_t seed,
                           std::uint32_t step_counter, Matrix<BackendType, T>& out) {
    constexpr const char* where = "recdiff::Gaussian::reverse_step";
    policy_detail::check_shape(where, "noise_std", noise_std, x_t.rows(), 1);
    reverse<BackendType, T>(ctx, where, x0_hat, x_t, coef1, coef2, noise_std.data(), seed,
                            step_counter, out);
  }

 private:
  template <class BackendType, class T>
  static void reverse(const typename BackendType::Context& ctx, const char* where,
                      const Matrix<BackendType, T>& x0_hat, const Matrix<BackendType, T>& x_t,
                      const Matrix<BackendType, T>& coef1, const Matrix<BackendType, T>& coef2,
                      const T* noise_std, std::uint64_t seed, std::uint32_t step_counter,
                      Matrix<BackendType, T>& out) {
    const std::int64_t rows = x_t.rows(), cols = x_t.cols();
    policy_detail::check_shape(where, "x0_hat", x0_hat, rows, cols);
    policy_detail::check_shape(where, "coef1", coef1, rows, 1);
    policy_detail::check_shape(where, "coef2", coef2, rows, 1);
    out.resize(rows, cols);
    const noise_detail::ReverseStepKernel<T> kernel{x0_hat.data(), x_t.data(), coef1.data(),
                                                    coef2.data(),  noise_std,  out.data(),
                                                    cols,          seed,       step_counter};
    BackendType::for_each(ctx, rows, noise_detail::column_groups(cols), kernel);
  }
};

static_assert(NoiseKernel<Gaussian, CpuBackend>);

}  // namespace recdiff
