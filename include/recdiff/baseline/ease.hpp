#pragma once
/// @file
/// EASE (Steck 2019): a closed-form item-item linear model with a zero diagonal.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <recdiff/config.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/score_matrix.hpp>

namespace recdiff {

/// Settings of Ease.
struct EaseOptions {
  /// Largest memory fit() may take for its items x items matrices, in bytes (see Ease::fit_bytes).
  std::uint64_t max_bytes = std::uint64_t{8} << 30;
  /// OpenMP threads for the Gram matrix and for scoring; 0 uses omp's default. Results do not
  /// depend on it.
  int num_threads = 0;
};

/// EASE (recfusion spec 5.3): with the training matrix X (users x items),
///   G = X^T X,  P = (G + lambda I)^{-1},  B = I - P diag(1 / diag P)  (so B_jj = 0),
/// and the scores of a user with input row x are x B. Satisfies Scorer.
///
/// X is binary by default. fit() also takes an input weighting (core/input_weighting.hpp): with
/// TimeLinearInput the entry at position p of a row of length n is input(p, n), T-DiffRec's
/// time-aware weights (Wang et al., SIGIR 2023, section 3.5), both in X^T X and in the rows x that
/// score() multiplies by B, so that EASE sees the same input as T-DiffRec. Which items are
/// masked at evaluation does not change (the evaluator's masks stay binary).
///
/// Numerics: G is accumulated from the CSR rows (X is never densified) in double. Binary counts
/// are exact there, so the order of accumulation (and the thread count) cannot change it; weighted
/// products w_p w_q of two float weights are exact in double too, and each entry of G sums them
/// in user order whatever the threads, so the weighted G is also thread-independent. The
/// Cholesky factorisation and the inverse are done in double: float would lose about sqrt(I)
/// digits-of-epsilon in the solve (relative errors near 1e-4 at a few thousand items), enough to
/// reorder close scores and move the 4th decimal of the metrics, while double matches the float64
/// reference numbers. B is then stored in float, halving the memory and time of scoring.
/// Each stored entry of X counts (as 1, or as its weight), so rows should be duplicate-free.
class Ease {
 public:
  /// The items x items weights B, row-major so that x B sums rows of B.
  using WeightMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  explicit Ease(EaseOptions options = {}) : m_options(options) {}

  /// Peak memory of fit() for `items` items: two double items x items matrices (G + lambda I,
  /// factored in place, and its inverse). Saturates at UINT64_MAX.
  static std::uint64_t fit_bytes(index_t items) {
    const auto n = static_cast<std::uint64_t>(items < 0 ? 0 : items);
    if (n >= (std::uint64_t{1} << 30)) return UINT64_MAX;
    return 2 * sizeof(double) * n * n;
  }

  /// Fits B on `train` with L2 weight `lambda` > 0, the entries of X valued by `input` (a functor
  /// (position in row, row length) -> float such as BinaryInput, the default, or
  /// TimeLinearInput); score() then values its input rows the same way. Throws
  /// std::invalid_argument for a bad lambda, recdiff::NumericalError when the matrices would exceed
  /// EaseOptions::max_bytes (before allocating anything) or when the factorisation fails.
  template <class InputType = BinaryInput>
  void fit(const InteractionMatrix& train, double lambda, const InputType& input = {}) {
    if (!(lambda > 0) || !std::isfinite(lambda))
      throw std::invalid_argument("recdiff::Ease::fit: lambda must be finite and > 0, got " +
                                  std::to_string(lambda));
    const index_t n = train.num_items();
    const std::uint64_t need = fit_bytes(n);
    if (need > m_options.max_bytes)
      throw NumericalError("recdiff::Ease::fit: " + std::to_string(n) + " items need " +
                           std::to_string(need) + " bytes for the " + std::to_string(n) + " x " +
                           std::to_string(n) + " item-item matrices, above the limit of " +
                           std::to_string(m_options.max_bytes) + " bytes (EaseOptions::max_bytes)");
    m_weights.resize(0, 0);
    m_fitted = false;
    m_value = nullptr;
    m_input_name = input_name<InputType>();
    constexpr bool binary = std::is_same_v<InputType, BinaryInput>;
    Eigen::MatrixXd a;
    if constexpr (binary)
      a = gram(train);
    else
      a = weighted_gram(train, input);
    a.diagonal().array() += lambda;
    Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>> llt(a);  // factors in place: no third matrix
    if (llt.info() != Eigen::Success)
      throw NumericalError("recdiff::Ease::fit: Cholesky factorisation of G + lambda I failed (" +
                           std::to_string(n) + " items, lambda " + std::to_string(lambda) + ")");
    Eigen::MatrixXd p = Eigen::MatrixXd::Identity(n, n);
    llt.solveInPlace(p);
    a.resize(0, 0);
    m_weights.resize(n, n);
    const int threads = thread_count();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < n; ++j)
        m_weights(i, j) = i == j ? 0.0f : static_cast<float>(-p(i, j) / p(j, j));
    m_lambda = lambda;
    if constexpr (!binary) m_value = input;
    m_fitted = true;
  }

  /// Fills `out` (resized to users.size() x items) with x_u B for every users[b], x_u being the
  /// user's row of `input`, valued by the input weighting of the last fit().
  void score(const InteractionMatrix& input, std::span<const index_t> users,
             ScoreMatrix& out) const {
    if (!m_fitted) throw std::logic_error("recdiff::Ease::score: called before fit()");
    if (input.num_items() != num_items())
      throw std::invalid_argument("recdiff::Ease::score: input has " +
                                  std::to_string(input.num_items()) + " items, fitted on " +
                                  std::to_string(num_items()));
    const auto rows = static_cast<index_t>(users.size());
    out.resize(rows, num_items());
    const int threads = thread_count();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (index_t b = 0; b < rows; ++b) {
      auto row = out.row(b);
      row.setZero();
      const auto items = input.items_of(users[static_cast<std::size_t>(b)]);
      if (!m_value) {
        for (const index_t i : items) row.noalias() += m_weights.row(i);
      } else {
        for (std::size_t p = 0; p < items.size(); ++p)
          row.noalias() += m_value(p, items.size()) * m_weights.row(items[p]);
      }
    }
  }

  index_t num_items() const noexcept { return static_cast<index_t>(m_weights.rows()); }
  /// B (items x items, zero diagonal); empty before fit().
  const WeightMatrix& weights() const noexcept { return m_weights; }
  /// The lambda of the last fit() (0 before).
  double lambda() const noexcept { return m_lambda; }
  /// The name of the last fit()'s input weighting ("binary", "time-linear"; "custom" for a
  /// functor without a `name`).
  const char* input_weighting() const noexcept { return m_input_name; }

 private:
  int thread_count() const {
#if defined(_OPENMP)
    return m_options.num_threads > 0 ? m_options.num_threads : omp_get_max_threads();
#else
    return 1;
#endif
  }

  // G = X^T X from CSR: weighted_gram with every weight 1 (1 x 1 sums exactly in double, so the
  // result is that of counting pairs).
  Eigen::MatrixXd gram(const InteractionMatrix& x) const { return weighted_gram(x, BinaryInput{}); }

  template <class InputType>
  static constexpr const char* input_name() {
    if constexpr (requires { InputType::name; })
      return InputType::name;
    else
      return "custom";
  }

  // G = X^T X for the weighted X. Each thread owns a contiguous range of columns of G and scans
  // all rows, adding w_p w_q (in double) to G(j, i) for every pair of positions (p, q) of a row
  // with item i in its range, w = input(position, row length): no shared writes, and each entry
  // sums over the users in order, so the result is independent of the partition.
  template <class InputType>
  Eigen::MatrixXd weighted_gram(const InteractionMatrix& x, const InputType& input) const {
    const index_t n = x.num_items();
    Eigen::MatrixXd g = Eigen::MatrixXd::Zero(n, n);
    const int threads = thread_count();
#pragma omp parallel num_threads(threads)
    {
#if defined(_OPENMP)
      const int t = omp_get_thread_num();
      const int nt = omp_get_num_threads();
#else
      const int t = 0;
      const int nt = 1;
#endif
      const auto lo = static_cast<index_t>(static_cast<std::int64_t>(n) * t / nt);
      const auto hi = static_cast<index_t>(static_cast<std::int64_t>(n) * (t + 1) / nt);
      std::vector<double> w;
      for (index_t u = 0; u < x.num_users(); ++u) {
        const auto row = x.items_of(u);
        w.resize(row.size());
        for (std::size_t p = 0; p < row.size(); ++p)
          w[p] = static_cast<double>(input(p, row.size()));
        for (std::size_t p = 0; p < row.size(); ++p) {
          const index_t i = row[p];
          if (i < lo || i >= hi) continue;
          double* column = g.col(i).data();
          for (std::size_t q = 0; q < row.size(); ++q) column[row[q]] += w[p] * w[q];
        }
      }
    }
    return g;
  }

  EaseOptions m_options;
  WeightMatrix m_weights;
  // The input weighting of the last fit(); empty for BinaryInput (every entry 1).
  std::function<float(std::size_t, std::size_t)> m_value;
  const char* m_input_name = "binary";
  double m_lambda = 0;
  bool m_fitted = false;
};

}  // namespace recdiff
