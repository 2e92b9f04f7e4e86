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
    """28x28 -> conv c1 -> pool -> conv c2 -> pool -> fc hidden -> 10 (names match
    crate/src/tools/judge/, which reads the widths from the file)."""

    def __init__(self, c1=32, c2=64, hidden=256):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc1 = nn.Linear(c2 * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):  # (B, 1, 28, 28) in [0, 1]
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.dropout(F.relu(self.fc1(x.flatten(1))), 0.3, self.training))


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


INK = 32 / 255.0  # the tracker's ink threshold (crate/src/tools/judge/tracker.rs)


def neighbour(x, pool, rng=np.random, min_distance=12, max_distance=30):
    """The crop the judge takes next to another digit: a second train-split digit placed at a
    tracked-crop distance (the judge reads frames where centres are >= 22 px apart), pixel-wise max
    as in the clips, then the tracker's cut: ink nearer the other centre is dropped. What is left is
    the digit minus a slice, plus fragments of its neighbour on this side of the bisector."""
    out = x.clone()
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    for i in range(len(x)):
        other = pool[rng.randint(len(pool))][0]
        angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(min_distance, max_distance)
        dx, dy = int(round(distance * np.cos(angle))), int(round(distance * np.sin(angle)))
        placed = torch.zeros(28, 28)
        ys, xs = slice(max(0, dy), min(28, 28 + dy)), slice(max(0, dx), min(28, 28 + dx))
        if abs(dx) < 28 and abs(dy) < 28:  # else the neighbour lies wholly outside this crop
            placed[ys, xs] = other[max(0, -dy):28 - max(0, dy), max(0, -dx):28 - max(0, dx)]
        merged = torch.maximum(out[i, 0], placed)
        nearer_other = (xx - 13.5 - dx) ** 2 + (yy - 13.5 - dy) ** 2 < (xx - 13.5) ** 2 + (yy - 13.5) ** 2
        merged[(merged >= INK) & nearer_other] = 0.0
        out[i, 0] = merged
    return out


def distort(x, max_degrees=12, max_scale=0.12):
    """Small random rotation and scaling: handwriting varies more than 8 000 images show."""
    b = len(x)
    angle = torch.empty(b).uniform_(-max_degrees, max_degrees) * np.pi / 180
    scale = 1 + torch.empty(b).uniform_(-max_scale, max_scale)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(b)], 1), torch.stack([sin, cos, torch.zeros(b)], 1)], 1)
    return F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=False), align_corners=False)


def augment(x, pool, neighbour_share=0.5):
    x = shift(distort(x))
    crowded = torch.rand(len(x)) < neighbour_share
    if crowded.any():
        x[crowded] = neighbour(x[crowded], pool)
    return x


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=default_binary())
    p.add_argument("--out", default="models/judge")
    p.add_argument("--epochs", type=int, default=20)
    args = p.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    train_x, train_y = load_split(args.binary, "train")
    test_x, test_y = load_split(args.binary, "test")
    # Test digits next to other test digits, cut as the tracker cuts (fixed for the whole run).
    crowded_test = neighbour(test_x, test_x, np.random.RandomState(1))
    net = DigitNet()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3)
    steps = args.epochs * (len(train_x) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for epoch in range(args.epochs):
        order = torch.randperm(len(train_x))
        net.train()
        for i in range(0, len(order) - 63, 64):
            idx = order[i:i + 64]
            loss = F.cross_entropy(net(augment(train_x[idx], train_x)), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            acc = (net(test_x).argmax(1) == test_y).float().mean().item()
            crowded_acc = (net(crowded_test).argmax(1) == test_y).float().mean().item()
        print(json.dumps({"epoch": epoch + 1, "loss": round(loss.item(), 4), "test_accuracy": round(acc, 4),
                          "crowded_test_accuracy": round(crowded_acc, 4)}), flush=True)
    os.makedirs(args.out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, os.path.join(args.out, "classifier.safetensors"))
    with open(os.path.join(args.out, "classifier.json"), "w") as f:
        json.dump({"train_images": len(train_x), "test_images": len(test_x), "test_accuracy": acc,
                   "crowded_test_accuracy": crowded_acc, "epochs": args.epochs, "command": "python3 scripts/trainer/judge.py"}, f, indent=2)


if __name__ == "__main__":
    main()
