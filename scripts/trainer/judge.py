"""Trains the judge's digit classifier: a small CNN on single MNIST images of the *train* split
only, evaluated on the test split. Independent of the UniVid model; the Rust judge runs it.

    python3 scripts/trainer/judge.py --binary target/release/univid --out models/judge
"""
import argparse
import json
import os
import subprocess
import tempfile
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from data import default_binary


class DigitNet(nn.Module):
    """28x28 -> conv 16 -> pool -> conv 32 -> pool -> fc 128 -> 10 (names match crate/src/judge/)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):  # (B, 1, 28, 28) in [0, 1]
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def load_split(binary, split):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits.bin")
        subprocess.run([binary, "digits", "--split", split, "--out", path], check=True)
        raw = open(path, "rb").read()
    images, labels, at = [], [], 1
    for digit in range(10):
        count = int.from_bytes(raw[at:at + 2], "little")
        at += 2
        block = np.frombuffer(raw[at:at + count * 784], dtype=np.uint8).reshape(count, 28, 28)
        at += count * 784
        images.append(block)
        labels += [digit] * count
    return torch.from_numpy(np.concatenate(images)).float()[:, None] / 255.0, torch.tensor(labels)


def shift(x, max_shift=2):
    """Random translation: the judge sees crops centred on a tracked blob, never exactly."""
    dx, dy = np.random.randint(-max_shift, max_shift + 1, size=2)
    return torch.roll(x, shifts=(int(dy), int(dx)), dims=(2, 3))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=default_binary())
    p.add_argument("--out", default="models/judge")
    p.add_argument("--epochs", type=int, default=6)
    args = p.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    train_x, train_y = load_split(args.binary, "train")
    test_x, test_y = load_split(args.binary, "test")
    net = DigitNet()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3)
    steps = args.epochs * (len(train_x) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for epoch in range(args.epochs):
        order = torch.randperm(len(train_x))
        for i in range(0, len(order) - 63, 64):
            idx = order[i:i + 64]
            loss = F.cross_entropy(net(shift(train_x[idx])), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            acc = (net(test_x).argmax(1) == test_y).float().mean().item()
        print(json.dumps({"epoch": epoch + 1, "loss": round(loss.item(), 4), "test_accuracy": round(acc, 4)}), flush=True)
    os.makedirs(args.out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, os.path.join(args.out, "classifier.safetensors"))
    with open(os.path.join(args.out, "classifier.json"), "w") as f:
        json.dump({"train_images": len(train_x), "test_images": len(test_x), "test_accuracy": acc,
                   "epochs": args.epochs, "command": "python3 scripts/trainer/judge.py"}, f, indent=2)


if __name__ == "__main__":
    main()
