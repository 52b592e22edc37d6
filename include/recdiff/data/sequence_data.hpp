#pragma once
/// @file
/// SequenceData: per-user item sequences split leave-one-out (train prefix, validation item, test
/// item), the loader of DiffuRec's released `dataset.pkl` (Li, Sun, Li, TOIS 2024: leave-one-out, the
/// last item of each sequence is the test target, the one before it the validation target), and the
/// conversion to an InteractionMatrix that keeps each user's time order.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <recdiff/config.hpp>
#include <recdiff/data/id_map.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/data/pickle.hpp>
#include <recdiff/error.hpp>

namespace recdiff {

/// A leave-one-out sequential dataset: for every user u in 0..num_users()-1 its training sequence in
/// time order (oldest first), then one validation item, then one test item (the most recent).
///
/// Item ids are 1..num_items; **0 is never an item** (sequential models reserve it for padding).
/// `users` and `items` hold the dataset's original ids: users.external(u) is the original id of user
/// u, items.external(i - 1) the original id of item i (numbers as decimal text).
struct SequenceData {
  std::vector<std::vector<index_t>> train;  ///< train[u]: items of user u, oldest first
  std::vector<index_t> valid;               ///< valid[u]: the second-to-last item of user u
  std::vector<index_t> test;                ///< test[u]: the last item of user u
  index_t num_items = 0;                    ///< I: item ids are 1..I
  IdMap users;                              ///< original user ids, index = user
  IdMap items;                              ///< original item ids, index = item id - 1

  /// Number of users U.
  index_t num_users() const noexcept { return static_cast<index_t>(train.size()); }
  /// Sum of the training sequences' lengths.
  offset_t num_train_rows() const noexcept {
    offset_t n = 0;
    for (const auto& s : train) n += static_cast<offset_t>(s.size());
    return n;
  }
  /// Every interaction: training rows plus one validation and one test item per user.
  offset_t num_interactions() const noexcept {
    return num_train_rows() + 2 * static_cast<offset_t>(train.size());
  }
};

namespace detail {

// Checks of the DiffuRec dictionary, every failure an IoError at the offending value's offset.
// `what` arguments are callables returning the description of the value, so that messages are
// built only on failure (the checks run once per interaction).
struct DiffurecChecker {
  const std::filesystem::path& file;

  [[noreturn]] void fail(const PickleValue& at, const std::string& what) const {
    throw IoError::at_offset(file, at.offset(), what);
  }

  const PickleValue& dict(const PickleValue& v, const auto& what) const {
    if (!v.is_dict()) fail(v, what() + " is " + v.kind_phrase() + ", expected a dict");
    return v;
  }

  std::int64_t integer(const PickleValue& v, const auto& what) const {
    if (!v.is_integer()) fail(v, what() + " is " + v.kind_phrase() + ", expected an int");
    return v.as_integer();
  }

  // Item id `v` checked against 1..items.
  index_t item(const PickleValue& v, index_t items, const auto& what) const {
    const std::int64_t id = integer(v, what);
    if (id < 1 || id > items)
      fail(v, what() + " is item " + std::to_string(id) + ", outside 1.." + std::to_string(items));
    return static_cast<index_t>(id);
  }

  // The user of a key of 'train' / 'val' / 'test', checked against 0..users-1 and seen once.
  index_t user(const PickleValue& key, index_t users, std::vector<char>& seen,
               const std::string& name) const {
    const std::int64_t u = integer(key, [&] { return "a key of '" + name + "'"; });
    if (u < 0 || u >= users)
      fail(key, "'" + name + "' has user " + std::to_string(u) + ", outside 0.." +
                    std::to_string(users - 1) + " (users must be numbered contiguously)");
    auto& mark = seen[static_cast<std::size_t>(u)];
    if (mark) fail(key, "'" + name + "' lists user " + std::to_string(u) + " twice");
    mark = 1;
    return static_cast<index_t>(u);
  }

  // The text of an original id (umap / smap key): an int's decimal digits or a str.
  std::string original_id(const PickleValue& key, const std::string& name) const {
    if (key.is_integer()) return std::to_string(key.as_integer());
    if (key.is_string()) return key.as_string();
    fail(key, "a key of '" + name + "' is " + key.kind_phrase() + ", expected an int or a str");
  }

  // A map original id -> dense id that must be a bijection onto first..first+n-1; returns the
  // IdMap whose index k holds the original id mapped to first + k.
  IdMap bijection(const PickleValue& map, const std::string& name, std::int64_t first) const {
    dict(map, [&] { return "'" + name + "'"; });
    const std::size_t n = map.size();
    if (n == 0) fail(map, "'" + name + "' is empty");
    if (n > static_cast<std::size_t>(std::numeric_limits<index_t>::max()))
      fail(map, "'" + name + "' has " + std::to_string(n) + " entries, more than an index holds");
    std::vector<const PickleValue*> by_id(n, nullptr);
    const auto last = first + static_cast<std::int64_t>(n) - 1;
    for (std::size_t k = 0; k < n; ++k) {
      const PickleValue& v = map.value(k);
      const std::int64_t id = integer(v, [&] { return "a value of '" + name + "'"; });
      if (id < first || id > last)
        fail(v, "'" + name + "' maps to " + std::to_string(id) + ", outside " +
                    std::to_string(first) + ".." + std::to_string(last) + " (its " +
                    std::to_string(n) + " values must be exactly those ids)");
      auto& slot = by_id[static_cast<std::size_t>(id - first)];
      if (slot) fail(v, "'" + name + "' maps two keys to " + std::to_string(id));
      slot = &map.key(k);
    }
    IdMap out;
    for (const PickleValue* key : by_id) {
      const auto before = out.size();
      out.insert(original_id(*key, name));
      if (out.size() == before)
        fail(*key, "'" + name + "' has the original id '" + original_id(*key, name) + "' twice");
    }
    return out;
  }
};

}  // namespace detail

/// Builds a SequenceData from the value of a DiffuRec `dataset.pkl` (see load_diffurec_dataset());
/// `file` names the source in error messages.
inline SequenceData diffurec_dataset_from_pickle(const PickleValue& root,
                                                 const std::filesystem::path& file) {
  const detail::DiffurecChecker check{file};
  check.dict(root, [] { return std::string("the top level"); });
  const auto get = [&](std::string_view name) -> const PickleValue& {
    const PickleValue* v = root.find(name);
    if (!v) check.fail(root, "missing top-level key '" + std::string(name) + "'");
    return check.dict(*v, [&] { return "'" + std::string(name) + "'"; });
  };
  const PickleValue& train = get("train");
  const PickleValue& val = get("val");
  const PickleValue& test = get("test");
  const PickleValue& umap = get("umap");
  const PickleValue& smap = get("smap");

  static constexpr std::string_view names[] = {"train", "val", "test", "umap", "smap"};
  for (std::size_t k = 0; k < root.size(); ++k) {
    const PickleValue& key = root.key(k);
    bool known = false;
    for (const auto name : names) known = known || (key.is_string() && key.as_string() == name);
    if (!known)
      check.fail(key, "unexpected top-level key " +
                          (key.is_string() ? "'" + key.as_string() + "'"
                                           : std::string("of type ") + key.kind_name()) +
                          " (expected train, val, test, umap, smap)");
  }

  SequenceData out;
  out.users = check.bijection(umap, "umap", 0);
  out.items = check.bijection(smap, "smap", 1);
  out.num_items = out.items.size();
  const index_t users = out.users.size();
  const index_t items = out.num_items;

  if (train.size() != static_cast<std::size_t>(users))
    check.fail(train, "'train' has " + std::to_string(train.size()) + " users, 'umap' " +
                          std::to_string(users));
  out.train.resize(static_cast<std::size_t>(users));
  std::vector<char> seen(static_cast<std::size_t>(users), 0);
  for (std::size_t k = 0; k < train.size(); ++k) {
    const index_t u = check.user(train.key(k), users, seen, "train");
    const PickleValue& seq = train.value(k);
    const auto what = [u] { return "'train' of user " + std::to_string(u); };
    if (!seq.is_list()) check.fail(seq, what() + " is " + seq.kind_phrase() + ", expected a list");
    auto& dst = out.train[static_cast<std::size_t>(u)];
    dst.reserve(seq.size());
    for (const PickleValue& v : seq.items())
      dst.push_back(check.item(v, items, [&] { return "an entry of " + what(); }));
  }

  struct HeldOut {
    std::string name;
    const PickleValue* part;
    std::vector<index_t>* dst;
  };
  for (const HeldOut& h : {HeldOut{"val", &val, &out.valid}, HeldOut{"test", &test, &out.test}}) {
    const std::string& name = h.name;
    const PickleValue& part = *h.part;
    std::vector<index_t>* dst = h.dst;
    if (part.size() != static_cast<std::size_t>(users))
      check.fail(part, "'" + name + "' has " + std::to_string(part.size()) + " users, 'train' " +
                           std::to_string(users));
    dst->assign(static_cast<std::size_t>(users), 0);
    std::fill(seen.begin(), seen.end(), 0);
    for (std::size_t k = 0; k < part.size(); ++k) {
      const index_t u = check.user(part.key(k), users, seen, name);
      const PickleValue& held = part.value(k);
      const auto what = [&] { return "'" + name + "' of user " + std::to_string(u); };
      if (!held.is_list())
        check.fail(held, what() + " is " + held.kind_phrase() + ", expected a list of one item");
      if (held.size() != 1)
        check.fail(held, what() + " has " + std::to_string(held.size()) +
                             " items, expected exactly 1");
      (*dst)[static_cast<std::size_t>(u)] = check.item(held.items()[0], items, what);
    }
  }
  return out;
}

/// Loads DiffuRec's leave-one-out `dataset.pkl` with the restricted unpickler (read_pickle(): no
/// code is ever run). The file is a dict with the str keys
/// - `train`: user -> list of items in time order, without the last two;
/// - `val`: user -> [the second-to-last item]; `test`: user -> [the last item];
/// - `umap`: original user id -> user (0..U-1); `smap`: original item id -> item (1..I).
///
/// Checks: exactly those five keys, each a dict; umap a bijection onto 0..U-1 and smap onto 1..I
/// (I = the number of smap entries, the largest item id); train, val and test each list every user
/// 0..U-1 once (in any order); val and test lists of exactly one item; every item in 1..I. Repeated
/// items within a sequence are kept. Throws IoError naming the key and user at fault, with the byte
/// offset of the offending value.
inline SequenceData load_diffurec_dataset(const std::filesystem::path& path) {
  return diffurec_dataset_from_pickle(read_pickle(path), path);
}

/// Every interaction of `data` (train, then validation, then test item of each user) as a
/// num_users() x num_items InteractionMatrix with 0-based items (column = item id - 1). Row u keeps
/// the time order, and the timestamp of an entry is its position in the user's sequence
/// (0, 1, ..., n_u - 1), so temporal_split() and other order-aware code can use it. No ratings.
inline InteractionMatrix to_interactions(const SequenceData& data) {
  const auto users = static_cast<std::size_t>(data.num_users());
  if (data.valid.size() != users || data.test.size() != users)
    throw std::invalid_argument(
        "recdiff::to_interactions: valid and test must have one item per user (" +
        std::to_string(users) + "), got " + std::to_string(data.valid.size()) + " and " +
        std::to_string(data.test.size()));
  std::vector<offset_t> offsets(users + 1, 0);
  std::vector<index_t> indices;
  std::vector<std::int64_t> positions;
  indices.reserve(static_cast<std::size_t>(data.num_interactions()));
  positions.reserve(indices.capacity());
  for (std::size_t u = 0; u < users; ++u) {
    std::int64_t position = 0;
    const auto add = [&](index_t item) {
      indices.push_back(item - 1);
      positions.push_back(position++);
    };
    for (const index_t item : data.train[u]) add(item);
    add(data.valid[u]);
    add(data.test[u]);
    offsets[u + 1] = static_cast<offset_t>(indices.size());
  }
  // The constructor checks every column against [0, num_items).
  return InteractionMatrix(data.num_users(), data.num_items, std::move(offsets), std::move(indices),
                           {}, std::move(positions));
}

}  // namespace recdiff
