// CODIGEM (Walker et al., KSEM 2022) and RecFusion's port of it: train on a dataset, select the
// epoch on validation, report test metrics.
//
//   codigem                                     built-in synthetic data, < 1 minute
//   codigem --data ../shared/data/ml-1m_clean   DiffRec's protocol, the official settings
//   codigem --data ../shared/data/ml-100k/u.data --format ml-100k --protocol strong --port
// Defaults are the official code's: T = 3, beta = 1e-4, six-layer PReLU networks of width 200,
// Adamax 1e-3, batch 200, at most 100 epochs; --port gives RecFusion's port (shared hidden layers,
// Adam 1e-4, 200 epochs, a noise-free prediction).

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
  return examples::guarded_main("codigem", [&]() -> int {
    ArgParser args("codigem", "CODIGEM (Walker et al. 2022), or RecFusion's port of it.");
    examples::declare_data_options(args);
    args.flag("port", "RecFusion's port instead of the official networks and optimiser");
    args.option("steps", "T", "latents z_1..z_T (default 3)");
    args.option("beta", "B", "the constant beta (default 1e-4)");
    args.option("hidden", "M", "hidden width (default 200)");
    args.option("depth", "N", "hidden layers between the first and the last (default 4)");
    args.option("lr", "LR", "learning rate (default: 1e-3 Adamax; port 1e-4 Adam)");
    args.option("batch-size", "N", "users per update (default 200)");
    args.option("epochs", "N", "maximum number of epochs (default 100; port 200)");
    args.flag("noise-free", "score with d(x) instead of d(x + noise)");
    args.flag("decoder-only", "train the decoder only (the reverse networks never reach the scores)");
    args.flag("signed-input", "map the rows to {-1, 1} as the paper describes (the code keeps {0, 1})");
    args.option("threads", "N", "threads (default: all cores)");
    args.option("json", "FILE", "write the results as JSON");
    if (!args.parse(argc, argv)) return 0;

    const std::string model = args.has("port") ? "codigem-recfusion" : "codigem";
    examples::ZooSettings zoo;
    zoo.seed = args.number<std::uint64_t>("seed", 1);
    zoo.threads = args.number<int>("threads", 0);
    zoo.eval.num_threads = zoo.threads;
    const bool synthetic = !args.has("data");
    zoo.codigem_overrides = [&](CodigemConfig& c) {
      if (synthetic && !args.has("epochs")) c.epochs = 20;  // the quick default run
      c.steps = args.number("steps", c.steps);
      c.beta = args.number("beta", c.beta);
      c.hidden = args.number("hidden", c.hidden);
      c.depth = args.number("depth", c.depth);
      c.lr = args.number("lr", c.lr);
      c.batch_size = args.number("batch-size", c.batch_size);
      c.epochs = args.number("epochs", c.epochs);
      if (args.has("noise-free")) c.noisy_prediction = false;
      c.decoder_only = args.has("decoder-only");
      c.signed_input = args.has("signed-input");
      examples::accept_config(model, c);
    };
    return examples::run_one(args, model, zoo);
  });
}
