// T-DiffRec's time weights (Wang et al., SIGIR 2023, Eq. 16) on the released ml-1m_clean split:
// user 0 has 32 training rows, weighted linspace(0.1, 1, 32) in file order, and the weighted row is
// what the model densifies.

#include <catch2/catch.hpp>

#include <vector>

#include "support/shared_data.hpp"
#include <recdiff/backend/cpu.hpp>
#include <recdiff/core/input_weighting.hpp>
#include <recdiff/data/diffrec_split.hpp>

TEST_CASE("T-DiffRec weighs ml-1m_clean's user 0 as linspace(0.1, 1, 32)", "[tdiffrec][data]") {
  const auto dir = recdiff::test::require_shared_data("ml-1m_clean");
  const recdiff::TrainValidTest split = recdiff::load_diffrec_split(dir);
  REQUIRE(split.train.row_size(0) == 32);
  const recdiff::TimeLinearInput weights(0.1, 1.0);
  recdiff::CpuBackend::Context ctx(1);
  recdiff::CpuBackend::Matrix<float> row;
  const std::vector<recdiff::index_t> user{0};
  recdiff::CpuBackend::densify(ctx, split.train, user, row, weights);
  const auto items = split.train.items_of(0);
  for (std::size_t m = 0; m < items.size(); ++m) {
    const double expected = 0.1 + static_cast<double>(m) * 0.9 / 31.0;  // numpy's linspace
    CHECK(row(0, items[m]) == Approx(expected).epsilon(1e-6));
  }
  CHECK(row(0, items.front()) == Approx(0.1f));
  CHECK(row(0, items.back()) == 1.0f);
  CHECK(row(0, items[1]) == Approx(0.12903226));
  // Items outside the row stay 0; the weights sum to 32 (0.1 + 1) / 2.
  CHECK(row.sum() == Approx(32 * 0.55).epsilon(1e-6));
}
