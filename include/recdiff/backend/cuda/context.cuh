#pragma once
/// @file
/// cuda::Context: the execution context of CudaBackend (one per trainer or evaluator).

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <recdiff/backend/cuda/allocator.cuh>
#include <recdiff/backend/cuda/check.cuh>
#include <recdiff/backend/cuda/device_matrix.cuh>
#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>

namespace recdiff::cuda {

/// Raw device pointers of a CSR matrix, as kernels take them.
struct DeviceCsr {
  const offset_t* offsets = nullptr;  ///< users + 1 row offsets
  const index_t* indices = nullptr;   ///< nnz item ids
};

/// The device copy of an InteractionMatrix's structure (offsets and item ids; no ratings).
struct CsrMirror {
  DeviceMatrix<offset_t> offsets;
  DeviceMatrix<index_t> indices;
  index_t users = 0;
  index_t items = 0;
  offset_t nnz = 0;
  /// The kernels' view.
  DeviceCsr view() const noexcept { return {offsets.data(), indices.data()}; }
};

/// Execution context of CudaBackend: a device, one (blocking) stream, a cuBLAS handle bound to that
/// stream, the device mirrors of the CSR matrices used with it, and pinned staging buffers for small
/// host-to-device uploads. All of the backend's work for a context runs in order on its stream.
///
/// Contexts are passed by const reference through the models; the caches they hold are internal
/// state, so every member function is const. Not copyable (it owns a stream); movable.
/// The destructor waits for the stream's work to finish.
class Context {
 public:
  /// A context on CUDA device `device` (0-based), selected as the current device. FP32 GEMMs unless
  /// enable_tf32(true) is called. (CpuBackend::Context takes a thread count at the same position;
  /// model code passes 0 there, which is device 0.)
  /// @throws std::invalid_argument for a negative device; CudaError when the device cannot be used
  explicit Context(int device = 0) : m_state(std::make_unique<State>()) {
    if (device < 0)
      throw std::invalid_argument("recdiff::cuda::Context: device must be >= 0, got " +
                                  std::to_string(device));
    State& s = *m_state;
    s.device = device;
    RECDIFF_CUDA_CHECK(cudaSetDevice(device));
    int sms = 0;
    RECDIFF_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    s.max_grid = std::max(1, sms) * 32;
    RECDIFF_CUDA_CHECK(cudaStreamCreate(&s.stream));  // blocking: ordered with the legacy stream
    RECDIFF_CUBLAS_CHECK(cublasCreate(&s.cublas));
    RECDIFF_CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
    RECDIFF_CUBLAS_CHECK(cublasSetMathMode(s.cublas, CUBLAS_DEFAULT_MATH));
  }

  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  Context(Context&&) noexcept = default;
  Context& operator=(Context&&) noexcept = default;
  ~Context() = default;

  /// The device of this context.
  int device() const noexcept { return m_state->device; }
  /// The context's stream.
  cudaStream_t stream() const noexcept { return m_state->stream; }
  /// The cuBLAS handle (bound to stream()).
  cublasHandle_t cublas() const noexcept { return m_state->cublas; }
  /// Grid cap of the grid-stride kernels: 32 blocks per multiprocessor.
  std::int64_t max_grid() const noexcept { return m_state->max_grid; }

  /// Opt-in TF32 tensor-core math for float GEMMs (CUBLAS_TF32_TENSOR_OP_MATH; about 10 mantissa
  /// bits in the products). Off by default: FP32 math, results comparable with the CPU backend.
  void enable_tf32(bool on) const {
    RECDIFF_CUBLAS_CHECK(
        cublasSetMathMode(m_state->cublas, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    m_state->tf32 = on;
  }
  /// Whether TF32 math is on.
  bool tf32() const noexcept { return m_state->tf32; }

  /// Makes this context's device current for the calling thread.
  void activate() const {
    int current = -1;
    RECDIFF_CUDA_CHECK(cudaGetDevice(&current));
    if (current != m_state->device) RECDIFF_CUDA_CHECK(cudaSetDevice(m_state->device));
  }

  /// Waits for all work issued on the stream.
  void synchronize() const { RECDIFF_CUDA_CHECK(cudaStreamSynchronize(m_state->stream)); }

  /// The device mirror of `csr`'s structure, uploaded on first use and cached by csr.id(). A cached
  /// mirror whose shape or nnz no longer matches the matrix is uploaded again.
  const CsrMirror& mirror(const InteractionMatrix& csr) const {
    auto& slot = m_state->mirrors[csr.id()];
    if (slot && slot->users == csr.num_users() && slot->items == csr.num_items() &&
        slot->nnz == csr.nnz())
      return *slot;
    activate();
    auto m = std::make_unique<CsrMirror>();
    m->users = csr.num_users();
    m->items = csr.num_items();
    m->nnz = csr.nnz();
    m->offsets.resize(static_cast<std::int64_t>(csr.offsets().size()), 1);
    m->indices.resize(csr.nnz(), 1);
    copy_to_device(csr.offsets().data(), csr.offsets().size(), m->offsets.data());
    copy_to_device(csr.indices().data(), csr.indices().size(), m->indices.data());
    slot = std::move(m);
    return *slot;
  }
  /// Drops the mirror of the matrix with id `id` (no-op when there is none).
  void release_mirror(std::uint64_t id) const { m_state->mirrors.erase(id); }
  /// Drops every mirror.
  void clear_mirrors() const { m_state->mirrors.clear(); }
  /// Number of cached mirrors.
  std::size_t mirror_count() const noexcept { return m_state->mirrors.size(); }

  /// Copies `count` host values to device memory `dst` in stream order. Up to kStagingBytes go
  /// through a pinned staging buffer (the copy is asynchronous; `host` may be reused at once);
  /// larger copies are made from the pageable host memory directly (the runtime stages them before
  /// returning).
  template <class T>
  void copy_to_device(const T* host, std::size_t count, T* dst) const {
    const std::size_t bytes = count * sizeof(T);
    if (bytes == 0) return;
    State& s = *m_state;
    if (bytes > kStagingBytes) {
      RECDIFF_CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, s.stream));
      return;
    }
    Staging& slot = next_staging();
    std::memcpy(slot.host, host, bytes);
    RECDIFF_CUDA_CHECK(cudaMemcpyAsync(dst, slot.host, bytes, cudaMemcpyHostToDevice, s.stream));
    RECDIFF_CUDA_CHECK(cudaEventRecord(slot.done, s.stream));
  }

  /// Uploads the batch's user ids into the context's user buffer and returns its device pointer.
  /// @throws std::invalid_argument when a user is outside [0, num_users)
  const index_t* upload_users(const char* who, std::span<const index_t> users,
                              index_t num_users) const {
    for (const index_t u : users)
      if (u < 0 || u >= num_users)
        throw std::invalid_argument(std::string(who) + ": user " + std::to_string(u) +
                                    " outside the matrix's " + std::to_string(num_users) +
                                    " users");
    auto& buffer = m_state->users;
    buffer.resize(static_cast<std::int64_t>(users.size()), 1);
    copy_to_device(users.data(), users.size(), buffer.data());
    return buffer.data();
  }

  /// Scratch buffer `i` (0 or 1) of 64-bit words, at least `count` long (top-K partial lists).
  std::uint64_t* scratch(int i, std::int64_t count) const {
    auto& buffer = m_state->scratch[i];
    if (buffer.size() < count) buffer.resize(count, 1);
    return buffer.data();
  }

  /// Largest upload that goes through pinned staging.
  static constexpr std::size_t kStagingBytes = std::size_t(1) << 20;
  /// Pinned staging buffers per context (uploads wait for the oldest once all are in flight).
  static constexpr std::size_t kStagingSlots = 16;

 private:
  struct Staging {
    void* host = nullptr;
    cudaEvent_t done = nullptr;  // recorded after the copy out of `host`
  };

  struct State {
    int device = 0;
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    bool tf32 = false;
    std::int64_t max_grid = 1;
    std::vector<Staging> staging;
    std::size_t next = 0;
    std::unordered_map<std::uint64_t, std::unique_ptr<CsrMirror>> mirrors;
    DeviceMatrix<index_t> users;
    DeviceMatrix<std::uint64_t> scratch[2];

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    // Waits for the stream, then releases everything (errors are ignored: destructors do not throw).
    ~State() {
      if (stream != nullptr) {
        (void)cudaSetDevice(device);
        (void)cudaStreamSynchronize(stream);
      }
      for (const Staging& st : staging) {
        (void)cudaEventDestroy(st.done);
        (void)cudaFreeHost(st.host);
      }
      if (cublas != nullptr) (void)cublasDestroy(cublas);
      if (stream != nullptr) (void)cudaStreamDestroy(stream);
    }
  };

  // The next staging buffer in round-robin order, waiting for its previous copy if still running;
  // a new buffer is allocated instead while fewer than kStagingSlots exist.
  Staging& next_staging() const {
    State& s = *m_state;
    if (!s.staging.empty()) {
      Staging& candidate = s.staging[s.next % s.staging.size()];
      const cudaError_t state = cudaEventQuery(candidate.done);
      if (state == cudaSuccess || s.staging.size() >= kStagingSlots) {
        if (state != cudaSuccess) RECDIFF_CUDA_CHECK(cudaEventSynchronize(candidate.done));
        ++s.next;
        return candidate;
      }
      if (state != cudaErrorNotReady) RECDIFF_CUDA_CHECK(state);
    }
    Staging fresh;
    RECDIFF_CUDA_CHECK(cudaMallocHost(&fresh.host, kStagingBytes));
    const cudaError_t made = cudaEventCreateWithFlags(&fresh.done, cudaEventDisableTiming);
    if (made != cudaSuccess) (void)cudaFreeHost(fresh.host);
    RECDIFF_CUDA_CHECK(made);
    s.staging.push_back(fresh);
    s.next = s.staging.size();
    return s.staging.back();
  }

  std::unique_ptr<State> m_state;
};

}  // namespace recdiff::cuda
