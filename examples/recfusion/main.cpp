// The RecFusion family (RecFusion, RecFusionT, RecFusionVar, RecFusionBin): train on a dataset,
// select the epoch on validation, report test metrics.
//
//   recfusion                                   built-in synthetic data, RecFusion, < 1 minute
//   recfusion --data ../shared/data/ml-100k/u.data --format ml-100k --protocol strong
//   recfusion --data ../shared/data/ml-1m_clean --variant bin --schedule constant --beta-start 0.1
// Defaults are the released code's: RecFusion as in its final runs (T = 2, depth 2), the ablations
// with the class defaults (T = 3, depth 4); quadratic betas 1e-4 -> 0.1, M = 200, Adam 1e-4,
// batch 200, at most 200 epochs.

#include <cstdio>
#include <exception>
#include <string>

#include "../common/cli.hpp"
#include "../common/dataset.hpp"
#include "../common/zoo.hpp"

using namespace recdiff;
using examples::ArgParser;
using examples::UsageError;

int main(int argc, char** argv) {
  return examples::guarded_main("recfusion", [&]() -> int {
    ArgParser args("recfusion", "RecFusion and its variants (Benedict et al. 2023).");
    examples::declare_data_options(args);
    args.option("variant", "NAME", "recfusion | t | var | bin | unet1d | unet2d (default recfusion)");
    args.option("steps", "T", "diffusion steps");
    args.option("schedule", "NAME", "quadratic | linear | constant (default quadratic)");
    args.option("beta-start", "B", "first beta (constant: every beta; default 1e-4)");
    args.option("beta-end", "B", "last beta (default 0.1)");
    args.option("hidden", "M", "hidden width (default 200)");
    args.option("depth", "N", "applications of the shared hidden layer");
    args.option("lr", "LR", "Adam's learning rate (default 1e-4)");
    args.option("batch-size", "N", "users per update (default 200)");
    args.option("epochs", "N", "maximum number of epochs (default 200)");
    args.option("step-offset", "WHERE", "t: input (the paper) | output (the released code)");
    args.option("process", "NAME", "bin: one-way (default) | two-way | fair-coin");
    args.flag("gaussian-terms", "bin: add the released code's Gaussian terms to the BCE");
    args.option("threads", "N", "threads (default: all cores)");
    args.option("json", "FILE", "write the results as JSON");
    if (!args.parse(argc, argv)) return 0;

    const std::string variant = args.text("variant").value_or("recfusion");
    if (variant != "recfusion" && variant != "t" && variant != "var" && variant != "bin" &&
        variant != "unet1d" && variant != "unet2d")
      throw UsageError("--variant: expected recfusion, t, var, bin, unet1d or unet2d, got '" +
                       variant + "'");
    const std::string model = variant == "recfusion" ? "recfusion" : "recfusion-" + variant;
    if ((args.has("process") || args.has("gaussian-terms")) && variant != "bin")
      throw UsageError("--process and --gaussian-terms apply to --variant bin only");
    if (args.has("step-offset") && variant != "t")
      throw UsageError("--step-offset applies to --variant t only");

    examples::ZooSettings zoo;
    zoo.seed = args.number<std::uint64_t>("seed", 1);
    zoo.threads = args.number<int>("threads", 0);
    zoo.eval.num_threads = zoo.threads;
    const bool synthetic = !args.has("data");
    zoo.recfusion_overrides = [&](RecFusionConfig& c) {
      if (synthetic && !args.has("epochs")) c.epochs = 30;  // the quick default run
      c.steps = args.number("steps", c.steps);
      if (const auto s = args.text("schedule")) c.schedule = *s;
      c.beta_start = args.number("beta-start", c.beta_start);
      c.beta_end = args.number("beta-end", c.beta_end);
      c.hidden = args.number("hidden", c.hidden);
      c.depth = args.number("depth", c.depth);
      c.lr = args.number("lr", c.lr);
      c.batch_size = args.number("batch-size", c.batch_size);
      c.epochs = args.number("epochs", c.epochs);
      if (const auto p = args.text("process")) c.process = *p;
      c.gaussian_terms = args.has("gaussian-terms");
      if (const auto at = args.text("step-offset")) {
        if (*at != "input" && *at != "output")
          throw UsageError("--step-offset: expected input or output, got '" + *at + "'");
        c.step_offset = *at == "input" ? StepOffsetAt::input : StepOffsetAt::output;
      }
      examples::accept_config(model, c);
    };
    return examples::run_one(args, model, zoo);
  });
}
