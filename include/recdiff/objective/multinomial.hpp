#pragma once
/// @file
/// MultinomialLikelihood: the multinomial log-likelihood loss of Mult-VAE and Mult-DAE (Liang,
/// Krishnan, Hoffman and Jebara, "Variational Autoencoders for Collaborative Filtering", WWW 2018,
/// section 2.1), its value and its gradient with respect to the logits in one fused pass per row.
///
/// For a batch of B rows with logits f_b (the network output) and click counts x_b (binary rows),
///   loss = (1/B) sum_b l_b,  l_b = -sum_i x_bi log softmax(f_b)_i = n_b lse(f_b) - sum_i x_bi
///   f_bi,
/// with n_b = sum_i x_bi and lse the log-sum-exp, and
///   d loss / d f_bi = (n_b softmax(f_b)_i - x_bi) / B.
/// The log-softmax is never materialised: each row is shifted by its maximum, its exponentials are
/// written into the gradient buffer while their sum (in double) and x . (f - max) are accumulated,
/// and a last pass scales them.

#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/nn/log_softmax.hpp>

namespace recdiff {

namespace objective_detail {

/// One row of the multinomial loss against a dense target row: row_loss[b] = l_b and
/// grad_b = scale (n_b softmax(f_b) - x_b).
template <class T>
struct MultinomialDenseRow {
  const T* logits;    ///< B x cols
  const T* target;    ///< B x cols, x (counts; binary for implicit feedback)
  double* row_loss;   ///< B
  T* grad;            ///< B x cols (may not alias logits or target)
  std::int64_t cols;  ///< items
  double scale;       ///< the gradient's factor (1 / B for the batch mean)

  /// Processes row b.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t b) const {
    const T* f = logits + b * cols;
    const T* x = target + b * cols;
    T* g = grad + b * cols;
    const T m = nn::row_max(f, cols);
    double sum = 0.0, n = 0.0, dot = 0.0;
    for (std::int64_t i = 0; i < cols; ++i) {
      const T shifted = f[i] - m;
      const T e = nn::exp_nonpositive<T>(shifted);
      g[i] = e;
      sum += static_cast<double>(e);
      n += static_cast<double>(x[i]);
      dot += static_cast<double>(x[i]) * static_cast<double>(shifted);
    }
    row_loss[b] = n * std::log(sum) - dot;
    const T a = static_cast<T>(scale * n / sum);
    const T c = static_cast<T>(scale);
    for (std::int64_t i = 0; i < cols; ++i) g[i] = g[i] * a - x[i] * c;
  }
};

/// One row of the multinomial loss against the CSR row users[b] of an interaction matrix (every
/// stored entry counts 1): the same values as MultinomialDenseRow on the densified row, reading
/// only the row's nnz entries of the target.
template <class T>
struct MultinomialCsrRow {
  const T* logits;          ///< B x cols
  const offset_t* offsets;  ///< CSR row offsets of the target matrix
  const index_t* indices;   ///< CSR item indices
  const index_t* users;     ///< B row ids
  double* row_loss;         ///< B
  T* grad;                  ///< B x cols
  std::int64_t cols;        ///< items
  double scale;             ///< the gradient's factor

  /// Processes row b.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t b) const {
    const T* f = logits + b * cols;
    T* g = grad + b * cols;
    const T m = nn::row_max(f, cols);
    double sum = 0.0;
    for (std::int64_t i = 0; i < cols; ++i) {
      const T e = nn::exp_nonpositive<T>(f[i] - m);
      g[i] = e;
      sum += static_cast<double>(e);
    }
    const offset_t begin = offsets[users[b]], end = offsets[users[b] + 1];
    const double n = static_cast<double>(end - begin);
    double dot = 0.0;
    for (offset_t p = begin; p < end; ++p) dot += static_cast<double>(f[indices[p]] - m);
    row_loss[b] = n * std::log(sum) - dot;
    const T a = static_cast<T>(scale * n / sum);
    for (std::int64_t i = 0; i < cols; ++i) g[i] *= a;
    const T c = static_cast<T>(scale);
    for (offset_t p = begin; p < end; ++p) g[indices[p]] -= c;
  }
};

}  // namespace objective_detail

/// The multinomial negative log-likelihood of a batch (Liang et al., WWW 2018, eq. 2 with the
/// batch mean), value and gradient w.r.t. the logits (see the file comment). Owns its gradient
/// buffer (valid until the next call) and the per-row losses.
///
/// The dense form works on every backend. The CSR form reads the interaction matrix's arrays in
/// place, so it serves backends whose kernels run on the host (CpuBackend); its rows must be
/// duplicate-free for it to equal the dense form on the densified rows.
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class MultinomialLikelihood {
 public:
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// The batch loss (1/B) sum_b l_b for logits and a dense target of the same shape; the gradient
  /// of that loss w.r.t. the logits goes to gradient().
  /// @throws std::invalid_argument when the shapes differ or there are no columns
  double loss_and_gradient(const Context& ctx, const Matrix& logits, const Matrix& target) {
    if (target.rows() != logits.rows() || target.cols() != logits.cols())
      throw std::invalid_argument(
          "recdiff::MultinomialLikelihood: target is " + std::to_string(target.rows()) + "x" +
          std::to_string(target.cols()) + ", logits are " + std::to_string(logits.rows()) + "x" +
          std::to_string(logits.cols()));
    prepare(logits);
    if (logits.rows() == 0) return 0.0;
    BackendType::for_each_row(ctx, logits.rows(),
                              objective_detail::MultinomialDenseRow<T>{
                                  logits.data(), target.data(), m_row_loss.data(), m_grad.data(),
                                  logits.cols(), 1.0 / static_cast<double>(logits.rows())});
    return finish(ctx);
  }

  /// The same with the target given as the rows `users` of `x` (row b of the logits belongs to
  /// users[b]; each stored entry counts 1).
  /// @throws std::invalid_argument on a size mismatch or a user outside x
  double loss_and_gradient(const Context& ctx, const Matrix& logits, const InteractionMatrix& x,
                           std::span<const index_t> users) {
    if (static_cast<std::int64_t>(users.size()) != logits.rows() || x.num_items() != logits.cols())
      throw std::invalid_argument(
          "recdiff::MultinomialLikelihood: " + std::to_string(users.size()) +
          " users of a matrix with " + std::to_string(x.num_items()) + " items for logits " +
          std::to_string(logits.rows()) + "x" + std::to_string(logits.cols()));
    for (const index_t u : users)
      if (u < 0 || u >= x.num_users())
        throw std::invalid_argument("recdiff::MultinomialLikelihood: user " + std::to_string(u) +
                                    " outside [0, " + std::to_string(x.num_users()) + ")");
    prepare(logits);
    if (logits.rows() == 0) return 0.0;
    BackendType::for_each_row(
        ctx, logits.rows(),
        objective_detail::MultinomialCsrRow<T>{
            logits.data(), x.offsets().data(), x.indices().data(), users.data(), m_row_loss.data(),
            m_grad.data(), logits.cols(), 1.0 / static_cast<double>(logits.rows())});
    return finish(ctx);
  }

  /// d loss / d logits of the last call (B x items).
  const Matrix& gradient() const noexcept { return m_grad; }
  /// The per-row losses l_b of the last call (host copy, row order).
  const std::vector<double>& row_losses() const noexcept { return m_host; }

 private:
  using RowMatrix = typename BackendType::template Matrix<double>;

  void prepare(const Matrix& logits) {
    if (logits.cols() < 1)
      throw std::invalid_argument(
          "recdiff::MultinomialLikelihood: logits need at least one column");
    m_grad.resize(logits.rows(), logits.cols());
    m_row_loss.resize(logits.rows(), 1);
    m_host.assign(static_cast<std::size_t>(logits.rows()), 0.0);
  }

  // Downloads the row losses and returns their mean, summed in row order.
  double finish(const Context& ctx) {
    BackendType::download(ctx, m_row_loss, std::span<double>(m_host));
    double sum = 0.0;
    for (const double l : m_host) sum += l;
    return sum / static_cast<double>(m_host.size());
  }

  Matrix m_grad;
  RowMatrix m_row_loss;
  std::vector<double> m_host;
};

}  // namespace recdiff
