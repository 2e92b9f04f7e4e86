//! Replays the fuzz corpus on stable Rust: every committed seed must still be accepted by its
//! parser, and every input that once crashed a fuzz target (`crate/fuzz/regressions/<target>/`)
//! must now be handled without a panic. `UNIVID_WRITE_SEEDS=1` rewrites the seeds.

use std::path::{Path, PathBuf};
use univid::data::Clip;
use univid::fuzzing;
use univid::pack::Group;

type Target = fn(&[u8]) -> bool;
const TARGETS: [(&str, Target); 4] =
    [("manifest", fuzzing::manifest), ("shard", fuzzing::shard), ("gif", fuzzing::gif), ("png", fuzzing::png)];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

/// A small moving gradient square: enough structure for the decoders' interesting paths.
fn pattern_clip(frames: usize, size: usize) -> Clip {
    let pixels = (0..frames * size * size)
        .map(|i| {
            let (t, y, x) = (i / (size * size), i / size % size, i % size);
            if (x + size - t) % size < size / 2 && y > size / 4 { (x * 255 / size) as u8 } else { 0 }
        })
        .collect();
    Clip::new(frames, size, size, pixels).unwrap()
}

/// Per fixture pack and group, its smallest shard (keeps the corpus small and each run fast).
fn shard_seeds() -> Vec<Vec<u8>> {
    let packs = fuzzing::fixture_packs();
    let mut chosen: Vec<Vec<u8>> = Vec::new();
    for (p, packed) in packs.iter().enumerate() {
        for group in Group::ALL {
            let smallest = packed
                .manifest
                .shards_of(group)
                .min_by_key(|&i| packed.shards[i].1.len())
                .expect("every group has a shard");
            let selector = u8::try_from(smallest * packs.len() + p).expect("selector fits a byte");
            chosen.push([&[selector][..], &packed.shards[smallest].1].concat());
        }
    }
    chosen
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "manifest" => fuzzing::fixture_packs().iter().map(|p| serde_json::to_vec_pretty(&p.manifest).unwrap()).collect(),
        "shard" => shard_seeds(),
        "gif" => vec![pattern_clip(3, 8).to_gif().unwrap(), pattern_clip(6, 32).to_gif().unwrap()],
        "png" => vec![pattern_clip(1, 8).frame_to_png(0).unwrap(), pattern_clip(2, 32).frame_to_png(1).unwrap()],
        _ => unreachable!(),
    }
}

#[test]
fn every_seed_is_accepted_and_matches_the_fixtures() {
    let write = std::env::var_os("UNIVID_WRITE_SEEDS").is_some();
    for (target, parse) in TARGETS {
        let dir = fuzz_dir().join("seeds").join(target);
        let expected = seeds(target);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            for (i, seed) in expected.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
            }
        }
        let committed = files(&dir);
        let committed: Vec<Vec<u8>> = committed.into_iter().map(|(_, bytes)| bytes).collect();
        assert_eq!(committed, expected, "{target}: seeds are stale; rerun with UNIVID_WRITE_SEEDS=1");
        for seed in &committed {
            assert!(parse(seed), "{target}: a seed is rejected");
        }
    }
}

#[test]
fn inputs_that_once_crashed_are_handled() {
    for (target, parse) in TARGETS {
        for (path, bytes) in files(&fuzz_dir().join("regressions").join(target)) {
            // Must return (either way) instead of panicking or aborting.
            let accepted = parse(&bytes);
            println!("{}: {}", path.display(), if accepted { "accepted" } else { "rejected" });
        }
    }
}

#[test]
fn flipping_any_byte_of_a_shard_seed_never_panics() {
    // A cheap, deterministic slice of what the fuzzer does, so stable CI exercises the same path.
    for seed in shard_seeds().iter().take(3) {
        for at in (1..seed.len()).step_by(97) {
            let mut bad = seed.clone();
            bad[at] ^= 0xff;
            fuzzing::shard(&bad);
        }
    }
}
