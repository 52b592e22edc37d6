// A noise kernel that is a valid NoiseKernel but has no Gaussian tables (a two-state kernel, as a
// Bernoulli process is), paired with the epsilon objective, which reads Gaussian tables: rejected
// in one error through CompatibleObjective, naming both.
#include "common.hpp"
struct TwoStateNoise {
  static constexpr const char* name = "TwoStateNoise";
  template <class BackendType, class T>
  struct Workspace {};
  template <class ScheduleType>
  explicit TwoStateNoise(const ScheduleType&) {}
  int num_steps() const { return 1; }
  bool is_noiseless() const { return false; }
  template <class BackendType, class T>
  void q_sample(const typename BackendType::Context&, const typename BackendType::template Matrix<T>&,
                std::span<const int>, const recdiff::NoiseDraw&, Workspace<BackendType, T>&,
                typename BackendType::template Matrix<T>&) const {}
  template <class BackendType, class T>
  void reverse_step(const typename BackendType::Context&,
                    const typename BackendType::template Matrix<T>&,
                    const typename BackendType::template Matrix<T>&, std::span<const int>,
                    const recdiff::NoiseDraw&, bool, Workspace<BackendType, T>&,
                    typename BackendType::template Matrix<T>&) const {}
};
static_assert(recdiff::NoiseKernel<TwoStateNoise, fc::B>, "the kernel itself is valid");
int main() {
  recdiff::Diffusion<fc::B, TwoStateNoise, recdiff::DiffRecLinearVar, fc::Net,
                     recdiff::PredictEpsilon>* p = nullptr;
  return p != nullptr;
}
