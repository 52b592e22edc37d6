#pragma once
// What the CPU-against-CUDA agreement tests of the models share: the toy data, the batches, the
// comparison of values, parameters and scores within a tolerance, and the whole agreement check of
// a model (initial parameters and scores, three training steps, trained parameters and scores).

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "support/toy_data.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/backend/cuda.hpp>
#include <recdiff/eval/score_matrix.hpp>
#include <recdiff/nn/parameter.hpp>

namespace recdiff::test::agreement {

using recdiff::CpuBackend;
using recdiff::CudaBackend;
using recdiff::index_t;
using recdiff::ScoreMatrix;
namespace nn = recdiff::nn;

inline constexpr index_t kUsers = 40, kItems = 30;
inline constexpr std::uint64_t kSeed = 5;

// 40 users x 30 items in 5 clusters, 4 to 12 items each.
inline recdiff::InteractionMatrix toy_data() {
  recdiff::test::ToyDataOptions o;
  o.users = kUsers;
  o.items = kItems;
  o.clusters = 5;
  o.min_items = 4;
  o.max_items = 12;
  o.seed = 9;
  return recdiff::test::make_toy_data(o);
}

template <class T>
inline std::vector<T> values(const CpuBackend::Context&, const CpuBackend::Matrix<T>& m) {
  return std::vector<T>(m.data(), m.data() + m.size());
}

template <class T>
inline std::vector<T> values(const CudaBackend::Context& ctx, const CudaBackend::Matrix<T>& m) {
  std::vector<T> v(static_cast<std::size_t>(m.size()));
  CudaBackend::download(ctx, m, std::span<T>(v));
  return v;
}

inline std::vector<float> values(const ScoreMatrix& m) {
  return std::vector<float>(m.data(), m.data() + m.size());
}

// max |device - host| / max |host| (the plain difference when the host values are all 0).
inline double relative_error(const std::vector<float>& device, const std::vector<float>& host) {
  if (device.size() != host.size()) return INFINITY;
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < device.size(); ++i) {
    const double d = std::abs(static_cast<double>(device[i]) - static_cast<double>(host[i]));
    if (!(d <= diff)) diff = d;  // a NaN on either side makes the error NaN, never 0
    scale = std::max(scale, std::abs(static_cast<double>(host[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

// A device matrix against a host one: shapes, then values within `bound` (relative_error).
inline void check_close(const std::string& what, const CudaBackend::Context& gctx,
                 const CudaBackend::Matrix<float>& device, const CpuBackend::Matrix<float>& host,
                 double bound) {
  INFO(what);
  REQUIRE(device.rows() == host.rows());
  REQUIRE(device.cols() == host.cols());
  const double error = relative_error(values(gctx, device), values(CpuBackend::Context(1), host));
  INFO("relative error " << error);
  CHECK(error < bound);
}

// Same names and shapes; values within `bound`.
inline void check_parameters(const std::string& what, const CudaBackend::Context& gctx,
                      const nn::ParameterList<CudaBackend, float>& gpu,
                      const nn::ParameterList<CpuBackend, float>& cpu, double bound) {
  INFO(what);
  REQUIRE(gpu.size() == cpu.size());
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    CHECK(gpu[i].name == cpu[i].name);
    check_close(cpu[i].name, gctx, gpu[i].value(), cpu[i].value(), bound);
  }
}

// The host values copied into the device parameters (the two models then start from the very
// same numbers, whatever the initialisers' rounding).
inline void copy_parameters(const CudaBackend::Context& gctx,
                     const nn::ParameterList<CudaBackend, float>& gpu,
                     const nn::ParameterList<CpuBackend, float>& cpu) {
  REQUIRE(gpu.size() == cpu.size());
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    const auto& c = cpu[i].value();
    CudaBackend::upload(gctx, std::span<const float>(c.data(), static_cast<std::size_t>(c.size())),
                        c.rows(), c.cols(), gpu[i].value());
  }
}

// The users of training step s: 16 consecutive users (mod 40) from 13 s, so batches overlap and
// wrap around.
inline std::vector<index_t> batch_users(std::uint32_t s) {
  std::vector<index_t> users(16);
  for (std::size_t i = 0; i < users.size(); ++i)
    users[i] =
        static_cast<index_t>((13 * static_cast<index_t>(s) + static_cast<index_t>(i)) % kUsers);
  return users;
}

// Scores of users in a shuffled order with a repeat (scores are per user, whatever the batch).
inline const std::vector<index_t>& score_users() {
  static const std::vector<index_t> users = [] {
    std::vector<index_t> u(static_cast<std::size_t>(kUsers));
    for (index_t i = 0; i < kUsers; ++i) u[static_cast<std::size_t>(i)] = (7 * i + 3) % kUsers;
    u.push_back(11);
    return u;
  }();
  return users;
}

// Tolerances. Before training both models hold the same parameters, so the scores differ only by
// the two backends' rounding (GEMM order, tanh); after three optimiser steps the parameters also
// carry each side's rounding of the gradients, scaled by Adam's per-parameter normalisation.
inline constexpr double kInitialScores = 1e-5;
inline constexpr double kLoss = 1e-4;
inline constexpr double kTrained = 1e-3;

// The agreement check shared by every model: initial parameters, initial scores, three training
// steps (losses), parameters and scores after them.
template <class CpuModel, class GpuModel>
void check_models(const std::string& label, CpuModel& cpu, GpuModel& gpu) {
  INFO(label);
  const auto data = toy_data();
  const CudaBackend::Context& gctx = gpu.context();
  check_parameters("initial parameters", gctx, gpu.parameters(), cpu.parameters(), 1e-6);
  copy_parameters(gctx, gpu.parameters(), cpu.parameters());

  ScoreMatrix cs, gs;
  cpu.score(data, score_users(), cs);
  gpu.score(data, score_users(), gs);
  REQUIRE(gs.rows() == static_cast<std::int64_t>(score_users().size()));
  REQUIRE(gs.cols() == kItems);
  REQUIRE(cs.rows() == gs.rows());
  REQUIRE(cs.cols() == gs.cols());
  {
    const double error = relative_error(values(gs), values(cs));
    INFO("initial scores: relative error " << error);
    CHECK(error < kInitialScores);
  }

  for (std::uint32_t step = 0; step < 3; ++step) {
    const auto users = batch_users(step);
    const double a = cpu.train_batch(data, users, step);
    const double b = gpu.train_batch(data, users, step);
    INFO("step " << step << ": cpu loss " << a << ", cuda loss " << b);
    REQUIRE(std::isfinite(a));
    CHECK(a != 0.0);
    CHECK(std::abs(a - b) <= kLoss * std::abs(a));
  }
  CHECK(cpu.updates() == 3);
  CHECK(gpu.updates() == 3);
  // The context mirrors the data once; RecFusionBin's sparse path also keeps its latest CSR draw
  // (each step's draw is a new matrix: older mirrors must not accumulate).
  CHECK(gctx.mirror_count() <= 2);

  check_parameters("trained parameters", gctx, gpu.parameters(), cpu.parameters(), kTrained);
  cpu.score(data, score_users(), cs);
  gpu.score(data, score_users(), gs);
  REQUIRE(cs.rows() == gs.rows());
  REQUIRE(cs.cols() == gs.cols());
  const double error = relative_error(values(gs), values(cs));
  INFO("trained scores: relative error " << error);
  CHECK(error < kTrained);
}

}  // namespace recdiff::test::agreement
