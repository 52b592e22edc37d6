#pragma once
/// @file
/// DeviceMatrix: the CUDA backend's storage, a row-major rows x cols matrix in device memory.

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include <recdiff/backend/cuda/allocator.cuh>
#include <recdiff/backend/cuda/check.cuh>

namespace recdiff::cuda {

/// A row-major rows x cols matrix of T in device memory, owning one block of the process-wide
/// CachingAllocator (RAII; moves transfer the block).
///
/// Operations that take no Context (setZero, copies) are enqueued on the LEGACY DEFAULT STREAM:
/// they run after all work issued earlier on any Context's stream (those are blocking streams) and
/// before any work issued later, so they are ordered with the kernels of every context without a
/// host synchronisation. The host sees the values only through CudaBackend::download().
/// resize() keeps the block when the new size fits in it; the contents are then unspecified, as with
/// Eigen's resize.
template <class T>
class DeviceMatrix {
 public:
  using Scalar = T;  ///< the element type

  /// An empty 0 x 0 matrix (no device memory).
  DeviceMatrix() noexcept = default;

  /// An uninitialised rows x cols matrix.
  DeviceMatrix(std::int64_t rows, std::int64_t cols) { resize(rows, cols); }

  /// A deep copy (device to device, legacy stream).
  DeviceMatrix(const DeviceMatrix& other) { copy_from(other); }

  DeviceMatrix(DeviceMatrix&& other) noexcept { swap(other); }

  /// Deep copy; keeps this matrix's block when `other` fits in it.
  DeviceMatrix& operator=(const DeviceMatrix& other) {
    if (this != &other) copy_from(other);
    return *this;
  }

  DeviceMatrix& operator=(DeviceMatrix&& other) noexcept {
    DeviceMatrix(std::move(other)).swap(*this);
    return *this;
  }

  ~DeviceMatrix() { CachingAllocator::instance().free(m_block); }

  std::int64_t rows() const noexcept { return m_rows; }
  std::int64_t cols() const noexcept { return m_cols; }
  /// rows() * cols().
  std::int64_t size() const noexcept { return m_rows * m_cols; }
  /// Device pointer to the first element (nullptr when nothing was ever allocated).
  T* data() noexcept { return static_cast<T*>(m_block.ptr); }
  const T* data() const noexcept { return static_cast<const T*>(m_block.ptr); }
  /// Bytes of the block held (>= size() * sizeof(T)).
  std::size_t capacity_bytes() const noexcept { return m_block.bytes; }

  /// Sets the shape; allocates only when rows * cols elements do not fit in the block held.
  /// @throws std::invalid_argument on a negative dimension
  void resize(std::int64_t rows, std::int64_t cols) {
    if (rows < 0 || cols < 0)
      throw std::invalid_argument("recdiff::cuda::DeviceMatrix::resize: negative shape " +
                                  std::to_string(rows) + "x" + std::to_string(cols));
    const std::size_t bytes = static_cast<std::size_t>(rows * cols) * sizeof(T);
    if (bytes > m_block.bytes) {
      DeviceBlock fresh = CachingAllocator::instance().allocate(bytes);
      CachingAllocator::instance().free(m_block);
      m_block = fresh;
    }
    m_rows = rows;
    m_cols = cols;
  }

  /// Sets every element to zero (legacy stream).
  void setZero() {
    if (size() > 0)
      RECDIFF_CUDA_CHECK(cudaMemsetAsync(m_block.ptr, 0, bytes(), cudaStreamLegacy));
  }

  /// resize(rows, cols), then setZero().
  void setZero(std::int64_t rows, std::int64_t cols) {
    resize(rows, cols);
    setZero();
  }

  /// Exchanges contents, shapes and blocks (no device work).
  void swap(DeviceMatrix& other) noexcept {
    std::swap(m_block, other.m_block);
    std::swap(m_rows, other.m_rows);
    std::swap(m_cols, other.m_cols);
  }

 private:
  std::size_t bytes() const noexcept { return static_cast<std::size_t>(size()) * sizeof(T); }

  void copy_from(const DeviceMatrix& other) {
    resize(other.rows(), other.cols());
    if (size() > 0)
      RECDIFF_CUDA_CHECK(cudaMemcpyAsync(m_block.ptr, other.m_block.ptr, bytes(),
                                         cudaMemcpyDeviceToDevice, cudaStreamLegacy));
  }

  DeviceBlock m_block;
  std::int64_t m_rows = 0;
  std::int64_t m_cols = 0;
};

}  // namespace recdiff::cuda
