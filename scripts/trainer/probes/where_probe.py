"""Where does digit D start / end up: read from the trunk's video tokens by the training-only
locate head (which tubelet holds a digit's centre at its first frame, and which digit), instead
of decoded by the language head.

  python3 scripts/trainer/probes/where_probe.py models/univid-small [N]

Clips: the test split of the `standard` world. For each digit of each clip, the answer is the
quadrant of the grid cell that maximises P(centre here) * P(digit D | centre) among the tokens
of the first (start) or last (end) time slot. Truth: the world's own places (box centre at frame
0 / the last frame). The head labels a slot's first frame, so the last slot reads frame T-2, not
T-1: `end_true_cell` is that read's ceiling with the true cells, and `end_reversed` reads the
last frame as the first frame of the clip played backwards (what the runtime does).

Measured (512 clips): start 95.0 %, end 84.4 % (ceiling 86.2 %), end reversed 95.0 %; the
language head answered the same questions at 74 % / 68 % (`univid eval`, `qa_model_only`).
"""
import json
import sys
import numpy as np
import torch
from safetensors.torch import load_file
import common  # noqa: F401
from checkpoint import load_model
from data import RecordStream, default_binary
from model import patchify, segment_mask, UNDERSTAND, VIDEO
from tasks import to_video, gate_ids


def quadrant(x, y, side):
    return int(y >= side / 2) * 2 + int(x >= side / 2)


def locate(model, w, b, pixels):
    """Per clip, time slot and grid cell: P(a digit's centre is here) and P(which digit)."""
    gt, gh, gw = model.cfg.grid
    patches = patchify(to_video(pixels), model.cfg)
    bb, nt = patches.shape[:2]
    mask, gates = segment_mask([(nt, VIDEO, [0])]), gate_ids([(nt, UNDERSTAND, VIDEO)])
    out = model.trunk(model.embed_video(patches, torch.zeros(bb, nt)), mask, gates).float() @ w.T + b
    return torch.sigmoid(out[..., 0]).reshape(bb, gt, gh * gw), torch.softmax(out[..., 1:11], -1).reshape(bb, gt, gh * gw, 10)


def main(model_dir, n=512):
    model = load_model(model_dir)
    aux = load_file(f"{model_dir}/resume/state.safetensors")
    w, b = aux["aux_locate.weight"].float(), aux["aux_locate.bias"].float()
    cfg = model.cfg
    gt, gh, gw = cfg.grid
    side, th, tt = cfg.size, cfg.tubelet_hw, cfg.tubelet_t
    stream = RecordStream(default_binary(), "test", "standard", seed=0)
    hits = {k: [0, 0] for k in ["start", "end", "start_soft", "end_soft", "end_true_cell", "end_reversed"]}
    with torch.no_grad():
        for at in range(0, n, 64):
            rec = stream.batch(min(64, n - at))
            centre, digit = locate(model, w, b, rec["pixels"])
            centre_r, digit_r = locate(model, w, b, rec["pixels"][:, ::-1].copy())
            bb = centre.shape[0]
            corners = rec["corners"].astype(np.float32)
            T = corners.shape[1]
            for i in range(bb):
                for s in range(int(rec["count"][i])):
                    d = int(rec["digits"][i, s])
                    for name, slot, frame in [("start", 0, 0), ("end", gt - 1, T - 1)]:
                        x, y = corners[i, frame, s] + 14.0
                        truth = quadrant(x, y, side)
                        score = centre[i, slot] * digit[i, slot, :, d]
                        cell = int(score.argmax())
                        guess = quadrant((cell % gw + 0.5) * th, (cell // gw + 0.5) * th, side)
                        hits[name][0] += guess == truth
                        hits[name][1] += 1
                        # soft: quadrant with the largest summed score
                        q = torch.zeros(4)
                        for c in range(gh * gw):
                            q[quadrant((c % gw + 0.5) * th, (c // gw + 0.5) * th, side)] += score[c]
                        hits[name + "_soft"][0] += int(q.argmax()) == truth
                        hits[name + "_soft"][1] += 1
                        if name == "end":
                            score = centre_r[i, 0] * digit_r[i, 0, :, d]
                            cell = int(score.argmax())
                            guess = quadrant((cell % gw + 0.5) * th, (cell // gw + 0.5) * th, side)
                            hits["end_reversed"][0] += guess == truth
                            hits["end_reversed"][1] += 1
                            xl, yl = corners[i, gt * tt - tt, s] + 14.0
                            cx, cy = min(int(xl // th), gw - 1), min(int(yl // th), gh - 1)
                            hits["end_true_cell"][0] += quadrant((cx + 0.5) * th, (cy + 0.5) * th, side) == truth
                            hits["end_true_cell"][1] += 1
    stream.close()
    print(json.dumps({k: round(r / a, 3) for k, (r, a) in hits.items()} | {"clips": n, "split": "test"}))


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:]))
