#pragma once
/// @file
/// The three binary noise processes of RecFusion (Bénédict et al. 2023, Sec. 2.3.2 and Eq. 6) as
/// tag types, and BernoulliTables: their closed-form marginals and posteriors per step, built once
/// in double from a schedule's betas.

#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <recdiff/concepts/noise_schedule.hpp>
#include <recdiff/schedule/detail/check.hpp>

namespace recdiff {

/// The released RecFusion code's default process (`jascha_bin_process = False`; the paper's Sec.
/// 2.3.2 (a)/(b)): every bit flips with probability beta_k,
///     q(x_k = 1 | x_{k-1}) = x_{k-1} (1 - 2 beta_k) + beta_k,
/// so P(x_k = 1 | x_0) = 1/2 + (x_0 - 1/2) prod_{s<=k} (1 - 2 beta_s), which tends to 1/2 for any
/// beta (not to the data's mean activity, as the paper's Sec. 2.3.2 (a) states).
struct TwoWayFlip {
  static constexpr const char* name = "TwoWayFlip";                ///< the tag's name
  static constexpr const char* kernel_name = "Bernoulli<TwoWayFlip>";  ///< Bernoulli's name
  static constexpr bool one_way = false;  ///< 0 is not absorbing
  static constexpr double limit = 0.5;    ///< the stationary P(x = 1)
  /// P(x_k = 1 | x_{k-1} = 1).
  static double stay(double beta) { return 1.0 - beta; }
  /// P(x_k = 1 | x_{k-1} = 0).
  static double rise(double beta) { return beta; }
  /// stay - rise: the factor by which P(x = 1) - limit shrinks in one step.
  static double contraction(double beta) { return 1.0 - 2.0 * beta; }
};

/// The paper's Eq. 6 (RecFusion, Sec. 2.3.2): each bit is kept with probability 1 - beta_k and
/// otherwise replaced by a fair coin, i.e. it flips with probability beta_k / 2 in each direction,
///     q(x_k = 1 | x_{k-1}) = x_{k-1} (1 - beta_k) + beta_k / 2,
/// so P(x_k = 1 | x_0) = abar_k x_0 + (1 - abar_k) / 2 with abar_k = prod_{s<=k} (1 - beta_s).
/// (The paper's Eq. 7 and appendix Eq. 10-11 give abar_k x_0 + (1 - abar_k) abar_k / 2, which is
/// wrong: its mean tends to 0, not 1/2.) Neither branch of the released code runs this process.
struct FairCoin {
  static constexpr const char* name = "FairCoin";                ///< the tag's name
  static constexpr const char* kernel_name = "Bernoulli<FairCoin>";  ///< Bernoulli's name
  static constexpr bool one_way = false;  ///< 0 is not absorbing
  static constexpr double limit = 0.5;    ///< the stationary P(x = 1)
  /// P(x_k = 1 | x_{k-1} = 1).
  static double stay(double beta) { return 1.0 - 0.5 * beta; }
  /// P(x_k = 1 | x_{k-1} = 0).
  static double rise(double beta) { return 0.5 * beta; }
  /// stay - rise = 1 - beta.
  static double contraction(double beta) { return 1.0 - beta; }
};

/// The one-way "to zeros" process (the released code with `jascha_bin_process = True`; the
/// paper's Sec. 2.3.2 (c), which the paper says RecFusionBin uses): x_k = x_{k-1} b with
/// b ~ Bernoulli(x_{k-1} (1 - beta_k) + beta_k / 2), i.e. a 1 survives a step with probability
/// 1 - beta_k / 2 and a 0 stays 0. P(x_k = 1 | x_0) = x_0 kappa_k with kappa_k = prod_{s<=k}
/// (1 - beta_s / 2); the stationary state is all zeros, so a sparse row stays sparse.
struct OneWay {
  static constexpr const char* name = "OneWay";                ///< the tag's name
  static constexpr const char* kernel_name = "Bernoulli<OneWay>";  ///< Bernoulli's name
  static constexpr bool one_way = true;  ///< 0 is absorbing
  static constexpr double limit = 0.0;   ///< the stationary P(x = 1)
  /// P(x_k = 1 | x_{k-1} = 1).
  static double stay(double beta) { return 1.0 - 0.5 * beta; }
  /// P(x_k = 1 | x_{k-1} = 0).
  static double rise(double) { return 0.0; }
  /// stay - rise = 1 - beta / 2.
  static double contraction(double beta) { return 1.0 - 0.5 * beta; }
};

/// A binary process tag: a two-state chain whose step-k transition depends on beta_k only, with
/// a fixed point that does not depend on beta (so the marginal has the closed form c + (x0 - c)
/// prod rho). TwoWayFlip, FairCoin and OneWay satisfy it; another process can be added as a tag.
///
/// - `P::name`, `P::kernel_name` (Bernoulli<P>'s name), `P::one_way` (0 is absorbing: then
///   rise(beta) must be 0, which is what lets a sparse row stay sparse);
/// - `P::stay(beta)` = P(x_k = 1 | x_{k-1} = 1), `P::rise(beta)` = P(x_k = 1 | x_{k-1} = 0);
/// - `P::contraction(beta)` = stay - rise and `P::limit` = rise / (1 - stay + rise), the same for
///   every beta in (0, 1].
template <class P>
concept BernoulliProcess = requires(double beta) {
  { P::name } -> std::convertible_to<const char*>;
  { P::kernel_name } -> std::convertible_to<const char*>;
  { P::one_way } -> std::convertible_to<bool>;
  { P::limit } -> std::convertible_to<double>;
  { P::stay(beta) } -> std::same_as<double>;
  { P::rise(beta) } -> std::same_as<double>;
  { P::contraction(beta) } -> std::same_as<double>;
};

/// The closed forms of a binary process, all in double and of length T (k = 0..T-1, 0-based: step k
/// means k + 1 noise steps were applied; the paper's t is k + 1). With s_k = P::stay(beta_k),
/// r_k = P::rise(beta_k), c = P::limit and rho_k = prod_{j<=k} P::contraction(beta_j):
///
///     marginal(k, x0)   = c + (x0 - c) rho_k                       = P(x_k = 1 | x_0)
///     marginal_zero_k   = marginal(k, 0),   marginal_one_k = marginal(k, 1)
///     posterior(x_t, x0)_k = q(x_{k-1} = 1 | x_k = x_t, x_0), with p = marginal(k - 1, x0):
///         x_t = 1:  s_k p / (s_k p + r_k (1 - p))
///         x_t = 0:  (1 - s_k) p / ((1 - s_k) p + (1 - r_k)(1 - p))
///     and, for k = 0, x_{-1} is x_0 itself: posterior(x_t, x0)_0 = x0.
///
/// For the two-way processes with flip probability f_k (beta_k, or beta_k / 2 for FairCoin) this is
/// (1 - f) p / [(1 - f) p + f (1 - p)] and f p / [f p + (1 - f)(1 - p)]; for OneWay it is 1 for
/// x_t = 1, 0 for x_t = 0 and x0 = 0, and (1 - s_k) kappa_{k-1} / (1 - kappa_k) for x_t = 0 and
/// x0 = 1. A conditioning event of probability 0 (x_t = 1 from x0 = 0 in OneWay) is given the
/// posterior under a uniform prior on x_{k-1}, s / (s + r) or (1 - s) / ((1 - s) + (1 - r)); for
/// OneWay and x_t = 1 that is 1, the value above.
///
/// **Noiseless tables** (a schedule with empty betas): is_noiseless() is true, every marginal is
/// x0 (marginal_zero 0, marginal_one 1, rho 1) and every posterior is x0, so q_sample returns a
/// binary x0 unchanged and the reverse step returns x0_hat.
template <BernoulliProcess Process>
class BernoulliTables {
 public:
  /// Tables for `num_steps` steps from `betas`. Empty betas give noiseless tables; otherwise betas
  /// must have num_steps entries, each in (0, 1]. Throws std::invalid_argument otherwise.
  BernoulliTables(int num_steps, std::span<const double> betas) : m_steps(num_steps) {
    constexpr const char* where = "recdiff::BernoulliTables";
    schedule_detail::check_steps(where, num_steps);
    const auto n = static_cast<std::size_t>(num_steps);
    if (!betas.empty() && betas.size() != n)
      schedule_detail::fail(where, "betas has the wrong length", static_cast<double>(betas.size()),
                            ("num_steps = " + std::to_string(num_steps) + " or 0").c_str());
    m_betas.assign(betas.begin(), betas.end());
    schedule_detail::check_betas(where, m_betas);
    build(n);
  }

  /// Tables of a schedule: BernoulliTables(schedule.num_steps(), schedule.betas()).
  template <class S>
    requires(!std::is_same_v<S, BernoulliTables>) && NoiseSchedule<S>
  explicit BernoulliTables(const S& schedule)
      : BernoulliTables(schedule.num_steps(), std::span<const double>(schedule.betas())) {}

  /// Number of diffusion steps T.
  int num_steps() const noexcept { return m_steps; }
  /// True for a schedule without betas (x_k = x_0).
  bool is_noiseless() const noexcept { return m_betas.empty(); }
  /// beta_k as given (empty for noiseless tables).
  const std::vector<double>& betas() const noexcept { return m_betas; }
  /// rho_k = prod_{j<=k} Process::contraction(beta_j): prod (1 - 2 beta) for TwoWayFlip, abar_k
  /// for FairCoin, kappa_k for OneWay (1 in noiseless tables).
  const std::vector<double>& contraction_product() const noexcept { return m_rho; }
  /// P(x_k = 1 | x_0 = 0).
  const std::vector<double>& marginal_zero() const noexcept { return m_marginal[0]; }
  /// P(x_k = 1 | x_0 = 1).
  const std::vector<double>& marginal_one() const noexcept { return m_marginal[1]; }
  /// q(x_{k-1} = 1 | x_k = x_t, x_0 = x0) for k = 0..T-1; x_t and x0 must be 0 or 1 (not
  /// checked here: Bernoulli::posterior checks them).
  const std::vector<double>& posterior(int x_t, int x0) const noexcept {
    return m_posterior[static_cast<std::size_t>(2 * x_t + x0)];
  }

  /// c + (x0 - c) rho_k, the marginal as an affine function of x0 (P(x_k = 1 | x_0) for binary
  /// x0). k is not checked here (Bernoulli::marginal checks it).
  double marginal(int k, double x0) const noexcept {
    return Process::limit + (x0 - Process::limit) * m_rho[static_cast<std::size_t>(k)];
  }

 private:
  void build(std::size_t n) {
    m_rho.assign(n, 1.0);
    for (auto& v : m_marginal) v.assign(n, 0.0);
    for (auto& v : m_posterior) v.assign(n, 0.0);
    for (std::size_t k = 0; k < n; ++k) {
      // Noiseless tables: x_k = x_0, and the posterior is x0 (as at k = 0).
      if (!m_betas.empty())
        m_rho[k] = (k == 0 ? 1.0 : m_rho[k - 1]) * Process::contraction(m_betas[k]);
      m_marginal[0][k] = marginal(static_cast<int>(k), 0.0);
      m_marginal[1][k] = marginal(static_cast<int>(k), 1.0);
      for (int x_t = 0; x_t < 2; ++x_t)
        for (int x0 = 0; x0 < 2; ++x0) {
          double& post = m_posterior[static_cast<std::size_t>(2 * x_t + x0)][k];
          if (k == 0 || m_betas.empty()) {
            post = static_cast<double>(x0);
            continue;
          }
          const double s = Process::stay(m_betas[k]), r = Process::rise(m_betas[k]);
          const double p = m_marginal[static_cast<std::size_t>(x0)][k - 1];
          // P(x_k = x_t | x_{k-1} = 1) and P(x_k = x_t | x_{k-1} = 0).
          const double from_one = x_t == 1 ? s : 1.0 - s;
          const double from_zero = x_t == 1 ? r : 1.0 - r;
          const double joint_one = from_one * p;
          const double evidence = joint_one + from_zero * (1.0 - p);
          post = evidence > 0.0 ? joint_one / evidence : from_one / (from_one + from_zero);
        }
    }
  }

  int m_steps;
  std::vector<double> m_betas, m_rho;
  std::vector<double> m_marginal[2];   // [x0][k]
  std::vector<double> m_posterior[4];  // [2 x_t + x0][k]
};

}  // namespace recdiff
