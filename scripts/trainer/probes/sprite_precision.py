"""Design probe for the sprite path's two precision stages (see sprite_path.py). Not part of the
product. The world pastes each digit at an integer corner, so a frame is exact once the corner is:
the question is how to get corners exactly right, in the context (locate) and in the future
(dynamics). Two measurements, on the `benchmark` world's test clips:

  --align: coarse places (the world's corners moved by Gaussian noise of --noise px, the kind of
     error the learnt locator leaves) refined to integer boxes by align(): each frame's crop is
     matched to the middle frame's, then to the slot's glyph (the median of the aligned crops),
     within +-R px; frames are the max of the digits' glyphs, so a crop at the right box is never
     darker than the glyph, and the score counts missing ink (extra ink: the other digit, weighted
     by `extra`). Reported: absolute error, share exact, and share consistent once each slot's path
     is moved by its most common offset (ink alone cannot say where the box is; see align()).
  --dynamics: future corners from the 10 context corners, points only (the CLI streams ~8 000
     clips/s, so paths are cheap), by
     (a) `direct`: the MLP of sprite_path.py (10 relative places + where the last is -> 10 moves),
     (b) `recurrent`: an estimator reads the context into a (place, velocity) state per
         coordinate, one small shared MLP moves that state a frame at a time,
     (c) `billiard`: a line fit + an MLP's correction, then constant velocity with learnt walls,
     (d) `spread`: (a) plus a distribution over -2..2 px around each rounded future place, whose
         expected frame is the MSE-optimal estimate under its own uncertainty;
     given the world's corners (`--boxes true`) or what align() can know (`ink-centred`: boxes
     moved so the ink is centred, with the hint of where in its pixel the ink centre fell).
     Each row: mean px error of the future corners, share exactly right after rounding, and the
     continuation MSE of the glyphs seen at those boxes pasted at the rounded predictions (and,
     for `spread`, of its expected frame and of one draw).

  python3 scripts/trainer/probes/sprite_precision.py --align --noise 1.5
  python3 scripts/trainer/probes/sprite_precision.py --dynamics --trajectories 400000 --steps 30000 --models direct spread --save dyn.pt
"""
import argparse
import json
import time
import torch
import torch.nn as nn
import torch.nn.functional as F
import numpy as np

import common  # noqa: F401  (the trainer's modules on the path)
from data import RecordStream, default_binary  # noqa: E402
from tasks import to_video  # noqa: E402
from sprite_path import FRAMES_IN, SIDE, HALF, crop, paste  # noqa: E402

WALL = 64 - SIDE  # a corner's range, 0..36


def corners(rec):
    """World corners (B, 20, slots, 2) u8 -> (B, 2, 20, 2) float px (x, y) of the two digits."""
    return torch.from_numpy(rec["corners"][:, :, :2].astype("float32")).permute(0, 2, 1, 3)


def crops_at(frames, at):
    """frames (B, T, 64, 64), corners at (B, K, T, 2) -> crops (B, K, T, 28, 28)."""
    b, k, t = at.shape[:3]
    flat = frames[:, None].expand(b, k, t, 64, 64).reshape(-1, 64, 64)
    return crop(flat, at.reshape(-1, 2) + HALF).reshape(b, k, t, SIDE, SIDE)


def ink_centre(glyph):
    """(..., 28, 28) -> the ink's centre of mass (..., 2) (x, y) in crop pixels."""
    ink = glyph.sum((-1, -2)).clamp(min=1e-6)
    u = torch.arange(SIDE, dtype=torch.float32)
    return torch.stack([(glyph.sum(-2) * u).sum(-1) / ink, (glyph.sum(-1) * u).sum(-1) / ink], -1)


def render(glyph, boxes):
    """Glyphs (B, K, 28, 28) at integer boxes (B, K, F, 2) -> frames (B, F, 64, 64): the slots' maximum."""
    b, k, f = boxes.shape[:3]
    g = glyph[:, :, None].expand(b, k, f, SIDE, SIDE).reshape(-1, SIDE, SIDE)
    return paste(g, boxes.reshape(-1, 2) + HALF).reshape(b, k, f, 64, 64).max(1).values


def align(frames, at, radius=4, rounds=3, extra=0.0):
    """Coarse corners at (B, K, T, 2) -> integer corners. First every frame's crop is matched
    (squared difference) to the middle frame's, which fixes the places relative to each other;
    then `rounds - 1` times to the slot's glyph, the median of its aligned crops (counting missing
    ink: the other digit only adds ink). Last, the whole path moves so the glyph's ink is centred in its
    28x28 box, as MNIST centres every digit's centre of mass: ink alone cannot say where an
    unseen box is, and the place of the box is what the walls bounce."""
    at = at.round().clamp(0, WALL)
    b, k, t = at.shape[:3]
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    offsets = torch.stack(torch.meshgrid(r, r, indexing="xy"), -1).reshape(-1, 2)  # (O, 2)
    o = offsets.shape[0]
    for round_ in range(rounds):
        crops = crops_at(frames, at)
        reference = crops[:, :, t // 2] if round_ == 0 else crops.median(2).values  # (B, K, 28, 28)
        tried = (at[:, :, :, None] + offsets).clamp(0, WALL)  # (B, K, T, O, 2)
        flat = tried.permute(0, 3, 1, 2, 4).reshape(b * o, k, t, 2)  # offsets into the batch
        seen = crops_at(frames.repeat_interleave(o, 0), flat).reshape(b, o, k, t, SIDE, SIDE).permute(0, 2, 3, 1, 4, 5)
        g = reference[:, :, None, None]
        missing = (g - seen).clamp(min=0).pow(2).sum((-1, -2))
        surplus = (seen - g).clamp(min=0).pow(2).sum((-1, -2))
        score = missing + surplus if round_ == 0 else missing + extra * surplus
        best = score.argmin(-1)  # (B, K, T)
        at = torch.gather(tried, 3, best[..., None, None].expand(b, k, t, 1, 2))[:, :, :, 0]
    centre = ink_centre(crops_at(frames, at).min(2).values)  # (B, K, 2)
    return at + (centre - HALF).round()[:, :, None]  # may leave 0..36: the box, not the ink, is outside


def relative_exact(pred, truth):
    """Share of corners exactly right once each slot's path is moved by its most common offset
    (under the better slot order): how well the places agree with each other."""
    best = 0.0
    for order in (truth, truth.flip(1)):
        d = pred - order  # (B, K, T, 2)
        shift = d.median(2, keepdim=True).values
        best = max(best, float(((d - shift).abs() < 0.5).all(-1).float().mean()))
    return best


def matched_error(pred, truth):
    """Mean L1 px per coordinate under each clip's better slot order; share of exact corners."""
    direct = (pred - truth).abs().mean((1, 2, 3))
    swapped = (pred - truth.flip(1)).abs().mean((1, 2, 3))
    swap = (swapped < direct)[:, None, None, None]
    order = torch.where(swap, truth.flip(1), truth)
    exact = ((pred - order).abs() < 0.5).all(-1).float().mean()
    return float(torch.minimum(direct, swapped).mean()), float(exact)


def run_align(args):
    test = RecordStream(args.binary, "test", "benchmark", seed=0)
    rec = test.batch(args.clips)
    test.close()
    frames = (to_video(rec["pixels"]) + 1) / 2
    truth = corners(rec)[:, :, :FRAMES_IN]
    torch.manual_seed(args.seed)
    coarse = truth + torch.randn_like(truth) * args.noise
    row = {"probe": "align", "clips": args.clips, "noise_px": args.noise}
    row["coarse_px"], row["coarse_exact"] = matched_error(coarse.round().clamp(0, WALL), truth)
    centre = ink_centre(crops_at(frames[:, :FRAMES_IN], truth).min(2).values)
    row["true_ink_centre_minus_box_centre_px"] = {"mean_abs": round(float((centre - HALF).abs().mean()), 3),
                                                 "within_half_px": round(float(((centre - HALF).abs() < 0.5).float().mean()), 3)}
    for radius, rounds, extra in [(4, 1, 0.0), (4, 3, 0.0), (4, 3, 0.1), (3, 3, 0.0)]:
        start = time.time()
        out = []
        for i in range(0, args.clips, 16):
            out.append(align(frames[i:i + 16, :FRAMES_IN], coarse[i:i + 16], radius, rounds, extra))
        px, exact = matched_error(torch.cat(out), truth)
        row[f"r{radius}_x{rounds}_extra{extra}"] = {"px": round(px, 3), "exact": round(exact, 3),
                                                   "relative_exact": round(relative_exact(torch.cat(out), truth), 3),
                                                   "ms_per_clip": round((time.time() - start) * 1000 / args.clips, 1)}
    print(json.dumps(row), flush=True)


class Direct(nn.Module):
    """sprite_path.py's dynamics: 10 relative places + the last one's position (+ the hint: where in
    its pixel the glyph's ink centre fell, which says where the unseen box is) -> 10 moves."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(FRAMES_IN * 2 + 4, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(),
                                 nn.Linear(256, FRAMES_IN * 2))

    def inputs(self, past, hint):
        last = past[..., -1:, :]
        return torch.cat([((past - last) / 16).flatten(-2), last[..., 0, :] / 64 - 0.5, hint * 2], -1)

    def forward(self, past, hint):
        last = past[..., -1:, :]
        return last + self.net(self.inputs(past, hint)).reshape(*past.shape[:-2], -1, 2) * 16


class Recurrent(nn.Module):
    """Per coordinate (the world moves x and y apart): the context -> (place, velocity), then one
    shared step MLP moves the state a frame at a time; the place is read off each state."""

    def __init__(self, width=64):
        super().__init__()
        self.read = nn.Sequential(nn.Linear(FRAMES_IN + 1, width), nn.GELU(), nn.Linear(width, 2))
        self.step = nn.Sequential(nn.Linear(2, width), nn.GELU(), nn.Linear(width, width), nn.GELU(), nn.Linear(width, 2))

    def forward(self, past, hint=None):
        p = past.transpose(-1, -2) / WALL  # (..., 2 coords, 10) in [0, 1]
        last = p[..., -1:]
        state = torch.cat([last, torch.zeros_like(last)], -1) + self.read(torch.cat([(p - last) * 4, last], -1)) * 0.1
        out = []
        for _ in range(FRAMES_IN):
            place, velocity = state[..., :1], state[..., 1:]
            change = self.step(state) * 0.1  # a correction to the straight move (walls), and to the velocity
            state = torch.cat([place + velocity + change[..., :1], velocity + change[..., 1:]], -1)
            out.append(state[..., 0])
        return (torch.stack(out, -1) * WALL).transpose(-1, -2)


class Billiard(nn.Module):
    """A billiard prior: per coordinate, a place and a velocity read from the context (a linear fit,
    which is exact for a straight path, plus an MLP's correction for paths that bounced), then
    constant velocity with reflecting walls whose places are learnt. The world's own rule written
    as a prior with two learnt walls: how far precise dynamics alone takes the sprite path."""

    def __init__(self, width=128):
        super().__init__()
        self.fit = nn.Linear(FRAMES_IN, 2)
        self.correct = nn.Sequential(nn.Linear(FRAMES_IN + 1, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
                                     nn.Linear(width, 2))
        nn.init.zeros_(self.correct[-1].weight)
        nn.init.zeros_(self.correct[-1].bias)
        with torch.no_grad():  # start at the least-squares line through the context: place at the last frame, slope
            t = torch.arange(FRAMES_IN, dtype=torch.float32)
            design = torch.stack([torch.ones_like(t), t - t[-1]], 1)
            self.fit.weight.copy_(torch.linalg.pinv(design))
            self.fit.bias.zero_()
        self.walls = nn.Parameter(torch.tensor([0.0, float(WALL)]))

    def forward(self, past, hint=None):
        q = past.transpose(-1, -2)  # (..., 2 coords, 10) px
        last = q[..., -1:]
        state = self.fit(q) + self.correct(torch.cat([(q - last) / 16, last / WALL], -1)) * torch.tensor([1.0, 0.1])
        place, velocity = state[..., 0], state[..., 1]
        lo, hi = self.walls
        out = []
        for _ in range(FRAMES_IN):
            nxt = place + velocity
            below, above = nxt < lo, nxt > hi
            place = torch.where(below, lo.expand_as(nxt), torch.where(above, hi.expand_as(nxt), nxt))
            velocity = torch.where(below | above, -velocity, velocity)
            out.append(place)
        return torch.stack(out, -1).transpose(-1, -2)


class Spread(Direct):
    """The direct MLP that also says how sure it is: per future frame and coordinate, a distribution
    over integer offsets (-2..2 px) from its rounded place, trained on where the truth fell. Its
    expected frame (the glyph pasted at each offset, weighted) is the MSE-optimal estimate under its
    own uncertainty: what `steps: 1` returns; a draw from it is one sharp future."""

    REACH = 2

    def __init__(self):
        super().__init__()
        n = 2 * self.REACH + 1
        self.spread = nn.Sequential(nn.Linear(FRAMES_IN * 2 + 4 + FRAMES_IN * 2, 256), nn.GELU(), nn.Linear(256, 256),
                                    nn.GELU(), nn.Linear(256, FRAMES_IN * 2 * n))

    def offsets(self, past, hint, place):
        """Logits (..., 10, 2, 5) of the truth's offset from round(place)."""
        x = torch.cat([self.inputs(past, hint), ((place - place.round()) * 2).flatten(-2)], -1)
        return self.spread(x).reshape(*place.shape, 2 * self.REACH + 1)

    def loss(self, past, hint, future):
        place = self(past, hint)
        logits = self.offsets(past, hint, place.detach())
        target = (future - place.detach().round()).clamp(-self.REACH, self.REACH).long() + self.REACH
        return (place - future).abs().mean() + F.cross_entropy(logits.flatten(0, -2), target.flatten())


def expected_frames(glyph, place, probs):
    """glyph (B, K, 28, 28), rounded place (B, K, 10, 2), offset probabilities (B, K, 10, 2, 5) ->
    (B, 10, 64, 64): each slot's glyph pasted at every offset, weighted, then the slots' maximum."""
    b, k, f = place.shape[:3]
    reach = (probs.shape[-1] - 1) // 2
    g = glyph[:, :, None].expand(b, k, f, SIDE, SIDE).reshape(-1, SIDE, SIDE)
    sharp = paste(g, place.reshape(-1, 2) + HALF)  # (N, 64, 64)
    n = 2 * reach + 1
    kernel = (probs[..., 1, :, None] * probs[..., 0, None, :]).reshape(-1, 1, n, n)  # rows y, columns x
    # a pasted glyph moved by (ox, oy) is the sharp frame shifted: correlate with the flipped kernel
    out = F.conv2d(F.pad(sharp[None], (reach,) * 4), kernel.flip(-1, -2), groups=sharp.shape[0])[0]
    return out.reshape(b, k, f, 64, 64).max(1).values


def integer_crops(pixels, at):
    """uint8 frames (B, T, 64, 64), integer corners at (B, K, T, 2) -> float crops (B, K, T, 28, 28),
    by indexing (the training paths' glyphs: a million crops in seconds); zeros outside the frame."""
    b, k, t = at.shape[:3]
    padded = F.pad(torch.from_numpy(np.array(pixels)), (SIDE, SIDE, SIDE, SIDE))
    u = torch.arange(SIDE)
    x = at[..., 0].long()[..., None] + SIDE + u  # (B, K, T, 28)
    y = at[..., 1].long()[..., None] + SIDE + u
    bi = torch.arange(b)[:, None, None, None, None]
    ti = torch.arange(t)[None, None, :, None, None]
    return padded[bi, ti, y[..., :, None], x[..., None, :]].float() / 255


def boxes_of(rec, boxes, glyphs=True):
    """The two slots' paths (B, 2, 20, 2), the glyphs seen there (B, 2, 28, 28) and the hint (B, 2, 2).
    `true`: the world's corners (hint 0). `ink-centred`: what align() can know, the corners moved so
    each glyph's ink centre is the box centre (MNIST centres it to within about a pixel); the hint is
    where in its pixel that centre fell."""
    truth = corners(rec)
    if boxes == "true":
        glyph = integer_crops(rec["pixels"], truth).min(2).values if glyphs else None
        return truth, glyph, torch.zeros(*truth.shape[:2], 2)
    glyph = integer_crops(rec["pixels"], truth).min(2).values
    off = ink_centre(glyph) - HALF
    moved = truth + off.round()[:, :, None]
    return moved, integer_crops(rec["pixels"], moved).min(2).values, off - off.round()


def run_dynamics(args):
    test = RecordStream(args.binary, "test", "benchmark", seed=0)
    rec = test.batch(args.clips)
    test.close()
    future = ((to_video(rec["pixels"]) + 1) / 2)[:, FRAMES_IN:]
    n_frames = future.shape[0] * future.shape[1]

    def scored(name, predict, params, seconds, boxes):
        known, g, hint = boxes_of(rec, boxes)
        with torch.no_grad():
            raw = predict(known[:, :, :FRAMES_IN], hint)
            pred = raw.round()
        b = pred.shape[0]
        extra = {}
        if hasattr(predict, "offsets"):
            with torch.no_grad():
                probs = predict.offsets(known[:, :, :FRAMES_IN], hint, raw).softmax(-1)
                mean = torch.cat([expected_frames(g[i:i + 8], pred[i:i + 8], probs[i:i + 8]) for i in range(0, b, 8)])
                draw = torch.distributions.Categorical(probs=probs).sample() - Spread.REACH
            extra["mse_expected_frame"] = round(float(((mean - future) ** 2).sum()) / n_frames, 2)
            drawn = render(g, pred + draw)
            extra["mse_one_draw"] = round(float(((drawn - future) ** 2).sum()) / n_frames, 2)
        video = render(g, pred)
        err = (pred - known[:, :, FRAMES_IN:]).abs()
        row = {"probe": "dynamics", "model": name, "context_boxes": boxes, "trajectories": args.trajectories,
               "steps": args.steps, "params": params, "seconds": round(seconds),
               "future_px": round(float(err.mean()), 3), "exact": round(float((err < 0.5).all(-1).float().mean()), 3),
               "px_by_frame": [round(float(v), 2) for v in err.mean((0, 1, 3))],
               "mse": round(float(((video - future) ** 2).sum()) / n_frames, 2)} | extra
        print(json.dumps(row), flush=True)

    for boxes in args.boxes:
        scored("exact (true future corners)", lambda past, hint: boxes_of(rec, boxes)[0][:, :, FRAMES_IN:], 0, 0, boxes)
        # Points only, so trajectories are cheap: the CLI streams ~8 000 clips/s.
        stream = RecordStream(args.binary, "train", "benchmark", seed=args.seed + 1)
        paths, hints = [], []
        for _ in range(max(1, args.trajectories // 1000)):
            known, _, hint = boxes_of(stream.batch(500), boxes, glyphs=False)
            paths.append(known.reshape(-1, 20, 2))
            hints.append(hint.reshape(-1, 2))
        stream.close()
        paths, hints = torch.cat(paths), torch.cat(hints)
        for name in args.models:
            model = {"direct": Direct, "recurrent": Recurrent, "billiard": Billiard, "spread": Spread}[name]()
            torch.manual_seed(args.seed)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
            start = time.time()
            for _ in range(args.steps):
                pick = torch.randint(0, len(paths), (256,))
                past, ahead, hint = paths[pick, :FRAMES_IN], paths[pick, FRAMES_IN:], hints[pick]
                value = model.loss(past, hint, ahead) if hasattr(model, "loss") else (model(past, hint) - ahead).abs().mean()
                opt.zero_grad()
                value.backward()
                opt.step()
                sched.step()
            model.eval()
            scored(name, model, sum(p.numel() for p in model.parameters()), time.time() - start, boxes)
            if args.save and name == args.models[-1] and boxes == args.boxes[-1]:
                torch.save({"model": name, "boxes": boxes, "state": model.state_dict()}, args.save)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--align", action="store_true")
    p.add_argument("--dynamics", action="store_true")
    p.add_argument("--noise", type=float, default=1.5, help="--align: the coarse places' error, px (Gaussian sd)")
    p.add_argument("--clips", type=int, default=128, help="test clips measured")
    p.add_argument("--trajectories", type=int, default=20000, help="--dynamics: training trajectories (2 per clip)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--models", nargs="*", default=["direct", "recurrent", "billiard", "spread"], help="--dynamics: which dynamics to train")
    p.add_argument("--boxes", nargs="*", default=["true", "ink-centred"], help="--dynamics: which places the dynamics is given")
    p.add_argument("--save", default="", help="--dynamics: keep the last model trained (torch.save) for sprite_path.py")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--binary", default=default_binary())
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.align:
        run_align(args)
    if args.dynamics:
        run_dynamics(args)


if __name__ == "__main__":
    main()
