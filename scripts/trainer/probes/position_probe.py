"""Does each video token still know where it is, layer by layer?

  python3 scripts/trainer/probes/position_probe.py models/univid-small

Clips: 96 test clips of the `standard` world, encoded as the understanding pipelines encode them
(video sees only video). For the input embedding, every block's output and the final norm, a
linear probe (fitted on 64 clips, scored on the other 32) reads the token's own quadrant of the
frame (4 classes, chance 25 %) and grid cell (16). Answering "where does digit D start ?" needs a
token's position where its digit's identity is known.
"""
import json
import sys
import torch
import torch.nn.functional as F
import common  # noqa: F401  (the trainer's modules on the path)
from checkpoint import load_model
from data import RecordStream, default_binary
from model import patchify, segment_mask, UNDERSTAND, VIDEO
from tasks import to_video, gate_ids

FIT, SCORE = 64, 32


def layer_states(model, pixels):
    """[(B, N, D)] states: the embedded video, then after each block, then the final norm."""
    patches = patchify(to_video(pixels), model.cfg)
    b, n = patches.shape[:2]
    mask, gates = segment_mask([(n, VIDEO, [0])]), gate_ids([(n, UNDERSTAND, VIDEO)])
    states = [model.embed_video(patches, torch.zeros(b, n))]
    for block in model.blocks:
        states.append(block(states[-1], mask, gates))
    return states + [model.norm(states[-1])]


def probe_accuracy(h, labels, classes):
    """Linear probe fitted on the first FIT clips, accuracy on the rest."""
    torch.manual_seed(0)
    probe = torch.nn.Linear(h.shape[-1], classes)
    opt = torch.optim.Adam(probe.parameters(), 1e-2)
    y = labels.expand(h.shape[0], -1)
    for _ in range(300):
        opt.zero_grad()
        F.cross_entropy(probe(h[:FIT]).flatten(0, 1), y[:FIT].flatten()).backward()
        opt.step()
    with torch.no_grad():
        return round(float((probe(h[FIT:]).argmax(-1) == y[FIT:]).float().mean()), 3)


def main(model_dir):
    model = load_model(model_dir)
    _, gh, gw = model.cfg.grid
    stream = RecordStream(default_binary(), "test", "standard", seed=0)
    pixels = stream.batch(FIT + SCORE)["pixels"]
    stream.close()
    with torch.no_grad():
        states = [h.float() for h in layer_states(model, pixels)]
    cell = torch.arange(states[0].shape[1]) % (gh * gw)
    quadrant = (cell // gw >= gh // 2).long() * 2 + (cell % gw >= gw // 2).long()
    names = ["embedding"] + [f"block {i + 1}" for i in range(len(states) - 2)] + ["final norm"]
    report = {name: {"quadrant": probe_accuracy(h, quadrant, 4), "cell": probe_accuracy(h, cell, gh * gw)}
              for name, h in zip(names, states)}
    print(json.dumps(report | {"clips": f"{FIT} fit / {SCORE} scored", "split": "test"}))


if __name__ == "__main__":
    main(sys.argv[1])
