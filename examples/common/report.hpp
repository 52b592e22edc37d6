#pragma once
// JSON reports of the example programs.

#include <recdiff/eval/metric_set.hpp>
#include <recdiff/io/json_writer.hpp>

namespace recdiff::examples {

/// {"recall@10": ..., "ndcg@20": ..., ...} of a metric set.
inline JsonValue metrics_json(const MetricSet& metrics) {
  JsonValue j = JsonValue::object();
  for (const auto& [name, value] : metrics.values()) j[name] = value;
  return j;
}

}  // namespace recdiff::examples
