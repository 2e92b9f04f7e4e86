"""Does text->video use its prompt? The clean-sample error of the video head at fixed flow times
with each clip's own caption, another clip's caption, and no caption (test split).

A model that reads its prompt has a lower error with the true caption, most at high noise where
the noisy video alone says little. Prints one line per flow time.
  python3 scripts/trainer/probes/conditioning.py models/univid-small [--clips 32]
"""
import argparse
import torch
import common  # noqa: F401  (the trainer's modules on the path)
from checkpoint import load_model
from data import RecordStream, default_binary
from tasks import to_video, prompts, generate_head


def predicted_sample(model, words, pad, xt, t):
    """The head's clean-sample estimate for the generate sequence [generate + words | x_t]."""
    return generate_head(model, words, pad, xt, torch.full(xt.shape[:2], t))  # t per frame


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a model folder (models/<name>): its exported EMA weights")
    p.add_argument("--clips", type=int, default=32)
    p.add_argument("--binary", default=default_binary())
    args = p.parse_args()
    model = load_model(args.model)
    stream = RecordStream(args.binary, "test", "training", 0, 0)
    rec = stream.batch(args.clips)
    stream.close()
    x0 = to_video(rec["pixels"])
    pad = stream.vocabulary.pad
    words = prompts(rec, stream.vocabulary)
    compared = {"own caption": words, "another clip's": words.roll(1, dims=0), "none": torch.full_like(words, pad)}
    torch.manual_seed(0)
    for t in (0.3, 0.6, 0.9, 1.0):
        xt = (1 - t) * x0 + t * torch.randn_like(x0)
        with torch.no_grad():
            errors = {k: ((predicted_sample(model, w, pad, xt, t) - x0) ** 2).mean().item() for k, w in compared.items()}
        print(f"t = {t}: clean-sample MSE " + ", ".join(f"{k} {v:.4f}" for k, v in errors.items()), flush=True)


if __name__ == "__main__":
    main()
