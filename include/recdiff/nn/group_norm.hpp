#pragma once
/// @file
/// GroupNorm with one group (Wu and He 2018, "Group Normalization"; torch.nn.GroupNorm(1, C)):
/// each sample normalised over all its channels and positions, then a per-channel affine map, as a
/// Module. The blocks of RecFusion's U-Nets use it (Bénédict et al. 2023; docs/models.md).

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/nn/feature_map.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// rstd[n] = 1 / sqrt(ss[n] / count + eps).
template <class T>
struct GroupNormInverseStd {
  const T* ss;         ///< sums of squared deviations, one per sample
  T* rstd;             ///< one per sample
  std::int64_t count;  ///< elements per sample
  T eps;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t n) const {
    rstd[n] = T(1) / std::sqrt(ss[n] / static_cast<T>(count) + eps);
  }
};

/// xhat = (x - mean[n]) rstd[n], y = xhat gamma[c] + beta[c], over the (sample, channel) planes.
template <class T>
struct GroupNormForward {
  const T* x;
  T* xhat;
  T* y;
  const T* mean;
  const T* rstd;
  const T* gamma;
  const T* beta;
  SegmentChunks space;  ///< N C planes of S positions
  std::int64_t channels;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t g) const {
    std::int64_t plane, count;
    const std::int64_t k0 = space.run(r, g, plane, count);
    const std::int64_t n = plane / channels, c = plane - n * channels;
    const T m = mean[n], s = rstd[n], gc = gamma[c], bc = beta[c];
    SegmentChunks::each(k0, count, [&](std::int64_t k) {
      const T h = (x[k] - m) * s;
      xhat[k] = h;
      y[k] = h * gc + bc;
    });
  }
};

/// Per sample: mg[n] = sum_c gamma[c] dsum[n, c] / count and mgh[n] = sum_c gamma[c] dxsum[n, c] /
/// count, the means of g = dy gamma and of g xhat over the sample (dsum, dxsum: per-plane sums of dy
/// and dy xhat).
template <class T>
struct GroupNormSampleMeans {
  const T* dsum;
  const T* dxsum;
  const T* gamma;
  T* mg;
  T* mgh;
  std::int64_t channels;
  std::int64_t count;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t n) const {
    T a = T(0), b = T(0);
    for (std::int64_t c = 0; c < channels; ++c) {
      a += gamma[c] * dsum[n * channels + c];
      b += gamma[c] * dxsum[n * channels + c];
    }
    mg[n] = a / static_cast<T>(count);
    mgh[n] = b / static_cast<T>(count);
  }
};

/// dx = rstd[n] (dy gamma[c] - mg[n] - xhat mgh[n]).
template <class T>
struct GroupNormInputGradient {
  const T* dy;
  const T* xhat;
  const T* rstd;
  const T* gamma;
  const T* mg;
  const T* mgh;
  T* dx;
  SegmentChunks space;
  std::int64_t channels;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t g) const {
    std::int64_t plane, count;
    const std::int64_t k0 = space.run(r, g, plane, count);
    const std::int64_t n = plane / channels, c = plane - n * channels;
    const T s = rstd[n], gc = gamma[c], a = mg[n], b = mgh[n];
    SegmentChunks::each(k0, count,
                        [&](std::int64_t k) { dx[k] = s * (dy[k] * gc - a - xhat[k] * b); });
  }
};

/// a(0, j) = value.
template <class T>
struct GroupNormFill {
  T* a;
  T value;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t, std::int64_t j) const { a[j] = value; }
};

/// GroupNorm(1, C) over feature maps x (N x (C S), channel-major rows, nn/feature_map.hpp; S =
/// x.cols() / C positions per channel): per sample, mean and BIASED variance over all C S values
/// (two passes), xhat = (x - mean) / sqrt(var + eps), y(n, c, s) = xhat gamma_c + beta_c.
///
/// Backward, exact: with g = dy gamma_c, dx = rstd (g - mean(g) - xhat mean(g xhat)) over the
/// sample; dgamma_c += sum over samples and positions of dy xhat, dbeta_c += sum of dy. Every sum is
/// a chunked sum in a fixed order (nn/feature_map.hpp), so results do not depend on the thread
/// count, and even one large image (the 2-D U-Net) is reduced in parallel.
///
/// Parameters: prefix + "weight" (gamma, 1 x C, initially 1) and prefix + "bias" (beta, initially 0).
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class GroupNorm {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// torch.nn.GroupNorm's default eps.
  static constexpr double default_eps = 1e-5;

  /// An empty layer over 0 channels.
  GroupNorm() = default;

  /// A layer over `channels` channels with variance floor `eps`, gamma = 1 and beta = 0 on every
  /// backend (written by initialize() on a default Context, as LayerNorm does; on CudaBackend that
  /// needs a device).
  /// @throws std::invalid_argument unless channels >= 1 and eps >= 0
  explicit GroupNorm(int channels, double eps = default_eps)
      : m_gamma(1, checked(channels, eps)), m_beta(1, channels), m_eps(eps) {
    initialize(Context{});
  }

  /// (Re)sets gamma = 1 and beta = 0 on the backend.
  void initialize(const Context& ctx) {
    BackendType::for_each(ctx, 1, channels(), GroupNormFill<T>{m_gamma.value.data(), T(1)});
    m_beta.value.setZero();
  }

  /// C.
  int channels() const noexcept { return static_cast<int>(m_gamma.value.cols()); }
  /// The variance floor.
  double eps() const noexcept { return m_eps; }
  /// Number of scalars in gamma and beta.
  std::size_t num_parameters() const noexcept { return m_gamma.size() + m_beta.size(); }

  /// gamma (1 x C).
  Matrix& weight() noexcept { return m_gamma.value; }
  const Matrix& weight() const noexcept { return m_gamma.value; }
  /// beta (1 x C).
  Matrix& bias() noexcept { return m_beta.value; }
  const Matrix& bias() const noexcept { return m_beta.value; }
  /// dLoss/dgamma accumulated since the last zero_grad().
  const Matrix& weight_grad() { return m_gamma.gradient(); }
  /// dLoss/dbeta accumulated since the last zero_grad().
  const Matrix& bias_grad() { return m_beta.gradient(); }
  /// Per-sample means of the last forward pass (N x 1).
  const Matrix& mean() const noexcept { return m_mean; }
  /// Per-sample 1 / sqrt(var + eps) of the last forward pass (N x 1).
  const Matrix& inverse_std() const noexcept { return m_rstd; }

  /// Appends {prefix + "weight", prefix + "bias"}.
  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    out.push_back({prefix + "weight", &m_gamma});
    out.push_back({prefix + "bias", &m_beta});
  }

  /// y = GroupNorm(x), kept in the layer.
  /// @throws std::invalid_argument when x's width is not a positive multiple of C
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& = {}) {
    const std::int64_t c = channels();
    if (c < 1 || x.cols() <= 0 || x.cols() % c != 0)
      throw std::invalid_argument("recdiff::nn::GroupNorm::forward: input has " +
                                  std::to_string(x.cols()) +
                                  " columns, expected a positive multiple of channels = " +
                                  std::to_string(c));
    const std::int64_t n = x.rows(), count = x.cols(), s = count / c;
    m_mean.resize(n, 1);
    m_rstd.resize(n, 1);
    m_sums.compute(ctx, x.data(), nullptr, nullptr, SegmentTerm::value, n, count, m_mean.data(),
                   T(1) / static_cast<T>(count));
    m_sums.compute(ctx, x.data(), nullptr, m_mean.data(), SegmentTerm::centered_square, n, count,
                   m_rstd.data());
    BackendType::for_each_row(ctx, n,
                              GroupNormInverseStd<T>{m_rstd.data(), m_rstd.data(), count,
                                                     static_cast<T>(m_eps)});
    m_xhat.resize(n, count);
    m_y.resize(n, count);
    const SegmentChunks space = SegmentChunks::of(n * c, s);
    BackendType::for_each(ctx, space.rows(), SegmentChunks::kRuns,
                          GroupNormForward<T>{x.data(), m_xhat.data(), m_y.data(), m_mean.data(),
                                              m_rstd.data(), m_gamma.value.data(),
                                              m_beta.value.data(), space, c});
    m_forward_done = true;
    return m_y;
  }

  /// Accumulates dgamma and dbeta for dy = dLoss/dy of the last forward() and returns dx when
  /// `need_input_grad` (else nullptr).
  /// @throws std::logic_error without a forward(); std::invalid_argument on a shape mismatch
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (!m_forward_done)
      throw std::logic_error("recdiff::nn::GroupNorm::backward: no forward() pass to differentiate");
    if (dy.rows() != m_y.rows() || dy.cols() != m_y.cols())
      throw std::invalid_argument("recdiff::nn::GroupNorm::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected the output's " + std::to_string(m_y.rows()) + "x" +
                                  std::to_string(m_y.cols()));
    const std::int64_t c = channels(), n = dy.rows(), count = dy.cols(), s = count / c;
    // Per-plane sums of dy and dy xhat: the affine gradients and the input gradient's means.
    m_dsum.resize(n, c);
    m_dxsum.resize(n, c);
    m_sums.compute(ctx, dy.data(), nullptr, nullptr, SegmentTerm::value, n * c, s, m_dsum.data());
    m_sums.compute(ctx, dy.data(), m_xhat.data(), nullptr, SegmentTerm::product, n * c, s,
                   m_dxsum.data());
    {
      const bool accumulate = m_gamma.grad_beta() != T(0);
      m_gamma.grad.resize(1, c);
      BackendType::for_each_row(ctx, c,
                                StridedSums<T>{m_dxsum.data(), m_gamma.grad.data(), n, c, accumulate});
    }
    {
      const bool accumulate = m_beta.grad_beta() != T(0);
      m_beta.grad.resize(1, c);
      BackendType::for_each_row(ctx, c,
                                StridedSums<T>{m_dsum.data(), m_beta.grad.data(), n, c, accumulate});
    }
    if (!need_input_grad) return nullptr;
    m_mg.resize(n, 1);
    m_mgh.resize(n, 1);
    BackendType::for_each_row(ctx, n,
                              GroupNormSampleMeans<T>{m_dsum.data(), m_dxsum.data(),
                                                      m_gamma.value.data(), m_mg.data(),
                                                      m_mgh.data(), c, count});
    m_dx.resize(n, count);
    const SegmentChunks space = SegmentChunks::of(n * c, s);
    BackendType::for_each(ctx, space.rows(), SegmentChunks::kRuns,
                          GroupNormInputGradient<T>{dy.data(), m_xhat.data(), m_rstd.data(),
                                                    m_gamma.value.data(), m_mg.data(), m_mgh.data(),
                                                    m_dx.data(), space, c});
    return &m_dx;
  }

 private:
  static int checked(int channels, double eps) {
    if (channels < 1 || !(eps >= 0))
      throw std::invalid_argument("recdiff::nn::GroupNorm: need channels >= 1 and eps >= 0, got " +
                                  std::to_string(channels) + " and " + std::to_string(eps));
    return channels;
  }

  Tensor<BackendType, T> m_gamma;  // 1 x C
  Tensor<BackendType, T> m_beta;   // 1 x C
  double m_eps = default_eps;
  SegmentSums<BackendType, T> m_sums;
  Matrix m_y, m_xhat, m_mean, m_rstd, m_dsum, m_dxsum, m_mg, m_mgh, m_dx;
  bool m_forward_done = false;
};

}  // namespace recdiff::nn
