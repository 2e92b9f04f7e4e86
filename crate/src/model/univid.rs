//! The whole network: embeddings, the shared trunk, and the three heads (classes, text, video).

use super::attention::LayerCache;
use super::block::Block;
use super::config::{ModelConfig, Task};
use super::decoder::VideoDecoder;
use super::error::{ModelError, Result};
use super::layers::{project, LayerNorm, Linear};
use super::sequence::{self, Layout};
use super::slots::text::{PromptSlots, TextSlotHead};
use super::slots::{SlotFuture, SlotHead};
use super::stem::VideoStem;
use super::video::{clip_to_frames, patchify, time_features, tokens_to_frames};
use crate::data::Clip;
use super::weights::Weights;
use burn::tensor::activation::silu;
use burn::tensor::module::embedding;
use burn::tensor::{Device, Int, Tensor, TensorData};

#[derive(Clone, Debug)]
pub struct UniVid {
    pub config: ModelConfig,
    pub device: Device,
    video_in: Linear,
    stem: VideoStem,
    /// `[N, D]`: pos_t + pos_h + pos_w, summed once at load.
    video_pos: Tensor<2>,
    time_in: Linear,
    time_out: Linear,
    tok_emb: Tensor<2>,
    /// `[D, vocab]`: the tied language head.
    lm_head: Tensor<2>,
    text_pos: Tensor<2>,
    task_emb: Tensor<2>,
    blocks: Vec<Block>,
    norm: LayerNorm,
    digit_head: Linear,
    motion_head: Linear,
    retrieve_video: Linear,
    retrieve_text: Linear,
    /// Log inverse temperature of retrieval scores, `[1]`.
    retrieve_scale: Tensor<1>,
    /// Which grid cell holds a digit's centre, and which digit (`config.locate`).
    locate: Option<Linear>,
    /// `None` until the `generate` weight group is attached (progressive loading).
    decoder: Option<VideoDecoder>,
    /// Continuation's head; loaded with the `generate` group when the config has slots.
    slots: Option<SlotHead>,
    /// Text → video's slot head; loaded with `slots`.
    text_slots: Option<TextSlotHead>,
}

/// Per-layer key/value caches of a prefix.
pub type Cache = Vec<LayerCache>;

impl UniVid {
    /// Loads every tensor; a missing one is an error.
    pub fn load(config: ModelConfig, weights: &Weights, device: &Device) -> Result<Self> {
        let mut model = Self::load_understanding(config, weights, device)?;
        model.attach_generate(weights)?;
        Ok(model)
    }

    /// Loads everything but the video head: classify / describe / ask work, generation waits for
    /// [`attach_generate`](Self::attach_generate).
    pub fn load_understanding(config: ModelConfig, weights: &Weights, device: &Device) -> Result<Self> {
        config.validate()?;
        let (gt, gh, gw) = config.grid();
        let d = config.d_model;
        let pos_t = weights.tensor2("pos_t", device)?.reshape([gt, 1, 1, d]);
        let pos_h = weights.tensor2("pos_h", device)?.reshape([1, gh, 1, d]);
        let pos_w = weights.tensor2("pos_w", device)?.reshape([1, 1, gw, d]);
        let video_pos = (pos_t + pos_h + pos_w).reshape([gt * gh * gw, d]);
        let tok_emb = weights.tensor2("tok_emb.weight", device)?;
        let blocks = (0..config.layers)
            .map(|i| Block::load(weights, &format!("blocks.{i}"), &config, device))
            .collect::<Result<_>>()?;
        Ok(Self {
            video_in: Linear::load(weights, "video_in", device)?,
            stem: VideoStem::load(weights, &config, device)?,
            video_pos,
            time_in: Linear::load(weights, "time_in", device)?,
            time_out: Linear::load(weights, "time_out", device)?,
            lm_head: tok_emb.clone().transpose(),
            tok_emb,
            text_pos: weights.tensor2("text_pos", device)?,
            task_emb: weights.tensor2("task_emb.weight", device)?,
            blocks,
            norm: LayerNorm::load(weights, "norm", device)?,
            digit_head: Linear::load(weights, "digit_head", device)?,
            motion_head: Linear::load(weights, "motion_head", device)?,
            retrieve_video: Linear::load(weights, "retrieve_video", device)?,
            retrieve_text: Linear::load(weights, "retrieve_text", device)?,
            retrieve_scale: weights.tensor1("retrieve_scale", device)?,
            locate: config.locate.then(|| Linear::load(weights, "locate", device)).transpose()?,
            decoder: None,
            slots: None,
            text_slots: None,
            device: device.clone(),
            config,
        })
    }

    /// Video tokens: patches `[N·P]` (noised where t > 0) with one flow time per token → `[1, N, D]`.
    pub fn embed_video(&self, patches: &[f32], times: &[f32]) -> Tensor<3> {
        let c = &self.config;
        let frames = TensorData::new(tokens_to_frames(patches, c), [c.frames, c.channels, c.size, c.size]);
        let [_, _, top] = self.stem.levels(Tensor::from_data(frames, &self.device));
        self.embed_video_part(c, patches, times, top)
    }

    /// [`embed_video`](Self::embed_video) of a clip of `part.frames` frames (the model's first
    /// positions), given the stem's last level of its frames.
    fn embed_video_part(&self, part: &ModelConfig, patches: &[f32], times: &[f32], stem_top: Tensor<4>) -> Tensor<3> {
        let n = part.video_tokens();
        let x = Tensor::<2>::from_data(TensorData::new(patches.to_vec(), [n, part.patch_dim()]), &self.device);
        let x = self.video_in.forward(x) + self.video_pos.clone().narrow(0, 0, n) + self.time_embedding(times);
        (x + self.stem.tokens(stem_top, part)).unsqueeze_dim(0)
    }

    /// Flow times → `[len(times), D]`.
    fn time_embedding(&self, times: &[f32]) -> Tensor<2> {
        let td = self.config.time_dim;
        let t = Tensor::<2>::from_data(TensorData::new(time_features(times, td), [times.len(), td]), &self.device);
        self.time_out.forward(silu(self.time_in.forward(t)))
    }

    /// A text segment `[task, tokens…]` starting at segment position `offset` → `[1, n, D]`.
    /// With `task = None` only the tokens are embedded (decoding continues a segment).
    pub fn embed_text(&self, task: Option<Task>, tokens: &[u16], offset: usize) -> Tensor<3> {
        let d = self.config.d_model;
        let mut parts = Vec::new();
        if let Some(task) = task {
            parts.push(self.task_emb.clone().narrow(0, task as usize, 1));
        }
        if !tokens.is_empty() {
            let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
            let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, tokens.len()]), &self.device);
            parts.push(embedding(self.tok_emb.clone(), ids).reshape([tokens.len(), d]));
        }
        let x = Tensor::cat(parts, 0);
        let n = x.dims()[0];
        (x + self.text_pos.clone().narrow(0, offset, n)).unsqueeze_dim(0)
    }

    /// Runs the trunk over new positions `x` laid out by `layout` (the whole sequence so far);
    /// with `past`, `x` is only the last positions and the cache holds the rest.
    ///
    /// # Shapes
    /// `x`: `[B, Lnew, D]` → normalised hidden states `[B, Lnew, D]`
    pub fn trunk(&self, x: Tensor<3>, layout: &Layout, past: Option<&Cache>) -> (Tensor<3>, Cache) {
        let l_new = x.dims()[1];
        let total = layout.len();
        let blocked = layout.blocked(&self.device).narrow(2, total - l_new, l_new);
        let gates = layout.gate_tensor(&self.device).narrow(0, total - l_new, l_new);
        let mut x = x;
        let mut cache = Vec::with_capacity(self.blocks.len());
        for (i, block) in self.blocks.iter().enumerate() {
            let (y, layer_cache) = block.forward(x, blocked.clone(), gates.clone(), past.map(|p| &p[i]));
            x = y;
            cache.push(layer_cache);
        }
        (self.norm.forward(x), cache)
    }

    /// The word embedding table (also the tied LM head): `[vocab, D]`.
    pub fn token_table(&self) -> &Tensor<2> {
        &self.tok_emb
    }

    /// `[B, L, D]` → word logits `[B, L, vocab]`.
    pub fn lm_logits(&self, h: Tensor<3>) -> Tensor<3> {
        project(h, self.lm_head.clone(), None)
    }

    /// Task-token state `[B, D]` → (digit logits `[B, 10]`, motion logits `[B, 80]`).
    pub fn class_logits(&self, h: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        (self.digit_head.forward(h.clone()), self.motion_head.forward(h))
    }

    /// Final video states `[1, N, D]` → retrieval vector `[1, E]` (mean-pooled, projected, unit).
    pub fn video_embedding(&self, h: Tensor<3>) -> Tensor<2> {
        unit(self.retrieve_video.forward(h.mean_dim(1).squeeze_dim::<2>(1)))
    }

    /// Final states of a `[retrieve + text]` segment `[1, n, D]` → retrieval vector `[1, E]`.
    pub fn text_embedding(&self, h: Tensor<3>) -> Tensor<2> {
        unit(self.retrieve_text.forward(h.mean_dim(1).squeeze_dim::<2>(1)))
    }

    /// Final video states of one time slot's tokens `[1, cells, D]` → the locate head's
    /// `[cells, LOCATE_OUTPUTS]`; `None` for a checkpoint without the head.
    pub fn locate_logits(&self, h: Tensor<3>) -> Option<Tensor<2>> {
        let [_, cells, d] = h.dims();
        Some(self.locate.as_ref()?.forward(h.reshape([cells, d])))
    }

    /// The learned inverse temperature that turns cosine similarities into retrieval logits.
    pub fn retrieve_scale(&self) -> Tensor<1> {
        self.retrieve_scale.clone().exp().clamp_max(100.0)
    }

    pub fn attach_generate(&mut self, weights: &Weights) -> Result<()> {
        self.decoder = Some(VideoDecoder::load(weights, &self.device)?);
        if self.config.slots > 0 {
            self.slots = Some(SlotHead::load(weights, &self.config, &self.device)?);
            self.text_slots = Some(TextSlotHead::load(weights, &self.config, &self.device)?);
        }
        Ok(())
    }

    pub fn can_generate(&self) -> bool {
        self.decoder.is_some()
    }

    /// Whether this checkpoint can continue clips: it has a slot head and it is loaded.
    pub fn can_continue(&self) -> Result<()> {
        if self.config.slots == 0 {
            return Err(ModelError::Config("this checkpoint has no slot head (config `slots` is 0), so it cannot continue clips".into()));
        }
        self.slots.as_ref().map(|_| ()).ok_or(ModelError::NotLoaded { group: "generate" })
    }

    /// Text → video's slot head, when the checkpoint has one and it is loaded.
    pub fn text_slot_head(&self) -> Option<&TextSlotHead> {
        self.text_slots.as_ref()
    }

    /// What text → video's slot head reads off a prompt (`[generate + words]`, the text alone).
    pub async fn prompt_slots(&self, words: &[u16]) -> Result<PromptSlots> {
        let head = self.text_slots.as_ref().ok_or(ModelError::NotLoaded { group: "generate" })?;
        let x = self.embed_text(Some(Task::Generate), words, 0);
        let mut layout = Layout::default();
        layout.push(1 + words.len(), Task::Generate, super::config::Modality::Text, &[0]);
        let (h, _) = self.trunk(x, &layout, None);
        head.read_prompt(h).await
    }

    /// The slot head's reading of a context clip (any number of whole tubelets of frames, model
    /// geometry, one channel): where each digit is, what it looks like and where it goes in the
    /// next `frames_out` frames. The trunk reads the context alone, in the understanding layout.
    pub async fn slot_future(&self, context: &Clip, frames_out: usize) -> Result<SlotFuture> {
        self.can_continue()?;
        let head = self.slots.as_ref().expect("checked by can_continue");
        let part = ModelConfig { frames: context.frames, ..self.config.clone() };
        let n = part.video_tokens();
        let patches = patchify(context, &part);
        let values = clip_to_frames(context, &part);
        let frames = Tensor::<4>::from_data(TensorData::new(values.clone(), [part.frames, 1, part.size, part.size]), &self.device);
        let levels = self.stem.levels(frames);
        let x = self.embed_video_part(&part, &patches, &vec![0.0; n], levels[2].clone());
        let (h, _) = self.trunk(x, &sequence::video_only(n), None);
        head.future(h, levels, &values, part.size, frames_out).await
    }

    /// The video head's clean-sample estimate of every frame, for the generation sequence
    /// `[task + words | one token per 8-px cell, all frames folded in]`. `t` is the flow time of
    /// the noised frames (the others are clean context); `anchor` is the last clean frame (`None`
    /// when every frame is noised).
    ///
    /// # Shapes
    /// `frames`: `[T·C·H·W]` channel-first values → `[T, C, H, W]`
    pub fn video_estimate(&self, task: Task, words: &[u16], frames: &[f32], t: f32, anchor: Option<usize>) -> Result<Tensor<4>> {
        let decoder = self.decoder.as_ref().ok_or(ModelError::NotLoaded { group: "generate" })?;
        let c = &self.config;
        let x = Tensor::<4>::from_data(TensorData::new(frames.to_vec(), [c.frames, c.channels, c.size, c.size]), &self.device);
        let levels = self.stem.levels(x.clone());
        let cells = decoder.tokens(x.clone(), levels[2].clone(), c) + self.time_embedding(&[t]);
        let n = c.cells();
        let input = Tensor::cat(vec![self.embed_text(Some(task), words, 0), cells.unsqueeze_dim(0)], 1);
        let (h, _) = self.trunk(input, &sequence::generation(task, words.len(), n), None);
        let h = h.narrow(1, 1 + words.len(), n).squeeze_dim::<2>(0);
        Ok(decoder.forward(h, levels, x, anchor, c))
    }

    /// Gate mixing weights `[layer][task·2 + modality][expert]`.
    pub fn gate_weights(&self) -> Vec<Vec<Vec<f32>>> {
        self.blocks.iter().map(|b| b.ffn.gate_weights()).collect()
    }
}

/// Rows scaled to unit L2 norm.
fn unit(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
