#pragma once
/// @file
/// Channel concatenation of two feature maps (torch.cat((a, b), dim = 1)) and its backward split,
/// the U-Nets' skip connections. With the channel-major rows of nn/feature_map.hpp, concatenating
/// the channels of (N, Ca, S) and (N, Cb, S) maps IS concatenating the columns of the N x (Ca S)
/// and N x (Cb S) matrices. (nn::Concat joins the outputs of two modules on ONE input; here the two
/// maps come from different places in the network, so these are functions, not a Module.)

#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>
#include <recdiff/nn/feature_map.hpp>

namespace recdiff::nn {

/// out(n, p) = a(n, p) for p < ca, else b(n, p - ca), over the chunked rows of the output.
template <class T>
struct JoinColumns {
  const T* a;
  const T* b;
  T* out;
  std::int64_t ca;
  std::int64_t cb;
  SegmentChunks space;  ///< N rows of ca + cb
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t g) const {
    std::int64_t n, count;
    const std::int64_t k0 = space.run(r, g, n, count);
    const std::int64_t row = n * (ca + cb);
    const T* ar = a + n * ca;
    const T* br = b + n * cb;
    SegmentChunks::each(k0, count, [&](std::int64_t k) {
      const std::int64_t p = k - row;
      out[k] = p < ca ? ar[p] : br[p - ca];
    });
  }
};

/// The inverse of JoinColumns: da(n, p) = dy(n, p) for p < ca, db(n, p - ca) = dy(n, p) otherwise.
template <class T>
struct SplitColumns {
  const T* dy;
  T* da;
  T* db;
  std::int64_t ca;
  std::int64_t cb;
  SegmentChunks space;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t g) const {
    std::int64_t n, count;
    const std::int64_t k0 = space.run(r, g, n, count);
    const std::int64_t row = n * (ca + cb);
    T* ar = da + n * ca;
    T* br = db + n * cb;
    SegmentChunks::each(k0, count, [&](std::int64_t k) {
      const std::int64_t p = k - row;
      if (p < ca)
        ar[p] = dy[k];
      else
        br[p - ca] = dy[k];
    });
  }
};

/// out (N x (a.cols() + b.cols()), resized) = [a, b] row by row: the channel concatenation of two
/// feature maps with the same samples and positions.
/// @throws std::invalid_argument when a and b have different row counts
template <class BackendType, class MatrixType>
void concat_channels(const typename BackendType::Context& ctx, const MatrixType& a,
                     const MatrixType& b, MatrixType& out) {
  using T = typename MatrixType::Scalar;
  if (a.rows() != b.rows())
    throw std::invalid_argument("recdiff::nn::concat_channels: the maps have " +
                                std::to_string(a.rows()) + " and " + std::to_string(b.rows()) +
                                " samples");
  const std::int64_t ca = a.cols(), cb = b.cols();
  out.resize(a.rows(), ca + cb);
  const SegmentChunks space = SegmentChunks::of(a.rows(), ca + cb);
  BackendType::for_each(ctx, space.rows(), SegmentChunks::kRuns,
                        JoinColumns<T>{a.data(), b.data(), out.data(), ca, cb, space});
}

/// da (N x ca) and db (N x (dy.cols() - ca)), resized, = the two column blocks of dy: the backward
/// pass of concat_channels.
/// @throws std::invalid_argument unless 0 <= ca <= dy.cols()
template <class BackendType, class MatrixType>
void split_channels(const typename BackendType::Context& ctx, const MatrixType& dy, std::int64_t ca,
                    MatrixType& da, MatrixType& db) {
  using T = typename MatrixType::Scalar;
  if (ca < 0 || ca > dy.cols())
    throw std::invalid_argument("recdiff::nn::split_channels: first block of " + std::to_string(ca) +
                                " columns, dy has " + std::to_string(dy.cols()));
  const std::int64_t cb = dy.cols() - ca;
  da.resize(dy.rows(), ca);
  db.resize(dy.rows(), cb);
  const SegmentChunks space = SegmentChunks::of(dy.rows(), ca + cb);
  BackendType::for_each(ctx, space.rows(), SegmentChunks::kRuns,
                        SplitColumns<T>{dy.data(), da.data(), db.data(), ca, cb, space});
}

}  // namespace recdiff::nn
