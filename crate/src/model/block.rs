//! One pre-norm transformer block: joint attention, then the gated experts.

use super::attention::{Attention, LayerCache};
use super::config::ModelConfig;
use super::error::Result;
use super::experts::GatedExperts;
use super::layers::LayerNorm;
use super::weights::Weights;
use burn::tensor::{Bool, Device, Int, Tensor};

#[derive(Clone, Debug)]
pub struct Block {
    norm1: LayerNorm,
    attn: Attention,
    norm2: LayerNorm,
    pub ffn: GatedExperts,
}

impl Block {
    pub fn load(weights: &Weights, name: &str, config: &ModelConfig, device: &Device) -> Result<Self> {
        Ok(Self {
            norm1: LayerNorm::load(weights, &format!("{name}.norm1"), device)?,
            attn: Attention::load(weights, &format!("{name}.attn"), config.heads, device)?,
            norm2: LayerNorm::load(weights, &format!("{name}.norm2"), device)?,
            ffn: GatedExperts::load(weights, &format!("{name}.ffn"), config, device)?,
        })
    }

    /// # Shapes
    /// `x`: `[B, L, D]`, `blocked`: `[1, 1, L, Lpast + L]`, `gate_rows`: `[L]` → `[B, L, D]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        blocked: Tensor<4, Bool>,
        gate_rows: Tensor<1, Int>,
        past: Option<&LayerCache>,
    ) -> (Tensor<3>, LayerCache) {
        let (attended, cache) = self.attn.forward(self.norm1.forward(x.clone()), blocked, past);
        let x = x + attended;
        let x = x.clone() + self.ffn.forward(self.norm2.forward(x), gate_rows);
        (x, cache)
    }
}
