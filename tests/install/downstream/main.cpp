// A downstream program that uses the installed headers: builds a tiny interaction matrix and runs a
// GEMM through the CPU backend. Exits non-zero if anything is off.
#include <cstdio>

#include <recdiff/recdiff.hpp>

int main() {
  recdiff::InteractionBuilder builder;
  builder.add(0, 1);
  builder.add(1, 0);
  builder.add(1, 2);
  const recdiff::InteractionMatrix x = builder.build();
  const recdiff::CpuBackend::Context ctx(1);
  recdiff::CpuBackend::Matrix<float> dense;
  const std::vector<recdiff::index_t> users{0, 1};
  recdiff::CpuBackend::densify(ctx, x, users, dense);
  recdiff::CpuBackend::Matrix<float> gram(3, 3);
  recdiff::CpuBackend::gemm(ctx, 1.0f, dense, recdiff::Op::transpose, dense, recdiff::Op::none, 0.0f,
                            gram);
  std::printf("recdiff %s: nnz %lld, gram trace %.0f\n", recdiff::version_string,
              static_cast<long long>(x.nnz()), static_cast<double>(gram.trace()));
  return gram.trace() == 3.0f ? 0 : 1;
}
