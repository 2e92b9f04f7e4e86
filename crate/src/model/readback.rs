//! Tensors back to the host.

use super::error::{ModelError, Result};
use burn::tensor::Tensor;

/// Reads a tensor back to the host, asynchronously (the only way that works on WebGPU).
pub async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor.into_data_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?;
    data.try_into_vec::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))
}

/// Reads a CPU-backend (flex) tensor back at once: its data is already on the host, so the
/// model's own CPU kernels (`cpu_attention`, `cpu_conv`) read it without awaiting.
pub fn read_on_cpu<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec::<f32>().expect("an f32 tensor")
}

