#pragma once
/// @file
/// RowTerm: the per-row inputs of an objective (step, SNR weight, sampling probability and the x0
/// reconstruction coefficients), stored as one (B x RowTerm::count) double matrix of the backend,
/// and mean_batch_loss, the scalar training loss of a batch.

#include <cstdint>
#include <span>
#include <vector>

#include <recdiff/noise/detail/checks.hpp>
#include <recdiff/schedule/diffusion_tables.hpp>

namespace recdiff {

/// Column layout of the per-row term matrix that `Objective::row_terms` fills and
/// `Objective::loss_and_gradient` / `Objective::x0_hat` read. Row b holds, for k = k_b:
struct RowTerm {
  static constexpr int step = 0;         ///< k_b, as a double (exact)
  static constexpr int weight = 1;       ///< w_b = Objective::weight(tables, k_b, reweight)
  static constexpr int probability = 2;  ///< p_b, the step sampler's factor (1 when uniform)
  static constexpr int recip = 3;        ///< sqrt_recip_alpha_bar_k (x0 from eps)
  static constexpr int recipm1 = 4;      ///< sqrt_recipm1_alpha_bar_k (x0 from eps)
  static constexpr int count = 5;        ///< number of columns
};

/// The batch loss (1/B) sum_b L_b / p_b from the per-row losses L_b of Objective::loss_and_gradient
/// (downloaded to the host) and the sampler's factors p_b (empty: all 1); summed in row order.
inline double mean_batch_loss(std::span<const double> row_loss, std::span<const double> p) {
  if (!p.empty() && p.size() != row_loss.size())
    policy_detail::shape_mismatch("recdiff::mean_batch_loss", "p", static_cast<std::int64_t>(p.size()),
                                  1, static_cast<std::int64_t>(row_loss.size()), 1);
  double sum = 0.0;
  for (std::size_t b = 0; b < row_loss.size(); ++b) sum += row_loss[b] / (p.empty() ? 1.0 : p[b]);
  return row_loss.empty() ? 0.0 : sum / static_cast<double>(row_loss.size());
}

namespace objective_detail {

/// Fills `rows` (B x RowTerm::count, backend storage) for steps k_b and probabilities p_b (empty p:
/// all 1), with w_b = weight(tables, k_b): assembled on the host, then uploaded. Throws
/// std::out_of_range for a bad step and std::invalid_argument for a size mismatch or a probability
/// that is not positive.
template <class BackendType, class MatrixType, class WeightFn>
void fill_row_terms(const typename BackendType::Context& ctx, const char* where,
                    const DiffusionTables& tables, std::span<const int> steps,
                    std::span<const double> p, WeightFn weight, MatrixType& rows) {
  policy_detail::check_steps(where, steps, tables.num_steps());
  if (!p.empty() && p.size() != steps.size())
    policy_detail::shape_mismatch(where, "p", static_cast<std::int64_t>(p.size()), 1,
                                  static_cast<std::int64_t>(steps.size()), 1);
  thread_local std::vector<double> host;
  host.assign(steps.size() * RowTerm::count, 0.0);
  for (std::size_t b = 0; b < steps.size(); ++b) {
    const int k = steps[b];
    const auto kk = static_cast<std::size_t>(k);
    const double pb = p.empty() ? 1.0 : p[b];
    if (!(pb > 0.0)) policy_detail::not_positive(where, "p", b, pb);
    double* r = host.data() + b * RowTerm::count;
    r[RowTerm::step] = static_cast<double>(k);
    r[RowTerm::weight] = weight(tables, k);
    r[RowTerm::probability] = pb;
    r[RowTerm::recip] = tables.sqrt_recip_alpha_bar()[kk];
    r[RowTerm::recipm1] = tables.sqrt_recipm1_alpha_bar()[kk];
  }
  BackendType::upload(ctx, std::span<const double>(host), static_cast<std::int64_t>(steps.size()),
                      RowTerm::count, rows);
}

}  // namespace objective_detail

}  // namespace recdiff
