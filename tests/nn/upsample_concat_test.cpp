// UpsampleNearest (1-D and 2-D), channel concatenation and split, and the feature-map helpers
// (chunked segment sums, reshape, add): values by hand and against the xtensor reference, gradients
// by finite differences, argument checks.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include <recdiff/backend/cpu.hpp>
#include <recdiff/concepts/module.hpp>
#include <recdiff/nn/channel_concat.hpp>
#include <recdiff/nn/feature_map.hpp>
#include <recdiff/nn/upsample.hpp>

#include "nn/module_check.hpp"
#include "nn/module_test_util.hpp"
#include "nn/unet_reference.hpp"

using recdiff::CpuBackend;
using recdiff::test::Array;
using recdiff::test::Mat;
using recdiff::test::random_matrix;
using recdiff::test::Shape;
namespace nn = recdiff::nn;
template <class T, int Dims>
using Upsample = nn::UpsampleNearest<CpuBackend, T, Dims>;

static_assert(recdiff::Module<Upsample<float, 1>, CpuBackend>);
static_assert(recdiff::Module<Upsample<double, 2>, CpuBackend>);

TEST_CASE("UpsampleNearest: every position repeated twice along each spatial axis", "[nn][upsample]") {
  CpuBackend::Context ctx(1);
  Upsample<double, 1> up1;
  Mat<double> x(2, 4);  // 2 samples, 2 channels of 2 positions
  x << 1, 2, 3, 4, 5, 6, 7, 8;
  Mat<double> expected(2, 8);
  expected << 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8;
  CHECK(up1.forward(ctx, x) == expected);
  CHECK(up1.num_parameters() == 0);
  // 2-D: one sample, 2 channels of 2 x 3: each row doubled in width and emitted twice.
  Upsample<double, 2> up2(3);
  Mat<double> img(1, 12);
  img << 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12;
  Mat<double> expected2(1, 48);
  expected2 << 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6,  //
      7, 7, 8, 8, 9, 9, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 10, 10, 11, 11, 12, 12;
  CHECK(up2.forward(ctx, img) == expected2);
  // Against the reference on random maps.
  const Mat<double> r = random_matrix<double>(3, 2 * 5 * 7, 1);
  CHECK(recdiff::test::max_relative_difference(
            recdiff::test::to_array(Upsample<double, 2>(7).forward(ctx, r), Shape{3, 2, 10, 14}),
            recdiff::test::upsample_ref(recdiff::test::to_array(r, Shape{3, 2, 5, 7}), 2)) == 0.0);
  CHECK(recdiff::test::max_relative_difference(
            recdiff::test::to_array(up1.forward(ctx, r), Shape{3, 2, 1, 70}),
            recdiff::test::upsample_ref(recdiff::test::to_array(r, Shape{3, 2, 1, 35}), 1)) == 0.0);
  // Backward: each input position receives the sum of its copies' gradients.
  Mat<double> dy(1, 48);
  for (int k = 0; k < 48; ++k) dy(0, k) = k;
  const Mat<double>* dx = up2.backward(ctx, dy, true);
  REQUIRE(dx != nullptr);
  CHECK((*dx)(0, 0) == 0 + 1 + 6 + 7);
  CHECK((*dx)(0, 11) == 40 + 41 + 46 + 47);
  CHECK(up2.backward(ctx, dy, false) == nullptr);
}

TEMPLATE_TEST_CASE("UpsampleNearest: gradients match finite differences", "[nn][upsample][gradcheck]",
                   float, double) {
  using T = TestType;
  Upsample<T, 1> up1;
  recdiff::test::require_gradients<T>(recdiff::test::check_module(up1, random_matrix<T>(3, 2 * 5, 2)), 0);
  Upsample<T, 2> up2(4);
  recdiff::test::require_gradients<T>(recdiff::test::check_module(up2, random_matrix<T>(2, 3 * 2 * 4, 3)), 0);
}

TEST_CASE("UpsampleNearest: bad arguments are refused", "[nn][upsample]") {
  CpuBackend::Context ctx(1);
  REQUIRE_THROWS_WITH((Upsample<double, 2>(0)), Catch::Contains("got 0"));
  Upsample<double, 2> up(4);
  REQUIRE_THROWS_AS(up.backward(ctx, Mat<double>::Zero(1, 16), true), std::logic_error);
  REQUIRE_THROWS_WITH(up.forward(ctx, Mat<double>::Zero(1, 6)), Catch::Contains("width = 4"));
  up.forward(ctx, Mat<double>::Zero(1, 8));
  REQUIRE_THROWS_WITH(up.backward(ctx, Mat<double>::Zero(1, 16), true),
                      Catch::Contains("expected the output's 1x32"));
}

TEST_CASE("concat_channels / split_channels: [a, b] per sample and back", "[nn][concat]") {
  CpuBackend::Context ctx(2);
  // (2, 1, 3) and (2, 2, 3): the result is (2, 3, 3), channels of a first (torch.cat dim 1).
  const Mat<double> a = random_matrix<double>(2, 3, 1);
  const Mat<double> b = random_matrix<double>(2, 6, 2);
  Mat<double> out;
  nn::concat_channels<CpuBackend>(ctx, a, b, out);
  REQUIRE(out.rows() == 2);
  REQUIRE(out.cols() == 9);
  const Array ref = xt::concatenate(xt::xtuple(recdiff::test::to_array(a, Shape{2, 1, 1, 3}),
                                               recdiff::test::to_array(b, Shape{2, 2, 1, 3})),
                                    1);
  CHECK(recdiff::test::max_relative_difference(recdiff::test::to_array(out, Shape{2, 3, 1, 3}), ref) == 0.0);
  Mat<double> da, db;
  nn::split_channels<CpuBackend>(ctx, out, 3, da, db);
  CHECK(da == a);
  CHECK(db == b);
  // Long rows (several chunks) and one sample, as in the 2-D U-Net.
  const Mat<float> c = random_matrix<float>(1, 700, 3), d = random_matrix<float>(1, 350, 4);
  Mat<float> cd, dc, dd;
  nn::concat_channels<CpuBackend>(ctx, c, d, cd);
  CHECK(cd.leftCols(700) == c);
  CHECK(cd.rightCols(350) == d);
  nn::split_channels<CpuBackend>(ctx, cd, 700, dc, dd);
  CHECK(dc == c);
  CHECK(dd == d);
  REQUIRE_THROWS_WITH(nn::concat_channels<CpuBackend>(ctx, a, Mat<double>(3, 6), out),
                      Catch::Contains("2 and 3 samples"));
  REQUIRE_THROWS_AS(nn::split_channels<CpuBackend>(ctx, out, 10, da, db), std::invalid_argument);
}

TEST_CASE("feature maps: chunked sums in a fixed order, reshape and add", "[nn][feature_map]") {
  CpuBackend::Context ctx(3);
  // Segments of 600 elements (three chunks): value, product and centred-square sums.
  const Mat<double> x = random_matrix<double>(4, 600, 5), y = random_matrix<double>(4, 600, 6);
  nn::SegmentSums<CpuBackend, double> sums;
  Mat<double> s(4, 1), p(4, 1), q(4, 1), mean(4, 1);
  sums.compute(ctx, x.data(), nullptr, nullptr, nn::SegmentTerm::value, 4, 600, s.data());
  sums.compute(ctx, x.data(), y.data(), nullptr, nn::SegmentTerm::product, 4, 600, p.data());
  sums.compute(ctx, x.data(), nullptr, nullptr, nn::SegmentTerm::value, 4, 600, mean.data(), 1.0 / 600);
  sums.compute(ctx, x.data(), nullptr, mean.data(), nn::SegmentTerm::centered_square, 4, 600, q.data());
  for (int r = 0; r < 4; ++r) {
    CHECK(s(r, 0) == Approx(x.row(r).sum()).epsilon(1e-12));
    CHECK(p(r, 0) == Approx(x.row(r).dot(y.row(r))).epsilon(1e-12));
    CHECK(mean(r, 0) == Approx(x.row(r).mean()).epsilon(1e-12));
    CHECK(q(r, 0) == Approx((x.row(r).array() - x.row(r).mean()).square().sum()).epsilon(1e-12));
  }
  // The same bits on one thread.
  Mat<double> s1(4, 1);
  sums.compute(CpuBackend::Context(1), x.data(), nullptr, nullptr, nn::SegmentTerm::value, 4, 600, s1.data());
  CHECK(s1 == s);
  Mat<double> flat, sum;
  nn::reshape_copy<CpuBackend>(ctx, x, 1, 2400, flat, "test");
  CHECK(flat.size() == 2400);
  CHECK(flat(0, 600) == x(1, 0));
  REQUIRE_THROWS_WITH(nn::reshape_copy<CpuBackend>(ctx, x, 7, 7, flat, "who"),
                      Catch::Contains("who: cannot view 4x600 as 7x7"));
  nn::add_into<CpuBackend>(ctx, x, y, sum, "test");
  CHECK(sum == x + y);
  REQUIRE_THROWS_WITH(nn::add_into<CpuBackend>(ctx, x, flat, sum, "who"), Catch::Contains("who: cannot add"));
}
