//! `univid bench`: how long each pipeline takes on one backend, on fixed inputs (a test-split clip
//! and its caption). Figures only, never assertions: machines here are noisy. The browser side
//! (`scripts/bench.mjs`) times the same tasks on the same inputs through the JS API.

pub mod ops;
#[cfg(feature = "train-bench")]
pub mod train;

use crate::data::{caption, Split, World};
use crate::model::{Result, UniVid};
use crate::pipelines::{no_progress, DecodeOptions, GenerateOptions};
use serde_json::{json, Value};

/// The clip every backend is timed on (test split, seed 0, index 0) and its caption.
pub fn bench_input(world: &World) -> (crate::data::Clip, String) {
    let (clip, truth) = world.clip(Split::Test, 0, 0);
    (clip, caption(&truth))
}

/// Median, min and max of `runs` timed calls after `warmup` untimed ones, in milliseconds.
pub fn summary(mut samples: Vec<f64>) -> Value {
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    json!({ "median_ms": median, "min_ms": samples[0], "max_ms": samples[samples.len() - 1], "runs": samples.len() })
}

/// Times classify, describe, ask, embed (clip and text), generate and continue (`steps` Euler
/// steps each; per-step time too). `now` is a millisecond clock (native or browser).
pub async fn latency(model: &UniVid, world: &World, runs: usize, steps: usize, now: &dyn Fn() -> f64) -> Result<Value> {
    let (clip, prompt) = bench_input(world);
    let first_half = clip.slice(0, 10)?;
    let generate = GenerateOptions { steps, guidance: 2.0, seed: 0 };
    let cont = GenerateOptions { steps, guidance: 1.0, seed: 0 };
    let mut report = serde_json::Map::new();
    macro_rules! time {
        ($name:expr, $call:expr) => {{
            let mut samples = Vec::with_capacity(runs);
            for i in 0..runs + 1 {
                let start = now();
                $call;
                if i > 0 {
                    samples.push(now() - start); // the first call warms caches and is not counted
                }
            }
            report.insert($name.to_string(), summary(samples));
        }};
    }
    time!("classify", model.classify(&clip).await?);
    time!("describe", model.describe(&clip, DecodeOptions::default()).await?);
    time!("ask", model.ask(&clip, "which digits are there ?", DecodeOptions::default()).await?);
    time!("embed_clip", model.embed_clip(&clip).await?);
    time!("embed_text", model.embed_query(&prompt).await?);
    time!("generate", model.generate(&prompt, generate, &mut no_progress).await?);
    time!("continue", model.continue_clip(&first_half, 10, cont, &mut no_progress).await?);
    for task in ["generate", "continue"] {
        let median = report[task]["median_ms"].as_f64().unwrap_or(0.0);
        report[task]["per_step_ms"] = json!(median / steps as f64);
    }
    report.insert("steps".into(), json!(steps));
    report.insert("guidance".into(), json!(2.0));
    Ok(Value::Object(report))
}
