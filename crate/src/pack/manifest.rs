//! `manifest.json`: what a packed model is, where every tensor lives, and how to check it.

use super::quant::{Scheme, INT4_BLOCK};
use super::{PackError, Result};
use crate::model::ModelConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT: &str = "univid-pack";
pub const FORMAT_VERSION: u32 = 1;
/// Refuse manifests (and so models) claiming more than this many weight bytes, before fetching.
pub const MAX_MODEL_BYTES: u64 = 4 << 30;
/// A manifest is a few kB per hundred tensors; anything this big is not one.
pub const MAX_MANIFEST_BYTES: usize = 16 << 20;

/// Weight groups, in the order a loader receives them: understanding works once `Core` and
/// `Understand` are in; generation also needs `Generate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// Embeddings, stem, the shared trunk, the tied language head.
    Core,
    /// Digit and motion heads, the retrieval projections.
    Understand,
    /// The flow-matching video decoder and the slot heads (continuation, text → video).
    Generate,
}

impl Group {
    pub const ALL: [Group; 3] = [Group::Core, Group::Understand, Group::Generate];

    pub fn of(tensor: &str) -> Self {
        if ["digit_head.", "motion_head.", "retrieve_"].iter().any(|p| tensor.starts_with(p)) {
            Group::Understand
        } else if ["decoder.", "slots.", "text."].iter().any(|p| tensor.starts_with(p)) {
            Group::Generate
        } else {
            Group::Core
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Group::Core => "core",
            Group::Understand => "understand",
            Group::Generate => "generate",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    pub file: String,
    pub group: Group,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    pub shard: usize,
    /// Byte range of the stored values inside the shard file (after the safetensors header).
    pub byte_range: [u64; 2],
    /// Stored dtype as safetensors names it (F32, F16, I8, U8).
    pub dtype: String,
    /// The logical shape the model uses.
    pub shape: Vec<usize>,
    pub quant: Scheme,
    /// Name of the f16 scale tensor (same shard) for int8/int4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<usize>,
    pub group: Group,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub model: ModelConfig,
    /// Requested scheme (per-tensor schemes may be f16 where quantizing does not apply).
    pub quant: Scheme,
    /// The words the model reads and writes, in id order.
    pub tokenizer: Vec<String>,
    pub shards: Vec<Shard>,
    pub tensors: BTreeMap<String, TensorEntry>,
    /// Free-form provenance (training step, source checkpoint…).
    #[serde(default)]
    pub meta: serde_json::Value,
}

impl Manifest {
    /// Parses and checks a manifest without touching any shard: format and version, config,
    /// one entry per tensor the config needs with the right shape, shards in group order and
    /// never holding tensors of another group, total size within [`MAX_MODEL_BYTES`].
    pub fn parse(text: &[u8]) -> Result<Self> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(PackError::Manifest(format!("{} bytes is larger than any manifest", text.len())));
        }
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| PackError::Manifest(format!("not JSON: {e}")))?;
        let format = value.get("format").and_then(|f| f.as_str()).unwrap_or_default();
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if format != FORMAT {
            return Err(PackError::Manifest(format!("format is '{format}', expected '{FORMAT}'")));
        }
        if version != FORMAT_VERSION as u64 {
            return Err(PackError::Version { found: version, supported: FORMAT_VERSION });
        }
        let manifest: Manifest = serde_json::from_value(value).map_err(|e| PackError::Manifest(e.to_string()))?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(PackError::Manifest(msg));
        self.model.validate().map_err(|e| PackError::Manifest(e.to_string()))?;
        let total: u64 = self.shards.iter().map(|s| s.bytes).sum();
        if total > MAX_MODEL_BYTES {
            return Err(PackError::TooLarge { bytes: total, limit: MAX_MODEL_BYTES });
        }
        if self.shards.windows(2).any(|w| w[0].group > w[1].group) {
            return bad("shards are not in group order core, understand, generate".into());
        }
        for shard in &self.shards {
            let hex = shard.sha256.len() == 64 && shard.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            let plain_name = !shard.file.is_empty() && !shard.file.contains(['/', '\\']) && !shard.file.starts_with('.');
            if !hex || !plain_name {
                return bad(format!("shard '{}' has a bad file name or sha256", shard.file));
            }
        }
        let expected = self.model.tensor_shapes();
        if expected.len() != self.tensors.len() {
            return bad(format!("{} tensors listed, the config has {}", self.tensors.len(), expected.len()));
        }
        for (name, shape) in expected {
            let Some(entry) = self.tensors.get(&name) else {
                return bad(format!("tensor '{name}' is not listed"));
            };
            if entry.shape != shape {
                return bad(format!("tensor '{name}' has shape {:?}, the config needs {shape:?}", entry.shape));
            }
            if entry.group != Group::of(&name) {
                return bad(format!("tensor '{name}' is in group {:?}", entry.group));
            }
            match self.shards.get(entry.shard) {
                Some(shard) if shard.group == entry.group => {}
                _ => return bad(format!("tensor '{name}' points to a missing or foreign-group shard")),
            }
            if entry.byte_range[0] > entry.byte_range[1] || entry.byte_range[1] > self.shards[entry.shard].bytes {
                return bad(format!("tensor '{name}' has a byte range outside its shard"));
            }
            let blocks_fit = match entry.quant {
                Scheme::Int8 => entry.shape.len() == 2,
                Scheme::Int4 => entry.shape.len() == 2 && entry.shape[1] % INT4_BLOCK == 0,
                Scheme::F32 | Scheme::F16 => true,
            };
            if !blocks_fit {
                return bad(format!("tensor '{name}' of shape {:?} cannot be stored as {:?}", entry.shape, entry.quant));
            }
            if entry.quant.scale_shape(&entry.shape).is_some() != entry.scale.is_some() {
                return bad(format!("tensor '{name}': scheme {:?} and scale tensor disagree", entry.quant));
            }
        }
        Ok(())
    }

    /// Shard indices of a group, in load order.
    pub fn shards_of(&self, group: Group) -> impl Iterator<Item = usize> + '_ {
        self.shards.iter().enumerate().filter(move |(_, s)| s.group == group).map(|(i, _)| i)
    }

    pub fn total_bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.bytes).sum()
    }
}
