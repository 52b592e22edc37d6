#pragma once
// Command-line parsing shared by the example programs: --name value options and --name switches,
// unknown flags and malformed values rejected with a message that says what to fix.

#include <charconv>
#include <cstdio>
#include <exception>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace recdiff::examples {

/// A command-line mistake; the message says what to fix.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Declares options, parses argv and converts values with clear errors.
class ArgParser {
 public:
  ArgParser(std::string program, std::string description)
      : m_program(std::move(program)), m_description(std::move(description)) {}

  /// An option taking a value (`--name VALUE`); `meta` names the value in the usage text.
  void option(const std::string& name, const std::string& meta, const std::string& help) {
    m_specs[name] = Spec{true, meta, help};
    m_order.push_back(name);
  }
  /// A switch without value (`--name`).
  void flag(const std::string& name, const std::string& help) {
    m_specs[name] = Spec{false, "", help};
    m_order.push_back(name);
  }

  /// Parses argv. Returns false after printing the usage when --help was given.
  bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        std::fputs(usage().c_str(), stdout);
        return false;
      }
      if (arg.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + arg + "'");
      const auto eq = arg.find('=');
      const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      const auto it = m_specs.find(name);
      if (it == m_specs.end())
        throw UsageError("unknown option '--" + name + "' (see --help for the list)");
      if (!it->second.takes_value) {
        if (eq != std::string::npos) throw UsageError("--" + name + " takes no value");
        m_values[name] = std::string(1, '1');  // not = "1": GCC 12 -Wrestrict false positive
      } else if (eq != std::string::npos) {
        m_values[name] = arg.substr(eq + 1);
      } else {
        if (i + 1 >= argc) throw UsageError("--" + name + " needs a value (" + it->second.meta + ")");
        m_values[name] = argv[++i];
      }
    }
    return true;
  }

  bool has(const std::string& name) const { return m_values.count(name) != 0; }

  std::optional<std::string> text(const std::string& name) const {
    const auto it = m_values.find(name);
    if (it == m_values.end()) return std::nullopt;
    return it->second;
  }

  /// The value of --name as a number of type T (whole string must parse), or `fallback`.
  template <class T>
  T number(const std::string& name, T fallback) const {
    const auto v = text(name);
    return v ? parse_number<T>(name, *v) : fallback;
  }

  /// Parses a comma-separated list of numbers such as "200,600".
  template <class T>
  static std::vector<T> parse_list(const std::string& name, const std::string& value) {
    std::vector<T> out;
    std::stringstream ss(value);
    std::string part;
    while (std::getline(ss, part, ',')) out.push_back(parse_number<T>(name, part));
    if (out.empty()) throw UsageError("--" + name + ": expected a comma-separated list, got ''");
    return out;
  }

  template <class T>
  static T parse_number(const std::string& name, const std::string& value) {
    T out{};
    const char* first = value.data();
    const char* last = first + value.size();
    const auto [ptr, ec] = std::from_chars(first, last, out);
    if (ec != std::errc() || ptr != last || value.empty())
      throw UsageError("--" + name + ": expected " +
                       (std::is_integral_v<T> ? "an integer" : "a number") + ", got '" + value +
                       "'");
    return out;
  }

  std::string usage() const {
    std::string s = "usage: " + m_program + " [options]\n" + m_description + "\n\noptions:\n";
    for (const auto& name : m_order) {
      const auto& spec = m_specs.at(name);
      std::string left = "  --" + name + (spec.takes_value ? " " + spec.meta : "");
      if (left.size() < 28) left.resize(28, ' ');
      s += left + " " + spec.help + "\n";
    }
    return s + "  --help                       this text\n";
  }

 private:
  struct Spec {
    bool takes_value = true;
    std::string meta;
    std::string help;
  };
  std::string m_program;
  std::string m_description;
  std::map<std::string, Spec> m_specs;
  std::vector<std::string> m_order;
  std::map<std::string, std::string> m_values;
};

/// Runs an example program's body and turns its errors into the programs' exit codes: 2 and the
/// message for a UsageError (a bad command line), 1 and "error: ..." for any other exception.
template <class Body>
int guarded_main(const char* program, Body body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace recdiff::examples
