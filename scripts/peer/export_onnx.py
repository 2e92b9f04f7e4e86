"""Exports forward passes of a trained UniVid model to ONNX (the peer runtime's input), from the
same safetensors weights the Rust runtime loads, through the PyTorch twin:

  classify.onnx       pixels (1, 20, 64, 64) float in 0..255 -> digit_logits (1, 10),
                      motion_logits (1, 80): the `[video | classify]` sequence of `UniVid::classify`.
  classify-int8.onnx  the same, dynamically quantised by onnxruntime (int8 weights, MatMulInteger).
  describe-prefill.onnx  pixels -> logits (1, V) of the first word, cache (layers, 2, 1, heads,
                      N + 1, head_dim): the keys and values of `[video | describe]`.
  describe-step.onnx  word (1, 1) int64, position (1,) int64 (1 for the first word), cache with
                      any number of positions -> logits (1, V) of the next word, the cache one
                      position longer: greedy decoding with a key/value cache, as `UniVid::describe`
                      decodes (the caller loops until <eos>).
Masks and gates are baked in as constants. And one graph per op under ops/ (linear_qkv, attention,
layer_norm, gelu, expert_ffn, glyph_step: text->video's flow step, the guided clean-glyph estimate
of `TextSlotHead::glyph_step` for two digits at t = 1, the step a generation repeats 20 times) at
the small model's shapes, weights baked in from the same formula as crate/src/tools/bench/ops.rs, so ORT and our
kernels run the same op on the same values.

    python3 scripts/peer/export_onnx.py models/univid-small out/peer
"""
import json
import math
import os
import sys
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "trainer"))
from model import ModelConfig, UniVid, patchify, segment_mask, AUX_PREFIX, UNDERSTAND, CLASSIFY, DESCRIBE, TEXT, VIDEO  # noqa: E402
from tasks import gate_ids  # noqa: E402
from text_slots import TextSlotHead  # noqa: E402


class UnderstandSequence(torch.nn.Module):
    """`[video | task token]`, as `UniVid::classify` and `UniVid::describe` start."""

    def __init__(self, model, task):
        super().__init__()
        self.model = model
        n = model.cfg.video_tokens
        self.register_buffer("mask", segment_mask([(n, VIDEO, [0]), (1, TEXT, [0, 1])]))
        self.register_buffer("gates", gate_ids([(n, UNDERSTAND, VIDEO), (1, task, TEXT)]))
        self.register_buffer("task", torch.tensor([task]))
        self.register_buffer("no_words", torch.zeros(1, 0, dtype=torch.long))

    def embed(self, pixels):
        m = self.model
        patches = patchify(pixels / 127.5 - 1.0, m.cfg)
        video = m.embed_video(patches, torch.zeros(1, patches.shape[1]))
        return torch.cat([video, m.embed_text(self.task, self.no_words)], 1)


class Classify(UnderstandSequence):
    def __init__(self, model):
        super().__init__(model, CLASSIFY)

    def forward(self, pixels):
        m = self.model
        h = m.trunk(self.embed(pixels), self.mask, self.gates)[:, -1]
        return m.digit_head(h), m.motion_head(h)


class GlyphStep(torch.nn.Module):
    """One guided glyph estimate, batched as the runtime batches it: conditions, then the no-digit one."""

    def __init__(self, head, guidance=2.0):
        super().__init__()
        self.flow, self.null, self.guidance = head.glyph, head.null, guidance

    def forward(self, x, cond, t):
        k = x.shape[0]
        both = self.flow(torch.cat([x, x])[:, 0], t.expand(2 * k), torch.cat([cond, self.null.expand_as(cond)]))
        return (both[k:] + self.guidance * (both[:k] - both[k:])).clamp(-1, 1)[:, None]


def trunk_with_cache(model, x, mask, gates, past=None):
    """The trunk with each layer's keys and values kept: states (B, L, D) and the cache stacked as
    (layers, 2, B, heads, Lpast + L, head_dim). `past` (the same layout) precedes x's positions."""
    layers = []
    for i, block in enumerate(model.blocks):
        attn, h = block.attn, block.norm1(x)
        b, l, d = h.shape
        q, k, v = attn.qkv(h).reshape(b, l, 3, attn.heads, d // attn.heads).permute(2, 0, 3, 1, 4)
        if past is not None:
            k, v = torch.cat([past[i, 0], k], 2), torch.cat([past[i, 1], v], 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + attn.out(y.transpose(1, 2).reshape(b, l, d))
        x = x + block.ffn(block.norm2(x), gates)
        layers.append(torch.stack([k, v]))
    return model.norm(x), torch.stack(layers)


class DescribePrefill(UnderstandSequence):
    def __init__(self, model):
        super().__init__(model, DESCRIBE)

    def forward(self, pixels):
        h, cache = trunk_with_cache(self.model, self.embed(pixels), self.mask, self.gates)
        return self.model.lm_logits(h[:, -1]), cache


class DescribeStep(torch.nn.Module):
    """One word: it sees every earlier position (video, task token, earlier words), so no mask."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.register_buffer("gates", gate_ids([(1, DESCRIBE, TEXT)]))

    def forward(self, word, position, cache):
        m = self.model
        x = m.tok_emb(word) + m.text_pos[position][:, None]
        h, cache = trunk_with_cache(m, x, None, self.gates, past=cache)
        return m.lm_logits(h[:, -1]), cache


def fill(shape, salt, scale):
    """scale * sin(0.7 k + salt) in f64, as crate/src/tools/bench/ops.rs fills its tensors."""
    k = torch.arange(math.prod(shape), dtype=torch.float64)
    return (scale * torch.sin(0.7 * k + salt)).float().reshape(shape)


def op_graphs(cfg):
    """name -> (module, example inputs, input names): one op of the model, at its shapes."""
    tokens, width, heads, hidden = 161, 256, 8, 512
    linear = lambda out, inp: torch.nn.Linear(inp, out).requires_grad_(False)  # noqa: E731

    def load(layer, w_salt, b_salt):
        layer.weight.copy_(fill(layer.weight.shape, w_salt, 0.06))
        layer.bias.copy_(fill(layer.bias.shape, b_salt, 0.1))
        return layer

    class Attention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mask", segment_mask([(tokens - 1, VIDEO, [0]), (1, TEXT, [0, 1])]))

        def forward(self, qkv):  # as trunk_with_cache: split the heads, attend, put them side by side
            b, n, _ = qkv.shape
            q, k, v = qkv.reshape(b, n, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask)
            return y.transpose(1, 2).reshape(b, n, width)

    norm = torch.nn.LayerNorm(width).requires_grad_(False)
    norm.weight.copy_(fill((width,), 7.0, 1.0))
    norm.bias.copy_(fill((width,), 8.0, 0.1))
    x = torch.zeros(tokens, width)
    expert = torch.nn.Sequential(load(linear(hidden, width), 10.0, 11.0), torch.nn.GELU(),
                                 load(linear(width, hidden), 12.0, 13.0))
    head = TextSlotHead(cfg).requires_grad_(False)
    for name, p in head.state_dict().items():
        name = "text." + name  # the file's (and the runtime's) name: the salt is the sum of its bytes
        scale = 1 / math.sqrt(math.prod(p.shape[1:])) if p.dim() >= 2 else 0.05
        p.copy_(fill(p.shape, sum(name.encode()) / 100, scale))

    class Glyph(GlyphStep):
        def forward(self, x, cond):
            return super().forward(x, cond, torch.ones(1))

    return {
        "glyph_step": (Glyph(head), (torch.zeros(2, 1, 28, 28), torch.zeros(2, 256)), ["x", "cond"]),
        "linear_qkv": (load(linear(3 * width, width), 2.0, 3.0), (x,), ["x"]),
        "attention": (Attention(), (torch.zeros(1, tokens, 3 * width),), ["qkv"]),
        "layer_norm": (norm, (x,), ["x"]),
        "gelu": (torch.nn.GELU(), (torch.zeros(tokens, hidden),), ["x"]),
        "expert_ffn": (expert, (x,), ["x"]),
    }


def export(graph, example, out, inputs, outputs, dynamic_shapes=None):
    with torch.no_grad():
        torch.onnx.export(graph, example, out, input_names=inputs, output_names=outputs,
                          opset_version=18, dynamo=True, external_data=False, dynamic_shapes=dynamic_shapes)
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
    export(DescribePrefill(model).eval(), (example,), os.path.join(out_dir, "describe-prefill.onnx"),
           ["pixels"], ["logits", "cache"])
    n, hd = cfg.video_tokens, cfg.d_model // cfg.heads
    cache = torch.zeros(cfg.layers, 2, 1, cfg.heads, n + 1, hd)
    past = torch.export.Dim("past", min=n + 1, max=n + cfg.text_len)
    export(DescribeStep(model).eval(), (torch.tensor([[3]]), torch.tensor([1]), cache),
           os.path.join(out_dir, "describe-step.onnx"), ["word", "position", "cache"], ["logits", "next_cache"],
           dynamic_shapes={"word": None, "position": None, "cache": {4: past}})
    # The peer's own int8 path (weights int8, activations quantised per call: MatMulInteger), to see
    # whether int8 kernels beat dequantised f32 on this network in the browser.
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(os.path.join(out_dir, "classify.onnx"), os.path.join(out_dir, "classify-int8.onnx"),
                     weight_type=QuantType.QInt8)
    print(f"{out_dir}/classify-int8.onnx: {os.path.getsize(os.path.join(out_dir, 'classify-int8.onnx'))} bytes")
    os.makedirs(os.path.join(out_dir, "ops"), exist_ok=True)
    for name, (graph, example, inputs) in op_graphs(cfg).items():
        export(graph.eval(), example, os.path.join(out_dir, "ops", f"{name}.onnx"), inputs, ["y"])


if __name__ == "__main__":
    main(*sys.argv[1:])
