//! Continuation's slot head: it finds each digit of the context and moves it. The world pastes one
//! fixed 28×28 glyph per digit at a whole-pixel corner in every frame (the frame is the digits'
//! maximum), so a future frame is exact once each digit's glyph and corner are known; redrawing
//! pixels, the video decoder's way, never beat predicting black on continuation (model card, "digits
//! as objects drawn by translation").
//! 1. **Locate**: `slots` learned queries read the trunk's states of the context frames alone
//!    (understanding layout) through a 2-layer transformer decoder; each slot's key is matched
//!    against per-pixel features (the stem's three levels at 1/2 resolution, and the pixels) in
//!    every context frame, and a soft-argmax gives its centre (~1 px).
//! 2. **Align** ([`ops::align`], no parameters): whole-pixel corners by template matching, the
//!    path moved so the glyph's ink is centred in its box.
//! 3. **Glyph**: the per-pixel minimum of the slot's context crops.
//! 4. **Dynamics** (trained on paths alone): an MLP carries the context corners to the future ones,
//!    a second gives a distribution over −2..2 px around each rounded future corner, per axis.
//! 5. **Frames**: the glyphs pasted at every offset, weighted (the expected frame, the MSE-optimal
//!    estimate), or at one drawn offset (a sharp future); where slots overlap, their maximum.
//!
//! The twin is `scripts/trainer/slots.py` (same tensor names); `tests/parity` checks both agree.

pub mod ops;
pub mod text;

use super::config::ModelConfig;
use super::error::Result;
use super::layers::{gelu, LayerNorm, Linear, LinearWeight};
use super::stem::Conv2d;
use super::weights::Weights;
use super::read;
use burn::tensor::activation::{relu, softmax};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor, TensorData};
use ops::{Frames, HALF};
use rand::{Rng, SeedableRng};

/// Width of the slot keys and of the per-pixel features they are matched against.
pub const KEY: usize = 64;
/// The dynamics' spread: whole-pixel offsets −REACH..REACH around each rounded future corner.
pub const REACH: usize = 2;
/// Width of the two dynamics MLPs.
pub const DYNAMICS_HIDDEN: usize = 256;
/// Layers of the slot decoder.
pub const SLOT_LAYERS: usize = 2;

/// The slot decoder's attention heads for a trunk of `heads` (PyTorch `nn.MultiheadAttention`).
pub fn slot_heads(heads: usize) -> usize {
    (heads / 2).max(1)
}

/// PyTorch's `nn.MultiheadAttention` (packed `in_proj` of q, k, v; no mask).
#[derive(Clone, Debug)]
struct CrossAttention {
    /// q, k, v: `[D] → [D]`.
    projections: Vec<Linear>,
    out: Linear,
    heads: usize,
}

impl CrossAttention {
    fn load(weights: &Weights, name: &str, heads: usize, device: &Device) -> Result<Self> {
        let w = LinearWeight::load_rows(weights, &format!("{name}.in_proj_weight"), 3, device)?;
        let b = weights.tensor1(&format!("{name}.in_proj_bias"), device)?;
        let d = b.dims()[0] / 3;
        let projections = w.into_iter().enumerate().map(|(i, w)| Linear::new(w, b.clone().narrow(0, i * d, d))).collect();
        Ok(Self { projections, out: Linear::load(weights, &format!("{name}.out_proj"), device)?, heads })
    }

    /// `x`: `[B, Lq, D]` attends to `memory`: `[B, Lk, D]` → `[B, Lq, D]`.
    fn forward(&self, x: Tensor<3>, memory: Tensor<3>) -> Tensor<3> {
        let [b, lq, d] = x.dims();
        let lk = memory.dims()[1];
        let hd = d / self.heads;
        let split = |t: Tensor<3>, i: usize, l: usize| {
            self.projections[i].forward(t).reshape([b, l, self.heads, hd]).swap_dims(1, 2)
        };
        let (q, k, v) = (split(x, 0, lq), split(memory.clone(), 1, lk), split(memory, 2, lk));
        let y = attention(q, k, v, None, None, AttentionModuleOptions::default());
        self.out.forward(y.swap_dims(1, 2).reshape([b, lq, d]))
    }
}

/// PyTorch's `nn.TransformerDecoderLayer(norm_first=True, activation=relu)`.
#[derive(Clone, Debug)]
pub(super) struct DecoderLayer {
    self_attn: CrossAttention,
    cross_attn: CrossAttention,
    norms: [LayerNorm; 3],
    linear1: Linear,
    linear2: Linear,
}

impl DecoderLayer {
    pub(super) fn load(weights: &Weights, name: &str, heads: usize, device: &Device) -> Result<Self> {
        let norm = |i: usize| LayerNorm::load(weights, &format!("{name}.norm{i}"), device);
        Ok(Self {
            self_attn: CrossAttention::load(weights, &format!("{name}.self_attn"), heads, device)?,
            cross_attn: CrossAttention::load(weights, &format!("{name}.multihead_attn"), heads, device)?,
            norms: [norm(1)?, norm(2)?, norm(3)?],
            linear1: Linear::load(weights, &format!("{name}.linear1"), device)?,
            linear2: Linear::load(weights, &format!("{name}.linear2"), device)?,
        })
    }

    pub(super) fn forward(&self, x: Tensor<3>, memory: Tensor<3>) -> Tensor<3> {
        let y = self.norms[0].forward(x.clone());
        let x = x + self.self_attn.forward(y.clone(), y);
        let x = x.clone() + self.cross_attn.forward(self.norms[1].forward(x), memory);
        x.clone() + self.linear2.forward(relu(self.linear1.forward(self.norms[2].forward(x))))
    }
}

/// `nn.Sequential(Linear, GELU, Linear, GELU, Linear)` at `{name}.0`, `.2`, `.4`.
#[derive(Clone, Debug)]
pub(super) struct Mlp([Linear; 3]);

impl Mlp {
    pub(super) fn load(weights: &Weights, name: &str, device: &Device) -> Result<Self> {
        let layer = |i: usize| Linear::load(weights, &format!("{name}.{i}"), device);
        Ok(Self([layer(0)?, layer(2)?, layer(4)?]))
    }

    pub(super) fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.0[2].forward(gelu(self.0[1].forward(gelu(self.0[0].forward(x)))))
    }
}

#[derive(Clone, Debug)]
pub struct SlotHead {
    /// `[1, slots, D]`.
    queries: Tensor<3>,
    layers: Vec<DecoderLayer>,
    key: Linear,
    feat: [Conv2d; 2],
    /// `[1]`: the matching logits' learned sharpness.
    sharp: Tensor<1>,
    /// Context corners → future corners; (that, and its rounding) → offset logits.
    dynamics: Mlp,
    spread: Mlp,
    device: Device,
}

/// What the slot head knows about a context: each slot's glyph, its whole-pixel corner in every
/// context frame and its rounded future corners with their offset probabilities. It draws the
/// future frames (host values in [0, 1], `[F·S·S]`).
#[derive(Clone, Debug)]
pub struct SlotFuture {
    pub size: usize,
    /// Per slot: the soft-argmax centres and the aligned corners of the context frames.
    pub centres: Vec<Vec<[f32; 2]>>,
    pub boxes: Vec<Vec<[i32; 2]>>,
    /// Per slot: 28×28 values.
    pub glyphs: Vec<Vec<f32>>,
    /// Per slot and future frame: the dynamics' corner (before rounding) and `[x, y]` offset
    /// probabilities (2·REACH + 1 each).
    pub places: Vec<Vec<[f32; 2]>>,
    pub probs: Vec<Vec<[Vec<f32>; 2]>>,
}

impl SlotHead {
    pub fn load(weights: &Weights, config: &ModelConfig, device: &Device) -> Result<Self> {
        let heads = slot_heads(config.heads);
        let d = config.d_model;
        Ok(Self {
            queries: weights.tensor2("slots.queries", device)?.reshape([1, config.slots, d]),
            layers: (0..SLOT_LAYERS)
                .map(|i| DecoderLayer::load(weights, &format!("slots.decoder.layers.{i}"), heads, device))
                .collect::<Result<_>>()?,
            key: Linear::load(weights, "slots.key", device)?,
            feat: [Conv2d::load(weights, "slots.feat.0", 1, 1, device)?, Conv2d::load(weights, "slots.feat.2", 1, 1, device)?],
            sharp: weights.tensor1("slots.sharp", device)?,
            dynamics: Mlp::load(weights, "slots.dynamics.net", device)?,
            spread: Mlp::load(weights, "slots.dynamics.spread", device)?,
            device: device.clone(),
        })
    }

    /// Everything but the pixels of the future, from the trunk's states of the context `h`
    /// (`[1, N, D]`), the stem's levels of the context frames and their values in [-1, 1]
    /// (`[T, 1, S, S]`, channel-first); `frames_out` future frames.
    pub async fn future(&self, h: Tensor<3>, levels: [Tensor<4>; 3], context: &[f32], size: usize, frames_out: usize) -> Result<SlotFuture> {
        let count = context.len() / (size * size);
        let centres = self.locate(h, levels, context, count, size).await?;
        let unit: Vec<f32> = context.iter().map(|v| (v + 1.0) / 2.0).collect();
        let frames = Frames { values: &unit, count, size };
        let coarse: Vec<Vec<[f32; 2]>> = centres.iter().map(|path| path.iter().map(|c| [c[0] - HALF, c[1] - HALF]).collect()).collect();
        let boxes = ops::align(frames, &coarse);
        let glyphs: Vec<Vec<f32>> = boxes
            .iter()
            .map(|path| ops::pixel_min(&path.iter().enumerate().map(|(t, &c)| frames.crop(t, c)).collect::<Vec<_>>()))
            .collect();
        let hints: Vec<[f32; 2]> = glyphs
            .iter()
            .map(|g| ops::ink_centre(g).map(|c| (c - HALF) - (c - HALF).round_ties_even()))
            .collect();
        let (places, probs) = self.move_paths(&boxes, &hints, frames_out).await?;
        Ok(SlotFuture { size, centres, boxes, glyphs, places, probs })
    }

    /// Soft-argmax centres `[slot][frame]` px.
    async fn locate(&self, h: Tensor<3>, levels: [Tensor<4>; 3], context: &[f32], count: usize, size: usize) -> Result<Vec<Vec<[f32; 2]>>> {
        let side = size / 2;
        let mut state = self.queries.clone();
        for layer in &self.layers {
            state = layer.forward(state, h.clone());
        }
        let [f1, f2, f3] = levels;
        let pix = Tensor::<4>::from_data(TensorData::new(average_pool(context, count, size), [count, 1, side, side]), &self.device);
        let x = Tensor::cat(vec![f1, upsample(f2, side), upsample(f3, side), pix], 1);
        let feats = self.feat[1].forward(gelu(self.feat[0].forward(x))); // [T, KEY, side, side]
        let feats = feats.reshape([count, KEY, side * side]).swap_dims(0, 1).reshape([KEY, count * side * side]);
        let slots = state.dims()[1];
        let keys = self.key.forward(state).reshape([slots, KEY]);
        let logits = keys.matmul(feats).reshape([slots, count, side * side]) * self.sharp.clone().reshape([1, 1, 1]) / 8.0;
        let weights = read(softmax(logits, 2)).await?;
        Ok(weights
            .chunks(side * side)
            .map(|w| {
                let (mut x, mut y) = (0.0, 0.0);
                for (i, &p) in w.iter().enumerate() {
                    x += p * ((i % side) as f32 * 2.0 + 0.5);
                    y += p * ((i / side) as f32 * 2.0 + 0.5);
                }
                [x, y]
            })
            .collect::<Vec<_>>()
            .chunks(count)
            .map(|c| c.to_vec())
            .collect())
    }

    /// The dynamics: whole-pixel context corners and hints → future corners and offset probabilities.
    async fn move_paths(&self, boxes: &[Vec<[i32; 2]>], hints: &[[f32; 2]], frames_out: usize) -> Result<(Vec<Vec<[f32; 2]>>, Vec<Vec<[Vec<f32>; 2]>>)> {
        let inputs: Vec<Vec<f32>> = boxes
            .iter()
            .zip(hints)
            .map(|(path, hint)| {
                let last = path[path.len() - 1];
                let mut row: Vec<f32> = path.iter().flat_map(|c| [0, 1].map(|a| (c[a] - last[a]) as f32 / 16.0)).collect();
                row.extend([last[0] as f32 / 64.0 - 0.5, last[1] as f32 / 64.0 - 0.5, hint[0] * 2.0, hint[1] * 2.0]);
                row
            })
            .collect();
        let (slots, width) = (inputs.len(), inputs[0].len());
        let x = Tensor::<2>::from_data(TensorData::new(inputs.concat(), [slots, width]), &self.device);
        let moves = read(self.dynamics.forward(x)).await?;
        let places: Vec<Vec<[f32; 2]>> = boxes
            .iter()
            .zip(moves.chunks(frames_out * 2))
            .map(|(path, m)| {
                let last = path[path.len() - 1];
                m.chunks(2).map(|d| [last[0] as f32 + d[0] * 16.0, last[1] as f32 + d[1] * 16.0]).collect()
            })
            .collect();
        let spread_in: Vec<f32> = inputs
            .iter()
            .zip(&places)
            .flat_map(|(row, path)| {
                let mut row = row.clone();
                row.extend(path.iter().flat_map(|p| p.map(|v| (v - v.round_ties_even()) * 2.0)));
                row
            })
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(spread_in, [slots, width + frames_out * 2]), &self.device);
        let n = 2 * REACH + 1;
        let logits = self.spread.forward(x).reshape([slots, frames_out, 2, n]);
        let probs = read(softmax(logits, 3)).await?;
        let probs = probs.chunks(frames_out * 2 * n).map(|s| s.chunks(2 * n).map(|f| [f[..n].to_vec(), f[n..].to_vec()]).collect()).collect();
        Ok((places, probs))
    }
}

impl SlotFuture {
    fn rounded(&self, slot: usize, frame: usize) -> [i32; 2] {
        self.places[slot][frame].map(|v| v.round_ties_even() as i32)
    }

    fn frames_out(&self) -> usize {
        self.places[0].len()
    }

    /// The expected future frames (the MSE-optimal estimate under the dynamics' own uncertainty).
    pub fn expected(&self) -> Vec<f32> {
        self.compose(|slot, frame| ops::expected_frame(self.size, &self.glyphs[slot], self.rounded(slot, frame), [&self.probs[slot][frame][0], &self.probs[slot][frame][1]]))
    }

    /// One sharp future (seeded): each slot's offset in every frame and axis drawn from its
    /// probabilities at one quantile per slot and axis, so a drawn digit keeps to one side of its
    /// expected path instead of jittering from frame to frame (independent draws per frame read
    /// as zigzag motion).
    pub fn draw(&self, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let offsets: Vec<Vec<[i32; 2]>> = self
            .probs
            .iter()
            .map(|slot| {
                let u = [rng.random::<f32>(), rng.random::<f32>()];
                slot.iter().map(|axes| [0, 1].map(|a| pick(&axes[a], u[a]) as i32 - REACH as i32)).collect()
            })
            .collect();
        self.compose(|slot, frame| {
            let at = self.rounded(slot, frame);
            let mut one = vec![0.0; self.size * self.size];
            ops::paste_add(&mut one, self.size, &self.glyphs[slot], [at[0] + offsets[slot][frame][0], at[1] + offsets[slot][frame][1]], 1.0);
            one
        })
    }

    /// Frames `[F·S·S]`: the slots' maximum.
    fn compose(&self, slot_frame: impl Fn(usize, usize) -> Vec<f32>) -> Vec<f32> {
        let plane = self.size * self.size;
        let mut out = vec![0.0f32; self.frames_out() * plane];
        for (frame, values) in out.chunks_mut(plane).enumerate() {
            for slot in 0..self.glyphs.len() {
                for (v, s) in values.iter_mut().zip(slot_frame(slot, frame)) {
                    *v = v.max(s);
                }
            }
        }
        out
    }
}

/// The index `u` (in [0, 1)) falls on in the cumulative distribution `p`.
fn pick(p: &[f32], u: f32) -> usize {
    let mut total = 0.0;
    for (i, &v) in p.iter().enumerate() {
        total += v;
        if u < total {
            return i;
        }
    }
    p.len() - 1
}

/// 2×2 average pooling of `[T, S, S]` values → `[T, S/2, S/2]`.
fn average_pool(values: &[f32], count: usize, size: usize) -> Vec<f32> {
    let side = size / 2;
    let mut out = Vec::with_capacity(count * side * side);
    for frame in values.chunks(size * size).take(count) {
        for y in 0..side {
            for x in 0..side {
                let at = |dy: usize, dx: usize| frame[(2 * y + dy) * size + 2 * x + dx];
                out.push((at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4.0);
            }
        }
    }
    out
}

/// Bilinear upsampling to `side`×`side` as PyTorch's `F.interpolate(align_corners=False)`: two
/// products with a fixed `[from, side]` interpolation matrix (a fixed integer factor).
fn upsample(x: Tensor<4>, side: usize) -> Tensor<4> {
    let [t, c, h, w] = x.dims();
    let device = x.device();
    let by_rows = |from: usize| Tensor::<2>::from_data(TensorData::new(interpolation(from, side), [from, side]), &device);
    let x = x.reshape([t * c * h, w]).matmul(by_rows(w)).reshape([t, c, h, side]).swap_dims(2, 3);
    x.reshape([t * c * side, h]).matmul(by_rows(h)).reshape([t, c, side, side]).swap_dims(2, 3)
}

/// `[from, to]`: column j holds the weights of source pixels for output pixel j.
fn interpolation(from: usize, to: usize) -> Vec<f32> {
    let mut m = vec![0.0; from * to];
    let scale = from as f32 / to as f32;
    for j in 0..to {
        let src = ((j as f32 + 0.5) * scale - 0.5).max(0.0);
        let lo = (src.floor() as usize).min(from - 1);
        let hi = (lo + 1).min(from - 1);
        let frac = src - lo as f32;
        m[lo * to + j] += 1.0 - frac;
        m[hi * to + j] += frac;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_matrices_match_pytorch_bilinear_without_aligned_corners() {
        // F.interpolate(torch.tensor([[[[0., 1., 2., 3.]]]]), size=(1, 8), mode="bilinear", align_corners=False)
        let m = interpolation(4, 8);
        let row: Vec<f32> = (0..8).map(|j| (0..4).map(|i| i as f32 * m[i * 8 + j]).sum()).collect();
        let expected = [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0];
        for (a, b) in row.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{row:?}");
        }
    }

    #[test]
    fn a_draw_picks_by_the_cumulative_distribution() {
        let p = [0.1, 0.2, 0.7];
        assert_eq!([0.05, 0.1, 0.29, 0.31, 0.999].map(|u| pick(&p, u)), [0, 1, 1, 2, 2]);
    }
}
