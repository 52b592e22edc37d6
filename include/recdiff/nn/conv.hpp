#pragma once
/// @file
/// Conv: 1-D and 2-D convolutions (torch.nn.Conv1d / Conv2d: cross-correlation, zero padding,
/// stride, bias) over feature maps laid out as in nn/feature_map.hpp, optionally with weight
/// standardisation (Qiao et al. 2019, "Micro-Batch Training with Batch-Channel Normalization and
/// Weight Standardization"), as a Module. RecFusion's U-Nets (Bénédict et al. 2023; docs/models.md)
/// are made of them.

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/nn/feature_map.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/nn/torch_init.hpp>

namespace recdiff::nn {

/// Options of a convolution (square kernels, one stride and padding for every spatial axis).
struct ConvOptions {
  int stride = 1;                       ///< step between output positions, >= 1
  int padding = 0;                      ///< zeros added on each side of every spatial axis, >= 0
  bool bias = true;                     ///< add a learnable bias per output channel
  bool weight_standardization = false;  ///< standardise each output channel's kernel before use
};

/// The shape of one convolution pass: N samples, Cin x H x W in, Cout x Hout x Wout out, a KH x KW
/// kernel with strides (SH, SW) and paddings (PH, PW). A 1-D convolution is the case H = KH = SH = 1,
/// PH = 0. Plain sizes, copied into the kernels.
struct ConvGeometry {
  std::int64_t n, cin, cout, h, w, hout, wout, kh, kw, sh, sw, ph, pw;
  /// Scalars of one output channel's kernel: Cin KH KW.
  RECDIFF_HOST_DEVICE std::int64_t fan_in() const { return cin * kh * kw; }
};

/// Consecutive output (or input) positions one invocation of the convolution kernels computes:
/// independent accumulators that a CPU vectorises (stride 1) and pipelines, a few registers on a
/// device. Every position still sums its terms in the order (channel, kernel row, tap).
inline constexpr std::int64_t kConvRun = 8;

/// y(n, co, oh, ow) = bias(co) + sum over (ci, i, j) of w(co, ci, i, j) x(n, ci, oh SH - PH + i,
/// ow SW - PW + j), positions outside the input reading 0; over rows r = (n Cout + co) Hout + oh
/// and runs of kConvRun output columns (a direct loop: the U-Nets' channel counts are 1 to 3).
template <class T>
struct ConvForward {
  const T* x;     ///< N x (Cin H W)
  const T* w;     ///< Cout x (Cin KH KW), the kernel in use (standardised or not)
  const T* bias;  ///< Cout entries, or nullptr
  T* y;           ///< N x (Cout Hout Wout)
  ConvGeometry g;

  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t run) const {
    const std::int64_t oh = r % g.hout;
    const std::int64_t co = (r / g.hout) % g.cout;
    const std::int64_t n = r / (g.hout * g.cout);
    const std::int64_t ow0 = run * kConvRun;
    const std::int64_t count = g.wout - ow0 < kConvRun ? g.wout - ow0 : kConvRun;
    T acc[kConvRun];
    const T b = bias != nullptr ? bias[co] : T(0);
    for (std::int64_t q = 0; q < kConvRun; ++q) acc[q] = b;
    const std::int64_t ih0 = oh * g.sh - g.ph;
    // Kernel rows inside the input (zero padding contributes nothing).
    const std::int64_t i0 = ih0 < 0 ? -ih0 : 0, i1 = ih0 + g.kh > g.h ? g.h - ih0 : g.kh;
    for (std::int64_t ci = 0; ci < g.cin; ++ci)
      for (std::int64_t i = i0; i < i1; ++i) {
        const T* xrow = x + ((n * g.cin + ci) * g.h + ih0 + i) * g.w;
        const T* wrow = w + ((co * g.cin + ci) * g.kh + i) * g.kw;
        for (std::int64_t j = 0; j < g.kw; ++j) {
          const T wv = wrow[j];
          const std::int64_t base = ow0 * g.sw - g.pw + j;  // input column of output ow0
          if (count == kConvRun && base >= 0 && base + (kConvRun - 1) * g.sw < g.w) {
            for (std::int64_t q = 0; q < kConvRun; ++q) acc[q] += wv * xrow[base + q * g.sw];
          } else {
            for (std::int64_t q = 0; q < count; ++q) {
              const std::int64_t iw = base + q * g.sw;
              if (iw >= 0 && iw < g.w) acc[q] += wv * xrow[iw];
            }
          }
        }
      }
    T* out = y + r * g.wout + ow0;
    for (std::int64_t q = 0; q < count; ++q) out[q] = acc[q];
  }
};

/// dx(n, ci, ih, iw) = sum over the (co, i, j) whose output position (oh, ow) reads (ih, iw) of
/// w(co, ci, i, j) dy(n, co, oh, ow); over rows r = (n Cin + ci) H + ih and runs of kConvRun input
/// columns (a gather, so every element has one writer and a fixed summation order).
template <class T>
struct ConvInputGradient {
  const T* dy;  ///< N x (Cout Hout Wout)
  const T* w;   ///< the kernel in use
  T* dx;        ///< N x (Cin H W)
  ConvGeometry g;

  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t run) const {
    const std::int64_t ih = r % g.h;
    const std::int64_t ci = (r / g.h) % g.cin;
    const std::int64_t n = r / (g.h * g.cin);
    const std::int64_t iw0 = run * kConvRun;
    const std::int64_t count = g.w - iw0 < kConvRun ? g.w - iw0 : kConvRun;
    T acc[kConvRun];
    for (std::int64_t q = 0; q < kConvRun; ++q) acc[q] = T(0);
    for (std::int64_t co = 0; co < g.cout; ++co)
      for (std::int64_t i = 0; i < g.kh; ++i) {
        const std::int64_t th = ih + g.ph - i;
        if (th < 0 || th % g.sh != 0) continue;
        const std::int64_t oh = th / g.sh;
        if (oh >= g.hout) continue;
        const T* dyrow = dy + ((n * g.cout + co) * g.hout + oh) * g.wout;
        const T* wrow = w + ((co * g.cin + ci) * g.kh + i) * g.kw;
        for (std::int64_t j = 0; j < g.kw; ++j) {
          const T wv = wrow[j];
          const std::int64_t base = iw0 + g.pw - j;  // stride * (output column) for input iw0
          if (g.sw == 1 && count == kConvRun && base >= 0 && base + kConvRun - 1 < g.wout) {
            for (std::int64_t q = 0; q < kConvRun; ++q) acc[q] += wv * dyrow[base + q];
          } else {
            for (std::int64_t q = 0; q < count; ++q) {
              const std::int64_t tw = base + q;
              if (tw < 0 || tw % g.sw != 0) continue;
              const std::int64_t ow = tw / g.sw;
              if (ow < g.wout) acc[q] += wv * dyrow[ow];
            }
          }
        }
      }
    T* out = dx + r * g.w + iw0;
    for (std::int64_t q = 0; q < count; ++q) out[q] = acc[q];
  }
};

/// The first pass of the weight and bias gradients: partial(r, e) = the sum over the output
/// positions of pass row r (sample n, output row oh, a chunk of SegmentChunks::kChunk output
/// columns) of dy(n, co, oh, ow) x(n, ci, oh SH - PH + i, ow SW - PW + j) for weight element
/// e = ((co Cin + ci) KH + i) KW + j, or of dy(n, co, oh, ow) for e = Cout Cin KH KW + co (the
/// bias). Rows r = (n Hout + oh) chunks + chunk; each sum runs in kConvRun interleaved lanes added in
/// lane order at the end, and StridedSums then adds the rows in order.
template <class T>
struct ConvWeightPartials {
  const T* dy;           ///< N x (Cout Hout Wout)
  const T* x;            ///< N x (Cin H W)
  T* partial;            ///< rows x entries
  ConvGeometry g;
  std::int64_t chunks;   ///< chunks of output columns per output row
  std::int64_t entries;  ///< Cout Cin KH KW (+ Cout with a bias)

  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t e) const {
    const std::int64_t chunk = r % chunks;
    const std::int64_t oh = (r / chunks) % g.hout;
    const std::int64_t n = r / (chunks * g.hout);
    const std::int64_t ow0 = chunk * SegmentChunks::kChunk;
    const std::int64_t ow1 =
        ow0 + SegmentChunks::kChunk < g.wout ? ow0 + SegmentChunks::kChunk : g.wout;
    const std::int64_t weights = g.cout * g.fan_in();
    T s = T(0);
    if (e < weights) {
      const std::int64_t co = e / g.fan_in();
      const std::int64_t rem = e - co * g.fan_in();
      const std::int64_t ci = rem / (g.kh * g.kw);
      const std::int64_t i = (rem / g.kw) % g.kh;
      const std::int64_t j = rem % g.kw;
      const std::int64_t ih = oh * g.sh - g.ph + i;
      if (ih >= 0 && ih < g.h) {
        const T* xrow = x + ((n * g.cin + ci) * g.h + ih) * g.w;
        const T* dyrow = dy + ((n * g.cout + co) * g.hout + oh) * g.wout;
        // The output columns whose tap j falls inside the input: iw = ow SW - PW + j in [0, W).
        const std::int64_t off = g.pw - j;
        const std::int64_t lo = off > 0 ? (off + g.sw - 1) / g.sw : 0;
        const std::int64_t hi = g.w - 1 + off >= 0 ? (g.w - 1 + off) / g.sw + 1 : 0;
        const std::int64_t a = ow0 > lo ? ow0 : lo, b = ow1 < hi ? ow1 : hi;
        T lane[kConvRun];
        for (std::int64_t q = 0; q < kConvRun; ++q) lane[q] = T(0);
        std::int64_t ow = a;
        for (; ow + kConvRun <= b; ow += kConvRun)
          for (std::int64_t q = 0; q < kConvRun; ++q)
            lane[q] += dyrow[ow + q] * xrow[(ow + q) * g.sw - off];
        for (std::int64_t q = 0; ow < b; ++ow, ++q) lane[q] += dyrow[ow] * xrow[ow * g.sw - off];
        for (std::int64_t q = 0; q < kConvRun; ++q) s += lane[q];
      }
    } else {
      const T* dyrow = dy + ((n * g.cout + (e - weights)) * g.hout + oh) * g.wout;
      T lane[kConvRun];
      for (std::int64_t q = 0; q < kConvRun; ++q) lane[q] = T(0);
      std::int64_t ow = ow0;
      for (; ow + kConvRun <= ow1; ow += kConvRun)
        for (std::int64_t q = 0; q < kConvRun; ++q) lane[q] += dyrow[ow + q];
      for (std::int64_t q = 0; ow < ow1; ++ow, ++q) lane[q] += dyrow[ow];
      for (std::int64_t q = 0; q < kConvRun; ++q) s += lane[q];
    }
    partial[r * entries + e] = s;
  }
};

/// Weight standardisation of output channel `co`: what = (w - mean) / sqrt(var + eps), mean and
/// BIASED variance over the channel's Cin KH KW scalars (two passes); stores 1 / sqrt(var + eps).
template <class T>
struct WeightStandardize {
  const T* w;         ///< Cout x n
  T* what;            ///< Cout x n
  T* rstd;            ///< Cout entries
  std::int64_t n;     ///< scalars per output channel
  T eps;              ///< variance floor

  RECDIFF_HOST_DEVICE void operator()(std::int64_t co) const {
    const T* wr = w + co * n;
    T sum = T(0);
    for (std::int64_t k = 0; k < n; ++k) sum += wr[k];
    const T mean = sum / static_cast<T>(n);
    T ss = T(0);
    for (std::int64_t k = 0; k < n; ++k) {
      const T d = wr[k] - mean;
      ss += d * d;
    }
    const T r = T(1) / std::sqrt(ss / static_cast<T>(n) + eps);
    rstd[co] = r;
    T* hr = what + co * n;
    for (std::int64_t k = 0; k < n; ++k) hr[k] = (wr[k] - mean) * r;
  }
};

/// Backward of WeightStandardize for channel co: with g = dLoss/dwhat,
/// dLoss/dw = rstd (g - mean(g) - what mean(g what)); written into grad, or added when `accumulate`.
template <class T>
struct WeightStandardizeBackward {
  const T* g;         ///< Cout x n: dLoss/dwhat
  const T* what;      ///< Cout x n
  const T* rstd;      ///< Cout entries
  T* grad;            ///< Cout x n: dLoss/dw
  std::int64_t n;     ///< scalars per output channel
  bool accumulate;    ///< add to grad instead of overwriting

  RECDIFF_HOST_DEVICE void operator()(std::int64_t co) const {
    const T* gr = g + co * n;
    const T* hr = what + co * n;
    T sg = T(0), sgh = T(0);
    for (std::int64_t k = 0; k < n; ++k) {
      sg += gr[k];
      sgh += gr[k] * hr[k];
    }
    const T mg = sg / static_cast<T>(n), mgh = sgh / static_cast<T>(n), r = rstd[co];
    T* out = grad + co * n;
    for (std::int64_t k = 0; k < n; ++k) {
      const T d = r * (gr[k] - mg - hr[k] * mgh);
      out[k] = accumulate ? out[k] + d : d;
    }
  }
};

/// A convolution over Dims spatial axes with a square kernel, as torch.nn.Conv1d (Dims = 1) or
/// Conv2d (Dims = 2) with zero padding, on feature maps laid out one sample per row,
/// channel-major (nn/feature_map.hpp):
///   Dims = 1: x is N x (Cin L), L = x.cols() / Cin; y is N x (Cout Lout),
///             Lout = floor((L + 2 padding - kernel) / stride) + 1;
///   Dims = 2: x is N x (Cin H W) for the width W given at construction, H = x.cols() / (Cin W);
///             y is N x (Cout Hout Wout), each output extent as Lout above.
/// The weight is stored Cout x (Cin kernel^Dims), row co holding channel co's kernel in PyTorch's
/// (ci, i, j) order.
///
/// With weight standardisation (the U-Nets' "WSConv") each output channel's kernel is replaced by
/// (w - mean) / sqrt(var + 1e-5) before use, mean and biased variance over its Cin kernel^Dims
/// scalars; the backward pass goes through the standardisation.
///
/// Forward and input gradient are direct loops over (sample, channel, position), parallel over
/// output (input) rows; the weight and bias gradients are partial sums over (sample, output row,
/// chunk of output columns) added in a fixed order: every result is the same at any thread count.
/// Keeps a pointer to the input of the last forward() (it must stay alive until backward()).
///
/// Parameters: prefix + "weight" (Cout x Cin kernel^Dims), prefix + "bias" (1 x Cout, when the
/// layer has one). initialize() draws both from PyTorch's default U(-1/sqrt(fan_in),
/// 1/sqrt(fan_in)), fan_in = Cin kernel^Dims.
/// @tparam BackendType a Backend; @tparam T the scalar type; @tparam Dims 1 or 2
template <class BackendType, class T, int Dims>
class Conv {
  static_assert(Dims == 1 || Dims == 2, "recdiff::nn::Conv: Dims must be 1 or 2");

 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// The variance floor of weight standardisation (float32 in the reference U-Net).
  static constexpr double standardization_eps = 1e-5;

  /// An empty layer (0 channels).
  Conv() = default;

  /// A 1-D convolution in_channels -> out_channels with a kernel of `kernel` taps, zero
  /// parameters; call initialize() to draw them.
  /// @throws std::invalid_argument unless channels and kernel are >= 1, stride >= 1, padding >= 0
  Conv(int in_channels, int out_channels, int kernel, ConvOptions options = {})
    requires(Dims == 1)
      : Conv(in_channels, out_channels, kernel, 0, options, 0) {}

  /// A 2-D convolution in_channels -> out_channels with a kernel x kernel kernel, over images of
  /// `width` columns (the height follows from the input), zero parameters; call initialize().
  /// @throws std::invalid_argument unless channels, kernel and width are >= 1, stride >= 1 and
  ///         padding >= 0
  Conv(int in_channels, int out_channels, int kernel, int width, ConvOptions options = {})
    requires(Dims == 2)
      : Conv(in_channels, out_channels, kernel, width, options, 0) {}

  /// Draws W and b from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default), keys
  /// weight_key(layer_index) and weight_key(layer_index) + 1 (nn/init.hpp).
  void initialize(const Context& ctx, std::uint64_t seed, std::uint32_t layer_index) {
    const double bound = torch_default_bound(fan_in());
    fill_uniform<BackendType>(ctx, m_weight.value, bound, seed, weight_key(layer_index));
    if (m_bias_on) fill_uniform<BackendType>(ctx, m_bias.value, bound, seed, weight_key(layer_index) + 1);
  }

  /// Cin.
  int in_channels() const noexcept { return m_in; }
  /// Cout.
  int out_channels() const noexcept { return static_cast<int>(m_weight.value.rows()); }
  /// Kernel size along each spatial axis.
  int kernel() const noexcept { return m_kernel; }
  /// Stride along each spatial axis.
  int stride() const noexcept { return m_options.stride; }
  /// Zero padding on each side of each spatial axis.
  int padding() const noexcept { return m_options.padding; }
  /// Whether the layer has a bias.
  bool has_bias() const noexcept { return m_bias_on; }
  /// Whether the kernel is standardised before use.
  bool weight_standardization() const noexcept { return m_options.weight_standardization; }
  /// Input width W (Dims = 2; 0 for Dims = 1, whose length follows from the input).
  int width() const noexcept { return m_width; }
  /// Scalars of one output channel's kernel: Cin kernel^Dims.
  std::int64_t fan_in() const noexcept { return m_weight.value.cols(); }
  /// The output extent of a spatial axis of `extent` positions:
  /// floor((extent + 2 padding - kernel) / stride) + 1, or 0 when the kernel does not fit.
  std::int64_t output_extent(std::int64_t extent) const noexcept {
    const std::int64_t span = extent + 2 * m_options.padding - m_kernel;
    return span < 0 ? 0 : span / m_options.stride + 1;
  }

  /// W (Cout x Cin kernel^Dims), as stored (before standardisation).
  Matrix& weight() noexcept { return m_weight.value; }
  const Matrix& weight() const noexcept { return m_weight.value; }
  /// b (1 x Cout; 1 x 0 without a bias).
  Matrix& bias() noexcept { return m_bias.value; }
  const Matrix& bias() const noexcept { return m_bias.value; }
  /// dLoss/dW accumulated since the last zero_grad().
  const Matrix& weight_grad() { return m_weight.gradient(); }
  /// dLoss/db accumulated since the last zero_grad().
  const Matrix& bias_grad() { return m_bias.gradient(); }
  /// The kernel the last forward() used: the standardised weight, or W itself.
  const Matrix& kernel_in_use() const noexcept {
    return m_options.weight_standardization ? m_what : m_weight.value;
  }

  /// Appends {prefix + "weight"} and, with a bias, {prefix + "bias"}.
  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    out.push_back({prefix + "weight", &m_weight});
    if (m_bias_on) out.push_back({prefix + "bias", &m_bias});
  }
  /// Number of scalars in W and b.
  std::size_t num_parameters() const noexcept {
    return m_weight.size() + (m_bias_on ? m_bias.size() : 0);
  }

  /// The shape of a pass over `rows` samples of `cols` columns.
  /// @throws std::invalid_argument when cols is not Cin L (Cin H W) or the kernel does not fit
  ConvGeometry geometry(std::int64_t rows, std::int64_t cols) const {
    const std::int64_t plane = Dims == 1 ? static_cast<std::int64_t>(m_in)
                                         : static_cast<std::int64_t>(m_in) * m_width;
    if (m_in < 1 || cols <= 0 || cols % plane != 0)
      throw std::invalid_argument(
          "recdiff::nn::Conv: input has " + std::to_string(cols) + " columns, expected a positive multiple of " +
          (Dims == 1 ? "in_channels = " : "in_channels x width = ") + std::to_string(plane));
    ConvGeometry g{};
    g.n = rows;
    g.cin = m_in;
    g.cout = out_channels();
    g.kw = m_kernel;
    g.sw = m_options.stride;
    g.pw = m_options.padding;
    if constexpr (Dims == 1) {
      g.h = 1;
      g.w = cols / m_in;
      g.kh = g.sh = 1;
      g.ph = 0;
      g.hout = 1;
    } else {
      g.w = m_width;
      g.h = cols / plane;
      g.kh = m_kernel;
      g.sh = m_options.stride;
      g.ph = m_options.padding;
      g.hout = output_extent(g.h);
    }
    g.wout = output_extent(g.w);
    if (g.hout < 1 || g.wout < 1)
      throw std::invalid_argument("recdiff::nn::Conv: an input of " + std::to_string(g.h) + "x" +
                                  std::to_string(g.w) + " positions is smaller than the kernel " +
                                  std::to_string(m_kernel) + " with padding " +
                                  std::to_string(m_options.padding));
    return g;
  }

  /// y = conv(x) (N x Cout Hout Wout), kept in the layer.
  /// @throws std::invalid_argument when x's width does not fit the layer (see geometry())
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& = {}) {
    m_geometry = geometry(x.rows(), x.cols());
    const ConvGeometry& g = m_geometry;
    if (m_options.weight_standardization) {
      m_what.resize(g.cout, g.fan_in());
      m_rstd.resize(g.cout, 1);
      BackendType::for_each_row(ctx, g.cout,
                                WeightStandardize<T>{m_weight.value.data(), m_what.data(),
                                                     m_rstd.data(), g.fan_in(),
                                                     static_cast<T>(standardization_eps)});
    }
    m_y.resize(g.n, g.cout * g.hout * g.wout);
    BackendType::for_each(ctx, g.n * g.cout * g.hout, (g.wout + kConvRun - 1) / kConvRun,
                          ConvForward<T>{x.data(), kernel_in_use().data(),
                                         m_bias_on ? m_bias.value.data() : nullptr, m_y.data(), g});
    m_input = &x;
    return m_y;
  }

  /// Accumulates dW (through the standardisation) and db for dy = dLoss/dy of the last forward()
  /// and returns dx when `need_input_grad` (else nullptr).
  /// @throws std::logic_error without a forward(); std::invalid_argument on a shape mismatch
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (m_input == nullptr)
      throw std::logic_error("recdiff::nn::Conv::backward: no forward() pass to differentiate");
    if (dy.rows() != m_y.rows() || dy.cols() != m_y.cols())
      throw std::invalid_argument("recdiff::nn::Conv::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected the output's " + std::to_string(m_y.rows()) + "x" +
                                  std::to_string(m_y.cols()));
    const ConvGeometry& g = m_geometry;
    const std::int64_t chunks = (g.wout + SegmentChunks::kChunk - 1) / SegmentChunks::kChunk;
    const std::int64_t weights = g.cout * g.fan_in();
    const std::int64_t entries = weights + (m_bias_on ? g.cout : 0);
    const std::int64_t rows = g.n * g.hout * chunks;
    m_partial.resize(rows, entries);
    BackendType::for_each(ctx, rows, entries,
                          ConvWeightPartials<T>{dy.data(), m_input->data(), m_partial.data(), g,
                                                chunks, entries});
    if (m_options.weight_standardization) {
      m_dwhat.resize(g.cout, g.fan_in());
      BackendType::for_each_row(ctx, weights,
                                StridedSums<T>{m_partial.data(), m_dwhat.data(), rows, entries, false});
      const bool accumulate = m_weight.grad_beta() != T(0);
      m_weight.grad.resize(g.cout, g.fan_in());
      BackendType::for_each_row(ctx, g.cout,
                                WeightStandardizeBackward<T>{m_dwhat.data(), m_what.data(),
                                                             m_rstd.data(), m_weight.grad.data(),
                                                             g.fan_in(), accumulate});
    } else {
      const bool accumulate = m_weight.grad_beta() != T(0);
      m_weight.grad.resize(g.cout, g.fan_in());
      BackendType::for_each_row(ctx, weights,
                                StridedSums<T>{m_partial.data(), m_weight.grad.data(), rows, entries,
                                               accumulate});
    }
    if (m_bias_on) {
      const bool accumulate = m_bias.grad_beta() != T(0);
      m_bias.grad.resize(1, g.cout);
      BackendType::for_each_row(ctx, g.cout,
                                StridedSums<T>{m_partial.data() + weights, m_bias.grad.data(), rows,
                                               entries, accumulate});
    }
    if (!need_input_grad) return nullptr;
    m_dx.resize(g.n, g.cin * g.h * g.w);
    BackendType::for_each(ctx, g.n * g.cin * g.h, (g.w + kConvRun - 1) / kConvRun,
                          ConvInputGradient<T>{dy.data(), kernel_in_use().data(), m_dx.data(), g});
    return &m_dx;
  }

 private:
  Conv(int in_channels, int out_channels, int kernel, int width, ConvOptions options, int)
      : m_weight(checked(in_channels, out_channels, kernel, width, options),
                 static_cast<std::int64_t>(in_channels) * (Dims == 2 ? kernel * kernel : kernel)),
        m_bias(1, options.bias ? out_channels : 0),
        m_in(in_channels),
        m_kernel(kernel),
        m_width(width),
        m_options(options),
        m_bias_on(options.bias) {}

  static int checked(int in_channels, int out_channels, int kernel, int width,
                     const ConvOptions& options) {
    if (in_channels < 1 || out_channels < 1 || kernel < 1 || options.stride < 1 ||
        options.padding < 0 || (Dims == 2 && width < 1))
      throw std::invalid_argument(
          "recdiff::nn::Conv: need in_channels, out_channels, kernel" +
          std::string(Dims == 2 ? ", width" : "") + " and stride >= 1 and padding >= 0, got " +
          std::to_string(in_channels) + ", " + std::to_string(out_channels) + ", " +
          std::to_string(kernel) + (Dims == 2 ? ", " + std::to_string(width) : std::string()) +
          ", stride " + std::to_string(options.stride) + ", padding " +
          std::to_string(options.padding));
    return out_channels;
  }

  Tensor<BackendType, T> m_weight;  // Cout x (Cin kernel^Dims)
  Tensor<BackendType, T> m_bias;    // 1 x Cout (1 x 0 without a bias)
  int m_in = 0;
  int m_kernel = 1;
  int m_width = 0;
  ConvOptions m_options{};
  bool m_bias_on = true;
  ConvGeometry m_geometry{};
  Matrix m_y, m_dx, m_what, m_rstd, m_dwhat, m_partial;
  const Matrix* m_input = nullptr;
};

/// torch.nn.Conv1d over (N, C, L) maps stored N x (C L).
template <class BackendType, class T>
using Conv1d = Conv<BackendType, T, 1>;

/// torch.nn.Conv2d over (N, C, H, W) images stored N x (C H W).
template <class BackendType, class T>
using Conv2d = Conv<BackendType, T, 2>;

}  // namespace recdiff::nn
