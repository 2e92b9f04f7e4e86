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

import common  # noqa: F401  (the trainer's modules on the path)
from data import RecordStream, default_binary  # noqa: E402
from tasks import to_video  # noqa: E402
from sprite_path import FRAMES_IN  # noqa: E402
from slots import (SIDE, HALF, REACH, Dynamics, align, crops_at, expected_frames, ink_centre,  # noqa: E402
                   integer_crops, render)

WALL = 64 - SIDE  # a corner's range, 0..36


def corners(rec):
    """World corners (B, 20, slots, 2) u8 -> (B, 2, 20, 2) float px (x, y) of the two digits."""
    return torch.from_numpy(rec["corners"][:, :, :2].astype("float32")).permute(0, 2, 1, 3)


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


class Direct(Dynamics):
    """(a) the product's dynamics (slots.Dynamics) without its spread: sprite_path.py's MLP (10
    relative places + the last one's position + the hint: where in its pixel the glyph's ink centre
    fell, which says where the unseen box is) -> 10 moves."""

    offsets = None  # no spread: scored on its sharp places only
    loss = None

    def __init__(self):
        super().__init__(FRAMES_IN, FRAMES_IN)
        del self.spread


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


def Spread():
    """(d) the product's dynamics (slots.Dynamics): (a) plus a distribution over -2..2 px around each
    rounded future place, whose expected frame is the MSE-optimal estimate under its own uncertainty."""
    return Dynamics(FRAMES_IN, FRAMES_IN)


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
        if getattr(predict, "offsets", None):
            with torch.no_grad():
                probs = predict.offsets(known[:, :, :FRAMES_IN], hint, raw).softmax(-1)
                mean = torch.cat([expected_frames(g[i:i + 8], pred[i:i + 8], probs[i:i + 8]) for i in range(0, b, 8)])
                draw = torch.distributions.Categorical(probs=probs).sample() - REACH
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
                value = model.loss(past, hint, ahead) if getattr(model, "loss", None) else (model(past, hint) - ahead).abs().mean()
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
