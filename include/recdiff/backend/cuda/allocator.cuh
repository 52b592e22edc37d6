#pragma once
/// @file
/// CachingAllocator: the process-wide device memory cache behind every DeviceMatrix.

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <recdiff/backend/cuda/check.cuh>

namespace recdiff::cuda {

/// A device allocation handed out by CachingAllocator.
struct DeviceBlock {
  void* ptr = nullptr;
  std::size_t bytes = 0;  ///< capacity (the bucket size), >= the bytes asked for
  int device = 0;
};

/// Device memory cache with size-bucketed free lists, one process-wide instance (instance()).
///
/// Requests are rounded up to a bucket (powers of two up to 1 MiB, then multiples of 1 MiB) and served
/// from that bucket's free list on the current device when possible. A freed block goes back to its
/// list together with an event recorded on the legacy default stream: that event completes only
/// after all work issued before the free on every blocking stream (every Context's stream is one),
/// so a cached block is handed out again only once no earlier kernel can still touch it.
/// release() returns the idle blocks to the driver. Thread-safe.
class CachingAllocator {
 public:
  /// The process-wide allocator. Never destroyed: DeviceMatrix objects with static storage may
  /// outlive any function-local static, and the driver reclaims everything at exit.
  static CachingAllocator& instance() {
    static CachingAllocator* allocator = new CachingAllocator();
    return *allocator;
  }

  /// Bucket size for a request of `bytes` (> 0).
  static std::size_t bucket(std::size_t bytes) noexcept {
    constexpr std::size_t min_bytes = 512, mib = std::size_t(1) << 20;
    if (bytes <= min_bytes) return min_bytes;
    if (bytes <= mib) {
      std::size_t b = min_bytes;
      while (b < bytes) b <<= 1;
      return b;
    }
    return (bytes + mib - 1) / mib * mib;
  }

  /// A block of at least `bytes` bytes on the current device ({} for 0 bytes). Frees the idle cache
  /// and retries once when the device is out of memory.
  DeviceBlock allocate(std::size_t bytes) {
    if (bytes == 0) return {};
    int device = 0;
    RECDIFF_CUDA_CHECK(cudaGetDevice(&device));
    const std::size_t size = bucket(bytes);
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      auto& list = m_free[{device, size}];
      for (std::size_t i = 0; i < list.size(); ++i) {
        const cudaError_t state = cudaEventQuery(list[i].freed);
        if (state == cudaErrorNotReady) continue;
        RECDIFF_CUDA_CHECK(state);
        CachedBlock c = list[i];
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        m_events.push_back(c.freed);
        m_cached_bytes -= size;
        m_live_bytes += size;
        return c.block;
      }
    }
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // reset the last-error state the failed cudaMalloc left
      release();
      status = cudaMalloc(&ptr, size);
    }
    check_cuda(status, "cudaMalloc(&ptr, size)", __FILE__, __LINE__);
    std::lock_guard<std::mutex> lock(m_mutex);
    m_live_bytes += size;
    return {ptr, size, device};
  }

  /// Returns `block` to the cache (no-op for an empty block). Never throws: a failure to record the
  /// event (e.g. while the runtime shuts down) leaks the block instead.
  void free(DeviceBlock block) noexcept {
    if (block.ptr == nullptr) return;
    std::lock_guard<std::mutex> lock(m_mutex);
    m_live_bytes -= block.bytes;
    int current = 0;
    if (cudaGetDevice(&current) != cudaSuccess) return;
    if (current != block.device && cudaSetDevice(block.device) != cudaSuccess) return;
    cudaEvent_t event = nullptr;
    if (!m_events.empty()) {
      event = m_events.back();
      m_events.pop_back();
    } else if (cudaEventCreateWithFlags(&event, cudaEventDisableTiming) != cudaSuccess) {
      event = nullptr;
    }
    if (event != nullptr && cudaEventRecord(event, cudaStreamLegacy) == cudaSuccess) {
      m_free[{block.device, block.bytes}].push_back({block, event});
      m_cached_bytes += block.bytes;
    }
    if (current != block.device) (void)cudaSetDevice(current);
  }

  /// Frees every cached block (after synchronising each device that has some) back to the driver.
  void release() {
    std::lock_guard<std::mutex> lock(m_mutex);
    int current = 0;
    RECDIFF_CUDA_CHECK(cudaGetDevice(&current));
    for (auto& [key, list] : m_free) {
      if (list.empty()) continue;
      RECDIFF_CUDA_CHECK(cudaSetDevice(key.first));
      RECDIFF_CUDA_CHECK(cudaDeviceSynchronize());
      for (const CachedBlock& c : list) {
        RECDIFF_CUDA_CHECK(cudaFree(c.block.ptr));
        m_events.push_back(c.freed);
        m_cached_bytes -= c.block.bytes;
      }
      list.clear();
    }
    RECDIFF_CUDA_CHECK(cudaSetDevice(current));
  }

  /// Bytes held in the free lists.
  std::size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_cached_bytes;
  }
  /// Bytes handed out and not yet freed.
  std::size_t live_bytes() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_live_bytes;
  }

 private:
  CachingAllocator() = default;

  struct CachedBlock {
    DeviceBlock block;
    cudaEvent_t freed;  // recorded on the legacy stream when the block was freed
  };

  mutable std::mutex m_mutex;
  std::map<std::pair<int, std::size_t>, std::vector<CachedBlock>> m_free;
  std::vector<cudaEvent_t> m_events;  // idle events for reuse
  std::size_t m_cached_bytes = 0;
  std::size_t m_live_bytes = 0;
};

}  // namespace recdiff::cuda
