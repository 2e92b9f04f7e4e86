//! The bad-input corpus, natively: each case is one wrong thing a user, a network or a file can
//! hand us, the typed error it must produce, and then a normal call on the same model or loader,
//! which must still work (nothing left broken). The browser half lives in tests/browser/.

use burn::tensor::Device;
use safetensors::tensor::{Dtype, TensorView};
use std::ops::ControlFlow;
use univid::data::{Clip, DataError};
use univid::model::{ModelConfig, ModelError, UniVid, Weights};
use univid::pipelines::{no_progress, DecodeOptions, GenerateOptions, Progress};
use univid::pack::{pack, Group, Loader, Manifest, PackError, Packed, Scheme};

fn config() -> ModelConfig {
    ModelConfig::tiny()
}

fn weights() -> Weights {
    Weights::random(&config(), 5)
}

fn model() -> UniVid {
    UniVid::load(config(), &weights(), &Device::flex()).unwrap()
}

fn clip(frames: usize, height: usize, width: usize) -> Clip {
    Clip::new(frames, height, width, (0..frames * height * width).map(|i| (i % 251) as u8).collect()).unwrap()
}

fn good_clip() -> Clip {
    clip(20, 64, 64)
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(f)
}

/// After a failure the model answers a normal question.
fn still_works(model: &UniVid) {
    block(model.classify(&good_clip())).expect("the model still classifies after a bad input");
}

fn packed() -> Packed {
    pack(&weights(), &config(), Scheme::Int8, 16 << 10, serde_json::Value::Null).unwrap()
}

fn manifest_bytes(p: &Packed, edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut value = serde_json::to_value(&p.manifest).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

/// After a failure the same loader accepts every clean shard and yields a working model.
fn loader_still_works(loader: &mut Loader, p: &Packed) {
    for (i, (_, bytes)) in p.shards.iter().enumerate() {
        if !loader.has_shard(i) {
            loader.add_shard(i, bytes).expect("a clean shard after a bad one");
        }
    }
    let w = loader.take(&Group::ALL).expect("all groups");
    still_works(&UniVid::load(config(), &w, &Device::flex()).unwrap());
}

fn pack_case(name: &str, run: impl Fn(&Packed, &mut Loader) -> Result<(), PackError>, expect: impl Fn(&PackError) -> bool) {
    let p = packed();
    let mut loader = Loader::new(Manifest::parse(&serde_json::to_vec(&p.manifest).unwrap()).unwrap());
    match run(&p, &mut loader) {
        Err(e) => assert!(expect(&e), "{name}: unexpected error {e:?}"),
        Ok(()) => panic!("{name}: accepted"),
    }
    loader_still_works(&mut loader, &p);
}

fn manifest_case(name: &str, edit: impl Fn(&mut serde_json::Value), expect: impl Fn(&PackError) -> bool) {
    let p = packed();
    match Manifest::parse(&manifest_bytes(&p, edit)) {
        Err(e) => assert!(expect(&e), "{name}: unexpected error {e:?}"),
        Ok(_) => panic!("{name}: accepted"),
    }
    assert!(Manifest::parse(&manifest_bytes(&p, |_| {})).is_ok(), "{name}: a clean manifest still parses");
}

#[test]
fn bad_packs_and_manifests_are_refused_and_leave_the_loader_usable() {
    let size = |e: &PackError| matches!(e, PackError::ShardSize { .. });
    let hash = |e: &PackError| matches!(e, PackError::ShardHash { .. });
    let manifest = |e: &PackError| matches!(e, PackError::Manifest(_));
    pack_case("truncated shard", |p, l| l.add_shard(0, &p.shards[0].1[..p.shards[0].1.len() - 7]), size);
    pack_case("empty shard", |_, l| l.add_shard(0, &[]), size);
    pack_case("shard with bytes appended", |p, l| l.add_shard(0, &[p.shards[0].1.clone(), vec![0; 3]].concat()), size);
    pack_case("flipped byte", |p, l| {
        let mut b = p.shards[1].1.clone();
        let at = b.len() / 3;
        b[at] ^= 1;
        l.add_shard(1, &b)
    }, hash);
    pack_case("another shard's bytes", |p, l| l.add_shard(0, &p.shards[1].1), |e| size(e) || hash(e));
    pack_case("shard index past the end", |p, l| l.add_shard(p.shards.len() + 3, &p.shards[0].1), |e| matches!(e, PackError::NoSuchShard { .. }));
    pack_case("generate group taken before it arrived", |p, l| {
        l.add_shard(0, &p.shards[0].1)?;
        l.take(&[Group::Generate]).map(drop)
    }, |e| matches!(e, PackError::GroupNotReady { .. }));
    manifest_case("not JSON", |v| *v = serde_json::Value::String("{{".into()), |e| manifest(e) || matches!(e, PackError::Version { .. }));
    manifest_case("future format version", |v| v["version"] = 99.into(), |e| matches!(e, PackError::Version { found: 99, .. }));
    manifest_case("another format", |v| v["format"] = "gguf".into(), manifest);
    manifest_case("wrong sha256 syntax", |v| v["shards"][0]["sha256"] = "xyz".into(), manifest);
    manifest_case("path in a shard name", |v| v["shards"][0]["file"] = "../../etc/passwd".into(), manifest);
    manifest_case("shape that disagrees with the config", |v| v["tensors"]["norm.weight"]["shape"] = serde_json::json!([7]), manifest);
    manifest_case("a tensor missing", |v| drop(v["tensors"].as_object_mut().unwrap().remove("norm.weight")), manifest);
    manifest_case("an inconsistent config", |v| v["model"]["heads"] = 7.into(), manifest);
    manifest_case("a 10 TB model", |v| v["shards"][0]["bytes"] = serde_json::json!(10_000_000_000_000u64), |e| matches!(e, PackError::TooLarge { .. }));
    manifest_case("shards out of group order", |v| v["shards"].as_array_mut().unwrap().reverse(), manifest);
    let huge = vec![b' '; 17 << 20];
    assert!(matches!(Manifest::parse(&huge), Err(PackError::Manifest(_))), "a 17 MiB manifest");
    // A wrong sha256 in the manifest: the genuine shard is refused.
    let p = packed();
    let wrong = manifest_bytes(&p, |v| v["shards"][0]["sha256"] = "0".repeat(64).into());
    let mut loader = Loader::new(Manifest::parse(&wrong).unwrap());
    assert!(matches!(loader.add_shard(0, &p.shards[0].1), Err(PackError::ShardHash { .. })));
}

/// Safetensors bytes of the tiny config, with `edit` applied to one tensor.
fn safetensors_with(edit_name: &str, edit: impl Fn(&mut Vec<usize>, &mut Vec<u8>, &mut Dtype)) -> Vec<u8> {
    let w = weights();
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>, Dtype)> = config()
        .tensor_shapes()
        .into_iter()
        .map(|(name, shape)| {
            let bytes = w.values(&name).unwrap().iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, shape, bytes, Dtype::F32)
        })
        .collect();
    owned.retain(|(name, ..)| edit_name != "-" || name != "norm.weight");
    for (name, shape, bytes, dtype) in owned.iter_mut() {
        if name == edit_name {
            edit(shape, bytes, dtype);
        }
    }
    let views: Vec<(String, TensorView<'_>)> =
        owned.iter().map(|(n, s, b, d)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn bad_weight_files_are_typed_errors() {
    let cfg = config();
    let nan = safetensors_with("norm.weight", |_, b, _| b[0..4].copy_from_slice(&f32::NAN.to_le_bytes()));
    assert!(matches!(Weights::from_safetensors(&nan, &cfg), Err(ModelError::NonFinite { .. })), "NaN");
    let inf = safetensors_with("tok_emb.weight", |_, b, _| b[8..12].copy_from_slice(&f32::INFINITY.to_le_bytes()));
    assert!(matches!(Weights::from_safetensors(&inf, &cfg), Err(ModelError::NonFinite { .. })), "Inf");
    let missing = safetensors_with("-", |_, _, _| {});
    assert!(matches!(Weights::from_safetensors(&missing, &cfg), Err(ModelError::MissingTensor { .. })), "missing");
    let shape = safetensors_with("norm.weight", |s, b, _| {
        *s = vec![s[0] / 2];
        b.truncate(b.len() / 2);
    });
    assert!(matches!(Weights::from_safetensors(&shape, &cfg), Err(ModelError::Shape { .. })), "shape");
    let dtype = safetensors_with("norm.weight", |_, _, d| *d = Dtype::I32);
    assert!(matches!(Weights::from_safetensors(&dtype, &cfg), Err(ModelError::DType { .. })), "dtype");
    assert!(matches!(Weights::from_safetensors(b"not a safetensors file", &cfg), Err(ModelError::Format(_))), "garbage");
    assert!(matches!(Weights::from_safetensors(&[], &cfg), Err(ModelError::Format(_))), "empty");
    assert!(Weights::from_safetensors(&safetensors_with("", |_, _, _| {}), &cfg).is_ok(), "the clean file loads");
}

#[test]
fn bad_clips_text_and_options_are_typed_errors_and_the_model_stays_usable() {
    let model = model();
    let opts = GenerateOptions { steps: 2, guidance: 2.0, seed: 0 };
    let input = |e: &ModelError| matches!(e, ModelError::Input(_));
    let unknown = |e: &ModelError| matches!(e, ModelError::Data(DataError::UnknownWords { .. }));
    let data = |e: &ModelError| matches!(e, ModelError::Data(_));
    type Case<'a> = (&'a str, Box<dyn Fn(&UniVid) -> Result<(), ModelError>>, Box<dyn Fn(&ModelError) -> bool>);
    let cases: Vec<Case> = vec![
        ("one frame", Box::new(|m| block(m.classify(&clip(1, 64, 64))).map(drop)), Box::new(input)),
        ("10 000 frames", Box::new(|m| block(m.classify(&clip(10_000, 64, 64))).map(drop)), Box::new(input)),
        ("a 4K frame", Box::new(|m| block(m.describe(&clip(1, 2160, 3840), DecodeOptions::default())).map(drop)), Box::new(input)),
        ("non-square 64×48", Box::new(|m| block(m.classify(&clip(20, 64, 48))).map(drop)), Box::new(input)),
        ("odd size 63×63", Box::new(|m| block(m.embed_clip(&clip(20, 63, 63))).map(drop)), Box::new(input)),
        ("19 frames to describe", Box::new(|m| block(m.describe(&clip(19, 64, 64), DecodeOptions::default())).map(drop)), Box::new(input)),
        ("empty prompt", Box::new(move |m| block(m.generate("", opts, &mut no_progress)).map(drop)), Box::new(data)),
        ("10 000-character prompt", Box::new(move |m| block(m.generate(&"digit ".repeat(1700), opts, &mut no_progress)).map(drop)), Box::new(data)),
        ("out-of-vocabulary prompt", Box::new(move |m| block(m.generate("a cat jumps", opts, &mut no_progress)).map(drop)), Box::new(unknown)),
        ("accented word", Box::new(move |m| block(m.generate("dígit 3 moves left", opts, &mut no_progress)).map(drop)), Box::new(unknown)),
        ("control characters", Box::new(move |m| block(m.generate("digit 3\u{0}\u{7} moves left", opts, &mut no_progress)).map(drop)), Box::new(unknown)),
        ("ungrammatical prompt", Box::new(move |m| block(m.generate("digit moves 3 left", opts, &mut no_progress)).map(drop)), Box::new(data)),
        ("the same digit twice", Box::new(move |m| block(m.generate("digit 3 moves up while digit 3 moves left", opts, &mut no_progress)).map(drop)), Box::new(data)),
        ("out-of-vocabulary question", Box::new(|m| block(m.ask(&good_clip(), "what colour is it ?", DecodeOptions::default())).map(drop)), Box::new(unknown)),
        ("question too long", Box::new(|m| block(m.ask(&good_clip(), &"which digits are there ".repeat(8), DecodeOptions::default())).map(drop)), Box::new(move |e: &ModelError| input(e) || data(e))),
        ("empty question", Box::new(|m| block(m.ask(&good_clip(), "", DecodeOptions::default())).map(drop)), Box::new(move |e: &ModelError| input(e) || data(e))),
        ("empty query", Box::new(|m| block(m.embed_query("")).map(drop)), Box::new(move |e: &ModelError| input(e) || data(e))),
        ("out-of-vocabulary query", Box::new(|m| block(m.embed_query("red car")).map(drop)), Box::new(unknown)),
        ("query too long", Box::new(|m| block(m.embed_query(&"digit 1 moves up ".repeat(10))).map(drop)), Box::new(move |e: &ModelError| input(e) || data(e))),
        ("steps = 0", Box::new(|m| block(m.generate("digit 3 moves left", GenerateOptions { steps: 0, ..Default::default() }, &mut no_progress)).map(drop)), Box::new(input)),
        ("steps = 1 000 000", Box::new(|m| block(m.generate("digit 3 moves left", GenerateOptions { steps: 1_000_000, ..Default::default() }, &mut no_progress)).map(drop)), Box::new(input)),
        ("NaN guidance", Box::new(|m| block(m.generate("digit 3 moves left", GenerateOptions { guidance: f32::NAN, steps: 1, seed: 0 }, &mut no_progress)).map(drop)), Box::new(input)),
        ("guidance 1e9", Box::new(|m| block(m.generate("digit 3 moves left", GenerateOptions { guidance: 1e9, steps: 1, seed: 0 }, &mut no_progress)).map(drop)), Box::new(input)),
        ("continue from 0 frames", Box::new(move |m| block(m.continue_clip(&good_clip(), 0, opts, &mut no_progress)).map(drop)), Box::new(input)),
        ("continue from other than half the clip", Box::new(move |m| block(m.continue_clip(&good_clip(), 3, opts, &mut no_progress)).map(drop)), Box::new(input)),
        ("continue from every frame", Box::new(move |m| block(m.continue_clip(&good_clip(), 20, opts, &mut no_progress)).map(drop)), Box::new(input)),
        ("continue from a clip shorter than asked", Box::new(move |m| block(m.continue_clip(&clip(4, 64, 64), 10, opts, &mut no_progress)).map(drop)), Box::new(input)),
        ("cancelled mid-generation", Box::new(move |m| block(m.generate("digit 3 moves left", opts, &mut |_: Progress<'_>| ControlFlow::Break(()))).map(drop)), Box::new(|e: &ModelError| matches!(e, ModelError::Cancelled { .. }))),
    ];
    assert!(cases.len() >= 28);
    for (name, run, expect) in &cases {
        match run(&model) {
            Err(e) => assert!(expect(&e), "{name}: unexpected error {e:?}"),
            Ok(()) => panic!("{name}: accepted"),
        }
        still_works(&model);
    }
}

#[test]
fn malformed_clips_and_generation_before_its_weights_are_typed_errors() {
    assert!(matches!(Clip::new(0, 64, 64, vec![]), Err(DataError::Clip(_))), "empty clip");
    assert!(matches!(Clip::new(2, 64, 64, vec![0; 100]), Err(DataError::Clip(_))), "pixel count");
    assert!(Clip::from_gif(b"GIF89a not really", 100, 1).is_err(), "a GIF that does not decode");
    let understanding = UniVid::load_understanding(config(), &weights(), &Device::flex()).unwrap();
    let err = block(understanding.generate("digit 3 moves left", GenerateOptions { steps: 1, ..Default::default() }, &mut no_progress)).unwrap_err();
    assert!(matches!(err, ModelError::NotLoaded { group: "generate" }));
    still_works(&understanding);
}

/// Out-of-domain clips given to the shipped model: whatever it sees, what it says is a caption of
/// its grammar and each answer one its question can have (before decoding kept to the grammar,
/// noise was described as "digit 8 moves while digit 8 moves 8 while …").
#[test]
fn the_shipped_model_says_only_well_formed_things_about_out_of_domain_clips() {
    use univid::data::{parse_caption, parse_question, Grammar};
    use univid::pack::read_dir;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut loader = read_dir(&root.join("models/univid-small-int8")).expect("the shipped int8 pack: make it with scripts/pack-shipped");
    let config = loader.manifest().model.clone();
    let model = UniVid::load(config, &loader.take(&Group::ALL).unwrap(), &Device::flex()).unwrap();
    let frame = 64 * 64;
    let mut noise = 0x2545_f491_u32;
    let clips: Vec<(&str, Vec<u8>)> = vec![
        ("black", vec![0; 20 * frame]),
        ("white", vec![255; 20 * frame]),
        ("grey", vec![128; 20 * frame]),
        ("noise", (0..20 * frame).map(|_| { noise ^= noise << 13; noise ^= noise >> 17; noise ^= noise << 5; (noise >> 24) as u8 }).collect()),
        ("stripes", (0..20 * frame).map(|i| if (i % 64) / 4 % 2 == 0 { 255 } else { 0 }).collect()),
    ];
    let questions = ["which digit moves left ?", "where does digit 3 end up ?", "how many digits are there ?"];
    for (name, pixels) in clips {
        let clip = Clip::new(20, 64, 64, pixels).unwrap();
        let (said, answers) = block(model.describe_and_ask(&clip, &questions, DecodeOptions::default())).unwrap();
        let caption = said.text;
        parse_caption(&caption).unwrap_or_else(|e| panic!("{name}: \"{caption}\" does not parse: {e}"));
        for (question, answer) in questions.iter().zip(&answers) {
            let grammar = Grammar::Answer(parse_question(question).unwrap().kind);
            assert!(grammar.accepts(answer), "{name}: \"{answer}\" is not an answer to \"{question}\"");
        }
    }
}
