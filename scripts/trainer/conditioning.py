"""Does text->video use its prompt? The clean-sample error of the video head at fixed flow times
with each clip's own caption, another clip's caption, and no caption (test split).

A model that reads its prompt has a lower error with the true caption, most at high noise where
the noisy video alone says little. Prints one line per flow time.
  python3 scripts/trainer/conditioning.py models/univid-small [--clips 32]
"""
import argparse
import torch
from data import RecordStream, default_binary
from readout_probe import load_model
from tasks import to_video, text_inputs, generate_head, PAD, EOS


def predicted_sample(model, words, xt, t):
    """The head's clean-sample estimate for the generate sequence [generate + words | x_t]."""
    return generate_head(model, words, xt, torch.full(xt.shape[:2], t))  # t per frame


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a model folder (models/<name>): its exported EMA weights")
    p.add_argument("--clips", type=int, default=32)
    p.add_argument("--binary", default=default_binary())
    args = p.parse_args()
    model = load_model(args.model)
    cfg = model.cfg
    stream = RecordStream(args.binary, "test", "training", 0, 0)
    rec = stream.batch(args.clips)
    stream.close()
    x0 = to_video(rec["pixels"])
    words, _ = text_inputs(rec["caption"])
    words = words.clone()
    words[words == EOS] = PAD
    prompts = {"own caption": words, "another clip's": words.roll(1, dims=0), "none": torch.zeros_like(words)}
    torch.manual_seed(0)
    for t in (0.3, 0.6, 0.9, 1.0):
        xt = (1 - t) * x0 + t * torch.randn_like(x0)
        with torch.no_grad():
            errors = {k: ((predicted_sample(model, w, xt, t) - x0) ** 2).mean().item() for k, w in prompts.items()}
        print(f"t = {t}: clean-sample MSE " + ", ".join(f"{k} {v:.4f}" for k, v in errors.items()), flush=True)


if __name__ == "__main__":
    main()
