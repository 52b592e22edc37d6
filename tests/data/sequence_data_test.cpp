#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <recdiff/data/sequence_data.hpp>
#include <recdiff/data/transforms.hpp>
#include <recdiff/eval/temporal_split.hpp>

#include "support/pickle_writer.hpp"
#include "support/shared_data.hpp"

using Catch::Contains;
using recdiff::index_t;
using recdiff::IoError;
using recdiff::SequenceData;
using namespace recdiff::test;  // Py, I, S, L, D, pickle, python_bytes: support/pickle_writer.hpp

namespace {

// The value under str key `key` of dict `d`.
Py& at(Py& d, const std::string& key) {
  for (std::size_t k = 0; k < d.items.size(); k += 2)
    if (d.items[k].kind == Py::Str && d.items[k].s == key) return d.items[k + 1];
  throw std::logic_error("no key " + key);
}

// Three users, six items. Keys of train / val / test / umap are not in ascending order, user 2 has
// an empty training sequence, and user ids map to original ids out of order.
Py dataset() {
  return D({S("train"), D({I(2), L({}), I(0), L({I(1), I(2), I(3)}), I(1), L({I(4)})}),
            S("val"), D({I(0), L({I(4)}), I(1), L({I(5)}), I(2), L({I(6)})}),
            S("test"), D({I(0), L({I(5)}), I(2), L({I(2)}), I(1), L({I(1)})}),
            S("umap"), D({I(7), I(1), I(3), I(0), S("alice"), I(2)}),
            S("smap"), D({I(1000), I(1), I(1001), I(2), I(1002), I(3), I(990), I(6), I(1004),
                          I(5), I(1003), I(4)})});
}

SequenceData load(const Py& p) {
  return recdiff::diffurec_dataset_from_pickle(recdiff::parse_pickle(pickle(p), "d.pkl"), "d.pkl");
}

IoError error_of(const Py& p) {
  try {
    load(p);
  } catch (const IoError& e) {
    return e;
  }
  FAIL("the dataset was accepted");
  throw std::logic_error("unreachable");
}

using Seq = std::vector<index_t>;

}  // namespace

TEST_CASE("sequence data: a synthetic dataset.pkl loads to the expected sequences") {
  recdiff::test::TempDir dir;
  const auto path = dir / "dataset.pkl";
  {
    std::ofstream out(path, std::ios::binary);
    out << pickle(dataset());
  }
  const SequenceData d = recdiff::load_diffurec_dataset(path);
  REQUIRE(d.num_users() == 3);
  CHECK(d.num_items == 6);
  CHECK(d.train == std::vector<Seq>{{1, 2, 3}, {4}, {}});
  CHECK(d.valid == Seq{4, 5, 6});
  CHECK(d.test == Seq{5, 1, 2});
  CHECK(d.num_train_rows() == 4);
  CHECK(d.num_interactions() == 10);
  // users.external(u) is the umap key mapped to u; items.external(i - 1) the smap key mapped to i.
  CHECK(d.users.ids() == std::vector<std::string>{"3", "7", "alice"});
  CHECK(d.items.ids() ==
        std::vector<std::string>{"1000", "1001", "1002", "1003", "1004", "990"});

  // CPython's own bytes (support/pickle_writer.hpp): two users, items 1..5 (smap 100..500).
  const SequenceData p =
      recdiff::diffurec_dataset_from_pickle(recdiff::parse_pickle(python_bytes, "p"), "p");
  CHECK(p.train == std::vector<Seq>{{1, 2, 3}, {2, 4}});
  CHECK(p.valid == Seq{4, 1});
  CHECK(p.test == Seq{5, 3});
  CHECK(p.num_items == 5);
  CHECK(p.users.ids() == std::vector<std::string>{"10", "20"});
}

TEST_CASE("sequence data: to_interactions keeps the time order as positions") {
  const SequenceData d = load(dataset());
  const recdiff::InteractionMatrix m = recdiff::to_interactions(d);
  REQUIRE(m.num_users() == 3);
  REQUIRE(m.num_items() == 6);
  CHECK(m.nnz() == 10);
  CHECK_FALSE(m.has_ratings());
  REQUIRE(m.has_timestamps());
  const auto row = [&](index_t u) {
    return std::vector<index_t>(m.items_of(u).begin(), m.items_of(u).end());
  };
  const auto times = [&](index_t u) {
    return std::vector<std::int64_t>(m.timestamps_of(u).begin(), m.timestamps_of(u).end());
  };
  CHECK(row(0) == Seq{0, 1, 2, 3, 4});  // train 1 2 3, val 4, test 5, shifted to 0-based
  CHECK(times(0) == std::vector<std::int64_t>{0, 1, 2, 3, 4});
  CHECK(row(1) == Seq{3, 4, 0});
  CHECK(times(1) == std::vector<std::int64_t>{0, 1, 2});
  CHECK(row(2) == Seq{5, 1});
  CHECK(times(2) == std::vector<std::int64_t>{0, 1});

  // temporal_split reads the positions: user 0 (n = 5) keeps floor(3.5) + 1 = 4 in train and
  // floor(4.0) + 1 = 5 in train + test; user 1 (n = 3) keeps floor(2.1) + 1 = 3 in train.
  const auto split = recdiff::temporal_split(m);
  CHECK(std::vector<index_t>(split.train.items_of(0).begin(), split.train.items_of(0).end()) ==
        Seq{0, 1, 2, 3});
  CHECK(std::vector<index_t>(split.test.items_of(0).begin(), split.test.items_of(0).end()) ==
        Seq{4});
  CHECK(split.valid.row_size(0) == 0);
  CHECK(split.train.row_size(1) == 3);

  SequenceData bad = d;
  bad.valid.pop_back();
  CHECK_THROWS_AS(recdiff::to_interactions(bad), std::invalid_argument);
}

TEST_CASE("sequence data: a malformed dataset names the key and the user") {
  struct Case {
    const char* name;
    Py data;
    const char* reason;
  };
  std::vector<Case> cases;
  const auto edit = [&](const char* name, const char* reason, auto change) {
    Py p = dataset();
    change(p);
    cases.push_back({name, std::move(p), reason});
  };
  cases.push_back({"top level list", L({I(1), I(2)}), "the top level is a list, expected a dict"});
  edit("train is a list", "'train' is a list, expected a dict",
       [](Py& p) { at(p, "train") = L({I(1), I(2)}); });
  edit("missing smap", "missing top-level key 'smap'", [](Py& p) { p.items.resize(8); });
  edit("missing train", "missing top-level key 'train'", [](Py& p) { p.items[0] = S("trian"); });
  edit("extra key", "unexpected top-level key 'extra'", [](Py& p) {
    p.items.push_back(S("extra"));
    p.items.push_back(I(1));
  });
  edit("int key", "unexpected top-level key of type int", [](Py& p) {
    p.items.push_back(I(5));
    p.items.push_back(I(1));
  });
  edit("two val items", "'val' of user 1 has 2 items, expected exactly 1",
       [](Py& p) { at(p, "val").items[3] = L({I(5), I(1)}); });
  edit("empty test", "'test' of user 2 has 0 items, expected exactly 1",
       [](Py& p) { at(p, "test").items[3] = L({}); });
  edit("val int", "'val' of user 0 is an int, expected a list of one item",
       [](Py& p) { at(p, "val").items[1] = I(4); });
  edit("train dict", "'train' of user 0 is a dict, expected a list",
       [](Py& p) { at(p, "train").items[3] = D({I(1), I(2), I(3), I(4)}); });
  edit("padding item", "an entry of 'train' of user 0 is item 0, outside 1..6",
       [](Py& p) { at(p, "train").items[3].items[1] = I(0); });
  edit("item too large", "'test' of user 1 is item 7, outside 1..6",
       [](Py& p) { at(p, "test").items[5] = L({I(7)}); });
  edit("str item", "an entry of 'train' of user 1 is a str, expected an int",
       [](Py& p) { at(p, "train").items[5] = L({S("4")}); });
  edit("gap in users", "'train' has user 5, outside 0..2 (users must be numbered contiguously)",
       [](Py& p) { at(p, "train").items[0] = I(5); });
  edit("str user", "a key of 'val' is a str, expected an int",
       [](Py& p) { at(p, "val").items[2] = S("1"); });
  edit("val misses a user", "'val' has 2 users, 'train' 3", [](Py& p) {
    at(p, "val").items.resize(4);
  });
  edit("umap not onto", "'umap' maps two keys to 0", [](Py& p) { at(p, "umap").items[1] = I(0); });
  edit("umap out of range", "'umap' maps to 3, outside 0..2",
       [](Py& p) { at(p, "umap").items[5] = I(3); });
  edit("umap short", "'train' has 3 users, 'umap' 2", [](Py& p) {
    at(p, "umap").items = {I(7), I(1), I(3), I(0)};
  });
  edit("umap ids repeat", "'umap' has the original id '7' twice",
       [](Py& p) { at(p, "umap").items[4] = S("7"); });
  edit("smap from 0", "'smap' maps to 0, outside 1..6",
       [](Py& p) { at(p, "smap").items[1] = I(0); });
  edit("smap empty", "'smap' is empty", [](Py& p) { at(p, "smap").items.clear(); });
  edit("smap values", "a value of 'smap' is a str, expected an int",
       [](Py& p) { at(p, "smap").items[3] = S("2"); });
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK_THAT(error_of(c.data).reason(), Contains(c.reason));
  }

  // The offset is that of the offending value: the test item of user 0 in CPython's sample is the
  // BININT1 at byte 86.
  std::string bytes = python_bytes;
  REQUIRE(bytes[86] == 'K');
  bytes[87] = '\0';
  try {
    recdiff::diffurec_dataset_from_pickle(recdiff::parse_pickle(bytes, "p.pkl"), "p.pkl");
    FAIL("accepted");
  } catch (const IoError& e) {
    CHECK(e.offset() == 86);
    CHECK(std::string(e.what()) == "p.pkl (byte 86): 'test' of user 0 is item 0, outside 1..5");
  }
}

TEST_CASE("sequence data: flipped bytes of a dataset either load or throw IoError") {
  const std::string base = pickle(dataset());
  std::mt19937_64 rng(99);
  int loaded = 0, refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = base;
    const int flips = 1 + static_cast<int>(rng() % 2);
    for (int f = 0; f < flips; ++f) {
      const auto pos = static_cast<std::size_t>(rng() % bytes.size());
      bytes[pos] = static_cast<char>(rng() % 2 ? rng() & 0xff : bytes[pos] ^ (1 << (rng() % 8)));
    }
    try {
      const SequenceData d =
          recdiff::diffurec_dataset_from_pickle(recdiff::parse_pickle(bytes, "f"), "f");
      // What loads is consistent: the matrix builds and has every interaction.
      CHECK(recdiff::to_interactions(d).nnz() == d.num_interactions());
      ++loaded;
    } catch (const IoError&) {
      ++refused;
    }
  }
  INFO("loaded " << loaded << ", refused " << refused);
  CHECK(loaded > 20);
  CHECK(refused > 1000);
}

namespace {

struct Expected {
  const char* folder;
  index_t users, items;
  std::int64_t interactions, train_rows;
  std::size_t min_length, max_length;  // train + val + test
  int items_not_in_train, valid_not_in_train;
  std::int64_t prefix_examples;        // sum over users of |train| - 1
};

// Loads a real dataset and checks the counts of the data README, section 3.
SequenceData check_real(const Expected& x) {
  const auto path = recdiff::test::require_shared_data(std::string(x.folder) + "/dataset.pkl");
  const SequenceData d = recdiff::load_diffurec_dataset(path);
  CHECK(d.num_users() == x.users);
  CHECK(d.num_items == x.items);
  CHECK(d.num_interactions() == x.interactions);
  CHECK(d.num_train_rows() == x.train_rows);
  std::size_t lo = SIZE_MAX, hi = 0;
  std::int64_t prefixes = 0;
  std::vector<char> in_train(static_cast<std::size_t>(d.num_items) + 1, 0);
  for (const auto& s : d.train) {
    lo = std::min(lo, s.size() + 2);
    hi = std::max(hi, s.size() + 2);
    prefixes += static_cast<std::int64_t>(s.size()) - 1;
    for (const index_t i : s) in_train[static_cast<std::size_t>(i)] = 1;
  }
  CHECK(lo == x.min_length);
  CHECK(hi == x.max_length);
  CHECK(prefixes == x.prefix_examples);
  CHECK(std::count(in_train.begin() + 1, in_train.end(), 0) == x.items_not_in_train);
  CHECK(std::count_if(d.valid.begin(), d.valid.end(), [&](index_t i) {
          return !in_train[static_cast<std::size_t>(i)];
        }) == x.valid_not_in_train);

  const auto m = recdiff::to_interactions(d);
  CHECK(m.num_users() == x.users);
  CHECK(m.num_items() == x.items);
  CHECK(m.nnz() == x.interactions);
  return d;
}

// Beauty and Toys: pickle user u is text line u + 1 of the ICLRec file ("u+1 item item ..."), and
// train + val + test equals the line's items (data README, section 3).
void check_against_text(const SequenceData& d, const std::string& text) {
  std::ifstream in(recdiff::test::require_shared_data(text));
  std::string line;
  index_t u = 0;
  int mismatches = 0;
  for (; std::getline(in, line); ++u) {
    std::istringstream fields(line);
    std::int64_t user = 0;
    fields >> user;
    std::vector<index_t> items;
    for (index_t i = 0; fields >> i;) items.push_back(i);
    REQUIRE(u < d.num_users());
    auto expected = d.train[static_cast<std::size_t>(u)];
    expected.push_back(d.valid[static_cast<std::size_t>(u)]);
    expected.push_back(d.test[static_cast<std::size_t>(u)]);
    mismatches += (user != u + 1 || items != expected) ? 1 : 0;
  }
  CHECK(u == d.num_users());
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("sequence data: DiffuRec's Beauty") {
  const SequenceData d = check_real(
      {"diffurec_beauty", 22363, 12101, 198502, 153776, 5, 204, 33, 51, 131413});
  CHECK(d.users.external(0) == "1");  // umap: text user u -> u - 1; smap: the identity
  CHECK(d.items.external(12100) == "12101");
  check_against_text(d, "diffurec_beauty/Beauty.txt");
}

TEST_CASE("sequence data: DiffuRec's Toys") {
  const SequenceData d = check_real(
      {"diffurec_toys", 19412, 11924, 167597, 128773, 5, 550, 48, 100, 109361});
  check_against_text(d, "diffurec_toys/Toys_and_Games.txt");
}

TEST_CASE("sequence data: DiffuRec's ML-1M, and RecFusion's 5/5 filter on it") {
  const SequenceData d = check_real(
      {"diffurec_ml-1m", 6040, 3706, 1000209, 988129, 20, 2314, 2, 0, 982089});
  // umap: MovieLens UserID k -> k - 1; smap: the 3,706 MovieIDs that occur, in order, -> 1..3706.
  CHECK(d.users.external(6039) == "6040");
  CHECK(d.items.external(0) == "1");
  CHECK(d.items.external(3705) == "3952");

  // The paper's counts (3,416 items, 999,611 interactions) are this file after one pass of users
  // >= 5, then items >= 5 (RecFusion's preprocessing); ten users lose their val or test item.
  const auto filtered = recdiff::kcore(recdiff::to_interactions(d), 5, 5, /*iterative=*/false);
  CHECK(filtered.matrix.num_users() == 6040);
  CHECK(filtered.matrix.num_items() == 3416);
  CHECK(filtered.matrix.nnz() == 999611);
  std::vector<char> kept(static_cast<std::size_t>(d.num_items), 0);
  for (const index_t i : filtered.kept_items) kept[static_cast<std::size_t>(i)] = 1;
  int lost = 0;
  for (index_t u = 0; u < d.num_users(); ++u)
    lost += !kept[static_cast<std::size_t>(d.valid[static_cast<std::size_t>(u)] - 1)] ||
            !kept[static_cast<std::size_t>(d.test[static_cast<std::size_t>(u)] - 1)];
  CHECK(lost == 10);
  CHECK(filtered.matrix.has_timestamps());  // kcore carries the positions along
}
