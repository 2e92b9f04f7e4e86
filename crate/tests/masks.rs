//! The attention-mask properties the pipelines rely on, checked on the real network (tiny config,
//! random weights): what a position may not see cannot change it, and what it may see does.

use burn::tensor::{Device, Tensor};
use univid::model::{patchify, probe_clip, Layout, Modality, ModelConfig, Task, UniVid, Weights};

fn model() -> UniVid {
    let config = ModelConfig::tiny();
    UniVid::load(config.clone(), &Weights::random(&config, 3), &Device::flex()).unwrap()
}

fn read(t: Tensor<3>) -> Vec<f32> {
    pollster::block_on(t.into_data_async()).unwrap().try_into_vec::<f32>().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Caption word logits of `[video | describe + words]` → `[1 + words]` positions × vocab.
fn caption_logits(model: &UniVid, clip_pixels: &[f32], words: &[u16]) -> Vec<f32> {
    let n = model.config.video_tokens();
    let mut layout = Layout::default();
    layout.push(n, Task::Understand, Modality::Video, &[0]);
    layout.push(1 + words.len(), Task::Describe, Modality::Text, &[0, 1]);
    let x = Tensor::cat(vec![model.embed_video(clip_pixels, &vec![0.0; n]), model.embed_text(Some(Task::Describe), words, 0)], 1);
    let (h, _) = model.trunk(x, &layout, None);
    read(model.lm_logits(h.narrow(1, n, 1 + words.len())))
}

#[test]
fn a_later_word_never_changes_an_earlier_word_logit_but_video_changes_all() {
    let model = model();
    let config = &model.config;
    let vocab = config.vocab;
    let video = patchify(&probe_clip(), config);
    let base = caption_logits(&model, &video, &[3, 7, 14, 18]);
    let changed_last_word = caption_logits(&model, &video, &[3, 7, 14, 16]);
    // Positions 0..=3 predict words 1..=4; only position 4 (after the changed word) may move.
    assert_eq!(max_diff(&base[..4 * vocab], &changed_last_word[..4 * vocab]), 0.0);
    assert!(max_diff(&base[4 * vocab..], &changed_last_word[4 * vocab..]) > 1e-4);

    // The last tubelet (frames 18–19) is visible to every caption position.
    let mut later_frames = video.clone();
    let last = later_frames.len() - config.patch_dim();
    for v in &mut later_frames[last..] {
        *v = -*v;
    }
    let changed_video = caption_logits(&model, &later_frames, &[3, 7, 14, 18]);
    for position in 0..5 {
        let range = position * vocab..(position + 1) * vocab;
        assert!(max_diff(&base[range.clone()], &changed_video[range]) > 1e-6, "position {position}");
    }
}

#[test]
fn the_prompt_never_sees_the_video_it_conditions() {
    let model = model();
    let n = model.config.video_tokens();
    let words = [3u16, 7, 14, 18];
    let mut layout = Layout::default();
    layout.push(1 + words.len(), Task::Generate, Modality::Text, &[0]);
    layout.push(n, Task::Generate, Modality::Video, &[0, 1]);
    let run = |noise_seed: u64| {
        let noise = univid::model::gaussian(noise_seed, n * model.config.patch_dim());
        let x = Tensor::cat(vec![model.embed_text(Some(Task::Generate), &words, 0), model.embed_video(&noise, &vec![0.5; n])], 1);
        read(model.trunk(x, &layout, None).0)
    };
    let (a, b) = (run(1), run(2));
    let prompt = (1 + words.len()) * model.config.d_model;
    assert_eq!(max_diff(&a[..prompt], &b[..prompt]), 0.0, "prompt states depend on the video");
    assert!(max_diff(&a[prompt..], &b[prompt..]) > 1e-3, "video states ignore their own input");
}
