"""Digit-set accuracy of the classify head under two decision rules, on test clips.

  python3 scripts/trainer/probes/readout_probe.py models/univid-small [N]

Clips: the test split of the `standard` world (two digits), the world `univid eval` reports on.

`threshold`: every digit whose presence probability is above 0.5 (what `UniVid::classify` does);
`top-k`: the k most probable digits, k = the rounded sum of the presence probabilities (the head's
own count). Measures whether the head's ranking knows more than its threshold shows.
"""
import json
import sys
import numpy as np
import torch
import common  # noqa: F401  (the trainer's modules on the path)
from checkpoint import load_model
from data import RecordStream, default_binary
from model import patchify, segment_mask, UNDERSTAND, CLASSIFY, TEXT, VIDEO
from tasks import to_video, gate_ids


def text_segment_states(model, rec, task, text):
    """Final states (B, 1 + L, D) of one text segment `[task, text…]` that sees the clip's video and
    itself, causally: the layout every understanding pipeline of one segment uses."""
    patches = patchify(to_video(rec["pixels"]), model.cfg)
    b, n = patches.shape[:2]
    video = model.embed_video(patches, torch.zeros(b, n))
    segment = model.embed_text(torch.full((b,), task), text)
    length = segment.shape[1]
    mask = segment_mask([(n, VIDEO, [0]), (length, TEXT, [0, 1])])
    h = model.trunk(torch.cat([video, segment], 1), mask, gate_ids([(n, UNDERSTAND, VIDEO), (length, task, TEXT)]))
    return h[:, n:]


def presence_probabilities(model, rec):
    no_words = torch.zeros(len(rec), 0, dtype=torch.long)
    return torch.sigmoid(model.digit_head(text_segment_states(model, rec, CLASSIFY, no_words)[:, 0])).numpy()


def main(model_dir, n=1024):
    model = load_model(model_dir)
    stream = RecordStream(default_binary(), "test", "standard", seed=0)
    right = {"threshold": 0, "top-k": 0}
    with torch.no_grad():
        for start in range(0, n, 64):
            rec = stream.batch(min(64, n - start))
            p = presence_probabilities(model, rec)
            for i in range(len(rec)):
                truth = set(rec["digits"][i, : rec["count"][i]].tolist())
                k = max(1, int(round(p[i].sum())))
                right["threshold"] += set(np.flatnonzero(p[i] > 0.5).tolist()) == truth
                right["top-k"] += set(np.argsort(-p[i])[:k].tolist()) == truth
    stream.close()
    print(json.dumps({rule: hits / n for rule, hits in right.items()} | {"clips": n, "split": "test"}))


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:]))
