#pragma once
/// @file
/// RowTerm: the per-row inputs every objective shares (step, loss weight, sampling probability),
/// stored as the first columns of one (B x O::row_term_count) double matrix of the backend, and
/// mean_batch_loss, the scalar training loss of a batch. An objective appends its own columns
/// after these (PredictEpsilon: the x0-from-eps coefficients).

#include <cstdint>
#include <span>
#include <vector>

#include <recdiff/noise/detail/checks.hpp>

namespace recdiff {

/// The shared leading columns of the per-row term matrix. Row b holds, for k = k_b:
struct RowTerm {
  static constexpr int step = 0;         ///< k_b, as a double (exact)
  static constexpr int weight = 1;       ///< w_b = Objective::weight(noise, k_b, reweight)
  static constexpr int probability = 2;  ///< p_b, the step sampler's factor (1 when uniform)
  static constexpr int count = 3;        ///< number of shared columns
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

/// Fills `rows` (B x columns, backend storage) for steps k_b and probabilities p_b (empty p: all
/// 1): the RowTerm columns with w_b = weight(k_b), then extra(k_b, row + RowTerm::count) writes
/// the objective's own columns. Assembled on the host, then uploaded. Throws std::out_of_range for
/// a bad step and std::invalid_argument for a size mismatch or a probability that is not positive.
template <class BackendType, class MatrixType, class WeightFn, class ExtraFn>
void fill_row_terms(const typename BackendType::Context& ctx, const char* where, int num_steps,
                    int columns, std::span<const int> steps, std::span<const double> p,
                    WeightFn weight, ExtraFn extra, MatrixType& rows) {
  policy_detail::check_steps(where, steps, num_steps);
  if (!p.empty() && p.size() != steps.size())
    policy_detail::shape_mismatch(where, "p", static_cast<std::int64_t>(p.size()), 1,
                                  static_cast<std::int64_t>(steps.size()), 1);
  thread_local std::vector<double> host;
  const auto width = static_cast<std::size_t>(columns);
  host.assign(steps.size() * width, 0.0);
  for (std::size_t b = 0; b < steps.size(); ++b) {
    const int k = steps[b];
    const double pb = p.empty() ? 1.0 : p[b];
    if (!(pb > 0.0)) policy_detail::not_positive(where, "p", b, pb);
    double* r = host.data() + b * width;
    r[RowTerm::step] = static_cast<double>(k);
    r[RowTerm::weight] = weight(k);
    r[RowTerm::probability] = pb;
    extra(k, r + RowTerm::count);
  }
  BackendType::upload(ctx, std::span<const double>(host), static_cast<std::int64_t>(steps.size()),
                      columns, rows);
}

}  // namespace objective_detail

}  // namespace recdiff
