#pragma once
/// @file
/// Feature maps: the layout of the convolutional modules' activations, the element-wise index space
/// they share, and their deterministic segment reductions.
///
/// A batch of N feature maps with C channels of S positions each, (N, C, L) sequences (S = L) or
/// (N, C, H, W) images (S = H W), is a backend matrix of N rows and C S columns, channel-major in a
/// row: element (n, c, l) sits at column c L + l, element (n, c, h, w) at column (c H + h) W + w.
/// Concatenating the columns of two such matrices therefore concatenates their channels.
///
/// The channel counts of RecFusion's U-Nets are tiny (1 to 3) and the planes long (thousands of
/// items), and the 2-D U-Net holds one image (N = 1), so neither rows nor channels give enough
/// parallel work. The modules instead split every (sample, channel) plane into chunks of
/// SegmentChunks::kChunk positions: element-wise passes run over (plane, chunk) rows, and a sum over
/// a plane adds its chunks' partial sums in chunk order. Every sum therefore has a fixed order, and
/// the results do not depend on the thread count or the backend's scheduling.

#include <cstdint>
#include <stdexcept>
#include <string>

#include <recdiff/concepts/backend.hpp>
#include <recdiff/config.hpp>

namespace recdiff::nn {

/// The index space of an element-wise pass over `segments` contiguous segments of `length`
/// elements each (the planes of a feature map, or whole rows), every segment cut into `chunks`
/// chunks of kChunk elements and every chunk into kRuns runs of kRun consecutive elements: pass
/// row r is chunk r % chunks of segment r / chunks, pass column g its run g. Run it as
/// for_each(ctx, rows(), kRuns, f); f finds its elements with run() and visits them with each(),
/// so that a CPU decodes the index once per run and vectorises the run's fixed-length loop.
struct SegmentChunks {
  static constexpr std::int64_t kChunk = 256;            ///< elements per chunk
  static constexpr std::int64_t kRun = 8;                ///< consecutive elements per invocation
  static constexpr std::int64_t kRuns = kChunk / kRun;   ///< invocations per chunk (pass columns)
  std::int64_t segments = 0;                             ///< number of segments
  std::int64_t length = 0;                               ///< elements per segment
  std::int64_t chunks = 0;                               ///< chunks per segment: ceil(length / kChunk)

  /// The space of `segments` segments of `length` elements.
  static SegmentChunks of(std::int64_t segments, std::int64_t length) {
    return SegmentChunks{segments, length, (length + kChunk - 1) / kChunk};
  }
  /// Rows of the pass (segments x chunks).
  RECDIFF_HOST_DEVICE std::int64_t rows() const { return segments * chunks; }
  /// Run g of pass row r: the buffer offset of its first element; `segment` receives the
  /// segment's index and `count` the number of the run's elements inside it (0 to kRun).
  RECDIFF_HOST_DEVICE std::int64_t run(std::int64_t r, std::int64_t g, std::int64_t& segment,
                                       std::int64_t& count) const {
    segment = r / chunks;
    const std::int64_t position = (r - segment * chunks) * kChunk + g * kRun;
    const std::int64_t left = length - position;
    count = left < kRun ? (left > 0 ? left : 0) : kRun;
    return segment * length + position;
  }
  /// Calls body(k) for the `count` elements k0, k0 + 1, ... of a run, with a fixed trip count for
  /// a full run.
  template <class Body>
  RECDIFF_HOST_DEVICE static void each(std::int64_t k0, std::int64_t count, const Body& body) {
    if (count == kRun) {
      for (std::int64_t q = 0; q < kRun; ++q) body(k0 + q);
    } else {
      for (std::int64_t q = 0; q < count; ++q) body(k0 + q);
    }
  }
};

/// What a segment reduction adds up for element k of segment s.
enum class SegmentTerm {
  value,           ///< x[k]
  product,         ///< x[k] y[k]
  centered_square  ///< (x[k] - center[s])^2
};

/// partial[r] = the sum of the term over chunk r of the space (pass row r), in kLanes
/// interleaved lanes added in lane order.
template <class T>
struct SegmentChunkSums {
  static constexpr int kLanes = 8;  ///< interleaved partial sums per chunk
  const T* x;          ///< segments x length elements
  const T* y;          ///< second factor (SegmentTerm::product), same shape
  const T* center;     ///< one value per segment (SegmentTerm::centered_square)
  T* partial;          ///< space.rows() entries
  SegmentChunks space;
  SegmentTerm term;

  RECDIFF_HOST_DEVICE void operator()(std::int64_t r) const {
    const std::int64_t segment = r / space.chunks;
    const std::int64_t begin = (r - segment * space.chunks) * SegmentChunks::kChunk;
    const std::int64_t end =
        begin + SegmentChunks::kChunk < space.length ? begin + SegmentChunks::kChunk : space.length;
    const T* xs = x + segment * space.length;
    // kLanes interleaved sums (element p goes to lane (p - begin) % kLanes), added in lane order:
    // a fixed order that breaks the dependency chain of one running sum.
    T lane[kLanes];
    for (int l = 0; l < kLanes; ++l) lane[l] = T(0);
    std::int64_t p = begin;
    if (term == SegmentTerm::value) {
      for (; p + kLanes <= end; p += kLanes)
        for (int l = 0; l < kLanes; ++l) lane[l] += xs[p + l];
      for (int l = 0; p < end; ++p, ++l) lane[l] += xs[p];
    } else if (term == SegmentTerm::product) {
      const T* ys = y + segment * space.length;
      for (; p + kLanes <= end; p += kLanes)
        for (int l = 0; l < kLanes; ++l) lane[l] += xs[p + l] * ys[p + l];
      for (int l = 0; p < end; ++p, ++l) lane[l] += xs[p] * ys[p];
    } else {
      const T m = center[segment];
      for (; p + kLanes <= end; p += kLanes)
        for (int l = 0; l < kLanes; ++l) {
          const T d = xs[p + l] - m;
          lane[l] += d * d;
        }
      for (int l = 0; p < end; ++p, ++l) {
        const T d = xs[p] - m;
        lane[l] += d * d;
      }
    }
    T s = T(0);
    for (int l = 0; l < kLanes; ++l) s += lane[l];
    partial[r] = s;
  }
};

/// out[s] = scale * (the chunks' partial sums of segment s, added in chunk order).
template <class T>
struct ChunkTotals {
  const T* partial;     ///< segments x chunks entries
  T* out;               ///< segments entries
  std::int64_t chunks;  ///< chunks per segment
  T scale;              ///< factor of the total (1, or 1 / length for a mean)

  RECDIFF_HOST_DEVICE void operator()(std::int64_t s) const {
    T total = T(0);
    for (std::int64_t p = 0; p < chunks; ++p) total += partial[s * chunks + p];
    out[s] = scale * total;
  }
};

/// out[o] = sum over n < count of in[n * stride + o], in n order (or out[o] + that sum when
/// `accumulate`: the sum first, then one addition, the bits of "previous + sum"). Sums over the
/// samples of a batch (per-channel parameter gradients) and over partial-sum rows.
template <class T>
struct StridedSums {
  const T* in;          ///< count x stride entries (at least)
  T* out;               ///< one entry per output o
  std::int64_t count;   ///< terms per output
  std::int64_t stride;  ///< distance between consecutive terms
  bool accumulate;      ///< add to out instead of overwriting

  RECDIFF_HOST_DEVICE void operator()(std::int64_t o) const {
    T total = T(0);
    for (std::int64_t n = 0; n < count; ++n) total += in[n * stride + o];
    out[o] = accumulate ? out[o] + total : total;
  }
};

/// dst[k] = src[k] over a flat buffer (one segment of the space): a reshape between matrix shapes
/// with the same element order (the 2-D U-Net's batch x items <-> one 1 x (B I) image).
template <class T>
struct CopyChunks {
  const T* src;
  T* dst;
  SegmentChunks space;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t g) const {
    std::int64_t s, count;
    const std::int64_t k0 = space.run(r, g, s, count);
    SegmentChunks::each(k0, count, [&](std::int64_t k) { dst[k] = src[k]; });
  }
};

/// out[k] = a[k] + b[k] over a flat buffer (out may alias neither): the sum of two gradient paths.
template <class T>
struct AddChunks {
  const T* a;
  const T* b;
  T* out;
  SegmentChunks space;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t g) const {
    std::int64_t s, count;
    const std::int64_t k0 = space.run(r, g, s, count);
    SegmentChunks::each(k0, count, [&](std::int64_t k) { out[k] = a[k] + b[k]; });
  }
};

/// Deterministic per-segment sums on a backend: out[s] = scale * sum of the term over segment s, in
/// two passes (chunk partial sums over segments x chunks rows, then each segment's chunks in
/// order). Holds the partial-sum buffer, reused while the shape stays.
/// @tparam BackendType a Backend; @tparam T the scalar type
template <class BackendType, class T>
class SegmentSums {
 public:
  using Matrix = typename BackendType::template Matrix<T>;  ///< storage
  using Context = typename BackendType::Context;            ///< execution context

  /// out[s] (s < segments) = scale * sum over the `length` elements k of segment s of the term
  /// (x[k], x[k] y[k] or (x[k] - center[s])^2); out is backend memory of `segments` entries.
  void compute(const Context& ctx, const T* x, const T* y, const T* center, SegmentTerm term,
               std::int64_t segments, std::int64_t length, T* out, T scale = T(1)) {
    const SegmentChunks space = SegmentChunks::of(segments, length);
    if (space.rows() == 0) return;
    m_partial.resize(space.rows(), 1);
    BackendType::for_each_row(ctx, space.rows(),
                              SegmentChunkSums<T>{x, y, center, m_partial.data(), space, term});
    BackendType::for_each_row(ctx, segments,
                              ChunkTotals<T>{m_partial.data(), out, space.chunks, scale});
  }

 private:
  Matrix m_partial;
};

/// dst (rows x cols, resized) = src with the same elements in the same order (src.size() must be
/// rows * cols).
/// @throws std::invalid_argument naming `who` when the sizes differ
template <class BackendType, class MatrixType>
void reshape_copy(const typename BackendType::Context& ctx, const MatrixType& src, std::int64_t rows,
                  std::int64_t cols, MatrixType& dst, const char* who) {
  using T = typename MatrixType::Scalar;
  const std::int64_t n = static_cast<std::int64_t>(src.rows()) * src.cols();
  if (n != rows * cols)
    throw std::invalid_argument(std::string(who) + ": cannot view " + std::to_string(src.rows()) +
                                "x" + std::to_string(src.cols()) + " as " + std::to_string(rows) +
                                "x" + std::to_string(cols));
  dst.resize(rows, cols);
  const SegmentChunks space = SegmentChunks::of(1, n);
  BackendType::for_each(ctx, space.rows(), SegmentChunks::kRuns,
                        CopyChunks<T>{src.data(), dst.data(), space});
}

/// out (resized to a's shape) = a + b element-wise, in chunks (parallel even for a single row).
/// @throws std::invalid_argument naming `who` when the shapes differ
template <class BackendType, class MatrixType>
void add_into(const typename BackendType::Context& ctx, const MatrixType& a, const MatrixType& b,
              MatrixType& out, const char* who) {
  using T = typename MatrixType::Scalar;
  if (a.rows() != b.rows() || a.cols() != b.cols())
    throw std::invalid_argument(std::string(who) + ": cannot add " + std::to_string(a.rows()) + "x" +
                                std::to_string(a.cols()) + " and " + std::to_string(b.rows()) +
                                "x" + std::to_string(b.cols()));
  out.resize(a.rows(), a.cols());
  const SegmentChunks space =
      SegmentChunks::of(1, static_cast<std::int64_t>(a.rows()) * a.cols());
  BackendType::for_each(ctx, space.rows(), SegmentChunks::kRuns,
                        AddChunks<T>{a.data(), b.data(), out.data(), space});
}

}  // namespace recdiff::nn
