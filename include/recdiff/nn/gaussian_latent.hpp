#pragma once
/// @file
/// GaussianLatent: the diagonal-Gaussian latent layer of a VAE (Kingma and Welling, ICLR 2014) as a
/// Module: reparameterised sampling z = m + exp(s / 2) eps from an encoder output [m, s] (mean and
/// log-variance), and the KL divergence to N(0, I) with its gradient, as Mult-VAE uses them
/// (Liang et al., WWW 2018, section 2.2).

#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/math/philox.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// Forward kernel of GaussianLatent for row r and the group of four latent columns 4g .. 4g + 3:
/// z = m + exp(s / 2) eps in training (eps = Philox normal of (seed, Stream::latent, counter, r,
/// column): lane c % 4 of block c / 4), z = m otherwise; noise keeps exp(s / 2) eps (0 when not
/// training) for the backward pass.
template <class T>
struct GaussianLatentForward {
  const T* h;             ///< B x 2k: [m, s]
  T* z;                   ///< B x k
  T* noise;               ///< B x k: exp(s / 2) eps
  std::int64_t k;         ///< latent size
  bool train;             ///< sample (else z = m)
  std::uint64_t seed;     ///< run seed
  std::uint32_t counter;  ///< per-pass counter

  /// Processes (row r, group g).
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t g) const {
    float eps[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (train)
      philox::normal4(seed, philox::Stream::latent, counter, static_cast<std::uint32_t>(r),
                      static_cast<std::uint32_t>(g), eps);
    const T* row = h + r * 2 * k;
    for (int l = 0; l < 4; ++l) {
      const std::int64_t j = 4 * g + l;
      if (j >= k) break;
      const T n = train ? std::exp(row[k + j] / T(2)) * static_cast<T>(eps[l]) : T(0);
      noise[r * k + j] = n;
      z[r * k + j] = row[j] + n;
    }
  }
};

/// KL(N(m, diag e^s) || N(0, I)) = sum_j (-s_j + e^{s_j} + m_j^2 - 1) / 2 of row r, in double.
template <class T>
struct GaussianKlRow {
  const T* h;      ///< B x 2k
  double* kl;      ///< B
  std::int64_t k;  ///< latent size

  /// Processes row r.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r) const {
    const T* row = h + r * 2 * k;
    double sum = 0.0;
    for (std::int64_t j = 0; j < k; ++j) {
      const double m = static_cast<double>(row[j]);
      const double s = static_cast<double>(row[k + j]);
      sum += -s + std::exp(s) + m * m - 1.0;
    }
    kl[r] = 0.5 * sum;
  }
};

/// Backward kernel of GaussianLatent for element (r, j), j < k: with w the KL weight,
/// dm = dz + w m and ds = dz noise / 2 + w (e^s - 1) / 2.
template <class T>
struct GaussianLatentBackward {
  const T* h;      ///< B x 2k
  const T* noise;  ///< B x k
  const T* dz;     ///< B x k
  T* dh;           ///< B x 2k
  std::int64_t k;  ///< latent size
  T w;             ///< KL weight

  /// Processes element (r, j).
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t j) const {
    const T* row = h + r * 2 * k;
    const T g = dz[r * k + j];
    dh[r * 2 * k + j] = g + w * row[j];
    dh[r * 2 * k + k + j] = g * noise[r * k + j] / T(2) + w * (std::exp(row[k + j]) - T(1)) / T(2);
  }
};

/// The Gaussian latent layer of a VAE: for an input h = [m, s] (B x 2k, mean then log-variance)
/// it returns z (B x k), z = m + exp(s / 2) eps with eps ~ N(0, I) in a training pass (the
/// reparameterisation trick) and z = m otherwise. The noise is a pure function of (pass.seed,
/// Stream::latent, pass.counter, row, column), so a pass reproduces its draws on any backend and
/// at any thread count.
///
/// It also computes every row's KL divergence to the prior, KL_b = sum_j (-s_j + e^{s_j} + m_j^2 -
/// 1) / 2 (row_kl()), and its backward pass returns the gradient of sum(z .* dz) + w sum_b KL_b,
/// where w = kl_weight() (0 by default, which makes the module a plain function of h; a VAE sets
/// w = beta / B to add beta times the batch-mean KL to its loss).
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class GaussianLatent {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// A latent layer of size 0 (assign a constructed one before use).
  GaussianLatent() = default;
  /// A latent space of `latent` dimensions (input width 2 * latent).
  /// @throws std::invalid_argument unless latent > 0
  explicit GaussianLatent(int latent) : m_k(latent) {
    if (latent <= 0)
      throw std::invalid_argument("recdiff::nn::GaussianLatent: latent size must be > 0, got " +
                                  std::to_string(latent));
  }

  /// Latent size k.
  int latent() const noexcept { return m_k; }
  /// Weight w of the summed KL term in backward().
  double kl_weight() const noexcept { return m_kl_weight; }
  /// Sets w (>= 0; a VAE passes beta / batch size before each backward pass).
  /// @throws std::invalid_argument when w is negative or not finite
  void set_kl_weight(double w) {
    if (!(w >= 0) || !std::isfinite(w))
      throw std::invalid_argument(
          "recdiff::nn::GaussianLatent: KL weight must be finite and >= 0, got " +
          std::to_string(w));
    m_kl_weight = w;
  }

  /// z (B x k) from h = [m, s] (B x 2k); also computes row_kl(). Keeps h for backward().
  /// @throws std::invalid_argument when h is not 2k wide
  const Matrix& forward(const Context& ctx, const Matrix& h, const Pass& pass = {}) {
    if (h.cols() != 2 * static_cast<std::int64_t>(m_k))
      throw std::invalid_argument("recdiff::nn::GaussianLatent::forward: input has " +
                                  std::to_string(h.cols()) + " columns, expected 2 x " +
                                  std::to_string(m_k));
    const std::int64_t k = m_k;
    m_z.resize(h.rows(), k);
    m_noise.resize(h.rows(), k);
    m_kl.resize(h.rows(), 1);
    BackendType::for_each(ctx, h.rows(), (k + 3) / 4,
                          GaussianLatentForward<T>{h.data(), m_z.data(), m_noise.data(), k,
                                                   pass.train, pass.seed, pass.counter});
    BackendType::for_each_row(ctx, h.rows(), GaussianKlRow<T>{h.data(), m_kl.data(), k});
    m_input = &h;
    return m_z;
  }

  /// dh = d(sum(z .* dz) + w sum_b KL_b) / dh for the last forward pass, when asked.
  /// @throws std::logic_error without a forward pass; std::invalid_argument on a shape mismatch
  const Matrix* backward(const Context& ctx, const Matrix& dz, bool need_input_grad) {
    if (m_input == nullptr)
      throw std::logic_error(
          "recdiff::nn::GaussianLatent::backward: no forward() pass to differentiate");
    if (dz.rows() != m_z.rows() || dz.cols() != m_z.cols())
      throw std::invalid_argument("recdiff::nn::GaussianLatent::backward: dz is " +
                                  std::to_string(dz.rows()) + "x" + std::to_string(dz.cols()) +
                                  ", expected " + std::to_string(m_z.rows()) + "x" +
                                  std::to_string(m_z.cols()));
    if (!need_input_grad) return nullptr;
    m_dh.resize(m_input->rows(), m_input->cols());
    BackendType::for_each(ctx, dz.rows(), dz.cols(),
                          GaussianLatentBackward<T>{m_input->data(), m_noise.data(), dz.data(),
                                                    m_dh.data(), m_k, static_cast<T>(m_kl_weight)});
    return &m_dh;
  }

  /// KL_b of every row of the last forward pass (B x 1, backend storage, double).
  const typename BackendType::template Matrix<double>& row_kl() const noexcept { return m_kl; }

  /// The sum over rows of KL_b of the last forward pass (downloaded, summed in row order).
  double kl_sum(const Context& ctx) const {
    m_host.assign(static_cast<std::size_t>(m_kl.rows()), 0.0);
    BackendType::download(ctx, m_kl, std::span<double>(m_host));
    double sum = 0.0;
    for (const double v : m_host) sum += v;
    return sum;
  }

  /// No parameters.
  void collect_parameters(const std::string&, ParameterList<BackendType, T>&) {}
  /// 0.
  std::size_t num_parameters() const noexcept { return 0; }

 private:
  int m_k = 0;
  double m_kl_weight = 0.0;
  Matrix m_z, m_noise, m_dh;
  typename BackendType::template Matrix<double> m_kl;
  mutable std::vector<double> m_host;
  const Matrix* m_input = nullptr;
};

}  // namespace recdiff::nn
