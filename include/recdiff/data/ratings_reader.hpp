#pragma once
/// @file
/// load_ratings(): streaming loaders for the common rating-file formats (MovieLens 100K / 1M /
/// 20M-25M, RecBole atomic .inter files, generic delimited text) into a RatingsData.

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/id_map.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/line_reader.hpp>
#include <recdiff/data/ratings_data.hpp>
#include <recdiff/error.hpp>

namespace recdiff {

/// The text formats load_ratings() reads.
enum class Format {
  /// MovieLens 100K `u.data`: `user \t item \t rating \t timestamp`, integers, no header.
  ml100k,
  /// MovieLens 1M/10M `ratings.dat`: `user::item::rating::timestamp`, no header.
  ml1m,
  /// MovieLens 20M/25M `ratings.csv`: header `userId,movieId,rating,timestamp`, float ratings.
  csv,
  /// RecBole atomic `.inter`: tab-separated, typed header such as
  /// `user_id:token\titem_id:token\trating:float\ttimestamp:float`; columns found by name, others ignored.
  inter,
  /// `user<d>item[<d>rating[<d>timestamp]]` with a configurable delimiter and optional header.
  delimited,
};

/// Options of load_ratings(); each field says which formats read it.
struct RatingsOptions {
  /// delimited: field separator (one or more characters).
  std::string delimiter = ",";
  /// delimited: the first line is a header and is skipped.
  bool has_header = false;
  /// delimited: ids must be non-negative integers (stored as their decimal text); false accepts any
  /// non-empty token.
  bool numeric_ids = true;
  /// inter: names of the columns to read (the part before ':' in the header). The user and item
  /// columns are required; rating and timestamp are read when present.
  std::string user_column = "user_id";
  std::string item_column = "item_id";
  std::string rating_column = "rating";
  std::string timestamp_column = "timestamp";
  /// all formats: what to do with a (user, item) pair that occurs more than once.
  InteractionBuilder::Duplicates duplicates = InteractionBuilder::Duplicates::keep_all;
};

namespace detail {

// Where the fields of one format are and how to read them.
struct RatingsLayout {
  std::string delimiter;
  std::size_t num_fields = 0;  // 0: fixed by the first data line (delimited)
  int user = 0;
  int item = 1;
  int rating = -1;
  int timestamp = -1;
  bool numeric_ids = true;
  bool float_timestamp = false;  // RecBole stores timestamps as float
};

[[noreturn]] inline void line_error(const LineReader& reader, const std::string& what) {
  throw IoError::at_line(reader.file(), reader.line_number(), what);
}

inline std::string show_field(std::string_view s) {
  constexpr std::size_t max_shown = 40;
  if (s.size() > max_shown) return "'" + std::string(s.substr(0, max_shown)) + "...'";
  return "'" + std::string(s) + "'";
}

// Parses a non-negative int64 occupying the whole field.
inline std::int64_t parse_count(const LineReader& reader, std::string_view field, const char* what) {
  if (field.empty()) line_error(reader, std::string("empty ") + what);
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec == std::errc::result_out_of_range)
    line_error(reader, std::string(what) + " " + show_field(field) + " overflows a 64-bit integer");
  if (ec != std::errc() || ptr != field.data() + field.size())
    line_error(reader, std::string("non-numeric ") + what + " " + show_field(field));
  if (value < 0) line_error(reader, std::string("negative ") + what + " " + std::to_string(value));
  return value;
}

inline float parse_rating(const LineReader& reader, std::string_view field) {
  if (field.empty()) line_error(reader, "empty rating");
  float value = 0;
  const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec == std::errc::result_out_of_range)
    line_error(reader, "rating " + show_field(field) + " overflows a float");
  if (ec != std::errc() || ptr != field.data() + field.size())
    line_error(reader, "non-numeric rating " + show_field(field));
  if (!std::isfinite(value)) line_error(reader, "non-finite rating " + show_field(field));
  return value;
}

// Integer text, or (RecBole's float columns) a float with an integral value such as "978300760.0".
inline std::int64_t parse_timestamp(const LineReader& reader, std::string_view field,
                                    bool allow_float) {
  if (!allow_float || field.find_first_of(".eE") == std::string_view::npos)
    return parse_count(reader, field, "timestamp");
  double value = 0;
  const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || ptr != field.data() + field.size() || !std::isfinite(value))
    line_error(reader, "non-numeric timestamp " + show_field(field));
  if (value < 0) line_error(reader, "negative timestamp " + show_field(field));
  // 2^63 is exactly representable; anything at or above it overflows int64.
  if (value >= 9223372036854775808.0)
    line_error(reader, "timestamp " + show_field(field) + " overflows a 64-bit integer");
  if (value != std::floor(value)) line_error(reader, "timestamp " + show_field(field) + " is not whole");
  return static_cast<std::int64_t>(value);
}

// Numeric ids are keyed by their canonical decimal text, so "007" and "7" are one id.
inline index_t map_id(const LineReader& reader, IdMap& map, std::string_view field, bool numeric,
                      const char* what) {
  if (!numeric) {
    if (field.empty()) line_error(reader, std::string("empty ") + what);
    return map.insert(field);
  }
  const std::int64_t value = parse_count(reader, field, what);
  std::array<char, 24> text{};
  const auto end = std::to_chars(text.data(), text.data() + text.size(), value).ptr;
  return map.insert(std::string_view(text.data(), static_cast<std::size_t>(end - text.data())));
}

// Finds the columns of a RecBole typed header ("name:type" fields).
inline RatingsLayout inter_layout(const LineReader& reader, std::string_view header,
                                  const RatingsOptions& options) {
  RatingsLayout layout;
  layout.delimiter = "\t";
  layout.numeric_ids = false;
  layout.float_timestamp = true;
  layout.user = layout.item = -1;
  std::vector<std::string_view> fields(split_fields(header, "\t", {}));
  split_fields(header, "\t", fields);
  layout.num_fields = fields.size();
  std::vector<std::string_view> names;
  for (std::size_t c = 0; c < fields.size(); ++c) {
    const auto colon = fields[c].find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == fields[c].size())
      line_error(reader, "malformed header field " + show_field(fields[c]) + ", expected name:type");
    const std::string_view name = fields[c].substr(0, colon);
    const std::string_view type = fields[c].substr(colon + 1);
    for (const auto& seen : names)
      if (seen == name) line_error(reader, "column " + show_field(name) + " appears twice in the header");
    names.push_back(name);
    auto claim = [&](int& slot, std::string_view want_type) {
      if (type != want_type)
        line_error(reader, "column " + show_field(name) + " has type " + show_field(type) + ", expected " +
                               show_field(want_type));
      slot = static_cast<int>(c);
    };
    if (name == options.user_column) claim(layout.user, "token");
    else if (name == options.item_column) claim(layout.item, "token");
    else if (name == options.rating_column) claim(layout.rating, "float");
    else if (name == options.timestamp_column) claim(layout.timestamp, "float");
  }
  if (layout.user < 0) line_error(reader, "no user column " + show_field(options.user_column) + " in the header");
  if (layout.item < 0) line_error(reader, "no item column " + show_field(options.item_column) + " in the header");
  return layout;
}

// Rebuilds `m` without the ratings and/or timestamps the file did not have (the builder records
// both or neither).
inline InteractionMatrix drop_missing(InteractionMatrix m, bool has_rating, bool has_timestamp) {
  if (has_rating == has_timestamp) return m;
  return InteractionMatrix(m.num_users(), m.num_items(), m.offsets(), m.indices(),
                           has_rating ? m.ratings() : std::vector<float>{},
                           has_timestamp ? m.timestamps() : std::vector<std::int64_t>{});
}

}  // namespace detail

/// Reads a ratings file of the given format, streaming it line by line (memory proportional to the
/// number of interactions). Users and items get dense indices in order of first appearance; the
/// returned IdMaps map them back to the file's ids. Each user's row keeps the file order. The matrix
/// carries ratings and timestamps when the format has those columns.
///
/// Throws IoError naming the file and the 1-based line for: a missing or empty file, a malformed or
/// missing header, a second header line, an empty line, a wrong column count (including a truncated
/// last line), a non-numeric, negative or overflowing id or timestamp, and a non-numeric or
/// non-finite rating. Throws std::invalid_argument for an empty delimiter.
inline RatingsData load_ratings(const std::filesystem::path& file, Format format,
                                const RatingsOptions& options = {}) {
  if (format == Format::delimited && options.delimiter.empty())
    throw std::invalid_argument("recdiff::load_ratings: the delimiter must not be empty");
  detail::RatingsLayout layout;
  std::string header;  // kept to reject a repeated header line
  bool expect_header = false;
  switch (format) {
    case Format::ml100k: layout = {"\t", 4, 0, 1, 2, 3, true, false}; break;
    case Format::ml1m: layout = {"::", 4, 0, 1, 2, 3, true, false}; break;
    case Format::csv:
      layout = {",", 4, 0, 1, 2, 3, true, false};
      expect_header = true;
      break;
    case Format::inter: expect_header = true; break;
    case Format::delimited:
      layout = {options.delimiter, 0, 0, 1, -1, -1, options.numeric_ids, false};
      expect_header = options.has_header;
      break;
  }

  LineReader reader(file);
  std::string_view line;
  if (!reader.next(line)) throw IoError(file, "empty file");
  if (expect_header) {
    header = std::string(line);
    if (format == Format::csv && line != "userId,movieId,rating,timestamp")
      detail::line_error(reader, "expected the header 'userId,movieId,rating,timestamp', got " +
                                     detail::show_field(line));
    if (format == Format::inter) layout = detail::inter_layout(reader, line, options);
    if (!reader.next(line)) throw IoError(file, "no interactions after the header");
  }

  RatingsData data;
  InteractionBuilder builder;
  std::vector<std::string_view> fields(std::max<std::size_t>(layout.num_fields, 4));
  bool extras = layout.rating >= 0 || layout.timestamp >= 0;
  do {
    if (line.empty()) detail::line_error(reader, "empty line");
    if (expect_header && line == header)
      detail::line_error(reader, "duplicate header line (the header is line 1)");
    const std::size_t count = split_fields(line, layout.delimiter, fields);
    if (layout.num_fields == 0) {  // delimited: the first data line fixes the column count
      if (count < 2 || count > 4)
        detail::line_error(reader, "wrong column count: expected 2 to 4 fields (user, item[, rating[, "
                                   "timestamp]]), got " + std::to_string(count));
      layout.num_fields = count;
      layout.rating = count >= 3 ? 2 : -1;
      layout.timestamp = count == 4 ? 3 : -1;
      extras = count >= 3;
    }
    if (count != layout.num_fields)
      detail::line_error(reader, "wrong column count: expected " + std::to_string(layout.num_fields) +
                                     " fields, got " + std::to_string(count) +
                                     (reader.ends_with_newline()
                                          ? std::string()
                                          : " (last line has no final newline: truncated file?)"));
    const auto u = static_cast<std::size_t>(layout.user);
    const auto i = static_cast<std::size_t>(layout.item);
    const index_t user = detail::map_id(reader, data.users, fields[u], layout.numeric_ids, "user id");
    const index_t item = detail::map_id(reader, data.items, fields[i], layout.numeric_ids, "item id");
    if (!extras) {
      builder.add(user, item);
      continue;
    }
    const float rating =
        layout.rating >= 0 ? detail::parse_rating(reader, fields[static_cast<std::size_t>(layout.rating)])
                           : 0.0f;
    const std::int64_t timestamp =
        layout.timestamp >= 0
            ? detail::parse_timestamp(reader, fields[static_cast<std::size_t>(layout.timestamp)],
                                      layout.float_timestamp)
            : 0;
    builder.add(user, item, rating, timestamp);
  } while (reader.next(line));

  data.matrix = detail::drop_missing(builder.build(data.users.size(), data.items.size(), options.duplicates),
                                     layout.rating >= 0, layout.timestamp >= 0);
  return data;
}

}  // namespace recdiff
