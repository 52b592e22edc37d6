#!/usr/bin/env python3
"""DiffRec in PyTorch, written for this repository as the GPU baseline of bench/cuda/diffrec_e2e_cuda.

The same model and loop as recdiff's DiffRec with preset ml-1m_clean: MLP denoiser with a
sinusoidal step embedding (widths I+E -> 600 -> 200 -> 600 -> I, tanh, input dropout 0.5), Gaussian
diffusion with DiffRec's linear-variance schedule (first beta fixed), x0 prediction, SNR
reweighting, importance step sampling (10 losses per step, uniform until every step has them),
AdamW; evaluation runs the noise-free reverse chain from the clean input (T' = 0, 40 steps), masks
the training items and takes the top 100, and one pass serves validation and test (as recdiff).
Batches are densified on the device from a CSR copy of the training matrix, as recdiff does, so
memory stays bounded by nnz + batch on the Netflix-sized data too.

Prints one JSON document (and writes it with --json): seconds per epoch and per evaluation pass
for ml-1m_clean (the .npy split in --data, read with numpy) and for synthetic data of Netflix's
size (480K users x 17,770 items, ~100M interactions, drawn here with numpy: the same shapes and
density as the recdiff benchmark's data, not the same interactions).

    python3 diffrec_torch.py --data ../shared/data/ml-1m_clean --json torch.json
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # reported in the JSON so that scripts/gpu-bench.sh can still merge
    torch = None

PRESET = dict(lr=1e-3, weight_decay=0.0, batch_size=400, dims=[200, 600], emb_size=10, steps=40,
              noise_scale=5e-3, noise_min=5e-3, noise_max=1e-2, dropout=0.5, reweight=True,
              history_per_step=10, uniform_prob=1e-3, ks=[10, 20, 50, 100])


# ----------------------------------------------------------------------------------------------
# Data: CSR matrices (indptr, indices) as numpy arrays.

def csr_from_pairs(pairs, users, items):
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    pairs = pairs[order]
    indptr = np.zeros(users + 1, dtype=np.int64)
    np.add.at(indptr, pairs[:, 0] + 1, 1)
    return dict(indptr=np.cumsum(indptr), indices=pairs[:, 1].astype(np.int64), users=users,
                items=items)


def load_npy_split(folder):
    parts = {name: np.load(os.path.join(folder, name + "_list.npy")).astype(np.int64)
             for name in ("train", "valid", "test")}
    users = int(max(p[:, 0].max() for p in parts.values())) + 1
    items = int(max(p[:, 1].max() for p in parts.values())) + 1
    return {name: csr_from_pairs(p, users, items) for name, p in parts.items()}


def netflix_sized(users, items=17770, mean_per_user=100480507.0 / 480189.0, seed=2006):
    """Zipf-popular items, log-normal counts per user; per user the last 10% (by draw order) is
    valid, the 10% before test, the rest train (DiffRec's split proportions)."""
    rng = np.random.default_rng(seed)
    counts = np.clip(np.rint(rng.lognormal(math.log(mean_per_user) - 0.5, 1.0, users)), 1,
                     items // 2).astype(np.int64)
    popularity = 1.0 / np.arange(1, items + 1)
    popularity /= popularity.sum()
    parts = {"train": [], "valid": [], "test": []}
    for lo in range(0, users, 20000):
        hi = min(users, lo + 20000)
        for u in range(lo, hi):
            n = counts[u]
            # Gumbel top-n: n distinct items drawn by popularity.
            keys = np.log(popularity) + rng.gumbel(size=items)
            chosen = np.argpartition(-keys, n - 1)[:n]
            n_train, n_test = int(0.7 * n) + 1, int(0.8 * n) + 1
            row = np.full(n, u, dtype=np.int64)
            parts["train"].append(np.stack([row[:n_train], chosen[:n_train]], 1))
            parts["test"].append(np.stack([row[n_train:n_test], chosen[n_train:n_test]], 1))
            parts["valid"].append(np.stack([row[n_test:], chosen[n_test:]], 1))
    return {name: csr_from_pairs(np.concatenate(p), users, items) for name, p in parts.items()}


class DeviceCsr:
    """A CSR matrix on the device; dense(users) builds the batch's rows there."""

    def __init__(self, csr, device):
        self.indptr = torch.as_tensor(csr["indptr"], device=device)
        self.indices = torch.as_tensor(csr["indices"], device=device)
        self.items = csr["items"]

    def dense(self, users):
        start, end = self.indptr[users], self.indptr[users + 1]
        lengths = end - start
        out = torch.zeros(users.numel(), self.items, device=users.device)
        total = int(lengths.sum())
        if total:
            rows = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), lengths)
            first = torch.repeat_interleave(start - torch.cumsum(lengths, 0) + lengths, lengths)
            pos = first + torch.arange(total, device=users.device)
            out[rows, self.indices[pos]] = 1.0
        return out


# ----------------------------------------------------------------------------------------------
# Model.

def step_embedding(steps, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=steps.device,
                                                        dtype=torch.float32) / half)
    args = steps.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class Denoiser(torch.nn.Module if torch else object):
    def __init__(self, items, dims, emb_size, dropout):
        super().__init__()
        widths = [items + emb_size] + list(reversed(dims)) + list(dims[1:]) + [items]
        self.emb_size = emb_size
        self.emb_layer = torch.nn.Linear(emb_size, emb_size)
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(widths[i], widths[i + 1]) for i in range(len(widths) - 1))
        self.dropout = torch.nn.Dropout(dropout)
        for layer in [self.emb_layer, *self.layers]:
            fan_out, fan_in = layer.weight.shape
            torch.nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / (fan_in + fan_out)))
            torch.nn.init.normal_(layer.bias, 0.0, 0.001)

    def forward(self, x, steps):
        emb = self.emb_layer(step_embedding(steps, self.emb_size))
        h = torch.cat([self.dropout(x), emb], dim=-1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i + 1 < len(self.layers):
                h = torch.tanh(h)
        return h


class Diffusion:
    def __init__(self, p, device):
        steps = p["steps"]
        variance = np.linspace(p["noise_scale"] * p["noise_min"], p["noise_scale"] * p["noise_max"],
                               steps, dtype=np.float64)
        alpha_bar = 1.0 - variance
        betas = [1.0 - alpha_bar[0]]
        for i in range(1, steps):
            betas.append(min(1.0 - alpha_bar[i] / alpha_bar[i - 1], 0.999))
        betas = np.array(betas)
        betas[0] = 1e-5  # the fixed first beta
        alphas = 1.0 - betas
        ac = np.cumprod(alphas)
        ac_prev = np.append(1.0, ac[:-1])
        t = lambda a: torch.tensor(a, dtype=torch.float32, device=device)
        self.steps = steps
        self.sqrt_ac, self.sqrt_1m_ac = t(np.sqrt(ac)), t(np.sqrt(1.0 - ac))
        self.coef1 = t(betas * np.sqrt(ac_prev) / (1.0 - ac))
        self.coef2 = t((1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac))
        snr = ac / (1.0 - ac)
        weight = np.ones(steps)
        weight[1:] = snr[:-1] - snr[1:]
        self.weight = t(weight)
        self.history = torch.zeros(steps, p["history_per_step"], device=device)
        self.count = torch.zeros(steps, dtype=torch.int64, device=device)
        self.history_per_step = p["history_per_step"]
        self.uniform_prob = p["uniform_prob"]
        self.reweight = p["reweight"]
        self.history_full = False

    def sample_steps(self, batch, device):
        if not self.history_full:
            self.history_full = bool((self.count == self.history_per_step).all())
        if not self.history_full:
            return torch.randint(0, self.steps, (batch,), device=device), torch.ones(batch,
                                                                                      device=device)
        lt = torch.sqrt(torch.mean(self.history ** 2, dim=-1))
        pt_all = lt / lt.sum() * (1.0 - self.uniform_prob) + self.uniform_prob / self.steps
        ts = torch.multinomial(pt_all, batch, replacement=True)
        return ts, pt_all.gather(0, ts) * self.steps

    def record(self, ts, losses):
        # Vectorised form of DiffRec's per-sample history update: the newest losses of every step.
        for t in torch.unique(ts).tolist():
            new = losses[ts == t]
            merged = torch.cat([self.history[t, :int(self.count[t])], new])[-self.history_per_step:]
            self.history[t, :merged.numel()] = merged
            self.count[t] = merged.numel()

    def loss(self, model, x0):
        ts, pt = self.sample_steps(x0.shape[0], x0.device)
        noise = torch.randn_like(x0)
        x_t = self.sqrt_ac[ts, None] * x0 + self.sqrt_1m_ac[ts, None] * noise
        mse = ((x0 - model(x_t, ts)) ** 2).mean(dim=-1)
        per_user = (self.weight[ts] if self.reweight else 1.0) * mse
        self.record(ts, per_user.detach())
        return (per_user / pt).mean()

    @torch.no_grad()
    def reverse_chain(self, model, x0):
        x = x0
        for i in reversed(range(self.steps)):
            ts = torch.full((x.shape[0],), i, device=x.device, dtype=torch.int64)
            x = self.coef1[i] * model(x, ts) + self.coef2[i] * x
        return x


# ----------------------------------------------------------------------------------------------
# Benchmark.

def metrics(top, truth_csr, users, ks):
    """Recall and NDCG at every k for the rows `users` (numpy arrays, DiffRec's definitions)."""
    out = {}
    indptr, indices = truth_csr["indptr"], truth_csr["indices"]
    discount = 1.0 / np.log2(np.arange(2, max(ks) + 2))
    sums = {f"{m}@{k}": 0.0 for m in ("recall", "ndcg") for k in ks}
    counted = 0
    for row, u in enumerate(users):
        truth = indices[indptr[u]:indptr[u + 1]]
        if truth.size == 0:
            continue
        counted += 1
        hit = np.isin(top[row], truth)
        for k in ks:
            hits = hit[:k]
            sums[f"recall@{k}"] += hits.sum() / truth.size
            ideal = discount[:min(truth.size, k)].sum()
            sums[f"ndcg@{k}"] += (discount[:k][hits]).sum() / ideal
    return {name: (v, counted) for name, v in sums.items()}, counted


def run_dataset(args, split, device):
    p = PRESET
    torch.manual_seed(1)
    train = DeviceCsr(split["train"], device)
    valid = DeviceCsr(split["valid"], device)
    users, items = split["train"]["users"], split["train"]["items"]
    model = Denoiser(items, p["dims"], p["emb_size"], p["dropout"]).to(device)
    if args.compile:
        model = torch.compile(model)
    diffusion = Diffusion(p, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
    batch = p["batch_size"]
    epoch_seconds, epoch_loss = [], []
    reset_memory(device)
    for epoch in range(args.epochs):
        sync(device)
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(users, device=device)
        total = torch.zeros((), device=device)
        batches = 0
        for begin in range(0, users, batch):
            x0 = train.dense(order[begin:begin + batch])
            loss = diffusion.loss(model, x0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
            batches += 1
        sync(device)
        epoch_seconds.append(time.perf_counter() - t0)
        epoch_loss.append(float(total) / batches)
        print(f"epoch {epoch + 1}: {epoch_seconds[-1]:.3f} s, loss {epoch_loss[-1]:.6g}",
              file=sys.stderr)

    eval_seconds, scoring_seconds, last = [], [], {}
    all_users = np.arange(users)
    k_max = max(p["ks"])
    for _ in range(args.evals):
        model.eval()
        sync(device)
        t0 = time.perf_counter()
        tops = {"valid": [], "test": []}
        with torch.no_grad():
            for begin in range(0, users, args.eval_batch):
                ids = torch.arange(begin, min(users, begin + args.eval_batch), device=device)
                x0 = train.dense(ids)
                scores = diffusion.reverse_chain(model, x0)
                # DiffRec's protocol: validation masks train items, test masks train + valid items.
                scores[x0 > 0] = -float("inf")
                tops["valid"].append(torch.topk(scores, k_max, dim=-1).indices.cpu())
                scores[valid.dense(ids) > 0] = -float("inf")
                tops["test"].append(torch.topk(scores, k_max, dim=-1).indices.cpu())
        # The reverse chain and top-K on the device alone (the metrics below are a Python loop).
        scoring_seconds.append(time.perf_counter() - t0)
        result = {}
        for part in ("valid", "test"):
            top = torch.cat(tops[part]).numpy()
            sums, counted = metrics(top, split[part], all_users, p["ks"])
            result[part] = {name: v / max(counted, 1) for name, (v, _) in sums.items()}
        sync(device)
        eval_seconds.append(time.perf_counter() - t0)
        last = result
        print(f"evaluation pass: {eval_seconds[-1]:.3f} s, test recall@20 "
              f"{result['test']['recall@20']:.4f}", file=sys.stderr)

    median = lambda v: float(np.median(v)) if v else 0.0
    return {
        "users": users, "items": items,
        "train_interactions": int(split["train"]["indices"].size),
        "batch_size": batch, "eval_batch_size": args.eval_batch,
        "epoch_seconds": epoch_seconds, "epoch_loss": epoch_loss,
        "seconds_per_epoch": median(epoch_seconds),
        "eval_pass_seconds": eval_seconds, "seconds_per_eval_pass": median(eval_seconds),
        "eval_scoring_seconds": scoring_seconds,
        "seconds_per_eval_scoring": median(scoring_seconds),
        "test_recall@20_last_pass": last.get("test", {}).get("recall@20"),
        "test_ndcg@20_last_pass": last.get("test", {}).get("ndcg@20"),
        "device_memory_peak_mib": peak_memory_mib(device),
    }


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_memory(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device):
    """Peak device memory on a GPU; the process's peak RSS on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(
        os.environ.get("RECDIFF_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..",
                                                        "..", "shared", "data")), "ml-1m_clean"))
    parser.add_argument("--dataset", choices=["ml-1m_clean", "netflix", "both"], default="both")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--evals", type=int, default=1)
    parser.add_argument("--eval-batch", type=int, default=4096)
    parser.add_argument("--netflix-users", type=int, default=480000)
    parser.add_argument("--device", default="cuda:0",
                        help="cuda:N, or cpu to compare with recdiff's CPU backend side by side")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls (default FP32)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the denoiser")
    parser.add_argument("--json", help="also write the JSON document to this file")
    args = parser.parse_args()

    doc = {"benchmark": "diffrec_torch", "preset": "ml-1m_clean", "math": "tf32" if args.tf32
           else "fp32", "compiled": args.compile}
    on_cpu = args.device == "cpu"
    if torch is None or not (on_cpu or torch.cuda.is_available()):
        doc.update(skipped=True, reason="PyTorch with CUDA not available")
    else:
        device = torch.device(args.device)
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        doc.update(skipped=False, torch_version=torch.__version__,
                   device="cpu (%d threads)" % torch.get_num_threads() if on_cpu
                   else torch.cuda.get_device_name(device), datasets={})
        if args.dataset != "netflix":
            if not os.path.exists(os.path.join(args.data, "train_list.npy")):
                doc["datasets"]["ml-1m_clean"] = {"skipped": True, "data_dir": args.data}
            else:
                doc["datasets"]["ml-1m_clean"] = run_dataset(args, load_npy_split(args.data),
                                                             device)
        if args.dataset != "ml-1m_clean":
            t0 = time.perf_counter()
            split = netflix_sized(args.netflix_users)
            generate_seconds = time.perf_counter() - t0
            entry = run_dataset(args, split, device)
            entry["generate_seconds"] = generate_seconds
            doc["datasets"]["netflix_synthetic"] = entry
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
