#pragma once
/// @file
/// InteractionMatrix: the users x items implicit-feedback matrix in CSR form, and its builder.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>

namespace recdiff {

/// A users x items interaction matrix in compressed sparse row (CSR) form.
///
/// Row u lists the items of user u **in the order they were added** (file order for the loaders):
/// rows are never sorted, because T-DiffRec's time weights depend on that order. Each entry may carry a
/// rating and a timestamp. Memory is O(nnz + users); the dense users x items matrix is never formed.
class InteractionMatrix {
 public:
  /// An empty 0 x 0 matrix.
  InteractionMatrix() : m_offsets(1, 0), m_id(next_id()) {}

  /// Takes ownership of CSR arrays. `offsets` has users + 1 non-decreasing entries starting at 0 and
  /// ending at nnz; every item index is in [0, items); `ratings` and `timestamps` are empty or have
  /// nnz entries. Throws std::invalid_argument otherwise.
  InteractionMatrix(index_t users, index_t items, std::vector<offset_t> offsets,
                    std::vector<index_t> indices, std::vector<float> ratings = {},
                    std::vector<std::int64_t> timestamps = {})
      : m_users(users),
        m_items(items),
        m_offsets(std::move(offsets)),
        m_indices(std::move(indices)),
        m_ratings(std::move(ratings)),
        m_timestamps(std::move(timestamps)),
        m_id(next_id()) {
    validate();
  }

  index_t num_users() const noexcept { return m_users; }
  index_t num_items() const noexcept { return m_items; }
  /// Number of stored interactions.
  offset_t nnz() const noexcept { return static_cast<offset_t>(m_indices.size()); }
  bool has_ratings() const noexcept { return !m_ratings.empty(); }
  bool has_timestamps() const noexcept { return !m_timestamps.empty(); }

  /// Number of interactions of user u.
  offset_t row_size(index_t u) const { return m_offsets[u + 1] - m_offsets[u]; }
  /// Items of user u, in insertion order.
  std::span<const index_t> items_of(index_t u) const {
    return {m_indices.data() + m_offsets[u], static_cast<std::size_t>(row_size(u))};
  }
  /// Ratings of user u, aligned with items_of(u); empty when the matrix has no ratings.
  std::span<const float> ratings_of(index_t u) const {
    if (m_ratings.empty()) return {};
    return {m_ratings.data() + m_offsets[u], static_cast<std::size_t>(row_size(u))};
  }
  /// Timestamps of user u, aligned with items_of(u); empty when the matrix has no timestamps.
  std::span<const std::int64_t> timestamps_of(index_t u) const {
    if (m_timestamps.empty()) return {};
    return {m_timestamps.data() + m_offsets[u], static_cast<std::size_t>(row_size(u))};
  }
  /// True when user u has interacted with item i (linear in the row length; rows are unsorted).
  bool contains(index_t u, index_t i) const {
    const auto row = items_of(u);
    return std::find(row.begin(), row.end(), i) != row.end();
  }

  /// Raw CSR arrays.
  const std::vector<offset_t>& offsets() const noexcept { return m_offsets; }
  const std::vector<index_t>& indices() const noexcept { return m_indices; }
  const std::vector<float>& ratings() const noexcept { return m_ratings; }
  const std::vector<std::int64_t>& timestamps() const noexcept { return m_timestamps; }

  /// Number of users (rows) that interacted with each item.
  std::vector<std::int64_t> item_counts() const {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(m_items), 0);
    for (const index_t i : m_indices) ++counts[static_cast<std::size_t>(i)];
    return counts;
  }

  /// An identifier of this matrix's content, unique within the process: copies share it (the
  /// content is immutable), every constructed matrix gets a new one. Backends that mirror a matrix
  /// in device memory key their cache by it.
  std::uint64_t id() const noexcept { return m_id; }

  /// Same shape and same entries (the id is not compared).
  friend bool operator==(const InteractionMatrix& a, const InteractionMatrix& b) {
    return a.m_users == b.m_users && a.m_items == b.m_items && a.m_offsets == b.m_offsets &&
           a.m_indices == b.m_indices && a.m_ratings == b.m_ratings &&
           a.m_timestamps == b.m_timestamps;
  }

 private:
  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }

  void validate() const {
    auto fail = [](const std::string& what) {
      throw std::invalid_argument("recdiff::InteractionMatrix: " + what);
    };
    if (m_users < 0 || m_items < 0) fail("negative shape");
    if (m_offsets.size() != static_cast<std::size_t>(m_users) + 1)
      fail("offsets must have users + 1 = " + std::to_string(m_users + 1) + " entries, got " +
           std::to_string(m_offsets.size()));
    if (m_offsets.front() != 0 || m_offsets.back() != nnz())
      fail("offsets must start at 0 and end at nnz = " + std::to_string(nnz()));
    if (!std::is_sorted(m_offsets.begin(), m_offsets.end())) fail("offsets must be non-decreasing");
    for (const index_t i : m_indices)
      if (i < 0 || i >= m_items)
        fail("item index " + std::to_string(i) + " outside [0, " + std::to_string(m_items) + ")");
    if (!m_ratings.empty() && m_ratings.size() != m_indices.size())
      fail("ratings must be empty or have nnz entries");
    if (!m_timestamps.empty() && m_timestamps.size() != m_indices.size())
      fail("timestamps must be empty or have nnz entries");
  }

  index_t m_users = 0;
  index_t m_items = 0;
  std::vector<offset_t> m_offsets;
  std::vector<index_t> m_indices;
  std::vector<float> m_ratings;
  std::vector<std::int64_t> m_timestamps;
  std::uint64_t m_id = 0;
};

/// Collects (user, item[, rating, timestamp]) triplets in any order and builds an InteractionMatrix
/// with a stable counting sort by user, so each row keeps the order in which its items were added.
/// Memory is O(nnz); no users x items structure is ever allocated.
class InteractionBuilder {
 public:
  /// What build() does with a (user, item) pair that was added more than once.
  enum class Duplicates { keep_all, keep_first };

  void reserve(std::size_t n) {
    m_users.reserve(n);
    m_items.reserve(n);
  }

  /// Adds an interaction without rating or timestamp. Ids must be non-negative.
  void add(index_t user, index_t item) { push(user, item); }

  /// Adds an interaction with a rating and a timestamp. Either every add() of a builder passes them,
  /// or none does.
  void add(index_t user, index_t item, float rating, std::int64_t timestamp) {
    push(user, item);
    m_ratings.push_back(rating);
    m_timestamps.push_back(timestamp);
  }

  std::size_t size() const noexcept { return m_users.size(); }
  /// Largest user id added so far plus one (0 when empty).
  index_t user_bound() const noexcept { return m_user_bound; }
  /// Largest item id added so far plus one (0 when empty).
  index_t item_bound() const noexcept { return m_item_bound; }

  /// Builds the matrix. `users` / `items` default (when negative) to the largest id seen plus one and
  /// must otherwise exceed every id added. Leaves the builder empty.
  InteractionMatrix build(index_t users = -1, index_t items = -1,
                          Duplicates duplicates = Duplicates::keep_all) {
    if (!m_ratings.empty() && m_ratings.size() != m_users.size())
      throw std::invalid_argument(
          "recdiff::InteractionBuilder: some interactions were added with rating/timestamp and "
          "some without");
    if (users < 0) users = m_user_bound;
    if (items < 0) items = m_item_bound;
    if (users < m_user_bound || items < m_item_bound)
      throw std::invalid_argument("recdiff::InteractionBuilder::build: shape " +
                                  std::to_string(users) + " x " + std::to_string(items) +
                                  " does not cover ids up to " + std::to_string(m_user_bound - 1) +
                                  " x " + std::to_string(m_item_bound - 1));
    const bool extra = !m_ratings.empty();
    std::vector<offset_t> offsets(static_cast<std::size_t>(users) + 1, 0);
    for (const index_t u : m_users) ++offsets[static_cast<std::size_t>(u) + 1];
    for (std::size_t u = 0; u < static_cast<std::size_t>(users); ++u) offsets[u + 1] += offsets[u];
    std::vector<offset_t> cursor(offsets.begin(), offsets.end() - 1);
    std::vector<index_t> indices(m_users.size());
    std::vector<float> ratings(extra ? m_users.size() : 0);
    std::vector<std::int64_t> timestamps(extra ? m_users.size() : 0);
    for (std::size_t n = 0; n < m_users.size(); ++n) {
      const auto pos = static_cast<std::size_t>(cursor[static_cast<std::size_t>(m_users[n])]++);
      indices[pos] = m_items[n];
      if (extra) {
        ratings[pos] = m_ratings[n];
        timestamps[pos] = m_timestamps[n];
      }
    }
    clear();
    if (duplicates == Duplicates::keep_first)
      drop_repeats(users, items, offsets, indices, ratings, timestamps);
    return InteractionMatrix(users, items, std::move(offsets), std::move(indices),
                             std::move(ratings), std::move(timestamps));
  }

 private:
  void push(index_t user, index_t item) {
    if (user < 0 || item < 0)
      throw std::invalid_argument("recdiff::InteractionBuilder::add: negative id (user " +
                                  std::to_string(user) + ", item " + std::to_string(item) + ")");
    m_users.push_back(user);
    m_items.push_back(item);
    m_user_bound = std::max(m_user_bound, user + 1);
    m_item_bound = std::max(m_item_bound, item + 1);
  }

  void clear() {
    m_users = {};
    m_items = {};
    m_ratings = {};
    m_timestamps = {};
    m_user_bound = m_item_bound = 0;
  }

  // Compacts each row in place, keeping the first occurrence of every item. Uses one "last row seen"
  // marker per item, so the cost is O(nnz + items).
  static void drop_repeats(index_t users, index_t items, std::vector<offset_t>& offsets,
                           std::vector<index_t>& indices, std::vector<float>& ratings,
                           std::vector<std::int64_t>& timestamps) {
    std::vector<index_t> seen_in(static_cast<std::size_t>(items), -1);
    offset_t out = 0;
    offset_t begin = 0;
    for (index_t u = 0; u < users; ++u) {
      const offset_t end = offsets[static_cast<std::size_t>(u) + 1];
      for (offset_t k = begin; k < end; ++k) {
        const auto kk = static_cast<std::size_t>(k);
        auto& mark = seen_in[static_cast<std::size_t>(indices[kk])];
        if (mark == u) continue;
        mark = u;
        const auto o = static_cast<std::size_t>(out++);
        indices[o] = indices[kk];
        if (!ratings.empty()) {
          ratings[o] = ratings[kk];
          timestamps[o] = timestamps[kk];
        }
      }
      begin = end;
      offsets[static_cast<std::size_t>(u) + 1] = out;
    }
    indices.resize(static_cast<std::size_t>(out));
    if (!ratings.empty()) {
      ratings.resize(static_cast<std::size_t>(out));
      timestamps.resize(static_cast<std::size_t>(out));
    }
  }

  std::vector<index_t> m_users;
  std::vector<index_t> m_items;
  std::vector<float> m_ratings;
  std::vector<std::int64_t> m_timestamps;
  index_t m_user_bound = 0;
  index_t m_item_bound = 0;
};

}  // namespace recdiff
