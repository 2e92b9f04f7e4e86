//! The runtime carries bigger checkpoints of the same family: builds the `large` preset (> 300 M
//! parameters) with seeded random weights, loads it on flex, classifies and describes one clip.
//! `cargo run --release --example large_runtime`

use burn::tensor::Device;
use std::time::Instant;
use univid::model::{probe_clip, ModelConfig, UniVid, Weights};
use univid::pipelines::DecodeOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ModelConfig::large();
    let start = Instant::now();
    let weights = Weights::random(&config, 1);
    let bytes = weights.to_safetensors();
    let weights = Weights::from_safetensors(&bytes, &config)?;
    let made = start.elapsed().as_secs_f64();
    let model = UniVid::load(config.clone(), &weights, &Device::flex())?;
    drop(weights);
    let loaded = start.elapsed().as_secs_f64();
    let classes = pollster::block_on(model.classify(&probe_clip()))?;
    let classified = start.elapsed().as_secs_f64();
    let options = DecodeOptions { temperature: 1.0, seed: 0, ..DecodeOptions::default() };
    let text = pollster::block_on(model.describe(&probe_clip(), options))?.text;
    println!(
        "{{\"parameters\": {}, \"safetensors_bytes\": {}, \"make_and_parse_s\": {made:.1}, \"load_s\": {:.1}, \"classify_s\": {:.1}, \"describe_s\": {:.1}, \"digits_found\": {}, \"words\": {}}}",
        config.parameter_count(),
        bytes.len(),
        loaded - made,
        classified - loaded,
        start.elapsed().as_secs_f64() - classified,
        classes.digits.len(),
        text.split(' ').count()
    );
    Ok(())
}
