"""Text -> video by slots: the PyTorch twin of crate/src/model/slots/text.rs (same tensor names; the
parity test keeps them equal). The counterpart of slots.py's continuation: each digit clause of the
prompt becomes a slot with a glyph and a path, and the frames are the glyphs pasted along the paths.
  1. the trunk reads `[generate + prompt]` (text alone); `slots` learned queries read its states
     through a 2-layer transformer decoder: slot k is the prompt's k-th digit clause;
  2. per slot: is it there, its velocity (px per frame) and the condition of its glyph;
  3. the glyph: a 28x28 rectified-flow U-Net (clean-sample prediction, 20 Euler steps) conditioned
     on that condition, with classifier-free guidance against its "no digit" condition: the head
     learns to give the generator's own embedding of the clause's digit;
  4. the path: the first corner drawn uniformly (the world's start distribution), an MLP carries
     (corner, velocity) to the 20 corners, bounces included (trained on paths alone);
  5. frames: each present slot's glyph pasted at its rounded corners; where slots overlap, their maximum.
Design and measurements: the model card, "digits as objects drawn by translation" (probes/sprite_text.py,
probes/glyph_flow.py).

Training (the trunk frozen): the glyph generator on the train split's digit images (10 % of them
with the no-digit condition), the path MLP on paths alone, then the slot reader on prompts:

  python3 scripts/trainer/text_slots.py --model models/univid-small --glyph-steps 3000 --path-steps 20000 --prompt-clips 8000
"""
import json
import math
import os
import time
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from data import RecordStream
from model import ModelConfig, segment_mask, GENERATE, TEXT
from tasks import gate_ids, prompts
from slots import SIDE, corners

COND = 256  # width of a glyph's condition
GLYPH_WIDTH = 32  # the U-Net's first level
PATH_HIDDEN = 256
SPEED = 3.6  # the world's speed in px per frame: the scale velocities are read in
# Glyph values below this are background: the generator's is not exactly black (2-8 of 255), which
# drew a faint square around every digit; MNIST's is exactly 0.
GLYPH_FLOOR = 0.05
PREFIX = "text."
FILE = "text-slots.safetensors"


class GlyphFlow(nn.Module):
    """A three-level U-Net (28 -> 14 -> 7: its 3x3 convs at 7x7 see the whole glyph) whose levels are
    modulated (FiLM) by the condition and the flow time; predicts the clean glyph in [-1, 1]."""

    def __init__(self, c=GLYPH_WIDTH):
        super().__init__()
        self.sizes = [c, 2 * c, 4 * c, 4 * c, 2 * c, c]
        self.cond = nn.Sequential(nn.Linear(COND + 64, 256), nn.GELU(), nn.Linear(256, 2 * sum(self.sizes)))
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.down1 = nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)  # 28 -> 14
        self.down2 = nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1)  # 14 -> 7
        self.mid1 = nn.Conv2d(4 * c, 4 * c, 3, padding=1)
        self.mid2 = nn.Conv2d(4 * c, 4 * c, 3, padding=1)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1)  # 7 -> 14
        self.mix2 = nn.Conv2d(4 * c, 2 * c, 3, padding=1)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1)  # 14 -> 28
        self.mix1 = nn.Conv2d(2 * c, c, 3, padding=1)
        self.out = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x, t, cond):
        """x (N, 28, 28), flow times t (N,), conditions (N, COND) -> clean estimates (N, 28, 28)."""
        freqs = torch.exp(-math.log(10000.0) * torch.arange(32, dtype=torch.float32) / 32)
        tf = torch.cat([torch.cos(t[:, None] * 1000 * freqs), torch.sin(t[:, None] * 1000 * freqs)], -1)
        parts = torch.split(self.cond(torch.cat([cond, tf], -1)), [2 * n for n in self.sizes], -1)

        def mod(h, p):
            scale, shift = p.chunk(2, -1)
            return F.gelu(h * (1 + scale[:, :, None, None]) + shift[:, :, None, None])

        h0 = mod(self.inp(x[:, None]), parts[0])
        h1 = mod(self.down1(h0), parts[1])
        h2 = mod(self.down2(h1), parts[2])
        h2 = h2 + mod(self.mid2(F.gelu(self.mid1(h2))), parts[3])
        u1 = mod(self.mix2(torch.cat([F.gelu(self.up2(h2)), h1], 1)), parts[4])
        u0 = mod(self.mix1(torch.cat([F.gelu(self.up1(u1)), h0], 1)), parts[5])
        return self.out(u0)[:, 0]


def euler_step(flow, x, t, t_next, cond, null=None, guidance=1.0):
    """One Euler step of the clean-sample estimate (the runtime's sampler): with `null` (the no-digit
    condition) and guidance != 1, the estimate moves `guidance` times as far from the unconditioned
    one. Returns (next x, the clamped estimate)."""
    tt = torch.full((len(cond),), t)
    guess = flow(x, tt, cond)
    if null is not None and guidance != 1.0:
        plain = flow(x, tt, null.expand_as(cond))
        guess = plain + guidance * (guess - plain)
    guess = guess.clamp(-1, 1)
    return guess + (x - guess) * (t_next / t), guess


@torch.no_grad()
def sample_glyphs(flow, cond, steps, noise, null=None, guidance=1.0):
    """From noise (N, 28, 28) to glyphs in [0, 1]."""
    x = noise
    for i in range(steps):
        x, _ = euler_step(flow, x, 1 - i / steps, 1 - (i + 1) / steps, cond, null, guidance)
    return (x.clamp(-1, 1) + 1) / 2


class TextSlotHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.queries = nn.Parameter(torch.randn(cfg.slots, d) * 0.02)
        layer = nn.TransformerDecoderLayer(d, max(1, cfg.heads // 2), 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, 2)
        self.present = nn.Linear(d, 1)
        self.velocity = nn.Linear(d, 2)
        self.condition = nn.Linear(d, COND)
        self.path = nn.Sequential(nn.Linear(4, PATH_HIDDEN), nn.GELU(), nn.Linear(PATH_HIDDEN, PATH_HIDDEN), nn.GELU(),
                                  nn.Linear(PATH_HIDDEN, cfg.frames * 2))
        self.glyph = GlyphFlow()
        self.null = nn.Parameter(torch.zeros(COND))  # the no-digit condition guidance pushes away from

    def read(self, net, words, pad=None):
        """words (B, n) (padded with `pad` at the end) -> per slot: presence logit (B, K), velocity
        (B, K, 2) px per frame, glyph condition (B, K, COND)."""
        b = words.shape[0]
        x = net.embed_text(torch.full((b,), GENERATE), words)
        real = torch.ones(b, x.shape[1], dtype=torch.bool)
        if pad is not None:
            real[:, 1:] = words != pad
        h = net.trunk(x, segment_mask([(x.shape[1], TEXT, [0])], key_padding=real if pad is not None else None),
                      gate_ids([(x.shape[1], GENERATE, TEXT)]))
        state = self.decoder(self.queries.expand(b, -1, -1), h, memory_key_padding_mask=None if pad is None else ~real)
        return self.present(state)[..., 0], self.velocity(state) * SPEED, self.condition(state)

    def trajectory(self, start, velocity):
        """First corners (N, 2) and velocities (N, 2) px -> corners (N, F, 2): a straight line plus a
        learnt correction (the walls)."""
        x = torch.cat([start / 64 - 0.5, velocity / SPEED], -1)
        line = start[:, None] + velocity[:, None] * torch.arange(self.cfg.frames, dtype=torch.float32)[None, :, None]
        return line + self.path(x).reshape(-1, self.cfg.frames, 2) * 16

    @torch.no_grad()
    def generate(self, net, words, steps, guidance, noise, start):
        """One prompt's clip (F, S, S) in [0, 1] from the glyph noise (K, 28, 28) and first corners
        (K, 2) the caller drew; also the parts (for the parity test)."""
        present, velocity, cond = (v[0] for v in self.read(net, words[None]))
        glyph = sample_glyphs(self.glyph, cond, steps, noise, self.null[None], guidance)
        path = self.trajectory(start, velocity).round()
        size = self.cfg.size
        frames = torch.zeros(self.cfg.frames, size, size)
        for k in range(len(present)):
            if present[k] > 0:
                inked = torch.where(glyph[k] < GLYPH_FLOOR, torch.zeros_like(glyph[k]), glyph[k])
                frames = torch.maximum(frames, render_one(inked, path[k], size))
        return frames, {"present": present, "velocity": velocity, "condition": cond, "glyph": glyph, "path": path}


def render_one(glyph, corners_, size):
    """A glyph (28, 28) at integer corners (F, 2) -> frames (F, S, S)."""
    out = torch.zeros(len(corners_), size + 2 * SIDE, size + 2 * SIDE)
    for f, (x, y) in enumerate(corners_.long().tolist()):
        if -SIDE < x < size and -SIDE < y < size:
            out[f, y + SIDE:y + 2 * SIDE, x + SIDE:x + 2 * SIDE] = glyph
    return out[:, SIDE:SIDE + size, SIDE:SIDE + size]


# ---- training --------------------------------------------------------------------------------
def velocities(rec, slots):
    """(B, K, 2) px per frame from the world's compass motion ids (0 = right, counter-clockwise, y up)."""
    theta = torch.from_numpy(rec["motions"][:, :slots].astype("float32")) * math.pi / 4
    return torch.stack([torch.cos(theta), -torch.sin(theta)], -1) * SPEED


def train_glyph(head, embed, args, write):
    from judge import load_split
    images, labels = load_split(args.binary, "train")
    x0_all = images[:, 0] * 2 - 1
    params = list(head.glyph.parameters()) + list(embed.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    start = time.time()
    for step in range(1, args.glyph_steps + 1):
        idx = torch.randint(0, len(x0_all), (32,))
        digit = labels[idx].clone()
        digit[torch.rand(32) < 0.1] = 10  # the no-digit condition, for guidance
        x0, cond = x0_all[idx], embed(digit)
        t = torch.sigmoid(torch.randn(32))
        eps = torch.randn_like(x0)
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
        guess = head.glyph(xt, t, cond)
        loss = (((xt - guess) / t.clamp(min=0.05)[:, None, None] - (eps - x0)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == args.glyph_steps:
            write({"stage": "glyph", "step": step, "loss": round(loss.item(), 4), "seconds": round(time.time() - start)})


def train_path(head, args, write):
    stream = RecordStream(args.binary, "train", "training", seed=args.seed + 1)
    starts, vels, paths = [], [], []
    for _ in range(max(1, args.trajectories // 1000)):
        rec = stream.batch(500)
        there = torch.from_numpy(rec["count"].astype("int64"))[:, None] > torch.arange(head.cfg.slots)[None]
        path = corners(rec, head.cfg.slots)[there]
        starts.append(path[:, 0])
        vels.append(velocities(rec, head.cfg.slots)[there])
        paths.append(path)
    stream.close()
    starts, vels, paths = torch.cat(starts), torch.cat(vels), torch.cat(paths)
    opt = torch.optim.AdamW(head.path.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.path_steps)
    start = time.time()
    for step in range(1, args.path_steps + 1):
        pick = torch.randint(0, len(paths), (256,))
        loss = (head.trajectory(starts[pick], vels[pick]) - paths[pick]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 5000 == 0 or step == args.path_steps:
            write({"stage": "path", "step": step, "px": round(loss.item(), 3), "seconds": round(time.time() - start)})


def train_reader(net, head, embed, args, write):
    stream = RecordStream(args.binary, "train", "training", seed=args.seed)
    vocab = stream.vocabulary
    reader = [p for n, p in head.named_parameters() if n.split(".")[0] in ("queries", "decoder", "present", "velocity", "condition")]
    opt = torch.optim.AdamW(reader, lr=args.lr, weight_decay=0.01)
    seen, step, start, recent = 0, 0, time.time(), []
    k = head.cfg.slots
    while seen < args.prompt_clips:
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / 50)
        rec = stream.batch(args.batch)
        words = prompts(rec, vocab)
        present, velocity, cond = head.read(net, words, vocab.pad)
        there = torch.from_numpy(rec["count"].astype("int64"))[:, None] > torch.arange(k)[None]
        digits = torch.from_numpy(rec["digits"][:, :k].astype("int64")).clamp(0, 9)
        with torch.no_grad():
            target = embed(digits)
        presence = F.binary_cross_entropy_with_logits(present, there.float())
        move = (velocity - velocities(rec, k)).abs().sum(-1)[there].mean() / SPEED
        glyph = ((cond - target) ** 2).sum(-1)[there].mean() / target.pow(2).sum(-1).mean()
        loss = presence + move + glyph
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reader, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        recent.append([presence.item(), move.item(), glyph.item()])
        seen, step = seen + args.batch, step + 1
        if seen % 1000 < args.batch or seen >= args.prompt_clips:
            mean = [round(sum(r[i] for r in recent) / len(recent), 4) for i in range(3)]
            write({"stage": "reader", "clips": seen, "presence": mean[0], "velocity": mean[1], "condition": mean[2],
                   "seconds": round(time.time() - start)})
            recent = []
    stream.close()


def save_head(head, embed, model_dir):
    """text-slots.safetensors (f16, beside model.safetensors); the generator's digit embedding
    rides along for later training (the runtime reads the condition off the prompt instead)."""
    tensors = {PREFIX + k: v.detach().half().contiguous() for k, v in head.state_dict().items()}
    tensors["train_only.digit_embedding"] = embed.weight.detach().half().contiguous()
    save_file(tensors, os.path.join(model_dir, FILE), metadata={"format": "univid-f16"})


def load_head(model_dir, cfg):
    """(head, the generator's digit embedding (11 rows, the last the no-digit condition))."""
    saved = load_file(os.path.join(model_dir, FILE))
    head = TextSlotHead(cfg)
    head.load_state_dict({k[len(PREFIX):]: v.float() for k, v in saved.items() if k.startswith(PREFIX)})
    embed = nn.Embedding(11, COND)
    embed.weight.data.copy_(saved["train_only.digit_embedding"].float())
    return head.eval(), embed


def main():
    from checkpoint import head_trainer

    def flags(p):
        p.add_argument("--glyph-steps", type=int, default=3000, help="0 keeps the folder's glyph generator")
        p.add_argument("--trajectories", type=int, default=200000)
        p.add_argument("--path-steps", type=int, default=20000, help="0 keeps the folder's path MLP")
        p.add_argument("--prompt-clips", type=int, default=8000, help="0 keeps the folder's slot reader")
        p.add_argument("--batch", type=int, default=32)

    args, net, write = head_trainer(__doc__, flags)
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = ModelConfig(**json.load(f)["model"])
    head, embed = load_head(args.model, cfg) if args.resume else (TextSlotHead(cfg), nn.Embedding(11, COND))
    if args.glyph_steps:
        train_glyph(head, embed, args, write)
    with torch.no_grad():
        head.null.copy_(embed.weight[10])
    if args.path_steps:
        train_path(head, args, write)
    if args.prompt_clips:
        train_reader(net, head, embed, args, write)
    save_head(head, embed, args.model)


if __name__ == "__main__":
    main()
