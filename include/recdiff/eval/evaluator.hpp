#pragma once
/// @file
/// Evaluator: full-ranking evaluation of a Scorer over all items, batch by batch, several
/// (mask, target) tasks from one scoring pass.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <recdiff/config.hpp>
#include <recdiff/data/interaction_matrix.hpp>
#include <recdiff/error.hpp>
#include <recdiff/eval/detail/item_marker.hpp>
#include <recdiff/eval/metric_set.hpp>
#include <recdiff/eval/metrics.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/eval/scorer.hpp>
#include <recdiff/eval/top_k.hpp>

namespace recdiff {

/// How per-user metric values are averaged into one number.
enum class Averaging {
  /// Sum over the evaluated users divided by their number, users with an empty target set counting
  /// as 0 (DiffRec's computeTopNAccuracy divides by all users of the matrix).
  all_users,
  /// Mean over the evaluated users whose target set is non-empty (RecPack / RecFusion).
  users_with_targets,
};

/// One thing to measure from a round of scores: the items to exclude from each user's ranking
/// (the union of the users' rows of every mask), the ground truth, and the averaging rule.
/// Holds references: the matrices must outlive the evaluation. Every matrix has the shape of the
/// input matrix, and each target row lists distinct items.
struct EvalTask {
  std::vector<std::reference_wrapper<const InteractionMatrix>> masks;
  std::reference_wrapper<const InteractionMatrix> targets;
  Averaging averaging = Averaging::all_users;
};

/// Settings of an Evaluator.
struct EvalOptions {
  /// Cut-offs; every metric is reported at each. All >= 1.
  std::vector<index_t> ks{10, 20, 50, 100};
  /// Users scored per scorer call; memory is batch_size x items floats.
  index_t batch_size = 1024;
  /// OpenMP threads for the top-K and metric work; 0 uses omp_get_max_threads(). The results do not
  /// depend on it.
  int num_threads = 0;
  /// Called after each batch with (users done, users in total), when set.
  std::function<void(index_t, index_t)> progress;
};

/// Scores users batch by batch with a Scorer, then ranks all items per user and task (masked items
/// excluded, ties by lower item id), and averages the metrics of recdiff::ranking_metrics.
///
/// Per task the result holds, for every K in the options: recall@K, calibrated_recall@K, ndcg@K,
/// precision@K, mrr@K, hit_rate@K and coverage@K (the share of items in at least one averaged
/// user's top K). The scorer is called once per batch whatever the number of tasks. Per-user values
/// are summed in user order after each batch, so the result is bit-identical at any thread count
/// and any batch size.
class Evaluator {
 public:
  explicit Evaluator(EvalOptions options = {}) : m_options(std::move(options)) {
    if (m_options.ks.empty())
      throw std::invalid_argument("recdiff::Evaluator: ks must not be empty");
    for (const index_t k : m_options.ks)
      if (k < 1)
        throw std::invalid_argument("recdiff::Evaluator: every K must be >= 1, got " +
                                    std::to_string(k));
    if (m_options.batch_size < 1)
      throw std::invalid_argument("recdiff::Evaluator: batch_size must be >= 1, got " +
                                  std::to_string(m_options.batch_size));
    if (m_options.num_threads < 0)
      throw std::invalid_argument("recdiff::Evaluator: num_threads must be >= 0, got " +
                                  std::to_string(m_options.num_threads));
  }

  const EvalOptions& options() const noexcept { return m_options; }

  /// Evaluates `tasks` for `users` (all users of `input` when absent; ids must be in range),
  /// feeding the scorer the users' rows of `input`. Returns one MetricSet per task, in order.
  template <class S>
  requires Scorer<S> std::vector<MetricSet> evaluate(
      S& scorer, const InteractionMatrix& input, std::span<const EvalTask> tasks,
      std::optional<std::span<const index_t>> users = std::nullopt)
  const {
    validate(input, tasks, users);
    std::vector<index_t> order;
    if (users) {
      order.assign(users->begin(), users->end());
    } else {
      order.resize(static_cast<std::size_t>(input.num_users()));
      for (index_t u = 0; u < input.num_users(); ++u) order[static_cast<std::size_t>(u)] = u;
    }
    return run(scorer, input, tasks, order);
  }

  /// Single-task form of evaluate().
  template <class S>
  requires Scorer<S> MetricSet
  evaluate(S& scorer, const InteractionMatrix& input, const EvalTask& task,
           std::optional<std::span<const index_t>> users = std::nullopt)
  const { return evaluate(scorer, input, std::span<const EvalTask>(&task, 1), users).front(); }

 private:
  // Per-user values stored per K, in this order.
  static constexpr std::size_t kPerK = 6;

  struct ThreadState {
    TopK top_k;
    detail::ItemMarker targets;
    std::vector<std::uint8_t> hits;
  };

  void validate(const InteractionMatrix& input, std::span<const EvalTask> tasks,
                const std::optional<std::span<const index_t>>& users) const {
    const auto shape = [](const InteractionMatrix& m) {
      return std::to_string(m.num_users()) + " x " + std::to_string(m.num_items());
    };
    const auto check = [&](const InteractionMatrix& m, const std::string& what) {
      if (m.num_users() != input.num_users() || m.num_items() != input.num_items())
        throw std::invalid_argument("recdiff::Evaluator::evaluate: " + what + " is " + shape(m) +
                                    ", expected the input's shape " + shape(input));
    };
    if (tasks.empty()) throw std::invalid_argument("recdiff::Evaluator::evaluate: no task given");
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      check(tasks[t].targets.get(), "task " + std::to_string(t) + " targets");
      for (std::size_t m = 0; m < tasks[t].masks.size(); ++m)
        check(tasks[t].masks[m].get(), "task " + std::to_string(t) + " mask " + std::to_string(m));
    }
    if (users)
      for (const index_t u : *users)
        if (u < 0 || u >= input.num_users())
          throw std::out_of_range("recdiff::Evaluator::evaluate: user " + std::to_string(u) +
                                  " outside [0, " + std::to_string(input.num_users()) + ")");
  }

  template <class S>
  std::vector<MetricSet> run(S& scorer, const InteractionMatrix& input,
                             std::span<const EvalTask> tasks,
                             std::span<const index_t> order) const {
    const index_t items = input.num_items();
    const auto& ks = m_options.ks;
    const index_t max_k = *std::max_element(ks.begin(), ks.end());
    const std::size_t n_tasks = tasks.size();
    const std::size_t n_values = kPerK * ks.size();
    const auto total = static_cast<index_t>(order.size());
    const index_t batch = std::min<index_t>(m_options.batch_size, std::max<index_t>(total, 1));
    const auto bsz = static_cast<std::size_t>(batch);
    const auto mk = static_cast<std::size_t>(max_k);

#if defined(_OPENMP)
    const int threads = m_options.num_threads > 0 ? m_options.num_threads : omp_get_max_threads();
#else
    const int threads = 1;
#endif
    std::vector<ThreadState> states;
    states.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t)
      states.push_back({TopK(items), detail::ItemMarker(items), std::vector<std::uint8_t>(mk)});

    // Batch buffers, allocated once: per (task, user in batch) the metric values, whether the user
    // is averaged over, and the top-max_k list (for coverage).
    std::vector<double> values(n_tasks * bsz * n_values);
    std::vector<std::uint8_t> counted(n_tasks * bsz);
    std::vector<index_t> lists(n_tasks * bsz * mk);
    std::vector<index_t> list_len(n_tasks * bsz);
    std::vector<std::uint8_t> has_nan(bsz);

    std::vector<double> sums(n_tasks * n_values, 0.0);
    std::vector<std::int64_t> n_counted(n_tasks, 0);
    std::vector<std::uint8_t> covered(n_tasks * ks.size() * static_cast<std::size_t>(items), 0);
    std::vector<std::int64_t> n_covered(n_tasks * ks.size(), 0);

    ScoreMatrix scores(batch, items);
    for (index_t start = 0; start < total; start += batch) {
      const index_t nb = std::min(batch, total - start);
      const auto batch_users =
          order.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(nb));
      scores.resize(nb, items);
      scorer.score(input, batch_users, scores);
      if (scores.rows() != nb || scores.cols() != items)
        throw std::invalid_argument("recdiff::Evaluator::evaluate: the scorer returned " +
                                    std::to_string(scores.rows()) + " x " +
                                    std::to_string(scores.cols()) + " scores, expected " +
                                    std::to_string(nb) + " x " + std::to_string(items));

#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
      for (index_t b = 0; b < nb; ++b) {
#if defined(_OPENMP)
        ThreadState& state = states[static_cast<std::size_t>(omp_get_thread_num())];
#else
        ThreadState& state = states.front();
#endif
        const auto bb = static_cast<std::size_t>(b);
        const std::span<const float> row(scores.row(b).data(), static_cast<std::size_t>(items));
        has_nan[bb] = std::any_of(row.begin(), row.end(), [](float s) { return std::isnan(s); });
        if (has_nan[bb]) continue;
        const index_t u = batch_users[bb];
        for (std::size_t t = 0; t < n_tasks; ++t) {
          const std::size_t slot = t * bsz + bb;
          const auto targets = tasks[t].targets.get().items_of(u);
          const auto n_targets = static_cast<index_t>(targets.size());
          counted[slot] = tasks[t].averaging == Averaging::all_users || n_targets > 0;
          list_len[slot] = 0;
          double* out = &values[slot * n_values];
          std::fill(out, out + n_values, 0.0);
          if (!counted[slot]) continue;
          for (const auto& mask : tasks[t].masks) state.top_k.exclude(mask.get().items_of(u));
          const auto ranked = state.top_k.select(row, max_k);
          std::copy(ranked.begin(), ranked.end(), &lists[slot * mk]);
          list_len[slot] = static_cast<index_t>(ranked.size());
          if (n_targets == 0) continue;
          state.targets.mark(targets);
          for (std::size_t j = 0; j < ranked.size(); ++j)
            state.hits[j] = state.targets.marked(ranked[j]) ? 1 : 0;
          state.targets.clear();
          const std::span<const std::uint8_t> hits(state.hits.data(), ranked.size());
          for (std::size_t k = 0; k < ks.size(); ++k) {
            const RankingMetrics m = ranking_metrics(hits, n_targets, ks[k]);
            double* o = out + k * kPerK;
            o[0] = m.recall;
            o[1] = m.calibrated_recall;
            o[2] = m.ndcg;
            o[3] = m.precision;
            o[4] = m.mrr;
            o[5] = m.hit_rate;
          }
        }
      }

      for (index_t b = 0; b < nb; ++b)
        if (has_nan[static_cast<std::size_t>(b)])
          throw NumericalError("recdiff::Evaluator::evaluate: the scorer returned NaN for user " +
                               std::to_string(batch_users[static_cast<std::size_t>(b)]));
      // Sequential reduction in user order: the same sums at any thread count or batch size.
      for (std::size_t t = 0; t < n_tasks; ++t)
        for (std::size_t bb = 0; bb < static_cast<std::size_t>(nb); ++bb) {
          const std::size_t slot = t * bsz + bb;
          if (!counted[slot]) continue;
          ++n_counted[t];
          const double* v = &values[slot * n_values];
          double* s = &sums[t * n_values];
          for (std::size_t j = 0; j < n_values; ++j) s[j] += v[j];
          for (std::size_t k = 0; k < ks.size(); ++k) {
            const auto depth =
                std::min(static_cast<std::size_t>(list_len[slot]), static_cast<std::size_t>(ks[k]));
            std::uint8_t* cov = &covered[(t * ks.size() + k) * static_cast<std::size_t>(items)];
            for (std::size_t j = 0; j < depth; ++j) {
              auto& c = cov[static_cast<std::size_t>(lists[slot * mk + j])];
              n_covered[t * ks.size() + k] += c == 0 ? 1 : 0;
              c = 1;
            }
          }
        }
      if (m_options.progress) m_options.progress(start + nb, total);
    }

    std::vector<MetricSet> results(n_tasks);
    static constexpr const char* names[kPerK] = {"recall", "calibrated_recall", "ndcg", "precision",
                                                 "mrr",    "hit_rate"};
    for (std::size_t t = 0; t < n_tasks; ++t) {
      const auto denominator = static_cast<double>(n_counted[t]);
      for (std::size_t j = 0; j < kPerK; ++j)
        for (std::size_t k = 0; k < ks.size(); ++k)
          results[t].set(std::string(names[j]) + "@" + std::to_string(ks[k]),
                         n_counted[t] > 0 ? sums[t * n_values + k * kPerK + j] / denominator : 0.0);
      for (std::size_t k = 0; k < ks.size(); ++k)
        results[t].set("coverage@" + std::to_string(ks[k]),
                       items > 0 ? static_cast<double>(n_covered[t * ks.size() + k]) / items : 0.0);
      results[t].set_num_users(n_counted[t]);
    }
    return results;
  }

  EvalOptions m_options;
};

}  // namespace recdiff
