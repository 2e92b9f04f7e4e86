"""Measures training throughput (clips/s: one understand + generate + continue micro-batch per
step) on random clips, no data stream needed. Each argument is `d,layers,heads,hidden,tubelet,bf16`:

    python3 scripts/trainer/speed.py 256,6,8,512,16,0 256,6,8,512,16,1 192,6,6,384,8,0
"""
import sys
import time
import numpy as np
import torch
from model import ModelConfig, UniVid
from tasks import understand_loss, generate_loss, continue_loss
from data import parse_records

layout = {"frames": 20, "size": 64, "text_len": 32, "slots": 3, "record_bytes": 20 * 64 * 64 + 1 + 12 + 2 + 128 + 20 * 3 * 2}


def fake(n):
    raw = np.random.randint(0, 255, size=n * layout["record_bytes"], dtype=np.uint8).tobytes()
    rec = parse_records(raw, layout).copy()
    rec["count"] = 2
    rec["digits"] = [3, 7, 255]
    # "digit 3 moves up while digit 7 moves left": a caption the retrieval queries can split.
    caption = [1, 3, 7, 14, 16, 23, 3, 11, 14, 18, 2]
    rec["caption"] = 0
    rec["caption"][:, :len(caption)] = caption
    rec["motions"] = [2, 4, 255]
    rec["qa"] = np.random.randint(3, 40, size=rec["qa"].shape)  # every question slot
    rec["answer_at"] = 8
    return rec


def main(d, layers, heads, hidden, tubelet, bf16, batch=8, steps=3):
    cfg = ModelConfig(d_model=d, layers=layers, heads=heads, expert_hidden=hidden, tubelet_hw=tubelet)
    model = UniVid(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    times = []
    for i in range(steps + 1):
        t0 = time.time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(bf16)):
            losses = {**understand_loss(model, fake(batch)), **generate_loss(model, fake(batch)), **continue_loss(model, fake(batch))}
        sum(losses.values()).backward()
        opt.step(); opt.zero_grad()
        if i:
            times.append(time.time() - t0)
    print(f"d={d} L={layers} tubelet={tubelet} bf16={bool(bf16)} params={params:.2f}M  {3 * batch / np.median(times):.1f} clips/s  losses={ {k: round(v.item(), 3) for k, v in losses.items()} }")


if __name__ == "__main__":
    for spec in sys.argv[1:]:
        main(*map(int, spec.split(",")))
