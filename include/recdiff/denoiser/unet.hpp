#pragma once
/// @file
/// UNet1D and UNet2D: the U-Net denoisers of RecFusion's ablations ("RecFusionU-Net1D" and
/// "RecFusionU-Net2D", Bénédict et al. 2023; docs/models.md), lucidrains' DDPM U-Net with dim = 1,
/// one input channel, one GroupNorm group and dim_mults = (1, 2), reduced to the layers its forward
/// pass calls.

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/nn/channel_concat.hpp>
#include <recdiff/nn/conv.hpp>
#include <recdiff/nn/feature_map.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>
#include <recdiff/nn/res_block.hpp>
#include <recdiff/nn/time_mlp.hpp>
#include <recdiff/nn/upsample.hpp>

namespace recdiff {

/// The U-Net denoiser out = U(x, k) (B x I -> B x I) over Dims = 1 (every user's row is a
/// (1, I) sequence) or Dims = 2 (the batch is ONE (1, B, I) image, users stacked as rows). With
/// (channels, length) of the maps (the 2-D net: (channels, B / level, I / level)):
///
///   temb = TimeMlp(k)                                           (nn/time_mlp.hpp)
///   1. x = Conv(1, 1, k 7, pad 3)(input); r = x                                   (1, I)
///   2. h0 = ResBlock(1, 1)(x); x = Conv(1, 1, k 4, stride 2, pad 1)(h0)             (1, I/2)
///   3. h1 = ResBlock(1, 1)(x); x = Conv(1, 2, k 3, pad 1)(h1)                      (2, I/2)
///   4. x = ResBlock(2, 2)(ResBlock(2, 2)(x))                                        (2, I/2)
///   5. x = Conv(2, 1, k 3, pad 1)(upsample x2(ResBlock(3, 2)(concat(x, h1))))       (1, I)
///   6. x = Conv(1, 1, k 3, pad 1)(ResBlock(2, 1)(concat(x, h0)))                    (1, I)
///   7. out = Conv(1, 1, k 1)(ResBlock(2, 1)(concat(x, r)))                          (1, I), linear
///
/// every ResBlock conditioned on temb (nn/res_block.hpp), every 2-D kernel square. The reference
/// builds a second ResBlock per level and attention layers that its forward pass never calls; they
/// are left out (docs/models.md). The 2-D net has Dropout(dropout) after Block2's SiLU in every
/// ResBlock (training passes; block j keyed by pass.counter + (j + 1) 2^24).
///
/// Steps: pass.steps holds one step per row. The 1-D net embeds each row's step; the 2-D net's one
/// image has one step, so every row must carry the same step.
///
/// Requirements: I even (the stride-2 convolution halves it and the upsampling doubles it back);
/// for the 2-D net B even too. num_parameters() does not depend on I: 356 for the 1-D net, 656 for
/// the 2-D one (counted layer by layer in tests/denoiser/unet_test.cpp).
///
/// Parameters (collect_parameters), in the reference code's names: time_mlp.1.*, time_mlp.3.*,
/// init_conv.*, downs.0.0.* (ResBlock), downs.0.3.* (downsampling conv), downs.1.0.*, downs.1.3.*,
/// mid_block1.*, mid_block2.*, ups.0.0.*, ups.0.3.1.* (the conv after the upsampling), ups.1.0.*,
/// ups.1.3.*, final_res_block.*, final_conv.*. initialize() draws every linear and convolution
/// layer from PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (nn/torch_init.hpp), Philox
/// layer indices in that order; GroupNorm gains start at 1 and biases at 0.
///
/// A Denoiser (concepts/denoiser.hpp): forward() keeps pointers into its own buffers and to the
/// input (which must stay alive until backward()).
/// @tparam BackendType a Backend; @tparam T the scalar type; @tparam Dims 1 or 2
template <class BackendType, class T, int Dims>
class UNet {
  static_assert(Dims == 1 || Dims == 2, "recdiff::UNet: Dims must be 1 or 2");

 public:
  using backend_type = BackendType;                         ///< the backend
  using scalar_type = T;                                    ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context
  using ConvType = nn::Conv<BackendType, T, Dims>;          ///< the convolutions
  using Block = nn::ResBlock<BackendType, T, Dims>;         ///< the residual blocks

  /// Dropout after Block2 of every ResBlock: 0.1 in the 2-D net, none in the 1-D net.
  static constexpr double default_dropout = Dims == 2 ? 0.1 : 0.0;

  /// The network over `items` items (I, even), initialised from `seed` (see initialize()).
  /// @throws std::invalid_argument unless items is even and >= 2 and 0 <= dropout < 1
  explicit UNet(int items, std::uint64_t seed = 1, double dropout = default_dropout)
      : m_items(checked(items)),
        m_init(conv(1, 1, 7, 0, {1, 3, true, false})),
        m_down0(block(1, 1, 0, dropout, 1)),
        m_down0_conv(conv(1, 1, 4, 0, {2, 1, true, false})),
        m_down1(block(1, 1, 1, dropout, 2)),
        m_down1_conv(conv(1, 2, 3, 1, {1, 1, true, false})),
        m_mid1(block(2, 2, 1, dropout, 3)),
        m_mid2(block(2, 2, 1, dropout, 4)),
        m_up0(block(3, 2, 1, dropout, 5)),
        m_upsample(upsampler()),
        m_up0_conv(conv(2, 1, 3, 0, {1, 1, true, false})),
        m_up1(block(2, 1, 0, dropout, 6)),
        m_up1_conv(conv(1, 1, 3, 0, {1, 1, true, false})),
        m_final(block(2, 1, 0, dropout, 7)),
        m_final_conv(conv(1, 1, 1, 0, {})) {
    initialize(Context{}, seed);
  }

  /// Draws every layer from `seed` (PyTorch's default rule), Philox layer indices in parameter
  /// order: time_mlp 0-1, init_conv 2, then each ResBlock its Block::layer_count indices and each
  /// convolution one.
  void initialize(const Context& ctx, std::uint64_t seed) {
    std::uint32_t l = 0;
    m_time.initialize(ctx, seed, l);
    l += 2;
    m_init.initialize(ctx, seed, l++);
    auto blk = [&](Block& b) {
      b.initialize(ctx, seed, l);
      l += Block::layer_count;
    };
    blk(m_down0);
    m_down0_conv.initialize(ctx, seed, l++);
    blk(m_down1);
    m_down1_conv.initialize(ctx, seed, l++);
    blk(m_mid1);
    blk(m_mid2);
    blk(m_up0);
    m_up0_conv.initialize(ctx, seed, l++);
    blk(m_up1);
    m_up1_conv.initialize(ctx, seed, l++);
    blk(m_final);
    m_final_conv.initialize(ctx, seed, l++);
  }

  /// I: input and output width.
  int items() const noexcept { return m_items; }
  /// The dropout probability of the ResBlocks.
  double dropout() const noexcept { return m_down0.dropout(); }

  /// U(x, k) (B x I) for dense rows x and the steps in pass.steps; dropout (2-D) when pass.train.
  /// x must stay alive until backward().
  /// @throws std::invalid_argument when x is not I wide, pass.steps does not hold one non-negative
  ///         step per row, or (2-D) B is odd or the rows' steps differ
  const Matrix& forward(const Context& ctx, const Matrix& x, const nn::Pass& pass) {
    if (x.cols() != m_items)
      throw std::invalid_argument("recdiff::UNet::forward: x has " + std::to_string(x.cols()) +
                                  " columns, expected items = " + std::to_string(m_items));
    if (static_cast<std::int64_t>(pass.steps.size()) != x.rows())
      throw std::invalid_argument("recdiff::UNet::forward: pass.steps holds " +
                                  std::to_string(pass.steps.size()) + " steps for " +
                                  std::to_string(x.rows()) + " rows, expected one step per row");
    const Matrix* input = &x;
    const Matrix* temb = nullptr;
    m_rows = x.rows();
    if constexpr (Dims == 2) {
      if (x.rows() < 2 || x.rows() % 2 != 0)
        throw std::invalid_argument("recdiff::UNet2D::forward: the batch is one image of B rows, "
                                    "B must be even and >= 2, got " +
                                    std::to_string(x.rows()));
      for (const int k : pass.steps)
        if (k != pass.steps.front())
          throw std::invalid_argument(
              "recdiff::UNet2D::forward: the batch is one image with one step, got steps " +
              std::to_string(pass.steps.front()) + " and " + std::to_string(k));
      nn::reshape_copy<BackendType>(ctx, x, 1, x.rows() * x.cols(), m_image,
                                    "recdiff::UNet2D::forward");
      input = &m_image;
      temb = &m_time.embed(ctx, pass.steps.first(1), 1);
    } else {
      temb = &m_time.embed(ctx, pass.steps, x.rows());
    }
    const Matrix& r = m_init.forward(ctx, *input, pass);
    const Matrix& h0 = m_down0.forward(ctx, r, *temb, pass);
    const Matrix& h1 = m_down1.forward(ctx, m_down0_conv.forward(ctx, h0, pass), *temb, pass);
    const Matrix& d1 = m_down1_conv.forward(ctx, h1, pass);
    const Matrix& m2 = m_mid2.forward(ctx, m_mid1.forward(ctx, d1, *temb, pass), *temb, pass);
    nn::concat_channels<BackendType>(ctx, m2, h1, m_cat1);
    const Matrix& u0 =
        m_up0_conv.forward(ctx, m_upsample.forward(ctx, m_up0.forward(ctx, m_cat1, *temb, pass), pass), pass);
    nn::concat_channels<BackendType>(ctx, u0, h0, m_cat2);
    const Matrix& u1 = m_up1_conv.forward(ctx, m_up1.forward(ctx, m_cat2, *temb, pass), pass);
    nn::concat_channels<BackendType>(ctx, u1, r, m_cat3);
    const Matrix& out = m_final_conv.forward(ctx, m_final.forward(ctx, m_cat3, *temb, pass), pass);
    m_forward_done = true;
    if constexpr (Dims == 2) {
      nn::reshape_copy<BackendType>(ctx, out, x.rows(), x.cols(), m_out, "recdiff::UNet2D::forward");
      return m_out;
    } else {
      return out;
    }
  }

  /// Adds dLoss/dtheta for grad_out = dLoss/dout (B x I) of the last forward() to every parameter
  /// gradient; returns dLoss/dx when need_input_grad, else nullptr.
  /// @throws std::logic_error without a forward(); std::invalid_argument when grad_out's shape is
  ///         not the output's
  const Matrix* backward(const Context& ctx, const Matrix& grad_out, bool need_input_grad = false) {
    if (!m_forward_done)
      throw std::logic_error("recdiff::UNet::backward: no forward() pass to differentiate");
    if (grad_out.rows() != m_rows || grad_out.cols() != m_items)
      throw std::invalid_argument("recdiff::UNet::backward: grad_out is " +
                                  std::to_string(grad_out.rows()) + "x" +
                                  std::to_string(grad_out.cols()) + ", expected " +
                                  std::to_string(m_rows) + "x" + std::to_string(m_items));
    const Matrix* g = &grad_out;
    if constexpr (Dims == 2) {
      nn::reshape_copy<BackendType>(ctx, grad_out, 1, grad_out.rows() * grad_out.cols(), m_dimage,
                                    "recdiff::UNet2D::backward");
      g = &m_dimage;
    }
    // 7.
    const Matrix* d = m_final.backward(ctx, *m_final_conv.backward(ctx, *g, true), true);
    nn::split_channels<BackendType>(ctx, *d, d->cols() / 2, m_du1, m_dr_skip);
    // 6.
    d = m_up1.backward(ctx, *m_up1_conv.backward(ctx, m_du1, true), true);
    nn::split_channels<BackendType>(ctx, *d, d->cols() / 2, m_du0, m_dh0_skip);
    // 5.
    d = m_up0.backward(ctx, *m_upsample.backward(ctx, *m_up0_conv.backward(ctx, m_du0, true), true),
                       true);
    nn::split_channels<BackendType>(ctx, *d, 2 * (d->cols() / 3), m_dm2, m_dh1_skip);
    // 4. and 3.
    d = m_mid1.backward(ctx, *m_mid2.backward(ctx, m_dm2, true), true);
    d = m_down1_conv.backward(ctx, *d, true);
    nn::add_into<BackendType>(ctx, *d, m_dh1_skip, m_dh1, "recdiff::UNet::backward");
    d = m_down1.backward(ctx, m_dh1, true);
    // 2.
    d = m_down0_conv.backward(ctx, *d, true);
    nn::add_into<BackendType>(ctx, *d, m_dh0_skip, m_dh0, "recdiff::UNet::backward");
    d = m_down0.backward(ctx, m_dh0, true);
    nn::add_into<BackendType>(ctx, *d, m_dr_skip, m_dr, "recdiff::UNet::backward");
    // The step embedding: the sum of every block's temb gradient.
    accumulate_temb_grad(ctx);
    // 1.
    const Matrix* dx = m_init.backward(ctx, m_dr, need_input_grad);
    if (!need_input_grad) return nullptr;
    if constexpr (Dims == 2) {
      nn::reshape_copy<BackendType>(ctx, *dx, m_rows, m_items, m_dx, "recdiff::UNet2D::backward");
      return &m_dx;
    } else {
      return dx;
    }
  }

  /// Appends every trainable tensor under the names of the class comment.
  void collect_parameters(const std::string& prefix, nn::ParameterList<BackendType, T>& out) {
    m_time.collect_parameters(prefix + "time_mlp.", out);
    m_init.collect_parameters(prefix + "init_conv.", out);
    m_down0.collect_parameters(prefix + "downs.0.0.", out);
    m_down0_conv.collect_parameters(prefix + "downs.0.3.", out);
    m_down1.collect_parameters(prefix + "downs.1.0.", out);
    m_down1_conv.collect_parameters(prefix + "downs.1.3.", out);
    m_mid1.collect_parameters(prefix + "mid_block1.", out);
    m_mid2.collect_parameters(prefix + "mid_block2.", out);
    m_up0.collect_parameters(prefix + "ups.0.0.", out);
    m_up0_conv.collect_parameters(prefix + "ups.0.3.1.", out);
    m_up1.collect_parameters(prefix + "ups.1.0.", out);
    m_up1_conv.collect_parameters(prefix + "ups.1.3.", out);
    m_final.collect_parameters(prefix + "final_res_block.", out);
    m_final_conv.collect_parameters(prefix + "final_conv.", out);
  }

  /// Number of trainable scalars (356 for Dims = 1, 656 for Dims = 2, whatever I).
  std::size_t num_parameters() const noexcept {
    return m_time.num_parameters() + m_init.num_parameters() + m_down0.num_parameters() +
           m_down0_conv.num_parameters() + m_down1.num_parameters() +
           m_down1_conv.num_parameters() + m_mid1.num_parameters() + m_mid2.num_parameters() +
           m_up0.num_parameters() + m_up0_conv.num_parameters() + m_up1.num_parameters() +
           m_up1_conv.num_parameters() + m_final.num_parameters() + m_final_conv.num_parameters();
  }

  /// The step embedding of the last forward() (B x 4 for the 1-D net, 1 x 4 for the 2-D net).
  const nn::TimeMlp<BackendType, T>& time_mlp() const noexcept { return m_time; }

 private:
  static int checked(int items) {
    if (items < 2 || items % 2 != 0)
      throw std::invalid_argument("recdiff::UNet: items must be even and >= 2 (the U-Net halves and "
                                  "doubles the item axis), got " +
                                  std::to_string(items));
    return items;
  }

  // Width of the 2-D maps at `level` (0: I, 1: I / 2); unused by the 1-D net.
  int level_width(int level) const noexcept { return level == 0 ? m_items : m_items / 2; }

  ConvType conv(int in, int out, int kernel, int level, nn::ConvOptions options) const {
    if constexpr (Dims == 1)
      return ConvType(in, out, kernel, options);
    else
      return ConvType(in, out, kernel, level_width(level), options);
  }

  Block block(int in, int out, int level, double dropout, std::uint32_t index) const {
    const std::uint32_t salt = index << 24;
    if constexpr (Dims == 1)
      return Block(in, out, dropout, salt);
    else
      return Block(in, out, level_width(level), dropout, salt);
  }

  nn::UpsampleNearest<BackendType, T, Dims> upsampler() const {
    if constexpr (Dims == 1)
      return nn::UpsampleNearest<BackendType, T, Dims>();
    else
      return nn::UpsampleNearest<BackendType, T, Dims>(level_width(1));
  }

  void accumulate_temb_grad(const Context& ctx) {
    const Block* blocks[] = {&m_down0, &m_down1, &m_mid1, &m_mid2, &m_up0, &m_up1, &m_final};
    m_dtemb = blocks[0]->temb_grad();
    for (std::size_t b = 1; b < sizeof(blocks) / sizeof(blocks[0]); ++b) {
      nn::add_into<BackendType>(ctx, m_dtemb, blocks[b]->temb_grad(), m_dtemb_next,
                                "recdiff::UNet::backward");
      m_dtemb.swap(m_dtemb_next);
    }
    m_time.backward(ctx, m_dtemb, false);
  }

  int m_items;
  nn::TimeMlp<BackendType, T> m_time;
  ConvType m_init;
  Block m_down0;
  ConvType m_down0_conv;
  Block m_down1;
  ConvType m_down1_conv;
  Block m_mid1, m_mid2;
  Block m_up0;
  nn::UpsampleNearest<BackendType, T, Dims> m_upsample;
  ConvType m_up0_conv;
  Block m_up1;
  ConvType m_up1_conv;
  Block m_final;
  ConvType m_final_conv;
  std::int64_t m_rows = 0;
  bool m_forward_done = false;
  Matrix m_image, m_out, m_dimage, m_dx;
  Matrix m_cat1, m_cat2, m_cat3;
  Matrix m_du1, m_dr_skip, m_du0, m_dh0_skip, m_dm2, m_dh1_skip, m_dh1, m_dh0, m_dr;
  Matrix m_dtemb, m_dtemb_next;
};

/// RecFusion's 1-D U-Net: every user's row a (1, I) sequence.
template <class BackendType, class T>
using UNet1D = UNet<BackendType, T, 1>;

/// RecFusion's 2-D U-Net: the batch one (1, B, I) image.
template <class BackendType, class T>
using UNet2D = UNet<BackendType, T, 2>;

}  // namespace recdiff
