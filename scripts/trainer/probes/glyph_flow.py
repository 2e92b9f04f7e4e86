"""Design probe for the sprite path's text -> video half (sprite_text.py): how many steps does its
glyph generator (a 28x28 rectified-flow U-Net, clean-sample prediction, v-loss) need before the
judge's digit classifier reads the digit it was asked for? Conditioned here on a learnt embedding of
the digit (what the slot state carries), trained on the train split's digit images alone, so the
count is the generator's own, apart from the trunk and the clips. Not part of the product.

  python3 scripts/trainer/probes/glyph_flow.py --levels 2|3 --steps 3000 --batch 32 --eval-every 250 --out LOG.jsonl
  (add --drop 0.1 --guidance 1 2 3 to train for classifier-free guidance and judge each scale)
"""
import argparse
import time
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file
import common  # noqa: F401  (the trainer's modules on the path)
from data import default_binary
from judge import DigitNet, load_split
from sprite_text import GlyphFlow as TwoLevelGlyphFlow
from text_slots import COND, GlyphFlow, sample_glyphs


def DeepGlyphFlow(d):
    """sprite_text.py's GlyphFlow one level deeper (28 -> 14 -> 7): its 3x3 convs at 7x7 see the
    whole glyph (`--levels 3`); the product's text -> video generator (text_slots.GlyphFlow)."""
    assert d == COND
    return GlyphFlow()


def sample(flow, cond, steps, generator, null=None, guidance=1.0):
    """Euler steps of the clean-sample estimate from seeded noise (text_slots.sample_glyphs)."""
    return sample_glyphs(flow, cond, steps, torch.randn(len(cond), 28, 28, generator=generator), null, guidance)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--classifier", default="models/judge/classifier.safetensors")
    p.add_argument("--levels", type=int, default=2, choices=[2, 3], help="2: sprite_text.py's GlyphFlow; 3: one level deeper")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--drop", type=float, default=0.0,
                   help="share of images trained with the no-digit condition, for classifier-free guidance (0: none)")
    p.add_argument("--guidance", type=float, nargs="*", default=[1.0], help="guidance scales judged at each eval (need --drop)")
    p.add_argument("--save", default="", help="write the generator and its digit embedding here (safetensors) at the end")
    p.add_argument("--out", required=True)
    p.add_argument("--binary", default=default_binary())
    args = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    images, labels = load_split(args.binary, "train")
    x0_all = images[:, 0] * 2 - 1
    judge = DigitNet()
    judge.load_state_dict(load_file(args.classifier))
    judge.eval()
    embed = nn.Embedding(11, 256)  # ten digits and, last, the no-digit condition
    flow = TwoLevelGlyphFlow(256) if args.levels == 2 else DeepGlyphFlow(256)
    opt = torch.optim.AdamW(list(flow.parameters()) + list(embed.parameters()), lr=args.lr, weight_decay=0.01)
    asked = torch.arange(10).repeat_interleave(50)
    log = common.Log(args.out)
    start = time.time()
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(x0_all), (args.batch,))
        digit = labels[idx].clone()
        digit[torch.rand(args.batch) < args.drop] = 10
        x0, cond = x0_all[idx], embed(digit)
        t = torch.sigmoid(torch.randn(args.batch))
        eps = torch.randn_like(x0)
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * eps
        guess = flow(xt, t, cond)
        loss = (((xt - guess) / t.clamp(min=0.05)[:, None, None] - (eps - x0)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.eval_every == 0:
            row = {"levels": args.levels, "step": step, "images_seen": step * args.batch, "seconds": round(time.time() - start), "loss": round(loss.item(), 4)}
            with torch.no_grad():
                cond, null = embed(asked), embed(torch.tensor([10]))
            for n in (1, 20):
                for w in args.guidance:
                    glyphs = sample(flow, cond, n, torch.Generator().manual_seed(0), null if args.drop else None, w)
                    read = judge(glyphs[:, None]).argmax(1)
                    row[f"judge_reads_asked_digit_steps{n}" + (f"_guidance{w:g}" if w != 1.0 else "")] = round(float((read == asked).float().mean()), 3)
            log.write(row)
    if args.save:
        state = {f"flow.{k}": v for k, v in flow.state_dict().items()} | {"embed.weight": embed.weight.detach()}
        save_file({k: v.contiguous() for k, v in state.items()}, args.save)


if __name__ == "__main__":
    main()
