//! Packs named weights into group-ordered safetensors shards plus a manifest.

use super::manifest::{Group, Manifest, Shard, TensorEntry, FORMAT, FORMAT_VERSION};
use super::quant::{quantize_int4, quantize_int8, Scheme, INT4_BLOCK};
use super::{sha256_hex, Result};
use crate::data::Tokenizer;
use crate::model::{ModelConfig, Weights};
use half::f16;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;

/// One stored tensor: safetensors dtype, stored shape, little-endian bytes.
struct Stored {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

pub struct Packed {
    pub manifest: Manifest,
    /// (file name, contents), in manifest shard order.
    pub shards: Vec<(String, Vec<u8>)>,
}

/// Packs `weights` (checked against `config`) with `scheme`, cutting a new shard once one holds
/// `shard_bytes` (a tensor is never split, and a shard never mixes groups).
pub fn pack(weights: &Weights, config: &ModelConfig, scheme: Scheme, shard_bytes: usize, meta: serde_json::Value) -> Result<Packed> {
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        model: config.clone(),
        quant: scheme,
        tokenizer: Tokenizer.vocabulary().iter().map(|w| w.to_string()).collect(),
        shards: Vec::new(),
        tensors: BTreeMap::new(),
        meta,
    };
    let mut shards = Vec::new();
    for group in Group::ALL {
        let mut pending: Vec<Stored> = Vec::new();
        let mut entries: Vec<(String, Scheme, Vec<usize>)> = Vec::new();
        for (name, shape) in config.tensor_shapes().into_iter().filter(|(n, _)| Group::of(n) == group) {
            let tensor_scheme = scheme.for_tensor(&name, &shape);
            pending.extend(encode(&name, &shape, &weights.values(&name)?, tensor_scheme));
            entries.push((name, tensor_scheme, shape));
            if pending.iter().map(|s| s.bytes.len()).sum::<usize>() >= shard_bytes {
                flush(group, &mut pending, &mut entries, &mut manifest, &mut shards)?;
            }
        }
        flush(group, &mut pending, &mut entries, &mut manifest, &mut shards)?;
    }
    Ok(Packed { manifest, shards })
}

fn encode(name: &str, shape: &[usize], values: &[f32], scheme: Scheme) -> Vec<Stored> {
    let stored = |name: String, dtype, shape: Vec<usize>, bytes| Stored { name, dtype, shape, bytes };
    let f16_bytes = |v: &[f32]| v.iter().flat_map(|x| f16::from_f32(*x).to_le_bytes()).collect::<Vec<u8>>();
    let scale_name = format!("{name}.scale");
    match scheme {
        Scheme::F32 => vec![stored(name.into(), Dtype::F32, shape.to_vec(), bytemuck::cast_slice(values).to_vec())],
        Scheme::F16 => vec![stored(name.into(), Dtype::F16, shape.to_vec(), f16_bytes(values))],
        Scheme::Int8 => {
            let (q, scales) = quantize_int8(values, shape[1]);
            vec![
                stored(name.into(), Dtype::I8, shape.to_vec(), bytemuck::cast_slice(&q).to_vec()),
                stored(scale_name, Dtype::F16, vec![shape[0]], f16_bytes(&scales)),
            ]
        }
        Scheme::Int4 => {
            let (packed, scales) = quantize_int4(values);
            vec![
                stored(name.into(), Dtype::U8, vec![shape[0], shape[1] / 2], packed),
                stored(scale_name, Dtype::F16, vec![shape[0], shape[1] / INT4_BLOCK], f16_bytes(&scales)),
            ]
        }
    }
}

fn flush(
    group: Group,
    pending: &mut Vec<Stored>,
    entries: &mut Vec<(String, Scheme, Vec<usize>)>,
    manifest: &mut Manifest,
    shards: &mut Vec<(String, Vec<u8>)>,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let index = manifest.shards.len();
    let file = format!("{}-{:02}.safetensors", group.name(), manifest.shards_of(group).count());
    let views = pending
        .iter()
        .map(|s| Ok((s.name.clone(), TensorView::new(s.dtype, s.shape.clone(), &s.bytes)?)))
        .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let bytes = safetensors::serialize(views, None)?;
    let parsed = SafeTensors::deserialize(&bytes)?;
    for (name, scheme, shape) in entries.drain(..) {
        let view = parsed.tensor(&name)?;
        let start = view.data().as_ptr() as u64 - bytes.as_ptr() as u64;
        let scale = scheme.scale_shape(&shape).map(|_| format!("{name}.scale"));
        let entry = TensorEntry {
            shard: index,
            byte_range: [start, start + view.data().len() as u64],
            dtype: format!("{:?}", view.dtype()),
            shape,
            quant: scheme,
            scale,
            block: (scheme == Scheme::Int4).then_some(INT4_BLOCK),
            group,
        };
        manifest.tensors.insert(name, entry);
    }
    manifest.shards.push(Shard { file: file.clone(), group, bytes: bytes.len() as u64, sha256: sha256_hex(&bytes) });
    shards.push((file, bytes));
    pending.clear();
    Ok(())
}
