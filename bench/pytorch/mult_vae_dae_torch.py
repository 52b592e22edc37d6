#!/usr/bin/env python3
"""Mult-VAE and Mult-DAE in PyTorch, written for this repository as an independent reference for
recdiff's MultVAE / MultDAE (examples/baselines --model multvae|multdae) on the CPU.

The models follow Liang, Krishnan, Hoffman and Jebara, "Variational Autoencoders for Collaborative
Filtering" (WWW 2018):
  - input: each user's training row, L2-normalised, then dropout (training only);
  - Mult-VAE: encoder I -> dims[:-1] -> 2 x dims[-1] (mean, log-variance), z = m + e^{s/2} eps in
    training and z = m at prediction, decoder dims[-1] -> reversed hidden dims -> I; tanh after every
    hidden layer; loss = multinomial NLL (batch mean) + beta * batch-mean KL with
    beta = min(cap, updates / anneal_steps) (cap when anneal_steps = 0);
  - Mult-DAE: I -> dims -> mirrored dims -> I, tanh after every layer but the last; loss =
    multinomial NLL + lambda * sum of squared weights (biases excluded), lambda = 0.01 / batch size
    unless --weight-decay says otherwise;
  - weights Xavier-normal, biases N(0, 0.001^2); Adam.
DiffRec's protocol on a .npy split (train_list / valid_list / test_list): the model always reads the
training rows; validation masks the training items and measures against valid_list, test masks
training + validation items and measures against test_list; Recall@K = hits / |targets| and NDCG@K
with the ideal DCG over min(K, |targets|), averaged over ALL users (users without targets count 0).
The epoch is selected on validation Recall@20 (strictly greater), evaluated every --eval-every
epochs; training stops at the start of epoch e when e - best_epoch >= --patience. Prints one JSON
document with the best epoch's metrics and the wall times.

    python3 mult_vae_dae_torch.py --model multvae --threads 2 --json vae.json
    python3 mult_vae_dae_torch.py --model multdae --dims 200 --threads 2
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# The .npy loader and the on-device CSR batches of the repository's DiffRec reference.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diffrec_torch import DeviceCsr, load_npy_split  # noqa: E402

KS = (10, 20, 50, 100)


def init_linear(layer):
    torch.nn.init.xavier_normal_(layer.weight)
    torch.nn.init.normal_(layer.bias, 0.0, 0.001)
    return layer


def chain(widths):
    return torch.nn.ModuleList(init_linear(torch.nn.Linear(widths[i], widths[i + 1]))
                               for i in range(len(widths) - 1))


def run_chain(layers, h):
    for i, layer in enumerate(layers):
        h = layer(h)
        if i + 1 < len(layers):
            h = torch.tanh(h)
    return h


class MultVAE(torch.nn.Module):
    def __init__(self, items, dims, dropout):
        super().__init__()
        self.latent = dims[-1]
        self.encoder = chain([items] + list(dims[:-1]) + [2 * dims[-1]])
        self.decoder = chain(list(reversed(dims)) + [items])
        self.dropout = dropout

    def forward(self, x):
        h = F.dropout(F.normalize(x), self.dropout, training=self.training)
        h = run_chain(self.encoder, h)
        mu, logvar = h[:, :self.latent], h[:, self.latent:]
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        kl = torch.mean(torch.sum(0.5 * (-logvar + torch.exp(logvar) + mu ** 2 - 1), dim=1))
        return run_chain(self.decoder, z), kl


class MultDAE(torch.nn.Module):
    def __init__(self, items, dims, dropout):
        super().__init__()
        self.layers = chain([items] + list(dims) + list(reversed(dims[:-1])) + [items])
        self.dropout = dropout

    def forward(self, x):
        h = F.dropout(F.normalize(x), self.dropout, training=self.training)
        return run_chain(self.layers, h), None

    def l2(self):
        return sum(torch.sum(layer.weight ** 2) for layer in self.layers)


def multinomial_nll(logits, x):
    return -torch.mean(torch.sum(F.log_softmax(logits, dim=1) * x, dim=1))


def ranking_metrics(top, truth, users):
    """Recall@K and NDCG@K summed over `users` (rows of `top`), DiffRec's definitions."""
    indptr, indices = truth["indptr"], truth["indices"]
    discount = 1.0 / np.log2(np.arange(2, max(KS) + 2))
    sums = {f"{m}@{k}": 0.0 for m in ("recall", "ndcg") for k in KS}
    for row, u in enumerate(users):
        target = indices[indptr[u]:indptr[u + 1]]
        if target.size == 0:
            continue
        hit = np.isin(top[row], target)
        for k in KS:
            hits = hit[:k]
            sums[f"recall@{k}"] += hits.sum() / target.size
            sums[f"ndcg@{k}"] += discount[:k][hits].sum() / discount[:min(k, target.size)].sum()
    return sums


@torch.no_grad()
def evaluate(model, split, train, valid, batch):
    model.eval()
    users = split["train"]["users"]
    tops = {"valid": [], "test": []}
    for begin in range(0, users, batch):
        ids = torch.arange(begin, min(users, begin + batch))
        x = train.dense(ids)
        scores, _ = model(x)
        scores[x > 0] = -float("inf")
        tops["valid"].append(torch.topk(scores, max(KS), dim=1).indices.numpy())
        scores[valid.dense(ids) > 0] = -float("inf")
        tops["test"].append(torch.topk(scores, max(KS), dim=1).indices.numpy())
    out = {}
    for part in ("valid", "test"):
        sums = ranking_metrics(np.concatenate(tops[part]), split[part], range(users))
        out[part] = {name: value / users for name, value in sums.items()}  # mean over ALL users
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(
        os.environ.get("RECDIFF_DATA_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "..", "..", "..", "shared", "data")),
        "ml-1m_clean"))
    parser.add_argument("--model", choices=["multvae", "multdae"], default="multvae")
    parser.add_argument("--dims", default=None,
                        help="multvae: hidden widths then latent (default 600,200); multdae: "
                             "encoder widths (default 200)")
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--weight-decay", type=float, default=None,
                        help="lambda of lambda * sum W^2 (default: multdae 0.01 / batch size, "
                             "multvae 0)")
    parser.add_argument("--beta-cap", type=float, default=0.2)
    parser.add_argument("--anneal-steps", type=int, default=200000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--eval-every", type=int, default=1)
    parser.add_argument("--eval-batch", type=int, default=1024)
    parser.add_argument("--json", help="also write the JSON document to this file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_load = time.perf_counter()
    split = load_npy_split(args.data)
    load_seconds = time.perf_counter() - t_load
    users, items = split["train"]["users"], split["train"]["items"]
    train = DeviceCsr(split["train"], torch.device("cpu"))
    valid = DeviceCsr(split["valid"], torch.device("cpu"))
    default_dims = "600,200" if args.model == "multvae" else "200"
    dims = [int(d) for d in (args.dims or default_dims).split(",")]
    if args.model == "multvae":
        model = MultVAE(items, dims, args.dropout)
        lam = args.weight_decay if args.weight_decay is not None else 0.0
    else:
        model = MultDAE(items, dims, args.dropout)
        lam = args.weight_decay if args.weight_decay is not None else 0.01 / args.batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    def l2():
        if args.model == "multdae":
            return model.l2()
        weights = [layer.weight for layer in list(model.encoder) + list(model.decoder)]
        return sum(torch.sum(w ** 2) for w in weights)

    updates, best_epoch, best_score, best = 0, 0, -1.0, None
    history, epoch_seconds, eval_seconds = [], [], []
    t_start = time.perf_counter()
    epochs_run = 0
    for epoch in range(1, args.epochs + 1):
        if best is not None and epoch - best_epoch >= args.patience:
            break
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(users)
        total, batches = 0.0, 0
        for begin in range(0, users, args.batch_size):
            x = train.dense(order[begin:begin + args.batch_size])
            logits, kl = model(x)
            loss = multinomial_nll(logits, x)
            if kl is not None:
                beta = (min(args.beta_cap, updates / args.anneal_steps) if args.anneal_steps > 0
                        else args.beta_cap)
                loss = loss + beta * kl
            if lam > 0:
                loss = loss + lam * l2()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            updates += 1
            total += float(loss.detach())
            batches += 1
        epoch_seconds.append(time.perf_counter() - t0)
        epochs_run = epoch
        line = f"epoch {epoch:4d} | loss {total / batches:.6g} | train {epoch_seconds[-1]:.2f} s"
        if epoch % args.eval_every == 0:
            t1 = time.perf_counter()
            result = evaluate(model, split, train, valid, args.eval_batch)
            eval_seconds.append(time.perf_counter() - t1)
            score = result["valid"]["recall@20"]
            line += (f" | eval {eval_seconds[-1]:.2f} s | valid R@20 {score:.4f} | test R@20 "
                     f"{result['test']['recall@20']:.4f} N@20 {result['test']['ndcg@20']:.4f}")
            history.append({"epoch": epoch, "valid_recall@20": score,
                            "test_recall@20": result["test"]["recall@20"]})
            if score > best_score:
                best_score, best_epoch, best = score, epoch, result
                line += " *"
        print(line, file=sys.stderr, flush=True)
    wall = time.perf_counter() - t_start

    doc = {
        "benchmark": "mult_vae_dae_torch", "model": args.model, "torch_version": torch.__version__,
        "threads": torch.get_num_threads(), "data": os.path.abspath(args.data),
        "users": users, "items": items,
        "config": {"dims": dims, "dropout": args.dropout, "lr": args.lr,
                   "batch_size": args.batch_size, "weight_decay": lam,
                   "beta_cap": args.beta_cap if args.model == "multvae" else None,
                   "anneal_steps": args.anneal_steps if args.model == "multvae" else None,
                   "seed": args.seed, "patience": args.patience, "eval_every": args.eval_every},
        "best_epoch": best_epoch, "epochs_run": epochs_run, "updates": updates,
        "valid": best["valid"] if best else None, "test": best["test"] if best else None,
        "load_seconds": load_seconds, "wall_seconds": wall,
        "seconds_per_epoch": float(np.mean(epoch_seconds)) if epoch_seconds else 0.0,
        "seconds_per_eval": float(np.mean(eval_seconds)) if eval_seconds else 0.0,
        "history": history,
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
