#pragma once
/// @file
/// Compile-time configuration shared by every recdiff header: host/device function markers and the
/// index types. Includes only the standard library.

#include <cstdint>

#if defined(__CUDACC__)
#define RECDIFF_HOST_DEVICE __host__ __device__ inline
#else
/// Marks a function usable from host code and, under nvcc, from device code.
#define RECDIFF_HOST_DEVICE inline
#endif

namespace recdiff {

/// Index of a user or an item (dense, 0-based).
using index_t = std::int32_t;
/// Offset into the interaction arrays of a CSR matrix (may exceed 2^31 on large datasets).
using offset_t = std::int64_t;

}  // namespace recdiff
