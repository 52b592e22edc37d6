#pragma once
/// @file
/// PredictX0: the denoiser predicts x0 (DiffRec's mean_type "x0", every released preset).

#include <cstdint>
#include <span>

#include <recdiff/concepts/noise_kernel.hpp>
#include <recdiff/noise/detail/checks.hpp>
#include <recdiff/noise/gaussian_tables.hpp>
#include <recdiff/objective/detail/loss_kernels.hpp>
#include <recdiff/objective/row_terms.hpp>

namespace recdiff {

/// The x0 objective (DiffRec, Wang et al., SIGIR 2023, Eq. 10-12 with the released code's SNR
/// weighting; docs/models.md). For a batch with model output `out` (B x I), row b at step k_b,
/// sampled with factor p_b:
///
///     l_b = mean_i (x0 - out)^2,   L_b = w_b l_b,   loss = (1/B) sum_b L_b / p_b,
///     w_b = SNR_{k-1} - SNR_k for k >= 1, 1 for k = 0 (1 for every k without reweighting).
///
/// L_b (before the division by p_b) is what the importance sampler records. Needs a GaussianNoise
/// kernel (the SNR table). Stateless; every function is static, templated on the backend and the
/// scalar type T (not deducible: call `PredictX0::loss_and_gradient<CpuBackend, float>(...)`).
struct PredictX0 {
  /// The backend's dense matrix of T.
  template <class BackendType, class T>
  using Matrix = typename BackendType::template Matrix<T>;

  static constexpr const char* name = "PredictX0";  ///< name in messages
  /// True: the output is x0_hat.
  static constexpr bool output_is_x0 = true;
  /// Only the shared RowTerm columns.
  static constexpr int row_term_count = RowTerm::count;

  /// w_k = SNR_{k-1} - SNR_k for k >= 1 and 1 for k = 0 when `reweight`; 1 when not, and 1 for a
  /// noiseless kernel. Throws std::out_of_range unless 0 <= k < T.
  template <GaussianNoise NoiseType>
  static double weight(const NoiseType& noise, int k, bool reweight) {
    const GaussianTables& tables = noise.tables();
    const int steps[1] = {k};
    policy_detail::check_steps("recdiff::PredictX0::weight", steps, tables.num_steps());
    if (!reweight || k == 0 || tables.is_noiseless()) return 1.0;
    const auto kk = static_cast<std::size_t>(k);
    return tables.snr()[kk - 1] - tables.snr()[kk];
  }

  /// Fills the per-row terms (B x RowTerm::count) for steps k_b and sampler factors p_b (empty p:
  /// all 1, as in evaluation). Throws std::out_of_range for a step outside [0, T) and
  /// std::invalid_argument when p has the wrong size or a non-positive entry.
  template <class BackendType, GaussianNoise NoiseType>
  static void row_terms(const typename BackendType::Context& ctx, const NoiseType& noise,
                        std::span<const int> steps, std::span<const double> p, bool reweight,
                        Matrix<BackendType, double>& rows) {
    objective_detail::fill_row_terms<BackendType>(
        ctx, "recdiff::PredictX0::row_terms", noise.num_steps(), row_term_count, steps, p,
        [&](int k) { return weight(noise, k, reweight); }, [](int, double*) {}, rows);
  }

  /// Fused, one pass per row: row_loss_b = L_b = w_b mean_i (out - x0)^2 (B x 1, double, summed in
  /// double) and grad = d loss / d out = (w_b / p_b) (2 / (B I)) (out - x0) (B x I, T).
  /// x_t and the workspace are not used (same signature as every objective). Throws
  /// std::invalid_argument on a shape mismatch.
  template <class BackendType, class T, GaussianNoise NoiseType>
  static void loss_and_gradient(const typename BackendType::Context& ctx, const NoiseType&,
                                typename NoiseType::template Workspace<BackendType, T>&,
                                const Matrix<BackendType, T>& out, const Matrix<BackendType, T>& x0,
                                const Matrix<BackendType, T>&,
                                const Matrix<BackendType, double>& rows,
                                Matrix<BackendType, double>& row_loss,
                                Matrix<BackendType, T>& grad) {
    constexpr const char* where = "recdiff::PredictX0::loss_and_gradient";
    const std::int64_t b = out.rows(), n = out.cols();
    policy_detail::check_shape(where, "x0", x0, b, n);
    policy_detail::check_shape(where, "rows", rows, b, row_term_count);
    row_loss.resize(b, 1);
    grad.resize(b, n);
    const objective_detail::MseRowKernel<T> kernel{out.data(),
                                                   x0.data(),
                                                   rows.data(),
                                                   row_loss.data(),
                                                   grad.data(),
                                                   n,
                                                   b > 0 ? 1.0 / static_cast<double>(b) : 0.0,
                                                   row_term_count};
    BackendType::for_each_row(ctx, b, kernel);
  }

  /// grad_x0 -= grad_out: the loss's dependence on x0 as the target (L-DiffRec trains its encoder
  /// through it, together with the noise path).
  template <class BackendType, class T>
  static void add_target_gradient(const typename BackendType::Context& ctx,
                                  const Matrix<BackendType, T>& grad_out,
                                  Matrix<BackendType, T>& grad_x0) {
    policy_detail::check_shape("recdiff::PredictX0::add_target_gradient", "grad_x0", grad_x0,
                               grad_out.rows(), grad_out.cols());
    BackendType::for_each(ctx, grad_out.rows(), grad_out.cols(),
                          objective_detail::SubtractKernel<T>{grad_out.data(), grad_x0.data(),
                                                              grad_out.cols()});
  }

  /// x0_hat = out (the output is the prediction of x0).
  template <class BackendType, class T, GaussianNoise NoiseType>
  static void x0_hat(const typename BackendType::Context&, const NoiseType&,
                     const Matrix<BackendType, T>& out, const Matrix<BackendType, T>&,
                     const Matrix<BackendType, double>&, Matrix<BackendType, T>& x0_hat_out) {
    x0_hat_out = out;
  }
};

}  // namespace recdiff
