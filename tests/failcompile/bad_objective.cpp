// An objective without a loss: rejected through Objective.
#include "common.hpp"
struct NoLoss {
  static constexpr bool output_is_x0 = true;
};
int main() {
  recdiff::Diffusion<fc::B, recdiff::Gaussian, recdiff::DiffRecLinearVar, fc::Net, NoLoss>* p =
      nullptr;
  return p != nullptr;
}
