#pragma once
/// @file
/// Umbrella header of item clustering (L-DiffRec, Wang et al., SIGIR 2023, Sec. 3.4): kmeans,
/// NumPy's legacy permutation, k-means++ seeding, ItemClusters, and the item embeddings (loaded from
/// .npy or from a randomized SVD of the interactions).

#include <recdiff/cluster/item_embeddings.hpp>
#include <recdiff/cluster/kmeans.hpp>
