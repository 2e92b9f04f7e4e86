"""Turns record batches into the model's packed sequences and losses, one function per task.

Sequence layouts (the Rust pipelines build the same ones, unpadded):
  understand: [video 640 | classify | describe + caption | ask + question answer]
              video sees only video (it is encoded once for all three text segments);
              each text segment sees the video and itself, causally.
  generate:   [generate + prompt | noisy video]  video sees prompt and video.
  continue:   [continue | video: first 10 frames clean (t=0), the rest noisy at t].
"""
import numpy as np
import torch
import torch.nn.functional as F
from model import (UNDERSTAND, CLASSIFY, DESCRIBE, ASK, GENERATE, CONTINUE, TEXT, VIDEO,
                   patchify, segment_mask)

IGNORE = -100
PAD = 0


def to_video(pixels):
    """uint8 (B, T, H, W) -> float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).float() / 127.5 - 1.0


def text_inputs(tokens):
    """Record text `<bos> w… <eos> <pad>…` (B, 32) -> inputs w[0:30] (after the task token) and
    targets w[0:31] for the positions [task, w0 … w29]."""
    text = torch.from_numpy(tokens[:, 1:].astype(np.int64))  # (B, 31)
    targets = text.clone()
    targets[targets == PAD] = IGNORE
    return text[:, :-1], targets


def gate_ids(parts):
    """[(length, task, modality)] -> (1, L) gate rows."""
    return torch.cat([torch.full((n,), task * 2 + modality, dtype=torch.long) for n, task, modality in parts])[None]


def understand_loss(model, rec):
    cfg = model.cfg
    b = len(rec)
    patches = patchify(to_video(rec["pixels"]), cfg)
    n = patches.shape[1]
    video = model.embed_video(patches, torch.zeros(b, n))
    cap_in, cap_target = text_inputs(rec["caption"])
    qa_in, qa_target = text_inputs(rec["qa"])
    # Only the answer is learned from a Q+A segment; positions before it are the question.
    answer_at = torch.from_numpy(rec["answer_at"].astype(np.int64)) - 1
    qa_target[torch.arange(qa_target.shape[1])[None] < answer_at[:, None]] = IGNORE
    cls = model.embed_text(torch.full((b,), CLASSIFY), cap_in[:, :0])
    desc = model.embed_text(torch.full((b,), DESCRIBE), cap_in)
    ask = model.embed_text(torch.full((b,), ASK), qa_in)
    x = torch.cat([video, cls, desc, ask], dim=1)
    lc, ld = cls.shape[1], desc.shape[1]
    mask = segment_mask([(n, VIDEO, [0]), (lc, TEXT, [0, 1]), (ld, TEXT, [0, 2]), (ask.shape[1], TEXT, [0, 3])])
    gates = gate_ids([(n, UNDERSTAND, VIDEO), (lc, CLASSIFY, TEXT), (ld, DESCRIBE, TEXT), (ask.shape[1], ASK, TEXT)])
    h = model.trunk(x, mask, gates)
    h_cls = h[:, n]
    h_desc, h_ask = h[:, n + lc:n + lc + ld], h[:, n + lc + ld:]
    return {
        "classify": classify_loss(model, h_cls, rec),
        "describe": F.cross_entropy(model.lm_logits(h_desc).flatten(0, 1).float(), cap_target.flatten(), ignore_index=IGNORE),
        "ask": F.cross_entropy(model.lm_logits(h_ask).flatten(0, 1).float(), qa_target.flatten(), ignore_index=IGNORE),
    }


def classify_targets(rec):
    b = len(rec)
    present = torch.zeros(b, 10)
    motion = torch.full((b, 10), IGNORE, dtype=torch.long)
    for i in range(b):
        for s in range(int(rec["count"][i])):
            present[i, rec["digits"][i, s]] = 1.0
            motion[i, rec["digits"][i, s]] = int(rec["motions"][i, s])
    return present, motion


def classify_loss(model, h_cls, rec):
    present, motion = classify_targets(rec)
    digit_logits = model.digit_head(h_cls).float()
    motion_logits = model.motion_head(h_cls).float().reshape(-1, 10, 8)
    return F.binary_cross_entropy_with_logits(digit_logits, present) + \
        F.cross_entropy(motion_logits.reshape(-1, 8), motion.reshape(-1), ignore_index=IGNORE)


def sample_t(shape, generator=None):
    """Logit-normal flow times (SD3): most training where the velocity is hardest to guess."""
    return torch.sigmoid(torch.randn(shape, generator=generator))


def noised(x0, t):
    """Rectified flow: x_t = (1 - t) x0 + t eps, target velocity eps - x0."""
    eps = torch.randn_like(x0)
    return (1 - t[..., None]) * x0 + t[..., None] * eps, eps - x0


def generate_loss(model, rec, drop_prob=0.1):
    cfg = model.cfg
    b = len(rec)
    x0 = patchify(to_video(rec["pixels"]), cfg)
    n = x0.shape[1]
    t = sample_t((b, 1)).expand(b, n)
    xt, velocity = noised(x0, t)
    words, _ = text_inputs(rec["caption"])
    words = words.clone()
    words[words == 2] = PAD  # the prompt is the caption without <eos>
    drop = torch.rand(b) < drop_prob  # classifier-free guidance: sometimes no prompt at all
    words[drop] = PAD
    prompt = model.embed_text(torch.full((b,), GENERATE), words)
    lp = prompt.shape[1]
    real = torch.cat([torch.ones(b, 1, dtype=torch.bool), words != PAD, torch.ones(b, n, dtype=torch.bool)], dim=1)
    x = torch.cat([prompt, model.embed_video(xt, t)], dim=1)
    mask = segment_mask([(lp, TEXT, [0]), (n, VIDEO, [0, 1])], key_padding=real)
    gates = gate_ids([(lp, GENERATE, TEXT), (n, GENERATE, VIDEO)])
    h = model.trunk(x, mask, gates)
    predicted = model.video_out(h[:, lp:]).float()
    return {"generate": F.mse_loss(predicted, velocity)}


def continue_loss(model, rec, frames_in=10):
    cfg = model.cfg
    b = len(rec)
    x0 = patchify(to_video(rec["pixels"]), cfg)
    n = x0.shape[1]
    gt, gh, gw = cfg.grid
    clean = (torch.arange(n) // (gh * gw)) < frames_in // cfg.tubelet_t  # (N,) context tokens
    t = sample_t((b, 1)).expand(b, n).clone()
    t[:, clean] = 0.0
    xt, velocity = noised(x0, t)
    task = model.embed_text(torch.full((b,), CONTINUE), torch.zeros(b, 0, dtype=torch.long))
    x = torch.cat([task, model.embed_video(xt, t)], dim=1)
    mask = segment_mask([(1, TEXT, [0]), (n, VIDEO, [0, 1])])
    gates = gate_ids([(1, CONTINUE, TEXT), (n, CONTINUE, VIDEO)])
    h = model.trunk(x, mask, gates)
    predicted = model.video_out(h[:, 1:]).float()
    return {"continue": F.mse_loss(predicted[:, ~clean], velocity[:, ~clean])}
