"""Which video output path learns to carry digits forward? Trains one candidate on 10->10
continuation only (the `benchmark` world, train split) for a fixed number of clips and logs its
curve, so candidates are compared on the same clips. Not part of the product: a design probe, run against the model before `folded_conv` became its
video decoder (commit 3cea044, weights of step 7 800); later models carry `folded_conv` as
`decoder.*` (scripts/trainer/model.py, VideoDecoder) and no longer have `video_out`.

  python3 scripts/trainer/probes/video_paths.py CANDIDATE --clips N --out LOG.jsonl [--warm models/univid-small]

Candidates (all share the product's trunk: its blocks, norm, task embedding, flow-time MLP and conv
stem, warm-started from the shipped weights when --warm is given; the objective is the product's:
rectified flow, clean-sample prediction, v-loss on the future frames, logit-normal t shifted by 0.8,
a quarter of the clips at t = 1):
  tubelet_linear   today's path: 2x16x16 tubelets in and out, one linear layer reads each token out.
  tubelet_conv     today's tokens in; out through a conv decoder: each token -> 2 frames x 2x2 cells at
                   1/8 resolution, transposed convs back to 64x64 with skips from the stem's features
                   (32x32, 16x16, 8x8) and pixels of the frame being denoised and of the last context frame.
  folded_conv      time folded into channels (SimVP): one token per 8-px cell holding all 20 frames'
                   stem features and pixels (64 tokens instead of 160); each token reads out 10
                   future frames' cell features, decoded by the same conv decoder.

Logged every --eval-every clips, on 256 test clips of the same world (OpenSTL units: squared error
over a 64x64 frame in [0,1], averaged over frames and clips):
  mse_t1      the one-step clean-sample estimate at t = 1 (no future pixels seen: the conditional
              mean, the MSE-optimal prediction, what `continue(clip, { steps: 1 })` returns);
  spread      how much that estimate varies with the input: mean squared distance of each clip's
              estimate from the mean estimate over clips (0 = the black / mean-frame trap;
              the true frames' own spread is logged once as `truth_spread`);
  mse_t05     the estimate at t = 0.5 (half denoising, half prediction).
"""
import argparse
import time
import torch
import torch.nn as nn
import torch.nn.functional as F

import common  # noqa: F401  (the trainer's modules on the path)
from data import RecordStream, default_binary  # noqa: E402
from model import ModelConfig, UniVid, patchify, unpatchify, timestep_features, segment_mask, CONTINUE, TEXT, VIDEO  # noqa: E402
from tasks import gate_ids, to_video  # noqa: E402
from checkpoint import load_model  # noqa: E402

FRAMES_IN = 10
FLOW_TIME_SHIFT = 0.8
PURE_NOISE = 0.25
MIN_FLOW_TIME = 0.05


def stem_levels(stem, video):
    """The product stem's per-frame features at 32x32, 16x16 and 8x8: video (B, T, 64, 64) ->
    three tensors (B, T, C, h, w)."""
    b, t = video.shape[:2]
    x = video.reshape(b * t, 1, 64, 64)
    f1 = F.gelu(stem.conv1(x))
    f2 = F.gelu(stem.conv2(f1))
    f3 = F.gelu(stem.conv3(f2))
    for conv in stem.context:
        f3 = f3 + F.gelu(conv(f3))
    return [f.reshape(b, t, *f.shape[1:]) for f in (f1, f2, f3)]


class ConvDecoder(nn.Module):
    """Cell features at 1/8 resolution -> pixels, U-Net style: at each scale the stem's features
    of the frame being denoised and of the last context frame are concatenated (strokes to copy
    and shift, and the noisy frame's own detail at low noise). Linear output: a saturating one
    has no gradient on the digits (measured: sigmoid outputs never left the all-black level)."""

    def __init__(self, cell, stem_c):
        super().__init__()
        half = stem_c // 2
        self.up1 = nn.ConvTranspose2d(cell + 2 * stem_c, 64, 4, stride=2, padding=1)  # 8 -> 16
        self.up2 = nn.ConvTranspose2d(64 + 2 * stem_c, 32, 4, stride=2, padding=1)  # 16 -> 32
        self.up3 = nn.ConvTranspose2d(32 + 2 * half, 16, 4, stride=2, padding=1)  # 32 -> 64
        self.out = nn.Conv2d(16 + 2, 1, 3, padding=1)
        # Starts at the all-black guess (-1): a random first guess costs ~1 000 clips to unlearn.
        nn.init.zeros_(self.out.weight)
        nn.init.constant_(self.out.bias, -1.0)

    def forward(self, cells, levels, pixels, frames):
        """cells (B, F, cell, 8, 8) for the future frames `frames`; levels from stem_levels; pixels
        (B, T, 64, 64) as the model saw them -> (B, F, 64, 64)."""
        b, f = cells.shape[:2]

        def skip(level):  # this frame's and the last context frame's features, (B*F, 2C, h, w)
            own = level[:, frames]
            last = level[:, FRAMES_IN - 1:FRAMES_IN].expand_as(own)
            return torch.cat([own, last], 2).flatten(0, 1)

        f1, f2, f3 = levels
        x = cells.flatten(0, 1)
        x = F.gelu(self.up1(torch.cat([x, skip(f3)], 1)))
        x = F.gelu(self.up2(torch.cat([x, skip(f2)], 1)))
        x = F.gelu(self.up3(torch.cat([x, skip(f1)], 1)))
        x = self.out(torch.cat([x, skip(pixels.unsqueeze(2))], 1))
        return x.reshape(b, f, 64, 64)


class Candidate(nn.Module):
    """The product's UniVid (trunk, stem, embeddings) with one of the video paths; forward returns
    the clean-sample estimate of the future frames (B, 10, 64, 64) in [-1, 1] pixel units."""

    def __init__(self, kind, cfg):
        super().__init__()
        self.kind, self.cfg = kind, cfg
        self.net = UniVid(cfg)
        d, c = cfg.d_model, cfg.stem_channels
        self.cell = 64
        if kind == "tubelet_conv":
            # a 2x16x16 tubelet = 2 frames x 2x2 cells of the 8x8 grid
            self.readout = nn.Linear(d, cfg.tubelet_t * 4 * self.cell)
        elif kind == "folded_conv":
            self.fold_in = nn.Linear(cfg.frames * (c + 64), d)  # 20 frames x (stem features + 8x8 pixels)
            self.pos_cell = nn.Parameter(torch.randn(64, d) * 0.02)
            self.readout = nn.Linear(d, (cfg.frames - FRAMES_IN) * self.cell)
        if kind != "tubelet_linear":
            self.decoder = ConvDecoder(self.cell, c)

    def time_embedding(self, t):
        net = self.net
        return net.time_out(F.silu(net.time_in(timestep_features(t, self.cfg.time_dim))))

    def trunk(self, video_tokens):
        net, b, n = self.net, video_tokens.shape[0], video_tokens.shape[1]
        task = net.embed_text(torch.full((b,), CONTINUE), torch.zeros(b, 0, dtype=torch.long))
        mask = segment_mask([(1, TEXT, [0]), (n, VIDEO, [0, 1])])
        h = net.trunk(torch.cat([task, video_tokens], 1), mask, gate_ids([(1, CONTINUE, TEXT), (n, CONTINUE, VIDEO)]))
        return h[:, 1:]

    def forward(self, xt, t):
        """xt (B, 20, 64, 64): context clean, future noised to flow time t (B,)."""
        cfg, net = self.cfg, self.net
        b = xt.shape[0]
        future = list(range(FRAMES_IN, cfg.frames))
        if self.kind.startswith("tubelet"):
            patches = patchify(xt, cfg)
            n = patches.shape[1]
            per_token = torch.where(future_tokens(cfg), t[:, None], torch.zeros(()))  # (B, N)
            levels = stem_levels(net.stem, xt)
            gt, gh, gw = cfg.grid
            f3 = levels[2].reshape(b * gt, cfg.tubelet_t * cfg.stem_channels, 8, 8)
            stem = net.stem.proj(f3).permute(0, 2, 3, 1).reshape(b, n, -1)
            h = self.trunk(net.video_in(patches) + net.video_pos() + self.time_embedding(per_token) + stem)
            if self.kind == "tubelet_linear":
                return unpatchify(net.video_out(h), cfg)[:, FRAMES_IN:]
            cells = self.readout(h).reshape(b, gt, gh, gw, cfg.tubelet_t, 2, 2, self.cell)
            cells = cells.permute(0, 1, 4, 7, 2, 5, 3, 6).reshape(b, cfg.frames, self.cell, 8, 8)
            return self.decoder(cells[:, FRAMES_IN:], levels, xt, future)
        levels = stem_levels(net.stem, xt)
        f3 = levels[2]  # (B, 20, C, 8, 8)
        pix = xt.reshape(b, cfg.frames, 8, 8, 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(b, cfg.frames, 8, 8, 64)
        feats = torch.cat([f3.permute(0, 1, 3, 4, 2), pix], -1)  # (B, 20, 8, 8, C + 64)
        tokens = feats.permute(0, 2, 3, 1, 4).reshape(b, 64, -1)
        h = self.trunk(self.fold_in(tokens) + self.pos_cell + self.time_embedding(t[:, None].expand(b, 64)))
        cells = self.readout(h).reshape(b, 8, 8, len(future), self.cell).permute(0, 3, 4, 1, 2)
        return self.decoder(cells, levels, xt, future)


def future_tokens(cfg):
    _, gh, gw = cfg.grid
    return torch.arange(cfg.video_tokens) // (gh * gw) >= FRAMES_IN // cfg.tubelet_t


def sample_t(b):
    t = torch.sigmoid(torch.randn(b) + FLOW_TIME_SHIFT)
    t[torch.rand(b) < PURE_NOISE] = 1.0
    return t


def noised(video, t):
    """Future frames noised to t (per clip); the context stays clean."""
    x0 = video[:, FRAMES_IN:]
    eps = torch.randn_like(x0)
    tt = t[:, None, None, None]
    xt = video.clone()
    xt[:, FRAMES_IN:] = (1 - tt) * x0 + tt * eps
    return xt, eps - x0


def loss(model, video):
    t = sample_t(video.shape[0])
    xt, velocity = noised(video, t)
    x0 = model(xt, t)
    predicted = (xt[:, FRAMES_IN:] - x0) / t.clamp(min=MIN_FLOW_TIME)[:, None, None, None]
    return F.mse_loss(predicted.float(), velocity)


@torch.no_grad()
def evaluate(model, video, bf16):
    torch.manual_seed(0)
    truth = (video[:, FRAMES_IN:] + 1) / 2
    frames = truth.shape[0] * truth.shape[1]
    report = {}
    for name, t in (("t1", 1.0), ("t05", 0.5)):
        xt, _ = noised(video, torch.full((video.shape[0],), t))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            guess = ((model(xt, torch.full((video.shape[0],), t)).float().clamp(-1, 1)) + 1) / 2
        report[f"mse_{name}"] = round(float(((guess - truth) ** 2).sum()) / frames, 2)
        if name == "t1":
            report["spread"] = round(float(((guess - guess.mean(0)) ** 2).sum()) / frames, 2)
            report["mean_pixel"] = round(float(guess.mean()), 4)
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("candidate", choices=["tubelet_linear", "tubelet_conv", "folded_conv"])
    p.add_argument("--clips", type=int, default=30000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=4000)
    p.add_argument("--eval-clips", type=int, default=256)
    p.add_argument("--warm", default="", help="model folder whose weights start the shared trunk")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=False, help="bf16 autocast (only where the CPU has fast bf16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = PyTorch's default)")
    p.add_argument("--out", required=True)
    p.add_argument("--binary", default=default_binary())
    args = p.parse_args()
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = ModelConfig.preset("small")
    model = Candidate(args.candidate, cfg)
    if args.warm:
        model.net.load_state_dict(load_model(args.warm).state_dict())  # the shipped weights, checked as checkpoint loads them
    test = RecordStream(args.binary, "test", "benchmark", seed=0)
    test_video = to_video(test.batch(args.eval_clips)["pixels"])
    test.close()
    train = RecordStream(args.binary, "train", "benchmark", seed=args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    params = sum(p.numel() for p in model.parameters())
    truth = (test_video[:, FRAMES_IN:] + 1) / 2
    frames = truth.shape[0] * truth.shape[1]
    header = {"candidate": args.candidate, "params": params, "warm": args.warm, "batch": args.batch, "lr": args.lr,
              "black_mse": round(float((truth ** 2).sum()) / frames, 2),
              "truth_spread": round(float(((truth - truth.mean(0)) ** 2).sum()) / frames, 2)}
    write = common.Log(args.out).write

    write(header)
    seen, step, losses, start = 0, 0, [], time.time()
    write({"clips": 0, "seconds": 0} | evaluate(model.eval(), test_video, args.bf16))
    model.train()
    while seen < args.clips:
        lr = args.lr * min(1.0, (step + 1) / args.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        video = to_video(train.batch(args.batch)["pixels"])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            value = loss(model, video)
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(value.item())
        seen += args.batch
        step += 1
        if seen % args.eval_every < args.batch or seen >= args.clips:
            elapsed = time.time() - start
            row = {"clips": seen, "seconds": round(elapsed), "clips_per_s": round(seen / elapsed, 1),
                   "loss": round(sum(losses) / len(losses), 4)}
            losses = []
            write(row | evaluate(model.eval(), test_video, args.bf16))
            model.train()
    train.close()


if __name__ == "__main__":
    main()
