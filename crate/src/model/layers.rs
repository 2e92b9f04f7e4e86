//! The two plain layers everything is built from, holding burn tensors loaded by name.

use super::error::Result;
use super::weights::Weights;
use burn::tensor::module::layer_norm;
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
        matmul_rows(x, self.weight.clone()) + self.bias.clone().unsqueeze()
    }
}

/// `[.., in] × [in, out]` → `[.., out]` as one 2-D matrix product. The weight is a transposed
/// view of the file's [out, in]; burn-flex multiplies a strided 2-D operand in place but copies
/// it to contiguous memory for a batched (3-D) product — which `burn::tensor::module::linear`
/// asks for, so every call copied the whole weight (half the time of a browser `describe`).
pub fn matmul_rows<const D: usize>(x: Tensor<D>, weight: Tensor<2>) -> Tensor<D> {
    let mut dims = x.dims();
    let rows = dims[..D - 1].iter().product();
    let y = x.reshape([rows, dims[D - 1]]).matmul(weight);
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
