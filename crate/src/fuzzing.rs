//! Entry points of the fuzz targets in `crate/fuzz`, one per parser of untrusted bytes. They live
//! in the crate so the committed seed corpus and every input that once crashed replay as ordinary
//! tests (`tests/fuzz_corpus.rs`) on stable Rust, without the fuzzer.
//!
//! Each returns whether the parser accepted the input; none may panic, whatever the bytes.

use crate::data::Clip;
use crate::model::{ModelConfig, Weights};
use crate::pack::{loader::decode_shard, pack, Manifest, Packed, Scheme};
use std::sync::OnceLock;

/// The frame cap the CLI reads clips with.
const MAX_FRAMES: usize = 10_000;

pub fn manifest(data: &[u8]) -> bool {
    Manifest::parse(data).is_ok()
}

/// `data` = one selector byte (which fixture pack and which of its shards) + the shard's bytes,
/// decoded against that pack's manifest (past the size and sha256 checks, which stop any change).
pub fn shard(data: &[u8]) -> bool {
    let Some((&selector, bytes)) = data.split_first() else { return false };
    let packs = fixture_packs();
    let packed = &packs[selector as usize % packs.len()];
    let index = selector as usize / packs.len() % packed.shards.len();
    decode_shard(&packed.manifest, index, bytes).is_ok()
}

/// Odd-length inputs decode to RGB, even-length ones to luminance: both paths get fuzzed.
fn channels_for(data: &[u8]) -> usize {
    1 + 2 * (data.len() % 2)
}

pub fn gif(data: &[u8]) -> bool {
    Clip::from_gif(data, MAX_FRAMES, channels_for(data)).is_ok()
}

pub fn png(data: &[u8]) -> bool {
    Clip::from_pngs(&[data.to_vec()], channels_for(data)).is_ok()
}

/// The tiny config's random weights packed with every scheme in 8 KiB shards (several per group).
pub fn fixture_packs() -> &'static [Packed] {
    static PACKS: OnceLock<Vec<Packed>> = OnceLock::new();
    PACKS.get_or_init(|| {
        // Without slot heads: their glyph generator alone is ~1 M parameters at any size, hundreds of 8 KiB shards.
        let config = ModelConfig { slots: 0, locate: false, ..ModelConfig::tiny() };
        let weights = Weights::random(&config, 5);
        [Scheme::F32, Scheme::F16, Scheme::Int8, Scheme::Int4]
            .into_iter()
            .map(|scheme| pack(&weights, &config, scheme, 8 << 10, serde_json::Value::Null).expect("tiny pack"))
            .collect()
    })
}
