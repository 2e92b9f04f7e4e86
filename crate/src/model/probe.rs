//! A fixed computation whose numbers every backend must reproduce: the golden check that runs
//! natively (flex, wgpu/Vulkan) and in the browser (flex-wasm, WebGPU) and is compared across them.

use super::config::{ModelConfig, Task};
use super::error::Result;
use super::readback::read;
use super::sequence;
use super::univid::UniVid;
use super::video::{gaussian, patchify};
use super::weights::Weights;
use crate::data::Clip;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Seed of the tiny random model every probe uses.
pub const PROBE_SEED: u64 = 7;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Probe {
    /// `A·B` for the fixed 32×32 matrices of [`matmul_inputs`], row-major.
    pub matmul: Vec<f32>,
    pub digit_probabilities: Vec<f32>,
    /// Word logits of the first describe step.
    pub first_word_logits: Vec<f32>,
    /// First 512 values of the video head's text → video estimate at t = 0.5 from seeded noise.
    pub video_estimate: Vec<f32>,
}

/// Fixed, exactly representable inputs: a_ij = ((7i + 3j) mod 11) / 8, b_ij = ((5i + 2j) mod 13) / 8 − 0.75.
pub fn matmul_inputs(n: usize) -> (Vec<f32>, Vec<f32>) {
    let a = (0..n * n).map(|k| ((7 * (k / n) + 3 * (k % n)) % 11) as f32 / 8.0).collect();
    let b = (0..n * n).map(|k| ((5 * (k / n) + 2 * (k % n)) % 13) as f32 / 8.0 - 0.75).collect();
    (a, b)
}

/// A deterministic test clip (a hashed pixel pattern).
pub fn probe_clip() -> Clip {
    let pixels = (0..20 * 64 * 64).map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    Clip::new(20, 64, 64, pixels).expect("20×64×64")
}

pub async fn run_probe(device: &Device) -> Result<Probe> {
    let n = 32;
    let (a, b) = matmul_inputs(n);
    let a = Tensor::<2>::from_data(TensorData::new(a, [n, n]), device);
    let b = Tensor::<2>::from_data(TensorData::new(b, [n, n]), device);
    let matmul = read(a.matmul(b)).await?;

    let config = ModelConfig::tiny();
    let model = UniVid::load(config.clone(), &Weights::random(&config, PROBE_SEED), device)?;
    let clip = probe_clip();
    let tokens = config.video_tokens();
    let video = model.embed_video(&patchify(&clip, &config), &vec![0.0; tokens]);
    let layout = sequence::understand(tokens, Task::Classify, 0);
    let x = Tensor::cat(vec![video.clone(), model.embed_text(Some(Task::Classify), &[], 0)], 1);
    let (h, _) = model.trunk(x, &layout, None);
    let (digits, _) = model.class_logits(h.clone().narrow(1, tokens, 1).squeeze_dim::<2>(1));
    let digit_probabilities = read(sigmoid(digits)).await?;
    let layout = sequence::understand(tokens, Task::Describe, 0);
    let x = Tensor::cat(vec![video, model.embed_text(Some(Task::Describe), &[], 0)], 1);
    let (h, _) = model.trunk(x, &layout, None);
    let first_word_logits = read(model.lm_logits(h.narrow(1, tokens, 1))).await?;

    let words = [3u16, 7, 14, 18];
    let noise = gaussian(1, config.frames * config.frame_values());
    let mut video_estimate = read(model.video_estimate(Task::Generate, &words, &noise, 0.5, None)?).await?;
    video_estimate.truncate(512);
    Ok(Probe { matmul, digit_probabilities, first_word_logits, video_estimate })
}

/// Largest absolute difference between two probes, field by field.
pub fn probe_difference(a: &Probe, b: &Probe) -> f32 {
    let diff = |x: &[f32], y: &[f32]| {
        if x.len() != y.len() {
            return f32::INFINITY;
        }
        x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max)
    };
    [
        diff(&a.matmul, &b.matmul),
        diff(&a.digit_probabilities, &b.digit_probabilities),
        diff(&a.first_word_logits, &b.first_word_logits),
        diff(&a.video_estimate, &b.video_estimate),
    ]
    .into_iter()
    .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_probe_matches_a_plain_triple_loop() {
        let probe = pollster::block_on(run_probe(&Device::flex())).unwrap();
        let (a, b) = matmul_inputs(32);
        for i in 0..32 {
            for j in 0..32 {
                let expected: f32 = (0..32).map(|k| a[i * 32 + k] * b[k * 32 + j]).sum();
                assert!((probe.matmul[i * 32 + j] - expected).abs() < 1e-4);
            }
        }
        assert_eq!(probe.digit_probabilities.len(), 10);
        assert_eq!(probe.first_word_logits.len(), ModelConfig::tiny().vocab);
        assert_eq!(probe.video_estimate.len(), 512);
    }
}
