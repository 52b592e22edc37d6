#pragma once
/// @file
/// MetricSet: named metric values ("recall@20", "ndcg@10", ...) with a table printer.

#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace recdiff {

/// Metric values by name, in insertion order, plus the number of users they were averaged over.
/// Names of the form "<metric>@<K>" are grouped into one table row per metric, one column per K.
class MetricSet {
 public:
  /// Sets `name` to `value`, adding it if new.
  void set(std::string_view name, double value) {
    for (auto& [n, v] : m_values)
      if (n == name) {
        v = value;
        return;
      }
    m_values.emplace_back(std::string(name), value);
  }

  /// The value of `name`; throws std::out_of_range naming the known metrics when absent.
  double at(std::string_view name) const {
    for (const auto& [n, v] : m_values)
      if (n == name) return v;
    std::string known;
    for (const auto& [n, v] : m_values) known += (known.empty() ? "" : ", ") + n;
    throw std::out_of_range("recdiff::MetricSet::at: no metric \"" + std::string(name) +
                            "\", have: " + (known.empty() ? "none" : known));
  }

  bool contains(std::string_view name) const {
    return std::any_of(m_values.begin(), m_values.end(),
                       [&](const auto& nv) { return nv.first == name; });
  }
  std::size_t size() const noexcept { return m_values.size(); }
  bool empty() const noexcept { return m_values.empty(); }
  /// (name, value) pairs in insertion order.
  const std::vector<std::pair<std::string, double>>& values() const noexcept { return m_values; }

  /// Number of users in the average's denominator (set by the evaluator).
  std::int64_t num_users() const noexcept { return m_num_users; }
  void set_num_users(std::int64_t users) noexcept { m_num_users = users; }

  /// The values as a fixed-width text table: one row per metric, one column per K.
  std::string table(int precision = 4) const {
    std::vector<std::string> rows;
    std::vector<long> ks;
    std::map<std::pair<std::string, long>, double> cells;  // (metric, K or -1) -> value
    for (const auto& [name, value] : m_values) {
      const auto at_sign = name.rfind('@');
      long k = -1;
      std::string base = name;
      if (at_sign != std::string::npos && at_sign + 1 < name.size() &&
          name.find_first_not_of("0123456789", at_sign + 1) == std::string::npos) {
        k = std::stol(name.substr(at_sign + 1));
        base = name.substr(0, at_sign);
      }
      if (std::find(rows.begin(), rows.end(), base) == rows.end()) rows.push_back(base);
      if (std::find(ks.begin(), ks.end(), k) == ks.end()) ks.push_back(k);
      cells[{base, k}] = value;
    }
    std::sort(ks.begin(), ks.end());
    std::size_t width0 = 6;
    for (const auto& r : rows) width0 = std::max(width0, r.size());
    const int width = std::max(8, precision + 4);
    std::ostringstream out;
    out << std::left << std::setw(static_cast<int>(width0)) << "metric" << std::right;
    for (const long k : ks)
      out << ' ' << std::setw(width) << (k < 0 ? std::string("-") : "@" + std::to_string(k));
    out << '\n' << std::fixed << std::setprecision(precision);
    for (const auto& r : rows) {
      out << std::left << std::setw(static_cast<int>(width0)) << r << std::right;
      for (const long k : ks) {
        const auto cell = cells.find({r, k});
        out << ' ' << std::setw(width);
        if (cell == cells.end())
          out << "";
        else
          out << cell->second;
      }
      out << '\n';
    }
    return out.str();
  }

  /// Prints table().
  friend std::ostream& operator<<(std::ostream& os, const MetricSet& metrics) {
    return os << metrics.table();
  }

 private:
  std::vector<std::pair<std::string, double>> m_values;
  std::int64_t m_num_users = 0;
};

}  // namespace recdiff
