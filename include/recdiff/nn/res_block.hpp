#pragma once
/// @file
/// ResBlock: the time-conditioned residual block of RecFusion's U-Nets (Bénédict et al. 2023;
/// docs/models.md), in the form of lucidrains' DDPM U-Net that RecFusion adapts: two
/// weight-standardised convolution blocks with GroupNorm and SiLU, the first modulated by a
/// per-channel scale and shift computed from the step embedding, and a skip connection.

#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/math/activations.hpp>
#include <recdiff/nn/activation.hpp>
#include <recdiff/nn/conv.hpp>
#include <recdiff/nn/dropout.hpp>
#include <recdiff/nn/feature_map.hpp>
#include <recdiff/nn/group_norm.hpp>
#include <recdiff/nn/linear.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/nn/torch_init.hpp>

namespace recdiff::nn {

/// The tail of a U-Net block over the (sample, channel) planes of h: z = h (1 + scale(n, c)) +
/// shift(n, c) when `ss` is given (ss: N x 2C, scales in columns [0, C), shifts in [C, 2C)), else
/// z = h; y = silu(z). z is stored only with the modulation (without it z is h).
template <class T>
struct ModulatedSiluForward {
  const T* h;
  const T* ss;  ///< N x 2C, or nullptr
  T* z;         ///< same shape as h (written only with ss)
  T* y;
  SegmentChunks space;  ///< N C planes of S positions
  std::int64_t channels;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t g) const {
    std::int64_t plane, count;
    const std::int64_t k0 = space.run(r, g, plane, count);
    if (ss != nullptr) {
      const std::int64_t n = plane / channels, c = plane - n * channels;
      const T scale = T(1) + ss[n * 2 * channels + c], shift = ss[n * 2 * channels + channels + c];
      SegmentChunks::each(k0, count, [&](std::int64_t k) {
        const T v = h[k] * scale + shift;
        z[k] = v;
        y[k] = Silu{}(v);
      });
    } else {
      SegmentChunks::each(k0, count, [&](std::int64_t k) { y[k] = Silu{}(h[k]); });
    }
  }
};

/// Backward of ModulatedSiluForward: dz = dy silu'(z); dh = dz (1 + scale(n, c)) with the
/// modulation (dz then also stored, for the scale and shift gradients), else dh = dz.
template <class T>
struct ModulatedSiluBackward {
  const T* dy;
  const T* z;   ///< the pre-activation (h itself without the modulation)
  const T* ss;  ///< N x 2C, or nullptr
  T* dz;        ///< written only with ss
  T* dh;
  SegmentChunks space;
  std::int64_t channels;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t g) const {
    std::int64_t plane, count;
    const std::int64_t k0 = space.run(r, g, plane, count);
    if (ss != nullptr) {
      const std::int64_t n = plane / channels, c = plane - n * channels;
      const T scale = T(1) + ss[n * 2 * channels + c];
      SegmentChunks::each(k0, count, [&](std::int64_t k) {
        const T d = dy[k] * Silu{}.input_derivative(z[k]);
        dz[k] = d;
        dh[k] = d * scale;
      });
    } else {
      SegmentChunks::each(k0, count,
                          [&](std::int64_t k) { dh[k] = dy[k] * Silu{}.input_derivative(z[k]); });
    }
  }
};

/// dss(n, c) = dscale[n C + c], dss(n, C + c) = dshift[n C + c] (N x 2C).
template <class T>
struct InterleaveScaleShift {
  const T* dscale;
  const T* dshift;
  T* dss;
  std::int64_t channels;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t n, std::int64_t j) const {
    dss[n * 2 * channels + j] =
        j < channels ? dscale[n * channels + j] : dshift[n * channels + (j - channels)];
  }
};

/// ResBlock(Cin, Cout) over feature maps x (N x (Cin S), nn/feature_map.hpp) and a step embedding
/// temb (N x 4, one row per sample; nn::TimeMlp):
///
///   (scale, shift) = split(Linear(4, 2 Cout)(SiLU(temb)))     scale: the first Cout columns
///   h = SiLU(GroupNorm(WSConv(x)) (1 + scale) + shift)          Block1, WSConv k 3, padding 1
///   h = SiLU(GroupNorm(WSConv(h)))                              Block2 (then Dropout(p), training)
///   out = h + R(x),  R = Conv(Cin, Cout, k 1) when Cin != Cout, else the identity
///
/// with GroupNorm of one group and scale and shift broadcast over the positions of their (sample,
/// channel) plane. Dims = 1 convolves (N, C, L) sequences, Dims = 2 (N, C, H, W) images of a fixed
/// width (3 x 3 kernels). The 2-D U-Net's blocks use Dropout(0.1) (keyed by pass.seed,
/// pass.counter + salt, nn/dropout.hpp); the 1-D ones none.
///
/// Not a Module (two inputs): forward(ctx, x, temb, pass); backward() accumulates every parameter
/// gradient, returns dx when asked and leaves dLoss/dtemb in temb_grad() (always computed: the
/// embedding's own layers need it). Keeps pointers to x and temb (they must stay alive until
/// backward()).
///
/// Parameters, in the reference code's names: prefix + "mlp.1.weight", "mlp.1.bias" (the Linear
/// after the SiLU), "block1.proj.weight", "block1.proj.bias", "block1.norm.weight",
/// "block1.norm.bias", the same for "block2.", then "res_conv.weight", "res_conv.bias" when
/// Cin != Cout.
/// @tparam BackendType a Backend; @tparam T the scalar type; @tparam Dims 1 or 2
template <class BackendType, class T, int Dims>
class ResBlock {
 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  using ConvType = Conv<BackendType, T, Dims>;              ///< the convolutions

  /// Width of the step embedding.
  static constexpr int time_dim = 4;
  /// Philox layer indices initialize() uses (mlp, block1, block2, res_conv).
  static constexpr std::uint32_t layer_count = 4;

  /// A 1-D block in_channels -> out_channels with zero weights (norms at 1 / 0); call
  /// initialize(). `dropout` (after Block2's SiLU, training only) uses counter salt `salt`.
  /// @throws std::invalid_argument unless the channel counts are >= 1 and 0 <= dropout < 1
  ResBlock(int in_channels, int out_channels, double dropout = 0.0, std::uint32_t salt = 0)
    requires(Dims == 1)
      : ResBlock(in_channels, out_channels, 0, dropout, salt, 0) {}

  /// A 2-D block in_channels -> out_channels over images `width` positions wide.
  /// @throws std::invalid_argument unless the channel counts and width are >= 1 and
  ///         0 <= dropout < 1
  ResBlock(int in_channels, int out_channels, int width, double dropout = 0.0,
           std::uint32_t salt = 0)
    requires(Dims == 2)
      : ResBlock(in_channels, out_channels, width, dropout, salt, 0) {}

  /// Draws the linear layer and the convolutions from PyTorch's default (nn/torch_init.hpp),
  /// Philox layer indices first_layer (mlp), + 1 (block1), + 2 (block2), + 3 (res_conv).
  void initialize(const Context& ctx, std::uint64_t seed, std::uint32_t first_layer) {
    torch_default_init<BackendType>(ctx, m_mlp, seed, first_layer);
    m_conv1.initialize(ctx, seed, first_layer + 1);
    m_conv2.initialize(ctx, seed, first_layer + 2);
    if (m_has_res) m_res.initialize(ctx, seed, first_layer + 3);
  }

  /// Cin.
  int in_channels() const noexcept { return m_conv1.in_channels(); }
  /// Cout.
  int out_channels() const noexcept { return m_conv1.out_channels(); }
  /// Whether the skip path is a 1 x 1 convolution (Cin != Cout).
  bool has_residual_conv() const noexcept { return m_has_res; }
  /// The dropout probability after Block2.
  double dropout() const noexcept { return m_dropout.p(); }
  /// The layers, for inspection and tests.
  Linear<BackendType, T>& mlp() noexcept { return m_mlp; }
  ConvType& conv1() noexcept { return m_conv1; }
  ConvType& conv2() noexcept { return m_conv2; }
  GroupNorm<BackendType, T>& norm1() noexcept { return m_norm1; }
  GroupNorm<BackendType, T>& norm2() noexcept { return m_norm2; }
  /// The skip convolution (meaningful only when has_residual_conv()).
  ConvType& residual_conv() noexcept { return m_res; }

  /// out = Block2(Block1(x, scale, shift)) + R(x) (N x (Cout S)), kept in the block.
  /// @throws std::invalid_argument when temb is not N x 4 or x does not fit the convolutions
  const Matrix& forward(const Context& ctx, const Matrix& x, const Matrix& temb, const Pass& pass) {
    if (temb.rows() != x.rows() || temb.cols() != time_dim)
      throw std::invalid_argument("recdiff::nn::ResBlock::forward: temb is " +
                                  std::to_string(temb.rows()) + "x" + std::to_string(temb.cols()) +
                                  ", expected " + std::to_string(x.rows()) + "x" +
                                  std::to_string(time_dim) + " (one embedding per sample)");
    const std::int64_t c = out_channels(), n = x.rows();
    m_ss = &m_mlp.forward(ctx, m_temb_act.forward(ctx, temb, pass), pass);
    m_g1 = &m_norm1.forward(ctx, m_conv1.forward(ctx, x, pass), pass);
    const SegmentChunks space = SegmentChunks::of(n * c, m_g1->cols() / c);
    m_z1.resize(n, m_g1->cols());
    m_a1.resize(n, m_g1->cols());
    BackendType::for_each(ctx, space.rows(), SegmentChunks::kRuns,
                          ModulatedSiluForward<T>{m_g1->data(), m_ss->data(), m_z1.data(),
                                                  m_a1.data(), space, c});
    m_g2 = &m_norm2.forward(ctx, m_conv2.forward(ctx, m_a1, pass), pass);
    m_a2.resize(n, m_g2->cols());
    BackendType::for_each(ctx, space.rows(), SegmentChunks::kRuns,
                          ModulatedSiluForward<T>{m_g2->data(), nullptr, nullptr, m_a2.data(),
                                                  space, c});
    const Matrix& h = m_dropout.forward(ctx, m_a2, pass);
    const Matrix& r = m_has_res ? m_res.forward(ctx, x, pass) : x;
    add_into<BackendType>(ctx, h, r, m_out, "recdiff::nn::ResBlock::forward");
    m_space = space;
    m_temb_grad = nullptr;
    return m_out;
  }

  /// Accumulates every parameter gradient for dy = dLoss/dout of the last forward(), stores
  /// dLoss/dtemb (temb_grad()) and returns dLoss/dx when `need_input_grad` (else nullptr).
  /// @throws std::logic_error without a forward(); std::invalid_argument on a shape mismatch
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (m_ss == nullptr)
      throw std::logic_error("recdiff::nn::ResBlock::backward: no forward() pass to differentiate");
    if (dy.rows() != m_out.rows() || dy.cols() != m_out.cols())
      throw std::invalid_argument("recdiff::nn::ResBlock::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected the output's " + std::to_string(m_out.rows()) + "x" +
                                  std::to_string(m_out.cols()));
    const std::int64_t c = out_channels(), n = dy.rows();
    // Block2.
    const Matrix* da2 = m_dropout.backward(ctx, dy, true);
    m_dg2.resize(n, dy.cols());
    BackendType::for_each(ctx, m_space.rows(), SegmentChunks::kRuns,
                          ModulatedSiluBackward<T>{da2->data(), m_g2->data(), nullptr, nullptr,
                                                   m_dg2.data(), m_space, c});
    const Matrix* da1 = m_conv2.backward(ctx, *m_norm2.backward(ctx, m_dg2, true), true);
    // Block1's activation and modulation.
    m_dz1.resize(n, dy.cols());
    m_dg1.resize(n, dy.cols());
    BackendType::for_each(ctx, m_space.rows(), SegmentChunks::kRuns,
                          ModulatedSiluBackward<T>{da1->data(), m_z1.data(), m_ss->data(),
                                                   m_dz1.data(), m_dg1.data(), m_space, c});
    m_dscale.resize(n, c);
    m_dshift.resize(n, c);
    m_sums.compute(ctx, m_dz1.data(), m_g1->data(), nullptr, SegmentTerm::product, n * c,
                   m_space.length, m_dscale.data());
    m_sums.compute(ctx, m_dz1.data(), nullptr, nullptr, SegmentTerm::value, n * c, m_space.length,
                   m_dshift.data());
    m_dss.resize(n, 2 * c);
    BackendType::for_each(ctx, n, 2 * c,
                          InterleaveScaleShift<T>{m_dscale.data(), m_dshift.data(), m_dss.data(), c});
    m_temb_grad = m_temb_act.backward(ctx, *m_mlp.backward(ctx, m_dss, true), true);
    // Block1's convolution and the skip path.
    const Matrix* dx1 = m_conv1.backward(ctx, *m_norm1.backward(ctx, m_dg1, true), need_input_grad);
    const Matrix* dxr = m_has_res ? m_res.backward(ctx, dy, need_input_grad) : &dy;
    if (!need_input_grad) return nullptr;
    add_into<BackendType>(ctx, *dx1, *dxr, m_dx, "recdiff::nn::ResBlock::backward");
    return &m_dx;
  }

  /// dLoss/dtemb (N x 4) of the last backward().
  /// @throws std::logic_error when no backward() followed the last forward()
  const Matrix& temb_grad() const {
    if (m_temb_grad == nullptr)
      throw std::logic_error("recdiff::nn::ResBlock::temb_grad: no backward() since the last forward()");
    return *m_temb_grad;
  }

  /// Appends the parameters under the names of the class comment.
  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    m_mlp.collect_parameters(prefix + "mlp.1.", out);
    m_conv1.collect_parameters(prefix + "block1.proj.", out);
    m_norm1.collect_parameters(prefix + "block1.norm.", out);
    m_conv2.collect_parameters(prefix + "block2.proj.", out);
    m_norm2.collect_parameters(prefix + "block2.norm.", out);
    if (m_has_res) m_res.collect_parameters(prefix + "res_conv.", out);
  }
  /// Number of trainable scalars: 10 Cout + (3^Dims Cin + 1) Cout + (3^Dims Cout + 1) Cout + 4 Cout
  /// (+ (Cin + 1) Cout for the skip convolution).
  std::size_t num_parameters() const noexcept {
    return m_mlp.num_parameters() + m_conv1.num_parameters() + m_norm1.num_parameters() +
           m_conv2.num_parameters() + m_norm2.num_parameters() +
           (m_has_res ? m_res.num_parameters() : 0);
  }

 private:
  ResBlock(int in_channels, int out_channels, int width, double dropout, std::uint32_t salt, int)
      : m_mlp(time_dim, 2 * checked(in_channels, out_channels)),
        m_conv1(make_conv(in_channels, out_channels, 3, width, {1, 1, true, true})),
        m_norm1(out_channels),
        m_conv2(make_conv(out_channels, out_channels, 3, width, {1, 1, true, true})),
        m_norm2(out_channels),
        m_dropout(dropout, salt),
        m_has_res(in_channels != out_channels) {
    if (m_has_res) m_res = make_conv(in_channels, out_channels, 1, width, {});
  }

  static int checked(int in_channels, int out_channels) {
    if (in_channels < 1 || out_channels < 1)
      throw std::invalid_argument("recdiff::nn::ResBlock: channel counts must be >= 1, got " +
                                  std::to_string(in_channels) + " -> " +
                                  std::to_string(out_channels));
    return out_channels;
  }

  static ConvType make_conv(int in, int out, int kernel, int width, ConvOptions options) {
    if constexpr (Dims == 1)
      return ConvType(in, out, kernel, options);
    else
      return ConvType(in, out, kernel, width, options);
  }

  Activation<BackendType, T, Silu> m_temb_act;
  Linear<BackendType, T> m_mlp;
  ConvType m_conv1;
  GroupNorm<BackendType, T> m_norm1;
  ConvType m_conv2;
  GroupNorm<BackendType, T> m_norm2;
  Dropout<BackendType, T> m_dropout;
  bool m_has_res;
  ConvType m_res;
  SegmentSums<BackendType, T> m_sums;
  SegmentChunks m_space{};
  const Matrix* m_ss = nullptr;
  const Matrix* m_g1 = nullptr;
  const Matrix* m_g2 = nullptr;
  const Matrix* m_temb_grad = nullptr;
  Matrix m_z1, m_a1, m_a2, m_out, m_dg2, m_dz1, m_dg1, m_dscale, m_dshift, m_dss, m_dx;
};

}  // namespace recdiff::nn
