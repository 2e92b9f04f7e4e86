"""Design probe (f) for generation's video path: object slots drawn by translation. Not part of
the product. The world pastes one fixed 28x28 bitmap per digit along a trajectory, so instead of
redrawing pixels, each digit is a slot: where it is in every frame (a point) and what it looks
like (a glyph), and a frame is the slots' glyphs pasted at their places (max where they overlap).

Continuation (10 -> 10, `benchmark` world, the same clips as video_paths.py):
  1. the product's trunk reads the 10 context frames (frozen, shipped weights; understanding layout);
  2. two slot queries read the trunk's states (a 2-layer cross-attention decoder);
  3. each slot finds its digit's centre in every context frame: a soft-argmax over a 32x32 map of
     the stem's features (f1, f2, f3) matched against the slot's query;
  4. a small MLP carries the 10 context centres to the 10 future ones (the dynamics, learnt from
     the world's trajectories: points only, so each step also replays 256 trajectories of clips
     already seen — measured, the MLP needs ~10^5-10^6 trajectories to reach ~1 px, and a step of
     16 clips shows it only 32);
  5. the glyph is read from the context: the 10 crops around the centres, their per-pixel minimum
     (the other digit rarely covers the same glyph pixel in every frame) plus a learnt conv
     correction;
  6. the future frames are the glyphs pasted at the future centres.
Training: centres against the world's corners (permutation-free over the two slots; the dynamics
MLP sees true centres + 0.5 px noise), glyph through the pixel loss of frames rendered at the true
future centres. Evaluation uses only predictions. Deterministic: the estimate is the same at any
flow time, so `mse_t1` is comparable with video_paths.py's.

  python3 scripts/trainer/probes/sprite_path.py --clips 8000 --eval-every 1000 --eval-clips 128 --dynamics-warmup 4000 --out LOG.jsonl

`--precision` instead prints what position errors alone cost: the same test clips' true glyphs
(their 20 crops' minimum at the world's corners) pasted at the true future centres moved by d px in a
random direction, per frame, scored like the probe (0 px is exact: the world is deterministic).
"""
import argparse
import json
import time
import torch
import torch.nn as nn
import torch.nn.functional as F

import common  # noqa: F401  (the trainer's modules on the path)
from data import RecordStream, default_binary  # noqa: E402
from model import ModelConfig, UniVid, patchify, channel_first, timestep_features, segment_mask, UNDERSTAND, VIDEO  # noqa: E402
from tasks import gate_ids, to_video  # noqa: E402
from checkpoint import load_model  # noqa: E402
from slots import SIDE, HALF, crop, paste  # noqa: E402  (the product's slot head's fixed operations)

FRAMES_IN = 10


def centres(rec):
    """World corners (B, 20, slots, 2) u8 -> centres (B, 20, 2, 2) float px (x, y) of the two digits."""
    return torch.from_numpy(rec["corners"][:, :, :2].astype("float32")) + HALF


class Sprites(nn.Module):
    def __init__(self, cfg, slots=2):
        super().__init__()
        d, c = cfg.d_model, cfg.stem_channels
        self.cfg, self.k = cfg, slots
        self.net = UniVid(cfg)
        self.net.requires_grad_(False)
        self.queries = nn.Parameter(torch.randn(slots, d) * 0.02)
        layer = nn.TransformerDecoderLayer(d, 4, 512, dropout=0.0, batch_first=True, norm_first=True)
        self.slots = nn.TransformerDecoder(layer, 2)
        self.key = nn.Linear(d, 64)
        self.feat = nn.Sequential(nn.Conv2d(c // 2 + c + c + 1, 64, 3, padding=1), nn.GELU(), nn.Conv2d(64, 64, 3, padding=1))
        self.sharp = nn.Parameter(torch.tensor(1.0))
        self.dynamics = nn.Sequential(nn.Linear(FRAMES_IN * 2 + 2, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(),
                                      nn.Linear(256, (cfg.frames - FRAMES_IN) * 2))
        self.refine = nn.Sequential(nn.Conv2d(FRAMES_IN + 1, 32, 3, padding=1), nn.GELU(), nn.Conv2d(32, 32, 3, padding=1),
                                    nn.GELU(), nn.Conv2d(32, 1, 3, padding=1))
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.zeros_(self.refine[-1].bias)
        self.precise = None  # a frozen points-trained dynamics (`--dynamics-from`), not a parameter here

    def read(self, context):
        """context (B, 10, 64, 64) in [-1, 1] -> slot states (B, K, D), stem levels."""
        net, cfg = self.net, self.cfg
        b = context.shape[0]
        with torch.no_grad():
            video = torch.cat([context, context[:, :0]], 1)
            n = (FRAMES_IN // cfg.tubelet_t) * cfg.grid[1] * cfg.grid[2]
            half_cfg = ModelConfig(**{**cfg.to_dict(), "frames": FRAMES_IN})
            patches = patchify(video, half_cfg)
            x = net.video_in(patches) + net.video_pos()[:n] + net.stem(video, half_cfg)
            x = x + net.time_out(F.silu(net.time_in(timestep_features(torch.zeros(b, n), cfg.time_dim))))
            h = net.trunk(x, segment_mask([(n, VIDEO, [0])]), gate_ids([(n, UNDERSTAND, VIDEO)]))
            levels = net.stem.levels(channel_first(context))
        return self.slots(self.queries.expand(b, -1, -1), h), levels

    def locate(self, state, levels, context):
        """Each slot's centre in each context frame (B, K, 10, 2) px, by a soft-argmax at 32x32."""
        f1, f2, f3 = levels  # (B, T, c, h, w)
        b, t = context.shape[:2]
        up = lambda f: F.interpolate(f.flatten(0, 1), size=32, mode="bilinear", align_corners=False)
        pix = F.avg_pool2d(context.reshape(b * t, 1, 64, 64), 2)
        feats = self.feat(torch.cat([f1.flatten(0, 1), up(f2), up(f3), pix], 1)).reshape(b, t, 64, 32 * 32)
        q = self.key(state)  # (B, K, 64)
        logits = torch.einsum("bkc,btcn->bktn", q, feats) * self.sharp / 8
        w = logits.softmax(-1)
        coord = torch.arange(32, dtype=torch.float32) * 2 + 0.5
        gx = coord.repeat(32)
        gy = coord.repeat_interleave(32)
        return torch.stack([(w * gx).sum(-1), (w * gy).sum(-1)], -1)

    def future(self, past):
        """Context centres (..., 10, 2) px -> future centres (..., 10, 2): the last one plus a learnt
        move, from the path relative to the last centre and where that is (walls)."""
        last = past[..., -1:, :]
        x = torch.cat([((past - last) / 16).flatten(-2), last[..., 0, :] / 64 - 0.5], -1)
        return last + self.dynamics(x).reshape(*past.shape[:-2], -1, 2) * 16

    def glyph(self, context, at):
        """The glyph of each slot (B, K, 28, 28) from the context (B, 10, 64, 64) in [0, 1] and its
        centres at (B, K, 10, 2)."""
        b, k, t = at.shape[:3]
        crops = crop(context[:, None].expand(b, k, t, 64, 64).reshape(-1, 64, 64), at.reshape(-1, 2))
        crops = crops.reshape(b * k, t, SIDE, SIDE)
        base = crops.min(1, keepdim=True).values
        return (base + self.refine(torch.cat([crops, base], 1)))[:, 0].reshape(b, k, SIDE, SIDE)

    def render(self, glyph, at):
        """Glyphs (B, K, 28, 28) at centres (B, K, F, 2) -> frames (B, F, 64, 64) in [0, 1]."""
        b, k, f = at.shape[:3]
        g = glyph[:, :, None].expand(b, k, f, SIDE, SIDE).reshape(-1, SIDE, SIDE)
        return paste(g, at.reshape(-1, 2)).reshape(b, k, f, 64, 64).max(1).values

    def predict(self, context):
        """The whole estimate from the context alone: future frames (B, 10, 64, 64) in [0, 1]."""
        state, levels = self.read(context)
        past = self.locate(state, levels, context)
        unit = (context + 1) / 2
        if self.precise is not None:
            return self.predict_precisely(unit, past), past
        return self.render(self.glyph(unit, past), self.future(past)), past

    def predict_precisely(self, unit, past, sharp=False):
        """`--dynamics-from`: the located centres aligned to integer boxes with ink-centred glyphs
        (sprite_precision.align), the glyph their crops' minimum, the future boxes from the saved
        points-trained dynamics; with its offset spread, the expected frame."""
        from sprite_precision import align, ink_centre, crops_at, expected_frames
        boxes = torch.cat([align(unit[i:i + 16], past[i:i + 16] - HALF) for i in range(0, len(unit), 16)])
        glyph = crops_at(unit, boxes).min(2).values
        hint = ink_centre(glyph) - HALF
        hint = hint - hint.round()
        place = self.precise(boxes, hint)
        if getattr(self.precise, "offsets", None) and not sharp:
            probs = self.precise.offsets(boxes, hint, place).softmax(-1)
            return expected_frames(glyph, place.round(), probs)
        return self.render(glyph, place.round() + HALF)


def matched(pred, truth):
    """Mean L1 px error per slot and frame under each clip's better slot order, pred (B, 2, 10, 2)
    against the context part of truth (B, 2, 20, 2); and truth in that order (B, 2, 20, 2)."""
    context = truth[:, :, :FRAMES_IN]
    direct = (pred - context).abs().mean((1, 2, 3))
    swapped = (pred - context.flip(1)).abs().mean((1, 2, 3))
    use_swap = (swapped < direct)[:, None, None, None]
    return torch.minimum(direct, swapped).mean(), torch.where(use_swap, truth.flip(1), truth)


def loss(model, rec, replay):
    video = to_video(rec["pixels"])
    context, future = video[:, :FRAMES_IN], (video[:, FRAMES_IN:] + 1) / 2
    truth = centres(rec).permute(0, 2, 1, 3)  # (B, 2, 20, 2)
    state, levels = model.read(context)
    past = model.locate(state, levels, context)
    locate_loss, order = matched(past, truth)
    known, ahead = order[:, :, :FRAMES_IN], order[:, :, FRAMES_IN:]
    replay.append(truth.reshape(-1, truth.shape[2], 2))
    seen = torch.cat(replay[-500:])  # the trajectories of the last 8 000 clips
    paths = seen[torch.randint(0, len(seen), (256,))]
    past = paths[:, :FRAMES_IN]
    dynamics_loss = (model.future(past + torch.randn_like(past) * 0.5) - paths[:, FRAMES_IN:]).abs().mean()
    glyph = model.glyph((context + 1) / 2, known)
    pixel_loss = ((model.render(glyph, ahead) - future) ** 2).sum((2, 3)).mean() / 100
    return locate_loss + dynamics_loss + pixel_loss, {"locate_px": locate_loss.item(), "dynamics_px": dynamics_loss.item(),
                                                     "pixel": pixel_loss.item() * 100}


@torch.no_grad()
def evaluate(model, rec):
    video = to_video(rec["pixels"])
    truth = (video[:, FRAMES_IN:] + 1) / 2
    guess, past = model.predict(video[:, :FRAMES_IN])
    frames = truth.shape[0] * truth.shape[1]
    locate_px, _ = matched(past, centres(rec).permute(0, 2, 1, 3))
    row = {"mse_t1": round(float(((guess - truth) ** 2).sum()) / frames, 2),
           "spread": round(float(((guess - guess.mean(0)) ** 2).sum()) / frames, 2),
           "locate_px_eval": round(float(locate_px), 2)}
    if model.precise is not None:  # the sharp guess beside the expected frame
        sharp = model.predict_precisely((video[:, :FRAMES_IN] + 1) / 2, past, sharp=True)
        row["mse_sharp"] = round(float(((sharp - truth) ** 2).sum()) / frames, 2)
    return row


@torch.no_grad()
def precision(rec):
    video = (to_video(rec["pixels"]) + 1) / 2
    truth = centres(rec).permute(0, 2, 1, 3)  # (B, 2, 20, 2)
    b = len(rec)
    crops = crop(video[:, None].expand(b, 2, 20, 64, 64).reshape(-1, 64, 64), truth.reshape(-1, 2))
    glyph = crops.reshape(b, 2, 20, SIDE, SIDE).min(2).values
    future = video[:, FRAMES_IN:]
    frames = future.shape[0] * future.shape[1]
    row = {}
    for d in (0, 0.5, 1, 2, 3, 4):
        angle = torch.rand(b, 2, 10) * 2 * torch.pi
        at = truth[:, :, FRAMES_IN:] + torch.stack([angle.cos(), angle.sin()], -1) * d
        row[f"mse_off_by_{d}_px"] = round(float(((Sprites.render(None, glyph, at) - future) ** 2).sum()) / frames, 1)
    return row | {"mse_all_black": round(float((future ** 2).sum()) / frames, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=6000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-clips", type=int, default=128)
    p.add_argument("--warm", default="models/univid-small", help="model folder whose weights are the frozen trunk")
    p.add_argument("--dynamics-warmup", type=int, default=0,
                   help="steps of the dynamics head alone, first, on the trajectories of --dynamics-clips train clips")
    p.add_argument("--dynamics-clips", type=int, default=8000)
    p.add_argument("--save", default="", help="keep the trained heads (torch.save) at the end")
    p.add_argument("--decompose", action="store_true",
                   help="with --dynamics-from: the estimate from the world's centres (exact, then noisy) instead of located ones, and stop")
    p.add_argument("--load", default="", help="start from heads a run saved (with --clips 0: evaluate them)")
    p.add_argument("--dynamics-from", default="",
                   help="evaluate with sprite_precision.py's saved dynamics (--save) on aligned, ink-centred boxes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--precision", action="store_true", help="print what position errors alone cost, and stop")
    p.add_argument("--out", default="")
    p.add_argument("--binary", default=default_binary())
    args = p.parse_args()
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.precision:
        test = RecordStream(args.binary, "test", "benchmark", seed=0)
        print(json.dumps(precision(test.batch(args.eval_clips))))
        test.close()
        return
    cfg = ModelConfig.preset("small")
    model = Sprites(cfg)
    model.net.load_state_dict(load_model(args.warm).state_dict())  # the shipped trunk, checked as checkpoint loads it
    if args.dynamics_from:
        from sprite_precision import Direct, Spread
        saved = torch.load(args.dynamics_from)
        precise = {"direct": Direct, "spread": Spread}[saved["model"]]()
        precise.load_state_dict(saved["state"])
        object.__setattr__(model, "precise", precise.eval().requires_grad_(False))  # kept out of the optimiser
    test = RecordStream(args.binary, "test", "benchmark", seed=0)
    test_rec = test.batch(args.eval_clips)
    test.close()
    train = RecordStream(args.binary, "train", "benchmark", seed=args.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.01)
    write = common.Log(args.out).write

    write({"candidate": "sprites", "trainable_params": sum(p.numel() for p in trainable), "warm": args.warm,
           "batch": args.batch, "lr": args.lr})
    if args.dynamics_warmup:
        # Points only: the world's trajectories teach the dynamics apart from any pixel (other
        # clips than the training stream's, so they are counted apart).
        pool = RecordStream(args.binary, "train", "benchmark", seed=args.seed + 1)
        paths = torch.cat([centres(pool.batch(500)).permute(0, 2, 1, 3).reshape(-1, 20, 2)
                           for _ in range(args.dynamics_clips // 500)])
        pool.close()
        warm = torch.optim.AdamW(model.dynamics.parameters(), lr=1e-3)
        for _ in range(args.dynamics_warmup):
            batch = paths[torch.randint(0, len(paths), (256,))]
            past = batch[:, :FRAMES_IN]
            value = (model.future(past + torch.randn_like(past) * 0.5) - batch[:, FRAMES_IN:]).abs().mean()
            warm.zero_grad()
            value.backward()
            warm.step()
        write({"dynamics_warmup_steps": args.dynamics_warmup, "dynamics_clips": args.dynamics_clips,
               "dynamics_px_train": round(value.item(), 3)})
    if args.decompose:
        # What the located places cost: the same estimate from the world's centres, exact or moved
        # by Gaussian noise, in place of the locator's.
        video = (to_video(test_rec["pixels"]) + 1) / 2
        truth, known = video[:, FRAMES_IN:], centres(test_rec).permute(0, 2, 1, 3)[:, :, :FRAMES_IN]
        n = truth.shape[0] * truth.shape[1]
        for noise in (0.0, 1.0, 1.75):
            start = known + torch.randn(known.shape, generator=torch.Generator().manual_seed(0)) * noise
            with torch.no_grad():
                mean = model.predict_precisely(video[:, :FRAMES_IN], start)
                sharp = model.predict_precisely(video[:, :FRAMES_IN], start, sharp=True)
            write({"places_from": f"world centres + N(0, {noise}) px", "mse_t1": round(float(((mean - truth) ** 2).sum()) / n, 2),
                   "mse_sharp": round(float(((sharp - truth) ** 2).sum()) / n, 2)})
        return
    if args.load:
        model.load_state_dict(torch.load(args.load), strict=False)  # the heads a run saved; the trunk is the shipped one
    write({"clips": 0, "seconds": 0} | evaluate(model.eval(), test_rec))
    seen, step, parts, replay, start = 0, 0, [], [], time.time()
    model.train()
    while seen < args.clips:
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / args.warmup)
        value, part = loss(model, train.batch(args.batch), replay)
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
            write({"clips": seen, "seconds": round(elapsed), "clips_per_s": round(seen / elapsed, 1)} | mean
                  | evaluate(model.eval(), test_rec))
            model.train()
    train.close()
    if args.save:
        torch.save({k: v for k, v in model.state_dict().items() if not k.startswith("net.")}, args.save)


if __name__ == "__main__":
    main()
