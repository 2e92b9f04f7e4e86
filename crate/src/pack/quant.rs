//! Symmetric weight quantization, stored as integer tensors plus f16 scale tensors.
//!
//! - `int8`: one scale per output row (`scale = max|w| / 127`), values in [-127, 127].
//! - `int4`: one scale per block of 32 inputs in a row (`scale = max|w| / 7`), values in [-8, 7],
//!   two per byte, low nibble first (element 2i in the low nibble of byte i).
//!
//! Scales are rounded to f16 *before* quantizing so that the stored scale is the one used.

use half::f16;
use serde::{Deserialize, Serialize};

/// How a tensor is stored in a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    F32,
    F16,
    Int8,
    Int4,
}

pub const INT4_BLOCK: usize = 32;

impl Scheme {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "f32" => Some(Self::F32),
            "f16" => Some(Self::F16),
            "int8" => Some(Self::Int8),
            "int4" => Some(Self::Int4),
            _ => None,
        }
    }

    /// The scheme a tensor gets when the pack asks for `self`: only 2-D matmul weights are
    /// quantized (embeddings, norms, biases, positions, gates and convolutions stay f16, they are
    /// small and sensitive), and int4 needs whole blocks per row.
    pub fn for_tensor(self, name: &str, shape: &[usize]) -> Self {
        let weight = name.ends_with(".weight") || is_packed_qkv(name);
        let matmul_weight = shape.len() == 2 && weight && !name.contains("emb") && !name.contains("gate");
        match self {
            Self::F32 => Self::F32,
            Self::Int8 | Self::Int4 if !matmul_weight => Self::F16,
            Self::Int4 if shape[1] % INT4_BLOCK != 0 => Self::Int8,
            other => other,
        }
    }

    /// Shape of the scale tensor for a `[rows, cols]` weight, if the scheme has one.
    pub fn scale_shape(self, shape: &[usize]) -> Option<Vec<usize>> {
        match self {
            Self::Int8 => Some(vec![shape[0]]),
            Self::Int4 => Some(vec![shape[0], shape[1] / INT4_BLOCK]),
            _ => None,
        }
    }
}

/// PyTorch's packed q, k, v of the slot decoder's attention, which the model cuts by rows.
pub fn is_packed_qkv(name: &str) -> bool {
    name.ends_with(".in_proj_weight")
}

fn f16_scale(max_abs: f32, levels: f32) -> f32 {
    // A zero row keeps a scale of 1 so dequantizing never divides by or multiplies with 0/NaN.
    let scale = if max_abs > 0.0 { max_abs / levels } else { 1.0 };
    f16::from_f32(scale).to_f32()
}

fn max_abs(values: &[f32]) -> f32 {
    values.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Row-wise int8: `(values [rows·cols], scales [rows])`.
pub fn quantize_int8(weights: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut values = Vec::with_capacity(weights.len());
    let mut scales = Vec::with_capacity(weights.len() / cols);
    for row in weights.chunks_exact(cols) {
        let scale = f16_scale(max_abs(row), 127.0);
        values.extend(row.iter().map(|w| (w / scale).round().clamp(-127.0, 127.0) as i8));
        scales.push(scale);
    }
    (values, scales)
}

/// Written as plain loops over preallocated rows so the compiler vectorises them: the CPU backend
/// widens its int8 weights per call (`model/quantized.rs`).
pub fn dequantize_int8(values: &[i8], scales: &[f32], cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for ((out, row), &s) in out.chunks_exact_mut(cols).zip(values.chunks_exact(cols)).zip(scales) {
        for (o, &q) in out.iter_mut().zip(row) {
            *o = q as f32 * s;
        }
    }
    out
}

/// Block-32 int4: `(packed bytes [rows·cols/2], scales [rows·cols/32])`.
pub fn quantize_int4(weights: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let mut nibbles = Vec::with_capacity(weights.len());
    let mut scales = Vec::with_capacity(weights.len() / INT4_BLOCK);
    for block in weights.chunks_exact(INT4_BLOCK) {
        let scale = f16_scale(max_abs(block), 7.0);
        nibbles.extend(block.iter().map(|w| (w / scale).round().clamp(-8.0, 7.0) as i8));
        scales.push(scale);
    }
    let packed = nibbles.chunks_exact(2).map(|p| (p[0] as u8 & 0x0f) | ((p[1] as u8 & 0x0f) << 4)).collect();
    (packed, scales)
}

/// One byte's two int4 values, low nibble first, each sign-extended from 4 bits.
pub fn unpack_int4(b: u8) -> [i8; 2] {
    [(b << 4) as i8 >> 4, b as i8 >> 4]
}

pub fn dequantize_int4(packed: &[u8], scales: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; packed.len() * 2];
    for ((out, block), &s) in out.chunks_exact_mut(INT4_BLOCK).zip(packed.chunks_exact(INT4_BLOCK / 2)).zip(scales) {
        for (pair, &b) in out.chunks_exact_mut(2).zip(block) {
            let [low, high] = unpack_int4(b);
            pair[0] = low as f32 * s;
            pair[1] = high as f32 * s;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0).collect()
    }

    #[test]
    fn int8_error_is_within_half_a_step_per_row() {
        let w = ramp(4 * 64);
        let (q, s) = quantize_int8(&w, 64);
        let back = dequantize_int8(&q, &s, 64);
        for (row, (orig, scale)) in back.chunks(64).zip(w.chunks(64).zip(&s)) {
            let worst = row.iter().zip(orig).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst <= scale * 0.5 + 1e-6, "{worst} > {scale}/2");
        }
    }

    #[test]
    fn int4_round_trips_exact_grid_values_and_signs() {
        // Values on the grid (q·0.5 with |q| ≤ 7, max 7 in each block) come back exactly.
        let grid: Vec<f32> = (0..64).map(|i| ((i % 15) as f32 - 7.0) * 0.5).collect();
        let (packed, scales) = quantize_int4(&grid);
        assert_eq!((packed.len(), scales.as_slice()), (32, [0.5, 0.5].as_slice()));
        assert_eq!(dequantize_int4(&packed, &scales), grid);
        let (q, s) = quantize_int4(&ramp(128));
        let back = dequantize_int4(&q, &s);
        for (i, (a, b)) in back.iter().zip(ramp(128)).enumerate() {
            assert!((a - b).abs() <= s[i / 32] * 0.5 + 1e-6);
        }
    }

    #[test]
    fn zero_rows_stay_zero() {
        let (q, s) = quantize_int8(&[0.0; 8], 8);
        assert_eq!(dequantize_int8(&q, &s, 8), vec![0.0; 8]);
        let (q, s) = quantize_int4(&[0.0; 32]);
        assert_eq!(dequantize_int4(&q, &s), vec![0.0; 32]);
    }

    #[test]
    fn only_matmul_weights_are_quantized() {
        assert_eq!(Scheme::Int4.for_tensor("blocks.0.attn.qkv.weight", &[96, 32]), Scheme::Int4);
        assert_eq!(Scheme::Int4.for_tensor("time_in.weight", &[32, 48]), Scheme::Int8);
        assert_eq!(Scheme::Int8.for_tensor("tok_emb.weight", &[47, 32]), Scheme::F16);
        assert_eq!(Scheme::Int8.for_tensor("norm.bias", &[32]), Scheme::F16);
        assert_eq!(Scheme::Int8.for_tensor("stem.conv1.weight", &[4, 1, 3, 3]), Scheme::F16);
    }
}
