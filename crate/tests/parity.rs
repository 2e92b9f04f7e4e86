//! Parity with the PyTorch training twin (llm.c's test_gpt2 pattern): the same tiny random weights
//! and inputs through `scripts/trainer/parity.py` and through burn must give the same classify
//! logits, word logits and the video decoder's estimates, within `TOLERANCE`.
//!
//! Needs python3 with torch + safetensors (installed by scripts/setup); fails with that hint.

use burn::tensor::{Device, Tensor};
use safetensors::SafeTensors;
use std::path::Path;
use std::process::Command;
use univid::model::{Layout, Modality, ModelConfig, Task, UniVid, Weights};

/// f32 in both, different kernels and summation orders.
const TOLERANCE: f32 = 2e-4;

fn fixture(name: &str, file: &SafeTensors) -> Vec<f32> {
    let view = file.tensor(name).unwrap_or_else(|_| panic!("fixture lacks {name}"));
    view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    pollster::block_on(t.into_data_async()).unwrap().try_into_vec::<f32>().unwrap()
}

fn assert_close(name: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len(), "{name}: lengths differ");
    let worst = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("{name}: max abs difference {worst:e} over {} values", ours.len());
    assert!(worst < TOLERANCE, "{name}: burn and PyTorch differ by {worst}");
}

#[test]
fn burn_matches_the_pytorch_twin() {
    matches_the_twin(ModelConfig::tiny());
}

#[test]
fn burn_matches_the_pytorch_twin_on_rgb_clips() {
    matches_the_twin(ModelConfig { channels: 3, ..ModelConfig::tiny() });
}

fn matches_the_twin(config: ModelConfig) {
    let weights = Weights::random(&config, 11);
    let dir = std::env::temp_dir().join(format!("univid-parity-{}-{}", std::process::id(), config.channels));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("weights.safetensors"), weights.to_safetensors()).unwrap();
    std::fs::write(dir.join("config.json"), serde_json::to_string(&config).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/trainer/parity.py");
    let status = Command::new("python3")
        .arg(script)
        .args([dir.join("weights.safetensors"), dir.join("config.json"), dir.join("out.safetensors")])
        .status()
        .expect("python3 not found: run scripts/setup");
    assert!(status.success(), "parity.py failed: run scripts/setup (torch, safetensors)");
    let bytes = std::fs::read(dir.join("out.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();

    let device = Device::flex();
    let model = UniVid::load(config.clone(), &weights, &device).unwrap();
    let n = config.video_tokens();
    let pixels: Vec<u8> = fixture("pixels", &file).iter().map(|&p| p as u8).collect();
    let clip = univid::data::Clip::with_channels(20, 64, 64, config.channels, pixels).unwrap();
    let patches = univid::model::patchify(&clip, &config);
    let words: Vec<u16> = fixture("words", &file).iter().map(|&w| w as u16).collect();
    let noise = fixture("noise", &file);

    // [video | classify | describe + words], as the trainer packs it.
    let mut layout = Layout::default();
    layout.push(n, Task::Understand, Modality::Video, &[0]);
    layout.push(1, Task::Classify, Modality::Text, &[0, 1]);
    layout.push(1 + words.len(), Task::Describe, Modality::Text, &[0, 2]);
    let x = Tensor::cat(vec![
        model.embed_video(&patches, &vec![0.0; n]),
        model.embed_text(Some(Task::Classify), &[], 0),
        model.embed_text(Some(Task::Describe), &words, 0),
    ], 1);
    let (h, _) = model.trunk(x, &layout, None);
    let (digits, motions) = model.class_logits(h.clone().narrow(1, n, 1).squeeze_dim::<2>(1));
    assert_close("digit logits", &read(digits), &fixture("digit_logits", &file));
    assert_close("motion logits", &read(motions), &fixture("motion_logits", &file));
    let describe = model.lm_logits(h.narrow(1, n + 1, 1 + words.len()));
    assert_close("describe logits", &read(describe), &fixture("describe_logits", &file));

    // Describe, then answer: the ask segment reads the caption (with its <eos>) and itself.
    let question: Vec<u16> = fixture("question", &file).iter().map(|&w| w as u16).collect();
    let mut caption = words.clone();
    caption.push(univid::data::EOS_TOKEN);
    let mut layout = Layout::default();
    layout.push(n, Task::Understand, Modality::Video, &[0]);
    layout.push(1, Task::Classify, Modality::Text, &[0, 1]);
    layout.push(1 + caption.len(), Task::Describe, Modality::Text, &[0, 2]);
    layout.push(1 + question.len(), Task::Ask, Modality::Text, &[0, 2, 3]);
    let x = Tensor::cat(vec![
        model.embed_video(&patches, &vec![0.0; n]),
        model.embed_text(Some(Task::Classify), &[], 0),
        model.embed_text(Some(Task::Describe), &caption, 0),
        model.embed_text(Some(Task::Ask), &question, 0),
    ], 1);
    let (h, _) = model.trunk(x, &layout, None);
    let ask = model.lm_logits(h.narrow(1, n + 2 + caption.len(), 1 + question.len()));
    assert_close("ask logits (caption in view)", &read(ask), &fixture("ask_logits", &file));

    // The video decoder's estimate, text → video from noise and continuation with the first half
    // of the frames clean (anchored on the last of them), channel-first frames in both.
    let t = 0.7;
    let estimate = model.video_estimate(Task::Generate, &words, &noise, t, None).unwrap();
    assert_close("generate estimate", &read(estimate), &fixture("generate_head", &file));
    let half = config.frames / 2;
    let mut mixed = univid::model::clip_to_frames(&clip, &config);
    mixed[half * config.frame_values()..].copy_from_slice(&noise[half * config.frame_values()..]);
    let estimate = model.video_estimate(Task::Continue, &[], &mixed, t, Some(half - 1)).unwrap();
    assert_close("continue estimate", &read(estimate), &fixture("continue_head", &file));

    let video_embedding = pollster::block_on(model.embed_clip(&clip)).unwrap();
    assert_close("video embedding", &video_embedding, &fixture("video_embedding", &file));
    let text_embedding = pollster::block_on(model.embed_query("digit 3 moves right while digit 7 moves up")).unwrap();
    assert_close("text embedding", &text_embedding, &fixture("text_embedding", &file));
    std::fs::remove_dir_all(dir).ok();
}
