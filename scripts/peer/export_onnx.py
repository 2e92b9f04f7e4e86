"""Exports two forward passes of a trained UniVid model to ONNX (the peer runtime's input), from
the same safetensors weights the Rust runtime loads, through the PyTorch twin:

  classify.onnx       pixels (1, 20, 64, 64) float in 0..255 -> digit_logits (1, 10),
                      motion_logits (1, 80): the `[video | classify]` sequence of `UniVid::classify`.
  generate-step.onnx  words (1, 30) int64 (the prompt's token ids, then 0 = <pad>; padded keys are
                      masked, so this equals the unpadded sequence), x (1, N, P) noisy tubelets,
                      t (1,) flow time -> head
                      (1, N, P): one pass of text->video's `[generate + words | x_t]` sequence (the
                      video head's raw output, a clean-sample estimate for `prediction: sample`).
Masks and gates are baked in as constants.

    python3 scripts/peer/export_onnx.py models/univid-small out/peer
"""
import json
import os
import sys
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "trainer"))
from model import ModelConfig, UniVid, patchify, segment_mask, AUX_PREFIX, UNDERSTAND, CLASSIFY, TEXT, VIDEO  # noqa: E402
from tasks import gate_ids, generate_head  # noqa: E402


class Classify(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
        n = model.cfg.video_tokens
        self.register_buffer("mask", segment_mask([(n, VIDEO, [0]), (1, TEXT, [0, 1])]))
        self.register_buffer("gates", gate_ids([(n, UNDERSTAND, VIDEO), (1, CLASSIFY, TEXT)]))
        self.register_buffer("task", torch.tensor([CLASSIFY]))
        self.register_buffer("no_words", torch.zeros(1, 0, dtype=torch.long))

    def forward(self, pixels):
        m, cfg = self.model, self.model.cfg
        patches = patchify(pixels / 127.5 - 1.0, cfg)
        n = patches.shape[1]
        x = torch.cat([m.embed_video(patches, torch.zeros(1, n)), m.embed_text(self.task, self.no_words)], 1)
        h = m.trunk(x, self.mask, self.gates)[:, n]
        return m.digit_head(h), m.motion_head(h)


class GenerateStep(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, words, x, t):
        return generate_head(self.model, words, x, t.expand(x.shape[:2]))


def export(graph, example, out, inputs, outputs):
    with torch.no_grad():
        torch.onnx.export(graph, example, out, input_names=inputs, output_names=outputs,
                          opset_version=18, dynamo=True, external_data=False)
    print(f"{out}: {os.path.getsize(out)} bytes")


def main(model_dir, out_dir):
    meta = json.load(open(os.path.join(model_dir, "config.json")))
    cfg = ModelConfig(**meta["model"])
    model = UniVid(cfg)
    weights = {k: v.float() for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.startswith(AUX_PREFIX) for k in missing), (missing, unexpected)
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    example = torch.zeros(1, cfg.frames, cfg.size, cfg.size)
    export(Classify(model).eval(), (example,), os.path.join(out_dir, "classify.onnx"),
           ["pixels"], ["digit_logits", "motion_logits"])
    words = torch.zeros(1, cfg.text_len - 2, dtype=torch.long)  # as in training: up to 30 words, padded
    words[0, :4] = torch.tensor([3, 6, 14, 17])
    x = torch.zeros(1, cfg.video_tokens, cfg.patch_dim)
    export(GenerateStep(model).eval(), (words, x, torch.ones(1)), os.path.join(out_dir, "generate-step.onnx"),
           ["words", "x", "t"], ["head"])


if __name__ == "__main__":
    main(*sys.argv[1:])
