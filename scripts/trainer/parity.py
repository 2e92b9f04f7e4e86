"""Writes the parity fixture the Rust test compares against (llm.c's test_gpt2 pattern).

Loads the tiny random weights the Rust side wrote, runs every task family's forward pass on fixed
inputs, and stores the inputs and outputs: classify logits, describe word logits, ask word logits
with the caption in view, and the video head's output for a generate and a continuation step
(channel-first frames, as the Rust sampler holds them), and the slot head's continuation. `cargo test --test parity` recomputes them with burn and
fails beyond the tolerance stated there.
"""
import json
import sys
import numpy as np
import torch
from safetensors.torch import load_file, save_file
from model import (ModelConfig, UniVid, patchify, segment_mask, AUX_PREFIX, UNDERSTAND, CLASSIFY, DESCRIBE, ASK,
                   RETRIEVE, TEXT, VIDEO)
from tasks import gate_ids, generate_head, continue_head
from slots import SlotHead, PREFIX as SLOT_PREFIX
from text_slots import TextSlotHead, PREFIX as TEXT_PREFIX


def main(weights_path, config_json, out_path):
    cfg = ModelConfig(**json.loads(open(config_json).read()))
    model = UniVid(cfg)
    weights = load_file(weights_path)
    slot_weights = {k[len(SLOT_PREFIX):]: weights.pop(k) for k in list(weights) if k.startswith(SLOT_PREFIX)}
    text_weights = {k[len(TEXT_PREFIX):]: weights.pop(k) for k in list(weights) if k.startswith(TEXT_PREFIX)}
    weights.update({"aux_" + k: weights.pop(k) for k in list(weights) if k.startswith("locate.")})
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.startswith(AUX_PREFIX) for k in missing), (missing, unexpected)
    model.eval()
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (1, cfg.frames, cfg.size, cfg.size, cfg.channels), generator=g).to(torch.uint8)
    patches = patchify(pixels.float() / 127.5 - 1.0, cfg)
    n = patches.shape[1]
    words = torch.tensor([[3, 7, 14, 19, 23, 3, 11, 14, 16]])  # "digit 3 moves right while digit 7 moves up"
    t = 0.7
    out = {"pixels": pixels.reshape(-1).to(torch.float32), "words": words.reshape(-1).float()}
    with torch.no_grad():
        video = model.embed_video(patches, torch.zeros(1, n))
        # classify + describe (teacher-forced words) in one understanding sequence
        cls = model.embed_text(torch.tensor([CLASSIFY]), words[:, :0])
        desc = model.embed_text(torch.tensor([DESCRIBE]), words)
        x = torch.cat([video, cls, desc], 1)
        mask = segment_mask([(n, VIDEO, [0]), (1, TEXT, [0, 1]), (desc.shape[1], TEXT, [0, 2])])
        h = model.trunk(x, mask, gate_ids([(n, UNDERSTAND, VIDEO), (1, CLASSIFY, TEXT), (desc.shape[1], DESCRIBE, TEXT)]))
        out["digit_logits"] = model.digit_head(h[:, n]).reshape(-1)
        out["motion_logits"] = model.motion_head(h[:, n]).reshape(-1)
        out["describe_logits"] = model.lm_logits(h[:, n + 1:]).reshape(-1)
        # describe, then answer: [video | classify | describe + words <eos> | ask + question]
        question = torch.tensor([[26, 3, 14, 16, 25]])  # "which digit moves up ?"
        desc = model.embed_text(torch.tensor([DESCRIBE]), torch.cat([words, torch.tensor([[2]])], 1))
        ask = model.embed_text(torch.tensor([ASK]), question)
        ld, la = desc.shape[1], ask.shape[1]
        mask = segment_mask([(n, VIDEO, [0]), (1, TEXT, [0, 1]), (ld, TEXT, [0, 2]), (la, TEXT, [0, 2, 3])])
        h = model.trunk(torch.cat([video, cls, desc, ask], 1), mask,
                        gate_ids([(n, UNDERSTAND, VIDEO), (1, CLASSIFY, TEXT), (ld, DESCRIBE, TEXT), (la, ASK, TEXT)]))
        out["question"] = question.reshape(-1).float()
        out["ask_logits"] = model.lm_logits(h[:, n + 1 + ld:]).reshape(-1)
        # generate: the head's output at time t from seeded noise (frames (1, T, C, H, W) here)
        half = cfg.frames // 2
        noise = torch.randn(1, cfg.frames, cfg.channels, cfg.size, cfg.size, generator=g)
        out["noise"] = noise.reshape(-1)
        noisy = noise.permute(0, 1, 3, 4, 2)  # (1, T, H, W, C), as the pixels
        head = generate_head(model, words, None, noisy, torch.full((1, cfg.frames), t))
        out["generate_head"] = head.permute(0, 1, 4, 2, 3).reshape(-1)
        # continue: the first half of the frames clean
        times = torch.full((1, cfg.frames), t)
        times[:, :half] = 0.0
        mixed = torch.cat([pixels[:, :half].float() / 127.5 - 1.0, noisy[:, half:]], 1)
        out["continue_head"] = continue_head(model, mixed, times, half).permute(0, 1, 4, 2, 3).reshape(-1)
        # retrieval: the clip alone, and the words + <eos> in a retrieve segment
        h = model.trunk(video, segment_mask([(n, VIDEO, [0])]), gate_ids([(n, UNDERSTAND, VIDEO)]))
        out["video_embedding"] = model.video_embedding(h).reshape(-1)
        if cfg.locate:  # the locate head on the first time slot's tokens
            _, gh, gw = cfg.grid
            out["locate_logits"] = model.aux_locate(h[:, :gh * gw]).reshape(-1)
        query = torch.cat([words, torch.tensor([[2]])], 1)
        x = model.embed_text(torch.tensor([RETRIEVE]), query)
        h = model.trunk(x, segment_mask([(x.shape[1], TEXT, [0])]), gate_ids([(x.shape[1], RETRIEVE, TEXT)]))
        out["text_embedding"] = model.text_embedding(h, torch.ones(1, x.shape[1], dtype=torch.bool)).reshape(-1)
        if cfg.slots:
            # continuation's slot head on the first half: located centres, aligned corners, glyphs,
            # the dynamics' places and offset probabilities, and the expected frames
            head = SlotHead(cfg)
            head.load_state_dict(slot_weights)
            context = pixels[:, :half, :, :, 0].float() / 127.5 - 1.0
            frames, parts = head.predict(model, context)
            out.update({f"slot_{k}": v.reshape(-1) for k, v in parts.items()})
            out["slot_expected"] = frames.reshape(-1)
            # text -> video's slot head: the prompt read, two guided glyph steps from seeded noise,
            # the paths from given first corners, the frames
            text = TextSlotHead(cfg)
            text.load_state_dict(text_weights)
            glyph_noise = torch.randn(cfg.slots, 28, 28, generator=g)
            starts = torch.rand(cfg.slots, 2, generator=g) * (cfg.size - 28)
            frames, parts = text.generate(model, words[0], 2, 2.0, glyph_noise, starts)
            out.update({"text_glyph_noise": glyph_noise.reshape(-1), "text_starts": starts.reshape(-1)})
            out.update({f"text_{k}": v.reshape(-1) for k, v in parts.items()})
            out["text_frames"] = frames.reshape(-1)
    save_file({k: v.contiguous().float() for k, v in out.items()}, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:])
