#pragma once
/// @file
/// Embedding: a learnable lookup table (torch.nn.Embedding) mapping integer ids to dense rows, with an
/// optional padding id, for item and position embeddings of sequential recommenders (SASRec, Kang
/// and McAuley 2018; BERT4Rec, Sun et al. 2019).

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/nn/init.hpp>
#include <recdiff/nn/parameter.hpp>
#include <recdiff/nn/pass.hpp>

namespace recdiff::nn {

/// A (num_embeddings x dim) table W; forward_ids(ids) returns the rows W[ids[r]] (N x dim) for N ids,
/// e.g. a batch of B sequences of length L flattened row-major into N = B * L ids, whose output is
/// then the (B * L) x dim matrix of the (B, L, dim) batch.
///
/// With a padding id p (SASRec and BERT4Rec pad sequences with item 0): row p of W is zero after
/// initialize(), its output rows are zero, and it receives no gradient, so it stays zero under any
/// optimiser step that leaves zero-gradient zero entries at zero.
///
/// Backward scatters dy into dW: row r of dy is added to row ids[r] of the gradient, and rows of
/// duplicate ids add up. The ids of the batch are grouped by value on the host, and each table row's
/// contributions are summed in batch order by one invocation, so there are no write conflicts and the
/// result is the same at any thread count. A pass that writes after zero_grad() first zeroes the
/// whole gradient (rows of ids absent from the batch get 0).
///
/// Not a Module: its input is a list of integer ids, not a differentiable matrix, so there is no
/// Module::forward(ctx, Matrix<T>, pass) to offer and no input gradient to return. It has the rest of a
/// module's interface (backend_type, scalar_type, collect_parameters, num_parameters), so
/// parameters_of(), optimisers and checkpoints take it like any module.
///
/// Parameter: prefix + "weight" (num_embeddings x dim).
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class Embedding {
 public:
  using backend_type = BackendType;                                    ///< the backend
  using scalar_type = T;                                               ///< the scalar type
  using Matrix = typename BackendType::template Matrix<T>;             ///< storage
  using IndexMatrix = typename BackendType::template Matrix<index_t>;  ///< id storage
  using Context = typename BackendType::Context;                       ///< execution context

  /// An empty 0 x 0 table.
  Embedding() = default;

  /// A num_embeddings x dim table of zeros (call initialize() to draw it), with an optional padding id.
  /// @throws std::invalid_argument unless both sizes are positive and the padding id is in
  /// [0, num_embeddings)
  Embedding(index_t num_embeddings, int dim, std::optional<index_t> padding_id = std::nullopt)
      : m_weight(checked(num_embeddings, dim, padding_id), dim), m_padding(padding_id) {}

  /// Draws W ~ N(0, stddev^2) (torch.nn.Embedding's default is stddev 1) with Philox key
  /// weight_key(layer_index), then zeroes the padding row. Reproducible on any backend and thread
  /// count (nn/init.hpp).
  void initialize(const Context& ctx, std::uint64_t seed, std::uint32_t layer_index,
                  double stddev = 1.0) {
    fill_normal<BackendType>(ctx, m_weight.value, stddev, seed, weight_key(layer_index));
    if (m_padding)
      BackendType::for_each(ctx, 1, dim(), ZeroRow{m_weight.value.data(), *m_padding, dim()});
  }

  /// Number of rows of the table.
  index_t num_embeddings() const noexcept { return static_cast<index_t>(m_weight.value.rows()); }
  /// Width of a row.
  int dim() const noexcept { return static_cast<int>(m_weight.value.cols()); }
  /// The padding id, if any.
  std::optional<index_t> padding_id() const noexcept { return m_padding; }
  /// Number of scalars in the table.
  std::size_t num_parameters() const noexcept { return m_weight.size(); }

  /// The table W (num_embeddings x dim).
  Matrix& weight() noexcept { return m_weight.value; }
  /// The table W (num_embeddings x dim).
  const Matrix& weight() const noexcept { return m_weight.value; }
  /// dLoss/dW accumulated since the last zero_grad().
  const Matrix& weight_grad() { return m_weight.gradient(); }

  /// Appends {prefix + "weight"}.
  void collect_parameters(const std::string& prefix, ParameterList<BackendType, T>& out) {
    out.push_back({prefix + "weight", &m_weight});
  }

  /// out (ids.size() x dim) = the rows W[ids[r]] (zero rows for the padding id), kept in the module;
  /// the ids are copied for backward().
  /// @throws std::invalid_argument for an id outside [0, num_embeddings) (named with its position)
  const Matrix& forward_ids(const Context& ctx, std::span<const index_t> ids, const Pass& = {}) {
    for (std::size_t r = 0; r < ids.size(); ++r)
      if (ids[r] < 0 || ids[r] >= num_embeddings())
        throw std::invalid_argument("recdiff::nn::Embedding::forward_ids: id " +
                                    std::to_string(ids[r]) + " at position " + std::to_string(r) +
                                    " is outside [0, " + std::to_string(num_embeddings()) + ")");
    const auto rows = static_cast<std::int64_t>(ids.size());
    m_ids.assign(ids.begin(), ids.end());
    BackendType::upload(ctx, ids, rows, 1, m_ids_buffer);
    m_y.resize(rows, dim());
    BackendType::for_each(ctx, rows, dim(),
                          Gather{m_ids_buffer.data(), m_weight.value.data(), m_y.data(), dim(),
                                 m_padding.value_or(-1)});
    m_forward_done = true;
    return m_y;
  }

  /// dW += the scatter of dy (ids.size() x dim, dLoss/d of the last forward_ids() output): row r of
  /// dy is added to row ids[r]; duplicate ids add up; the padding id gets nothing.
  /// @throws std::logic_error without a forward_ids(); std::invalid_argument on a shape mismatch
  void backward(const Context& ctx, const Matrix& dy) {
    if (!m_forward_done)
      throw std::logic_error("recdiff::nn::Embedding::backward: no forward_ids() pass to differentiate");
    if (dy.rows() != m_y.rows() || dy.cols() != m_y.cols())
      throw std::invalid_argument("recdiff::nn::Embedding::backward: dy is " +
                                  std::to_string(dy.rows()) + "x" + std::to_string(dy.cols()) +
                                  ", expected the output's " + std::to_string(m_y.rows()) + "x" +
                                  std::to_string(m_y.cols()));
    group_ids(ctx);
    if (m_weight.grad_beta() == T(0)) m_weight.grad.setZero(m_weight.value.rows(), m_weight.value.cols());
    const auto segments = static_cast<std::int64_t>(m_segment_rows.size());
    if (segments == 0) return;
    BackendType::for_each(ctx, segments, dim(),
                          Scatter{dy.data(), m_weight.grad.data(), m_order_buffer.data(),
                                  m_rows_buffer.data(), m_offsets_buffer.data(), dim()});
  }

  // Kernel functors, public: nvcc refuses a private nested type as a kernel's template argument.
  /// out(r, j) = W(ids[r], j), 0 for the padding id.
  struct Gather {
    const index_t* ids;
    const T* table;
    T* out;
    std::int64_t dim;
    index_t padding;  // -1: none
    RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t j) const {
      const index_t id = ids[r];
      out[r * dim + j] = id == padding ? T(0) : table[static_cast<std::int64_t>(id) * dim + j];
    }
  };

  /// grad(rows[s], j) += sum over p in [offsets[s], offsets[s + 1]), in order, of dy(order[p], j).
  struct Scatter {
    const T* dy;
    T* grad;
    const index_t* order;
    const index_t* rows;
    const index_t* offsets;
    std::int64_t dim;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t s, std::int64_t j) const {
      T sum = T(0);
      for (index_t p = offsets[s]; p < offsets[s + 1]; ++p)
        sum += dy[static_cast<std::int64_t>(order[p]) * dim + j];
      T& g = grad[static_cast<std::int64_t>(rows[s]) * dim + j];
      g = g + sum;
    }
  };

  /// table(row, j) = 0.
  struct ZeroRow {
    T* table;
    index_t row;
    std::int64_t dim;
    RECDIFF_HOST_DEVICE void operator()(std::int64_t, std::int64_t j) const {
      table[static_cast<std::int64_t>(row) * dim + j] = T(0);
    }
  };

 private:
  // Groups the batch positions of the last forward_ids() by id (padding left out), positions in
  // increasing order inside a group, and uploads the grouping.
  void group_ids(const Context& ctx) {
    std::vector<std::pair<index_t, index_t>> by_id;
    by_id.reserve(m_ids.size());
    for (std::size_t r = 0; r < m_ids.size(); ++r)
      if (!m_padding || m_ids[r] != *m_padding)
        by_id.emplace_back(m_ids[r], static_cast<index_t>(r));
    std::sort(by_id.begin(), by_id.end());
    std::vector<index_t> order(by_id.size());
    m_segment_rows.clear();
    std::vector<index_t> offsets;
    for (std::size_t k = 0; k < by_id.size(); ++k) {
      order[k] = by_id[k].second;
      if (k == 0 || by_id[k].first != by_id[k - 1].first) {
        m_segment_rows.push_back(by_id[k].first);
        offsets.push_back(static_cast<index_t>(k));
      }
    }
    offsets.push_back(static_cast<index_t>(by_id.size()));
    const auto n = static_cast<std::int64_t>(order.size());
    const auto s = static_cast<std::int64_t>(m_segment_rows.size());
    BackendType::upload(ctx, std::span<const index_t>(order), n, 1, m_order_buffer);
    BackendType::upload(ctx, std::span<const index_t>(m_segment_rows), s, 1, m_rows_buffer);
    BackendType::upload(ctx, std::span<const index_t>(offsets), s + 1, 1, m_offsets_buffer);
  }

  static index_t checked(index_t num_embeddings, int dim, std::optional<index_t> padding_id) {
    if (num_embeddings <= 0 || dim <= 0)
      throw std::invalid_argument("recdiff::nn::Embedding: sizes must be positive, got " +
                                  std::to_string(num_embeddings) + " x " + std::to_string(dim));
    if (padding_id && (*padding_id < 0 || *padding_id >= num_embeddings))
      throw std::invalid_argument("recdiff::nn::Embedding: padding id " + std::to_string(*padding_id) +
                                  " is outside [0, " + std::to_string(num_embeddings) + ")");
    return num_embeddings;
  }

  Tensor<BackendType, T> m_weight;  // num_embeddings x dim
  std::optional<index_t> m_padding;
  Matrix m_y;
  std::vector<index_t> m_ids, m_segment_rows;
  IndexMatrix m_ids_buffer, m_order_buffer, m_rows_buffer, m_offsets_buffer;
  bool m_forward_done = false;
};

}  // namespace recdiff::nn
