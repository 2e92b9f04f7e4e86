//! The packed format is readable by standard tools: Python's `safetensors` opens every shard and
//! finds the tensors, dtypes and values the manifest promises.

use std::process::Command;
use univid::model::{ModelConfig, Weights};
use univid::pack::{pack, read_dir, write_dir, Group, Scheme};

#[test]
fn python_safetensors_reads_an_int4_pack() {
    let config = ModelConfig::tiny();
    let weights = Weights::random(&config, 5);
    let packed = pack(&weights, &config, Scheme::Int4, 8 << 10, serde_json::Value::Null).unwrap();
    let dir = std::env::temp_dir().join(format!("univid-pack-{}", std::process::id()));
    write_dir(&packed, &dir).unwrap();
    assert!(read_dir(&dir).unwrap().group_ready(Group::Generate));
    // Python checks: every manifest tensor is in its shard with the stated dtype; f16 values match.
    let script = r#"
import json, sys, numpy as np
from safetensors.numpy import load_file
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
names = {"F16": "float16", "I8": "int8", "U8": "uint8", "F32": "float32"}
for name, t in m["tensors"].items():
    shard = load_file(d + "/" + m["shards"][t["shard"]]["file"])
    assert str(shard[name].dtype) == names[t["dtype"]], name
    if t["scale"] if "scale" in t else False:
        assert shard[t["scale"]].dtype == np.float16
print(float(load_file(d + "/" + m["shards"][m["tensors"]["norm.weight"]["shard"]]["file"])["norm.weight"][0]))
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(&dir).output().expect("python3 runs (scripts/setup installs it)");
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.0");
    std::fs::remove_dir_all(&dir).ok();
}

/// The shipped browser pack still verifies and decodes into the current architecture, and agrees
/// with the f16 training export it was packed from (int8 moves no digit probability by > 0.05).
#[test]
fn the_shipped_int8_pack_loads_and_matches_its_source() {
    use burn::tensor::Device;
    use univid::data::{Digits, Split, World, WorldConfig};
    use univid::model::UniVid;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut loader = read_dir(&root.join("models/univid-small-int8")).expect("make the pack with scripts/pack-shipped");
    let config = loader.manifest().model.clone();
    let device = Device::flex();
    let packed = UniVid::load(config.clone(), &loader.take(&Group::ALL).unwrap(), &device).unwrap();
    let (source_config, source, _) = univid::pack::read_model(&root.join("models/univid-small")).unwrap();
    assert_eq!(source_config, config);
    let f16 = UniVid::load(config, &source, &device).unwrap();
    let world = World::new(WorldConfig::standard(), Digits::locate().unwrap()).unwrap();
    for index in 0..3 {
        let (clip, _) = world.clip(Split::Test, 0, index);
        let a = pollster::block_on(packed.classify(&clip)).unwrap();
        let b = pollster::block_on(f16.classify(&clip)).unwrap();
        let worst = a.digit_probabilities.iter().zip(&b.digit_probabilities).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst < 0.05, "clip {index}: int8 and f16 digit probabilities differ by {worst}");
    }
    // Continuation (the slot head, int8 too): on 8 benchmark test clips the expected future is far
    // closer to the real one than predicting black is (about a third of black's error on the
    // eval's 200; half is the bar here), and int8 and f16 agree.
    let benchmark = World::new(WorldConfig::benchmark(), Digits::locate().unwrap()).unwrap();
    let options = univid::pipelines::GenerateOptions { steps: 1, guidance: 1.0, seed: 0 };
    let mse = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(&x, &y)| ((x as f64 - y as f64) / 255.0).powi(2)).sum::<f64>();
    let (mut ours, mut theirs, mut black) = (0.0, 0.0, 0.0);
    for index in 0..8 {
        let (clip, _) = benchmark.clip(Split::Test, 0, index);
        let context = clip.slice(0, 10).unwrap();
        let cut = 10 * clip.frame_len();
        let continued = |m: &UniVid| pollster::block_on(m.continue_clip(&context, 10, options, &mut univid::pipelines::no_progress)).unwrap();
        ours += mse(&continued(&packed).pixels[cut..], &clip.pixels[cut..]);
        theirs += mse(&continued(&f16).pixels[cut..], &clip.pixels[cut..]);
        black += mse(&vec![0; clip.pixels.len() - cut], &clip.pixels[cut..]);
    }
    println!("continuation MSE per frame on 8 clips: int8 {:.1}, f16 {:.1}, black {:.1}", ours / 80.0, theirs / 80.0, black / 80.0);
    assert!(ours < 0.5 * black && theirs < 0.5 * black, "int8 {ours:.0}, f16 {theirs:.0}, black {black:.0} (sums)");
    assert!((ours - theirs).abs() < 0.15 * theirs, "int8 {ours:.0} and f16 {theirs:.0} (sums) differ by more than 15 %");
}
