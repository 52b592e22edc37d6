#pragma once
// Host reference implementations, in double and on xtensor arrays of shape (N, C, H, W) (a 1-D map
// is H = 1), of the U-Net pieces: convolution (with weight standardisation), GroupNorm(1, C),
// nearest upsampling, the time MLP, the ResBlock and both U-Nets. They follow the definitions
// (RecFusion's U-Nets, docs/models.md) with plain loops over named indices, independently of the
// library's layouts and kernels; parameters are read by name from a module's parameter list.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/detail/xtensor_include.hpp>
#include <recdiff/nn/parameter.hpp>

#include "nn/module_check.hpp"

namespace recdiff::test {

using Array = xt::xarray<double>;
using Shape = std::vector<std::size_t>;

/// A copy of a CPU matrix as a double array of the given shape (same element order).
template <class T>
Array to_array(const CpuBackend::Matrix<T>& m, const Shape& shape) {
  std::vector<double> v(m.data(), m.data() + m.size());
  Array a = xt::adapt(v, shape);
  REQUIRE(a.size() == static_cast<std::size_t>(m.size()));
  return a;
}

/// The parameters of a module by name, each as a 2-D (rows, cols) double array.
struct ParamTable {
  std::map<std::string, Array> values;
  const Array& operator()(const std::string& name) const {
    INFO("parameter " << name);
    const auto it = values.find(name);
    REQUIRE(it != values.end());
    return it->second;
  }
  bool has(const std::string& name) const { return values.count(name) != 0; }
};

template <class ModuleType>
ParamTable param_table(ModuleType& module) {
  ParamTable t;
  for (auto& p : nn::parameters_of(module))
    t.values[p.name] = to_array(p.value(), {static_cast<std::size_t>(p.value().rows()),
                                            static_cast<std::size_t>(p.value().cols())});
  return t;
}

inline double silu_ref(double v) { return v / (1 + std::exp(-v)); }
inline double gelu_ref(double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }

/// y(n, co, oh, ow) = b(co) + sum w(co, ci, i, j) x(n, ci, oh s - p + i, ow s - p + j), zero outside;
/// w2d is Cout x (Cin kh kw) as stored; with `ws` each row is first standardised (biased variance,
/// eps 1e-5). dims = 1: kh = 1, and stride and padding act on the last axis only.
inline Array conv_ref(const Array& x, const Array& w2d, const Array* bias, int kernel, int dims,
                      int stride, int padding, bool ws) {
  const std::size_t n = x.shape(0), cin = x.shape(1), h = x.shape(2), w = x.shape(3);
  const std::size_t cout = w2d.shape(0);
  const long kh = dims == 2 ? kernel : 1, kw = kernel;
  const long sh = dims == 2 ? stride : 1, ph = dims == 2 ? padding : 0;
  const long sw = stride, pw = padding;
  REQUIRE(w2d.shape(1) == cin * static_cast<std::size_t>(kh * kw));
  Array k = w2d;
  if (ws)
    for (std::size_t co = 0; co < cout; ++co) {
      double mean = 0, var = 0;
      for (std::size_t e = 0; e < k.shape(1); ++e) mean += w2d(co, e);
      mean /= static_cast<double>(k.shape(1));
      for (std::size_t e = 0; e < k.shape(1); ++e) var += (w2d(co, e) - mean) * (w2d(co, e) - mean);
      var /= static_cast<double>(k.shape(1));
      for (std::size_t e = 0; e < k.shape(1); ++e) k(co, e) = (w2d(co, e) - mean) / std::sqrt(var + 1e-5);
    }
  const long hout = (static_cast<long>(h) + 2 * ph - kh) / sh + 1;
  const long wout = (static_cast<long>(w) + 2 * pw - kw) / sw + 1;
  Array y = xt::zeros<double>(Shape{n, cout, static_cast<std::size_t>(hout), static_cast<std::size_t>(wout)});
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t co = 0; co < cout; ++co)
      for (long oh = 0; oh < hout; ++oh)
        for (long ow = 0; ow < wout; ++ow) {
          double acc = bias != nullptr ? (*bias)(0, co) : 0.0;
          for (std::size_t ci = 0; ci < cin; ++ci)
            for (long i = 0; i < kh; ++i)
              for (long j = 0; j < kw; ++j) {
                const long ih = oh * sh - ph + i, iw = ow * sw - pw + j;
                if (ih < 0 || iw < 0 || ih >= static_cast<long>(h) || iw >= static_cast<long>(w)) continue;
                acc += k(co, (ci * kh + i) * kw + j) * x(b, ci, ih, iw);
              }
          y(b, co, oh, ow) = acc;
        }
  return y;
}

/// GroupNorm(1, C): per sample over (C, H, W), biased variance, then gamma_c, beta_c (1 x C arrays).
inline Array group_norm_ref(const Array& x, const Array& gamma, const Array& beta, double eps = 1e-5) {
  Array y = x;
  const std::size_t n = x.shape(0), c = x.shape(1);
  for (std::size_t b = 0; b < n; ++b) {
    auto sample = xt::view(x, b, xt::all(), xt::all(), xt::all());
    const double mean = xt::mean(sample)();
    const double var = xt::mean(xt::square(sample - mean))();
    for (std::size_t ch = 0; ch < c; ++ch)
      for (std::size_t i = 0; i < x.shape(2); ++i)
        for (std::size_t j = 0; j < x.shape(3); ++j)
          y(b, ch, i, j) = (x(b, ch, i, j) - mean) / std::sqrt(var + eps) * gamma(0, ch) + beta(0, ch);
  }
  return y;
}

/// Nearest x2 upsampling of the last axis (dims 1) or of the last two (dims 2).
inline Array upsample_ref(const Array& x, int dims) {
  const std::size_t n = x.shape(0), c = x.shape(1), h = x.shape(2), w = x.shape(3);
  const std::size_t h2 = dims == 2 ? 2 * h : h;
  Array y = xt::zeros<double>(Shape{n, c, h2, 2 * w});
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t ch = 0; ch < c; ++ch)
      for (std::size_t i = 0; i < h2; ++i)
        for (std::size_t j = 0; j < 2 * w; ++j) y(b, ch, i, j) = x(b, ch, dims == 2 ? i / 2 : i, j / 2);
  return y;
}

/// x W^T + b for x (N, in), W (out, in), b (1, out).
inline Array linear_ref(const Array& x, const Array& w, const Array& b) {
  Array y = xt::zeros<double>(Shape{x.shape(0), w.shape(0)});
  for (std::size_t i = 0; i < x.shape(0); ++i)
    for (std::size_t o = 0; o < w.shape(0); ++o) {
      double acc = b(0, o);
      for (std::size_t k = 0; k < w.shape(1); ++k) acc += x(i, k) * w(o, k);
      y(i, o) = acc;
    }
  return y;
}

/// The time MLP: [sin t, sin 1e-4 t, cos t, cos 1e-4 t] -> Linear -> GELU -> Linear, one row per step.
inline Array time_mlp_ref(std::span<const int> steps, const ParamTable& p, const std::string& prefix) {
  Array f = xt::zeros<double>(Shape{steps.size(), 4});
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const double t = steps[i];
    f(i, 0) = std::sin(t);
    f(i, 1) = std::sin(1e-4 * t);
    f(i, 2) = std::cos(t);
    f(i, 3) = std::cos(1e-4 * t);
  }
  Array h = linear_ref(f, p(prefix + "1.weight"), p(prefix + "1.bias"));
  for (auto& v : h) v = gelu_ref(v);
  return linear_ref(h, p(prefix + "3.weight"), p(prefix + "3.bias"));
}

/// ResBlock(Cin, Cout) in evaluation mode (no dropout), temb (N, 4).
inline Array res_block_ref(const Array& x, const Array& temb, const ParamTable& p,
                           const std::string& prefix, int dims) {
  Array t = temb;
  for (auto& v : t) v = silu_ref(v);
  const Array ss = linear_ref(t, p(prefix + "mlp.1.weight"), p(prefix + "mlp.1.bias"));
  const Array b1 = p(prefix + "block1.proj.bias");
  Array h = conv_ref(x, p(prefix + "block1.proj.weight"), &b1, 3, dims, 1, 1, true);
  h = group_norm_ref(h, p(prefix + "block1.norm.weight"), p(prefix + "block1.norm.bias"));
  const std::size_t cout = h.shape(1);
  for (std::size_t n = 0; n < h.shape(0); ++n)
    for (std::size_t c = 0; c < cout; ++c)
      for (std::size_t i = 0; i < h.shape(2); ++i)
        for (std::size_t j = 0; j < h.shape(3); ++j)
          h(n, c, i, j) = silu_ref(h(n, c, i, j) * (1 + ss(n, c)) + ss(n, cout + c));
  const Array b2 = p(prefix + "block2.proj.bias");
  h = conv_ref(h, p(prefix + "block2.proj.weight"), &b2, 3, dims, 1, 1, true);
  h = group_norm_ref(h, p(prefix + "block2.norm.weight"), p(prefix + "block2.norm.bias"));
  for (auto& v : h) v = silu_ref(v);
  if (p.has(prefix + "res_conv.weight")) {
    const Array br = p(prefix + "res_conv.bias");
    return h + conv_ref(x, p(prefix + "res_conv.weight"), &br, 1, dims, 1, 0, false);
  }
  return h + x;
}

/// A plain convolution layer of the U-Net read from the table.
inline Array unet_conv_ref(const Array& x, const ParamTable& p, const std::string& prefix, int kernel,
                           int dims, int stride, int padding) {
  const Array b = p(prefix + "bias");
  return conv_ref(x, p(prefix + "weight"), &b, kernel, dims, stride, padding, false);
}

/// The U-Net (spec steps 1-7) on rows x (B, I) with one step per row, in evaluation mode. dims 1:
/// B maps (1, 1, I); dims 2: one (1, 1, B, I) image with the step of row 0.
inline Array unet_ref(const Array& x, std::span<const int> steps, const ParamTable& p, int dims) {
  const std::size_t b = x.shape(0), items = x.shape(1);
  Array in = xt::zeros<double>(dims == 1 ? Shape{b, 1, 1, items} : Shape{1, 1, b, items});
  std::copy(x.begin(), x.end(), in.begin());
  Array temb = dims == 1 ? time_mlp_ref(steps, p, "time_mlp.")
                         : time_mlp_ref(steps.first(1), p, "time_mlp.");
  const Array r = unet_conv_ref(in, p, "init_conv.", 7, dims, 1, 3);
  const Array h0 = res_block_ref(r, temb, p, "downs.0.0.", dims);
  Array v = unet_conv_ref(h0, p, "downs.0.3.", 4, dims, 2, 1);
  const Array h1 = res_block_ref(v, temb, p, "downs.1.0.", dims);
  v = unet_conv_ref(h1, p, "downs.1.3.", 3, dims, 1, 1);
  v = res_block_ref(v, temb, p, "mid_block1.", dims);
  v = res_block_ref(v, temb, p, "mid_block2.", dims);
  v = res_block_ref(Array(xt::concatenate(xt::xtuple(v, h1), 1)), temb, p, "ups.0.0.", dims);
  v = unet_conv_ref(upsample_ref(v, dims), p, "ups.0.3.1.", 3, dims, 1, 1);
  v = res_block_ref(Array(xt::concatenate(xt::xtuple(v, h0), 1)), temb, p, "ups.1.0.", dims);
  v = unet_conv_ref(v, p, "ups.1.3.", 3, dims, 1, 1);
  v = res_block_ref(Array(xt::concatenate(xt::xtuple(v, r), 1)), temb, p, "final_res_block.", dims);
  v = unet_conv_ref(v, p, "final_conv.", 1, dims, 1, 0);
  Array out = xt::zeros<double>(Shape{b, items});
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

/// True for the bias of a U-Net block's convolution into a ONE-channel GroupNorm ("...blockN.proj.bias"
/// of 1 x 1): GroupNorm(1, 1) removes any constant added to its input, so that gradient is
/// identically zero (in the reference model too) and a finite-difference score means nothing.
template <class ParameterType>
bool normalised_away(const ParameterType& p) {
  return p.value().cols() == 1 && (p.name.ends_with("block1.proj.bias") || p.name.ends_with("block2.proj.bias"));
}

/// require_gradients for a U-Net piece after check_module(module, ...): every parameter passes the
/// finite-difference bound, except those normalised_away(), whose analytic gradient (left in the
/// module by check_module) must instead be zero up to rounding.
template <class T, class ModuleType>
void require_unet_gradients(const ModuleCheck& check, ModuleType& module, std::size_t expected_parameters) {
  auto params = nn::parameters_of(module);
  REQUIRE(check.parameters.size() == expected_parameters);
  REQUIRE(params.size() == expected_parameters);
  const double zero = std::is_same_v<T, float> ? 1e-4 : 1e-11;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto& [name, error] = check.parameters[i];
    REQUIRE(name == params[i].name);
    if (normalised_away(params[i])) {
      const double g = std::abs(static_cast<double>(params[i].tensor->gradient()(0, 0)));
      INFO("parameter " << name << " (normalised away): gradient " << g);
      CHECK(g < zero);
    } else {
      INFO("parameter " << name << ": relative error " << error);
      CHECK(error < Tolerances<T>::gradient);
    }
  }
  REQUIRE(check.input_checked);
  INFO("input: relative error " << check.input);
  CHECK(check.input < Tolerances<T>::gradient);
}

/// The float instantiation of a network against its double twin, whose gradients the double
/// finite-difference checks verify: the float parameters are set to the double ones (rounded), both
/// run forward on the same input and backward on the same output weighting, and the outputs, the
/// input gradients and every parameter gradient must agree to float precision (relative L2 error
/// below `bound`; the normalised_away() gradients must be zero up to float rounding). This is the
/// float check of the deep pieces (a ResBlock, a U-Net), where a float finite difference (step 1e-2,
/// outputs rounded to 1e-7) is swamped by the rounding and curvature of GroupNorm over few
/// positions and of standardised 3-tap kernels; their float input gradient is also checked by
/// finite differences.
template <class FloatModule, class DoubleModule>
void require_float_matches_double(FloatModule& f, DoubleModule& d, const CpuBackend::Matrix<double>& x,
                                  const nn::Pass& pass, double bound = 1e-3) {
  CpuBackend::Context ctx(2);
  auto pf = nn::parameters_of(f);
  auto pd = nn::parameters_of(d);
  REQUIRE(pf.size() == pd.size());
  for (std::size_t i = 0; i < pf.size(); ++i) {
    REQUIRE(pf[i].name == pd[i].name);
    pf[i].value() = pd[i].value().template cast<float>();
  }
  const CpuBackend::Matrix<float> xf = x.cast<float>();
  const CpuBackend::Matrix<double> yd = d.forward(ctx, x, pass);
  const CpuBackend::Matrix<double> yf = f.forward(ctx, xf, pass).template cast<double>();
  CHECK((yf - yd).norm() <= 1e-5 * yd.norm());
  std::mt19937 rng(77);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  CpuBackend::Matrix<double> r(yd.rows(), yd.cols());
  for (Eigen::Index k = 0; k < r.size(); ++k) r.data()[k] = u(rng);
  const CpuBackend::Matrix<float> rf = r.cast<float>();
  nn::zero_grad(pf);
  nn::zero_grad(pd);
  const CpuBackend::Matrix<double> dxd = *d.backward(ctx, r, true);
  const CpuBackend::Matrix<double> dxf = f.backward(ctx, rf, true)->template cast<double>();
  {
    INFO("input gradient: relative error " << (dxf - dxd).norm() / dxd.norm());
    CHECK((dxf - dxd).norm() <= bound * dxd.norm());
  }
  for (std::size_t i = 0; i < pf.size(); ++i) {
    const CpuBackend::Matrix<double> gd = pd[i].tensor->gradient();
    const CpuBackend::Matrix<double> gf = pf[i].tensor->gradient().template cast<double>();
    if (normalised_away(pd[i])) {
      INFO("parameter " << pd[i].name << " (normalised away): gradient " << gf.norm());
      CHECK(gf.norm() < 1e-4);
    } else {
      INFO("parameter " << pd[i].name << ": relative error " << (gf - gd).norm() / gd.norm());
      CHECK(gd.norm() > 0);
      CHECK((gf - gd).norm() <= bound * gd.norm());
    }
  }
}

/// max |a - b| over max(1, max |b|).
inline double max_relative_difference(const Array& a, const Array& b) {
  REQUIRE(a.shape() == b.shape());
  const double scale = std::max(1.0, xt::amax(xt::abs(b))());
  return xt::amax(xt::abs(a - b))() / scale;
}

}  // namespace recdiff::test
