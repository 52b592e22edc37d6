#pragma once
/// @file
/// TopK: partial selection of the K best unmasked items of one score row.

#include <algorithm>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/eval/detail/item_marker.hpp>

namespace recdiff {

/// Selects the K highest-scoring items of a score row, skipping excluded items, in O(I log K) with
/// a K-entry heap (no full sort). The order is fully deterministic:
/// - higher score first; equal scores by lower item id first;
/// - excluded (masked) items, items scored -inf and items scored NaN are never returned, so fewer
///   than K items come back when fewer are eligible.
/// One object holds its buffers (I words for the mask, K entries for the heap) and is meant to be
/// reused for many rows by one thread.
class TopK {
 public:
  /// Selector for rows of `num_items` scores.
  explicit TopK(index_t num_items = 0) : m_excluded(num_items) {}

  index_t num_items() const noexcept { return m_excluded.size(); }

  /// Excludes `items` from the next select() (cumulative until then). Ids must be in [0,
  /// num_items()).
  void exclude(std::span<const index_t> items) noexcept { m_excluded.mark(items); }

  /// The up to `k` best eligible items of `scores` (num_items() entries), best first. Clears the
  /// exclusions. The returned span stays valid until the next call.
  std::span<const index_t> select(std::span<const float> scores, index_t k) {
    if (k < 0)
      throw std::invalid_argument("recdiff::TopK::select: k must be >= 0, got " +
                                  std::to_string(k));
    if (scores.size() != static_cast<std::size_t>(num_items()))
      throw std::invalid_argument("recdiff::TopK::select: score row has " +
                                  std::to_string(scores.size()) + " entries, expected " +
                                  std::to_string(num_items()));
    const auto kk = static_cast<std::size_t>(k);
    m_heap.clear();
    m_out.clear();
    if (kk == 0) {
      m_excluded.clear();
      return m_out;
    }
    m_heap.reserve(kk);
    const index_t n = num_items();
    // Heap ordered by "better": its front is the worst kept entry. Items arrive in increasing id
    // order, so an equal score never displaces a kept one: ties go to the lower id.
    index_t i = 0;
    for (; i < n && m_heap.size() < kk; ++i) {
      const float s = scores[static_cast<std::size_t>(i)];
      if (!(s > -std::numeric_limits<float>::infinity()) || m_excluded.marked(i)) continue;
      m_heap.push_back({s, i});
      std::push_heap(m_heap.begin(), m_heap.end(), better);
    }
    for (; i < n; ++i) {
      const float s = scores[static_cast<std::size_t>(i)];
      if (!(s > m_heap.front().score) || m_excluded.marked(i)) continue;
      std::pop_heap(m_heap.begin(), m_heap.end(), better);
      m_heap.back() = {s, i};
      std::push_heap(m_heap.begin(), m_heap.end(), better);
    }
    std::sort_heap(m_heap.begin(), m_heap.end(), better);
    m_out.resize(m_heap.size());
    for (std::size_t j = 0; j < m_heap.size(); ++j) m_out[j] = m_heap[j].item;
    m_excluded.clear();
    return m_out;
  }

 private:
  struct Entry {
    float score;
    index_t item;
  };
  static bool better(const Entry& a, const Entry& b) noexcept {
    return a.score > b.score || (a.score == b.score && a.item < b.item);
  }

  detail::ItemMarker m_excluded;
  std::vector<Entry> m_heap;
  std::vector<index_t> m_out;
};

/// One-off top-K of a score row without `excluded` items, best first (see TopK for the rules).
inline std::vector<index_t> top_k(std::span<const float> scores, index_t k,
                                  std::span<const index_t> excluded = {}) {
  TopK selector(static_cast<index_t>(scores.size()));
  selector.exclude(excluded);
  const auto best = selector.select(scores, k);
  return {best.begin(), best.end()};
}

}  // namespace recdiff
