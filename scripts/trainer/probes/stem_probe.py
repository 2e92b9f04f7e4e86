"""How well the conv stem alone recognises digits, for a given number of context convs.

Trains the twin's VideoStem from scratch, with a linear head saying which digit is centred in each
tubelet (the `stem` loss's target), then reports that accuracy on test clips (unseen handwriting).

  python3 scripts/trainer/probes/stem_probe.py --steps 600 --contexts 0,2

Why it exists: the three strided convs see 15 px and the tubelet projection 23 px, less than a
28 px digit; the residual context convs (ModelConfig.stem_context) widen that to 55 px.
"""
import argparse
import time
import torch
import torch.nn as nn
import torch.nn.functional as F
import common  # noqa: F401  (the trainer's modules on the path)
from data import RecordStream, default_binary
from model import ModelConfig, VideoStem
from tasks import to_video, locate_targets


def per_tubelet_logits(stem, head, rec, cfg):
    return head(stem(to_video(rec["pixels"]), cfg))  # (B, N, 10)


def train_and_test(context, args):
    torch.manual_seed(0)
    cfg = ModelConfig(stem_context=context)
    stem, head = VideoStem(cfg), nn.Linear(cfg.d_model, 10)
    opt = torch.optim.AdamW([*stem.parameters(), *head.parameters()], lr=args.lr)
    train = RecordStream(args.binary, "train", "training", seed=1)
    started = time.time()
    for step in range(1, args.steps + 1):
        rec = train.batch(args.batch)
        has, identity, _ = locate_targets(rec, cfg)
        loss = F.cross_entropy(per_tubelet_logits(stem, head, rec, cfg)[has], identity[has])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"context {context} step {step}: loss {loss.item():.3f} ({time.time() - started:.0f} s)", flush=True)
    train.close()
    test = RecordStream(args.binary, "test", "training", seed=7)
    right = total = 0
    with torch.no_grad():
        for _ in range(args.test_batches):
            rec = test.batch(args.batch)
            has, identity, _ = locate_targets(rec, cfg)
            predicted = per_tubelet_logits(stem, head, rec, cfg).argmax(-1)
            right += (predicted[has] == identity[has]).sum().item()
            total += has.sum().item()
    test.close()
    return right / total, total


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contexts", default="0,2", help="comma-separated numbers of context convs to compare")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--test-batches", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--binary", default=default_binary())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for context in map(int, args.contexts.split(",")):
        accuracy, tubelets = train_and_test(context, args)
        print(f"context {context}: per-tubelet digit accuracy on test clips {accuracy:.3f} ({tubelets} tubelets)")


if __name__ == "__main__":
    main()
