//! Matrix weights kept in the pack's integer form: int8 with one scale per output row, or int4 (two
//! per byte) with one scale per block of 32 inputs (`pack/quant.rs`). They take a quarter (an
//! eighth) of the memory of f32 weights. On a GPU they become burn's quantized tensors
//! ([`QuantizedMatrix::to_device`]); on the CPU backend they stay here and multiply two ways:
//!
//! - Many rows (a whole clip's tokens): the weight is widened to f32 for the call and multiplied
//!   with burn's `gemm`; the widened values are exactly those a load-time dequantization made, so
//!   the result is the f32 weights' result, at about the same speed (`docs/bench.md`).
//! - A few rows (a decoding step): widening would cost more than the product, so the rows are
//!   quantized to 14-bit integers (one scale per row) and multiplied with the codes in integer
//!   arithmetic: `i16 × i8` products summed in `i32` lanes (wasm SIMD128's `i32x4.dot_i16x8_s`
//!   pattern). The rows' rounding (at most 1/16382 of a row's largest value) is far below the
//!   weights' own.

use super::layers::project;
use super::readback::read_on_cpu;
use crate::pack::quant::{dequantize_int4, dequantize_int8, unpack_int4, INT4_BLOCK};
use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};
use burn::tensor::{Bytes, DType, Device, Tensor, TensorData};

/// From this many rows on, a product widens the weight and runs as f32: the crossovers measured
/// in V8 (`scripts/trainer/probes/wasm_probe.sh int8_linear`); int4 unpacks each row first.
const WIDEN_FROM_ROWS_INT8: usize = 32;
const WIDEN_FROM_ROWS_INT4: usize = 8;
/// Largest magnitude of a row quantized for the integer product: 2^13 - 1 keeps a block's sum of
/// `i16 × i8` products inside i32 (2048 · 8191 · 127 < 2^31).
const ROW_LEVELS: f32 = 8191.0;
/// Inputs summed in i32 before the partial sum moves to f32 (the bound above).
const MAX_BLOCK: usize = 2048;
/// Below this many multiply-adds the integer product stays on one thread: a decoding step of the
/// small model (≤ 0.2 M per product) ran 20 % slower on two threads when every product went to the
/// pool (describe, `scripts/bench`'s peer table).
#[cfg(feature = "parallel")]
const PARALLEL_WORK: usize = 1 << 20;
/// Output rows per task on the pool.
const OUTPUTS_PER_TASK: usize = 64;

/// The integer codes as the pack stores them.
#[derive(Debug)]
pub enum Codes {
    /// One byte per value, `[rows, cols]`.
    Int8(Vec<i8>),
    /// Two values per byte, low nibble first, `[rows, cols / 2]`.
    Int4(Vec<u8>),
}

/// A `[rows, cols]` weight (PyTorch's `[out, in]`) with its scales: `rows` for int8,
/// `rows · cols / 32` for int4.
#[derive(Debug)]
pub struct QuantizedMatrix {
    rows: usize,
    cols: usize,
    codes: Codes,
    scales: Vec<f32>,
}

impl QuantizedMatrix {
    /// The caller (the pack loader) has checked the sizes against the manifest.
    pub fn new(rows: usize, cols: usize, codes: Codes, scales: Vec<f32>) -> Self {
        let (code_bytes, scale_count) = match &codes {
            Codes::Int8(v) => (v.len(), rows),
            Codes::Int4(v) => (v.len() * 2, rows * cols / INT4_BLOCK),
        };
        assert_eq!((code_bytes, scales.len()), (rows * cols, scale_count), "codes or scales do not fit [{rows}, {cols}]");
        Self { rows, cols, codes, scales }
    }

    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// The f32 values, `[rows, cols]` row-major: the same numbers as the pack's dequantization.
    pub fn widen(&self) -> Vec<f32> {
        match &self.codes {
            Codes::Int8(codes) => dequantize_int8(codes, &self.scales, self.cols),
            Codes::Int4(packed) => dequantize_int4(packed, &self.scales),
        }
    }

    /// Consecutive row ranges as matrices of their own (PyTorch's packed q, k, v projections).
    pub fn split_rows(&self, parts: usize) -> Vec<Self> {
        let rows = self.rows / parts;
        let scales_per_row = self.scales.len() / self.rows;
        (0..parts)
            .map(|p| {
                let codes = match &self.codes {
                    Codes::Int8(v) => Codes::Int8(v[p * rows * self.cols..(p + 1) * rows * self.cols].to_vec()),
                    Codes::Int4(v) => Codes::Int4(v[p * rows * self.cols / 2..(p + 1) * rows * self.cols / 2].to_vec()),
                };
                let scales = self.scales[p * rows * scales_per_row..(p + 1) * rows * scales_per_row].to_vec();
                Self::new(rows, self.cols, codes, scales)
            })
            .collect()
    }

    /// The matrix on a GPU `device`, `[rows, cols]`: burn's quantized tensor of the same codes,
    /// packed four (int8) or eight (int4) to a `u32` (WGSL has no 8-bit type) with f32 scales
    /// (f16 ones need `shader-f16`). burn's matmul widens them inside its kernel, so GPU memory
    /// holds a quarter (an eighth) of the f32 weight. Its block scales are at most 255 wide and a
    /// block a multiple of 16 (its matmul loads 4 words of 4 codes): an int8 row's one scale is
    /// repeated over blocks of a width that divides the row; a row no such width divides goes up
    /// widened to f32.
    pub fn to_device(&self, device: &Device) -> Tensor<2> {
        let shape = [self.rows, self.cols];
        let data = match &self.codes {
            Codes::Int8(codes) => match (16..=240).rev().step_by(16).find(|b| self.cols % b == 0) {
                Some(block) => {
                    let scales = self.scales.iter().flat_map(|&s| std::iter::repeat_n(s, self.cols / block));
                    let scheme = quant_scheme(QuantValue::Q8S, block);
                    burn_packed(bytemuck::cast_slice(codes), (scales, self.rows * self.cols / block), shape, scheme)
                }
                None => TensorData::new(self.widen(), shape),
            },
            // burn's packed int4 is ours: two's-complement nibbles, the first value in the low
            // bits; one scale per block of 32, row-major (the manifest refuses other widths).
            Codes::Int4(packed) => {
                burn_packed(packed, (self.scales.iter().copied(), self.scales.len()), shape, quant_scheme(QuantValue::Q4S, INT4_BLOCK))
            }
        };
        Tensor::from_data(data, device)
    }

    /// `[.., cols] × selfᵀ + bias` → `[.., rows]` on the CPU backend.
    pub fn project<const D: usize>(&self, x: Tensor<D>, bias: Tensor<1>) -> Tensor<D> {
        let mut dims = x.dims();
        let count: usize = dims[..D - 1].iter().product();
        if count >= self.widen_from_rows() {
            let weight = Tensor::<2>::from_data(TensorData::new(self.widen(), [self.rows, self.cols]), &x.device());
            return project(x, weight.transpose(), Some(bias));
        }
        let device = x.device();
        let y = self.multiply_rows(&read_on_cpu(x), count);
        dims[D - 1] = self.rows;
        let y = Tensor::<2>::from_data(TensorData::new(y, [count, self.rows]), &device) + bias.unsqueeze();
        y.reshape(dims)
    }

    fn widen_from_rows(&self) -> usize {
        match self.codes {
            Codes::Int8(_) => WIDEN_FROM_ROWS_INT8,
            Codes::Int4(_) => WIDEN_FROM_ROWS_INT4,
        }
    }

    /// `count` rows of `cols` values → `count` rows of `rows` outputs, in integer arithmetic.
    fn multiply_rows(&self, x: &[f32], count: usize) -> Vec<f32> {
        let (quantized, row_scales): (Vec<Vec<i16>>, Vec<f32>) = x.chunks_exact(self.cols).map(quantize_row).unzip();
        let block = match self.codes {
            Codes::Int8(_) => self.cols.min(MAX_BLOCK),
            Codes::Int4(_) => INT4_BLOCK,
        };
        let scales_per_row = self.scales.len() / self.rows;
        // Task `task`'s output rows into `out` (`[outputs, count]`): each row's codes as i8, then
        // per input row the blocks' integer sums, each times its weight scale (an int8 row has
        // one, shared by its blocks).
        let fill = |(task, out): (usize, &mut [f32])| {
            for (i, out) in out.chunks_exact_mut(count).enumerate() {
                let o = task * OUTPUTS_PER_TASK + i;
                let codes = self.row_codes(o);
                let scales = &self.scales[o * scales_per_row..(o + 1) * scales_per_row];
                for ((out, q), &row_scale) in out.iter_mut().zip(&quantized).zip(&row_scales) {
                    let sum: f32 = q
                        .chunks(block)
                        .zip(codes.chunks(block))
                        .enumerate()
                        .map(|(b, (q, w))| dot(q, w) as f32 * scales[b.min(scales.len() - 1)])
                        .sum();
                    *out = sum * row_scale;
                }
            }
        };
        let mut by_output = vec![0.0; self.rows * count];
        #[cfg(feature = "parallel")]
        if count * self.rows * self.cols >= PARALLEL_WORK {
            use rayon::prelude::*;
            by_output.par_chunks_mut(OUTPUTS_PER_TASK * count).enumerate().for_each(fill);
        } else {
            by_output.chunks_mut(OUTPUTS_PER_TASK * count).enumerate().for_each(fill);
        }
        #[cfg(not(feature = "parallel"))]
        by_output.chunks_mut(OUTPUTS_PER_TASK * count).enumerate().for_each(fill);
        let mut y = vec![0.0; count * self.rows];
        for (o, column) in by_output.chunks_exact(count).enumerate() {
            for (t, v) in column.iter().enumerate() {
                y[t * self.rows + o] = *v;
            }
        }
        y
    }

    /// Row `o`'s codes, one i8 per value (int4 unpacked).
    fn row_codes(&self, o: usize) -> std::borrow::Cow<'_, [i8]> {
        match &self.codes {
            Codes::Int8(v) => v[o * self.cols..(o + 1) * self.cols].into(),
            Codes::Int4(v) => v[o * self.cols / 2..(o + 1) * self.cols / 2].iter().flat_map(|&b| unpack_int4(b)).collect::<Vec<i8>>().into(),
        }
    }
}

/// Symmetric codes packed in `u32`s, f32 scales per `block` inputs.
fn quant_scheme(value: QuantValue, block: usize) -> QuantScheme {
    QuantScheme::default().with_value(value).with_store(QuantStore::PackedU32(0)).per_block([block as u8], ScaleDtype::F32)
}

/// burn's packed layout — the code bytes as little-endian `u32` words, then the f32 scales — in
/// one buffer of the exact size: built as words, because burn copies a byte vector again to align
/// it, and `TensorData::quantized` doubles its buffer to append the scales (wasm memory only grows).
fn burn_packed(code_bytes: &[u8], (scales, count): (impl Iterator<Item = f32>, usize), shape: [usize; 2], scheme: QuantScheme) -> TensorData {
    let mut words = Vec::with_capacity(code_bytes.len() / 4 + count);
    words.extend(code_bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    words.extend(scales.map(f32::to_bits));
    TensorData::from_bytes(Bytes::from_elems(words), shape, DType::QFloat(scheme))
}

/// A row as integers in ±8191 and the scale that maps them back.
fn quantize_row(row: &[f32]) -> (Vec<i16>, f32) {
    let largest = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if largest > 0.0 { largest / ROW_LEVELS } else { 1.0 };
    let inverse = scale.recip();
    (row.iter().map(|v| (v * inverse).round() as i16).collect(), scale)
}

/// `Σ q·w` in i32. In wasm SIMD128 eight products per `i32x4.dot_i16x8_s` (the codes widened by
/// the load itself); the compiler does not find that instruction in the plain loop, which ran
/// ~10× slower in V8.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[allow(unsafe_code)] // raw SIMD loads; the bounds are checked before the loop
fn dot(q: &[i16], w: &[i8]) -> i32 {
    use core::arch::wasm32::*;
    assert_eq!(q.len(), w.len());
    let whole = q.len() / 16 * 16;
    let (mut a, mut b) = (i32x4_splat(0), i32x4_splat(0));
    for i in (0..whole).step_by(16) {
        // SAFETY: i + 16 <= len for both slices (asserted above); wasm loads need no alignment.
        unsafe {
            let (qp, wp) = (q.as_ptr().add(i), w.as_ptr().add(i));
            a = i32x4_add(a, i32x4_dot_i16x8(v128_load(qp as *const v128), i16x8_load_extend_i8x8(wp)));
            b = i32x4_add(b, i32x4_dot_i16x8(v128_load(qp.add(8) as *const v128), i16x8_load_extend_i8x8(wp.add(8))));
        }
    }
    let lanes = i32x4_add(a, b);
    let head = i32x4_extract_lane::<0>(lanes) + i32x4_extract_lane::<1>(lanes) + i32x4_extract_lane::<2>(lanes) + i32x4_extract_lane::<3>(lanes);
    head + q[whole..].iter().zip(&w[whole..]).map(|(&a, &b)| a as i32 * b as i32).sum::<i32>()
}

/// `Σ q·w` in i32 (natively the compiler vectorises this).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn dot(q: &[i16], w: &[i8]) -> i32 {
    q.iter().zip(w).map(|(&a, &b)| a as i32 * b as i32).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::quant::{quantize_int4, quantize_int8};
    use burn::tensor::Device;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0) * if i % 13 == 0 { 3.0 } else { 1.0 }).collect()
    }

    fn matrices(rows: usize, cols: usize) -> Vec<QuantizedMatrix> {
        let w = values(rows * cols, 1);
        let (q8, s8) = quantize_int8(&w, cols);
        let (q4, s4) = quantize_int4(&w);
        vec![QuantizedMatrix::new(rows, cols, Codes::Int8(q8), s8), QuantizedMatrix::new(rows, cols, Codes::Int4(q4), s4)]
    }

    /// Both paths against f64 products with the widened weight: the wide path is exact up to f32
    /// summation, the integer one adds the rows' rounding (relative 1/16382 of the row's largest
    /// value per term).
    #[test]
    fn products_match_the_widened_weight() {
        let device = Device::flex();
        // The last: several tasks on the pool (a partial one too) and int8 rows of two i32 blocks.
        for (rows, cols) in [(5, 64), (96, 32), (24, 4160), (300, 2080)] {
            for m in matrices(rows, cols) {
                let wide = m.widen();
                for count in [1, 3, m.widen_from_rows() + 1] {
                    let x = values(count * cols, count);
                    let bias = values(rows, 7);
                    let y = read_on_cpu(m.project(
                        Tensor::<3>::from_data(TensorData::new(x.clone(), [1, count, cols]), &device),
                        Tensor::from_data(TensorData::new(bias.clone(), [rows]), &device),
                    ));
                    for t in 0..count {
                        let row = &x[t * cols..(t + 1) * cols];
                        let largest = row.iter().fold(0.0f32, |a, v| a.max(v.abs())) as f64;
                        for o in 0..rows {
                            let w = &wide[o * cols..(o + 1) * cols];
                            let exact: f64 = row.iter().zip(w).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() + bias[o] as f64;
                            let weight_sum: f64 = w.iter().map(|v| v.abs() as f64).sum();
                            let tolerance = if count >= m.widen_from_rows() { 1e-6 * weight_sum * largest + 1e-5 } else { weight_sum * largest / 16382.0 + 1e-5 };
                            let got = y[t * rows + o] as f64;
                            assert!((got - exact).abs() <= tolerance, "{rows}x{cols} {count} rows: [{t}, {o}] {got} vs {exact}");
                        }
                    }
                }
            }
        }
    }

    /// burn's quantized matmul on wgpu (lavapipe without a GPU) against the widened weight: the
    /// codes and scales must arrive as they are (a wrong nibble order or scale layout is off by
    /// whole steps), for one row (a decoding step) and many.
    #[cfg(feature = "wgpu")]
    #[test]
    fn gpu_quantized_tensors_multiply_as_the_widened_weight() {
        let device = crate::model::test_wgpu();
        // The last: no block width fits, the row goes up widened.
        for (rows, cols) in [(96, 64), (40, 2080), (300, 160), (8, 24)] {
            for m in matrices(rows, cols).into_iter().filter(|m| matches!(m.codes, Codes::Int8(_)) || cols % INT4_BLOCK == 0) {
                let weight = m.to_device(&device);
                let quantized = cols % 16 == 0;
                assert_eq!(matches!(weight.dtype(), DType::QFloat(_)), quantized, "{rows}x{cols}: {:?}", weight.dtype());
                let wide = m.widen();
                for count in [1, 5, 70] {
                    let x = values(count * cols, count);
                    let y = read_on_cpu(Tensor::<2>::from_data(TensorData::new(x.clone(), [count, cols]), &device).matmul(weight.clone().transpose()));
                    for t in 0..count {
                        for o in 0..rows {
                            let w = &wide[o * cols..(o + 1) * cols];
                            let exact: f64 = x[t * cols..(t + 1) * cols].iter().zip(w).map(|(a, b)| *a as f64 * *b as f64).sum();
                            let tolerance = 1e-5 * w.iter().map(|v| v.abs() as f64).sum::<f64>() * 3.0 + 1e-5;
                            let got = y[t * rows + o] as f64;
                            assert!((got - exact).abs() <= tolerance, "{rows}x{cols} {count} rows: [{t}, {o}] {got} vs {exact}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn split_rows_are_the_rows() {
        for m in matrices(96, 64) {
            let parts = m.split_rows(3);
            let wide = m.widen();
            for (p, part) in parts.iter().enumerate() {
                assert_eq!(part.shape(), [32, 64]);
                assert_eq!(part.widen(), wide[p * 32 * 64..(p + 1) * 32 * 64]);
            }
        }
    }

    #[test]
    fn zero_rows_give_zeros() {
        let m = &matrices(4, 32)[0];
        assert_eq!(m.multiply_rows(&[0.0; 64], 2), vec![0.0; 8]);
    }
}
