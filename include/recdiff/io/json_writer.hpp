#pragma once
/// @file
/// JsonValue: a small JSON document builder for reports (metrics, benchmark results), written
/// atomically like checkpoints.

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <recdiff/error.hpp>
#include <recdiff/io/atomic_file.hpp>

namespace recdiff {

/// A JSON value: null, bool, number, string, array or object (keys keep insertion order).
class JsonValue {
 public:
  JsonValue() = default;
  JsonValue(bool b) : m_value(b) {}                                  // NOLINT: implicit by design
  JsonValue(double x) : m_value(x) {}                                // NOLINT
  JsonValue(int x) : m_value(static_cast<double>(x)) {}              // NOLINT
  JsonValue(long x) : m_value(static_cast<double>(x)) {}             // NOLINT
  JsonValue(long long x) : m_value(static_cast<double>(x)) {}        // NOLINT
  JsonValue(unsigned long x) : m_value(static_cast<double>(x)) {}    // NOLINT
  JsonValue(const char* s) : m_value(std::string(s)) {}              // NOLINT
  JsonValue(std::string s) : m_value(std::move(s)) {}                // NOLINT

  /// An empty array / object.
  static JsonValue array() {
    JsonValue v;
    v.m_value = Array{};
    return v;
  }
  static JsonValue object() {
    JsonValue v;
    v.m_value = Object{};
    return v;
  }

  /// Object member access; creates the member (and turns a null into an object) when absent.
  JsonValue& operator[](const std::string& key) {
    if (std::holds_alternative<std::monostate>(m_value)) m_value = Object{};
    auto& obj = std::get<Object>(m_value);
    for (auto& [k, v] : obj)
      if (k == key) return *v;
    obj.emplace_back(key, std::make_shared<JsonValue>());
    return *obj.back().second;
  }

  /// Appends to an array (turns a null into an array).
  void push_back(JsonValue v) {
    if (std::holds_alternative<std::monostate>(m_value)) m_value = Array{};
    std::get<Array>(m_value).push_back(std::move(v));
  }

  /// Serialises with two-space indentation.
  std::string dump(int indent = 0) const {
    std::string out;
    write(out, indent);
    return out;
  }

  /// Writes the document to `path` atomically (io/atomic_file.hpp: a temporary file in the same
  /// folder, renamed into place). Throws IoError.
  void save(const std::filesystem::path& path) const {
    const std::string text = dump() + '\n';
    write_file_atomically(path, [&](std::ostream& out) { out << text; });
  }

 private:
  using Array = std::vector<JsonValue>;
  using Object = std::vector<std::pair<std::string, std::shared_ptr<JsonValue>>>;

  static void quote(std::string& out, const std::string& s) {
    out += '"';
    for (const char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += c;
          }
      }
    }
    out += '"';
  }

  void write(std::string& out, int indent) const {
    const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
    const std::string end_pad(static_cast<std::size_t>(indent), ' ');
    if (std::holds_alternative<std::monostate>(m_value)) {
      out += "null";
    } else if (const auto* b = std::get_if<bool>(&m_value)) {
      out += *b ? "true" : "false";
    } else if (const auto* x = std::get_if<double>(&m_value)) {
      if (!std::isfinite(*x)) {
        out += "null";  // JSON has no NaN/inf
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.10g", *x);
        out += buf;
      }
    } else if (const auto* s = std::get_if<std::string>(&m_value)) {
      quote(out, *s);
    } else if (const auto* a = std::get_if<Array>(&m_value)) {
      out += '[';
      for (std::size_t i = 0; i < a->size(); ++i) {
        if (i) out += ", ";
        (*a)[i].write(out, indent);
      }
      out += ']';
    } else {
      const auto& obj = std::get<Object>(m_value);
      if (obj.empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      for (std::size_t i = 0; i < obj.size(); ++i) {
        out += pad;
        quote(out, obj[i].first);
        out += ": ";
        obj[i].second->write(out, indent + 2);
        out += i + 1 < obj.size() ? ",\n" : "\n";
      }
      out += end_pad + "}";
    }
  }

  std::variant<std::monostate, bool, double, std::string, Array, Object> m_value;
};

}  // namespace recdiff
