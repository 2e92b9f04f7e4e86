"""The slot head: continuation by moving the context's digits (the PyTorch twin of
crate/src/model/slots.rs, same tensor names; the parity test keeps them equal).

The world pastes one fixed 28x28 bitmap per digit at an integer corner in every frame (the frame is
the digits' maximum), so a future frame is exact once each digit's glyph and corner are known.
Continuation therefore does not redraw pixels: it finds where each digit is, and moves it.
  1. locate: `slots` queries read the trunk's states of the context (understanding layout, the
     context frames alone) through a small transformer decoder; each slot matches its key against
     per-pixel features (the stem's three levels at 1/2 resolution + the pixels) in every context
     frame: a soft-argmax gives its centre (~1 px);
  2. align (no parameters): the centres snap to integer corners by template matching, and the path
     moves so the glyph's ink is centred in its box, as MNIST centres every digit;
  3. the glyph: the per-pixel minimum of the slot's context crops (the other digit rarely covers
     the same pixel in every frame);
  4. dynamics (points only): an MLP carries the context corners to the future ones, and a second
     says how sure it is: a distribution over -2..2 px per future frame and axis;
  5. the frames: each glyph pasted at every offset, weighted (the expected frame, the MSE-optimal
     estimate: what `continue` returns with one step), or at one drawn offset (a sharp future).
Design and measurements: the model card, "digits as objects drawn by translation"
(probes/sprite_path.py, probes/sprite_precision.py).

Training (the trunk frozen): the dynamics on paths alone (the CLI streams ~8 000 clips/s), then the
locator on clips against the world's corners:

  python3 scripts/trainer/slots.py --model models/univid-small --trajectories 400000 --dynamics-steps 30000 --locator-clips 18000
"""
import json
import os
import time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from data import RecordStream
from model import ModelConfig, patchify, channel_first, timestep_features, segment_mask, UNDERSTAND, VIDEO
from tasks import gate_ids, to_video

SIDE = 28  # the world's glyph box
HALF = (SIDE - 1) / 2  # a glyph's centre from its top-left corner, in pixel indices
KEY = 64  # width of the slot keys and the per-pixel features they are matched against
REACH = 2  # the dynamics' spread: integer offsets -REACH..REACH around each rounded place
DYNAMICS_HIDDEN = 256
PREFIX = "slots."


class Dynamics(nn.Module):
    """Context corners (..., T, 2) + the hint (where in its pixel the glyph's ink centre fell, which
    says where the unseen box is) -> future corners, and the logits of the truth's offset from
    each rounded future corner."""

    def __init__(self, frames_in, frames_out):
        super().__init__()
        self.frames_out = frames_out
        n_in = frames_in * 2 + 4
        self.net = nn.Sequential(nn.Linear(n_in, DYNAMICS_HIDDEN), nn.GELU(), nn.Linear(DYNAMICS_HIDDEN, DYNAMICS_HIDDEN),
                                 nn.GELU(), nn.Linear(DYNAMICS_HIDDEN, frames_out * 2))
        self.spread = nn.Sequential(nn.Linear(n_in + frames_out * 2, DYNAMICS_HIDDEN), nn.GELU(),
                                    nn.Linear(DYNAMICS_HIDDEN, DYNAMICS_HIDDEN), nn.GELU(),
                                    nn.Linear(DYNAMICS_HIDDEN, frames_out * 2 * (2 * REACH + 1)))

    def inputs(self, past, hint):
        """The path relative to its last corner (/16), where that corner is (walls), the hint (x2)."""
        last = past[..., -1:, :]
        return torch.cat([((past - last) / 16).flatten(-2), last[..., 0, :] / 64 - 0.5, hint * 2], -1)

    def forward(self, past, hint):
        last = past[..., -1:, :]
        return last + self.net(self.inputs(past, hint)).reshape(*past.shape[:-2], -1, 2) * 16

    def offsets(self, past, hint, place):
        """Logits (..., F, 2, 2*REACH+1) of the truth's offset from round(place)."""
        x = torch.cat([self.inputs(past, hint), ((place - place.round()) * 2).flatten(-2)], -1)
        return self.spread(x).reshape(*place.shape, 2 * REACH + 1)

    def loss(self, past, hint, future):
        place = self(past, hint)
        logits = self.offsets(past, hint, place.detach())
        target = (future - place.detach().round()).clamp(-REACH, REACH).long() + REACH
        return (place - future).abs().mean() + F.cross_entropy(logits.flatten(0, -2), target.flatten())


class SlotHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, c = cfg.d_model, cfg.stem_channels
        self.cfg = cfg
        self.frames_in = cfg.frames // 2
        self.queries = nn.Parameter(torch.randn(cfg.slots, d) * 0.02)
        layer = nn.TransformerDecoderLayer(d, max(1, cfg.heads // 2), 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, 2)
        self.key = nn.Linear(d, KEY)
        self.feat = nn.Sequential(nn.Conv2d(c // 2 + 2 * c + cfg.channels, KEY, 3, padding=1), nn.GELU(),
                                  nn.Conv2d(KEY, KEY, 3, padding=1))
        self.sharp = nn.Parameter(torch.ones(1))
        self.dynamics = Dynamics(self.frames_in, cfg.frames - self.frames_in)

    def read(self, net, context):
        """The trunk's final states of the context frames alone (B, N, D) and the stem's levels.
        context (B, T, H, W) in [-1, 1], T = frames_in."""
        cfg = net.cfg
        b, t = context.shape[:2]
        part = ModelConfig(**{**cfg.to_dict(), "frames": t})
        n = part.video_tokens
        x = net.video_in(patchify(context, part)) + net.video_pos()[:n] + net.stem(context, part)
        x = x + net.time_out(F.silu(net.time_in(timestep_features(torch.zeros(b, n), cfg.time_dim))))
        h = net.trunk(x, segment_mask([(n, VIDEO, [0])]), gate_ids([(n, UNDERSTAND, VIDEO)]))
        return h, net.stem.levels(channel_first(context))

    def locate(self, h, levels, context):
        """Each slot's centre in each context frame (B, K, T, 2) px: a soft-argmax over a map at
        1/2 resolution of per-pixel features matched against the slot's key."""
        b, t, size = context.shape[0], context.shape[1], context.shape[-1]
        side = size // 2
        state = self.decoder(self.queries.expand(b, -1, -1), h)
        f1, f2, f3 = levels  # (B, T, c, h, w)
        up = lambda f: F.interpolate(f.flatten(0, 1), size=side, mode="bilinear", align_corners=False)
        pix = F.avg_pool2d(channel_first(context).flatten(0, 1), 2)
        feats = self.feat(torch.cat([f1.flatten(0, 1), up(f2), up(f3), pix], 1)).reshape(b, t, KEY, side * side)
        logits = torch.einsum("bkc,btcn->bktn", self.key(state), feats) * self.sharp / 8
        w = logits.softmax(-1)
        coord = torch.arange(side, dtype=torch.float32) * 2 + 0.5  # a 2x2 block's centre, px
        return torch.stack([(w * coord.repeat(side)).sum(-1), (w * coord.repeat_interleave(side)).sum(-1)], -1)

    def predict(self, net, context, draw=None):
        """context (B, T, H, W) in [-1, 1] -> the future frames (B, F, H, W) in [0, 1]: the expected
        frame, or with `draw` (a torch.Generator) one sharp future drawn from the spread at one quantile
        per slot and axis. Also
        returns the parts (for the parity test)."""
        h, levels = self.read(net, context)
        centres = self.locate(h, levels, context)
        unit = (context + 1) / 2
        boxes = align(unit, centres - HALF)
        glyph = crops_at(unit, boxes).min(2).values
        hint = ink_centre(glyph) - HALF
        hint = hint - hint.round()
        place = self.dynamics(boxes, hint)
        probs = self.dynamics.offsets(boxes, hint, place).softmax(-1)
        size = context.shape[-1]
        if draw is None:
            frames = expected_frames(glyph, place.round(), probs, size)
        else:
            # one quantile per slot and axis for the whole path (independent draws per frame zigzag)
            u = torch.rand(*probs.shape[:2], 1, 2, 1, generator=draw)
            pick = (probs.cumsum(-1) <= u).sum(-1).clamp(max=2 * REACH)
            frames = render(glyph, place.round() + pick - REACH, size)
        parts = {"centres": centres, "boxes": boxes, "glyph": glyph, "place": place, "probs": probs}
        return frames, parts


# ---- fixed operations (no parameters) --------------------------------------------------------
def crop(frames, centre):
    """frames (N, S, S), centre (N, 2) px -> the 28x28 windows around them (N, 28, 28), zeros outside
    (bilinear where the centre is not on the pixel grid; exact copies at integer corners)."""
    n, size = frames.shape[0], frames.shape[-1]
    u = torch.arange(SIDE, dtype=torch.float32) - HALF
    x = centre[:, 0, None] + u
    y = centre[:, 1, None] + u
    gx = (2 * x + 1) / size - 1
    gy = (2 * y + 1) / size - 1
    grid = torch.stack([gx[:, None, :].expand(n, SIDE, SIDE), gy[:, :, None].expand(n, SIDE, SIDE)], -1)
    return F.grid_sample(frames[:, None], grid, align_corners=False, padding_mode="zeros")[:, 0]


def paste(glyph, centre, size=64):
    """glyph (N, 28, 28), centre (N, 2) px -> frames (N, S, S) with the glyph there, 0 elsewhere."""
    n = glyph.shape[0]
    p = torch.arange(size, dtype=torch.float32)
    u = p[None] - centre[:, 0, None] + HALF
    v = p[None] - centre[:, 1, None] + HALF
    gx = (2 * u + 1) / SIDE - 1
    gy = (2 * v + 1) / SIDE - 1
    grid = torch.stack([gx[:, None, :].expand(n, size, size), gy[:, :, None].expand(n, size, size)], -1)
    return F.grid_sample(glyph[:, None], grid, align_corners=False, padding_mode="zeros")[:, 0]


def crops_at(frames, at):
    """frames (B, T, S, S), corners at (B, K, T, 2) -> crops (B, K, T, 28, 28)."""
    b, k, t = at.shape[:3]
    size = frames.shape[-1]
    flat = frames[:, None].expand(b, k, t, size, size).reshape(-1, size, size)
    return crop(flat, at.reshape(-1, 2) + HALF).reshape(b, k, t, SIDE, SIDE)


def ink_centre(glyph):
    """(..., 28, 28) -> the ink's centre of mass (..., 2) (x, y) in crop pixels."""
    ink = glyph.sum((-1, -2)).clamp(min=1e-6)
    u = torch.arange(SIDE, dtype=torch.float32)
    return torch.stack([(glyph.sum(-2) * u).sum(-1) / ink, (glyph.sum(-1) * u).sum(-1) / ink], -1)


def render(glyph, boxes, size=64):
    """Glyphs (B, K, 28, 28) at integer corners (B, K, F, 2) -> frames (B, F, S, S): the slots' maximum."""
    b, k, f = boxes.shape[:3]
    g = glyph[:, :, None].expand(b, k, f, SIDE, SIDE).reshape(-1, SIDE, SIDE)
    return paste(g, boxes.reshape(-1, 2) + HALF, size).reshape(b, k, f, size, size).max(1).values


def align(frames, at, radius=4, rounds=3, extra=0.0):
    """Coarse corners at (B, K, T, 2) -> integer corners. First every frame's crop is matched
    (squared difference) to the middle frame's, which fixes the places relative to each other;
    then twice to the slot's glyph, the (lower) median of its aligned crops, counting only missing
    ink (the other digit only adds ink). Last, the whole path moves so the glyph's ink is centred in
    its 28x28 box, as MNIST centres every digit's centre of mass: ink alone cannot say where an
    unseen box is, and the place of the box is what the walls bounce. Ties go to the first offset
    in row-major order (y, then x, from -radius). `extra` > 0 also counts surplus ink after the
    first round (a design probe's variant; the runtime has 0)."""
    wall = frames.shape[-1] - SIDE
    at = at.round().clamp(0, wall)
    b, k, t = at.shape[:3]
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    offsets = torch.stack(torch.meshgrid(r, r, indexing="xy"), -1).reshape(-1, 2)  # (O, 2) x fastest
    o = offsets.shape[0]
    for round_ in range(rounds):
        crops = crops_at(frames, at)
        reference = crops[:, :, t // 2] if round_ == 0 else crops.median(2).values  # (B, K, 28, 28)
        tried = (at[:, :, :, None] + offsets).clamp(0, wall)  # (B, K, T, O, 2)
        flat = tried.permute(0, 3, 1, 2, 4).reshape(b * o, k, t, 2)
        seen = crops_at(frames.repeat_interleave(o, 0), flat).reshape(b, o, k, t, SIDE, SIDE).permute(0, 2, 3, 1, 4, 5)
        g = reference[:, :, None, None]
        missing = (g - seen).clamp(min=0).pow(2).sum((-1, -2))
        surplus = (seen - g).clamp(min=0).pow(2).sum((-1, -2))
        score = missing + surplus if round_ == 0 else missing + extra * surplus
        best = score.argmin(-1)  # (B, K, T)
        at = torch.gather(tried, 3, best[..., None, None].expand(b, k, t, 1, 2))[:, :, :, 0]
    centre = ink_centre(crops_at(frames, at).min(2).values)  # (B, K, 2)
    return at + (centre - HALF).round()[:, :, None]  # may leave 0..wall: the box, not the ink, is outside


def expected_frames(glyph, place, probs, size=64):
    """glyph (B, K, 28, 28), rounded place (B, K, F, 2), offset probabilities (B, K, F, 2, 2R+1) ->
    (B, F, S, S): each slot's glyph pasted at every offset, weighted, then the slots' maximum."""
    b, k, f = place.shape[:3]
    reach = (probs.shape[-1] - 1) // 2
    g = glyph[:, :, None].expand(b, k, f, SIDE, SIDE).reshape(-1, SIDE, SIDE)
    sharp = paste(g, place.reshape(-1, 2) + HALF, size)  # (N, S, S)
    n = 2 * reach + 1
    kernel = (probs[..., 1, :, None] * probs[..., 0, None, :]).reshape(-1, 1, n, n)  # rows y, columns x
    # a glyph moved by (ox, oy) is the sharp frame shifted: correlate with the flipped kernel
    out = F.conv2d(F.pad(sharp[None], (reach,) * 4), kernel.flip(-1, -2), groups=sharp.shape[0])[0]
    return out.reshape(b, k, f, size, size).max(1).values


# ---- training --------------------------------------------------------------------------------
def corners(rec, slots):
    """World corners (B, T, slots, 2) u8 -> (B, K, T, 2) float px (x, y)."""
    return torch.from_numpy(rec["corners"][:, :, :slots].astype("float32")).permute(0, 2, 1, 3)


def integer_crops(pixels, at):
    """uint8 frames (B, T, S, S), integer corners at (B, K, T, 2) -> float crops (B, K, T, 28, 28),
    by indexing (a million training crops in seconds); zeros outside the frame."""
    b, k, t = at.shape[:3]
    padded = F.pad(torch.from_numpy(np.array(pixels)), (SIDE, SIDE, SIDE, SIDE))
    u = torch.arange(SIDE)
    x = at[..., 0].long()[..., None] + SIDE + u
    y = at[..., 1].long()[..., None] + SIDE + u
    bi = torch.arange(b)[:, None, None, None, None]
    ti = torch.arange(t)[None, None, :, None, None]
    return padded[bi, ti, y[..., :, None], x[..., None, :]].float() / 255


def ink_centred_paths(rec, slots):
    """The paths align() can know (B, K, T, 2): the world's corners moved so each glyph's ink centre
    is its box centre; and the hint (B, K, 2), where in its pixel that centre fell."""
    truth = corners(rec, slots)
    off = ink_centre(integer_crops(rec["pixels"], truth).min(2).values) - HALF
    return truth + off.round()[:, :, None], off - off.round()


def matched_l1(pred, truth):
    """Mean L1 px between located centres (B, 2, T, 2) and the truth under each clip's better slot order."""
    direct = (pred - truth).abs().mean((1, 2, 3))
    swapped = (pred - truth.flip(1)).abs().mean((1, 2, 3))
    return torch.minimum(direct, swapped).mean()


def train_dynamics(head, args, write):
    stream = RecordStream(args.binary, "train", "benchmark", seed=args.seed + 1)
    paths, hints = [], []
    for _ in range(max(1, args.trajectories // 1000)):
        path, hint = ink_centred_paths(stream.batch(500), head.cfg.slots)
        paths.append(path.reshape(-1, head.cfg.frames, 2))
        hints.append(hint.reshape(-1, 2))
    stream.close()
    paths, hints, split = torch.cat(paths), torch.cat(hints), head.frames_in
    opt = torch.optim.AdamW(head.dynamics.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.dynamics_steps)
    start = time.time()
    for step in range(args.dynamics_steps):
        pick = torch.randint(0, len(paths), (256,))
        value = head.dynamics.loss(paths[pick, :split], hints[pick], paths[pick, split:])
        opt.zero_grad()
        value.backward()
        opt.step()
        sched.step()
        if (step + 1) % 5000 == 0 or step + 1 == args.dynamics_steps:
            write({"stage": "dynamics", "step": step + 1, "loss": round(value.item(), 4), "seconds": round(time.time() - start)})


def train_locator(net, head, args, write):
    stream = RecordStream(args.binary, "train", "benchmark", seed=args.seed)
    params = [p for n, p in head.named_parameters() if not n.startswith("dynamics.")]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    seen, step, start, recent = 0, 0, time.time(), []
    while seen < args.locator_clips:
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / 50)
        rec = stream.batch(args.batch)
        context = to_video(rec["pixels"])[:, :head.frames_in]
        with torch.no_grad():
            h, levels = head.read(net, context)
        value = matched_l1(head.locate(h, levels, context) - HALF, corners(rec, head.cfg.slots)[:, :, :head.frames_in])
        value.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        recent.append(value.item())
        seen, step = seen + args.batch, step + 1
        if seen % 1000 < args.batch or seen >= args.locator_clips:
            write({"stage": "locator", "clips": seen, "locate_px": round(sum(recent) / len(recent), 3),
                   "seconds": round(time.time() - start)})
            recent = []
    stream.close()


def save_head(head, model_dir):
    """slots.safetensors (f16, beside model.safetensors) and the config's `slots`."""
    tensors = {PREFIX + k: v.detach().half().contiguous() for k, v in head.state_dict().items()}
    save_file(tensors, os.path.join(model_dir, "slots.safetensors"), metadata={"format": "univid-f16"})
    path = os.path.join(model_dir, "config.json")
    with open(path) as f:
        meta = json.load(f)
    meta["model"]["slots"] = head.cfg.slots
    with open(path, "w") as f:
        json.dump(meta, f, indent=2)


def load_head(model_dir, cfg):
    head = SlotHead(cfg)
    weights = {k[len(PREFIX):]: v.float() for k, v in load_file(os.path.join(model_dir, "slots.safetensors")).items()}
    head.load_state_dict(weights)
    return head.eval()


def main():
    from checkpoint import head_trainer

    def flags(p):
        p.add_argument("--slots", type=int, default=2, help="digits the head follows (the world's most per clip)")
        p.add_argument("--trajectories", type=int, default=400000)
        p.add_argument("--dynamics-steps", type=int, default=30000, help="0 keeps the folder's dynamics")
        p.add_argument("--locator-clips", type=int, default=18000, help="0 keeps the folder's locator")
        p.add_argument("--batch", type=int, default=16)

    args, net, write = head_trainer(__doc__, flags)
    cfg = ModelConfig(**{**net.cfg.to_dict(), "slots": args.slots})
    head = load_head(args.model, cfg) if args.resume else SlotHead(cfg)
    if args.dynamics_steps:
        train_dynamics(head, args, write)
    if args.locator_clips:
        train_locator(net, head, args, write)
    save_head(head, args.model)


if __name__ == "__main__":
    main()
