"""Exports the understanding forward pass of a trained UniVid model to ONNX (the peer runtime's
input), from the same safetensors weights the Rust runtime loads, through the PyTorch twin.

Graph: pixels (1, 20, 64, 64) float in 0..255 -> digit_logits (1, 10), motion_logits (1, 80):
the `[video | classify]` sequence of `UniVid::classify`, mask and gates baked in as constants.

    python3 scripts/peer/export_onnx.py models/univid-small out/peer/univid-small-classify.onnx
"""
import json
import os
import sys
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "trainer"))
from model import ModelConfig, UniVid, patchify, segment_mask, AUX_PREFIX, UNDERSTAND, CLASSIFY, TEXT, VIDEO  # noqa: E402
from tasks import gate_ids  # noqa: E402


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


def main(model_dir, out):
    meta = json.load(open(os.path.join(model_dir, "config.json")))
    cfg = ModelConfig(**meta["model"])
    model = UniVid(cfg)
    weights = {k: v.float() for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.startswith(AUX_PREFIX) for k in missing), (missing, unexpected)
    model.eval()
    graph = Classify(model).eval()
    example = torch.zeros(1, cfg.frames, cfg.size, cfg.size)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(graph, (example,), out, input_names=["pixels"], output_names=["digit_logits", "motion_logits"],
                          opset_version=18, dynamo=True, external_data=False)
    print(f"{out}: {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:])
