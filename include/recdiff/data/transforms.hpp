#pragma once
/// @file
/// Preprocessing transforms on interaction data: binarize() (keep ratings at or above a threshold)
/// and kcore() (drop users and items with too few interactions, then re-index densely).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/ratings_data.hpp>

namespace recdiff {

/// Keeps the interactions whose rating is >= `threshold` (e.g. 4 for the MovieLens "positive"
/// convention) and drops the ratings, so the result is implicit feedback. Timestamps are kept, the
/// shape is unchanged (users or items left empty stay as empty rows / unused columns; kcore() with
/// minimums of 1 removes them) and each row keeps its order. Throws std::invalid_argument when the
/// matrix has no ratings or the threshold is NaN.
inline InteractionMatrix binarize(const InteractionMatrix& m, float threshold) {
  if (!m.has_ratings())
    throw std::invalid_argument("recdiff::binarize: the matrix has no ratings to threshold");
  if (std::isnan(threshold)) throw std::invalid_argument("recdiff::binarize: threshold is NaN");
  std::vector<offset_t> offsets(m.offsets().size(), 0);
  std::vector<index_t> indices;
  std::vector<std::int64_t> timestamps;
  const auto& ratings = m.ratings();
  for (index_t u = 0; u < m.num_users(); ++u) {
    const auto u_idx = static_cast<std::size_t>(u);
    for (offset_t k = m.offsets()[u_idx]; k < m.offsets()[u_idx + 1]; ++k) {
      const auto kk = static_cast<std::size_t>(k);
      if (!(ratings[kk] >= threshold)) continue;
      indices.push_back(m.indices()[kk]);
      if (m.has_timestamps()) timestamps.push_back(m.timestamps()[kk]);
    }
    offsets[u_idx + 1] = static_cast<offset_t>(indices.size());
  }
  return InteractionMatrix(m.num_users(), m.num_items(), std::move(offsets), std::move(indices), {},
                           std::move(timestamps));
}

/// binarize() applied to the matrix of `data`; the id maps are unchanged.
inline RatingsData binarize(const RatingsData& data, float threshold) {
  return RatingsData{binarize(data.matrix, threshold), data.users, data.items};
}

/// What kcore() returns: the filtered matrix and, for each of its rows / columns, the index it had
/// in the input (new user k was old user kept_users[k]), e.g. for IdMap::select().
struct KcoreResult {
  InteractionMatrix matrix;
  std::vector<index_t> kept_users;
  std::vector<index_t> kept_items;
};

/// Keeps users with at least `min_user` interactions and items with at least `min_item`.
///
/// - `iterative = true`: removes users and items alternately until nothing changes, so every kept
///   user has >= min_user kept items and every kept item >= min_item kept users (the k-core).
/// - `iterative = false`: one user pass on the input counts, then one item pass counting only the
///   kept users' interactions; users are not re-checked (RecFusion's preprocessing, see
///   RecFusion's quick_train preprocessing), so a kept user may end below min_user.
///
/// In both cases users and items left with no interaction are dropped too, and the rest are
/// re-indexed densely in their old order. Counts are stored entries (a repeated pair counts twice;
/// build with Duplicates::keep_first to count distinct items). Rows keep their order; ratings and
/// timestamps are carried along. Throws std::invalid_argument for a negative minimum.
inline KcoreResult kcore(const InteractionMatrix& m, index_t min_user, index_t min_item,
                         bool iterative = true) {
  if (min_user < 0 || min_item < 0)
    throw std::invalid_argument("recdiff::kcore: minimum counts must be >= 0, got min_user " +
                                std::to_string(min_user) + ", min_item " + std::to_string(min_item));
  const auto users = static_cast<std::size_t>(m.num_users());
  const auto items = static_cast<std::size_t>(m.num_items());
  const auto& offsets = m.offsets();
  const auto& indices = m.indices();
  std::vector<char> user_alive(users, 1);
  std::vector<char> item_alive(items, 1);
  std::vector<std::int64_t> item_count(items);
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t u = 0; u < users; ++u) {
      if (!user_alive[u]) continue;
      std::int64_t count = 0;
      for (auto k = offsets[u]; k < offsets[u + 1]; ++k)
        count += item_alive[static_cast<std::size_t>(indices[static_cast<std::size_t>(k)])];
      if (count < min_user) {
        user_alive[u] = 0;
        changed = true;
      }
    }
    std::fill(item_count.begin(), item_count.end(), 0);
    for (std::size_t u = 0; u < users; ++u)
      if (user_alive[u])
        for (auto k = offsets[u]; k < offsets[u + 1]; ++k)
          ++item_count[static_cast<std::size_t>(indices[static_cast<std::size_t>(k)])];
    for (std::size_t i = 0; i < items; ++i)
      if (item_alive[i] && item_count[i] < min_item) {
        item_alive[i] = 0;
        changed = true;
      }
    if (!iterative) break;
  }

  // Re-index: an item survives when alive and used by a kept user; a user when it keeps an item.
  KcoreResult out;
  std::vector<index_t> new_item(items, -1);
  for (std::size_t i = 0; i < items; ++i) item_count[i] = 0;
  for (std::size_t u = 0; u < users; ++u)
    if (user_alive[u])
      for (auto k = offsets[u]; k < offsets[u + 1]; ++k) {
        const auto i = static_cast<std::size_t>(indices[static_cast<std::size_t>(k)]);
        if (item_alive[i]) ++item_count[i];
      }
  for (std::size_t i = 0; i < items; ++i)
    if (item_count[i] > 0) {
      new_item[i] = static_cast<index_t>(out.kept_items.size());
      out.kept_items.push_back(static_cast<index_t>(i));
    }
  std::vector<offset_t> new_offsets(1, 0);
  std::vector<index_t> new_indices;
  std::vector<float> ratings;
  std::vector<std::int64_t> timestamps;
  for (std::size_t u = 0; u < users; ++u) {
    if (!user_alive[u]) continue;
    const std::size_t before = new_indices.size();
    for (auto k = offsets[u]; k < offsets[u + 1]; ++k) {
      const auto kk = static_cast<std::size_t>(k);
      const index_t mapped = new_item[static_cast<std::size_t>(indices[kk])];
      if (mapped < 0) continue;
      new_indices.push_back(mapped);
      if (m.has_ratings()) ratings.push_back(m.ratings()[kk]);
      if (m.has_timestamps()) timestamps.push_back(m.timestamps()[kk]);
    }
    if (new_indices.size() == before) continue;
    out.kept_users.push_back(static_cast<index_t>(u));
    new_offsets.push_back(static_cast<offset_t>(new_indices.size()));
  }
  out.matrix = InteractionMatrix(static_cast<index_t>(out.kept_users.size()),
                                 static_cast<index_t>(out.kept_items.size()), std::move(new_offsets),
                                 std::move(new_indices), std::move(ratings), std::move(timestamps));
  return out;
}

/// kcore() applied to the matrix of `data`, with the id maps following the re-indexing.
inline RatingsData kcore(const RatingsData& data, index_t min_user, index_t min_item,
                         bool iterative = true) {
  KcoreResult r = kcore(data.matrix, min_user, min_item, iterative);
  return RatingsData{std::move(r.matrix), data.users.select(r.kept_users),
                     data.items.select(r.kept_items)};
}

}  // namespace recdiff
