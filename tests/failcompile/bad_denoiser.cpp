// A network with forward() but no backward(): rejected through Denoiser (a Module).
#include "common.hpp"
struct ForwardOnly {
  using scalar_type = float;
  using backend_type = fc::B;
  int items() const { return 1; }
  const fc::B::Matrix<float>& forward(const fc::B::Context&, const fc::B::Matrix<float>& x,
                                      const recdiff::nn::Pass&) {
    return x;
  }
};
int main() {
  recdiff::Diffusion<fc::B, recdiff::Gaussian, recdiff::DiffRecLinearVar, ForwardOnly,
                     recdiff::PredictX0>* p = nullptr;
  return p != nullptr;
}
