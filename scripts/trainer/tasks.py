"""Turns record batches into the model's packed sequences and losses, one function per task.

Sequence layouts (the Rust pipelines build the same ones, unpadded; here each text segment is as
long as the longest of its batch, and real tokens never see the padding after it):
  understand: [video | classify | describe + caption | ask + Q1 A1 | … | ask + Qq Aq | retrieve + query]
              video sees only video (it is encoded once for all the text segments);
              classify/describe/each ask see the video and themselves, causally; each ask also
              sees the caption segment (describe, then answer) but never another question or
              its answer; the retrieve segment
              sees only itself (a text embedding must not depend on any clip).
  generate:   [generate + prompt | noisy video]  video sees prompt and video.
  continue:   [continue | video: first 10 frames clean (t=0), the rest noisy at t].
"""
from dataclasses import dataclass
import numpy as np
import torch
import torch.nn.functional as F
from data import Vocabulary
from model import (UNDERSTAND, CLASSIFY, DESCRIBE, ASK, GENERATE, CONTINUE, RETRIEVE, TEXT, VIDEO,
                   patchify, segment_mask)

IGNORE = -100
PARTIAL_QUERY_PROB = 0.3


@dataclass(frozen=True)
class Recipe:
    """What turns records into losses besides the model: the world's vocabulary (read from the
    record stream's header) and where on the flow the generation losses train."""
    vocab: Vocabulary
    # Mean of the logit-normal flow times; > 0 trains more at high noise.
    flow_time_shift: float = 0.0
    # Share of clips trained at exactly t = 1, where every sampler starts.
    pure_noise: float = 0.0


def to_video(pixels):
    """uint8 (B, T, H, W) -> float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).float() / 127.5 - 1.0


def text_inputs(tokens, vocab):
    """Record text `<bos> w… <eos> <pad>…` (B, 32) -> inputs w[0:30] (after the task token) and
    targets w[0:31] for the positions [task, w0 … w29]."""
    text = torch.from_numpy(tokens[:, 1:].astype(np.int64))  # (B, 31)
    targets = text.clone()
    targets[targets == vocab.pad] = IGNORE
    return text[:, :-1], targets


def text_width(pad, *inputs):
    """Columns the longest text among `inputs` (each (B, n), padded with `pad` at the end) needs."""
    return max(int((x != pad).sum(1).max()) for x in inputs)


def trim_text(inputs, targets, width):
    """Drops padding columns: inputs (B, n) -> (B, width), their targets (B, n + 1) -> (B, width + 1).
    Exact wherever real tokens cannot see padding (causal text, or key-padded prompts), and the
    sequence becomes what the Rust pipelines build, which is unpadded."""
    return inputs[:, :width], targets[:, :width + 1]


def gate_ids(parts):
    """[(length, task, modality)] -> (1, L) gate rows."""
    return torch.cat([torch.full((n,), task * 2 + modality, dtype=torch.long) for n, task, modality in parts])[None]


def question_inputs(rec, q, vocab):
    """Inputs and targets of the record's q-th question; only the answer is learned, the
    positions before it are the question."""
    qa_in, qa_target = text_inputs(rec["qa"][:, q], vocab)
    answer_at = torch.from_numpy(rec["answer_at"][:, q].astype(np.int64)) - 1
    qa_target[torch.arange(qa_target.shape[1])[None] < answer_at[:, None]] = IGNORE
    return qa_in, qa_target


def understand_loss(model, rec, recipe, questions=1):
    """All understanding losses of one batch; `questions` = ask segments per clip (each record
    holds one question of each kind in a random order; the first `questions` are asked)."""
    cfg = model.cfg
    b = len(rec)
    patches = patchify(to_video(rec["pixels"]), cfg)
    n = patches.shape[1]
    video, stem = model.embed_video_parts(patches, torch.zeros(b, n))
    vocab = recipe.vocab
    cap_in, cap_target = text_inputs(rec["caption"], vocab)
    query, matches = retrieval_queries(rec, cap_in, vocab)
    query = query[:, :text_width(vocab.pad, query)]
    cap_in, cap_target = trim_text(cap_in, cap_target, text_width(vocab.pad, cap_in))
    asked = [question_inputs(rec, q, vocab) for q in range(questions)]
    width = text_width(vocab.pad, *(qa_in for qa_in, _ in asked))  # one width for all asks: h_ask is (B·q, la)
    asked = [trim_text(qa_in, qa_target, width) for qa_in, qa_target in asked]
    cls = model.embed_text(torch.full((b,), CLASSIFY), cap_in[:, :0])
    desc = model.embed_text(torch.full((b,), DESCRIBE), cap_in)
    asks = [model.embed_text(torch.full((b,), ASK), qa_in) for qa_in, _ in asked]
    ret = model.embed_text(torch.full((b,), RETRIEVE), query)
    x = torch.cat([video, cls, desc, *asks, ret], dim=1)
    lc, ld, la, lr = cls.shape[1], desc.shape[1], asks[0].shape[1], ret.shape[1]
    # Describe, then answer: each ask segment also reads the caption segment (the runtime's `ask`
    # describes the clip first), so a question like "which digit moves left ?" can be answered
    # from the words that bind digits to motions, not only from the video. Never its padding.
    segments = [(n, VIDEO, [0]), (lc, TEXT, [0, 1]), (ld, TEXT, [0, 2])]
    segments += [(la, TEXT, [0, 2, 3 + q]) for q in range(questions)] + [(lr, TEXT, [3 + questions])]
    caption_real = torch.cat([torch.ones(b, 1, dtype=torch.bool), cap_in != vocab.pad], dim=1)
    real = torch.ones(b, x.shape[1], dtype=torch.bool)
    real[:, n + lc:n + lc + ld] = caption_real
    gates = gate_ids([(n, UNDERSTAND, VIDEO), (lc, CLASSIFY, TEXT), (ld, DESCRIBE, TEXT)]
                     + [(la, ASK, TEXT)] * questions + [(lr, RETRIEVE, TEXT)])
    h = model.trunk(x, segment_mask(segments, real), gates)
    h_cls = h[:, n]
    h_desc = h[:, n + lc:n + lc + ld]
    ask_at = n + lc + ld
    h_ask = h[:, ask_at:ask_at + la * questions].reshape(b * questions, la, -1)
    qa_target = torch.stack([target for _, target in asked], 1).flatten(0, 1)  # (B·q, la) like h_ask
    query_real = torch.cat([torch.ones(b, 1, dtype=torch.bool), query != vocab.pad], dim=1)
    targets = locate_targets(rec, cfg)  # shared by the locate and stem losses
    return {
        "locate": locate_loss(model, h[:, :n], targets),
        "stem": stem_loss(model, stem, targets),
        "position": position_loss(model, h[:, :n]),
        "classify": classify_loss(model, h_cls, rec),
        "describe": F.cross_entropy(model.lm_logits(h_desc).flatten(0, 1).float(), cap_target.flatten(), ignore_index=IGNORE),
        "ask": F.cross_entropy(model.lm_logits(h_ask).flatten(0, 1).float(), qa_target.flatten(), ignore_index=IGNORE),
        "retrieve": contrastive_loss(model, model.video_embedding(h[:, :n]),
                                     model.text_embedding(h[:, ask_at + la * questions:], query_real), matches),
    }


def locate_targets(rec, cfg):
    """Per video token: whether a digit has its centre inside the tubelet's square at the
    tubelet's first frame (B, N) bool, which digit (B, N) (IGNORE where none), and its velocity in
    pixels/frame / 4 (B, N, 2)."""
    b = len(rec)
    gt, gh, gw = cfg.grid
    tt, th = cfg.tubelet_t, cfg.tubelet_hw
    identity = np.full((b, gt, gh, gw), IGNORE, np.int64)
    velocity = np.zeros((b, gt, gh, gw, 2), np.float32)
    has = np.zeros((b, gt, gh, gw), bool)
    corners = rec["corners"].astype(np.float32)  # (B, T, S, 2) top-left x, y
    half = 14.0  # MNIST digits are 28 x 28
    for i in range(b):
        for s in range(int(rec["count"][i])):
            d = int(rec["digits"][i, s])
            for k in range(gt):
                f = k * tt
                x, y = corners[i, f, s] + half
                row, col = min(int(y // th), gh - 1), min(int(x // th), gw - 1)
                identity[i, k, row, col] = d
                velocity[i, k, row, col] = (corners[i, f + 1, s] - corners[i, f, s]) / 4.0
                has[i, k, row, col] = True
    n = gt * gh * gw
    return torch.from_numpy(has.reshape(b, n)), torch.from_numpy(identity.reshape(b, n)), \
        torch.from_numpy(velocity.reshape(b, n, 2))


def locate_loss(model, h_video, targets):
    """Where digits are (BCE per token), which digit (cross-entropy on the tokens holding a
    centre: a direct recognition signal), and how it moves (MSE)."""
    has, identity, velocity = targets
    out = model.aux_locate(h_video).float()
    loss = F.binary_cross_entropy_with_logits(out[..., 0], has.float())
    if has.any():
        loss = loss + F.cross_entropy(out[..., 1:11][has], identity[has]) + F.mse_loss(out[..., 11:][has], velocity[has])
    return loss


def stem_loss(model, stem, targets):
    """Which digit is centred in each tubelet, read from the stem's features alone."""
    has, identity, _ = targets
    if stem is None or not has.any():
        return torch.zeros(())
    return F.cross_entropy(model.aux_stem(stem).float()[has], identity[has])


def position_loss(model, h_video):
    """Each video token's own grid cell and time slot (cross-entropy on each), so the trunk keeps
    where a token is alongside what it holds."""
    cell, slot = position_targets(model.cfg)
    _, gh, gw = model.cfg.grid
    cells = gh * gw
    out = model.aux_position(h_video).float()
    b = out.shape[0]
    return F.cross_entropy(out[..., :cells].flatten(0, 1), cell.repeat(b)) + \
        F.cross_entropy(out[..., cells:].flatten(0, 1), slot.repeat(b))


def position_targets(cfg):
    """Per video token (N,): its grid cell (row * W' + column) and time slot, in patchify order."""
    _, gh, gw = cfg.grid
    token = torch.arange(cfg.video_tokens)
    return token % (gh * gw), token // (gh * gw)


def retrieval_queries(rec, captions, vocab):
    """Per clip a text query: its caption, or (sometimes) one clause of it, "digit D moves M <eos>",
    so attribute queries are learned too. Returns the query tokens (B, n) and matches (B queries,
    B clips): a clip matches a full caption when it has the same caption, and a clause when one of
    its digits moves that way."""
    b, n = captions.shape
    queries = captions.clone()
    partial = [None] * b
    for i in range(b):
        count = int(rec["count"][i])
        if count > 1 and np.random.rand() < PARTIAL_QUERY_PROB:
            words = captions[i][captions[i] != vocab.pad].tolist()
            clauses, current = [], []
            for w in words[:-1]:  # without <eos>
                if w in vocab.clause_breaks:
                    clauses.append(current)
                    current = []
                else:
                    current.append(w)
            clauses.append(current)
            slot = np.random.randint(count)  # clause k describes slot k (digits ascending)
            clause = clauses[slot] + [vocab.eos]
            queries[i] = vocab.pad
            queries[i, :len(clause)] = torch.tensor(clause)
            partial[i] = (int(rec["digits"][i, slot]), int(rec["motions"][i, slot]))
    matches = torch.zeros(b, b)
    for i in range(b):
        for j in range(b):
            if partial[i] is None:
                matches[i, j] = float(torch.equal(captions[i], captions[j]))
            else:
                slots = range(int(rec["count"][j]))
                matches[i, j] = float(any((int(rec["digits"][j, s]), int(rec["motions"][j, s])) == partial[i] for s in slots))
    return queries, matches


def contrastive_loss(model, video, text, matches):
    """Symmetric InfoNCE (CLIP) with several positives where ground truth says so."""
    logits = model.retrieve_scale.exp().clamp(max=100.0) * text @ video.t()  # (queries, clips)
    t2v = -(F.log_softmax(logits, dim=1) * matches / matches.sum(1, keepdim=True)).sum(1).mean()
    v2t = -(F.log_softmax(logits, dim=0) * matches / matches.sum(0, keepdim=True)).sum(0).mean()
    return (t2v + v2t) / 2


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


def sample_t(shape, recipe, generator=None):
    """Logit-normal flow times (SD3): most training where the velocity is hardest to guess.
    Shifting the mean towards noise (JiT uses 0.8 in this convention) weights the steps where the
    layout and the prompt matter, which a sample-predicting v-loss (~1/t^2) otherwise under-weights.
    A logit-normal almost never draws t = 1 itself, yet the sampler's first step is there: at t = 1 a
    sample prediction must be the mean of all videos the prompt (or the context frames) allows, so
    `recipe.pure_noise` of the clips train exactly that."""
    t = torch.sigmoid(torch.randn(shape, generator=generator) + recipe.flow_time_shift)
    if recipe.pure_noise > 0:
        t[torch.rand(shape, generator=generator) < recipe.pure_noise] = 1.0
    return t


def noised(x0, t):
    """Rectified flow: x_t = (1 - t) x0 + t eps, target velocity eps - x0; t broadcasts over x0's
    trailing dimensions (per clip, per frame or per token)."""
    t = per_value(t, x0)
    eps = torch.randn_like(x0)
    return (1 - t) * x0 + t * eps, eps - x0


def per_value(t, x):
    """t (B, …) with trailing unit dimensions, to broadcast over x (B, …, rest)."""
    return t.reshape(*t.shape, *[1] * (x.dim() - t.dim()))


MIN_FLOW_TIME = 0.05  # a sample prediction's velocity divides by t: bounded near the data


def predicted_velocity(model, head, xt, t):
    """The velocity a predicted clean sample x0 implies, v = (x_t - x0) / t (the same conversion the
    Rust sampler makes)."""
    return (xt - head) / per_value(t.clamp(min=MIN_FLOW_TIME), xt)


def prompts(rec, vocab):
    """Each record's caption as a generation prompt: without <eos>, padded with <pad> (B, n)."""
    words, _ = text_inputs(rec["caption"], vocab)
    words = words.clone()
    words[words == vocab.eos] = vocab.pad
    return words[:, :text_width(vocab.pad, words)]


def generate_loss(model, rec, recipe, drop_prob=0.1):
    cfg = model.cfg
    b = len(rec)
    x0 = to_video(rec["pixels"])
    t = sample_t((b, 1), recipe).expand(b, cfg.frames)
    xt, velocity = noised(x0, t)
    words = prompts(rec, recipe.vocab)
    drop = torch.rand(b) < drop_prob  # classifier-free guidance: sometimes no prompt at all
    words[drop] = recipe.vocab.pad
    words = words[:, :text_width(recipe.vocab.pad, words)]
    predicted = predicted_velocity(model, generate_head(model, words, recipe.vocab.pad, xt, t).float(), xt, t)
    return {"generate": F.mse_loss(predicted, velocity)}


def video_head(model, task, words, pad, xt, t, anchor):
    """The video decoder's clean-sample estimate for the sequence [task + words | cells of x_t], in
    xt's layout (B, T, H, W[, C]). words (B, n) padded with `pad` (n may be 0; pad None when words
    hold no padding); t (B, T) the flow time
    of each frame, 0 on clean context frames (the cell tokens carry the noised frames' time);
    anchor the last clean frame (None when every frame is noised)."""
    b = xt.shape[0]
    x, levels, frames = model.embed_cells(xt, t.max(dim=1).values)
    n = x.shape[1]
    prompt = model.embed_text(torch.full((b,), task), words)
    lp = prompt.shape[1]
    real_words = torch.ones_like(words, dtype=torch.bool) if pad is None else words != pad
    real = torch.cat([torch.ones(b, 1, dtype=torch.bool), real_words, torch.ones(b, n, dtype=torch.bool)], dim=1)
    mask = segment_mask([(lp, TEXT, [0]), (n, VIDEO, [0, 1])], key_padding=real)
    h = model.trunk(torch.cat([prompt, x], 1), mask, gate_ids([(lp, task, TEXT), (n, task, VIDEO)]))[:, lp:]
    out = model.decoder(h, levels, frames, anchor)  # (B, T, C, H, W)
    return out[:, :, 0] if xt.dim() == 4 else out.permute(0, 1, 3, 4, 2)


def generate_head(model, words, pad, xt, t):
    """The estimate for [generate + words | x_t]; words padded with `pad` (None: no padding); t (B, T) per frame."""
    return video_head(model, GENERATE, words, pad, xt, t, None)


def continue_head(model, xt, t, frames_in):
    """The estimate for [continue | x_t], the first `frames_in` frames clean (t = 0)."""
    words = torch.zeros(xt.shape[0], 0, dtype=torch.long)
    return video_head(model, CONTINUE, words, None, xt, t, frames_in - 1)


def continue_loss(model, rec, recipe):
    """The second half of each clip from its first half (the only split the runtime accepts)."""
    cfg = model.cfg
    frames_in = cfg.frames // 2
    b = len(rec)
    x0 = to_video(rec["pixels"])
    t = sample_t((b, 1), recipe).expand(b, cfg.frames).clone()
    t[:, :frames_in] = 0.0
    xt, velocity = noised(x0, t)
    predicted = predicted_velocity(model, continue_head(model, xt, t, frames_in).float(), xt, t)
    return {"continue": F.mse_loss(predicted[:, frames_in:], velocity[:, frames_in:])}
