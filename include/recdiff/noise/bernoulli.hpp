#pragma once
/// @file
/// Bernoulli: the binary (binomial) noise kernels of RecFusion (forward sampling q(x_k | x_0),
/// closed-form posteriors and the reverse step), for the two-way flip, the paper's Eq. 6 and the
/// one-way "to zeros" process, owning their BernoulliTables.

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/noise/bernoulli_tables.hpp>
#include <recdiff/noise/detail/bernoulli_kernels.hpp>
#include <recdiff/noise/detail/checks.hpp>
#include <recdiff/noise/noise_draw.hpp>

namespace recdiff {

/// Binary diffusion over {0, 1}^I (RecFusion, Bénédict et al. 2023, Sec. 2.3.2 and Eq. 6-7): each
/// item bit follows a two-state Markov chain with step-k transition q(x_k = 1 | x_{k-1}) given by
/// `Process` (a BernoulliProcess tag, noise/bernoulli_tables.hpp):
///
/// - `TwoWayFlip`: flip with probability beta_k (the released code's default);
///   P(x_k = 1 | x_0) = 1/2 + (x_0 - 1/2) prod_{s<=k} (1 - 2 beta_s);
/// - `FairCoin`: the paper's Eq. 6, keep with probability 1 - beta_k, else a fair coin (flip with
///   probability beta_k / 2 each way); P(x_k = 1 | x_0) = abar_k x_0 + (1 - abar_k) / 2;
/// - `OneWay`: "to zeros" (Sec. 2.3.2 (c), the released code's `jascha_bin_process`): a 1
///   survives with probability 1 - beta_k / 2, a 0 stays 0; P(x_k = 1 | x_0) = x_0 kappa_k with
///   kappa_k = prod_{s<=k} (1 - beta_s / 2).
///
/// **The paper's Eq. 7 is wrong.** It gives the marginal of Eq. 6 as abar_t x_0 + (1 - abar_t)
/// abar_t / 2 (also appendix Eq. 10-11): the derivation adds the last step's beta_t / 2 twice and
/// then rewrites (1 - abar_t) / 2 + beta_t / 2 as (1 - abar_t) abar_t / 2, whose limit is 0, not
/// the fair coin's 1/2. Since q(x_t = 1 | x_{t-1}) is affine in x_{t-1}, m_t - 1/2 = (1 - beta_t)
/// (m_{t-1} - 1/2), which gives the FairCoin form above; this kernel uses the corrected forms only.
/// Note also that the released code implements neither Eq. 6 (its two-way process flips with
/// probability beta, twice Eq. 6's) nor a chain that tends to the data's mean activity.
///
/// Steps are 0-based: step k means k + 1 noise steps were applied (the paper's t = k + 1), and
/// the marginal at k uses s = 0..k. The closed forms (BernoulliTables) are built once in double;
/// per-row probabilities are cast to T and uploaded into the Workspace.
///
/// - q_sample draws x_t in {0, 1} from the marginal of each row's step with Philox uniforms keyed
///   by the NoiseDraw as Gaussian keys its normals (per-row key, 64-column groups), so draws do
///   not depend on the thread count or the backend. x0 should be binary; a non-binary entry x0 in
///   [0, 1] is drawn with the marginal's affine extension P = m0 + x0 (m1 - m0) (m0, m1 the
///   marginals at x0 = 0 and 1), i.e. as if x0 were a Bernoulli(x0) bit.
/// - reverse_step takes x0_hat as a probability in [0, 1] (the model's P(x_0 = 1)) and returns
///   P(x_{k-1} = 1 | x_k) = x0_hat posterior(k, x_k, 1) + (1 - x0_hat) posterior(k, x_k, 0), or a
///   Bernoulli draw of it; at k = 0 it returns x0_hat itself.
/// - For OneWay, q_sample_sparse gives the same draws on CSR rows without densifying them.
///
/// Satisfies NoiseKernel, BetaScheduleNoise and BernoulliNoise; not DifferentiableNoise (x_t is a
/// draw, not a smooth function of x0) and not GaussianNoise, so the Gaussian objectives reject it
/// (pair it with BernoulliBce).
template <BernoulliProcess Process>
class Bernoulli {
 public:
  /// The process tag (TwoWayFlip, FairCoin or OneWay).
  using process_type = Process;
  /// Name used in messages and checkpoints, e.g. "Bernoulli<OneWay>".
  static constexpr const char* name = Process::kernel_name;

  /// Work buffers of one batch shape: per-row marginals (B x 2: P(x_k = 1 | x_0 = 0), P(x_k = 1 |
  /// x_0 = 1)) for q_sample and per-row reverse coefficients (B x
  /// noise_detail::BernoulliReverseColumn::count) for reverse_step. There is no noise buffer.
  template <class BackendType, class T>
  struct Workspace {
    typename BackendType::template Matrix<T> marginal, reverse;
  };

  /// The tables of `schedule`.
  template <class ScheduleType>
    requires(!std::is_same_v<ScheduleType, Bernoulli>) && NoiseSchedule<ScheduleType>
  explicit Bernoulli(const ScheduleType& schedule) : m_tables(schedule) {}

  /// T.
  int num_steps() const noexcept { return m_tables.num_steps(); }
  /// True for a schedule without betas (x_k = x_0).
  bool is_noiseless() const noexcept { return m_tables.is_noiseless(); }
  /// The per-step closed forms.
  const BernoulliTables<Process>& tables() const noexcept { return m_tables; }
  /// beta_0..beta_{T-1} as the schedule gave them (empty for a noiseless schedule).
  std::span<const double> betas() const noexcept { return m_tables.betas(); }

  /// P(x_k = 1 | x_0) in double, the closed form of the class comment; for x0 outside {0, 1} its
  /// affine extension. Throws std::out_of_range unless 0 <= k < T.
  double marginal(int k, double x0) const {
    check_step("recdiff::Bernoulli::marginal", k);
    return m_tables.marginal(k, x0);
  }

  /// q(x_{k-1} = 1 | x_k = x_t, x_0 = x0) in double (BernoulliTables; x0 itself at k = 0). Throws
  /// std::out_of_range unless 0 <= k < T and std::invalid_argument unless x_t and x0 are 0 or 1.
  double posterior(int k, int x_t, int x0) const {
    constexpr const char* where = "recdiff::Bernoulli::posterior";
    check_step(where, k);
    const auto check_bit = [&](const char* arg, int value) {
      if (value != 0 && value != 1)
        throw std::invalid_argument(std::string(where) + ": " + arg + " must be 0 or 1, got " +
                                    std::to_string(value));
    };
    check_bit("x_t", x_t);
    check_bit("x0", x0);
    return m_tables.posterior(x_t, x0)[static_cast<std::size_t>(k)];
  }

  /// x_t[b, i] = 1 with probability P(x_{k_b} = 1 | x_0 = x0[b, i]), else 0, decided by the
  /// draw's Philox uniform of (row key of b, i) (see the class comment for a non-binary x0). The
  /// per-row marginals go to ws.marginal. x_t may alias x0. Throws std::out_of_range for a step
  /// outside [0, T) and std::invalid_argument when steps does not hold one step per row.
  template <class BackendType, class T>
  void q_sample(const typename BackendType::Context& ctx,
                const typename BackendType::template Matrix<T>& x0, std::span<const int> steps,
                const NoiseDraw& draw, Workspace<BackendType, T>& ws,
                typename BackendType::template Matrix<T>& x_t) const {
    constexpr const char* where = "recdiff::Bernoulli::q_sample";
    const std::int64_t rows = x0.rows(), cols = x0.cols();
    check_rows(where, steps, rows);
    policy_detail::check_steps(where, steps, num_steps());
    upload_rows<BackendType, T>(ctx, steps, 2, ws.marginal, [&](std::size_t k, T* r) {
      r[0] = static_cast<T>(m_tables.marginal_zero()[k]);
      r[1] = static_cast<T>(m_tables.marginal_one()[k]);
    });
    if (&x_t != &x0) x_t.resize(rows, cols);
    const noise_detail::BernoulliQSampleKernel<T> kernel{x0.data(), ws.marginal.data(),
                                                         x_t.data(), cols, draw};
    BackendType::for_each(ctx, rows, noise_detail::column_groups(cols), kernel);
  }

  /// out = P(x_{k-1} = 1 | x_k = x_t, x_0 ~ Bernoulli(x0_hat)) = x0_hat posterior(k, x_t, 1) +
  /// (1 - x0_hat) posterior(k, x_t, 0) for binary x_t (a non-binary x_t, e.g. the previous step's
  /// probability, mixes the x_t = 0 and x_t = 1 values with weight x_t); when `sample`, rows with
  /// k_b > 0 get a Bernoulli draw of that probability instead (the draw's uniform of (row key, i)).
  /// Rows with k_b = 0 always get x0_hat itself, and so does every row of a noiseless kernel (whose
  /// reverse step draws nothing). out may alias x_t or x0_hat. Throws
  /// std::invalid_argument on a shape mismatch, std::out_of_range for a bad step.
  template <class BackendType, class T>
  void reverse_step(const typename BackendType::Context& ctx,
                    const typename BackendType::template Matrix<T>& x0_hat,
                    const typename BackendType::template Matrix<T>& x_t,
                    std::span<const int> steps, const NoiseDraw& draw, bool sample,
                    Workspace<BackendType, T>& ws,
                    typename BackendType::template Matrix<T>& out) const {
    constexpr const char* where = "recdiff::Bernoulli::reverse_step";
    using C = noise_detail::BernoulliReverseColumn;
    const std::int64_t rows = x_t.rows(), cols = x_t.cols();
    policy_detail::check_shape(where, "x0_hat", x0_hat, rows, cols);
    check_rows(where, steps, rows);
    policy_detail::check_steps(where, steps, num_steps());
    upload_rows<BackendType, T>(ctx, steps, C::count, ws.reverse, [&](std::size_t k, T* r) {
      const double p00 = m_tables.posterior(0, 0)[k], p01 = m_tables.posterior(0, 1)[k];
      const double p10 = m_tables.posterior(1, 0)[k], p11 = m_tables.posterior(1, 1)[k];
      r[C::a0] = static_cast<T>(p00);
      r[C::b0] = static_cast<T>(p01 - p00);
      r[C::a1] = static_cast<T>(p10);
      r[C::b1] = static_cast<T>(p11 - p10);
      r[C::draws] = k > 0 && !is_noiseless() ? T(1) : T(0);
    });
    if (&out != &x_t && &out != &x0_hat) out.resize(rows, cols);
    const noise_detail::BernoulliReverseKernel<T> kernel{
        x0_hat.data(), x_t.data(), ws.reverse.data(), out.data(), cols, draw, sample};
    BackendType::for_each(ctx, rows, noise_detail::column_groups(cols), kernel);
  }

  /// The one-way q_sample on CSR rows: row b of the result holds the entries of row users[b] of
  /// `x` (every stored entry is a 1) that survive k_b + 1 steps, in their original order (with
  /// their ratings and timestamps, when x has them). An entry (b, i) survives when the draw's
  /// Philox uniform of (row key of b, i) falls below P(x_{k_b} = 1 | x_0 = 1) cast to T, so the
  /// densified result equals q_sample<B, T> on the densified rows with the same draw, bit for bit.
  /// Runs on the host: draw.row_keys, when set, must point to host memory (e.g. CpuBackend
  /// storage). Cost O(nnz of the rows). Throws std::invalid_argument when steps does not hold one
  /// step per user or a user is outside x, std::out_of_range for a bad step.
  template <class T = float>
  InteractionMatrix q_sample_sparse(const InteractionMatrix& x, std::span<const index_t> users,
                                    std::span<const int> steps, const NoiseDraw& draw) const
    requires(Process::one_way)
  {
    constexpr const char* where = "recdiff::Bernoulli::q_sample_sparse";
    check_rows(where, steps, static_cast<std::int64_t>(users.size()));
    policy_detail::check_steps(where, steps, num_steps());
    for (const index_t u : users)
      if (u < 0 || u >= x.num_users())
        throw std::invalid_argument(std::string(where) + ": user " + std::to_string(u) +
                                    " outside [0, " + std::to_string(x.num_users()) + ")");
    const bool extra = x.has_ratings();
    const bool times = x.has_timestamps();
    std::vector<offset_t> offsets(users.size() + 1, 0);
    std::vector<index_t> indices;
    std::vector<float> ratings;
    std::vector<std::int64_t> timestamps;
    for (std::size_t b = 0; b < users.size(); ++b) {
      const index_t u = users[b];
      const T p = static_cast<T>(m_tables.marginal_one()[static_cast<std::size_t>(steps[b])]);
      const auto items = x.items_of(u);
      const std::uint32_t key = draw.row(static_cast<std::int64_t>(b));
      for (std::size_t n = 0; n < items.size(); ++n) {
        const float uniform = philox::uniform(draw.seed, draw.stream, draw.counter, key,
                                              static_cast<std::uint32_t>(items[n]));
        if (noise_detail::bernoulli_bit(uniform, p) != T(1)) continue;
        indices.push_back(items[n]);
        if (extra) ratings.push_back(x.ratings_of(u)[n]);
        if (times) timestamps.push_back(x.timestamps_of(u)[n]);
      }
      offsets[b + 1] = static_cast<offset_t>(indices.size());
    }
    return InteractionMatrix(static_cast<index_t>(users.size()), x.num_items(), std::move(offsets),
                             std::move(indices), std::move(ratings), std::move(timestamps));
  }

 private:
  void check_step(const char* where, int k) const {
    const int one[1] = {k};
    policy_detail::check_steps(where, one, num_steps());
  }

  static void check_rows(const char* where, std::span<const int> steps, std::int64_t rows) {
    if (static_cast<std::int64_t>(steps.size()) != rows)
      policy_detail::shape_mismatch(where, "steps", static_cast<std::int64_t>(steps.size()), 1, rows,
                                    1);
  }

  // out (B x width, backend storage): fill(k_b, row b) writes row b's coefficients for step k_b;
  // assembled on the host, then uploaded.
  template <class BackendType, class T, class MatrixType, class Fill>
  static void upload_rows(const typename BackendType::Context& ctx, std::span<const int> steps,
                          int width, MatrixType& out, Fill fill) {
    thread_local std::vector<T> host;
    const auto w = static_cast<std::size_t>(width);
    host.assign(steps.size() * w, T(0));
    for (std::size_t b = 0; b < steps.size(); ++b)
      fill(static_cast<std::size_t>(steps[b]), host.data() + b * w);
    BackendType::upload(ctx, std::span<const T>(host), static_cast<std::int64_t>(steps.size()),
                        width, out);
  }

  BernoulliTables<Process> m_tables;
};

}  // namespace recdiff
