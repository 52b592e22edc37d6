#pragma once
// Dataset selection shared by the example programs: a DiffRec split folder, a DiffuRec folder
// (dataset.pkl), a raw ratings file, or the built-in synthetic default, prepared for DiffRec's
// protocol or for strong generalisation; under DiffRec's protocol optionally with noisy training
// data (DiffRec, Wang et al. SIGIR 2023, section 4.2.2: random false positives, or the natural
// ones of a ratings file).

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <recdiff/data/data.hpp>
#include <recdiff/data/noisy_training.hpp>
#include <recdiff/eval/eval.hpp>

#include "cli.hpp"

namespace recdiff::examples {

/// A dataset ready for one protocol.
struct PreparedData {
  std::string description;
  bool strong = false;
  TrainValidTest split;                 // protocol "diffrec"
  StrongGeneralizationSplit strong_split;  // protocol "strong"
  std::optional<double> random_noise;   // --random-noise: the fraction added to train
  bool natural_noise = false;           // --natural-noise
};

/// Declares --data, --format, --protocol, --min-rating, --seed, --random-noise, --natural-noise.
inline void declare_data_options(ArgParser& args) {
  args.option("data", "PATH",
              "DiffRec split folder (train_list.npy, ...), DiffuRec folder (dataset.pkl: all "
              "interactions, 5/5 filtered) or a ratings file (see --format); default: built-in "
              "synthetic data");
  args.option("format", "FMT", "ratings file format: ml-100k | ml-1m | csv | inter");
  args.option("protocol", "NAME", "diffrec (temporal/released split) | strong (RecFusion); default diffrec");
  args.option("min-rating", "R",
              "keep ratings >= R as positives for ratings files (default 4; not for dataset.pkl)");
  args.option("seed", "N", "random seed (default 1)");
  args.option("random-noise", "FRACTION",
              "protocol diffrec: add round(FRACTION x train size) random (user, item) pairs, in "
              "none of train, valid and test, to the end of the training rows (DiffRec's random "
              "noise, 0 < FRACTION <= 1; drawn with the seed)");
  args.flag("natural-noise",
            "protocol diffrec, ratings files with timestamps (e.g. --format ml-100k): split the "
            "positives (>= --min-rating) by time, then add every lower rating up to the user's "
            "last training positive to train (DiffRec's noisy training; valid and test stay "
            "positive)");
}

namespace detail {
inline Format parse_format(const std::string& name) {
  if (name == "ml-100k") return Format::ml100k;
  if (name == "ml-1m") return Format::ml1m;
  if (name == "csv") return Format::csv;
  if (name == "inter") return Format::inter;
  throw UsageError("--format: expected ml-100k, ml-1m, csv or inter, got '" + name + "'");
}

// Every interaction of a split in one matrix (train, then valid, then test rows of each user).
inline InteractionMatrix union_of(const TrainValidTest& s) {
  InteractionBuilder b;
  b.reserve(static_cast<std::size_t>(s.train.nnz() + s.valid.nnz() + s.test.nnz()));
  for (const InteractionMatrix* m : {&s.train, &s.valid, &s.test})
    for (index_t u = 0; u < m->num_users(); ++u)
      for (const index_t i : m->items_of(u)) b.add(u, i);
  return b.build(s.train.num_users(), s.train.num_items());
}

// The rows kept_users and columns kept_items of `m` (both ascending old indices, as kcore()
// returns them), re-indexed densely; rows keep their order, ratings and timestamps.
inline InteractionMatrix select(const InteractionMatrix& m, const std::vector<index_t>& kept_users,
                                const std::vector<index_t>& kept_items) {
  std::vector<index_t> new_item(static_cast<std::size_t>(m.num_items()), -1);
  for (std::size_t k = 0; k < kept_items.size(); ++k)
    new_item[static_cast<std::size_t>(kept_items[k])] = static_cast<index_t>(k);
  std::vector<offset_t> offsets{0};
  std::vector<index_t> indices;
  std::vector<float> ratings;
  std::vector<std::int64_t> timestamps;
  for (const index_t u : kept_users) {
    const auto items = m.items_of(u);
    for (std::size_t k = 0; k < items.size(); ++k) {
      const index_t i = new_item[static_cast<std::size_t>(items[k])];
      if (i < 0) continue;
      indices.push_back(i);
      if (m.has_ratings()) ratings.push_back(m.ratings_of(u)[k]);
      if (m.has_timestamps()) timestamps.push_back(m.timestamps_of(u)[k]);
    }
    offsets.push_back(static_cast<offset_t>(indices.size()));
  }
  return InteractionMatrix(static_cast<index_t>(kept_users.size()),
                           static_cast<index_t>(kept_items.size()), std::move(offsets),
                           std::move(indices), std::move(ratings), std::move(timestamps));
}

// "4", "3.5": a rating threshold as typed.
inline std::string rating_text(float r) {
  std::string t = std::to_string(r);
  t.erase(t.find_last_not_of('0') + 1);
  if (!t.empty() && t.back() == '.') t.pop_back();
  return t;
}
}  // namespace detail

/// Loads and splits what the options ask for; the strong generalisation split and the random noise
/// are drawn with `seed`. Throws UsageError for noise options that cannot apply (under --protocol
/// strong; --natural-noise without a ratings file that has ratings and timestamps).
inline PreparedData prepare_data(const ArgParser& args, std::uint64_t seed) {
  PreparedData out;
  const std::string protocol = args.text("protocol").value_or("diffrec");
  if (protocol != "diffrec" && protocol != "strong")
    throw UsageError("--protocol: expected diffrec or strong, got '" + protocol + "'");
  out.strong = protocol == "strong";
  const auto min_rating = args.number<float>("min-rating", 4.0f);
  out.natural_noise = args.has("natural-noise");
  if (args.has("random-noise")) {
    out.random_noise = args.number<double>("random-noise", 0);
    if (!(*out.random_noise > 0 && *out.random_noise <= 1))
      throw UsageError("--random-noise: expected a fraction in (0, 1] of the training "
                       "interactions (the paper uses 0.1 to 0.5), got " +
                       *args.text("random-noise"));
  }
  if (out.strong && (out.random_noise || out.natural_noise))
    throw UsageError(std::string(out.random_noise ? "--random-noise" : "--natural-noise") +
                     " applies to --protocol diffrec only (it puts false positives into the "
                     "training matrix of DiffRec's temporal split)");
  if (out.natural_noise && !args.has("data"))
    throw UsageError(
        "--natural-noise needs a ratings file with ratings and timestamps (e.g. --data "
        "../shared/data/ml-100k/u.data --format ml-100k); the built-in synthetic data has none");

  InteractionMatrix all;  // everything, for the strong protocol or a temporal split
  bool have_split = false;
  if (const auto data = args.text("data")) {
    const std::filesystem::path path(*data);
    if (!std::filesystem::exists(path))
      throw UsageError("--data: " + path.string() + " does not exist");
    const bool diffurec = std::filesystem::is_directory(path) &&
                          std::filesystem::exists(path / "dataset.pkl") &&
                          !std::filesystem::exists(path / "train_list.npy");
    if (diffurec) {
      // DiffuRec's leave-one-out sequences: every interaction (train + val + test), each row in
      // time order with its sequence position as timestamp, then RecFusion's one pass of users >= 5
      // and items >= 5, as for ratings files.
      if (args.has("format")) throw UsageError("--format applies to ratings files, not folders");
      if (out.natural_noise)
        throw UsageError("--natural-noise: " + (path / "dataset.pkl").string() +
                         " has no ratings, so it has no low ratings to keep as false positives; "
                         "use a ratings file with timestamps (e.g. --format ml-100k)");
      if (args.has("min-rating"))
        throw UsageError("--min-rating: " + (path / "dataset.pkl").string() +
                         " has no ratings (DiffuRec's sequences keep every interaction), so it "
                         "cannot be filtered by rating; drop --min-rating");
      const SequenceData sequences = load_diffurec_dataset(path / "dataset.pkl");
      all = kcore(to_interactions(sequences), 5, 5, /*iterative=*/false).matrix;
      if (!out.strong && !all.has_timestamps())
        throw UsageError("--protocol diffrec: " + path.string() +
                         " gives no interaction order for a temporal split; use --protocol strong");
      out.description = "DiffuRec sequences " + path.string() +
                        ": all ratings kept (the file has no ratings), 5/5 filtered" +
                        (out.strong ? "" : ", temporal split by sequence position");
    } else if (std::filesystem::is_directory(path)) {
      if (args.has("format")) throw UsageError("--format applies to ratings files, not folders");
      if (out.natural_noise)
        throw UsageError("--natural-noise: the DiffRec split " + path.string() +
                         " holds positives only (no ratings, no timestamps); use a ratings file "
                         "with timestamps (e.g. --format ml-100k), or --random-noise");
      out.split = load_diffrec_split(path);
      out.description = "DiffRec split " + path.string();
      have_split = true;
      if (out.strong) all = detail::union_of(out.split);
    } else {
      if (!args.has("format"))
        throw UsageError("--data names a file: say its --format (ml-100k, ml-1m, csv, inter)");
      RatingsData raw = load_ratings(path, detail::parse_format(*args.text("format")));
      if (out.natural_noise) {
        if (!raw.matrix.has_ratings() || !raw.matrix.has_timestamps())
          throw UsageError("--natural-noise: " + path.string() + " has no " +
                           (raw.matrix.has_ratings() ? "timestamps" : "ratings") +
                           "; it needs both (ratings tell the false positives, timestamps the "
                           "split)");
        // The positives get the preprocessing of the clean data (one pass of users >= 5, then
        // items >= 5); the kept users and items keep all their ratings, and the split of
        // natural_noise_split() puts the low ones up to each user's last training positive into
        // train.
        const KcoreResult kept = kcore(binarize(raw.matrix, min_rating), 5, 5, /*iterative=*/false);
        const InteractionMatrix ratings =
            detail::select(raw.matrix, kept.kept_users, kept.kept_items);
        out.split = natural_noise_split(ratings, min_rating);
        have_split = true;
        std::int64_t false_positives = 0;
        for (const float r : out.split.train.ratings()) false_positives += r < min_rating;
        const std::string threshold = detail::rating_text(min_rating);
        out.description = path.filename().string() + " (ratings >= " + threshold +
                          " as positives, 5/5 filtered on them, temporal split; natural noise: " +
                          std::to_string(false_positives) + " ratings < " + threshold +
                          " no later than the user's last training positive added to train, " +
                          std::to_string(out.split.train.nnz()) + " training interactions)";
      } else {
        if (raw.matrix.has_ratings()) raw = binarize(raw, min_rating);
        // RecFusion's preprocessing: one pass of users >= 5, then items >= 5.
        raw = kcore(raw, 5, 5, /*iterative=*/false);
        all = std::move(raw.matrix);
        out.description = path.filename().string() + " (ratings >= " +
                          std::to_string(min_rating) + ", 5/5 filtered)";
      }
    }
  } else {
    SyntheticConfig config;
    config.timestamps = true;
    config.seed = 42;
    all = make_synthetic(config);
    out.description = "built-in synthetic data (2000 users x 1000 items)";
  }

  if (out.strong) {
    StrongGeneralizationOptions options;
    options.seed = seed;
    out.strong_split = strong_generalization_split(all, options);
  } else if (!have_split) {
    out.split = temporal_split(all);
  }
  if (out.random_noise) {
    const offset_t before = out.split.train.nnz();
    out.split = with_random_noise(out.split, *out.random_noise, seed);
    out.description += "; random noise: " + std::to_string(out.split.train.nnz() - before) +
                       " random false positives (fraction " + args.text("random-noise").value() +
                       " of " + std::to_string(before) +
                       " training interactions, seed " + std::to_string(seed) +
                       ") appended to the training rows";
  }
  return out;
}

/// prepare_data() with the seed of --seed (default 1).
inline PreparedData prepare_data(const ArgParser& args) {
  return prepare_data(args, args.number<std::uint64_t>("seed", 1));
}

}  // namespace recdiff::examples
