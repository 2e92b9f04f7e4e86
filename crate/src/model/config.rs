//! Model sizes. The shipped model is `small`; `tiny` is for fast tests; `large` (> 300 M
//! parameters) exists to prove the runtime carries bigger checkpoints of the same family.

use super::error::{ModelError, Result};
use super::slots::ops::SIDE;
use super::slots::text::{COND, GLYPH_WIDTH, PATH_HIDDEN};
use super::slots::{DYNAMICS_HIDDEN, KEY, REACH, SLOT_LAYERS};

/// The locate head's outputs per video token: a digit's centre here? · which digit (10) · its
/// velocity (2, kept from training: the twin's head has it).
pub const LOCATE_OUTPUTS: usize = 13;
use serde::{Deserialize, Serialize};

/// Tasks; each token's FFN gate row is `task * 2 + modality`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Video tokens of an understanding sequence (shared by classify/describe/ask).
    Understand = 0,
    Classify = 1,
    Describe = 2,
    Ask = 3,
    Generate = 4,
    Continue = 5,
    /// A text segment embedded for retrieval (it sees only itself).
    Retrieve = 6,
}

pub const TASKS: usize = 7;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modality {
    Text = 0,
    Video = 1,
}

pub fn gate_row(task: Task, modality: Modality) -> usize {
    task as usize * 2 + modality as usize
}

/// The (task, modality) gate rows the trainer actually uses, with readable names (`univid info`).
pub const GATE_ROLES: [(&str, Task, Modality); 8] = [
    ("understand/video", Task::Understand, Modality::Video),
    ("classify/text", Task::Classify, Modality::Text),
    ("describe/text", Task::Describe, Modality::Text),
    ("ask/text", Task::Ask, Modality::Text),
    ("generate/text", Task::Generate, Modality::Text),
    ("generate/video", Task::Generate, Modality::Video),
    ("continue/text", Task::Continue, Modality::Text),
    ("continue/video", Task::Continue, Modality::Video),
];

/// Unknown fields are an error: a runtime older than a checkpoint must refuse it, not silently
/// drop the parts it does not know (e.g. `stem_context`) and compute something else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub frames: usize,
    pub size: usize,
    pub channels: usize,
    /// Tubelet extent in time and in space: 2×16×16 turns 20×64×64 into 10×4×4 = 160 tokens
    /// (2×8×8 would give 640 and train ~4× slower on the 2-core CPU the shipped model trains on).
    pub tubelet_t: usize,
    pub tubelet_hw: usize,
    pub d_model: usize,
    pub layers: usize,
    pub heads: usize,
    /// FFN experts per block (understand-leaning, generate-leaning, shared: the gate decides).
    pub experts: usize,
    pub expert_hidden: usize,
    pub vocab: usize,
    pub text_len: usize,
    /// Sinusoidal features of the flow time t before its MLP.
    pub time_dim: usize,
    /// Width of the per-frame conv stem: its features are added to the tubelet embedding and are
    /// the video decoder's cells and skips (so it must be > 0).
    pub stem_channels: usize,
    /// Residual 3×3 convs at 1/8 resolution after the stem's strided ones. Those see 15 px and the
    /// tubelet projection 23 px, less than a 28 px digit; two more see 55 px, a whole digit
    /// (checkpoints written before they existed load as 0).
    #[serde(default)]
    pub stem_context: usize,
    /// Width of the retrieval space clips and texts are embedded into.
    pub embed_dim: usize,
    /// What the video decoder predicts: only `sample` is accepted (see [`Prediction`]).
    pub prediction: Prediction,
    /// Generation's video path (`VideoDecoder`): features each 8-px cell reads out per frame
    /// before the conv decoder. Required: checkpoints with the earlier linear tubelet head are
    /// refused rather than half loaded.
    pub cell_channels: usize,
    /// Continuation's slot head (`slots.rs`): how many digits it follows (the world's most per clip);
    /// 0 = a checkpoint without one, which cannot continue clips.
    #[serde(default)]
    pub slots: usize,
    /// The locate head (`UniVid::locate_logits`): which grid cell holds a digit's centre at a time
    /// slot's first frame, and which digit; answers where a digit starts and ends up. A checkpoint
    /// without it (false) has those answers decoded by the language head.
    #[serde(default)]
    pub locate: bool,
}

/// The video head's target, as a checkpoint states it. The clean sample lies on the
/// low-dimensional digit manifold a small trunk can reach, the noise in ε − x₀ does not
/// (x-prediction, as in JiT by Li & He, 2025; an early checkpoint that predicted the velocity made
/// only blurs), so `Velocity` is named only to be refused with a clear error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prediction {
    /// The rectified-flow velocity ε − x₀.
    Velocity,
    /// The clean sample x₀; the sampler turns it into the velocity (x_t − x₀) / t.
    Sample,
}

impl ModelConfig {
    pub fn small() -> Self {
        Self {
            frames: 20,
            size: 64,
            channels: 1,
            tubelet_t: 2,
            tubelet_hw: 16,
            d_model: 256,
            layers: 6,
            heads: 8,
            experts: 3,
            expert_hidden: 512,
            vocab: 47,
            text_len: 32,
            time_dim: 64,
            stem_channels: 32,
            stem_context: 2,
            embed_dim: 128,
            prediction: Prediction::Sample,
            cell_channels: 64,
            slots: 2,
            locate: true,
        }
    }

    pub fn tiny() -> Self {
        Self { d_model: 32, layers: 2, heads: 2, expert_hidden: 64, stem_channels: 8, stem_context: 1, cell_channels: 8, ..Self::small() }
    }

    pub fn large() -> Self {
        Self { d_model: 1024, layers: 24, heads: 16, expert_hidden: 2048, ..Self::small() }
    }

    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "tiny" => Ok(Self::tiny()),
            "small" => Ok(Self::small()),
            "large" => Ok(Self::large()),
            other => Err(ModelError::Config(format!("unknown preset '{other}' (tiny, small, large)"))),
        }
    }

    /// (T', H', W'): the tubelet grid.
    pub fn grid(&self) -> (usize, usize, usize) {
        (self.frames / self.tubelet_t, self.size / self.tubelet_hw, self.size / self.tubelet_hw)
    }

    pub fn patch_dim(&self) -> usize {
        self.tubelet_t * self.tubelet_hw * self.tubelet_hw * self.channels
    }

    pub fn video_tokens(&self) -> usize {
        let (t, h, w) = self.grid();
        t * h * w
    }

    /// The generation path's tokens: one per 8-px cell of a frame, all frames folded into it.
    pub fn cells(&self) -> usize {
        (self.size / 8) * (self.size / 8)
    }

    /// Values of one frame, channel-first (`[C, H, W]`): the layout the sampler holds.
    pub fn frame_values(&self) -> usize {
        self.channels * self.size * self.size
    }

    pub fn validate(&self) -> Result<()> {
        let ok = self.frames.is_multiple_of(self.tubelet_t)
            && self.size.is_multiple_of(self.tubelet_hw)
            && self.d_model.is_multiple_of(self.heads)
            && self.time_dim.is_multiple_of(2)
            && self.experts > 0
            && self.layers > 0
            && self.text_len > 1
            && self.channels > 0
            && self.embed_dim > 0
            // The stem halves the resolution three times and covers a tubelet with whole cells.
            && self.tubelet_hw % 8 == 0
            && self.stem_channels % 2 == 0
            // The video decoder reads the stem's three levels back up, halving its width twice, and
            // predicts the clean sample.
            && self.stem_channels > 0
            && self.cell_channels >= 4
            && self.cell_channels.is_multiple_of(4)
            && self.size.is_multiple_of(8)
            && self.prediction == Prediction::Sample
            // The slot head pastes 28×28 grayscale glyphs and reads a 1/2-resolution map.
            && (self.slots == 0 || (self.channels == 1 && self.size >= SIDE && self.size.is_multiple_of(2)));
        if ok {
            Ok(())
        } else {
            Err(ModelError::Config(format!(
                "inconsistent model config (frames and size must divide into tubelets and 8-px cells, a stem of even \
                 width > 0, cell_channels a multiple of 4, prediction \"sample\", slots only for one channel and frames of at least 28 px): {self:?}"
            )))
        }
    }

    /// Every tensor the model has, with its shape, in PyTorch layout (Linear weight = [out, in]).
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let d = self.d_model;
        let (gt, gh, gw) = self.grid();
        let mut shapes: Vec<(String, Vec<usize>)> = vec![
            ("video_in.weight".into(), vec![d, self.patch_dim()]),
            ("video_in.bias".into(), vec![d]),
            ("pos_t".into(), vec![gt, d]),
            ("pos_h".into(), vec![gh, d]),
            ("pos_w".into(), vec![gw, d]),
            ("time_in.weight".into(), vec![d, self.time_dim]),
            ("time_in.bias".into(), vec![d]),
            ("time_out.weight".into(), vec![d, d]),
            ("time_out.bias".into(), vec![d]),
            ("tok_emb.weight".into(), vec![self.vocab, d]),
            ("text_pos".into(), vec![self.text_len, d]),
            ("task_emb.weight".into(), vec![TASKS, d]),
        ];
        if self.stem_channels > 0 {
            let (c, k) = (self.stem_channels, self.tubelet_hw / 8);
            shapes.extend([
                ("stem.conv1.weight".into(), vec![c / 2, self.channels, 3, 3]),
                ("stem.conv1.bias".into(), vec![c / 2]),
                ("stem.conv2.weight".into(), vec![c, c / 2, 3, 3]),
                ("stem.conv2.bias".into(), vec![c]),
                ("stem.conv3.weight".into(), vec![c, c, 3, 3]),
                ("stem.conv3.bias".into(), vec![c]),
            ]);
            for i in 0..self.stem_context {
                shapes.extend([
                    (format!("stem.context.{i}.weight"), vec![c, c, 3, 3]),
                    (format!("stem.context.{i}.bias"), vec![c]),
                ]);
            }
            shapes.extend([
                ("stem.proj.weight".into(), vec![d, self.tubelet_t * c, k, k]),
                ("stem.proj.bias".into(), vec![d]),
            ]);
        }
        for i in 0..self.layers {
            let p = format!("blocks.{i}");
            shapes.extend([
                (format!("{p}.norm1.weight"), vec![d]),
                (format!("{p}.norm1.bias"), vec![d]),
                (format!("{p}.attn.qkv.weight"), vec![3 * d, d]),
                (format!("{p}.attn.qkv.bias"), vec![3 * d]),
                (format!("{p}.attn.out.weight"), vec![d, d]),
                (format!("{p}.attn.out.bias"), vec![d]),
                (format!("{p}.norm2.weight"), vec![d]),
                (format!("{p}.norm2.bias"), vec![d]),
                (format!("{p}.ffn.gate.weight"), vec![TASKS * 2, self.experts]),
            ]);
            for e in 0..self.experts {
                let q = format!("{p}.ffn.experts.{e}");
                shapes.extend([
                    (format!("{q}.fc1.weight"), vec![self.expert_hidden, d]),
                    (format!("{q}.fc1.bias"), vec![self.expert_hidden]),
                    (format!("{q}.fc2.weight"), vec![d, self.expert_hidden]),
                    (format!("{q}.fc2.bias"), vec![d]),
                ]);
            }
        }
        shapes.extend([
            ("norm.weight".into(), vec![d]),
            ("norm.bias".into(), vec![d]),
            ("digit_head.weight".into(), vec![10, d]),
            ("digit_head.bias".into(), vec![10]),
            ("motion_head.weight".into(), vec![80, d]),
            ("motion_head.bias".into(), vec![80]),
            ("retrieve_video.weight".into(), vec![self.embed_dim, d]),
            ("retrieve_video.bias".into(), vec![self.embed_dim]),
            ("retrieve_text.weight".into(), vec![self.embed_dim, d]),
            ("retrieve_text.bias".into(), vec![self.embed_dim]),
            ("retrieve_scale".into(), vec![1]),
        ]);
        let (c, k, ch) = (self.stem_channels, self.cell_channels, self.channels);
        shapes.extend([
            ("decoder.fold.weight".into(), vec![d, self.frames * (c + 64 * ch)]),
            ("decoder.fold.bias".into(), vec![d]),
            ("decoder.pos".into(), vec![self.cells(), d]),
            ("decoder.readout.weight".into(), vec![self.frames * k, d]),
            ("decoder.readout.bias".into(), vec![self.frames * k]),
            // Transposed convs: [in, out, kh, kw], as PyTorch and burn both store them.
            ("decoder.up1.weight".into(), vec![k + 2 * c, k, 4, 4]),
            ("decoder.up1.bias".into(), vec![k]),
            ("decoder.up2.weight".into(), vec![k + 2 * c, k / 2, 4, 4]),
            ("decoder.up2.bias".into(), vec![k / 2]),
            ("decoder.up3.weight".into(), vec![k / 2 + c, k / 4, 4, 4]),
            ("decoder.up3.bias".into(), vec![k / 4]),
            ("decoder.out.weight".into(), vec![ch, k / 4 + 2 * ch, 3, 3]),
            ("decoder.out.bias".into(), vec![ch]),
        ]);
        if self.locate {
            shapes.extend([("locate.weight".into(), vec![LOCATE_OUTPUTS, d]), ("locate.bias".into(), vec![LOCATE_OUTPUTS])]);
        }
        if self.slots > 0 {
            shapes.extend(self.slot_shapes(c));
        }
        shapes
    }

    /// The slot heads' tensors: continuation (`slots.rs`) and text → video (`slots/text.rs`).
    fn slot_shapes(&self, c: usize) -> Vec<(String, Vec<usize>)> {
        let (d, hidden) = (self.d_model, DYNAMICS_HIDDEN);
        let (frames_in, frames_out) = (self.frames / 2, self.frames - self.frames / 2);
        let mut shapes: Vec<(String, Vec<usize>)> = vec![("slots.queries".into(), vec![self.slots, d])];
        shapes.extend(self.slot_decoder_shapes("slots"));
        shapes.extend([
            ("slots.key.weight".into(), vec![KEY, d]),
            ("slots.key.bias".into(), vec![KEY]),
            ("slots.feat.0.weight".into(), vec![KEY, c / 2 + 2 * c + self.channels, 3, 3]),
            ("slots.feat.0.bias".into(), vec![KEY]),
            ("slots.feat.2.weight".into(), vec![KEY, KEY, 3, 3]),
            ("slots.feat.2.bias".into(), vec![KEY]),
            ("slots.sharp".into(), vec![1]),
        ]);
        let path_in = frames_in * 2 + 4;
        shapes.extend(mlp_shapes("slots.dynamics.net", path_in, hidden, frames_out * 2));
        shapes.extend(mlp_shapes("slots.dynamics.spread", path_in + frames_out * 2, hidden, frames_out * 2 * (2 * REACH + 1)));
        // text → video (`slots/text.rs`)
        shapes.push(("text.queries".into(), vec![self.slots, d]));
        shapes.extend(self.slot_decoder_shapes("text"));
        for (name, out) in [("present", 1), ("velocity", 2), ("condition", COND)] {
            shapes.extend([(format!("text.{name}.weight"), vec![out, d]), (format!("text.{name}.bias"), vec![out])]);
        }
        shapes.extend(mlp_shapes("text.path", 4, PATH_HIDDEN, self.frames * 2));
        let g = GLYPH_WIDTH;
        let film = 2 * (g + 2 * g + 4 * g + 4 * g + 2 * g + g);
        shapes.extend([
            ("text.glyph.cond.0.weight".into(), vec![256, COND + 64]),
            ("text.glyph.cond.0.bias".into(), vec![256]),
            ("text.glyph.cond.2.weight".into(), vec![film, 256]),
            ("text.glyph.cond.2.bias".into(), vec![film]),
            ("text.null".into(), vec![COND]),
        ]);
        // [out, in, k, k] convs; the two transposed ones [in, out, k, k], as PyTorch stores them
        for (name, a, b, k) in [("inp", g, 1, 3), ("down1", 2 * g, g, 4), ("down2", 4 * g, 2 * g, 4), ("mid1", 4 * g, 4 * g, 3),
            ("mid2", 4 * g, 4 * g, 3), ("up2", 4 * g, 2 * g, 4), ("mix2", 2 * g, 4 * g, 3), ("up1", 2 * g, g, 4), ("mix1", g, 2 * g, 3), ("out", 1, g, 3)]
        {
            let bias = if name.starts_with("up") { b } else { a };
            shapes.extend([(format!("text.glyph.{name}.weight"), vec![a, b, k, k]), (format!("text.glyph.{name}.bias"), vec![bias])]);
        }
        shapes
    }

    /// The `nn.TransformerDecoder` a slot head reads the trunk with (PyTorch's names).
    fn slot_decoder_shapes(&self, head: &str) -> Vec<(String, Vec<usize>)> {
        let d = self.d_model;
        let mut shapes = Vec::new();
        for i in 0..SLOT_LAYERS {
            let p = format!("{head}.decoder.layers.{i}");
            for attn in ["self_attn", "multihead_attn"] {
                shapes.extend([
                    (format!("{p}.{attn}.in_proj_weight"), vec![3 * d, d]),
                    (format!("{p}.{attn}.in_proj_bias"), vec![3 * d]),
                    (format!("{p}.{attn}.out_proj.weight"), vec![d, d]),
                    (format!("{p}.{attn}.out_proj.bias"), vec![d]),
                ]);
            }
            shapes.extend([
                (format!("{p}.linear1.weight"), vec![2 * d, d]),
                (format!("{p}.linear1.bias"), vec![2 * d]),
                (format!("{p}.linear2.weight"), vec![d, 2 * d]),
                (format!("{p}.linear2.bias"), vec![d]),
            ]);
            for n in 1..=3 {
                shapes.extend([(format!("{p}.norm{n}.weight"), vec![d]), (format!("{p}.norm{n}.bias"), vec![d])]);
            }
        }
        shapes
    }

    pub fn parameter_count(&self) -> usize {
        self.tensor_shapes().iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }
}

/// `nn.Sequential(Linear, GELU, Linear, GELU, Linear)` at `{name}.0`, `.2`, `.4`.
fn mlp_shapes(name: &str, inputs: usize, hidden: usize, outputs: usize) -> Vec<(String, Vec<usize>)> {
    vec![
        (format!("{name}.0.weight"), vec![hidden, inputs]),
        (format!("{name}.0.bias"), vec![hidden]),
        (format!("{name}.2.weight"), vec![hidden, hidden]),
        (format!("{name}.2.bias"), vec![hidden]),
        (format!("{name}.4.weight"), vec![outputs, hidden]),
        (format!("{name}.4.bias"), vec![outputs]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_sized_as_promised() {
        for name in ["tiny", "small", "large"] {
            ModelConfig::preset(name).unwrap().validate().unwrap();
        }
        // 7.8 M in the trunk and its understanding and decoder heads, 4.6 M in the two slot heads
        assert!(ModelConfig::small().parameter_count() <= 13_000_000);
        assert!(ModelConfig::large().parameter_count() >= 300_000_000);
        assert_eq!(ModelConfig::small().video_tokens(), 160);
        assert_eq!(ModelConfig::small().patch_dim(), 512);
    }

    #[test]
    fn a_config_written_before_the_video_decoder_is_refused_by_name() {
        let mut json = serde_json::to_value(ModelConfig::small()).unwrap();
        json.as_object_mut().unwrap().remove("cell_channels");
        let error = serde_json::from_value::<ModelConfig>(json).unwrap_err().to_string();
        assert!(error.contains("missing field `cell_channels`"), "{error}");
        let velocity = ModelConfig { prediction: Prediction::Velocity, ..ModelConfig::small() };
        assert!(velocity.validate().is_err(), "the decoder predicts clean samples only");
    }

    #[test]
    fn a_config_written_before_the_context_convs_has_none() {
        let mut json = serde_json::to_value(ModelConfig::small()).unwrap();
        json.as_object_mut().unwrap().remove("stem_context");
        let old: ModelConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.stem_context, 0);
        assert!(!old.tensor_shapes().iter().any(|(name, _)| name.starts_with("stem.context")));
        assert_eq!(ModelConfig::small().parameter_count() - old.parameter_count(), 2 * (32 * 32 * 9 + 32));
    }

    #[test]
    fn a_config_from_a_newer_model_is_refused_not_half_read() {
        let mut json = serde_json::to_value(ModelConfig::small()).unwrap();
        json["stem_dilation"] = 2.into();
        let error = serde_json::from_value::<ModelConfig>(json).unwrap_err().to_string();
        assert!(error.contains("unknown field `stem_dilation`"), "{error}");
    }
}
