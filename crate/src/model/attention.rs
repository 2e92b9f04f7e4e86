//! Multi-head self-attention over the joint [task, text, video] sequence, with an explicit mask
//! (the segment rules live in `sequence.rs`) and an optional key/value cache for decoding.

use super::error::Result;
use super::layers::Linear;
use super::weights::Weights;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor};

/// Keys and values of every position seen so far: `[B, heads, L, head_dim]` each.
#[derive(Clone, Debug)]
pub struct LayerCache {
    pub keys: Tensor<4>,
    pub values: Tensor<4>,
}

#[derive(Clone, Debug)]
pub struct Attention {
    qkv: Linear,
    out: Linear,
    heads: usize,
}

impl Attention {
    pub fn load(weights: &Weights, name: &str, heads: usize, device: &Device) -> Result<Self> {
        Ok(Self {
            qkv: Linear::load(weights, &format!("{name}.qkv"), device)?,
            out: Linear::load(weights, &format!("{name}.out"), device)?,
            heads,
        })
    }

    /// # Shapes
    /// - `x`: `[B, Lq, D]` new positions
    /// - `blocked`: `[1, 1, Lq, Lpast + Lq]`, true where a query may NOT look
    /// - returns `[B, Lq, D]` and the cache extended by the new positions
    pub fn forward(&self, x: Tensor<3>, blocked: Tensor<4, Bool>, past: Option<&LayerCache>) -> (Tensor<3>, LayerCache) {
        let [b, l, d] = x.dims();
        let hd = d / self.heads;
        // [B, L, 3D] -> [3, B, heads, L, hd]
        let qkv = self.qkv.forward(x).reshape([b, l, 3, self.heads, hd]).permute([2, 0, 3, 1, 4]);
        let part = |i: usize| qkv.clone().narrow(0, i, 1).squeeze_dim::<4>(0);
        let (q, mut k, mut v) = (part(0), part(1), part(2));
        if let Some(past) = past {
            k = Tensor::cat(vec![past.keys.clone(), k], 2);
            v = Tensor::cat(vec![past.values.clone(), v], 2);
        }
        let lk = k.dims()[2];
        let mask = blocked.expand([b, self.heads, l, lk]);
        let y = attention(q, k.clone(), v.clone(), Some(mask), None, AttentionModuleOptions::default());
        let y = y.swap_dims(1, 2).reshape([b, l, d]);
        (self.out.forward(y), LayerCache { keys: k, values: v })
    }
}
