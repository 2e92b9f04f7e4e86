//! Turns verified shards into model weights, group by group, in any arrival order.
//!
//! The same code runs natively (files) and in the browser (fetched bytes): the caller hands over
//! one whole shard at a time; a shard is checked (size, sha256, safetensors structure, every
//! listed tensor's dtype, shape and byte range, finite values) before any of its tensors is kept,
//! so a bad shard changes nothing and can be retried.

use super::manifest::{Group, Manifest, TensorEntry};
use super::quant::{is_packed_qkv, Scheme};
use super::{sha256_hex, PackError, Result};
use crate::model::quantized::{Codes, QuantizedMatrix};
use crate::model::{to_f32, ModelError, QuantizedWeight, Weights};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::sync::Arc;

/// Tensors up to this many values also stay on the host (gate tables are read there).
const HOST_COPY_MAX: usize = 4096;

pub struct Loader {
    manifest: Manifest,
    received: Vec<bool>,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// With a device, each decoded tensor is uploaded at once and its host copy dropped (small
    /// ones stay on the host too: `HOST_COPY_MAX`).
    device: Option<Device>,
    uploaded: HashMap<String, (Vec<usize>, Tensor<1>)>,
    /// Int8/int4 matrices stay in their packed form: on the host for the CPU backend (and packed
    /// q, k, v for a GPU, until the model cuts them), as burn's quantized tensors on a GPU.
    quantized: HashMap<String, QuantizedWeight>,
    decoded: usize,
    taken: Vec<Group>,
}

impl Loader {
    /// Keeps decoded tensors on the host (packing, verifying, tests).
    pub fn new(manifest: Manifest) -> Self {
        let received = vec![false; manifest.shards.len()];
        let (tensors, uploaded, quantized) = (HashMap::new(), HashMap::new(), HashMap::new());
        Self { manifest, received, tensors, device: None, uploaded, quantized, decoded: 0, taken: Vec::new() }
    }

    /// Uploads every decoded tensor to `device` straight away: peak host memory is one shard plus
    /// one tensor, not the checkpoint.
    pub fn streaming_to(manifest: Manifest, device: Device) -> Self {
        Self { device: Some(device), ..Self::new(manifest) }
    }

    /// Tensors verified and decoded so far (including those already taken).
    pub fn tensors_decoded(&self) -> usize {
        self.decoded
    }

    /// Whether [`take`](Self::take) has handed out `group`.
    pub fn taken(&self, group: Group) -> bool {
        self.taken.contains(&group)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Verifies shard `index` and decodes its tensors (f16 to f32; int8/int4 kept as they are).
    pub fn add_shard(&mut self, index: usize, bytes: &[u8]) -> Result<()> {
        let shard = self.manifest.shards.get(index).ok_or(PackError::NoSuchShard { index })?;
        let name = shard.file.clone();
        if bytes.len() as u64 != shard.bytes {
            return Err(PackError::ShardSize { shard: name, expected: shard.bytes, found: bytes.len() as u64 });
        }
        if sha256_hex(bytes) != shard.sha256 {
            return Err(PackError::ShardHash { shard: name });
        }
        let decoded = decode_shard(&self.manifest, index, bytes)?;
        self.decoded += decoded.len();
        for (tensor, shape, values) in decoded {
            // The GPU backend's fusion queue keeps an upload's host bytes until it runs: flushed
            // after each tensor, the wasm heap holds one tensor's bytes at a time (the `large` int8
            // pack on WebGPU, then widened to f32: heap after load 315 MB unflushed, 68 MB flushed).
            let flush = |device: &Device| device.flush().map_err(|e| ModelError::Backend(format!("{e:?}")));
            match (values, &self.device) {
                // Packed q, k, v stay on the host until the model cuts them (burn cannot slice a
                // quantized tensor without re-quantizing it).
                (Decoded::Quantized(matrix), Some(device)) if *device != Device::flex() && !is_packed_qkv(&tensor) => {
                    let on_device = matrix.to_device(device);
                    flush(device)?;
                    self.quantized.insert(tensor, QuantizedWeight::OnDevice(on_device));
                }
                (Decoded::Quantized(matrix), _) => {
                    self.quantized.insert(tensor, QuantizedWeight::Codes(Arc::new(matrix)));
                }
                (Decoded::Float(values), Some(device)) if values.len() > HOST_COPY_MAX => {
                    let n = values.len();
                    let on_device = Tensor::from_data(TensorData::new(values, [n]), device);
                    flush(device)?;
                    self.uploaded.insert(tensor, (shape, on_device));
                }
                (Decoded::Float(values), _) => {
                    self.tensors.insert(tensor, (shape, values));
                }
            }
        }
        self.received[index] = true;
        Ok(())
    }

    pub fn has_shard(&self, index: usize) -> bool {
        self.received.get(index).copied().unwrap_or(false)
    }

    pub fn group_ready(&self, group: Group) -> bool {
        self.manifest.shards_of(group).all(|i| self.received[i])
    }

    /// Moves the decoded tensors of `groups` out of the loader (the model keeps its own copy on
    /// the device; holding both would double peak memory for big checkpoints).
    pub fn take(&mut self, groups: &[Group]) -> Result<Weights> {
        if let Some(g) = groups.iter().find(|g| !self.group_ready(**g)) {
            return Err(PackError::GroupNotReady { group: g.name() });
        }
        let wanted = |n: &String| groups.contains(&Group::of(n));
        fn take_from<T>(map: &mut HashMap<String, T>, wanted: impl Fn(&String) -> bool) -> HashMap<String, T> {
            let names: Vec<String> = map.keys().filter(|n| wanted(n)).cloned().collect();
            names.into_iter().filter_map(|n| map.remove_entry(&n)).collect()
        }
        let host = take_from(&mut self.tensors, wanted);
        let device = take_from(&mut self.uploaded, wanted);
        let quantized = take_from(&mut self.quantized, wanted);
        for &group in groups {
            if !self.taken.contains(&group) {
                self.taken.push(group);
            }
        }
        Ok(Weights::from_parts(host, device, quantized))
    }
}

/// A tensor's values as the loader keeps them.
pub enum Decoded {
    Float(Vec<f32>),
    Quantized(QuantizedMatrix),
}

/// One decoded tensor: name, shape, values.
pub type DecodedTensor = (String, Vec<usize>, Decoded);

/// Everything [`Loader::add_shard`] checks after size and sha256: the safetensors structure and,
/// for each tensor the manifest puts in shard `index`, its dtype, shape, byte range, scale and
/// finite values. Never panics on any bytes (fuzzed: `crate/fuzz`).
pub fn decode_shard(manifest: &Manifest, index: usize, bytes: &[u8]) -> Result<Vec<DecodedTensor>> {
    let shard = manifest.shards.get(index).ok_or(PackError::NoSuchShard { index })?;
    let bad = |reason: String| PackError::Shard { shard: shard.file.clone(), reason };
    let file = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let mut decoded = Vec::new();
    for (tensor, entry) in manifest.tensors.iter().filter(|(_, e)| e.shard == index) {
        let values = decode(&file, bytes, tensor, entry).map_err(bad)?;
        decoded.push((tensor.clone(), entry.shape.clone(), values));
    }
    Ok(decoded)
}

fn decode(file: &SafeTensors, bytes: &[u8], name: &str, entry: &TensorEntry) -> std::result::Result<Decoded, String> {
    let view = file.tensor(name).map_err(|_| format!("tensor '{name}' is missing"))?;
    let start = view.data().as_ptr() as u64 - bytes.as_ptr() as u64;
    if [start, start + view.data().len() as u64] != entry.byte_range || format!("{:?}", view.dtype()) != entry.dtype {
        return Err(format!("tensor '{name}' does not match the manifest (dtype or byte range)"));
    }
    let scale = |shape: Vec<usize>| -> std::result::Result<Vec<f32>, String> {
        let scale_name = entry.scale.as_deref().ok_or_else(|| format!("tensor '{name}' lacks a scale"))?;
        let s = file.tensor(scale_name).map_err(|_| format!("scale '{scale_name}' is missing"))?;
        if s.dtype() != Dtype::F16 || s.shape() != shape.as_slice() {
            return Err(format!("scale '{scale_name}' has the wrong dtype or shape"));
        }
        Ok(float_values(Dtype::F16, s.data()))
    };
    let shape = &entry.shape;
    let stored_shape = match entry.quant {
        Scheme::Int4 => vec![shape[0], shape[1] / 2],
        _ => shape.clone(),
    };
    let expected_dtype = match entry.quant {
        Scheme::F32 => Dtype::F32,
        Scheme::F16 => Dtype::F16,
        Scheme::Int8 => Dtype::I8,
        Scheme::Int4 => Dtype::U8,
    };
    if view.shape() != stored_shape.as_slice() || view.dtype() != expected_dtype {
        return Err(format!("tensor '{name}' is stored as {:?} {:?}, the manifest says {:?}", view.dtype(), view.shape(), entry.quant));
    }
    let non_finite = || format!("tensor '{name}' contains NaN or infinite values");
    match entry.quant {
        Scheme::F32 | Scheme::F16 => {
            let values = float_values(expected_dtype, view.data());
            if values.iter().any(|v| !v.is_finite()) {
                return Err(non_finite());
            }
            Ok(Decoded::Float(values))
        }
        // Codes are bounded integers: the tensor is finite exactly when its scales are.
        Scheme::Int8 | Scheme::Int4 => {
            let scales = scale(entry.quant.scale_shape(shape).unwrap_or_default())?;
            if scales.iter().any(|v| !v.is_finite()) {
                return Err(non_finite());
            }
            let codes = match entry.quant {
                Scheme::Int8 => Codes::Int8(bytemuck::cast_slice(view.data()).to_vec()),
                _ => Codes::Int4(view.data().to_vec()),
            };
            Ok(Decoded::Quantized(QuantizedMatrix::new(shape[0], shape[1], codes, scales)))
        }
    }
}

/// `dtype` was checked to be F32 or F16 before this is called.
fn float_values(dtype: Dtype, bytes: &[u8]) -> Vec<f32> {
    to_f32(dtype, bytes).expect("a float dtype")
}
