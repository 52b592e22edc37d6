#pragma once
/// @file
/// TrainValidTest: the three interaction matrices of a held-out split, over one id space.

#include <recdiff/data/interaction_matrix.hpp>

namespace recdiff {

/// Train, validation and test interactions of one dataset. All three matrices have the same shape
/// (users x items of the training data), so a user's rows line up across them.
struct TrainValidTest {
  InteractionMatrix train;
  InteractionMatrix valid;
  InteractionMatrix test;
};

}  // namespace recdiff
