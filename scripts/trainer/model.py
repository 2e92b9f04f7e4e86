"""PyTorch training twin of the UniVid burn model (crate/src/model/).

Same tensor names, shapes and layouts as the Rust runtime loads from safetensors; the parity test
(crate/tests/parity.rs + scripts/trainer/parity.py) keeps the two honest. Shapes inline:
B batch, L sequence, D width, P patch dim (tubelet values), N video tokens.
"""
from dataclasses import dataclass, asdict
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

AUX_PREFIX = "aux_"  # training-only tensors: not part of the model the runtime loads

# Tasks; a token's gate row is task * 2 + modality (0 = task/text, 1 = video).
UNDERSTAND, CLASSIFY, DESCRIBE, ASK, GENERATE, CONTINUE, RETRIEVE = range(7)
N_TASKS = 7
TEXT, VIDEO = 0, 1


@dataclass
class ModelConfig:
    frames: int = 20
    size: int = 64
    channels: int = 1
    tubelet_t: int = 2
    tubelet_hw: int = 16
    d_model: int = 256
    layers: int = 6
    heads: int = 8
    experts: int = 3
    expert_hidden: int = 512
    vocab: int = 47  # words; the trainer sets it from the record stream header (the world defines them)
    text_len: int = 32
    time_dim: int = 64  # sinusoidal features of the flow time t
    stem_channels: int = 32  # conv stem width (0 = tubelets embedded by one linear layer only)
    # Residual 3x3 convs at 1/8 resolution after the stem's three strided ones. Those see 15 px, the
    # tubelet projection 23 px: less than a 28 px digit. Two more see 55 px, a whole digit
    # (0 = checkpoints written before they existed).
    stem_context: int = 0
    embed_dim: int = 128  # retrieval space shared by clips and texts
    # What the video decoder predicts: the clean sample x0, which the sampler turns into a velocity
    # (JiT, Li & He 2025: x-prediction with a v-loss; predicting eps - x0 left samples a blur).
    # The only value the runtime accepts; a checkpoint states it.
    prediction: str = "sample"
    # Generation's video path (VideoDecoder): features each 8-px cell reads out per frame before
    # the conv decoder. Chosen by measurement (model card: the video-path design probes).
    cell_channels: int = 64
    # Continuation's slot head (slots.py): the digits it follows; 0 = a checkpoint without one.
    slots: int = 0
    # Whether the checkpoint ships its locate head (aux_locate, as locate.safetensors beside the
    # weights): the runtime reads where each digit starts and ends up from it.
    locate: bool = False

    @property
    def cells(self):  # 8-px cells of a frame: the folded path's tokens
        return (self.size // 8) ** 2

    @property
    def grid(self):  # (T', H', W') tubelet grid
        return (self.frames // self.tubelet_t, self.size // self.tubelet_hw, self.size // self.tubelet_hw)

    @property
    def patch_dim(self):
        return self.tubelet_t * self.tubelet_hw * self.tubelet_hw * self.channels

    @property
    def video_tokens(self):
        t, h, w = self.grid
        return t * h * w

    @staticmethod
    def preset(name):
        presets = {
            "tiny": ModelConfig(d_model=32, layers=2, heads=2, experts=3, expert_hidden=64, stem_channels=8,
                                stem_context=1, cell_channels=8, locate=True),
            "small": ModelConfig(stem_context=2, locate=True),
            "large": ModelConfig(d_model=1024, layers=24, heads=16, experts=3, expert_hidden=2048, stem_context=2,
                                 locate=True),
        }
        return presets[name]

    def to_dict(self):
        return asdict(self)


def patchify(video, cfg):
    """(B, T, H, W) grayscale or (B, T, H, W, C) floats in [-1, 1] -> (B, N, P); token order
    t, h, w; values t, y, x, c (channels innermost, as in the Rust clip's interleaved pixels)."""
    b = video.shape[0]
    tt, th, c = cfg.tubelet_t, cfg.tubelet_hw, cfg.channels
    gt, gh, gw = cfg.grid
    x = video.reshape(b, gt, tt, gh, th, gw, th, c)
    x = x.permute(0, 1, 3, 5, 2, 4, 6, 7)  # B gt gh gw tt th tw c
    return x.reshape(b, gt * gh * gw, tt * th * th * c)


def unpatchify(tokens, cfg):
    """(B, N, P) -> (B, T, H, W) for one channel, (B, T, H, W, C) for more."""
    b = tokens.shape[0]
    tt, th, c = cfg.tubelet_t, cfg.tubelet_hw, cfg.channels
    gt, gh, gw = cfg.grid
    x = tokens.reshape(b, gt, gh, gw, tt, th, th, c).permute(0, 1, 4, 2, 5, 3, 6, 7)
    x = x.reshape(b, gt * tt, gh * th, gw * th, c)
    return x[..., 0] if c == 1 else x


def timestep_features(t, dim):
    """(B, N) flow times in [0,1] -> (B, N, dim) sinusoidal features (t scaled by 1000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[..., None] * 1000.0 * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class VideoStem(nn.Module):
    """Per-frame conv stem to 1/8 resolution, then one strided conv per tubelet (a linear map of
    its tt x C x k x k cells) to the model width. Translation-equivariant stroke features are what
    a linear tubelet embedding alone learns slowly: digits straddle tubelet borders."""

    def __init__(self, cfg):
        super().__init__()
        c, k = cfg.stem_channels, cfg.tubelet_hw // 8
        self.conv1 = nn.Conv2d(cfg.channels, c // 2, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(c // 2, c, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(c, c, 3, stride=2, padding=1)
        # Zero-initialised residual branches: a warm start from a stem without them keeps its function.
        self.context = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1) for _ in range(cfg.stem_context))
        for conv in self.context:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.proj = nn.Conv2d(cfg.tubelet_t * c, cfg.d_model, k, stride=k)

    def levels(self, frames):
        """Channel-first frames (B, T, C, H, W) -> the per-frame features at 1/2, 1/4 and 1/8
        resolution, each (B, T, channels, h, w) (the last after the context convs)."""
        b, t = frames.shape[:2]
        f1 = F.gelu(self.conv1(frames.flatten(0, 1)))
        f2 = F.gelu(self.conv2(f1))
        f3 = F.gelu(self.conv3(f2))
        for conv in self.context:
            f3 = f3 + F.gelu(conv(f3))
        return [f.reshape(b, t, *f.shape[1:]) for f in (f1, f2, f3)]

    def forward(self, video, cfg):
        """(B, T, H, W) or (B, T, H, W, C) -> (B, N, D) in token order t, h, w."""
        b, t, h, w = video.shape[:4]
        x = self.levels(channel_first(video))[2].flatten(0, 1)  # (B*T, C, H/8, W/8)
        gt = t // cfg.tubelet_t
        x = x.reshape(b * gt, cfg.tubelet_t * cfg.stem_channels, h // 8, w // 8)  # channel = dt*C + c
        x = self.proj(x)  # (B*gt, D, gh, gw)
        return x.permute(0, 2, 3, 1).reshape(b, -1, cfg.d_model)


def channel_first(video):
    """(B, T, H, W) or (B, T, H, W, C) -> (B, T, C, H, W)."""
    return video.unsqueeze(2) if video.dim() == 4 else video.permute(0, 1, 4, 2, 3)


class VideoDecoder(nn.Module):
    """Generation's video path (SimVP-style time folding, U-Net decoding). Each 8-px cell is one
    token holding every frame's stem features and pixels; the trunk's state of a cell reads out
    `cell_channels` features per frame, which three transposed convs take back to pixels, with
    skips at every scale from the stem's features and pixels of the frame itself and of an anchor
    frame (the last clean one when continuing; none for text->video). Strokes are then copied and
    shifted by convolutions instead of redrawn by a linear map at every sub-tubelet offset
    (model card, design probes: 134.8 vs 152.8 at t = 1 after 6 000 continuation clips)."""

    def __init__(self, cfg):
        super().__init__()
        d, c, k, ch = cfg.d_model, cfg.stem_channels, cfg.cell_channels, cfg.channels
        self.fold = nn.Linear(cfg.frames * (c + 64 * ch), d)
        self.pos = nn.Parameter(torch.randn(cfg.cells, d) * 0.02)
        self.readout = nn.Linear(d, cfg.frames * k)
        self.up1 = nn.ConvTranspose2d(k + 2 * c, k, 4, stride=2, padding=1)  # 1/8 -> 1/4
        self.up2 = nn.ConvTranspose2d(k + 2 * c, k // 2, 4, stride=2, padding=1)  # 1/4 -> 1/2
        self.up3 = nn.ConvTranspose2d(k // 2 + c, k // 4, 4, stride=2, padding=1)  # 1/2 -> 1
        self.out = nn.Conv2d(k // 4 + 2 * ch, ch, 3, padding=1)
        # Starts at the all-black guess: a random first guess costs ~1 000 clips to unlearn, and a
        # linear output (no sigmoid) keeps a gradient on the digits (measured in the probes).
        nn.init.zeros_(self.out.weight)
        nn.init.constant_(self.out.bias, -1.0)

    def tokens(self, frames, f3):
        """Channel-first frames (B, T, C, H, W) and the stem's (B, T, c, H/8, W/8) -> folded cell
        features (B, cells, T * (c + 64 C)): per frame its c stem features, then its 8x8 pixels
        (y, x, channel)."""
        b, t, ch, h, w = frames.shape
        pix = frames.reshape(b, t, ch, h // 8, 8, w // 8, 8).permute(0, 3, 5, 1, 4, 6, 2)
        pix = pix.reshape(b, h // 8, w // 8, t, 64 * ch)
        feats = torch.cat([f3.permute(0, 3, 4, 1, 2), pix], -1)
        return self.fold(feats.reshape(b, (h // 8) * (w // 8), -1)) + self.pos

    def forward(self, h, levels, frames, anchor):
        """Final cell states h (B, cells, D), the stem levels and channel-first frames the tokens
        came from, the anchor frame's index (or None) -> the clean-sample estimate (B, T, C, H, W)."""
        b, t, ch, hh, ww = frames.shape
        k = self.readout.out_features // t
        x = self.readout(h).reshape(b, hh // 8, ww // 8, t, k).permute(0, 3, 4, 1, 2).flatten(0, 1)

        def skip(level):  # (B, T, c, h, w) -> the frame's and the anchor's features (B*T, 2c, h, w)
            other = torch.zeros_like(level) if anchor is None else level[:, anchor:anchor + 1].expand_as(level)
            return torch.cat([level, other], 2).flatten(0, 1)

        f1, f2, f3 = levels
        x = F.gelu(self.up1(torch.cat([x, skip(f3)], 1)))
        x = F.gelu(self.up2(torch.cat([x, skip(f2)], 1)))
        x = F.gelu(self.up3(torch.cat([x, skip(f1)], 1)))
        return self.out(torch.cat([x, skip(frames)], 1)).reshape(b, t, ch, hh, ww)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x, mask):
        b, l, d = x.shape
        q, k, v = self.qkv(x).reshape(b, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, L, hd)
        return self.out(y.transpose(1, 2).reshape(b, l, d))


class Expert(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fc1 = nn.Linear(cfg.d_model, cfg.expert_hidden)
        self.fc2 = nn.Linear(cfg.expert_hidden, cfg.d_model)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class GatedExperts(nn.Module):
    """FFN = sum_e softmax(gate[task, modality])_e * expert_e(x)."""

    def __init__(self, cfg):
        super().__init__()
        self.gate = nn.Embedding(N_TASKS * 2, cfg.experts)
        nn.init.zeros_(self.gate.weight)
        self.experts = nn.ModuleList(Expert(cfg) for _ in range(cfg.experts))

    def forward(self, x, gate_ids):
        weights = torch.softmax(self.gate(gate_ids).float(), dim=-1).to(x.dtype)  # (B|1, L, E)
        return sum(weights[..., e:e + 1] * expert(x) for e, expert in enumerate(self.experts))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ffn = GatedExperts(cfg)

    def forward(self, x, mask, gate_ids):
        x = x + self.attn(self.norm1(x), mask)
        return x + self.ffn(self.norm2(x), gate_ids)


class UniVid(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        gt, gh, gw = cfg.grid
        self.video_in = nn.Linear(cfg.patch_dim, d)
        if cfg.stem_channels:
            self.stem = VideoStem(cfg)
        self.pos_t = nn.Parameter(torch.randn(gt, d) * 0.02)
        self.pos_h = nn.Parameter(torch.randn(gh, d) * 0.02)
        self.pos_w = nn.Parameter(torch.randn(gw, d) * 0.02)
        self.time_in = nn.Linear(cfg.time_dim, d)
        self.time_out = nn.Linear(d, d)
        self.tok_emb = nn.Embedding(cfg.vocab, d)
        nn.init.normal_(self.tok_emb.weight, std=0.02)
        self.text_pos = nn.Parameter(torch.randn(cfg.text_len, d) * 0.02)
        self.task_emb = nn.Embedding(N_TASKS, d)
        nn.init.normal_(self.task_emb.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(d)
        self.digit_head = nn.Linear(d, 10)
        self.motion_head = nn.Linear(d, 10 * 8)
        self.decoder = VideoDecoder(cfg)
        self.retrieve_video = nn.Linear(d, cfg.embed_dim)
        self.retrieve_text = nn.Linear(d, cfg.embed_dim)
        self.retrieve_scale = nn.Parameter(torch.tensor([math.log(10.0)]))  # log inverse temperature
        # Training-only (never exported; see AUX_PREFIX): from each final video token, which digits
        # are centred in its tubelet and how they move, a dense signal that teaches the trunk to
        # recognise and follow digits long before the clip-level heads could on their own.
        self.aux_locate = nn.Linear(d, 1 + 10 + 2)  # centre here? · which digit · velocity
        # Deep supervision of the conv stem alone (which digit is centred in each tubelet): measured
        # here, the stem learns this within ~300 steps on its own while the same signal through
        # the whole trunk had not started after 250; the trunk then builds on recognised digits.
        self.aux_stem = nn.Linear(d, 10)
        # Each final video token names its own grid cell and time slot. Measured by
        # position_probe.py: position fades through the trunk (quadrant 90 % -> 64 %) while digit
        # identity forms late, and "where does digit D start/end" needs both in one token.
        self.aux_position = nn.Linear(d, gh * gw + gt)

    # ---- embeddings -------------------------------------------------------------------------
    def video_pos(self):
        gt, gh, gw = self.cfg.grid
        pos = self.pos_t[:, None, None] + self.pos_h[None, :, None] + self.pos_w[None, None, :]
        return pos.reshape(gt * gh * gw, -1)  # (N, D)

    def embed_video(self, patches, t):
        """patches (B, N, P) in [-1,1] (noised where t > 0), t (B, N) -> (B, N, D)."""
        return self.embed_video_parts(patches, t)[0]

    def embed_video_parts(self, patches, t):
        """embed_video's result and, separately, the stem's share of it (or None)."""
        time = self.time_out(F.silu(self.time_in(timestep_features(t, self.cfg.time_dim))))
        x = self.video_in(patches) + self.video_pos() + time
        stem = None
        if self.cfg.stem_channels:
            stem = self.stem(unpatchify(patches, self.cfg), self.cfg)
            x = x + stem
        return x, stem

    def embed_cells(self, video, t):
        """The folded path's tokens: video (B, T, H, W[, C]) in [-1, 1] (noised where generated) and
        t (B,), the flow time of its noised frames -> (cell tokens (B, cells, D), the stem's levels,
        channel-first frames), the last two for the decoder's skips."""
        frames = channel_first(video)
        levels = self.stem.levels(frames)
        time = self.time_out(F.silu(self.time_in(timestep_features(t[:, None], self.cfg.time_dim))))
        return self.decoder.tokens(frames, levels[2]) + time, levels, frames

    def embed_text(self, task, tokens):
        """task (B,) and tokens (B, n) -> (B, 1 + n, D): the task token leads its segment."""
        x = torch.cat([self.task_emb(task)[:, None], self.tok_emb(tokens)], dim=1)
        return x + self.text_pos[: x.shape[1]]

    def trunk(self, x, mask, gate_ids):
        for block in self.blocks:
            x = block(x, mask, gate_ids)
        return self.norm(x)

    def lm_logits(self, h):
        return h @ self.tok_emb.weight.t()

    def video_embedding(self, h_video):
        """Final video states (B, N, D) -> unit vectors (B, E): mean-pooled, projected."""
        return F.normalize(self.retrieve_video(h_video.mean(dim=1)).float(), dim=-1)

    def text_embedding(self, h_text, real):
        """Final states of a retrieve segment (B, n, D) and its real positions (B, n) -> (B, E)."""
        w = real.to(h_text.dtype)[..., None]
        pooled = (h_text * w).sum(dim=1) / w.sum(dim=1)
        return F.normalize(self.retrieve_text(pooled).float(), dim=-1)


def segment_mask(segments, key_padding=None):
    """segments: list of (length, modality, visible segment indices); returns a bool mask
    (L, L) or (B, 1, L, L) with key padding, True = may attend.

    Text segments are causal within themselves; video segments are bidirectional."""
    lengths = [s[0] for s in segments]
    total = sum(lengths)
    starts = [sum(lengths[:i]) for i in range(len(segments))]
    mask = torch.zeros(total, total, dtype=torch.bool)
    for i, (n, modality, visible) in enumerate(segments):
        rows = slice(starts[i], starts[i] + n)
        for j in visible:
            cols = slice(starts[j], starts[j] + lengths[j])
            if j == i and modality == TEXT:
                mask[rows, cols] = torch.tril(torch.ones(n, n, dtype=torch.bool))
            else:
                mask[rows, cols] = True
    if key_padding is not None:  # (B, L) True = real token
        mask = mask[None] & key_padding[:, None, :]
        mask = mask | torch.eye(total, dtype=torch.bool)[None]  # a padded query still sees itself
        return mask[:, None]
    return mask
