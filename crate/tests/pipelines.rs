//! End-to-end pipeline checks on the tiny config with seeded random weights (flex backend).

use burn::tensor::Device;
use univid::data::Clip;
use univid::model::{DecodeOptions, GenerateOptions, ModelConfig, ModelError, UniVid, Weights};

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
    let sampled = DecodeOptions { temperature: 1.0, seed: 3, reencode: false };
    let cached = pollster::block_on(model.describe(&clip(1), sampled)).unwrap();
    let reencoded =
        pollster::block_on(model.describe(&clip(1), DecodeOptions { reencode: true, ..sampled })).unwrap();
    assert_eq!(cached, reencoded);
    assert!(!cached.is_empty());
}

#[test]
fn generation_is_deterministic_per_seed() {
    let model = tiny();
    let options = GenerateOptions { steps: 2, guidance: 2.0, seed: 5 };
    let mut steps = Vec::new();
    let a = pollster::block_on(model.generate("digit 3 moves left", options, &mut |s, n| steps.push((s, n)))).unwrap();
    let b = pollster::block_on(model.generate("digit 3 moves left", options, &mut |_, _| {})).unwrap();
    let c = pollster::block_on(model.generate("digit 3 moves left", GenerateOptions { seed: 6, ..options }, &mut |_, _| {})).unwrap();
    assert_eq!(steps, vec![(1, 2), (2, 2)]);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!((a.frames, a.height, a.width), (20, 64, 64));
}

#[test]
fn continuation_keeps_the_given_frames() {
    let model = tiny();
    let input = clip(2);
    let out = pollster::block_on(model.continue_clip(&input, 10, GenerateOptions { steps: 2, guidance: 1.0, seed: 0 }, &mut |_, _| {})).unwrap();
    assert_eq!(out.slice(0, 10).unwrap(), input.slice(0, 10).unwrap());
}

#[test]
fn bad_inputs_are_typed_errors_and_the_model_stays_usable() {
    let model = tiny();
    let small = Clip::black(20, 32, 32);
    assert!(matches!(pollster::block_on(model.classify(&small)), Err(ModelError::Input(_))));
    let options = GenerateOptions { steps: 0, ..Default::default() };
    assert!(matches!(pollster::block_on(model.generate("digit 3 moves left", options, &mut |_, _| {})), Err(ModelError::Input(_))));
    let err = pollster::block_on(model.generate("a cat jumps", GenerateOptions::default(), &mut |_, _| {})).unwrap_err();
    assert!(err.to_string().contains("digit"), "{err}");
    assert!(matches!(pollster::block_on(model.ask(&clip(0), "why ?", DecodeOptions::default())), Err(ModelError::Data(_))));
    assert!(pollster::block_on(model.classify(&clip(0))).is_ok());
}
