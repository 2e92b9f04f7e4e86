//! Text → video by slots: each digit clause of the prompt becomes a slot with a glyph and a path,
//! and the frames are the glyphs pasted along the paths (the counterpart of the slot head's
//! continuation; redrawing pixels with the video decoder never followed a prompt).
//! 1. The trunk reads `[generate + prompt]` alone; `slots` learned queries read its states through
//!    a 2-layer transformer decoder: slot k is the prompt's k-th digit clause.
//! 2. Per slot: is it there, its velocity (px per frame) and its glyph's condition.
//! 3. The glyph: a 28×28 rectified-flow U-Net (three levels, FiLM from the condition and the flow
//!    time, clean-sample prediction) sampled with Euler steps and classifier-free guidance against
//!    its "no digit" condition.
//! 4. The path: the first corner drawn from the seed (the world's start distribution), an MLP
//!    carries (corner, velocity) to every frame's corner, bounces included.
//!
//! The twin is `scripts/trainer/text_slots.py` (same tensor names); `tests/parity` checks both agree.

use super::super::config::ModelConfig;
use super::super::decoder::Upsample;
use super::super::error::Result;
use super::super::layers::{gelu, Linear};
use super::super::stem::Conv2d;
use super::super::video::time_features;
use super::super::weights::Weights;
use super::super::read;
use super::ops::{paste_max, SIDE};
use super::{slot_heads, DecoderLayer, Mlp, SLOT_LAYERS};
use burn::tensor::{Device, Tensor, TensorData};

/// Width of a glyph's condition.
pub const COND: usize = 256;
/// Channels of the glyph U-Net's first level (then 2×, 4×).
pub const GLYPH_WIDTH: usize = 32;
/// Width of the path MLP.
pub const PATH_HIDDEN: usize = 256;
/// The scale velocities are read in (the world's speed, px per frame).
pub const SPEED: f32 = 3.6;
/// Glyph values below this are background: the generator's is not exactly black (2–8 of 255),
/// which drew a faint square around every digit; MNIST's is exactly 0.
pub const GLYPH_FLOOR: f32 = 0.05;

/// The glyph generator's FiLM widths per level, in the order they are applied.
fn film_sizes() -> [usize; 6] {
    let c = GLYPH_WIDTH;
    [c, 2 * c, 4 * c, 4 * c, 2 * c, c]
}

#[derive(Clone, Debug)]
struct GlyphFlow {
    cond: [Linear; 2],
    inp: Conv2d,
    down1: Conv2d,
    down2: Conv2d,
    mid1: Conv2d,
    mid2: Conv2d,
    up2: Upsample,
    mix2: Conv2d,
    up1: Upsample,
    mix1: Conv2d,
    out: Conv2d,
}

impl GlyphFlow {
    fn load(weights: &Weights, device: &Device) -> Result<Self> {
        let conv = |name: &str, stride: usize| Conv2d::load(weights, &format!("text.glyph.{name}"), stride, 1, device);
        Ok(Self {
            cond: [Linear::load(weights, "text.glyph.cond.0", device)?, Linear::load(weights, "text.glyph.cond.2", device)?],
            inp: conv("inp", 1)?,
            down1: conv("down1", 2)?,
            down2: conv("down2", 2)?,
            mid1: conv("mid1", 1)?,
            mid2: conv("mid2", 1)?,
            up2: Upsample::load(weights, "text.glyph.up2", device)?,
            mix2: conv("mix2", 1)?,
            up1: Upsample::load(weights, "text.glyph.up1", device)?,
            mix1: conv("mix1", 1)?,
            out: conv("out", 1)?,
        })
    }

    /// `x`: `[N, 1, 28, 28]`, one flow time for all, conditions `[N, COND]` → clean estimates `[N, 1, 28, 28]`.
    fn forward(&self, x: Tensor<4>, t: f32, cond: Tensor<2>) -> Tensor<4> {
        let n = x.dims()[0];
        let device = x.device();
        let tf = Tensor::<2>::from_data(TensorData::new(time_features(&vec![t; n], 64), [n, 64]), &device);
        let film = self.cond[1].forward(gelu(self.cond[0].forward(Tensor::cat(vec![cond, tf], 1))));
        let mut parts = Vec::new();
        let mut at = 0;
        for size in film_sizes() {
            let scale = film.clone().narrow(1, at, size).reshape([n, size, 1, 1]);
            let shift = film.clone().narrow(1, at + size, size).reshape([n, size, 1, 1]);
            parts.push((scale, shift));
            at += 2 * size;
        }
        let modulate = |h: Tensor<4>, i: usize| {
            let (scale, shift) = parts[i].clone();
            gelu(h * (scale + 1.0) + shift)
        };
        let h0 = modulate(self.inp.forward(x), 0);
        let h1 = modulate(self.down1.forward(h0.clone()), 1);
        let h2 = modulate(self.down2.forward(h1.clone()), 2);
        let h2 = h2.clone() + modulate(self.mid2.forward(gelu(self.mid1.forward(h2))), 3);
        let u1 = modulate(self.mix2.forward(Tensor::cat(vec![gelu(self.up2.forward(h2)), h1], 1)), 4);
        let u0 = modulate(self.mix1.forward(Tensor::cat(vec![gelu(self.up1.forward(u1)), h0], 1)), 5);
        self.out.forward(u0)
    }
}

#[derive(Clone, Debug)]
pub struct TextSlotHead {
    /// `[1, slots, D]`.
    queries: Tensor<3>,
    layers: Vec<DecoderLayer>,
    present: Linear,
    velocity: Linear,
    condition: Linear,
    path: Mlp,
    glyph: GlyphFlow,
    /// `[1, COND]`: the no-digit condition guidance pushes away from.
    null: Tensor<2>,
    frames: usize,
    size: usize,
}

/// What the head read off a prompt, per slot.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptSlots {
    /// Presence logit (> 0: the slot is drawn).
    pub present: Vec<f32>,
    /// px per frame.
    pub velocity: Vec<[f32; 2]>,
    /// `[slots · COND]`.
    pub condition: Vec<f32>,
}

impl TextSlotHead {
    pub fn load(weights: &Weights, config: &ModelConfig, device: &Device) -> Result<Self> {
        Ok(Self {
            queries: weights.tensor2("text.queries", device)?.reshape([1, config.slots, config.d_model]),
            layers: (0..SLOT_LAYERS)
                .map(|i| DecoderLayer::load(weights, &format!("text.decoder.layers.{i}"), slot_heads(config.heads), device))
                .collect::<Result<_>>()?,
            present: Linear::load(weights, "text.present", device)?,
            velocity: Linear::load(weights, "text.velocity", device)?,
            condition: Linear::load(weights, "text.condition", device)?,
            path: Mlp::load(weights, "text.path", device)?,
            glyph: GlyphFlow::load(weights, device)?,
            null: weights.tensor1("text.null", device)?.reshape([1, COND]),
            frames: config.frames,
            size: config.size,
        })
    }

    /// The prompt's trunk states `[1, n, D]` → what each slot is.
    pub async fn read_prompt(&self, h: Tensor<3>) -> Result<PromptSlots> {
        let mut state = self.queries.clone();
        for layer in &self.layers {
            state = layer.forward(state, h.clone());
        }
        let [_, slots, d] = state.dims();
        let state = state.reshape([slots, d]);
        let present = read(self.present.forward(state.clone())).await?;
        let velocity = read(self.velocity.forward(state.clone())).await?;
        let condition = read(self.condition.forward(state)).await?;
        Ok(PromptSlots { present, velocity: velocity.chunks(2).map(|v| [v[0] * SPEED, v[1] * SPEED]).collect(), condition })
    }

    /// One guided Euler step of the glyphs `x` (`[slots · 28 · 28]`, in place) from flow time `t` to
    /// `t_next`; returns the step's clamped clean estimates (the preview).
    pub async fn glyph_step(&self, x: &mut [f32], t: f32, t_next: f32, slots: &PromptSlots, guidance: f32) -> Result<Vec<f32>> {
        let k = slots.present.len();
        let device = self.null.device();
        let cond = Tensor::<2>::from_data(TensorData::new(slots.condition.clone(), [k, COND]), &device);
        let noisy = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [k, 1, SIDE, SIDE]), &device);
        let guess = read(self.guided_estimate(noisy, t, cond, guidance)).await?;
        for (v, g) in x.iter_mut().zip(&guess) {
            *v = g + (*v - g) * (t_next / t);
        }
        Ok(guess)
    }

    /// The clamped clean estimates of noisy glyphs `[K, 1, 28, 28]` at flow time `t` under their
    /// conditions `[K, COND]`; with guidance ≠ 1 the U-Net also runs on the no-digit condition (one
    /// batch) and the estimate moves `guidance` times as far from that one.
    pub fn guided_estimate(&self, x: Tensor<4>, t: f32, cond: Tensor<2>, guidance: f32) -> Tensor<4> {
        let k = x.dims()[0];
        if guidance == 1.0 {
            return self.glyph_batch(x, t, cond).clamp(-1.0, 1.0);
        }
        let both = self.glyph_batch(Tensor::cat(vec![x.clone(), x], 0), t, Tensor::cat(vec![cond, self.null.clone().expand([k, COND])], 0));
        let plain = both.clone().narrow(0, k, k);
        (plain.clone() + (both.narrow(0, 0, k) - plain) * guidance).clamp(-1.0, 1.0)
    }

    /// The U-Net over a batch; on the CPU backend's thread pool its two halves run side by side:
    /// burn-flex spreads a convolution's products over the pool but re-lays its weights and input
    /// on one thread. In the browser, two threads ran a step 1.34× faster than one as one batch,
    /// 1.6× as two halves (`docs/bench.md`).
    fn glyph_batch(&self, x: Tensor<4>, t: f32, cond: Tensor<2>) -> Tensor<4> {
        #[cfg(feature = "parallel")]
        if x.dims()[0] >= 2 && rayon::current_num_threads() > 1 && x.device() == Device::flex() {
            let n = x.dims()[0];
            let half = n / 2;
            let (x_rest, cond_rest) = (x.clone().narrow(0, half, n - half), cond.clone().narrow(0, half, n - half));
            let (first, rest) = rayon::join(
                || self.glyph.forward(x.narrow(0, 0, half), t, cond.narrow(0, 0, half)),
                || self.glyph.forward(x_rest, t, cond_rest),
            );
            return Tensor::cat(vec![first, rest], 0);
        }
        self.glyph.forward(x, t, cond)
    }

    /// Every slot's whole-pixel corners `[slot][frame]` from its first corner and velocity.
    pub async fn paths(&self, starts: &[[f32; 2]], slots: &PromptSlots) -> Result<Vec<Vec<[i32; 2]>>> {
        let k = starts.len();
        let inputs: Vec<f32> = starts
            .iter()
            .zip(&slots.velocity)
            .flat_map(|(s, v)| [s[0] / 64.0 - 0.5, s[1] / 64.0 - 0.5, v[0] / SPEED, v[1] / SPEED])
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(inputs, [k, 4]), &self.null.device());
        let correction = read(self.path.forward(x)).await?;
        Ok((0..k)
            .map(|slot| {
                (0..self.frames)
                    .map(|f| {
                        let c = &correction[(slot * self.frames + f) * 2..];
                        [0, 1].map(|a| (starts[slot][a] + slots.velocity[slot][a] * f as f32 + c[a] * 16.0).round_ties_even() as i32)
                    })
                    .collect()
            })
            .collect())
    }

    /// Frames `[F·S·S]` in [0, 1]: each present slot's glyph (`[slots · 28 · 28]` in [-1, 1], its
    /// background floored to 0) along its path; where slots overlap, their maximum.
    pub fn render(&self, glyphs: &[f32], paths: &[Vec<[i32; 2]>], slots: &PromptSlots) -> Vec<f32> {
        let (plane, glyph_plane) = (self.size * self.size, SIDE * SIDE);
        let mut frames = vec![0.0f32; self.frames * plane];
        for (slot, path) in paths.iter().enumerate().filter(|(slot, _)| slots.present[*slot] > 0.0) {
            let glyph: Vec<f32> = glyphs[slot * glyph_plane..(slot + 1) * glyph_plane]
                .iter()
                .map(|v| (v.clamp(-1.0, 1.0) + 1.0) / 2.0)
                .map(|v| if v < GLYPH_FLOOR { 0.0 } else { v })
                .collect();
            for (frame, &corner) in frames.chunks_mut(plane).zip(path) {
                paste_max(frame, self.size, &glyph, corner);
            }
        }
        frames
    }
}
