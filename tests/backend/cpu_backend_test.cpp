#include <catch2/catch.hpp>

#include <cstring>

#include <recdiff/backend/cpu.hpp>

using recdiff::CpuBackend;
using recdiff::Op;
template <class T>
using Matrix = CpuBackend::Matrix<T>;

namespace {

// Reference product by three loops, in double.
Matrix<double> naive(const Matrix<double>& a, Op oa, const Matrix<double>& b, Op ob) {
  const Matrix<double> A = oa == Op::none ? a : Matrix<double>(a.transpose());
  const Matrix<double> B = ob == Op::none ? b : Matrix<double>(b.transpose());
  Matrix<double> c = Matrix<double>::Zero(A.rows(), B.cols());
  for (Eigen::Index i = 0; i < A.rows(); ++i)
    for (Eigen::Index j = 0; j < B.cols(); ++j)
      for (Eigen::Index k = 0; k < A.cols(); ++k) c(i, j) += A(i, k) * B(k, j);
  return c;
}

}  // namespace

TEST_CASE("aligned_chunk covers every row once, at multiples of 8", "[backend]") {
  for (std::int64_t rows : {0, 1, 7, 8, 9, 63, 64, 65, 400, 1001})
    for (int threads : {1, 2, 3, 4, 7}) {
      std::int64_t next = 0;
      for (int t = 0; t < threads; ++t) {
        const auto r = recdiff::cpu::aligned_chunk(rows, threads, t);
        REQUIRE(r.begin == next);
        REQUIRE(r.end >= r.begin);
        if (r.begin < rows) REQUIRE(r.begin % 8 == 0);
        next = r.end;
      }
      REQUIRE(next == rows);
    }
}

TEST_CASE("gemm matches a naive product for every transpose combination", "[backend]") {
  const CpuBackend::Context ctx(2);
  const Matrix<double> a = Matrix<double>::Random(37, 19);
  const Matrix<double> at = a.transpose();
  const Matrix<double> b = Matrix<double>::Random(19, 23);
  const Matrix<double> bt = b.transpose();
  const Matrix<double> expected = naive(a, Op::none, b, Op::none);
  for (Op oa : {Op::none, Op::transpose})
    for (Op ob : {Op::none, Op::transpose}) {
      Matrix<double> c = Matrix<double>::Ones(37, 23);
      CpuBackend::gemm(ctx, 2.0, oa == Op::none ? a : at, oa, ob == Op::none ? b : bt, ob, 0.5, c);
      const Matrix<double> want = 2.0 * expected + 0.5 * Matrix<double>::Ones(37, 23);
      REQUIRE((c - want).cwiseAbs().maxCoeff() < 1e-12);
    }
  Matrix<double> wrong(5, 5);
  REQUIRE_THROWS_WITH(CpuBackend::gemm(ctx, 1.0, a, Op::none, b, Op::none, 0.0, wrong),
                      Catch::Contains("shapes do not match"));
}

TEST_CASE("gemm gives the same bits at 1, 2 and 3 threads", "[backend]") {
  const Matrix<float> x = Matrix<float>::Random(400, 283);
  const Matrix<float> w = Matrix<float>::Random(61, 283);
  Matrix<float> ref(400, 61);
  CpuBackend::gemm(CpuBackend::Context(1), 1.0f, x, Op::none, w, Op::transpose, 0.0f, ref);
  Matrix<float> dw_ref(61, 283);
  CpuBackend::gemm(CpuBackend::Context(1), 1.0f, ref, Op::transpose, x, Op::none, 0.0f, dw_ref);
  for (int threads : {2, 3}) {
    const CpuBackend::Context ctx(threads);
    Matrix<float> y(400, 61);
    CpuBackend::gemm(ctx, 1.0f, x, Op::none, w, Op::transpose, 0.0f, y);
    REQUIRE(std::memcmp(y.data(), ref.data(), sizeof(float) * y.size()) == 0);
    Matrix<float> dw(61, 283);
    CpuBackend::gemm(ctx, 1.0f, y, Op::transpose, x, Op::none, 0.0f, dw);
    REQUIRE(std::memcmp(dw.data(), dw_ref.data(), sizeof(float) * dw.size()) == 0);
  }
}

TEST_CASE("upload and download copy row-major host data", "[backend]") {
  const CpuBackend::Context ctx(1);
  const std::vector<float> host{1, 2, 3, 4, 5, 6};
  Matrix<float> m;
  CpuBackend::upload(ctx, std::span<const float>(host), 2, 3, m);
  REQUIRE(m.rows() == 2);
  REQUIRE(m(1, 0) == 4.0f);
  std::vector<float> back(6);
  CpuBackend::download(ctx, m, std::span<float>(back));
  REQUIRE(back == host);
  REQUIRE_THROWS_WITH(CpuBackend::upload(ctx, std::span<const float>(host), 4, 2, m),
                      Catch::Contains("6 values for a 4x2 matrix"));
  std::vector<float> small(2);
  REQUIRE_THROWS_AS(CpuBackend::download(ctx, m, std::span<float>(small)), std::invalid_argument);
}

TEST_CASE("densify and sparse_times agree with the dense product", "[backend]") {
  recdiff::InteractionBuilder builder;
  builder.add(0, 3);
  builder.add(0, 1);
  builder.add(2, 4);
  builder.add(1, 0);
  builder.add(2, 0);
  const auto x = builder.build(3, 6);
  const std::vector<recdiff::index_t> users{2, 0};
  const CpuBackend::Context ctx(2);
  Matrix<double> dense;
  // value(position, length) = 10 * length + position + 1
  const auto value = [](std::size_t p, std::size_t n) {
    return static_cast<double>(10 * n + p + 1);
  };
  CpuBackend::densify(ctx, x, users, dense, value);
  Matrix<double> want = Matrix<double>::Zero(2, 6);
  want(0, 4) = 21;
  want(0, 0) = 22;
  want(1, 3) = 21;
  want(1, 1) = 22;
  REQUIRE(dense == want);

  const Matrix<double> r = Matrix<double>::Random(8, 5);  // extra rows beyond the items are ignored
  Matrix<double> c = Matrix<double>::Ones(2, 5);
  CpuBackend::sparse_times(ctx, x, users, value, r, 1.0, c);
  const Matrix<double> expected = want * r.topRows(6) + Matrix<double>::Ones(2, 5);
  REQUIRE((c - expected).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("CpuBackend::gemm: a row's bits do not depend on the batch it is computed in",
          "[backend]") {
  // Every output row goes through the full 8-row panel kernel (a ragged tail is padded), so any
  // slice of rows, at any start and of any length (1 and 7 included), reproduces the full product
  // bit for bit, for every op combination and for tiny shapes that Eigen would otherwise evaluate
  // coefficient-wise.
  using M = CpuBackend::Matrix<float>;
  const CpuBackend::Context one(1), two(2);
  struct Shape {
    int m, n, k;
  };
  for (const Shape s : {Shape{53, 31, 70}, Shape{37, 4, 4}, Shape{19, 600, 9}}) {
    for (const Op op_a : {Op::none, Op::transpose})
      for (const Op op_b : {Op::none, Op::transpose}) {
        const M a = op_a == Op::none ? M(M::Random(s.m, s.k)) : M(M::Random(s.k, s.m));
        const M b = op_b == Op::none ? M(M::Random(s.k, s.n)) : M(M::Random(s.n, s.k));
        M full = M::Random(s.m, s.n);
        const M c0 = full;
        CpuBackend::gemm(two, 0.75f, a, op_a, b, op_b, 0.5f, full);
        for (const int start : {0, 3, 8, s.m - 1})
          for (const int count : {1, 7, 8, 13}) {
            if (start + count > s.m) continue;
            const M a_rows = op_a == Op::none ? M(a.middleRows(start, count))
                                              : M(a.middleCols(start, count));
            M part = c0.middleRows(start, count);
            CpuBackend::gemm(one, 0.75f, a_rows, op_a, b, op_b, 0.5f, part);
            INFO("m " << s.m << " n " << s.n << " k " << s.k << " start " << start << " count "
                      << count);
            REQUIRE(part == full.middleRows(start, count));
          }
      }
  }
}
