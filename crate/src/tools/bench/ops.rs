//! Single operations of the small model at its real shapes — one `[video | task]` sequence of
//! 161 tokens × 256 widths, 8 heads of 32, expert hidden 512; and text→video's step, the glyph
//! U-Net's guided estimate for two digits — run through the same functions the model runs, on
//! deterministic inputs and weights. The browser times them next to ONNX Runtime Web running
//! one-operation graphs of the same ops and values (`scripts/peer/export_onnx.py --ops`): the
//! per-op half of the peer comparison. Figures only; the outputs are compared, not asserted here.

use crate::model::layers::{gelu, project};
use crate::model::slots::ops::SIDE;
use crate::model::slots::text::{TextSlotHead, COND};
use crate::model::{sequence, ModelConfig, Task, Weights};
use crate::model::attention::attend;
use burn::tensor::module::layer_norm;
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// The ops, in the order reports list them.
pub const OPS: [&str; 6] = ["linear_qkv", "attention", "layer_norm", "gelu", "expert_ffn", "glyph_step"];

const TOKENS: usize = 161; // 160 video tubelets + the task token
const WIDTH: usize = 256;
const HEADS: usize = 8;
const HIDDEN: usize = 512;
/// Text→video's step as the peer's caption needs it: two digits, guidance 2 (the default) from t = 1.
const GLYPHS: usize = 2;
const GUIDANCE: f32 = 2.0;

/// `scale · sin(0.7 k + salt)`, computed in f64: the same values in Rust and in the exporter.
pub fn fill(n: usize, salt: f64, scale: f64) -> Vec<f32> {
    (0..n).map(|k| (scale * (0.7 * k as f64 + salt).sin()) as f32).collect()
}

fn tensor<const D: usize>(shape: [usize; D], salt: f64, scale: f64, device: &Device) -> Tensor<D> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(fill(n, salt, scale), shape), device)
}

/// One op with its inputs and weights made once, ready to run many times.
pub enum OpBench {
    Linear { x: Tensor<2>, weight: Tensor<2>, bias: Tensor<1> },
    /// From the qkv projection's output to the heads side by side again (before the out projection).
    Attention { qkv: Tensor<3>, blocked: Tensor<4, Bool> },
    LayerNorm { x: Tensor<2>, gamma: Tensor<1>, beta: Tensor<1> },
    Gelu { x: Tensor<2> },
    Expert { x: Tensor<2>, w1: Tensor<2>, b1: Tensor<1>, w2: Tensor<2>, b2: Tensor<1> },
    GlyphStep { head: Box<TextSlotHead>, x: Tensor<4>, cond: Tensor<2> },
}

/// A weight as the model holds it: the transposed view of a file's `[out, in]`.
fn weight(out: usize, inp: usize, salt: f64, device: &Device) -> Tensor<2> {
    tensor([out, inp], salt, 0.06, device).transpose()
}

impl OpBench {
    pub fn new(op: &str, device: &Device) -> Result<Self, String> {
        let x = || tensor([TOKENS, WIDTH], 1.0, 1.0, device);
        Ok(match op {
            "linear_qkv" => Self::Linear { x: x(), weight: weight(3 * WIDTH, WIDTH, 2.0, device), bias: tensor([3 * WIDTH], 3.0, 0.1, device) },
            "attention" => {
                // The classify/describe mask: video sees video, the task token sees everything.
                let blocked = sequence::understand(TOKENS - 1, Task::Classify, 0).blocked(device);
                Self::Attention { qkv: tensor([1, TOKENS, 3 * WIDTH], 4.0, 1.0, device), blocked }
            }
            "layer_norm" => Self::LayerNorm { x: x(), gamma: tensor([WIDTH], 7.0, 1.0, device), beta: tensor([WIDTH], 8.0, 0.1, device) },
            "gelu" => Self::Gelu { x: tensor([TOKENS, HIDDEN], 9.0, 3.0, device) },
            "expert_ffn" => Self::Expert {
                x: x(),
                w1: weight(HIDDEN, WIDTH, 10.0, device),
                b1: tensor([HIDDEN], 11.0, 0.1, device),
                w2: weight(WIDTH, HIDDEN, 12.0, device),
                b2: tensor([WIDTH], 13.0, 0.1, device),
            },
            "glyph_step" => Self::GlyphStep {
                head: Box::new(text_slot_head(device)),
                x: tensor([GLYPHS, 1, SIDE, SIDE], 15.0, 1.0, device),
                cond: tensor([GLYPHS, COND], 16.0, 1.0, device),
            },
            other => return Err(format!("unknown op '{other}' (one of {})", OPS.join(", "))),
        })
    }

    /// Runs the op once; the result flattened to `[values]`.
    pub fn run(&self) -> Tensor<1> {
        match self {
            Self::Linear { x, weight, bias } => project(x.clone(), weight.clone(), Some(bias.clone())).flatten(0, 1),
            Self::Attention { qkv, blocked } => attend(qkv.clone(), blocked.clone(), None, HEADS).0.flatten(0, 2),
            Self::LayerNorm { x, gamma, beta } => layer_norm(x.clone(), gamma.clone(), Some(beta.clone()), 1e-5).flatten(0, 1),
            Self::Gelu { x } => gelu(x.clone()).flatten(0, 1),
            Self::Expert { x, w1, b1, w2, b2 } => {
                let h = gelu(project(x.clone(), w1.clone(), Some(b1.clone())));
                project(h, w2.clone(), Some(b2.clone())).flatten(0, 1)
            }
            Self::GlyphStep { head, x, cond } => head.guided_estimate(x.clone(), 1.0, cond.clone(), GUIDANCE).flatten(0, 3),
        }
    }
}

/// The small model's text→video head with every tensor `fill`ed: salt from the name (the sum of its
/// bytes, so the exporter computes the same), scale 1/√fan-in (0.05 for vectors).
fn text_slot_head(device: &Device) -> TextSlotHead {
    let config = ModelConfig::small();
    let tensors = config
        .tensor_shapes()
        .into_iter()
        .filter(|(name, _)| name.starts_with("text."))
        .map(|(name, shape)| {
            let salt = name.bytes().map(f64::from).sum::<f64>() / 100.0;
            let fan_in = shape.iter().skip(1).product::<usize>() as f64;
            let scale = if shape.len() >= 2 { fan_in.sqrt().recip() } else { 0.05 };
            let values = fill(shape.iter().product(), salt, scale);
            (name, (shape, values))
        })
        .collect();
    TextSlotHead::load(&Weights::from_map(tensors), &config, device).expect("the small config names every tensor of the head")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_runs_at_the_model_shapes() {
        let device = Device::flex();
        let sizes: Vec<usize> = OPS.iter().map(|op| OpBench::new(op, &device).unwrap().run().dims()[0]).collect();
        assert_eq!(sizes, [TOKENS * 3 * WIDTH, TOKENS * WIDTH, TOKENS * WIDTH, TOKENS * HIDDEN, TOKENS * WIDTH, GLYPHS * SIDE * SIDE]);
    }

    #[test]
    fn layer_norm_output_is_normalised_per_token() {
        let out = OpBench::new("layer_norm", &Device::flex()).unwrap();
        let OpBench::LayerNorm { gamma, beta, .. } = &out else { unreachable!() };
        // Undo the affine part: each token's row then has mean 0 and variance 1.
        let y = (out.run().reshape([TOKENS, WIDTH]) - beta.clone().unsqueeze()) / gamma.clone().unsqueeze();
        let mean: Vec<f32> = y.clone().mean_dim(1).into_data().try_to_vec().unwrap();
        let var: Vec<f32> = (y.powf_scalar(2.0)).mean_dim(1).into_data().try_to_vec().unwrap();
        assert!(mean.iter().all(|m| m.abs() < 1e-3), "{mean:?}");
        assert!(var.iter().all(|v| (v - 1.0).abs() < 1e-2), "{var:?}");
    }

    #[test]
    fn an_unknown_op_is_an_error() {
        let error = OpBench::new("conv", &Device::flex()).err().unwrap();
        assert!(error.contains("linear_qkv"), "{error}");
    }
}
