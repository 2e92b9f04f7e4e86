"""Where question answering fails: teacher-forced answer accuracy per question kind (the question
reading the clip's true caption), split by whether the true answer is "none", plus the answers
most often confused.

  python3 scripts/trainer/probes/qa_probe.py models/univid-small [N]

Clips: the test split of the `standard` world; every clip is asked the record stream's seven
questions, one of each kind. An answer counts as right when every answer token and the end of
text are the most likely next token given the true prefix (greedy decoding gives the same verdict
for one-word answers; for longer ones it is an upper bound).
"""
import collections
import json
import sys
import torch
import common  # noqa: F401  (the trainer's modules on the path)
from checkpoint import load_model
from data import RecordStream, default_binary
from model import patchify, segment_mask, UNDERSTAND, DESCRIBE, ASK, TEXT, VIDEO
from tasks import question_inputs, text_inputs, to_video, gate_ids, IGNORE

KINDS = ["which-digits", "how-many", "which-way", "which-digit-moves", "where-end", "where-start", "is-there"]


def answer_predictions(model, rec, q, vocab):
    """(B, 31) argmax next tokens after question `q` and (B, 31) targets with everything but the
    answer ignored. The question reads the clip's true caption, as in training (`univid eval`
    measures the runtime, which reads the caption it wrote)."""
    qa_in, qa_target = question_inputs(rec, q, vocab)
    caption, _ = text_inputs(rec["caption"], vocab)
    patches = patchify(to_video(rec["pixels"]), model.cfg)
    b, n = patches.shape[:2]
    video = model.embed_video(patches, torch.zeros(b, n))
    desc = model.embed_text(torch.full((b,), DESCRIBE), caption)
    ask = model.embed_text(torch.full((b,), ASK), qa_in)
    ld, la = desc.shape[1], ask.shape[1]
    real = torch.cat([torch.ones(b, n + 1, dtype=torch.bool), caption != vocab.pad, torch.ones(b, la, dtype=torch.bool)], 1)
    mask = segment_mask([(n, VIDEO, [0]), (ld, TEXT, [0, 1]), (la, TEXT, [0, 1, 2])], real)
    gates = gate_ids([(n, UNDERSTAND, VIDEO), (ld, DESCRIBE, TEXT), (la, ASK, TEXT)])
    h = model.trunk(torch.cat([video, desc, ask], 1), mask, gates)[:, n + ld:]
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
                tally(answer_predictions(model, rec, q, stream.vocabulary), rec["qa_kind"][:, q], words, hits, confusions)
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
