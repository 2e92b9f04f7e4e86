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
        linear(x, self.weight.clone(), Some(self.bias.clone()))
    }
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
