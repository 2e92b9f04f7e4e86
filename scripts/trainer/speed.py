"""Measures training throughput (clips/s: one understand + generate + continue micro-batch per
step) on clips of the record stream (needs the univid CLI: CARGO_TARGET_DIR). Each argument is
`d,layers,heads,hidden,tubelet,bf16`:

    python3 scripts/trainer/speed.py 256,6,8,512,16,0 256,6,8,512,16,1 192,6,6,384,8,0
"""
import sys
import time
import numpy as np
import torch
from model import ModelConfig, UniVid
from tasks import Recipe, understand_loss, generate_loss, continue_loss
from data import RecordStream, default_binary


def main(stream, d, layers, heads, hidden, tubelet, bf16, batch=8, steps=3):
    cfg = ModelConfig(d_model=d, layers=layers, heads=heads, expert_hidden=hidden, tubelet_hw=tubelet,
                      vocab=len(stream.vocabulary))
    recipe = Recipe(stream.vocabulary)
    model = UniVid(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    times = []
    for i in range(steps + 1):
        t0 = time.time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(bf16)):
            losses = {**understand_loss(model, stream.batch(batch), recipe), **generate_loss(model, stream.batch(batch), recipe),
                      **continue_loss(model, stream.batch(batch), recipe)}
        sum(losses.values()).backward()
        opt.step(); opt.zero_grad()
        if i:
            times.append(time.time() - t0)
    print(f"d={d} L={layers} tubelet={tubelet} bf16={bool(bf16)} params={params:.2f}M  {3 * batch / np.median(times):.1f} clips/s  losses={ {k: round(v.item(), 3) for k, v in losses.items()} }")


if __name__ == "__main__":
    records = RecordStream(default_binary(), "train", "training", seed=0)
    for spec in sys.argv[1:]:
        main(records, *map(int, spec.split(",")))
    records.close()
