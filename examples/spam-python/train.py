"""Spam / ham logistic regression on hashed word counts: stdlib + numpy, logging through Cairn.

Reads the e-mails under CAIRN_INPUT_TRAIN and CAIRN_INPUT_TEST (one folder per source set:
spam-1, spam-2 are spam; easy-ham-*, hard-ham-* are ham), trains with full-batch gradient
descent, logs loss and test metrics every epoch, checkpoints every 5 epochs (and when told to
stop), resumes from the latest checkpoint, and writes the model to CAIRN_OUTPUT_DIR/model.
"""
import argparse
import json
import os
import re
import zlib

import numpy as np

import cairn_helper as cairn

TOKEN = re.compile(r"[a-z][a-z0-9']{1,20}")


def load(root, features):
    rows, labels = [], []
    for folder in sorted(os.listdir(root)):
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        label = 1 if folder.startswith("spam") else 0
        for name in sorted(os.listdir(path)):
            if not name.endswith(".txt"):
                continue
            with open(os.path.join(path, name), encoding="utf-8", errors="replace") as f:
                text = f.read().lower()
            x = np.zeros(features, dtype=np.float32)
            for tok in TOKEN.findall(text):
                x[zlib.crc32(tok.encode()) % features] += 1.0
            rows.append(np.log1p(x))
            labels.append(label)
    return np.array(rows), np.array(labels, dtype=np.float32)


def metrics(w, b, x, y):
    p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    pred = (p >= 0.5).astype(np.float32)
    tp = float(((pred == 1) & (y == 1)).sum())
    fp = float(((pred == 1) & (y == 0)).sum())
    fn = float(((pred == 0) & (y == 1)).sum())
    eps = 1e-12
    loss = float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
    precision = tp / max(tp + fp, 1.0)
    recall = tp / max(tp + fn, 1.0)
    return {
        "loss": loss,
        "accuracy": float((pred == y).mean()),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / max(precision + recall, eps),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--features", type=int, default=4096)
    a = ap.parse_args()
    cairn.log_params({"epochs": a.epochs, "lr": a.lr, "features": a.features, "model": "logistic-regression"})
    xtr, ytr = load(cairn.input_path("train"), a.features)
    xte, yte = load(cairn.input_path("test"), a.features)
    cairn.log_params({"train_size": int(len(ytr)), "test_size": int(len(yte)), "spam_share": float(ytr.mean())})
    mu, sd = xtr.mean(axis=0), xtr.std(axis=0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd

    w, b, start = np.zeros(a.features, dtype=np.float64), 0.0, 0
    latest = cairn.latest_checkpoint()
    if latest:
        state = np.load(os.path.join(latest, "state.npz"))
        w, b, start = state["w"], float(state["b"]), int(state["epoch"]) + 1
        print(f"resuming from {latest} at epoch {start}")

    stop = {"now": False}
    cairn.on_preempt(lambda: stop.update(now=True))
    for epoch in range(start, a.epochs):
        p = 1.0 / (1.0 + np.exp(-(xtr @ w + b)))
        grad = p - ytr
        w -= a.lr * (xtr.T @ grad / len(ytr) + 1e-4 * w)
        b -= a.lr * float(grad.mean())
        tr = metrics(w, b, xtr, ytr)
        te = metrics(w, b, xte, yte)
        cairn.log_metrics({"train_loss": tr["loss"], "test_loss": te["loss"], "test_accuracy": te["accuracy"], "test_f1": te["f1"]}, step=epoch)
        if epoch % 5 == 4 or stop["now"] or epoch == a.epochs - 1:
            with cairn.save_checkpoint(epoch) as d:
                np.savez(os.path.join(d, "state.npz"), w=w, b=b, epoch=epoch)
        if stop["now"]:
            print(f"preempted after epoch {epoch}; checkpoint saved")
            raise SystemExit(143)

    final = metrics(w, b, xte, yte)
    out = os.path.join(cairn.output_dir(), "model")
    os.makedirs(out, exist_ok=True)
    np.savez(os.path.join(out, "weights.npz"), w=w, b=b, mu=mu, sd=sd)
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(final, f, indent=2, sort_keys=True)
    print("test", json.dumps(final, sort_keys=True))


if __name__ == "__main__":
    main()
