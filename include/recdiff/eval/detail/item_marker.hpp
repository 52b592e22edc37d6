#pragma once
/// @file
/// ItemMarker: an O(1)-reset membership set over item ids, reused across users.

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include <recdiff/config.hpp>

namespace recdiff::detail {

/// Marks a set of item ids and answers membership in O(1). Clearing is O(1) too: every mark stores
/// the current generation, and clear() just moves to the next one, so one buffer of `items` words
/// serves any number of users without being re-zeroed.
class ItemMarker {
 public:
  explicit ItemMarker(index_t items = 0) : m_stamp(static_cast<std::size_t>(items), 0) {}

  index_t size() const noexcept { return static_cast<index_t>(m_stamp.size()); }

  /// Grows or shrinks the id range to [0, items) and clears the set.
  void resize(index_t items) {
    m_stamp.assign(static_cast<std::size_t>(items), 0);
    m_generation = 1;
  }

  /// Adds every id of `items` (each must be in [0, size())).
  void mark(std::span<const index_t> items) noexcept {
    for (const index_t i : items) m_stamp[static_cast<std::size_t>(i)] = m_generation;
  }

  bool marked(index_t item) const noexcept {
    return m_stamp[static_cast<std::size_t>(item)] == m_generation;
  }

  /// Empties the set.
  void clear() noexcept {
    if (++m_generation == 0) {  // wrapped after 2^32 clears: old stamps could alias, so re-zero
      std::fill(m_stamp.begin(), m_stamp.end(), 0);
      m_generation = 1;
    }
  }

 private:
  std::vector<std::uint32_t> m_stamp;
  std::uint32_t m_generation = 1;
};

}  // namespace recdiff::detail
