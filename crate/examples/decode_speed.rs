//! Which is faster for captions at our sizes: the key/value cache or re-encoding the sequence for
//! every word? `cargo run --release --example decode_speed [model-dir]` (default: the shipped model).

use burn::tensor::Device;
use std::time::Instant;
use univid::data::{Digits, Split, World, WorldConfig};
use univid::model::UniVid;
use univid::pipelines::DecodeOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "models/univid-small".into());
    let (config, weights, _) = univid::pack::read_model(std::path::Path::new(&dir))?;
    let model = UniVid::load(config, &weights, &Device::flex())?;
    let world = World::new(WorldConfig::standard(), Digits::locate()?)?;
    for reencode in [false, true] {
        let options = DecodeOptions { reencode, ..Default::default() };
        let mut times = Vec::new();
        let mut words = 0;
        for index in 0..12 {
            let (clip, _) = world.clip(Split::Test, 0, index);
            let start = Instant::now();
            let text = pollster::block_on(model.describe(&clip, options))?.text;
            if index >= 2 {
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                words += text.split(' ').count();
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{{\"mode\": \"{}\", \"median_ms_per_caption\": {:.1}, \"mean_words\": {:.1}}}",
            if reencode { "re-encode" } else { "kv-cache" },
            times[times.len() / 2],
            words as f64 / times.len() as f64
        );
    }
    Ok(())
}
