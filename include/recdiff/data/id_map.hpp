#pragma once
/// @file
/// IdMap: a bijection between external ids (strings as they appear in a file) and dense 0-based indices.

#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <recdiff/config.hpp>

namespace recdiff {

/// Maps external ids (any string: "196", "A2SUAM1J3GNN3B", ...) to dense indices 0..size()-1, in order
/// of first appearance, and back. The loaders keep one IdMap for users and one for items so results
/// can be reported with the dataset's own ids. Numeric ids are stored as their decimal text.
class IdMap {
 public:
  /// Index of `id`, inserting it with the next free index if it is new.
  /// Throws std::length_error when the index type (int32) would overflow.
  index_t insert(std::string_view id) {
    if (const auto it = m_index.find(id); it != m_index.end()) return it->second;
    if (m_ids.size() >= static_cast<std::size_t>(std::numeric_limits<index_t>::max()))
      throw std::length_error("recdiff::IdMap::insert: more than 2^31 - 1 distinct ids");
    const auto index = static_cast<index_t>(m_ids.size());
    m_ids.emplace_back(id);
    m_index.emplace(m_ids.back(), index);
    return index;
  }

  /// Index of `id`, or nothing when it was never inserted.
  std::optional<index_t> find(std::string_view id) const {
    if (const auto it = m_index.find(id); it != m_index.end()) return it->second;
    return std::nullopt;
  }

  /// True when `id` has an index.
  bool contains(std::string_view id) const { return m_index.find(id) != m_index.end(); }

  /// External id of dense index `index`; throws std::out_of_range outside [0, size()).
  const std::string& external(index_t index) const {
    if (index < 0 || static_cast<std::size_t>(index) >= m_ids.size())
      throw std::out_of_range("recdiff::IdMap::external: index " + std::to_string(index) +
                              " outside [0, " + std::to_string(m_ids.size()) + ")");
    return m_ids[static_cast<std::size_t>(index)];
  }

  /// Number of distinct ids.
  index_t size() const noexcept { return static_cast<index_t>(m_ids.size()); }
  bool empty() const noexcept { return m_ids.empty(); }

  /// All external ids, position = dense index.
  const std::vector<std::string>& ids() const noexcept { return m_ids; }

  /// A new map holding the ids at the old indices `kept`, in that order: new index k is old index
  /// kept[k]. Used after filtering (kcore) to follow the re-indexed matrix. Throws
  /// std::out_of_range for an index outside [0, size()) and std::invalid_argument for a repeat.
  IdMap select(std::span<const index_t> kept) const {
    IdMap out;
    for (const index_t old : kept) {
      const std::string& id = external(old);
      if (out.contains(id))
        throw std::invalid_argument("recdiff::IdMap::select: index " + std::to_string(old) +
                                    " listed twice");
      out.insert(id);
    }
    return out;
  }

  friend bool operator==(const IdMap& a, const IdMap& b) { return a.m_ids == b.m_ids; }

 private:
  // Transparent hashing lets find() take a string_view without building a std::string.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  std::vector<std::string> m_ids;
  std::unordered_map<std::string, index_t, Hash, std::equal_to<>> m_index;
};

}  // namespace recdiff
