"""Design probe (f), text -> video half: object slots drawn by translation (see sprite_path.py).
Not part of the product.

  1. the product's trunk reads [generate + prompt] (frozen, shipped weights);
  2. two slot queries read the prompt's states: slot k is the prompt's k-th digit clause;
  3. per slot: is it there, its velocity (px per frame), and its glyph, sampled by a small
     rectified-flow U-Net on 28x28 conditioned on the slot (clean-sample prediction, v-loss,
     as the product's sampler);
  4. the first frame's centre is drawn uniformly (the world's own start distribution), and a
     learnt dynamics MLP carries (centre, velocity) to the 20 centres, bounces included;
  5. frames are the glyphs pasted at the centres (max where they overlap).
Each step trains on its new clips and three earlier batches replayed (the heads need more updates
than the clips give: a glyph generator ~10^4 steps; measured for the dynamics in sprite_path.py).
Trained on the `training` world's train split (1-2 digits): glyphs are the digits' bitmaps read
from the clip (per-pixel minimum of the 20 crops at the world's corners), velocities and centres
from the world. Judged with the product's judge (`univid judge`, a GIF per prompt) on prompts from
the test split's captions: one-digit and two-digit, one sample each, `--steps` Euler steps.

  python3 scripts/trainer/probes/sprite_text.py --clips 20000 --eval-every 5000 --prompts 100 --warm models/univid-small --out LOG.jsonl
"""
import argparse
import json
import math
import os
import subprocess
import tempfile
import time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import common  # noqa: F401  (the trainer's modules on the path)
from data import RecordStream, default_binary  # noqa: E402
from model import ModelConfig, UniVid, segment_mask, GENERATE, TEXT  # noqa: E402
from tasks import gate_ids, prompts, text_width  # noqa: E402
from sprite_path import SIDE, HALF, paste  # noqa: E402
from checkpoint import load_model  # noqa: E402

SPEED = 3.6  # px per frame: the world's 0.1 of the free range (64 - 28)
FRAMES = 20
LOW, HIGH = HALF, 64 - 1 - HALF  # a centre's range


def velocities(rec):
    """(B, 2, 2) px per frame from the world's compass motion ids (0 = right, counter-clockwise, y up)."""
    ids = torch.from_numpy(rec["motions"][:, :2].astype("float32"))
    theta = ids * math.pi / 4
    return torch.stack([torch.cos(theta), -torch.sin(theta)], -1) * SPEED


def glyphs(rec):
    """The digits' bitmaps (B, 2, 28, 28) in [0, 1]: per-pixel minimum over the 20 frames' crops."""
    pixels = rec["pixels"]
    out = np.zeros((len(rec), 2, SIDE, SIDE), np.uint8)
    for i in range(len(rec)):
        for k in range(int(rec["count"][i])):
            crops = [pixels[i, f, y:y + SIDE, x:x + SIDE] for f, (x, y) in enumerate(rec["corners"][i, :, k])]
            out[i, k] = np.min(crops, 0)
    return torch.from_numpy(out).float() / 255


class GlyphFlow(nn.Module):
    """28x28 rectified flow conditioned on a slot state: a two-level U-Net with FiLM from
    (slot, flow time); predicts the clean glyph."""

    def __init__(self, d, c=48):
        super().__init__()
        self.cond = nn.Sequential(nn.Linear(d + 64, 256), nn.GELU(), nn.Linear(256, 2 * (c + 2 * c + 2 * c + c)))
        self.c = c
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.down = nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)  # 28 -> 14
        self.mid = nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.up = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1)  # 14 -> 28
        self.mix = nn.Conv2d(2 * c, c, 3, padding=1)
        self.out = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x, t, slot):
        half = 32
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        tf = torch.cat([torch.cos(t[:, None] * 1000 * freqs), torch.sin(t[:, None] * 1000 * freqs)], -1)
        film = self.cond(torch.cat([slot, tf], -1))
        c = self.c
        sizes = [c, 2 * c, 2 * c, c]
        parts = torch.split(film, [2 * s for s in sizes], -1)

        def mod(h, p):
            scale, shift = p.chunk(2, -1)
            return h * (1 + scale[:, :, None, None]) + shift[:, :, None, None]

        h0 = F.gelu(mod(self.inp(x[:, None]), parts[0]))
        h1 = F.gelu(mod(self.down(h0), parts[1]))
        h1 = h1 + F.gelu(mod(self.mid(h1), parts[2]))
        u = F.gelu(self.up(h1))
        u = F.gelu(mod(self.mix(torch.cat([u, h0], 1)), parts[3]))
        return self.out(u)[:, 0]  # clean glyph estimate in [-1, 1] units


class TextSprites(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_model
        self.net = UniVid(cfg)
        self.net.requires_grad_(False)
        self.queries = nn.Parameter(torch.randn(2, d) * 0.02)
        layer = nn.TransformerDecoderLayer(d, 4, 512, dropout=0.0, batch_first=True, norm_first=True)
        self.slots = nn.TransformerDecoder(layer, 2)
        self.present = nn.Linear(d, 1)
        self.velocity = nn.Linear(d, 2)
        self.dynamics = nn.Sequential(nn.Linear(4, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(), nn.Linear(256, FRAMES * 2))
        self.glyph = GlyphFlow(d)

    def read(self, words, pad):
        """words (B, n) padded with `pad` -> slot states (B, 2, D)."""
        net = self.net
        b = words.shape[0]
        with torch.no_grad():
            x = net.embed_text(torch.full((b,), GENERATE), words)
            real = torch.cat([torch.ones(b, 1, dtype=torch.bool), words != pad], 1)
            h = net.trunk(x, segment_mask([(x.shape[1], TEXT, [0])], key_padding=real), gate_ids([(x.shape[1], GENERATE, TEXT)]))
        return self.slots(self.queries.expand(b, -1, -1), h, memory_key_padding_mask=~real)

    def trajectory(self, start, velocity):
        """start centres (N, 2) and velocities (N, 2) px -> centres (N, 20, 2): a straight line plus
        a learnt correction (the walls)."""
        x = torch.cat([start / 64 - 0.5, velocity / SPEED], -1)
        line = start[:, None] + velocity[:, None] * torch.arange(FRAMES, dtype=torch.float32)[None, :, None]
        return line + self.dynamics(x).reshape(-1, FRAMES, 2) * 16


def targets(rec, vocab):
    """What one batch of records teaches, as tensors that earlier batches can be replayed with."""
    words = prompts(rec, vocab)
    return {"words": F.pad(words, (0, rec["caption"].shape[1] - words.shape[1]), value=vocab.pad),
            "there": torch.from_numpy(rec["count"].astype("int64"))[:, None] > torch.arange(2)[None],  # (B, 2)
            "centre": torch.from_numpy(rec["corners"][:, :, :2].astype("float32")).permute(0, 2, 1, 3) + HALF,  # (B, 2, 20, 2)
            "velocity": velocities(rec), "glyph": glyphs(rec)}


def loss(model, batch, pad):
    words = batch["words"][:, :text_width(pad, batch["words"])]
    state = model.read(words, pad)
    there, centre, v = batch["there"], batch["centre"], batch["velocity"]
    presence = F.binary_cross_entropy_with_logits(model.present(state)[..., 0], there.float())
    vel = (model.velocity(state) - v).abs().sum(-1)[there].mean()
    path = model.trajectory(centre[:, :, 0][there], v[there])
    dyn = (path - centre[there]).abs().mean()
    x0 = batch["glyph"][there] * 2 - 1
    slot = state[there]
    t = torch.sigmoid(torch.randn(x0.shape[0]))
    eps = torch.randn_like(x0)
    xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
    guess = model.glyph(xt, t, slot)
    flow = (((xt - guess) / t.clamp(min=0.05)[:, None, None] - (eps - x0)) ** 2).mean()
    return presence + vel + dyn + flow, {"presence": presence.item(), "velocity_px": vel.item(), "dynamics_px": dyn.item(), "flow": flow.item()}


@torch.no_grad()
def sample(model, words, pad, steps, generator):
    """One clip per prompt: (B, 20, 64, 64) in [0, 1]."""
    state = model.read(words, pad)
    b = words.shape[0]
    x = torch.randn(b * 2, SIDE, SIDE, generator=generator)
    slot = state.flatten(0, 1)
    for i in range(steps):
        t, t_next = 1 - i / steps, 1 - (i + 1) / steps
        guess = model.glyph(x, torch.full((b * 2,), t), slot).clamp(-1, 1)
        x = guess + (x - guess) * (t_next / t)  # Euler on the velocity (x - x0) / t
    glyph = (x.clamp(-1, 1) + 1) / 2
    start = LOW + torch.rand(b * 2, 2, generator=generator) * (HIGH - LOW)
    path = model.trajectory(start, model.velocity(slot))  # (2B, 20, 2)
    frames = paste(glyph[:, None].expand(-1, FRAMES, SIDE, SIDE).reshape(-1, SIDE, SIDE), path.reshape(-1, 2))
    frames = frames.reshape(b, 2, FRAMES, 64, 64)
    there = (model.present(state)[..., 0] > 0).float()[:, :, None, None, None]
    return (frames * there).max(1).values


def judge(binary, clips, captions, classifier):
    """Fraction of prompts whose every element the judge finds, and per-element digit / motion rates."""
    from PIL import Image  # Pillow writes the GIFs the judge reads (this probe only: pip install pillow)
    faithful, digit, motion, elements = 0, 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (clip, caption) in enumerate(zip(clips, captions)):
            path = os.path.join(tmp, f"{i}.gif")
            frames = [Image.fromarray((f.numpy() * 255).round().astype(np.uint8)) for f in clip]
            frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
            out = subprocess.run([binary, "judge", "--classifier", classifier, "--caption", caption, path],
                                 capture_output=True, text=True, check=True).stdout
            report = json.loads(out)
            faithful += report["faithful"]
            for e in report["elements"]:
                elements += 1
                digit += e["digit_shown"]
                motion += e["motion_shown"]
    n = len(captions)
    return {"faithful": round(faithful / n, 3), "digit": round(digit / elements, 3), "motion": round(motion / elements, 3)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=20000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=5000)
    p.add_argument("--prompts", type=int, default=100, help="per kind (one-digit, two-digit)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warm", required=True)
    p.add_argument("--classifier", default="models/judge/classifier.safetensors")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--binary", default=default_binary())
    args = p.parse_args()
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = ModelConfig.preset("small")
    model = TextSprites(cfg)
    model.net.load_state_dict(load_model(args.warm).state_dict())  # the shipped trunk, checked as checkpoint loads it
    test = RecordStream(args.binary, "test", "training", seed=0)
    vocab = test.vocabulary
    pool = test.batch(max(8 * args.prompts, 400))
    test.close()
    sets = {}
    for kind, count in (("one_digit", 1), ("two_digit", 2)):
        rec = pool[pool["count"] == count][:args.prompts]
        words = prompts(rec, vocab)
        sets[kind] = (words, [vocab.text(row) for row in words.tolist()])
    train = RecordStream(args.binary, "train", "training", seed=args.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    write = common.Log(args.out).write

    def evaluate():
        model.eval()
        row = {}
        for kind, (words, captions) in sets.items():
            for steps in (1, args.steps):
                clips = sample(model, words, vocab.pad, steps, torch.Generator().manual_seed(0))
                row |= {f"{kind}_{k}_steps{steps}": v for k, v in judge(args.binary, clips, captions, args.classifier).items()}
        model.train()
        return row

    write({"candidate": "sprites_text", "trainable_params": sum(p.numel() for p in trainable), "warm": args.warm,
           "batch": args.batch, "lr": args.lr, "example_prompt": sets["one_digit"][1][0]})
    seen, step, parts, replay, start = 0, 0, [], [], time.time()
    while seen < args.clips:
        replay = replay[-300:] + [targets(train.batch(args.batch), vocab)]
        chosen = [replay[-1]] + [replay[i] for i in np.random.randint(0, len(replay), 3)]
        value, part = loss(model, {k: torch.cat([b[k] for b in chosen]) for k in chosen[0]}, vocab.pad)
        value.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        parts.append(part)
        seen += args.batch
        step += 1
        if seen % args.eval_every < args.batch or seen >= args.clips:
            elapsed = time.time() - start
            mean = {k: round(sum(p[k] for p in parts) / len(parts), 3) for k in parts[0]}
            parts = []
            write({"clips": seen, "seconds": round(elapsed), "clips_per_s": round(seen / elapsed, 1)} | mean | evaluate())
    torch.save({k: v for k, v in model.state_dict().items() if not k.startswith("net.")}, args.out + ".heads.pt")
    from PIL import Image
    # a strip to look at: 8 one-digit and 8 two-digit prompts, frames 0, 6, 12, 19 of each
    model.eval()
    rows = [sample(model, words[:8], vocab.pad, args.steps, torch.Generator().manual_seed(1))[:, [0, 6, 12, 19]]
            for words, _ in sets.values()]
    strip = torch.cat(rows).permute(0, 2, 1, 3).flatten(0, 1).flatten(1)  # a row per prompt, 4 frames across
    Image.fromarray((strip.numpy() * 255).round().astype(np.uint8)).save(args.out + ".png")
    with open(args.out + ".prompts.txt", "w") as f:
        f.write("\n".join(c for _, captions in sets.values() for c in captions[:8]) + "\n")
    train.close()


if __name__ == "__main__":
    main()
