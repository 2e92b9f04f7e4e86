"""Where question answering fails: teacher-forced answer accuracy per question kind, split by
whether the true answer is "none", plus the answers most often confused.

  python3 scripts/trainer/qa_probe.py models/univid-small [N]

Clips: the test split of the `standard` world; every clip is asked the record stream's seven
questions, one of each kind. An answer counts as right when every answer token and the end of
text are the most likely next token given the true prefix (greedy decoding gives the same verdict
for one-word answers; for longer ones it is an upper bound).
"""
import collections
import json
import sys
import numpy as np
import torch
from readout_probe import load_model, text_segment_states
from data import RecordStream, default_binary
from model import ASK
from tasks import question_inputs, IGNORE

KINDS = ["which-digits", "how-many", "which-way", "which-digit-moves", "where-end", "where-start", "is-there"]


def answer_predictions(model, rec, q):
    """(B, 31) argmax next tokens after question `q` and (B, 31) targets with everything but the
    answer ignored."""
    qa_in, qa_target = question_inputs(rec, q)
    h = text_segment_states(model, rec, ASK, qa_in)
    return model.lm_logits(h).argmax(-1).numpy(), qa_target.numpy()


def main(model_dir, n=1024):
    model = load_model(model_dir)
    stream = RecordStream(default_binary(), "test", "standard", seed=0)
    words = stream.layout["vocabulary"]
    assert stream.layout["question_kinds"] == KINDS, "question kinds changed: update KINDS"
    hits = collections.defaultdict(lambda: [0, 0])  # (kind, "none" | "named") -> [right, asked]
    confusions = collections.Counter()
    with torch.no_grad():
        for start in range(0, n, 64):
            rec = stream.batch(min(64, n - start))
            for q in range(stream.layout["questions"]):
                tally(answer_predictions(model, rec, q), rec["qa_kind"][:, q], words, hits, confusions)
    stream.close()
    report = {f"{kind} ({answer})": {"accuracy": round(r / max(a, 1), 3), "asked": a}
              for (kind, answer), (r, a) in sorted(hits.items())}
    report["most_confused"] = [f"{k}: '{t}' -> '{s}' x{c}" for (k, t, s), c in confusions.most_common(15)]
    print(json.dumps(report | {"clips": n, "split": "test"}, indent=1))


def tally(predictions, kinds, words, hits, confusions):
    predicted, target = predictions
    for i in range(len(kinds)):
        at = target[i] != IGNORE
        truth = " ".join(words[t] for t in target[i][at][:-1])
        said = " ".join(words[t] for t in predicted[i][at][:-1])
        kind = KINDS[kinds[i]]
        right = bool((predicted[i][at] == target[i][at]).all())
        cell = hits[(kind, "none" if truth == "none" else "named")]
        cell[0] += right
        cell[1] += 1
        if not right:
            confusions[(kind, truth, said)] += 1


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:]))
