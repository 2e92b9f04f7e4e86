//! The gated FFN: a few expert MLPs mixed per token by `softmax(gate[task, modality])`.
//!
//! The gate is a learned table row per (task, modality) — so routing is inspectable exactly: the
//! mixing weights of a row *are* the mean gate weight of every token of that task and modality.

use super::config::{ModelConfig, TASKS};
use super::error::Result;
use super::weights::Weights;
use super::layers::{gelu, Linear};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor};

#[derive(Clone, Debug)]
struct Expert {
    fc1: Linear,
    fc2: Linear,
}

#[derive(Clone, Debug)]
pub struct GatedExperts {
    /// `[TASKS * 2, experts]` gate logits.
    gate: Tensor<2>,
    gate_host: Vec<f32>,
    experts: Vec<Expert>,
}

impl GatedExperts {
    pub fn load(weights: &Weights, name: &str, config: &ModelConfig, device: &Device) -> Result<Self> {
        let experts = (0..config.experts)
            .map(|e| {
                let p = format!("{name}.experts.{e}");
                Ok(Expert {
                    fc1: Linear::load(weights, &format!("{p}.fc1"), device)?,
                    fc2: Linear::load(weights, &format!("{p}.fc2"), device)?,
                })
            })
            .collect::<Result<_>>()?;
        let gate_name = format!("{name}.gate.weight");
        Ok(Self {
            gate: weights.tensor2(&gate_name, device)?,
            gate_host: weights.values(&gate_name)?.to_vec(),
            experts,
        })
    }

    /// # Shapes
    /// - `x`: `[B, L, D]`, `gate_rows`: `[L]` → `[B, L, D]`
    pub fn forward(&self, x: Tensor<3>, gate_rows: Tensor<1, Int>) -> Tensor<3> {
        let [_, l, _] = x.dims();
        let e = self.experts.len();
        let mix = softmax(self.gate.clone().select(0, gate_rows), 1).reshape([1, l, e]); // [1, L, E]
        let mut out: Option<Tensor<3>> = None;
        for (i, expert) in self.experts.iter().enumerate() {
            let y = expert.fc2.forward(gelu(expert.fc1.forward(x.clone())));
            let y = y * mix.clone().narrow(2, i, 1);
            out = Some(match out {
                Some(acc) => acc + y,
                None => y,
            });
        }
        out.expect("at least one expert")
    }

    /// Mixing weights per gate row: `[TASKS * 2][experts]`.
    pub fn gate_weights(&self) -> Vec<Vec<f32>> {
        let e = self.experts.len();
        (0..TASKS * 2)
            .map(|row| {
                let logits = &self.gate_host[row * e..(row + 1) * e];
                let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
                let sum: f32 = exps.iter().sum();
                exps.iter().map(|v| v / sum).collect()
            })
            .collect()
    }
}
