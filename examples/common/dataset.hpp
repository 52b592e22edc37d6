#pragma once
// Dataset selection shared by the example programs: a DiffRec split folder, a DiffuRec folder
// (dataset.pkl), a raw ratings file, or the built-in synthetic default, prepared for DiffRec's
// protocol or for strong generalisation.

#include <filesystem>
#include <string>

#include <recdiff/data/data.hpp>
#include <recdiff/eval/eval.hpp>

#include "cli.hpp"

namespace recdiff::examples {

/// A dataset ready for one protocol.
struct PreparedData {
  std::string description;
  bool strong = false;
  TrainValidTest split;                 // protocol "diffrec"
  StrongGeneralizationSplit strong_split;  // protocol "strong"
};

/// Declares --data, --format, --protocol, --min-rating, --seed.
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
}  // namespace detail

/// Loads and splits what the options ask for; the strong generalisation split is drawn with `seed`.
inline PreparedData prepare_data(const ArgParser& args, std::uint64_t seed) {
  PreparedData out;
  const std::string protocol = args.text("protocol").value_or("diffrec");
  if (protocol != "diffrec" && protocol != "strong")
    throw UsageError("--protocol: expected diffrec or strong, got '" + protocol + "'");
  out.strong = protocol == "strong";
  const auto min_rating = args.number<float>("min-rating", 4.0f);

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
      out.split = load_diffrec_split(path);
      out.description = "DiffRec split " + path.string();
      have_split = true;
      if (out.strong) all = detail::union_of(out.split);
    } else {
      if (!args.has("format"))
        throw UsageError("--data names a file: say its --format (ml-100k, ml-1m, csv, inter)");
      RatingsData raw = load_ratings(path, detail::parse_format(*args.text("format")));
      if (raw.matrix.has_ratings()) raw = binarize(raw, min_rating);
      // RecFusion's preprocessing: one pass of users >= 5, then items >= 5.
      raw = kcore(raw, 5, 5, /*iterative=*/false);
      all = std::move(raw.matrix);
      out.description = path.filename().string() + " (ratings >= " + std::to_string(min_rating) +
                        ", 5/5 filtered)";
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
  return out;
}

/// prepare_data() with the seed of --seed (default 1).
inline PreparedData prepare_data(const ArgParser& args) {
  return prepare_data(args, args.number<std::uint64_t>("seed", 1));
}

}  // namespace recdiff::examples
