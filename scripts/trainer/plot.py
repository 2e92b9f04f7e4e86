"""Loss curves of a training log as a dependency-free SVG: python3 plot.py LOG.jsonl OUT.svg"""
import json
import math
import sys

# Every other field of a log row is a loss: the curves follow whatever the trainer logged.
NOT_LOSSES = {"step", "lr", "grad_norm", "clips_per_s", "seconds"}
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#d62728", "#bcbd22",
           "#9467bd", "#aec7e8"]


def smooth(values, k=20):
    out, acc = [], []
    for v in values:
        acc.append(v)
        acc = acc[-k:]
        out.append(sum(acc) / len(acc))
    return out


def main(log_path, out_path):
    rows = [json.loads(line) for line in open(log_path) if line.strip()]
    steps = [r["step"] for r in rows]
    w, h, pad = 720, 360, 48
    lo, hi = math.log10(0.05), math.log10(5.0)
    x = lambda s: pad + (w - 2 * pad) * (s - steps[0]) / max(1, steps[-1] - steps[0])
    y = lambda v: h - pad - (h - 2 * pad) * (math.log10(min(max(v, 0.05), 5.0)) - lo) / (hi - lo)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{pad}" y="20">UniVid training losses (log scale, 20-step mean) — {len(rows)} steps</text>']
    for tick in [0.1, 0.3, 1.0, 3.0]:
        parts.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="4" y="{y(tick) + 4:.1f}">{tick}</text>')
    losses = list(dict.fromkeys(k for r in rows for k in r if k not in NOT_LOSSES))
    for name, colour in zip(losses, COLOURS):
        logged = [r for r in rows if name in r]  # a loss added mid-run starts where it was added
        if not logged:
            continue
        values = smooth([r[name] for r in logged])
        points = " ".join(f"{x(r['step']):.1f},{y(v):.1f}" for r, v in zip(logged, values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
        parts.append(f'<text x="{w - pad + 4}" y="{y(values[-1]) + 4:.1f}" fill="{colour}">{name}</text>')
    parts.append(f'<text x="{pad}" y="{h - 12}">step {steps[0]} … {steps[-1]}</text></svg>')
    open(out_path, "w").write("\n".join(parts))


if __name__ == "__main__":
    main(*sys.argv[1:])
