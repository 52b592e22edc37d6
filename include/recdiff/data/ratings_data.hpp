#pragma once
/// @file
/// RatingsData: an interaction matrix together with the external ids of its users and items.

#include <recdiff/data/id_map.hpp>
#include <recdiff/data/interaction_matrix.hpp>

namespace recdiff {

/// What the text loaders return: the users x items matrix (with ratings and/or timestamps when the
/// file has them) and the maps from the file's user and item ids to the matrix's dense indices.
/// Invariant: matrix.num_users() == users.size() and matrix.num_items() == items.size().
struct RatingsData {
  InteractionMatrix matrix;
  IdMap users;
  IdMap items;
};

}  // namespace recdiff
