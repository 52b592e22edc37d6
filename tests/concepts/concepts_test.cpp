// Every shipped policy satisfies the concept of its role (the library headers carry no such
// checks: a policy header must not include a backend). The failcompile tests check the other
// direction: a type that misses a member is rejected with the concept's name.
#include <catch2/catch.hpp>

#include <recdiff/recdiff.hpp>

using namespace recdiff;
using B = CpuBackend;
using Net = Mlp<B, float, Tanh>;

// Backends.
static_assert(Backend<CpuBackend, float> && Backend<CpuBackend, double>);

// Schedules.
static_assert(NoiseSchedule<Linear> && NoiseSchedule<Constant> && NoiseSchedule<Cosine> &&
              NoiseSchedule<DiffRecLinearVar> && NoiseSchedule<Quadratic>);

// Noise kernels and their capabilities.
static_assert(NoiseKernel<Gaussian, B> && DifferentiableNoise<Gaussian, B> && GaussianNoise<Gaussian>);
static_assert(BetaScheduleNoise<Gaussian> && !BernoulliNoise<Gaussian>);
static_assert(NoiseKernel<Bernoulli<TwoWayFlip>, B> && NoiseKernel<Bernoulli<FairCoin>, B> &&
              NoiseKernel<Bernoulli<OneWay>, B>);
static_assert(BernoulliNoise<Bernoulli<TwoWayFlip>> && BernoulliNoise<Bernoulli<FairCoin>> &&
              BernoulliNoise<Bernoulli<OneWay>> && BetaScheduleNoise<Bernoulli<OneWay>>);
static_assert(!DifferentiableNoise<Bernoulli<TwoWayFlip>, B> &&
              !DifferentiableNoise<Bernoulli<FairCoin>, B> &&
              !DifferentiableNoise<Bernoulli<OneWay>, B>);
static_assert(!GaussianNoise<Bernoulli<TwoWayFlip>> && !GaussianNoise<Bernoulli<FairCoin>> &&
              !GaussianNoise<Bernoulli<OneWay>>);

// Objectives, and which noise kernels they pair with.
static_assert(Objective<PredictX0> && Objective<PredictEpsilon>);
static_assert(CompatibleObjective<PredictX0, Gaussian, B> &&
              CompatibleObjective<PredictEpsilon, Gaussian, B>);
static_assert(Objective<BernoulliBce> && CompatibleObjective<BernoulliBce, Bernoulli<TwoWayFlip>, B> &&
              CompatibleObjective<BernoulliBce, Bernoulli<FairCoin>, B> &&
              CompatibleObjective<BernoulliBce, Bernoulli<OneWay>, B>);
static_assert(!CompatibleObjective<BernoulliBce, Gaussian, B>,
              "the BCE objective reads Bernoulli marginals, which a Gaussian kernel has not");
static_assert(!CompatibleObjective<PredictEpsilon, Bernoulli<TwoWayFlip>, B> &&
                  !CompatibleObjective<PredictEpsilon, Bernoulli<FairCoin>, B> &&
                  !CompatibleObjective<PredictEpsilon, Bernoulli<OneWay>, B> &&
                  !CompatibleObjective<PredictX0, Bernoulli<TwoWayFlip>, B> &&
                  !CompatibleObjective<PredictX0, Bernoulli<FairCoin>, B> &&
                  !CompatibleObjective<PredictX0, Bernoulli<OneWay>, B>,
              "the Gaussian objectives need Gaussian tables");
static_assert(TargetDifferentiableObjective<PredictX0, B>);
static_assert(!TargetDifferentiableObjective<PredictEpsilon, B>,
              "the eps objective gives no x0 gradient: L-DiffRec needs the x0 objective");

// Step samplers.
static_assert(StepSampler<UniformSampler> && StepSampler<ImportanceSampler>);

// Modules and denoisers.
static_assert(Module<nn::Linear<B, float, Tanh>, B> && Module<nn::Linear<B, double>, B>);
static_assert(Module<nn::Activation<B, float, Sigmoid>, B> && Module<nn::Dropout<B, float>, B> &&
              Module<nn::RowL2Norm<B, float>, B> && Module<nn::StepEmbedding<B, float>, B> &&
              Module<nn::InputLinear<B, float, Tanh>, B>);
static_assert(Module<Net::Network, B> && Module<nn::Stack<nn::Linear<B, float>>, B> &&
              Module<nn::Optional<nn::RowL2Norm<B, float>>, B>);
static_assert(Denoiser<Net, B> && SparseInputDenoiser<Net, B> && LatentChainDenoiser<Net, B>);

// Optimisers.
static_assert(Optimizer<Adam<B, float>, B> && Optimizer<AdamW<B, float>, B> &&
              Optimizer<Adamax<B, float>, B> && Optimizer<Sgd<B, float>, B>);

// Models.
static_assert(Scorer<Popularity> && Scorer<Ease> && Scorer<DiffRec<B>>);
static_assert(TrainableModel<DiffRec<B>> && TrainableModel<TDiffRec<B>>);

TEST_CASE("every shipped policy satisfies its concept (checked at compile time)", "[concepts]") {
  // The static_asserts above are the test; this case makes CTest run (and count) the file.
  SUCCEED("policies conform");
}
