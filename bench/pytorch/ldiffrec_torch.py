#!/usr/bin/env python3
"""L-DiffRec (and LT-DiffRec) in PyTorch, written for this repository as the CPU speed baseline of
recdiff's L-DiffRec.

A port of the authors' released L-DiffRec training script (Wang et al., "Diffusion Recommender
Model", SIGIR 2023, Sec. 3.4 for L-DiffRec and Sec. 3.5 for the time weights of LT-DiffRec) with
the same model, loss, loop and order of random draws, preset ml-1m_clean:

- items clustered by k-means on the item embeddings (C = --n-cate clusters, the kmeans_pytorch 0.3
  procedure re-implemented here: initial centres np.random.choice(I, C, replace=False), Lloyd
  steps with squared-Euclidean argmin until (sum of centre shifts)^2 < 1e-4);
- autoencoder: input dropout 0.1, one encoder per cluster Linear(I_c -> 2 l_c) + tanh giving
  (mu, logvar), l_c proportional to the cluster's size (the last cluster takes the remainder of
  300), reparameterisation, one decoder Linear(300 -> I) whose outputs are in cluster order;
- latent denoiser: MLP 300+10 -> 300 -> 300 (tanh) with a sinusoidal step embedding + Linear(10,10)
  and input dropout 0.5;
- Gaussian diffusion in latent space: linear-variance schedule (T = 40, scale 5e-3, 5e-3..2e-2; no
  fixed first beta), x0 prediction, SNR reweighting, importance step sampling over the last 10
  losses of every step (uniform until every step has them);
- loss = lambda * ELBO + multinomial NLL(decoder(x0_hat), dropped input in cluster order)
  + anneal * KL, lambda = max((1 - epochs done / 500) * 0.03, 0.005), anneal = min(0.3, batches
  done / 200); AdamW 1e-3 (autoencoder) and 5e-4 (MLP); batch 400 shuffled each epoch;
- evaluation every 5 epochs: encoder mean -> 40-step noise-free reverse chain -> decoder; train
  items (validation) or train + valid items (test) masked at their cluster-order positions, top 100
  mapped back to item ids, Recall/NDCG/Precision/MRR @10/20/50/100 as the authors compute them;
  selection on validation recall@20 (rounded to 4 digits as the released code does), early stop
  when 20 epochs pass without a better one, test metrics reported at the best epoch.

Random draws are made in the released code's order (numpy for the k-means start; torch for the
layer initialisations, the DataLoader's shuffles, dropout masks, reparameterisation, step samples
and diffusion noise), so on the CPU, with the same seed, it replays the released code: the same
loss every epoch and the same metrics (checked against the released script on ml-1m_clean).

Data path: as in the released code, the whole training matrix is densified once into a float32
tensor and served by a torch DataLoader (num_workers=0, shuffle=True, which also keeps torch's
random stream in the released order); scipy is not needed (CSR bookkeeping is done with numpy).
With --w-min/--w-max (LT-DiffRec) each user's training rows, in file order, get weights
linspace(w_min, w_max, M_u); the weighted rows are the encoder input and NLL target, the
evaluation masks stay binary.

Prints one JSON document (and writes it with --json): seconds per epoch (training loop only) and
per evaluation round (validation + test passes, as the released code runs both), parameter count,
peak RSS, best epoch and metrics.

    OMP_WAIT_POLICY=passive python3 ldiffrec_torch.py --data ../../../shared/data/ml-1m_clean \
        --time-only 3 --json timing.json          # 3 epochs + 1 evaluation round
    OMP_WAIT_POLICY=passive python3 ldiffrec_torch.py --seed 1 --json full.json  # full run
    ... --w-min 0.1 --w-max 1.0                   # LT-DiffRec
"""

import argparse
import json
import math
import os
import random
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

PRESET = dict(lr1=1e-3, lr2=5e-4, wd1=0.0, wd2=0.0, batch_size=400, n_cate=2, in_dims=[300],
              out_dims=[], lamda=0.03, anneal_cap=0.005, anneal_steps=500, vae_anneal_cap=0.3,
              vae_anneal_steps=200, ae_dropout=0.1, mlp_dims=[300], emb_size=10,
              mlp_dropout=0.5, steps=40, noise_scale=5e-3, noise_min=5e-3, noise_max=2e-2,
              sampling_steps=0, reweight=True, history_per_step=10, uniform_prob=1e-3,
              topN=[10, 20, 50, 100], eval_every=5, patience=20, kmeans_tol=1e-4)


# ----------------------------------------------------------------------------------------------
# Data.

class Csr:
    """Row-compressed (user x item) matrix held as numpy arrays; rows keep column order sorted."""

    def __init__(self, rows, cols, values, shape):
        order = np.lexsort((cols, rows))
        self.shape = shape
        self.indices = cols[order].astype(np.int64)
        self.data = values[order]
        counts = np.bincount(rows, minlength=shape[0])
        self.indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def row(self, u):
        return self.indices[self.indptr[u]:self.indptr[u + 1]]

    def block_nonzero(self, begin, end):
        """(row offsets relative to begin, columns) of the non-zeros of rows begin..end-1."""
        lo, hi = self.indptr[begin], self.indptr[end]
        lengths = np.diff(self.indptr[begin:end + 1])
        return np.repeat(np.arange(end - begin), lengths), self.indices[lo:hi]

    def dense(self):
        out = np.zeros(self.shape, dtype=np.float64)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        out[rows, self.indices] = self.data
        return out


def load_split(folder, w_min=None, w_max=None):
    """The released data_load: sizes from the training pairs; LT weights per user in file order."""
    train = np.load(os.path.join(folder, "train_list.npy"), allow_pickle=True)
    valid = np.load(os.path.join(folder, "valid_list.npy"), allow_pickle=True)
    test = np.load(os.path.join(folder, "test_list.npy"), allow_pickle=True)
    users, items = int(train[:, 0].max()) + 1, int(train[:, 1].max()) + 1
    ones = lambda pairs: np.ones(len(pairs), dtype=np.float64)
    if w_min is None:
        weights = ones(train)
    else:
        # Each user's rows in the order the file lists them get linspace(w_min, w_max, count).
        weights = np.empty(len(train), dtype=np.float64)
        by_user = {}
        for pos, u in enumerate(train[:, 0].tolist()):
            by_user.setdefault(u, []).append(pos)
        for positions in by_user.values():
            weights[positions] = np.linspace(w_min, w_max, len(positions))
    shape = (users, items)
    return dict(
        train=Csr(train[:, 0], train[:, 1], weights, shape),
        train_binary=Csr(train[:, 0], train[:, 1], ones(train), shape),
        valid=Csr(valid[:, 0], valid[:, 1], ones(valid), shape),
        test=Csr(test[:, 0], test[:, 1], ones(test), shape),
        users=users, items=items, interactions=len(train))


class Rows(Dataset):
    """Rows of a dense matrix, one user per index (the released DataDiffusion)."""

    def __init__(self, matrix):
        self.matrix = matrix

    def __getitem__(self, index):
        return self.matrix[index]

    def __len__(self):
        return len(self.matrix)


# ----------------------------------------------------------------------------------------------
# Clustering.

def kmeans_labels(x, clusters, tol):
    """Lloyd's k-means as kmeans_pytorch 0.3 runs it (float32, numpy-drawn initial centres, stop
    when the squared sum of centre shifts drops below tol); returns (labels, iterations)."""
    x = x.float()
    centres = x[np.random.choice(len(x), clusters, replace=False)]
    iterations = 0
    while True:
        distance = ((x.unsqueeze(1) - centres.unsqueeze(0)) ** 2.0).sum(dim=-1)
        labels = torch.argmin(distance, dim=1)
        previous = centres.clone()
        for c in range(clusters):
            centres[c] = x[labels == c].mean(dim=0)
        shift = torch.sqrt(((centres - previous) ** 2).sum(dim=1)).sum()
        iterations += 1
        if shift ** 2 < tol:
            return labels, iterations


# ----------------------------------------------------------------------------------------------
# Model.

class ClusteredAutoencoder(torch.nn.Module):
    """Per-cluster variational encoders and one shared decoder (n_cate > 1, one layer each)."""

    def __init__(self, item_emb, n_cate, latent, dropout, tol):
        super().__init__()
        self.dropout = torch.nn.Dropout(dropout)
        items = len(item_emb)
        labels, self.kmeans_iterations = kmeans_labels(item_emb, n_cate, tol)
        labels = labels.numpy()
        # Items of each cluster in ascending id; their concatenation is the cluster order.
        self.groups = [torch.tensor(np.flatnonzero(labels == c), dtype=torch.int64)
                       for c in range(n_cate)]
        self.category_map = torch.cat(self.groups)
        self.sizes = [len(g) for g in self.groups]
        self.latent_sizes = []
        for c in range(n_cate):
            if c + 1 < n_cate:
                self.latent_sizes.append(max(int(self.sizes[c] / items * latent), 1))
            else:
                self.latent_sizes.append(latent - sum(self.latent_sizes))
        self.encoders = torch.nn.ModuleList(
            torch.nn.Linear(n, 2 * l) for n, l in zip(self.sizes, self.latent_sizes))
        self.decoder = torch.nn.Linear(latent, items)
        for layer in [*self.encoders, self.decoder]:
            torch.nn.init.xavier_normal_(layer.weight)
            torch.nn.init.zeros_(layer.bias)

    def encode(self, x):
        """(input in cluster order after dropout, latent, KL) as the released Encode."""
        x = self.dropout(x)
        parts = [x[:, g] for g in self.groups]
        mus, logvars = [], []
        for part, encoder, l in zip(parts, self.encoders, self.latent_sizes):
            h = torch.tanh(encoder(part))
            mus.append(h[:, :l])
            logvars.append(h[:, l:])
        mu, logvar = torch.cat(mus, dim=-1), torch.cat(logvars, dim=-1)
        if self.training:
            std = torch.exp(0.5 * logvar)
            z = torch.randn_like(std).mul(std).add_(mu)
        else:
            z = mu
        kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1))
        return torch.cat(parts, dim=-1), z, kl

    def decode(self, z):
        return self.decoder(z)


def step_embedding(steps, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    angles = steps[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class LatentDenoiser(torch.nn.Module):
    """The released DNN with time_type 'cat', no input normalisation, tanh between layers."""

    def __init__(self, latent, hidden, emb_size, dropout):
        super().__init__()
        self.emb_size = emb_size
        self.emb_layer = torch.nn.Linear(emb_size, emb_size)
        # The released layout: in-layers latent+E -> reversed(hidden), out-layers hidden -> latent.
        widths_in = [latent + emb_size] + list(reversed(hidden))
        widths_out = list(hidden) + [latent]
        self.in_layers = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(widths_in[:-1], widths_in[1:]))
        self.out_layers = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(widths_out[:-1], widths_out[1:]))
        self.dropout = torch.nn.Dropout(dropout)
        for layer in [self.emb_layer, *self.in_layers, *self.out_layers]:
            torch.nn.init.xavier_normal_(layer.weight)
            torch.nn.init.zeros_(layer.bias)

    def forward(self, x, steps):
        emb = self.emb_layer(step_embedding(steps, self.emb_size))
        h = torch.cat([self.dropout(x), emb], dim=-1)
        for layer in self.in_layers:
            h = torch.tanh(layer(h))
        for i, layer in enumerate(self.out_layers):
            h = layer(h)
            if i + 1 < len(self.out_layers):
                h = torch.tanh(h)
        return h


class LatentDiffusion:
    """Gaussian diffusion with x0 prediction (float64 schedule tables, float32 activations)."""

    def __init__(self, p):
        self.steps = p["steps"]
        variance = np.linspace(p["noise_scale"] * p["noise_min"], p["noise_scale"] * p["noise_max"],
                               self.steps, dtype=np.float64)
        # DiffRec's linear-variance schedule: 1 - alpha_bar grows linearly over the steps.
        betas = [1.0 - (1.0 - variance[0])]
        for i in range(1, self.steps):
            betas.append(min(1.0 - (1.0 - variance[i]) / (1.0 - variance[i - 1]), 0.999))
        self.betas = torch.tensor(np.array(betas), dtype=torch.float64)
        alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(alphas, dim=0)
        ac_prev = torch.cat([torch.tensor([1.0], dtype=torch.float64), self.alphas_cumprod[:-1]])
        self.sqrt_ac = torch.sqrt(self.alphas_cumprod)
        self.sqrt_1m_ac = torch.sqrt(1.0 - self.alphas_cumprod)
        self.posterior_variance = self.betas * (1.0 - ac_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_log_variance = torch.log(
            torch.cat([self.posterior_variance[1:2], self.posterior_variance[1:]]))
        self.coef1 = self.betas * torch.sqrt(ac_prev) / (1.0 - self.alphas_cumprod)
        self.coef2 = (1.0 - ac_prev) * torch.sqrt(alphas) / (1.0 - self.alphas_cumprod)
        self.history_per_step = p["history_per_step"]
        self.history = torch.zeros(self.steps, self.history_per_step, dtype=torch.float64)
        self.count = torch.zeros(self.steps, dtype=torch.int64)
        self.uniform_prob = p["uniform_prob"]
        self.reweight = p["reweight"]

    @staticmethod
    def gather(table, ts, like):
        return table[ts].float().view(-1, *([1] * (like.dim() - 1))).expand(like.shape)

    def snr(self, ts):
        return self.alphas_cumprod[ts] / (1 - self.alphas_cumprod[ts])

    def sample_steps(self, batch):
        if not bool((self.count == self.history_per_step).all()):
            ts = torch.randint(0, self.steps, (batch,)).long()
            return ts, torch.ones_like(ts).float()
        rms = torch.sqrt(torch.mean(self.history ** 2, dim=-1))
        pt_all = rms / torch.sum(rms)
        pt_all *= 1 - self.uniform_prob
        pt_all += self.uniform_prob / len(pt_all)
        ts = torch.multinomial(pt_all, num_samples=batch, replacement=True)
        return ts, pt_all.gather(dim=0, index=ts) * len(pt_all)

    def record(self, ts, losses):
        # One sample at a time in batch order, as the released code updates its loss history.
        for t, value in zip(ts, losses):
            if self.count[t] == self.history_per_step:
                snapshot = self.history.clone()
                self.history[t, :-1] = snapshot[t, 1:]
                self.history[t, -1] = value.detach()
            else:
                self.history[t, self.count[t]] = value.detach()
                self.count[t] += 1

    def training_losses(self, model, x0):
        """(per-sample importance-weighted ELBO terms, predicted x0)."""
        ts, pt = self.sample_steps(x0.shape[0])
        noise = torch.randn_like(x0)
        x_t = self.gather(self.sqrt_ac, ts, x0) * x0 + self.gather(self.sqrt_1m_ac, ts, x0) * noise
        out = model(x_t, ts)
        mse = ((x0 - out) ** 2).mean(dim=list(range(1, x0.dim())))
        if self.reweight:
            weight = torch.where(ts == 0, 1.0, self.snr(ts - 1) - self.snr(ts))
        else:
            weight = torch.ones(len(x0))
        terms = weight * mse
        self.record(ts, terms)
        terms /= pt
        return terms, out

    @torch.no_grad()
    def reverse_chain(self, model, z):
        """The released p_sample with sampling_steps = 0 and no sampling noise: x_T = z."""
        x = z
        for i in reversed(range(self.steps)):
            ts = torch.tensor([i] * x.shape[0])
            x0_hat = model(x, ts)
            self.gather(self.posterior_variance, ts, x)  # computed (unused) as the released code
            self.gather(self.posterior_log_variance, ts, x)
            x = self.gather(self.coef1, ts, x) * x0_hat + self.gather(self.coef2, ts, x) * x
        return x


def multinomial_nll(logits, target):
    return -torch.mean(torch.sum(F.log_softmax(logits, 1) * target, -1))


# ----------------------------------------------------------------------------------------------
# Evaluation.

def top_n_metrics(truth, predicted, cutoffs):
    """Precision, recall, NDCG and MRR at each cutoff, averaged over all users (users without
    ground truth count as zeros) and rounded to 4 digits, as the authors' evaluate_utils."""
    out = {name: [] for name in ("precision", "recall", "ndcg", "mrr")}
    for k in cutoffs:
        sums = dict(precision=0.0, recall=0.0, ndcg=0.0, mrr=0.0)
        for gt, top in zip(truth, predicted):
            if not gt:
                continue
            hits, dcg, idcg, rr = 0, 0.0, 0.0, 0.0
            for j in range(k):
                if top[j] in gt:
                    dcg += 1.0 / math.log2(j + 2)
                    if hits == 0:
                        rr = 1.0 / (j + 1.0)
                    hits += 1
                if j < len(gt):
                    idcg += 1.0 / math.log2(j + 2)
            sums["precision"] += hits / k
            sums["recall"] += hits / len(gt)
            sums["ndcg"] += dcg / idcg if idcg != 0 else 0.0
            sums["mrr"] += rr
        for name in out:
            out[name].append(round(sums[name] / len(predicted), 4))
    return out


def evaluate(ae, mlp, diffusion, loader, truth_csr, mask_csr, p):
    """One released evaluate() call: ground-truth lists, scoring, masking, top-N, metrics.
    Returns (metrics, seconds spent before the metric loop)."""
    t0 = time.perf_counter()
    mlp.eval()
    ae.eval()
    users = mask_csr.shape[0]
    truth = [truth_csr.row(u).tolist() for u in range(users)]
    predicted = []
    batch = p["batch_size"]
    with torch.no_grad():
        for b, x in enumerate(loader):
            begin = b * batch
            _, z, _ = ae.encode(x)
            scores = ae.decode(diffusion.reverse_chain(mlp, z))
            rows, cols = mask_csr.block_nonzero(begin, begin + len(x))
            scores[rows, cols] = -np.inf
            _, positions = torch.topk(scores, p["topN"][-1])
            predicted.extend(ae.category_map[positions].numpy().tolist())
    scoring = time.perf_counter() - t0
    return top_n_metrics(truth, predicted, p["topN"]), scoring


def as_named(result, cutoffs):
    return {f"{name}@{k}": result[name][i] for name in ("recall", "ndcg", "precision", "mrr")
            for i, k in enumerate(cutoffs)}


# ----------------------------------------------------------------------------------------------
# Training.

def run(args):
    started = time.perf_counter()
    p = dict(PRESET, n_cate=args.n_cate)
    lt = args.w_min is not None or args.w_max is not None
    w_min = args.w_min if args.w_min is not None else 0.1
    w_max = args.w_max if args.w_max is not None else 1.0

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)

    split = load_split(args.data, w_min, w_max) if lt else load_split(args.data)
    users, items = split["users"], split["items"]
    train_rows = Rows(torch.FloatTensor(split["train"].dense()))
    train_loader = DataLoader(train_rows, batch_size=p["batch_size"], shuffle=True, num_workers=0)
    eval_loader = DataLoader(train_rows, batch_size=p["batch_size"], shuffle=False)

    item_emb = torch.from_numpy(np.load(os.path.join(args.data, "item_emb.npy"), allow_pickle=True))
    if len(item_emb) != items:
        raise ValueError(f"run: item_emb.npy has {len(item_emb)} rows, the data {items} items")
    latent = p["in_dims"][-1]
    ae = ClusteredAutoencoder(item_emb, p["n_cate"], latent, p["ae_dropout"], p["kmeans_tol"])
    diffusion = LatentDiffusion(p)
    mlp = LatentDenoiser(latent, p["mlp_dims"], p["emb_size"], p["mlp_dropout"])
    ae_params = sum(t.nelement() for t in ae.parameters())
    mlp_params = sum(t.nelement() for t in mlp.parameters())
    opt_ae = torch.optim.AdamW(ae.parameters(), lr=p["lr1"], weight_decay=p["wd1"])
    opt_mlp = torch.optim.AdamW(mlp.parameters(), lr=p["lr2"], weight_decay=p["wd2"])

    # Evaluation masks at cluster-order positions (binary also for LT-DiffRec).
    t0 = time.perf_counter()
    position = torch.empty(items, dtype=torch.int64)
    position[ae.category_map] = torch.arange(items)
    position = position.numpy()

    def to_positions(csr):
        rows = np.repeat(np.arange(users), np.diff(csr.indptr))
        return rows, position[csr.indices]

    tr_rows, tr_cols = to_positions(split["train_binary"])
    va_rows, va_cols = to_positions(split["valid"])
    mask_train = Csr(tr_rows, tr_cols, np.ones(len(tr_rows)), (users, items))
    mask_tv = Csr(np.concatenate([tr_rows, va_rows]), np.concatenate([tr_cols, va_cols]),
                  np.ones(len(tr_rows) + len(va_rows)), (users, items))
    mask_seconds = time.perf_counter() - t0
    print(f"{'LT-' if lt else 'L-'}DiffRec: {users} users, {items} items, clusters {ae.sizes}, "
          f"latent {ae.latent_sizes}, {ae_params + mlp_params} parameters", file=sys.stderr)

    def evaluation_round():
        t = time.perf_counter()
        valid, s_valid = evaluate(ae, mlp, diffusion, eval_loader, split["valid"], mask_train, p)
        test, s_test = evaluate(ae, mlp, diffusion, eval_loader, split["test"], mask_tv, p)
        scoring_seconds.append(s_valid + s_test)
        return valid, test, time.perf_counter() - t

    epoch_seconds, epoch_loss, eval_seconds, scoring_seconds, history = [], [], [], [], []
    setup_seconds = time.perf_counter() - started
    best_recall, best_epoch, best = -100.0, 0, None
    epochs_done, batches_done = 0, 0
    max_epochs = args.time_only if args.time_only else args.epochs
    stopped_early = False
    for epoch in range(1, max_epochs + 1):
        if not args.time_only and epoch - best_epoch >= p["patience"]:
            stopped_early = True
            break
        ae.train()
        mlp.train()
        t0 = time.perf_counter()
        total = 0.0
        for x in train_loader:
            opt_ae.zero_grad()
            opt_mlp.zero_grad()
            target, z, kl = ae.encode(x)
            terms, z0_hat = diffusion.training_losses(mlp, z)
            elbo = terms.mean()
            logits = ae.decode(z0_hat)
            lamda = max((1.0 - epochs_done / p["anneal_steps"]) * p["lamda"], p["anneal_cap"])
            anneal = min(p["vae_anneal_cap"], 1.0 * batches_done / p["vae_anneal_steps"])
            ae_loss = multinomial_nll(logits, target) + anneal * kl  # float32
            loss = lamda * elbo + ae_loss  # float64, as the ELBO terms are
            batches_done += 1
            total += loss
            loss.backward()
            opt_ae.step()
            opt_mlp.step()
        epochs_done += 1
        epoch_seconds.append(time.perf_counter() - t0)
        epoch_loss.append(float(total.detach()) if torch.is_tensor(total) else total)

        message = f"epoch {epoch}: {epoch_seconds[-1]:.3f} s, loss {epoch_loss[-1]:.4f}"
        if args.time_only or epoch % p["eval_every"] == 0:
            if args.time_only and epoch < max_epochs:
                print(message, file=sys.stderr)
                continue
            valid, test, seconds = evaluation_round()
            eval_seconds.append(seconds)
            history.append(dict(epoch=epoch, valid_recall20=valid["recall"][1],
                                test_recall20=test["recall"][1], seconds=seconds))
            message += (f"; eval {seconds:.3f} s, valid R@20 {valid['recall'][1]:.4f}, "
                        f"test R@10/R@20/N@10/N@20 {test['recall'][0]:.4f}/"
                        f"{test['recall'][1]:.4f}/{test['ndcg'][0]:.4f}/{test['ndcg'][1]:.4f}")
            if valid["recall"][1] > best_recall:
                best_recall, best_epoch, best = valid["recall"][1], epoch, (valid, test)
        print(message, file=sys.stderr)

    mean = lambda v: float(np.mean(v)) if v else None
    steady = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
    settings = dict(p, seed=args.seed, threads=torch.get_num_threads(), max_epochs=max_epochs,
                    variant="LT-DiffRec" if lt else "L-DiffRec",
                    w_min=w_min if lt else None, w_max=w_max if lt else None,
                    time_only=args.time_only, data_loader="dense FloatTensor + DataLoader "
                    "(shuffle, num_workers=0)")
    return {
        "users": users, "items": items, "train_interactions": split["interactions"],
        "cluster_sizes": ae.sizes, "latent_sizes": ae.latent_sizes,
        "kmeans_iterations": ae.kmeans_iterations,
        "parameters": ae_params + mlp_params, "parameters_autoencoder": ae_params,
        "parameters_mlp": mlp_params,
        "epochs_run": len(epoch_seconds), "stopped_early": stopped_early,
        "epoch_seconds": epoch_seconds, "first_epoch_seconds": epoch_seconds[0],
        "seconds_per_epoch": mean(steady),
        "seconds_per_epoch_note": "mean over the epochs after the first" if len(epoch_seconds) > 1
        else "the only epoch",
        "eval_round_seconds": eval_seconds, "seconds_per_eval_round": mean(eval_seconds),
        "eval_scoring_seconds": scoring_seconds,
        "eval_scoring_note": "per round: both passes up to the top-100 lists (the rest of the "
        "round is the authors' Python metric loop)",
        "setup_seconds": setup_seconds, "mask_prep_seconds": mask_seconds, "epoch_loss": epoch_loss,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "best_epoch": best_epoch,
        "valid": as_named(best[0], p["topN"]) if best else None,
        "test": as_named(best[1], p["topN"]) if best else None,
        "evaluations": history, "settings": settings,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(
        os.environ.get("RECDIFF_DATA_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "..", "..", "..", "shared", "data")),
        "ml-1m_clean"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1000, help="maximum epochs")
    parser.add_argument("--w-min", type=float, default=None, help="LT-DiffRec: first weight")
    parser.add_argument("--w-max", type=float, default=None, help="LT-DiffRec: last weight")
    parser.add_argument("--n-cate", type=int, default=PRESET["n_cate"],
                        help="k-means clusters (>= 2)")
    parser.add_argument("--time-only", type=int, default=0,
                        help="run this many epochs and one evaluation round, for timing")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the JSON document to this file")
    args = parser.parse_args()
    if args.n_cate < 2:
        parser.error(f"--n-cate must be at least 2 (got {args.n_cate})")
    torch.set_num_threads(args.threads)
    doc = {"benchmark": "ldiffrec_torch", "preset": "ml-1m_clean",
           "torch_version": torch.__version__, "device": "cpu (%d threads)" % args.threads,
           "data_dir": args.data}
    doc.update(run(args))
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
