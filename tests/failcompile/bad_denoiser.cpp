// A network with forward() but no backward(): rejected through Denoiser.
#include "common.hpp"
struct ForwardOnly {
  using scalar_type = float;
  int items() const { return 1; }
  void forward(const fc::B::Context&, const fc::B::Matrix<float>&, std::span<const int>, bool,
               std::uint64_t, std::uint32_t, fc::B::Matrix<float>&) {}
};
int main() {
  recdiff::Diffusion<fc::B, recdiff::Gaussian, recdiff::DiffRecLinearVar, ForwardOnly,
                     recdiff::PredictX0>* p = nullptr;
  return p != nullptr;
}
