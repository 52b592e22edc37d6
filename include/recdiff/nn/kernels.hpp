#pragma once
/// @file
/// The element-wise and per-row kernels of the nn layers, as functors over an explicit index that
/// capture raw pointers (CpuBackend runs them with loops; a device backend launches the same body).
/// Every kernel's result depends only on its index, never on the thread that runs it.

#include <cmath>
#include <cstdint>

#include <recdiff/config.hpp>
#include <recdiff/math/philox.hpp>

namespace recdiff::nn {

/// sums(j) = sum over rows of x(r, j) (or sums(j) + that sum when `accumulate`), for the columns of
/// block `b` (kColumns columns per block). Each column is summed in row order by one invocation, so
/// the result is the same at any thread count; rows are walked contiguously inside a block, which
/// keeps the row-major reads cache friendly.
template <class T>
struct ColumnSums {
  static constexpr std::int64_t kColumns = 64;  ///< columns per block (one invocation)
  const T* x;         ///< rows x cols, row-major
  T* sums;            ///< cols entries (overwritten, or added to when accumulate)
  std::int64_t rows;  ///< rows of x
  std::int64_t cols;  ///< columns (and row stride) of x
  bool accumulate = false;  ///< add to sums instead of overwriting

  /// Number of blocks (invocations) for `cols` columns.
  static constexpr std::int64_t blocks(std::int64_t columns) {
    return (columns + kColumns - 1) / kColumns;
  }

  RECDIFF_HOST_DEVICE void operator()(std::int64_t b) const {
    const std::int64_t begin = b * kColumns;
    const std::int64_t end = begin + kColumns < cols ? begin + kColumns : cols;
    // The column's own sum first, then one addition: accumulating gives the bits of
    // "previous + sum", and overwriting the bits of the plain sum.
    T local[kColumns];
    for (std::int64_t j = begin; j < end; ++j) local[j - begin] = T(0);
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * cols;
      for (std::int64_t j = begin; j < end; ++j) local[j - begin] += row[j];
    }
    for (std::int64_t j = begin; j < end; ++j)
      sums[j] = accumulate ? sums[j] + local[j - begin] : local[j - begin];
  }
};

/// Inverted dropout on a group of kColumns columns of row i: out = in / (1 - p) where the element
/// survives, 0 where it is dropped. Element (i, j) is dropped when philox uniform
/// (seed, Stream::dropout, counter, i, j) < p, i.e. word j % 4 of Philox block j / 4. The group's
/// kColumns / 4 blocks are drawn lane-wise (philox::random_blocks), which vectorises.
template <class T>
struct DropoutKernel {
  static constexpr std::int64_t kColumns = 64;                   ///< columns per invocation
  static constexpr int kBlocks = static_cast<int>(kColumns / 4);  ///< Philox blocks per invocation
  const T* in;            ///< rows x cols, row-major
  T* out;                 ///< same shape (may equal `in`)
  std::int64_t cols;      ///< columns (and row stride)
  std::uint64_t seed;     ///< run seed
  std::uint32_t counter;  ///< per-call step counter (a new mask for every training step)
  float p;                ///< drop probability, in [0, 1)
  T scale;                ///< 1 / (1 - p)

  /// Number of groups (invocations per row) for `columns` columns.
  static constexpr std::int64_t groups(std::int64_t columns) {
    return (columns + kColumns - 1) / kColumns;
  }

  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t group) const {
    std::uint32_t words[4][kBlocks];
    philox::random_blocks<kBlocks>(seed, philox::Stream::dropout, counter,
                                   static_cast<std::uint32_t>(i),
                                   static_cast<std::uint32_t>(kBlocks * group), words);
    // The factor of each column (0 where dropped, else scale > 0), transposed from the lanes to
    // column order; a factor array rather than a bool mask keeps the final loop in one vector width.
    T factor[kColumns];
    for (int l = 0; l < kBlocks; ++l)
      for (int c = 0; c < 4; ++c)
        factor[4 * l + c] = philox::to_unit(words[c][l]) < p ? T(0) : scale;
    const std::int64_t j0 = kColumns * group;
    const std::int64_t n = cols - j0 < kColumns ? cols - j0 : kColumns;
    const T* src = in + i * cols + j0;
    T* dst = out + i * cols + j0;
    for (std::int64_t l = 0; l < n; ++l) dst[l] = factor[l] != T(0) ? src[l] * factor[l] : T(0);
  }
};

/// Row-wise L2 normalisation y = x / max(||x||, floor) of row i; stores the divisor per row.
template <class T>
struct RowL2NormForward {
  const T* x;         ///< rows x cols, row-major
  T* y;               ///< same shape (may equal x)
  T* divisor;         ///< rows entries: max(||x_i||, floor)
  std::int64_t cols;  ///< columns (and row stride)
  T floor;            ///< 1e-12 (torch.nn.functional.normalize's default eps)

  RECDIFF_HOST_DEVICE void operator()(std::int64_t i) const {
    const T* xr = x + i * cols;
    T s = T(0);
    for (std::int64_t j = 0; j < cols; ++j) s += xr[j] * xr[j];
    const T norm = std::sqrt(s);
    const T d = norm > floor ? norm : floor;
    divisor[i] = d;
    const T inv = T(1) / d;
    T* yr = y + i * cols;
    for (std::int64_t j = 0; j < cols; ++j) yr[j] = xr[j] * inv;
  }
};

/// Backward of RowL2NormForward for row i: dx = (dy - y (y . dy)) / ||x|| where the norm exceeds the
/// floor, and dx = dy / floor where it does not (the divisor is then a constant).
template <class T>
struct RowL2NormBackward {
  const T* y;          ///< the forward output
  const T* dy;         ///< gradient w.r.t. y
  const T* divisor;    ///< per-row divisor stored by the forward pass
  T* dx;               ///< gradient w.r.t. x (may equal dy)
  std::int64_t cols;   ///< columns (and row stride)
  T floor;             ///< the forward pass's floor

  RECDIFF_HOST_DEVICE void operator()(std::int64_t i) const {
    const T* yr = y + i * cols;
    const T* dyr = dy + i * cols;
    T* dxr = dx + i * cols;
    const T inv = T(1) / divisor[i];
    T dot = T(0);
    if (divisor[i] > floor)
      for (std::int64_t j = 0; j < cols; ++j) dot += yr[j] * dyr[j];
    for (std::int64_t j = 0; j < cols; ++j) dxr[j] = (dyr[j] - yr[j] * dot) * inv;
  }
};

/// DiffRec's sinusoidal step embedding (released code, timestep_embedding), element (i, j) for step
/// steps[i]: with half = dim / 2 and freq_j = exp(-ln(10000) j / half), columns [0, half) hold
/// cos(k freq_j), columns [half, 2 half) hold sin(k freq_j), and an odd dim ends with a 0 column.
/// Computed in float like the reference (float32 tensors), then converted to T.
template <class T>
struct SinusoidalEmbedding {
  const int* steps;  ///< rows entries, 0-based step indices k
  T* out;            ///< rows x dim, row-major
  std::int64_t dim;  ///< embedding size E

  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    const std::int64_t half = dim / 2;
    T& e = out[i * dim + j];
    if (j >= 2 * half) {
      e = T(0);
      return;
    }
    // -ln(10000) as the float32 scalar that multiplies the float32 arange in the reference.
    constexpr float neg_log_max_period = -9.21034037197618f;
    const std::int64_t f = j < half ? j : j - half;
    const float freq =
        std::exp(neg_log_max_period * static_cast<float>(f) / static_cast<float>(half));
    const float arg = static_cast<float>(steps[i]) * freq;
    e = static_cast<T>(j < half ? std::cos(arg) : std::sin(arg));
  }
};

/// Fills a weight matrix with stddev * N(0, 1) draws keyed by (seed, Stream::init, key, row, col),
/// where (row, col) is the element's position in the LOGICAL matrix: storage element (i, j) is
/// logical (i, j + col_offset), or logical (j, i + col_offset) when `transposed`. A layer stored in
/// blocks or transposed therefore gets the same numbers as the plain layer. One invocation draws
/// the four logical columns 4g..4g+3 of logical row r from one Philox block, g = first_group + gi.
template <class T>
struct NormalFill {
  T* data;                    ///< storage, row-major
  std::int64_t storage_cols;  ///< row stride of the storage
  std::int64_t logical_cols;  ///< columns of the block in logical coordinates (before col_offset)
  std::int64_t col_offset;    ///< logical column of the block's first column
  bool transposed;            ///< storage holds the block transposed
  std::uint64_t seed;         ///< run seed
  std::uint32_t key;          ///< per-tensor key (see nn/init.hpp)
  double stddev;              ///< standard deviation (normal), or the bound a of U(-a, a)
  std::int64_t first_group;   ///< col_offset / 4: the first group of four logical columns
  bool uniform = false;       ///< draw a (2u - 1), u ~ U[0, 1), instead of stddev z, z ~ N(0, 1)

  /// Runs over logical rows r and groups gi = 0 .. (col_offset + logical_cols + 3) / 4 - first_group.
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t gi) const {
    const std::int64_t g = first_group + gi;
    float z[4];
    if (uniform) {
      philox::uniform4(seed, philox::Stream::init, key, static_cast<std::uint32_t>(r),
                       static_cast<std::uint32_t>(g), z);
      for (float& v : z) v = 2.0f * v - 1.0f;
    } else {
      philox::normal4(seed, philox::Stream::init, key, static_cast<std::uint32_t>(r),
                      static_cast<std::uint32_t>(g), z);
    }
    for (int l = 0; l < 4; ++l) {
      const std::int64_t c = 4 * g + l - col_offset;  // column inside the block
      if (c < 0 || c >= logical_cols) continue;
      const std::int64_t k = transposed ? c * storage_cols + r : r * storage_cols + c;
      data[k] = static_cast<T>(stddev * static_cast<double>(z[l]));
    }
  }
};

/// out = a + b element-wise over a row-major matrix (out may not alias either; a and b may alias
/// each other). The sum of two branches: Residual's skip, Concat's two input gradients.
template <class T>
struct AddKernel {
  const T* a;
  const T* b;
  T* out;
  std::int64_t cols;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    out[i * cols + j] = a[i * cols + j] + b[i * cols + j];
  }
};

/// acc += x element-wise over a row-major matrix: a second term's gradient added to a buffer.
template <class T>
struct AddInPlace {
  T* acc;
  const T* x;
  std::int64_t cols;
  RECDIFF_HOST_DEVICE void operator()(std::int64_t i, std::int64_t j) const {
    acc[i * cols + j] += x[i * cols + j];
  }
};

/// dst(r, dst_col + j) = src(r, src_col + j) for j < count, run over (rows, count): a block of
/// columns moved between two row-major matrices (a cluster's slice of a batch, a latent block).
template <class T>
struct CopyColumnBlock {
  const T* src;
  std::int64_t src_cols;  ///< row stride of src
  std::int64_t src_col;   ///< first column read
  T* dst;
  std::int64_t dst_cols;  ///< row stride of dst
  std::int64_t dst_col;   ///< first column written
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t j) const {
    dst[r * dst_cols + dst_col + j] = src[r * src_cols + src_col + j];
  }
};

/// dst(r, j) = src(r, index[j]), run over (rows, dst columns): the columns of a row-major matrix
/// permuted (index a permutation) or selected.
template <class T, class IndexType>
struct GatherColumns {
  const T* src;
  std::int64_t src_cols;  ///< row stride of src
  const IndexType* index;  ///< dst_cols entries, each in [0, src_cols)
  T* dst;
  std::int64_t dst_cols;  ///< row stride of dst
  RECDIFF_HOST_DEVICE void operator()(std::int64_t r, std::int64_t j) const {
    dst[r * dst_cols + j] = src[r * src_cols + static_cast<std::int64_t>(index[j])];
  }
};

}  // namespace recdiff::nn
