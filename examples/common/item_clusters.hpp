#pragma once
// L-DiffRec's item clusters for a dataset: k-means (the released code's algorithm) on item
// embeddings read from an .npy file (a DiffRec split ships item_emb.npy) or, when there is none,
// computed from the training matrix by a truncated SVD (shared by ldiffrec, tdiffrec and compare).

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <recdiff/cluster/cluster.hpp>
#include <recdiff/data/interaction_matrix.hpp>

namespace recdiff::examples {

/// Where the embeddings come from and how they are clustered.
struct ClusterSettings {
  int clusters = 2;
  /// An I x d .npy file; empty: SVD embeddings of `train`.
  std::optional<std::filesystem::path> embeddings;
  int svd_dim = 64;
  KMeansInit init = KMeansInit::numpy_legacy_choice;
  std::uint64_t seed = 1;
  int threads = 0;
};

/// The item_emb.npy of a DiffRec split folder named by --data, when there is one.
inline std::optional<std::filesystem::path> split_embeddings(const std::optional<std::string>& data) {
  if (!data) return std::nullopt;
  const std::filesystem::path file = std::filesystem::path(*data) / "item_emb.npy";
  if (std::filesystem::is_directory(*data) && std::filesystem::exists(file)) return file;
  return std::nullopt;
}

/// Clusters the items of `train` as `settings` say and reports the cluster sizes on stderr.
/// C = 1 is the identity order (no embeddings are read or computed).
inline ItemClusters cluster_items(const InteractionMatrix& train, const ClusterSettings& settings) {
  const index_t items = train.num_items();
  if (settings.clusters == 1) return ItemClusters(std::vector<index_t>(static_cast<std::size_t>(items), 0), 1);
  ItemEmbeddings emb;
  std::string source;
  if (settings.embeddings) {
    emb = load_item_embeddings(*settings.embeddings, items);
    source = settings.embeddings->string();
  } else {
    emb = svd_item_embeddings(train, settings.svd_dim, settings.seed, 2, 10, settings.threads);
    normalize_rows(emb);
    source = "a rank-" + std::to_string(settings.svd_dim) + " SVD of the training matrix (rows "
             "normalised)";
  }
  KMeansOptions options;
  options.init = settings.init;
  options.seed = settings.seed;
  options.threads = settings.threads;
  const KMeansResult result = kmeans(emb, settings.clusters, options);
  ItemClusters clusters(result.labels, settings.clusters);
  std::fprintf(stderr, "item clusters (k-means on %s, %d iterations):", source.c_str(),
               result.iterations);
  for (const index_t n : clusters.sizes) std::fprintf(stderr, " %lld", static_cast<long long>(n));
  std::fprintf(stderr, "\n");
  return clusters;
}

}  // namespace recdiff::examples
