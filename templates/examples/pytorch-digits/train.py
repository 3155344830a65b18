"""A small MLP on scikit-learn's bundled 8x8 digits (1,797 images, no download), trained with PyTorch.

The hyper-parameters come from the YAML that `mlc run` mounts at $MLC_CONFIG (configs/experiment.yaml, one value of
each swept list per run); each epoch's metrics go to $MLC_RUN_DIR/metrics.jsonl, which `mlc runs --compare` and the
Compare Runs panel read. Outside mlc it runs too: `python train.py configs/experiment.yaml` writes to outputs/.

Under torchrun (`torchrun --standalone --nproc_per_node 2 train.py`) it trains with DistributedDataParallel, gloo on
CPU and NCCL on GPUs: each process takes its share of every batch of the one-process run, so the model and metrics
match that run's, and only rank 0 writes them.
"""
import contextlib
import json
import os
import sys
import time

import torch
import torch.distributed as dist
import yaml
from sklearn.datasets import load_digits
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler


def load_config() -> dict:
    path = os.environ.get("MLC_CONFIG") or (sys.argv[1] if len(sys.argv) > 1 else "configs/experiment.yaml")
    with open(path) as f:
        return yaml.safe_load(f)


def main() -> None:
    cfg = load_config()
    torch.manual_seed(cfg["seed"])
    out_dir = os.environ.get("MLC_RUN_DIR", "outputs")
    os.makedirs(out_dir, exist_ok=True)

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg["seed"]))
    n_val = int(len(x) * cfg["data"]["val_fraction"])
    val, train = order[:n_val], order[n_val:]

    # torchrun sets WORLD_SIZE; without it (or with one process) nothing below touches torch.distributed.
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        local_rank = int(os.environ["LOCAL_RANK"])
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            device = f"cuda:{local_rank}"
        else:
            device = "cpu"
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    else:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    hidden = cfg["model"]["hidden"]
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(device)
    net = DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.SGD(model.parameters(), lr=cfg["optimizer"]["lr"], momentum=cfg["optimizer"]["momentum"])
    loss_fn = nn.CrossEntropyLoss()
    batch = cfg["training"]["batch_size"]
    if batch % world:
        sys.exit(f"training.batch_size {batch} does not split over {world} processes; pick a multiple of {world}.")
    # Each rank takes every world-th position of the epoch's order, so its k-th batch of batch/world images and the
    # other ranks' k-th batches make up the one-process run's k-th batch, and DDP's mean of their gradients is its
    # gradient (when the images do not split evenly, the sampler repeats the first few to even out the last batch).
    # The order itself is the one-process run's: every rank draws the same permutation from the same seed,
    # which is why the sampler does not shuffle (and set_epoch, which only reseeds its shuffle, is not needed).
    sampler = DistributedSampler(range(len(train)), num_replicas=world, rank=rank, shuffle=False) if world > 1 else None
    step = batch // world
    x, y = x.to(device), y.to(device)
    if world > 1:
        print(f"rank {rank} of {world}: {sampler.num_samples} of {len(train)} training images on {device}, lr={cfg['optimizer']['lr']}", flush=True)
    else:
        print(f"{len(train)} training and {len(val)} validation images on {device}, lr={cfg['optimizer']['lr']}", flush=True)

    with open(os.path.join(out_dir, "metrics.jsonl"), "w") if rank == 0 else contextlib.nullcontext() as metrics:
        for epoch in range(1, cfg["training"]["epochs"] + 1):
            started = time.time()
            net.train()
            total = 0.0
            shuffled = train[torch.randperm(len(train))]
            if sampler is not None:
                shuffled = shuffled[list(sampler)]
            for i in range(0, len(shuffled), step):
                idx = shuffled[i : i + step]
                opt.zero_grad()
                loss = loss_fn(net(x[idx]), y[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            seen = len(train)
            if world > 1:
                summed = torch.tensor([total, float(len(shuffled))], dtype=torch.float64, device=device)
                dist.all_reduce(summed)
                total, seen = summed[0].item(), int(summed[1].item())
            if rank != 0:
                continue
            model.eval()
            with torch.no_grad():
                logits = model(x[val])
                val_loss = loss_fn(logits, y[val]).item()
                val_acc = (logits.argmax(1) == y[val]).float().mean().item()
            # Four decimals are all a comparison table needs.
            row = {"step": epoch, "train_loss": round(total / seen, 4), "val_loss": round(val_loss, 4), "val_acc": round(val_acc, 4)}
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()
            print(f"epoch {epoch:2d}  train_loss {row['train_loss']:.4f}  val_loss {val_loss:.4f}  val_acc {val_acc:.4f}  ({time.time() - started:.2f} s)", flush=True)

    if rank == 0:
        torch.save(model.state_dict(), os.path.join(out_dir, "model.pt"))
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
