#pragma once
/// @file
/// Op: whether a GEMM operand is used as stored or transposed. Shared by every backend.

namespace recdiff {

/// How a matrix operand enters a product: as stored (`none`) or transposed.
enum class Op { none, transpose };

}  // namespace recdiff
