//! `univid bench-train`: how fast burn itself trains the model — one step is one clip of each
//! task family (describe, text→video, continuation) forward and backward through burn's autodiff on
//! `flex` or `wgpu`, from random weights of a config. The optimiser update is left out (AdamW on
//! 6.9 M values is under a millisecond next to the backward pass). The PyTorch twin's figure for
//! the same families comes from `scripts/trainer/speed.py`; together they are the measurement
//! behind training in PyTorch.

use super::summary;
use crate::data::{caption, Split, Tokenizer, World, EOS_TOKEN};
use crate::model::{gaussian, patchify, sequence, tokens_to_frames, ModelConfig, Result, Task, UniVid, Weights};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::{json, Value};

/// Flow time of the timed generation losses (any value costs the same).
const FLOW_TIME: f32 = 0.7;

/// Times `steps` training steps after one warm-up on `device` (made an autodiff device here).
pub fn throughput(config: &ModelConfig, world: &World, device: &Device, steps: usize) -> Result<Value> {
    let device = device.clone().autodiff();
    let weights = Weights::random(config, 0);
    let mut samples = Vec::with_capacity(steps);
    for i in 0..=steps {
        let (clip, truth) = world.clip(Split::Train, 0, i as u64);
        let words = Tokenizer.encode(&caption(&truth))?;
        let video = patchify(&clip, config);
        // Loaded anew each step (untimed): the model derives some tensors from its weights at load
        // (transposed views, the tied LM head), and burn's tape lets a backward pass consume them.
        let model = UniVid::load(config.clone(), &weights, &device)?;
        let start = std::time::Instant::now();
        let loss = describe_loss(&model, &video, &words) + generate_loss(&model, &video, &words, i)? + continue_loss(&model, &video, i)?;
        let grads = loss.backward();
        // Reading one gradient back waits for a GPU queue; on the CPU it is already done.
        let probe = model.token_table().grad(&grads).expect("the token table takes part in every loss");
        let _ = probe.into_data();
        if i > 0 {
            samples.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let step = summary(samples);
    let clips_per_s = 3.0 * 1e3 / step["median_ms"].as_f64().unwrap_or(f64::NAN);
    Ok(json!({ "step": step, "clips_per_step": 3, "clips_per_s": clips_per_s }))
}

/// Next-word cross-entropy of the caption after `[video | describe]` (teacher forcing).
fn describe_loss(model: &UniVid, video: &[f32], words: &[u16]) -> Tensor<1> {
    let n = model.config.video_tokens();
    let x = Tensor::cat(vec![model.embed_video(video, &vec![0.0; n]), model.embed_text(Some(Task::Describe), words, 0)], 1);
    let (h, _) = model.trunk(x, &sequence::understand(n, Task::Describe, words.len()), None);
    let logits = model.lm_logits(h.narrow(1, n, 1 + words.len()));
    let targets: Vec<i64> = words.iter().chain([&EOS_TOKEN]).map(|&w| w as i64).collect();
    let targets = Tensor::<3, Int>::from_data(TensorData::new(targets, [1, words.len() + 1, 1]), &logits.device());
    -log_softmax(logits, 2).gather(2, targets).mean()
}

/// The clip's frames (channel-first) noised at `FLOW_TIME`, and the clean ones `[T, C, H, W]`.
fn noised(model: &UniVid, video: &[f32], seed: usize) -> (Vec<f32>, Tensor<4>) {
    let c = &model.config;
    let frames = tokens_to_frames(video, c);
    let noise = gaussian(seed as u64, frames.len());
    let x_t = frames.iter().zip(noise).map(|(x, e)| (1.0 - FLOW_TIME) * x + FLOW_TIME * e).collect();
    (x_t, Tensor::from_data(TensorData::new(frames, [c.frames, c.channels, c.size, c.size]), &model.device))
}

/// Clean-sample error of `[generate + words | x_t]`.
fn generate_loss(model: &UniVid, video: &[f32], words: &[u16], seed: usize) -> Result<Tensor<1>> {
    let (x_t, clean) = noised(model, video, seed);
    Ok((model.video_estimate(Task::Generate, words, &x_t, FLOW_TIME, None)? - clean).powf_scalar(2.0).mean())
}

/// Clean-sample error of `[continue | x_t]` (every frame noised: the cost is the same).
fn continue_loss(model: &UniVid, video: &[f32], seed: usize) -> Result<Tensor<1>> {
    let (x_t, clean) = noised(model, video, seed + 1);
    let anchor = Some(model.config.frames / 2 - 1);
    Ok((model.video_estimate(Task::Continue, &[], &x_t, FLOW_TIME, anchor)? - clean).powf_scalar(2.0).mean())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Digits, WorldConfig};

    #[test]
    fn a_training_step_runs_forward_and_backward() {
        let config = ModelConfig::preset("tiny").unwrap();
        let world = World::new(WorldConfig::training(), Digits::locate().unwrap()).unwrap();
        let report = throughput(&config, &world, &Device::flex(), 1).unwrap();
        assert!(report["clips_per_s"].as_f64().unwrap() > 0.0, "{report}");
    }
}
