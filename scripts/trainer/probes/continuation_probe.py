"""How well the continuation head guesses the future frames at each flow time, on test clips.

  python3 scripts/trainer/probes/continuation_probe.py models/univid-small [N] [WORLD]

Clips: the test split of WORLD (default `standard`; `benchmark` is the eval's continuation set), frames 1–10 clean, 11–20 noised to flow time t (one
noise draw, seed 0). For each t: MSE and MAE per future frame (OpenSTL units: pixels in [0, 1],
summed over a frame) of the head's one-shot guess x̂₀ against the true frames, beside the all-black
baseline, and the mean pixel of guess and truth (in [0, 1]). At t = 1 — the sampler's first step —
the guess sees no future pixels at all, so it measures what the model has learnt about motion;
below 1 it is part denoising.
"""
import json
import sys
import torch
import common  # noqa: F401  (the trainer's modules on the path)
from checkpoint import load_model
from data import RecordStream, default_binary
from tasks import to_video, continue_head, per_value

FRAMES_IN = 10
FLOW_TIMES = (1.0, 0.9, 0.7, 0.5)


def guessed_clean_video(model, x0, t):
    """The head's x̂₀ (B, T, H, W) in [-1, 1] when the future frames sit at flow time t."""
    torch.manual_seed(0)
    times = torch.zeros(x0.shape[:2])
    times[:, FRAMES_IN:] = t
    xt = (1 - per_value(times, x0)) * x0 + per_value(times, x0) * torch.randn_like(x0)
    return continue_head(model, xt, times, FRAMES_IN).clamp(-1, 1)


def main(model_dir, n=256, world="standard"):
    model = load_model(model_dir)
    cfg = model.cfg
    stream = RecordStream(default_binary(), "test", world, seed=0)
    x0 = to_video(stream.batch(n)["pixels"])
    stream.close()
    truth = (x0[:, FRAMES_IN:] + 1) / 2
    per_frame = n * (cfg.frames - FRAMES_IN)
    report = {"all_black": {"mse": round(float((truth ** 2).sum()) / per_frame, 1)},
              "mean_pixel": {"truth": round(float(truth.mean()), 3)}}
    with torch.no_grad():
        for t in FLOW_TIMES:
            guess = (guessed_clean_video(model, x0, t)[:, FRAMES_IN:] + 1) / 2
            report[f"t={t}"] = {"mse": round(float(((guess - truth) ** 2).sum()) / per_frame, 1),
                                "mae": round(float((guess - truth).abs().sum()) / per_frame, 1)}
            report["mean_pixel"][f"t={t}"] = round(float(guess.mean()), 3)
    print(json.dumps(report | {"clips": n, "split": "test", "world": world, "frames": f"{FRAMES_IN} -> {cfg.frames - FRAMES_IN}"}))


if __name__ == "__main__":
    main(sys.argv[1], *[int(a) if a.isdigit() else a for a in sys.argv[2:]])
