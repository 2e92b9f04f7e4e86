//! End-to-end pipeline checks on the tiny config with seeded random weights (flex backend).

use burn::tensor::Device;
use univid::data::{answer_from_caption, parse_caption, parse_question, Clip, DataError, Grammar, QuestionKind};
use std::ops::ControlFlow;
use univid::model::{ModelConfig, ModelError, UniVid, Weights};
use univid::pipelines::{no_progress, AnswerSource, DecodeOptions, End, GenerateOptions, Progress};

fn tiny() -> UniVid {
    let config = ModelConfig::tiny();
    UniVid::load(config.clone(), &Weights::random(&config, 7), &Device::flex()).unwrap()
}

fn clip(seed: u8) -> Clip {
    let pixels = (0..20 * 64 * 64).map(|i| ((i as u32 * 2654435761u32) >> 24) as u8 ^ seed).collect();
    Clip::new(20, 64, 64, pixels).unwrap()
}

#[test]
fn classify_returns_probabilities() {
    let result = pollster::block_on(tiny().classify(&clip(0))).unwrap();
    assert_eq!(result.digit_probabilities.len(), 10);
    assert!(result.digit_probabilities.iter().all(|p| (0.0..=1.0).contains(p)));
    assert!(!result.digits.is_empty());
}

#[test]
fn kv_cache_and_reencode_decode_the_same_words() {
    let model = tiny();
    let sampled = DecodeOptions { temperature: 1.0, seed: 3, ..DecodeOptions::default() };
    let cached = pollster::block_on(model.describe(&clip(1), sampled)).unwrap();
    let reencoded =
        pollster::block_on(model.describe(&clip(1), DecodeOptions { reencode: true, ..sampled })).unwrap();
    assert_eq!(cached.text, reencoded.text);
    assert!((cached.confidence - reencoded.confidence).abs() < 1e-4, "{} vs {}", cached.confidence, reencoded.confidence);
    assert!(!cached.text.is_empty() && (0.0..=1.0).contains(&cached.confidence));
}

#[test]
fn answers_after_the_caption_match_one_by_one_cached_or_reencoded() {
    let model = tiny();
    let sampled = DecodeOptions { temperature: 1.0, seed: 3, ..DecodeOptions::default() };
    let questions = ["which digits are there ?", "where does digit 3 start ?"];
    let (caption, answers) = pollster::block_on(model.describe_and_ask(&clip(2), &questions, sampled)).unwrap();
    let reencode = DecodeOptions { reencode: true, ..sampled };
    let (_, reencoded) = pollster::block_on(model.describe_and_ask(&clip(2), &questions, reencode)).unwrap();
    assert_eq!(answers, reencoded);
    assert_eq!(caption, pollster::block_on(model.describe(&clip(2), sampled)).unwrap());
    for (question, answer) in questions.iter().zip(&answers) {
        assert_eq!(&pollster::block_on(model.ask(&clip(2), question, sampled)).unwrap(), answer);
    }
    assert!(answers.iter().all(|a| !a.is_empty()));
}

#[test]
fn untrained_weights_still_write_only_well_formed_captions_and_answers() {
    // Random weights would write word salad; the grammar-constrained decoder cannot.
    let model = tiny();
    let questions = ["which digits are there ?", "how many digits are there ?", "which way does digit 3 move ?",
        "which digit moves up and to the left ?", "where does digit 7 end up ?", "where does digit 0 start ?", "is there a digit 4 ?"];
    for seed in 0..6u64 {
        let input = if seed % 2 == 0 { clip(seed as u8) } else { Clip::black(20, 64, 64) };
        let sampled = DecodeOptions { temperature: 1.0, seed, answers: AnswerSource::Model, ..DecodeOptions::default() };
        let (caption, answers) = pollster::block_on(model.describe_and_ask(&input, &questions, sampled)).unwrap();
        let caption = caption.text;
        let pairs = parse_caption(&caption).unwrap_or_else(|e| panic!("{caption}: {e}"));
        let (_, from_caption) = pollster::block_on(model.describe_and_ask(&input, &questions, DecodeOptions { answers: AnswerSource::Caption, ..sampled })).unwrap();
        for ((question, answer), derived) in questions.iter().zip(&answers).zip(&from_caption) {
            let parsed = parse_question(question).unwrap();
            assert!(Grammar::Answer(parsed.kind).accepts(answer), "{question} {answer}");
            match (answer_from_caption(&parsed, &pairs), parsed.digit) {
                (Some(expected), _) => assert_eq!(derived, &expected, "{question} after {caption}"),
                // Where a named digit starts or ends up: the locate head's place.
                (None, Some(digit)) => {
                    let end = if parsed.kind == QuestionKind::WhereStart { End::Start } else { End::Finish };
                    let place = pollster::block_on(model.digit_place(&input, digit, end)).unwrap().expect("tiny has a locate head");
                    assert_eq!(derived, place.phrase(), "{question}");
                }
                (None, None) => unreachable!("{question}: every question without a digit is answered by the caption"),
            }
        }
    }
}

#[test]
fn questions_outside_the_templates_are_refused_by_name() {
    let err = pollster::block_on(model_ask(&tiny(), "which digit is there ?")).unwrap_err();
    assert!(matches!(err, ModelError::Data(DataError::UnknownQuestion(_))), "{err}");
    assert!(err.to_string().contains("which digits are there ?"), "lists what it answers: {err}");
}

async fn model_ask(model: &UniVid, question: &str) -> Result<String, ModelError> {
    model.ask(&clip(0), question, DecodeOptions::default()).await
}

#[test]
fn generation_is_deterministic_per_seed() {
    let model = tiny();
    let options = GenerateOptions { steps: 2, guidance: 2.0, seed: 5 };
    let (mut steps, mut previews) = (Vec::new(), Vec::new());
    let a = pollster::block_on(model.generate("digit 3 moves left", options, &mut |p: Progress<'_>| {
        steps.push((p.step, p.steps));
        previews.push((p.estimate)());
        ControlFlow::Continue(())
    }))
    .unwrap();
    let b = pollster::block_on(model.generate("digit 3 moves left", options, &mut no_progress)).unwrap();
    let c = pollster::block_on(model.generate("digit 3 moves left", GenerateOptions { seed: 6, ..options }, &mut no_progress)).unwrap();
    assert_eq!(steps, vec![(1, 2), (2, 2)]);
    // The last Euler step lands on its clean-sample estimate: the preview ends at the result.
    assert_eq!(previews.last(), Some(&a));
    assert_ne!(previews[0], a, "the first preview is an earlier estimate");
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!((a.frames, a.height, a.width), (20, 64, 64));
}

#[test]
fn the_prompt_no_digits_makes_the_empty_clip() {
    let options = GenerateOptions { steps: 2, guidance: 2.0, seed: 5 };
    let clip = pollster::block_on(tiny().generate("No digits", options, &mut no_progress)).unwrap();
    assert_eq!(clip, Clip::black(20, 64, 64));
}

#[test]
fn the_first_preview_of_a_continuation_is_its_one_step_result() {
    // `univid eval` reads the one-step estimate off a longer run's first step.
    let model = tiny();
    let options = GenerateOptions { steps: 3, guidance: 1.0, seed: 4 };
    let mut first = None;
    pollster::block_on(model.continue_clip(&clip(2), 10, options, &mut |p: Progress<'_>| {
        if p.step == 1 {
            first = Some((p.estimate)());
        }
        ControlFlow::Continue(())
    }))
    .unwrap();
    let one_step = pollster::block_on(model.continue_clip(&clip(2), 10, GenerateOptions { steps: 1, ..options }, &mut no_progress)).unwrap();
    assert_eq!(first, Some(one_step));
}

#[test]
fn continuation_keeps_the_given_frames() {
    let model = tiny();
    let input = clip(2);
    let out = pollster::block_on(model.continue_clip(&input, 10, GenerateOptions { steps: 2, guidance: 1.0, seed: 0 }, &mut no_progress)).unwrap();
    assert_eq!(out.slice(0, 10).unwrap(), input.slice(0, 10).unwrap());
}

#[test]
fn bad_inputs_are_typed_errors_and_the_model_stays_usable() {
    let model = tiny();
    let small = Clip::black(20, 32, 32);
    assert!(matches!(pollster::block_on(model.classify(&small)), Err(ModelError::Input(_))));
    let options = GenerateOptions { steps: 0, ..Default::default() };
    assert!(matches!(pollster::block_on(model.generate("digit 3 moves left", options, &mut no_progress)), Err(ModelError::Input(_))));
    let err = pollster::block_on(model.generate("a cat jumps", GenerateOptions::default(), &mut no_progress)).unwrap_err();
    assert!(err.to_string().contains("digit"), "{err}");
    assert!(matches!(pollster::block_on(model.ask(&clip(0), "why ?", DecodeOptions::default())), Err(ModelError::Data(_))));
    assert!(pollster::block_on(model.classify(&clip(0))).is_ok());
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn retrieval_vectors_are_unit_length_in_one_space() {
    let model = tiny();
    let a = pollster::block_on(model.embed_clip(&clip(0))).unwrap();
    let b = pollster::block_on(model.embed_clip(&clip(1))).unwrap();
    let text = pollster::block_on(model.embed_query("digit 7 moves left")).unwrap();
    for v in [&a, &b, &text] {
        assert_eq!(v.len(), model.config.embed_dim);
        assert!((norm(v) - 1.0).abs() < 1e-4);
    }
    assert_ne!(a, b);
    assert_eq!(a, pollster::block_on(model.embed_clip(&clip(0))).unwrap());
    assert_ne!(text, pollster::block_on(model.embed_query("digit 7 moves right")).unwrap());
}

#[test]
fn a_query_embeds_the_same_alone_or_packed_after_a_clip() {
    use burn::tensor::Tensor;
    use univid::model::{patchify, Layout, Modality, Task};
    // Training packs the retrieve segment after the video with a mask that hides the video; the
    // runtime embeds a query alone. Both must give the same vector.
    let model = tiny();
    let alone = pollster::block_on(model.embed_query("digit 3 moves up")).unwrap();
    let words = univid::data::Tokenizer.encode("digit 3 moves up").unwrap();
    let words: Vec<u16> = words.into_iter().chain([univid::data::EOS_TOKEN]).collect();
    let n = model.config.video_tokens();
    let mut layout = Layout::default();
    layout.push(n, Task::Understand, Modality::Video, &[0]);
    layout.push(1 + words.len(), Task::Retrieve, Modality::Text, &[1]);
    let x = Tensor::cat(vec![
        model.embed_video(&patchify(&clip(4), &model.config), &vec![0.0; n]),
        model.embed_text(Some(Task::Retrieve), &words, 0),
    ], 1);
    let (h, _) = model.trunk(x, &layout, None);
    let packed = model.text_embedding(h.narrow(1, n, 1 + words.len())).into_data().try_to_vec::<f32>().unwrap();
    let worst = alone.iter().zip(&packed).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-5, "differ by {worst}");
}

#[test]
fn bad_queries_are_typed_errors() {
    let model = tiny();
    assert!(matches!(pollster::block_on(model.embed_query("a cat")), Err(ModelError::Data(_))));
    assert!(pollster::block_on(model.embed_query("")).is_err());
    assert!(matches!(pollster::block_on(model.embed_clip(&Clip::black(20, 32, 32))), Err(ModelError::Input(_))));
    assert!(pollster::block_on(model.embed_query("digit 1 moves down")).is_ok());
}

#[test]
fn a_generation_stops_when_its_progress_callback_says_so() {
    let model = tiny();
    let options = GenerateOptions { steps: 5, guidance: 1.0, seed: 0 };
    let mut seen = 0;
    let mut stop_after_two = |p: Progress<'_>| {
        seen = p.step;
        if p.step == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    };
    let err = pollster::block_on(model.generate("digit 3 moves left", options, &mut stop_after_two)).unwrap_err();
    assert!(matches!(err, ModelError::Cancelled { step: 2, steps: 5 }), "{err}");
    assert_eq!(seen, 2, "no step ran after the stop");
    let err = pollster::block_on(model.continue_clip(&clip(0), 10, options, &mut |_: Progress<'_>| ControlFlow::Break(()))).unwrap_err();
    assert!(matches!(err, ModelError::Cancelled { step: 1, .. }));
    assert!(pollster::block_on(model.generate("digit 3 moves left", options, &mut no_progress)).is_ok(), "still usable");
}

#[test]
fn a_longer_clip_is_described_window_by_window() {
    let model = tiny();
    let long = {
        let pixels: Vec<u8> = (0..45 * 64 * 64).map(|i| ((i as u32 * 2654435761u32) >> 24) as u8).collect();
        Clip::new(45, 64, 64, pixels).unwrap()
    };
    let cues = pollster::block_on(model.describe_windows(&long, 20, 10.0)).unwrap();
    let times: Vec<(f64, f64)> = cues.iter().map(|c| (c.start, c.end)).collect();
    assert_eq!(times, [(0.0, 2.0), (2.0, 4.0), (4.0, 4.5)], "the last window is the 5 frames left");
    // Each cue is what describing that window on its own gives.
    let first = Clip::new(20, 64, 64, long.pixels[..20 * 4096].to_vec()).unwrap();
    assert_eq!(cues[0].text, pollster::block_on(model.describe(&first, DecodeOptions::default())).unwrap().spoken());
    assert!(pollster::block_on(model.describe_windows(&long, 0, 10.0)).is_err());
    assert!(pollster::block_on(model.describe_windows(&long, 20, 0.0)).is_err());
}

fn tiny_rgb() -> UniVid {
    // The slot head reads grayscale glyphs: an RGB checkpoint has none.
    let config = ModelConfig { channels: 3, slots: 0, ..ModelConfig::tiny() };
    UniVid::load(config.clone(), &Weights::random(&config, 7), &Device::flex()).unwrap()
}

#[test]
fn an_rgb_model_generates_rgb_clips_and_says_it_cannot_continue() {
    let model = tiny_rgb();
    let options = GenerateOptions { steps: 2, guidance: 2.0, seed: 5 };
    let generated = pollster::block_on(model.generate("digit 3 moves right", options, &mut no_progress)).unwrap();
    assert_eq!((generated.frames, generated.height, generated.width, generated.channels), (20, 64, 64, 3));
    // Seeded noise through random weights: the three channels are not copies of each other.
    assert!(generated.pixels.chunks_exact(3).any(|px| px[0] != px[1] || px[1] != px[2]));
    let colour = clip(4).to_channels(3).unwrap();
    let error = pollster::block_on(model.continue_clip(&colour, 10, options, &mut no_progress)).unwrap_err();
    assert!(matches!(error, ModelError::Config(_)), "{error}");
    assert!(error.to_string().contains("no slot head"), "{error}");
}

#[test]
fn clips_are_converted_to_the_models_channels() {
    // An RGB model reads a gray clip as R = G = B; a gray model reads an RGB clip's luminance.
    let (rgb_model, gray_model) = (tiny_rgb(), tiny());
    let gray = clip(6);
    let replicated = gray.to_channels(3).unwrap();
    let classify = |m: &UniVid, c: &Clip| pollster::block_on(m.classify(c)).unwrap().digit_probabilities;
    assert_eq!(classify(&rgb_model, &gray), classify(&rgb_model, &replicated));
    assert_eq!(classify(&gray_model, &replicated), classify(&gray_model, &gray));
    let tinted: Vec<u8> = replicated.pixels.iter().enumerate().map(|(i, &v)| if i % 3 == 2 { 255 - v } else { v }).collect();
    let tinted = Clip::with_channels(20, 64, 64, 3, tinted).unwrap();
    assert_ne!(classify(&rgb_model, &tinted), classify(&rgb_model, &replicated), "colour must reach the RGB model");
}
