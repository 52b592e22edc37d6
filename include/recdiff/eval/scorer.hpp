#pragma once
/// @file
/// The Scorer concept: anything that turns users' input rows into a block of item scores.

#include <span>

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/eval/score_matrix.hpp>

namespace recdiff {

/// A type whose `score(input, users, out)` fills `out` (users.size() x input.num_items()) with the
/// scores of `users`, computed from their rows of `input` (row b of `out` belongs to users[b]).
/// The evaluator masks, ranks and measures those scores; the scorer never sees the ground truth.
///
/// Required member (const or not):
///   void score(const InteractionMatrix& input, std::span<const index_t> users, ScoreMatrix& out);
template <class S>
concept Scorer = requires(S& scorer, const InteractionMatrix& input, std::span<const index_t> users,
                          ScoreMatrix& out) {
  // If this fails: the type needs a member
  // void score(const InteractionMatrix&, std::span<const index_t>, ScoreMatrix&).
  scorer.score(input, users, out);
};

}  // namespace recdiff
