//! The two plain layers everything is built from, holding burn tensors loaded by name.

use super::error::Result;
use super::weights::Weights;
use burn::tensor::module::{layer_norm, linear};
use burn::tensor::{Device, Tensor};

/// PyTorch's `nn.Linear`: files store weight as [out, in]; burn's `linear` wants [in, out].
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor<2>,
    bias: Tensor<1>,
}

impl Linear {
    pub fn load(weights: &Weights, name: &str, device: &Device) -> Result<Self> {
        Ok(Self {
            weight: weights.tensor2(&format!("{name}.weight"), device)?.transpose(),
            bias: weights.tensor1(&format!("{name}.bias"), device)?,
        })
    }

    /// # Shapes
    /// `[.., in]` → `[.., out]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        project(x, self.weight.clone(), Some(self.bias.clone()))
    }
}

/// `[.., in] × [in, out] (+ bias)` → `[.., out]`, where the weight is a transposed view of the
/// file's [out, in]. On the CPU backend it runs as one 2-D product: burn-flex multiplies a strided
/// 2-D operand in place but copies it to contiguous memory for the batched (3-D) product that
/// `burn::tensor::module::linear` asks for, so every call copied the whole weight (half the time
/// of a browser `describe`). The GPU backend keeps `linear` (natively on lavapipe the two forms
/// time the same).
pub fn project<const D: usize>(x: Tensor<D>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<D> {
    if weight.device() != Device::flex() {
        return linear(x, weight, bias);
    }
    let mut dims = x.dims();
    let rows = dims[..D - 1].iter().product();
    let y = x.reshape([rows, dims[D - 1]]).matmul(weight);
    let y = match bias {
        Some(bias) => y + bias.unsqueeze(),
        None => y,
    };
    dims[D - 1] = y.dims()[1];
    y.reshape(dims)
}

/// PyTorch's `nn.LayerNorm` (eps 1e-5) over the last dimension.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
}

impl LayerNorm {
    pub fn load(weights: &Weights, name: &str, device: &Device) -> Result<Self> {
        Ok(Self {
            gamma: weights.tensor1(&format!("{name}.weight"), device)?,
            beta: weights.tensor1(&format!("{name}.bias"), device)?,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.gamma.clone(), Some(self.beta.clone()), 1e-5)
    }
}
