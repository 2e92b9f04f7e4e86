//! Multi-head self-attention over the joint [task, text, video] sequence, with an explicit mask
//! (the segment rules live in `sequence.rs`) and an optional key/value cache for decoding.

use super::cpu_attention::{self, Part, Positions, Sizes};
use super::error::Result;
use super::layers::Linear;
use super::readback::read_on_cpu;
use super::weights::Weights;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// Keys and values of every position seen so far: `[B, L, D]` each (heads side by side, as the qkv
/// projection writes them).
#[derive(Clone, Debug)]
pub struct LayerCache {
    pub keys: Tensor<3>,
    pub values: Tensor<3>,
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
        let (y, cache) = attend(self.qkv.forward(x), blocked, past, self.heads);
        (self.out.forward(y), cache)
    }
}

/// The attention between the two projections: the qkv projection's `[B, Lq, 3D]` (queries, keys,
/// values side by side) → `[B, Lq, D]` and the extended cache. On the CPU backend a fused kernel
/// (`cpu_attention`) reads the heads in place; elsewhere burn's attention on `[B, heads, L, hd]`.
pub fn attend(qkv: Tensor<3>, blocked: Tensor<4, Bool>, past: Option<&LayerCache>, heads: usize) -> (Tensor<3>, LayerCache) {
    let [b, l, d3] = qkv.dims();
    let d = d3 / 3;
    let part = |i: usize| qkv.clone().narrow(2, i * d, d);
    let (mut keys, mut values) = (part(1), part(2));
    if let Some(past) = past {
        keys = Tensor::cat(vec![past.keys.clone(), keys], 1);
        values = Tensor::cat(vec![past.values.clone(), values], 1);
    }
    let y = match qkv.device() == Device::flex() && cpu_attention::supports(d / heads) {
        true => attend_on_cpu(qkv.clone(), blocked, past, heads),
        false => {
            let split = |x: Tensor<3>| {
                let n = x.dims()[1];
                x.reshape([b, n, heads, d / heads]).swap_dims(1, 2)
            };
            let lk = keys.dims()[1];
            let mask = blocked.expand([b, heads, l, lk]);
            let y = attention(split(part(0)), split(keys.clone()), split(values.clone()), Some(mask), None, AttentionModuleOptions::default());
            y.swap_dims(1, 2).reshape([b, l, d])
        }
    };
    (y, LayerCache { keys, values })
}

fn attend_on_cpu(qkv: Tensor<3>, blocked: Tensor<4, Bool>, past: Option<&LayerCache>, heads: usize) -> Tensor<3> {
    let device = qkv.device();
    let [batch, queries, d3] = qkv.dims();
    let d = d3 / 3;
    let rows = read_on_cpu(qkv);
    let past_len = past.map_or(0, |p| p.keys.dims()[1]);
    let cached = past.map(|p| (read_on_cpu(p.keys.clone()), read_on_cpu(p.values.clone())));
    let blocked = blocked.into_data().try_into_vec::<bool>().expect("a bool mask");
    let new = |offset| Part { data: &rows, offset, batch: queries * d3, row: d3 };
    let from_cache = |data| (Part { data, offset: 0, batch: past_len * d, row: d }, past_len);
    let keys = Positions { past: cached.as_ref().map(|(k, _)| from_cache(k.as_slice())), new: new(d) };
    let values = Positions { past: cached.as_ref().map(|(_, v)| from_cache(v.as_slice())), new: new(2 * d) };
    let sizes = Sizes { batch, heads, head_dim: d / heads, queries, keys: past_len + queries };
    let out = cpu_attention::attend(new(0), keys, values, &blocked, sizes);
    Tensor::from_data(TensorData::new(out, [batch, queries, d]), &device)
}
