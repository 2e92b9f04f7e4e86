//! The weights format: quantized safetensors shards + one JSON manifest, loaded progressively.
//!
//! ```text
//! models/<name>/
//!   manifest.json            format + version, model config, tokenizer, per tensor: shard, byte
//!                            range, dtype, shape, quantization (scheme, block, scale tensor),
//!                            group; per shard: file, group, size, sha256
//!   core-00.safetensors …    embeddings, stem, trunk (shards never straddle groups)
//!   understand-00.safetensors  digit + motion heads
//!   generate-00.safetensors    video decoder, continuation's slot head
//! ```
//! Shards are plain safetensors (Python's `safetensors` opens them); int8 and int4 weights are
//! stored as `I8` / packed `U8` tensors next to an f16 `<name>.scale` tensor (see [`quant`]).
//! Groups arrive in the order core → understand → generate, so understanding can start before the
//! generation head is in.

pub mod loader;
pub mod manifest;
pub mod quant;
pub mod streaming;
pub mod writer;

pub use loader::Loader;
pub use manifest::{Group, Manifest, Shard, TensorEntry, FORMAT_VERSION, MAX_MANIFEST_BYTES, MAX_MODEL_BYTES};
pub use quant::Scheme;
pub use streaming::{LoadStatus, StreamingLoad};
pub use writer::{pack, Packed};

use crate::model::{ModelConfig, Weights};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("manifest: {0}")]
    Manifest(String),
    #[error("manifest format version {found} is not supported (this runtime reads version {supported}); update UniVid")]
    Version { found: u64, supported: u32 },
    #[error("the model is {bytes} bytes, over the {limit}-byte limit")]
    TooLarge { bytes: u64, limit: u64 },
    #[error("shard index {index} is not in the manifest")]
    NoSuchShard { index: usize },
    #[error("shard '{shard}' is {found} bytes, the manifest says {expected} (truncated or wrong file)")]
    ShardSize { shard: String, expected: u64, found: u64 },
    #[error("shard '{shard}' does not match its sha256 in the manifest (corrupt or tampered download)")]
    ShardHash { shard: String },
    #[error("shard '{shard}': {reason}")]
    Shard { shard: String, reason: String },
    #[error("weight group '{group}' has not been loaded yet")]
    GroupNotReady { group: &'static str },
    #[error("safetensors: {0}")]
    SafeTensors(#[from] safetensors::SafeTensorError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("{path}: {reason}")]
    Config { path: String, reason: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

pub type Result<T> = std::result::Result<T, PackError>;

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> PackError + '_ {
    move |source| PackError::Io { path: path.display().to_string(), source }
}

/// Writes a packed model to `dir` (created if needed): shards first, the manifest last, so a
/// folder with a manifest is complete.
pub fn write_dir(packed: &Packed, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    for (file, bytes) in &packed.shards {
        let path = dir.join(file);
        std::fs::write(&path, bytes).map_err(io_error(&path))?;
    }
    let path = dir.join("manifest.json");
    let text = serde_json::to_string_pretty(&packed.manifest).expect("manifest serialises");
    std::fs::write(&path, text).map_err(io_error(&path))
}

/// Reads and verifies every shard of the packed model in `dir`.
pub fn read_dir(dir: &std::path::Path) -> Result<Loader> {
    let path = dir.join("manifest.json");
    let manifest = Manifest::parse(&std::fs::read(&path).map_err(io_error(&path))?)?;
    let files: Vec<String> = manifest.shards.iter().map(|s| s.file.clone()).collect();
    let mut loader = Loader::new(manifest);
    for (i, file) in files.iter().enumerate() {
        let path = dir.join(file);
        loader.add_shard(i, &std::fs::read(&path).map_err(io_error(&path))?)?;
    }
    Ok(loader)
}

/// A model's config, weights and metadata from a path: a packed folder (`manifest.json`, every
/// shard verified), a folder with `config.json` + `model.safetensors`, or a safetensors file whose
/// folder has `config.json`.
pub fn read_model(path: &std::path::Path) -> Result<(ModelConfig, Weights, serde_json::Value)> {
    if path.join("manifest.json").exists() {
        let mut loader = read_dir(path)?;
        let manifest = loader.manifest().clone();
        return Ok((manifest.model, loader.take(&Group::ALL)?, manifest.meta));
    }
    let (dir, file) = match path.is_dir() {
        true => (path.to_path_buf(), path.join("model.safetensors")),
        false => (path.parent().unwrap_or(std::path::Path::new(".")).to_path_buf(), path.to_path_buf()),
    };
    let config_path = dir.join("config.json");
    let bad_config = |reason: String| PackError::Config { path: config_path.display().to_string(), reason };
    let text = std::fs::read_to_string(&config_path).map_err(io_error(&config_path))?;
    let meta: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad_config(e.to_string()))?;
    let config: ModelConfig = serde_json::from_value(meta["model"].clone()).map_err(|e| bad_config(format!("model: {e}")))?;
    // The heads added after the trunk was trained ship beside it in their own files.
    let mut files = vec![std::fs::read(&file).map_err(io_error(&file))?];
    let heads = [("locate.safetensors", config.locate), ("slots.safetensors", config.slots > 0), ("text-slots.safetensors", config.slots > 0)];
    for (head, wanted) in heads {
        let path = dir.join(head);
        if wanted && path.exists() {
            files.push(std::fs::read(&path).map_err(io_error(&path))?);
        }
    }
    let weights = Weights::from_safetensors_files(&files, &config)?;
    Ok((config, weights, meta))
}

#[cfg(test)]
mod tests;
