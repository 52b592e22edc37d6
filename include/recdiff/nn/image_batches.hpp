#pragma once
/// @file
/// ImageBatches: runs a module that treats a whole batch as one image (RecFusion's 2-D U-Net) on a
/// batch of any size and of several steps, one image per run of rows with the same step.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/nn/detail/replicas.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// Rows [src_row0, src_row0 + n) of src into rows [dst_row0, ...) of dst (both `cols` wide).
template <class T>
struct CopyRows {
  const T* src;
  T* dst;
  std::int64_t cols;
  std::int64_t src_row0;
  std::int64_t dst_row0;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    dst[(dst_row0 + i) * cols + j] = src[(src_row0 + i) * cols + j];
  }
};

/// RecFusion's 2-D U-Net (Bénédict et al. 2023; docs/models.md) reads its batch of B users as one
/// (1, 1, B, I) image with one step, so B must be even and every row must share the step. This
/// adapter cuts a batch into images: a new image starts where the step changes or after
/// `image_rows` rows (the training batch size), and an image with an odd number of rows gets one
/// zero row of padding (the paper pads to full batches; one row keeps the cost down). Each image runs
/// through its own replica of the module (shared parameters, own activations:
/// nn/detail/replicas.hpp), with its own dropout seed. So a whole-chain training batch (one block
/// of users per step) and an evaluation batch of any size both work, and a user's scores depend only
/// on the users of its image, as in the released code.
///
/// Parameters: the module's. A Module (and a Denoiser when the module is one).
/// @tparam ModuleType a Module whose forward needs an even number of rows with one step
template <class ModuleType>
class ImageBatches {
 public:
  using backend_type = typename ModuleType::backend_type;              ///< the backend
  using scalar_type = typename ModuleType::scalar_type;                ///< the scalar type
  using Matrix = typename backend_type::template Matrix<scalar_type>;  ///< storage
  using Context = typename backend_type::Context;                      ///< execution context

  ImageBatches() = default;
  /// Images of at most `image_rows` rows (>= 2).
  /// @throws std::invalid_argument for image_rows < 2
  ImageBatches(ModuleType module, int image_rows)
      : m_replicas(std::move(module)), m_image_rows(checked(image_rows)) {}

  /// The module (owner of the parameters).
  ModuleType& module() noexcept { return m_replicas.owner(); }
  /// Items of the module.
  int items() const noexcept { return m_replicas.owner().items(); }
  /// Rows per image at most.
  int image_rows() const noexcept { return m_image_rows; }

  /// Initialises the module (forwarded).
  void initialize(const Context& ctx, std::uint64_t seed) { m_replicas.owner().initialize(ctx, seed); }

  /// The module's output for every row, image by image.
  /// @throws std::invalid_argument when pass.steps does not hold one step per row
  const Matrix& forward(const Context& ctx, const Matrix& x, const Pass& pass) {
    if (static_cast<std::int64_t>(pass.steps.size()) != x.rows())
      throw std::invalid_argument("recdiff::nn::ImageBatches::forward: " +
                                  std::to_string(pass.steps.size()) + " steps for " +
                                  std::to_string(x.rows()) + " rows");
    cut(pass.steps);
    const std::size_t images = m_begin.size();
    m_replicas.reserve(images);
    m_replicas.sync_values(images);
    if (m_inputs.size() < images) {
      m_inputs.resize(images);
      m_steps.resize(images);
      m_dys.resize(images);
    }
    m_cols = x.cols();
    for (std::size_t c = 0; c < images; ++c) {
      const std::int64_t rows = m_end[c] - m_begin[c], padded = rows + (rows % 2);
      m_inputs[c].setZero(padded, x.cols());
      backend_type::for_each(ctx, rows, x.cols(),
                             CopyRows<scalar_type>{x.data(), m_inputs[c].data(), x.cols(),
                                                   m_begin[c], 0});
      m_steps[c].assign(static_cast<std::size_t>(padded), pass.steps[static_cast<std::size_t>(m_begin[c])]);
      const Pass image_pass{pass.train, pass.seed + 0x9E3779B97F4A7C15ull * c, pass.counter, m_steps[c]};
      const Matrix& out = m_replicas[c].forward(ctx, m_inputs[c], image_pass);
      if (c == 0) m_y.resize(x.rows(), out.cols());
      backend_type::for_each(ctx, rows, out.cols(),
                             CopyRows<scalar_type>{out.data(), m_y.data(), out.cols(), 0, m_begin[c]});
    }
    m_images = images;
    return m_y;
  }

  /// Backward image by image; the replicas' parameter gradients are summed into the module's.
  /// @throws std::logic_error without a forward()
  const Matrix* backward(const Context& ctx, const Matrix& dy, bool need_input_grad) {
    if (m_images == 0)
      throw std::logic_error("recdiff::nn::ImageBatches::backward: no forward() to differentiate");
    if (need_input_grad) m_dx.resize(dy.rows(), m_cols);
    for (std::size_t c = 0; c < m_images; ++c) {
      const std::int64_t rows = m_end[c] - m_begin[c];
      m_dys[c].setZero(m_inputs[c].rows(), dy.cols());
      backend_type::for_each(ctx, rows, dy.cols(),
                             CopyRows<scalar_type>{dy.data(), m_dys[c].data(), dy.cols(),
                                                   m_begin[c], 0});
      if (c > 0) m_replicas.zero_grad(c);
      const Matrix* g = m_replicas[c].backward(ctx, m_dys[c], need_input_grad);
      if (need_input_grad)
        backend_type::for_each(ctx, rows, m_cols,
                               CopyRows<scalar_type>{g->data(), m_dx.data(), m_cols, 0, m_begin[c]});
    }
    m_replicas.add_gradients(ctx, m_images);
    return need_input_grad ? &m_dx : nullptr;
  }

  /// The module's parameters.
  void collect_parameters(const std::string& prefix, ParameterList<backend_type, scalar_type>& out) {
    m_replicas.owner().collect_parameters(prefix, out);
  }
  /// Number of scalars.
  std::size_t num_parameters() const noexcept { return m_replicas.owner().num_parameters(); }

 private:
  static int checked(int rows) {
    if (rows < 2)
      throw std::invalid_argument("recdiff::nn::ImageBatches: image_rows must be >= 2, got " +
                                  std::to_string(rows));
    return rows;
  }

  // Image boundaries: a new image where the step changes or after image_rows rows.
  void cut(std::span<const int> steps) {
    m_begin.clear();
    m_end.clear();
    const auto n = static_cast<std::int64_t>(steps.size());
    for (std::int64_t a = 0; a < n;) {
      std::int64_t b = a + 1;
      while (b < n && b - a < m_image_rows &&
             steps[static_cast<std::size_t>(b)] == steps[static_cast<std::size_t>(a)])
        ++b;
      m_begin.push_back(a);
      m_end.push_back(b);
      a = b;
    }
  }

  detail::Replicas<ModuleType> m_replicas;
  int m_image_rows = 200;
  std::vector<std::int64_t> m_begin, m_end;
  std::vector<Matrix> m_inputs, m_dys;
  std::vector<std::vector<int>> m_steps;
  Matrix m_y, m_dx;
  std::int64_t m_cols = 0;
  std::size_t m_images = 0;
};

}  // namespace recdiff::nn
