//! Named host tensors (f32) read from safetensors and checked against a config before any of them
//! reaches a device: a wrong file fails with the tensor's name, never with a panic mid-forward.

use super::config::ModelConfig;
use super::error::{ModelError, Result};
use super::layers::is_quantized;
use super::quantized::QuantizedMatrix;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use safetensors::{Dtype, SafeTensors};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct Weights {
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// Tensors already on a device, flattened (the streaming loader uploads each one as soon as
    /// it is decoded so the host never holds a whole checkpoint).
    on_device: HashMap<String, (Vec<usize>, Tensor<1>)>,
    /// Matrix weights still in the pack's integer form (linear layers multiply them as they are;
    /// any other use widens them).
    quantized: HashMap<String, QuantizedWeight>,
}

/// A matrix weight the pack stored as int8/int4.
#[derive(Clone, Debug)]
pub(crate) enum QuantizedWeight {
    /// The codes on the host: the CPU backend multiplies them (`quantized.rs`); a GPU gets them
    /// when the model loads.
    Codes(Arc<QuantizedMatrix>),
    /// Already on a GPU, `[out, in]`: burn's quantized tensor, or f32 where burn's blocks do not
    /// fit the row ([`QuantizedMatrix::to_device`]).
    OnDevice(Tensor<2>),
}

impl Weights {
    /// Parses a safetensors file and checks it holds exactly the tensors `config` needs.
    pub fn from_safetensors(bytes: &[u8], config: &ModelConfig) -> Result<Self> {
        Self::from_safetensors_files(&[bytes], config)
    }

    /// The same over several files (a head trained apart ships in its own): each tensor is taken
    /// from the first file that has it.
    pub fn from_safetensors_files(files: &[impl AsRef<[u8]>], config: &ModelConfig) -> Result<Self> {
        let files = files
            .iter()
            .map(|bytes| SafeTensors::deserialize(bytes.as_ref()).map_err(|e| ModelError::Format(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let mut tensors = HashMap::new();
        for (name, expected) in config.tensor_shapes() {
            let view = files
                .iter()
                .find_map(|file| file.tensor(&name).ok())
                .ok_or_else(|| ModelError::MissingTensor { name: name.clone() })?;
            if view.shape() != expected.as_slice() {
                return Err(ModelError::Shape { name, expected, found: view.shape().to_vec() });
            }
            let values = to_f32(view.dtype(), view.data()).ok_or_else(|| ModelError::DType {
                name: name.clone(),
                dtype: format!("{:?}", view.dtype()),
            })?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(ModelError::NonFinite { name });
            }
            tensors.insert(name, (expected, values));
        }
        Ok(Self::from_map(tensors))
    }

    /// Deterministic random weights in the trainer's initialisation style, for tests and for
    /// running a config that has no trained checkpoint.
    pub fn random(config: &ModelConfig, seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let tensors = config
            .tensor_shapes()
            .into_iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let values: Vec<f32> = if name.contains("norm") && name.ends_with("weight") {
                    vec![1.0; n]
                } else if name.ends_with("bias") {
                    (0..n).map(|_| rng.random_range(-0.02..0.02)).collect()
                } else {
                    let fan_in = shape.iter().skip(1).product::<usize>() as f32;
                    let scale = if shape.len() >= 2 { fan_in.sqrt().recip() } else { 0.02 };
                    (0..n).map(|_| rng.random_range(-scale..scale) * 1.7).collect()
                };
                (name, (shape, values))
            })
            .collect();
        Self::from_map(tensors)
    }

    pub fn to_safetensors(&self) -> Vec<u8> {
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = names
            .into_iter()
            .map(|name| {
                let (shape, values) = &self.tensors[name];
                let bytes: &[u8] = bytemuck::cast_slice(values);
                let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .expect("shape matches data");
                (name.clone(), view)
            })
            .collect();
        safetensors::serialize(views, None).expect("serialising in-memory tensors")
    }

    /// Tensors already decoded and checked by the caller (the pack loader).
    pub(crate) fn from_map(tensors: HashMap<String, (Vec<usize>, Vec<f32>)>) -> Self {
        Self { tensors, ..Self::default() }
    }

    pub(crate) fn from_parts(
        tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
        on_device: HashMap<String, (Vec<usize>, Tensor<1>)>,
        quantized: HashMap<String, QuantizedWeight>,
    ) -> Self {
        Self { tensors, on_device, quantized }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name) || self.on_device.contains_key(name) || self.quantized.contains_key(name)
    }

    /// The integer form of a matrix weight, where the pack had one and the loader kept it.
    pub(crate) fn quantized(&self, name: &str) -> Option<QuantizedWeight> {
        self.quantized.get(name).cloned()
    }

    /// A tensor of rank `D`: the device copy reshaped, or the host values uploaded.
    fn tensor<const D: usize>(&self, name: &str, device: &Device) -> Result<Tensor<D>> {
        if let Some((shape, flat)) = self.on_device.get(name) {
            let dims: [usize; D] = shape.as_slice().try_into().map_err(|_| rank_error(name, shape, D))?;
            return Ok(flat.clone().reshape(dims));
        }
        let (shape, values) = match self.quantized.get(name) {
            Some(QuantizedWeight::OnDevice(matrix)) => {
                let dims: [usize; D] = matrix.dims().as_slice().try_into().map_err(|_| rank_error(name, &matrix.dims(), D))?;
                let matrix = if is_quantized(matrix) { matrix.clone().dequantize() } else { matrix.clone() };
                return Ok(matrix.reshape(dims));
            }
            Some(QuantizedWeight::Codes(matrix)) => (matrix.shape().to_vec(), matrix.widen()),
            None => self.get(name).map(|(shape, values)| (shape.clone(), values.clone()))?,
        };
        let dims: [usize; D] = shape.as_slice().try_into().map_err(|_| rank_error(name, &shape, D))?;
        let tensor = Tensor::from_data(TensorData::new(values, dims), device);
        // On an autodiff device (burn's own training throughput, `bench::train`) every weight is
        // a leaf whose gradient the backward pass computes.
        #[cfg(feature = "train-bench")]
        if device.gradient_checkpointing_strategy().is_some() {
            return Ok(tensor.require_grad());
        }
        Ok(tensor)
    }

    fn get(&self, name: &str) -> Result<&(Vec<usize>, Vec<f32>)> {
        self.tensors.get(name).ok_or_else(|| ModelError::MissingTensor { name: name.into() })
    }

    /// A host tensor's values (a quantized matrix widened).
    pub fn values(&self, name: &str) -> Result<Cow<'_, [f32]>> {
        match self.quantized.get(name) {
            Some(QuantizedWeight::Codes(matrix)) => Ok(matrix.widen().into()),
            Some(QuantizedWeight::OnDevice(_)) => Err(ModelError::Backend(format!("weights: '{name}' is on a GPU, not on the host"))),
            None => Ok(self.get(name)?.1.as_slice().into()),
        }
    }

    pub fn tensor1(&self, name: &str, device: &Device) -> Result<Tensor<1>> {
        self.tensor(name, device)
    }

    pub fn tensor2(&self, name: &str, device: &Device) -> Result<Tensor<2>> {
        self.tensor(name, device)
    }

    pub fn tensor4(&self, name: &str, device: &Device) -> Result<Tensor<4>> {
        self.tensor(name, device)
    }
}

fn rank_error(name: &str, shape: &[usize], rank: usize) -> ModelError {
    ModelError::Shape { name: name.into(), expected: vec![0; rank], found: shape.to_vec() }
}

/// Little-endian float bytes of a safetensors dtype → f32 values (`None` for non-float dtypes).
pub(crate) fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        Dtype::F32 => Some(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
        Dtype::F16 => Some(bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()),
        Dtype::BF16 => Some(bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_round_trip_and_checks() {
        let config = ModelConfig::tiny();
        let weights = Weights::random(&config, 1);
        let bytes = weights.to_safetensors();
        let back = Weights::from_safetensors(&bytes, &config).unwrap();
        assert_eq!(back.values("pos_t").unwrap(), weights.values("pos_t").unwrap());
        let other = ModelConfig { d_model: 64, heads: 2, ..ModelConfig::tiny() };
        assert!(matches!(Weights::from_safetensors(&bytes, &other), Err(ModelError::Shape { .. })));
        let more = ModelConfig { layers: 3, ..ModelConfig::tiny() };
        assert!(matches!(Weights::from_safetensors(&bytes, &more), Err(ModelError::MissingTensor { .. })));
        assert!(matches!(Weights::from_safetensors(b"nonsense", &config), Err(ModelError::Format(_))));
    }

    #[test]
    fn non_finite_weights_are_refused() {
        let config = ModelConfig::tiny();
        let mut weights = Weights::random(&config, 1);
        weights.tensors.get_mut("norm.bias").unwrap().1[0] = f32::NAN;
        let bytes = weights.to_safetensors();
        assert!(matches!(Weights::from_safetensors(&bytes, &config), Err(ModelError::NonFinite { .. })));
    }
}
