#pragma once
/// @file
/// ScoreMatrix: the dense block of scores a scorer fills for a batch of users.

#include <Eigen/Core>

namespace recdiff {

/// Scores of a batch of users (rows) over all items (columns), row-major so that one user's scores
/// are contiguous for top-K selection. Memory is batch x items floats; never all users at once.
using ScoreMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace recdiff
