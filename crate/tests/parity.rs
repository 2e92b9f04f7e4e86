//! Parity with the PyTorch training twin (llm.c's test_gpt2 pattern): the same tiny random weights
//! and inputs through `scripts/trainer/parity.py` and through burn must give the same classify
//! logits, word logits, the video decoder's estimates and every stage of the slot head's
//! continuation, within `TOLERANCE` (whole-pixel corners exactly).
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
    assert_within(name, ours, theirs, TOLERANCE);
}

fn assert_within(name: &str, ours: &[f32], theirs: &[f32], tolerance: f32) {
    assert_eq!(ours.len(), theirs.len(), "{name}: lengths differ");
    let worst = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("{name}: max abs difference {worst:e} over {} values", ours.len());
    assert!(worst <= tolerance, "{name}: burn and PyTorch differ by {worst}");
}

#[test]
fn burn_matches_the_pytorch_twin() {
    matches_the_twin(ModelConfig::tiny());
}

#[test]
fn burn_matches_the_pytorch_twin_on_rgb_clips() {
    matches_the_twin(ModelConfig { channels: 3, slots: 0, ..ModelConfig::tiny() });
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
    if config.locate {
        let locate = pollster::block_on(model.locate_first_slot(&clip)).unwrap().expect("the config has a locate head");
        assert_close("locate logits", &locate, &fixture("locate_logits", &file));
    }

    // Continuation's slot head on the first half of the clip: every stage, then the frames.
    if config.slots > 0 {
        let context = clip.slice(0, half).unwrap();
        let future = pollster::block_on(model.slot_future(&context, config.frames - half)).unwrap();
        let flat = |v: &[Vec<[f32; 2]>]| v.iter().flatten().flatten().copied().collect::<Vec<f32>>();
        // pixel places: the soft-argmax sums 1 024 weights of coordinates up to 64
        assert_within("slot centres", &flat(&future.centres), &fixture("slot_centres", &file), 2e-3);
        let boxes: Vec<f32> = future.boxes.iter().flatten().flatten().map(|&v| v as f32).collect();
        assert_within("slot corners (whole pixels)", &boxes, &fixture("slot_boxes", &file), 0.0);
        assert_close("slot glyphs", &future.glyphs.concat(), &fixture("slot_glyph", &file));
        assert_within("slot future places", &flat(&future.places), &fixture("slot_place", &file), 2e-3);
        let probs: Vec<f32> = future.probs.iter().flatten().flat_map(|axes| axes.concat()).collect();
        assert_close("slot offset probabilities", &probs, &fixture("slot_probs", &file));
        assert_close("slot expected frames", &future.expected(), &fixture("slot_expected", &file));

        // Text → video's slot head: the prompt read, two guided glyph steps, the paths, the frames.
        let head = model.text_slot_head().unwrap();
        let slots = pollster::block_on(model.prompt_slots(&words)).unwrap();
        assert_close("text slots: presence", &slots.present, &fixture("text_present", &file));
        assert_close("text slots: velocity", &slots.velocity.concat(), &fixture("text_velocity", &file));
        assert_close("text slots: glyph condition", &slots.condition, &fixture("text_condition", &file));
        let mut glyphs = fixture("text_glyph_noise", &file);
        for step in 0..2 {
            let (t, t_next) = (1.0 - step as f32 / 2.0, 1.0 - (step + 1) as f32 / 2.0);
            pollster::block_on(head.glyph_step(&mut glyphs, t, t_next, &slots, 2.0)).unwrap();
        }
        let unit: Vec<f32> = glyphs.iter().map(|v| (v.clamp(-1.0, 1.0) + 1.0) / 2.0).collect();
        assert_close("text slots: glyphs after two guided steps", &unit, &fixture("text_glyph", &file));
        let starts: Vec<[f32; 2]> = fixture("text_starts", &file).chunks(2).map(|s| [s[0], s[1]]).collect();
        let paths = pollster::block_on(head.paths(&starts, &slots)).unwrap();
        let paths_flat: Vec<f32> = paths.iter().flatten().flatten().map(|&v| v as f32).collect();
        assert_within("text slots: paths (whole pixels)", &paths_flat, &fixture("text_path", &file), 0.0);
        assert_close("text slots: frames", &head.render(&glyphs, &paths, &slots), &fixture("text_frames", &file));
    }
    std::fs::remove_dir_all(dir).ok();
}
