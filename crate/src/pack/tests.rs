use super::*;
use crate::model::{ModelConfig, Weights};
use std::collections::HashMap;

fn tiny_pack(scheme: Scheme, shard_bytes: usize) -> (Weights, Packed) {
    let config = ModelConfig::tiny();
    let weights = Weights::random(&config, 3);
    let packed = pack(&weights, &config, scheme, shard_bytes, serde_json::Value::Null).unwrap();
    (weights, packed)
}

fn load_all(packed: &Packed) -> Result<Loader> {
    let text = serde_json::to_vec(&packed.manifest).unwrap();
    let mut loader = Loader::new(Manifest::parse(&text)?);
    for (i, (_, bytes)) in packed.shards.iter().enumerate() {
        loader.add_shard(i, bytes)?;
    }
    Ok(loader)
}

fn worst_error(a: &Weights, b: &Weights, name: &str) -> f32 {
    let (x, y) = (a.values(name).unwrap(), b.values(name).unwrap());
    x.iter().zip(y.iter()).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max)
}

#[test]
fn f32_pack_round_trips_exactly_in_group_order() {
    let (weights, packed) = tiny_pack(Scheme::F32, 16 << 10);
    assert!(packed.shards.len() > 3, "small shard size should give several core shards");
    let groups: Vec<Group> = packed.manifest.shards.iter().map(|s| s.group).collect();
    assert!(groups.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(groups.last(), Some(&Group::Generate));
    let back = load_all(&packed).unwrap().take(&Group::ALL).unwrap();
    for (name, _) in ModelConfig::tiny().tensor_shapes() {
        assert_eq!(back.values(&name).unwrap(), weights.values(&name).unwrap(), "{name}");
    }
}

#[test]
fn quantized_packs_stay_close_and_shrink() {
    let (weights, f16) = tiny_pack(Scheme::F16, 1 << 20);
    let size = |p: &Packed| p.shards.iter().map(|(_, b)| b.len()).sum::<usize>();
    let name = "blocks.0.ffn.experts.0.fc1.weight";
    let mut previous = size(&f16);
    for (scheme, tolerance) in [(Scheme::Int8, 0.01), (Scheme::Int4, 0.06)] {
        let (_, packed) = tiny_pack(scheme, 1 << 20);
        assert!(size(&packed) < previous, "{scheme:?} is not smaller");
        previous = size(&packed);
        assert_eq!(packed.manifest.tensors[name].quant, scheme);
        let back = load_all(&packed).unwrap().take(&Group::ALL).unwrap();
        let err = worst_error(&weights, &back, name);
        assert!(err < tolerance, "{scheme:?}: error {err}");
        assert_eq!(back.values("norm.weight").unwrap(), weights.values("norm.weight").unwrap());
    }
}

#[test]
fn understanding_groups_are_ready_before_generate() {
    let (_, packed) = tiny_pack(Scheme::Int8, 1 << 20);
    let text = serde_json::to_vec(&packed.manifest).unwrap();
    let mut loader = Loader::new(Manifest::parse(&text).unwrap());
    let generate: Vec<usize> = packed.manifest.shards_of(Group::Generate).collect();
    for (i, (_, bytes)) in packed.shards.iter().enumerate().filter(|(i, _)| !generate.contains(i)) {
        loader.add_shard(i, bytes).unwrap();
    }
    assert!(loader.group_ready(Group::Core) && loader.group_ready(Group::Understand));
    assert!(!loader.group_ready(Group::Generate));
    assert!(matches!(loader.take(&[Group::Generate]), Err(PackError::GroupNotReady { .. })));
    assert!(loader.take(&[Group::Core, Group::Understand]).is_ok());
}

#[test]
fn corrupt_shards_are_refused_by_name_and_change_nothing() {
    let (_, packed) = tiny_pack(Scheme::Int8, 1 << 20);
    let text = serde_json::to_vec(&packed.manifest).unwrap();
    let mut loader = Loader::new(Manifest::parse(&text).unwrap());
    let (file, bytes) = &packed.shards[0];
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    match loader.add_shard(0, &flipped) {
        Err(PackError::ShardHash { shard }) => assert_eq!(&shard, file),
        other => panic!("expected a hash error, got {other:?}"),
    }
    assert!(matches!(loader.add_shard(0, &bytes[..bytes.len() - 1]), Err(PackError::ShardSize { .. })));
    assert!(!loader.has_shard(0));
    loader.add_shard(0, bytes).unwrap();
    assert!(loader.has_shard(0));
}

#[test]
fn bad_manifests_are_refused_before_any_shard() {
    let (_, packed) = tiny_pack(Scheme::F16, 1 << 20);
    let mut json = serde_json::to_value(&packed.manifest).unwrap();
    json["version"] = 2.into();
    assert!(matches!(Manifest::parse(&serde_json::to_vec(&json).unwrap()), Err(PackError::Version { found: 2, .. })));
    let mut json = serde_json::to_value(&packed.manifest).unwrap();
    json["tensors"]["norm.bias"]["shape"] = serde_json::json!([5]);
    assert!(matches!(Manifest::parse(&serde_json::to_vec(&json).unwrap()), Err(PackError::Manifest(_))));
    let mut json = serde_json::to_value(&packed.manifest).unwrap();
    json["shards"][0]["file"] = "../escape.safetensors".into();
    assert!(matches!(Manifest::parse(&serde_json::to_vec(&json).unwrap()), Err(PackError::Manifest(_))));
    let mut json = serde_json::to_value(&packed.manifest).unwrap();
    json["shards"][0]["bytes"] = (MAX_MODEL_BYTES + 1).into();
    assert!(matches!(Manifest::parse(&serde_json::to_vec(&json).unwrap()), Err(PackError::TooLarge { .. })));
    assert!(matches!(Manifest::parse(b"{\"format\": 3"), Err(PackError::Manifest(_))));
    // A quantized scheme needs a matrix (int4: whole blocks per row).
    let mut json = serde_json::to_value(&packed.manifest).unwrap();
    json["tensors"]["norm.bias"]["quant"] = "int8".into();
    json["tensors"]["norm.bias"]["scale"] = "norm.bias.scale".into();
    assert!(matches!(Manifest::parse(&serde_json::to_vec(&json).unwrap()), Err(PackError::Manifest(_))));
}

/// The CPU backend multiplies the pack's int8/int4 codes as they are (`model/quantized.rs`); the
/// same pack with its weights widened at load (as the runtime did before) must answer alike.
#[test]
fn weights_kept_quantized_answer_as_widened_ones() {
    use crate::data::Clip;
    use crate::model::UniVid;
    use burn::tensor::Device;
    let device = Device::flex();
    for scheme in [Scheme::Int8, Scheme::Int4] {
        let (_, packed) = tiny_pack(scheme, 1 << 20);
        let kept = load_all(&packed).unwrap().take(&Group::ALL).unwrap();
        let names: Vec<String> = ModelConfig::tiny().tensor_shapes().into_iter().map(|(n, _)| n).collect();
        let widened: HashMap<String, (Vec<usize>, Vec<f32>)> = names
            .iter()
            .map(|n| (n.clone(), (packed.manifest.tensors[n].shape.clone(), kept.values(n).unwrap().into_owned())))
            .collect();
        let quantized = UniVid::load(ModelConfig::tiny(), &kept, &device).unwrap();
        let reference = UniVid::load(ModelConfig::tiny(), &Weights::from_map(widened), &device).unwrap();
        let pixels = (0..20 * 64 * 64).map(|i| if (i % 64 + 2 * (i / 4096)) % 16 < 5 && (i / 64) % 9 < 6 { 255 } else { 0 }).collect();
        let clip = Clip::new(20, 64, 64, pixels).unwrap();
        let a = pollster::block_on(quantized.classify(&clip)).unwrap();
        let b = pollster::block_on(reference.classify(&clip)).unwrap();
        let worst = a.digit_probabilities.iter().zip(&b.digit_probabilities).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-4, "{scheme:?}: digit probabilities differ by {worst}");
        let describe = |model: &UniVid| pollster::block_on(model.describe(&clip, Default::default())).unwrap();
        let (a, b) = (describe(&quantized), describe(&reference));
        assert_eq!(a.text, b.text, "{scheme:?}");
    }
}

#[test]
fn a_streamed_model_matches_the_host_loaded_one() {
    use crate::data::Clip;
    use crate::model::UniVid;
    use burn::tensor::Device;
    let (weights, packed) = tiny_pack(Scheme::F32, 4 << 10);
    let device = Device::flex();
    let text = serde_json::to_vec(&packed.manifest).unwrap();
    let mut loader = Loader::streaming_to(Manifest::parse(&text).unwrap(), device.clone());
    for (i, (_, bytes)) in packed.shards.iter().enumerate() {
        loader.add_shard(i, bytes).unwrap();
    }
    let streamed = UniVid::load(ModelConfig::tiny(), &loader.take(&Group::ALL).unwrap(), &device).unwrap();
    let reference = UniVid::load(ModelConfig::tiny(), &weights, &device).unwrap();
    let clip = Clip::black(20, 64, 64);
    let a = pollster::block_on(streamed.classify(&clip)).unwrap();
    let b = pollster::block_on(reference.classify(&clip)).unwrap();
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
}

#[test]
fn a_streaming_load_answers_understanding_first_then_generates_in_any_arrival_order() {
    use burn::tensor::Device;
    let (_, packed) = tiny_pack(Scheme::Int8, 4 << 10);
    let text = serde_json::to_vec(&packed.manifest).unwrap();
    let generate: Vec<usize> = packed.manifest.shards_of(Group::Generate).collect();
    let last = packed.shards.len() - 1;
    // In manifest order: nothing until the last understanding shard, then understanding only,
    // then generation with the last shard.
    let mut load = StreamingLoad::new(Manifest::parse(&text).unwrap(), Device::flex());
    for (i, (_, bytes)) in packed.shards.iter().enumerate() {
        let made = load.add_shard(i, bytes).unwrap();
        let status = load.status();
        let understanding_done = i + 1 == generate[0];
        assert_eq!(made.is_some(), understanding_done || i == last, "shard {i}");
        assert_eq!(status.understand_ready, i + 1 >= generate[0], "shard {i}");
        assert_eq!(status.generate_ready, i == last, "shard {i}");
        if let Some(model) = made {
            assert_eq!(model.can_generate(), i == last);
        }
    }
    assert_eq!(load.status().tensors_loaded, load.status().tensors_total);
    // Generation's shards first: no model until understanding's are in, and that model already
    // generates; a corrupt shard on the way changes nothing.
    let mut load = StreamingLoad::new(Manifest::parse(&text).unwrap(), Device::flex());
    let order: Vec<usize> = generate.iter().copied().chain((0..generate[0]).rev()).collect();
    for (n, &i) in order.iter().enumerate() {
        let bytes = &packed.shards[i].1;
        let mut flipped = bytes.clone();
        flipped[0] ^= 1;
        let before = load.status();
        assert!(load.add_shard(i, &flipped).is_err());
        assert_eq!(load.status(), before);
        let made = load.add_shard(i, bytes).unwrap();
        assert_eq!(made.is_some(), n == order.len() - 1, "shard {i}");
    }
    let status = load.status();
    assert!(status.understand_ready && status.generate_ready);
    assert_eq!(status.groups_ready, vec!["core", "understand", "generate"]);
}

/// On a GPU the loader uploads int8/int4 matrices as burn's quantized tensors (no f32 copy) and
/// the model answers as it does from the same pack on the CPU backend.
#[cfg(feature = "wgpu")]
#[test]
fn a_pack_streamed_to_a_gpu_keeps_its_matrices_quantized_and_answers_as_on_the_cpu() {
    use crate::data::Clip;
    use crate::model::{QuantizedWeight, UniVid};
    use burn::tensor::{DType, Device};
    let gpu = crate::model::test_wgpu();
    for scheme in [Scheme::Int8, Scheme::Int4] {
        let (_, packed) = tiny_pack(scheme, 1 << 20);
        let text = serde_json::to_vec(&packed.manifest).unwrap();
        let load = |device: &Device| {
            let mut loader = Loader::streaming_to(Manifest::parse(&text).unwrap(), device.clone());
            for (i, (_, bytes)) in packed.shards.iter().enumerate() {
                loader.add_shard(i, bytes).unwrap();
            }
            loader.take(&Group::ALL).unwrap()
        };
        let on_gpu = load(&gpu);
        let quantized_names: Vec<&String> = packed.manifest.tensors.iter().filter(|(_, e)| e.quant == scheme).map(|(n, _)| n).collect();
        assert!(quantized_names.len() > 10, "{scheme:?}: {} quantized matrices", quantized_names.len());
        // burn's blocks must divide the row: rows of a multiple of 16 inputs go up quantized,
        // others widened; packed q, k, v wait on the host for the model to cut them.
        for name in quantized_names {
            let quantized = packed.manifest.tensors[name].shape[1] % 16 == 0;
            match on_gpu.quantized(name) {
                Some(QuantizedWeight::Codes(_)) => assert!(quant::is_packed_qkv(name), "{name} stayed on the host"),
                Some(QuantizedWeight::OnDevice(t)) => {
                    assert!(!quant::is_packed_qkv(name), "{name} went up whole");
                    assert_eq!(matches!(t.dtype(), DType::QFloat(_)), quantized, "{name}: {:?}", t.dtype());
                }
                None => panic!("{scheme:?} {name} missing"),
            }
        }
        let pixels = (0..20 * 64 * 64).map(|i| if (i % 64 + 2 * (i / 4096)) % 16 < 5 && (i / 64) % 9 < 6 { 255 } else { 0 }).collect();
        let clip = Clip::new(20, 64, 64, pixels).unwrap();
        let gpu_model = UniVid::load(ModelConfig::tiny(), &on_gpu, &gpu).unwrap();
        let cpu_model = UniVid::load(ModelConfig::tiny(), &load(&Device::flex()), &Device::flex()).unwrap();
        let a = pollster::block_on(gpu_model.classify(&clip)).unwrap();
        let b = pollster::block_on(cpu_model.classify(&clip)).unwrap();
        let worst = a.digit_probabilities.iter().zip(&b.digit_probabilities).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-3, "{scheme:?}: digit probabilities differ by {worst}");
        let describe = |model: &UniVid| pollster::block_on(model.describe(&clip, Default::default())).unwrap().text;
        assert_eq!(describe(&gpu_model), describe(&cpu_model), "{scheme:?}");
    }
}
