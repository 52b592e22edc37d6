#pragma once
/// @file
/// Loaders for DiffRec's released splits: train_list.npy / valid_list.npy / test_list.npy of
/// int64 [user, item] rows (the item_emb.npy beside them is read by load_item_embeddings,
/// cluster/item_embeddings.hpp).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/npy.hpp>
#include <recdiff/data/train_valid_test.hpp>
#include <recdiff/error.hpp>

namespace recdiff {

namespace detail {

// Streams one (N, 2) '<i8' pair file into a matrix, 64K rows at a time, so the int64 array and the
// builder's int32 arrays are never both held in full. `users`/`items` < 0 means "the training file":
// ids only need to be non-negative and to fit index_t, and the shape is 1 + the largest id. Otherwise
// every id must lie in [0, users) / [0, items).
inline InteractionMatrix read_pair_file(const std::filesystem::path& file, index_t users,
                                        index_t items) {
  NpyMatrixReader<std::int64_t> reader(file, 2);
  InteractionBuilder builder;
  builder.reserve(static_cast<std::size_t>(reader.rows()));
  constexpr std::size_t chunk_rows = std::size_t{1} << 16;
  std::vector<std::int64_t> chunk(2 * chunk_rows);
  const bool is_train = users < 0;
  auto check = [&](std::uint64_t row, int col, std::int64_t id, index_t bound) {
    const char* what = col == 0 ? "user" : "item";
    if (id < 0)
      throw IoError::at_offset(file, reader.offset_of(row, static_cast<std::uint64_t>(col)),
                               "row " + std::to_string(row) + ": negative " + what +
                                   " id " + std::to_string(id));
    if (is_train && id >= std::numeric_limits<index_t>::max())
      throw IoError::at_offset(file, reader.offset_of(row, static_cast<std::uint64_t>(col)),
                               "row " + std::to_string(row) + ": " + what + " id " +
                                   std::to_string(id) + " does not fit a 32-bit index");
    if (!is_train && id >= bound)
      throw IoError::at_offset(file, reader.offset_of(row, static_cast<std::uint64_t>(col)),
                               "row " + std::to_string(row) + ": " + what + " " +
                                   std::to_string(id) + " outside the training range [0, " +
                                   std::to_string(bound) + ")");
    return static_cast<index_t>(id);
  };
  for (;;) {
    const std::uint64_t first = reader.next_row();
    const std::size_t n = reader.read_rows(chunk.data(), chunk_rows);
    if (n == 0) break;
    for (std::size_t r = 0; r < n; ++r) {
      const index_t u = check(first + r, 0, chunk[2 * r], users);
      const index_t i = check(first + r, 1, chunk[2 * r + 1], items);
      builder.add(u, i);
    }
  }
  return builder.build(users, items);
}

}  // namespace detail

/// Loads a DiffRec split folder (e.g. ../shared/data/ml-1m_clean) holding train_list.npy,
/// valid_list.npy and test_list.npy, each an (N, 2) int64 ('<i8') array of [user, item] rows.
///
/// Follows DiffRec's data code (the released data_utils): the shape of all three
/// matrices is U x I with U = 1 + the largest user id and I = 1 + the largest item id **of the train
/// file**. Each user's row keeps the order of the file, which T-DiffRec's time weights depend on.
/// Throws IoError (file + byte offset) for anything NpyMatrixReader rejects, for a negative id
/// (".../train_list.npy (byte 400): row 17: negative item id -3"), for an empty train file, and for a
/// valid/test id outside the training range (".../valid_list.npy (byte 208): row 5: user 6000 outside
/// the training range [0, 5949)"). Rows are numbered from 0, as in numpy.
inline TrainValidTest load_diffrec_split(const std::filesystem::path& dir) {
  TrainValidTest split;
  const auto train_file = dir / "train_list.npy";
  split.train = detail::read_pair_file(train_file, -1, -1);
  if (split.train.nnz() == 0) throw IoError(train_file, "no training interactions (0 rows)");
  const index_t users = split.train.num_users();
  const index_t items = split.train.num_items();
  split.valid = detail::read_pair_file(dir / "valid_list.npy", users, items);
  split.test = detail::read_pair_file(dir / "test_list.npy", users, items);
  return split;
}

}  // namespace recdiff
