"""A small MLP on scikit-learn's bundled 8x8 digits (1,797 images, no download), trained with PyTorch.

The hyper-parameters come from the YAML that `mlc run` mounts at $MLC_CONFIG (configs/experiment.yaml, one value of
each swept list per run); each epoch's metrics go to $MLC_RUN_DIR/metrics.jsonl, which `mlc runs --compare` and the
Compare Runs panel read. Outside mlc it runs too: `python train.py configs/experiment.yaml` writes to outputs/.
"""
import json
import os
import sys
import time

import torch
import yaml
from sklearn.datasets import load_digits
from torch import nn


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

    device = "cuda" if torch.cuda.is_available() else "cpu"
    hidden = cfg["model"]["hidden"]
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["optimizer"]["lr"], momentum=cfg["optimizer"]["momentum"])
    loss_fn = nn.CrossEntropyLoss()
    batch = cfg["training"]["batch_size"]
    x, y = x.to(device), y.to(device)
    print(f"{len(train)} training and {len(val)} validation images on {device}, lr={cfg['optimizer']['lr']}", flush=True)

    with open(os.path.join(out_dir, "metrics.jsonl"), "w") as metrics:
        for epoch in range(1, cfg["training"]["epochs"] + 1):
            started = time.time()
            model.train()
            total = 0.0
            shuffled = train[torch.randperm(len(train))]
            for i in range(0, len(shuffled), batch):
                idx = shuffled[i : i + batch]
                opt.zero_grad()
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            model.eval()
            with torch.no_grad():
                logits = model(x[val])
                val_loss = loss_fn(logits, y[val]).item()
                val_acc = (logits.argmax(1) == y[val]).float().mean().item()
            # Four decimals are all a comparison table needs.
            row = {"step": epoch, "train_loss": round(total / len(train), 4), "val_loss": round(val_loss, 4), "val_acc": round(val_acc, 4)}
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()
            print(f"epoch {epoch:2d}  train_loss {row['train_loss']:.4f}  val_loss {val_loss:.4f}  val_acc {val_acc:.4f}  ({time.time() - started:.2f} s)", flush=True)

    torch.save(model.state_dict(), os.path.join(out_dir, "model.pt"))


if __name__ == "__main__":
    main()
