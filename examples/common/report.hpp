#pragma once
// JSON reports of the example programs.

#include <sstream>
#include <string>

#include <recdiff/eval/metric_set.hpp>
#include <recdiff/io/json_writer.hpp>

namespace recdiff::examples {

/// {"recall@10": ..., "ndcg@20": ..., ...} of a metric set.
inline JsonValue metrics_json(const MetricSet& metrics) {
  JsonValue j = JsonValue::object();
  for (const auto& [name, value] : metrics.values()) j[name] = value;
  return j;
}

/// {"key": "value", ...} of a configuration's key=value lines (DiffRecConfig::to_string() etc.).
inline JsonValue config_json(const std::string& key_value_lines) {
  JsonValue cfg = JsonValue::object();
  std::istringstream lines(key_value_lines);
  std::string line;
  while (std::getline(lines, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) cfg[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return cfg;
}

}  // namespace recdiff::examples
