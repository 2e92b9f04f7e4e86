//! Convolutions for the CPU backend by Winograd's minimal filtering: fewer multiplies per output,
//! bought with cheap transforms of each block of inputs and of products.
//! - `conv3x3` (3×3, stride 1, padding 1) by F(4×4, 3×3): a 4×4 block of outputs off a 6×6 block
//!   of inputs, 36 multiplies per channel pair instead of 144.
//! - `upsample` (PyTorch's `ConvTranspose2d(kernel 4, stride 2, padding 1)`): each output parity
//!   (even or odd row × even or odd column) is a 2×2 convolution of the input by F(2×2, 2×2); a 4×4
//!   block of outputs costs 36 multiplies instead of 64.
//!
//! The glyph U-Net — text→video's hot path, 20 guided steps per clip — is mostly these
//! convolutions, and burn-flex runs them as im2col (col2im) + `gemm`. Here the products are one
//! batched matmul on the same backend (its `gemm` kernels); the transforms around them run on the
//! host. Each algorithm is separable (a 1-D transform along a block's rows, then along its columns), and every pass runs
//! over whole planes of all images at once: the U-Net's images are 7 to 28 pixels wide, and loops
//! over one row of blocks at a time spent more time starting than working.

use super::readback::read_on_cpu;
use burn::tensor::{Device, Tensor, TensorData};
use std::sync::{Arc, OnceLock};

/// At most this many values (f32) in a convolution's buffers at once: 2 MB. A clip's 20 frames at
/// 32×32 (the slot head's features) and the glyph U-Net's widest layers go through in several
/// parts; at 8 MB the shipped model's wasm heap peaked 3.5 MiB (text→video) and 4.1 MiB
/// (continue) higher, for no speed (`scripts/trainer/probes/heap_by_task.mjs`, `scripts/bench`).
const CHUNK_VALUES: usize = 1 << 19;

/// A Winograd algorithm by its 1-D matrices: a kernel of `T` taps → `P` points (G), a window of `W`
/// inputs → `P` points (Bᵀ), `P` products → `Q` outputs (Aᵀ, outputs in place order). Blocks of
/// `Q` outputs start every `step` inputs; the input has a zero border of one.
struct Algorithm<const T: usize, const W: usize, const P: usize, const Q: usize> {
    step: usize,
    /// Output side from input side.
    out: fn(usize) -> usize,
    kernel: [[f64; T]; P],
    inputs: [[f32; W]; P],
    outputs: [[f32; P]; Q],
}

/// F(4, 3) with points 0, ±1, ±2 and ∞ (Lavin & Gray's matrices).
const SAME: Algorithm<3, 6, 6, 4> = Algorithm {
    step: 4,
    out: |side| side,
    kernel: [
        [1. / 4., 0., 0.],
        [-1. / 6., -1. / 6., -1. / 6.],
        [-1. / 6., 1. / 6., -1. / 6.],
        [1. / 24., 1. / 12., 1. / 6.],
        [1. / 24., -1. / 12., 1. / 6.],
        [0., 0., 1.],
    ],
    inputs: [
        [4., 0., -5., 0., 1., 0.],
        [0., -4., -4., 1., 1., 0.],
        [0., 4., -4., -1., 1., 0.],
        [0., -2., -1., 2., 1., 0.],
        [0., 2., -1., -2., 1., 0.],
        [0., 4., 0., -5., 0., 1.],
    ],
    outputs: [[1., 1., 1., 1., 1., 0.], [0., 1., -1., 2., -2., 0.], [0., 1., 1., 4., 4., 0.], [0., 1., -1., 8., -8., 1.]],
};

/// Even outputs 2m of the transposed convolution read inputs m − 1 and m through taps 3 and 1, odd
/// ones 2m + 1 read m and m + 1 through taps 2 and 0: per parity an F(2, 2) (G = [1 0; 1 1; 0 1],
/// Bᵀ = [1 −1 0; 0 1 0; 0 −1 1], Aᵀ = [1 1 0; 0 1 1]), points 0–2 the even parity's (window inputs
/// 0–2), 3–5 the odd one's (inputs 1–3).
const UP: Algorithm<4, 4, 6, 4> = Algorithm {
    step: 2,
    out: |side| 2 * side,
    kernel: [[0., 0., 0., 1.], [0., 1., 0., 1.], [0., 1., 0., 0.], [0., 0., 1., 0.], [1., 0., 1., 0.], [1., 0., 0., 0.]],
    inputs: [[1., -1., 0., 0.], [0., 1., 0., 0.], [0., -1., 1., 0.], [0., 1., -1., 0.], [0., 0., 1., 0.], [0., 0., -1., 1.]],
    outputs: [[1., 1., 0., 0., 0., 0.], [0., 0., 0., 1., 1., 0.], [0., 1., 1., 0., 0., 0.], [0., 0., 0., 0., 1., 1.]],
};

/// A layer's kernels in Winograd's domain, made on its first call and kept with it. Made on every
/// call they cost the glyph U-Net's small, wide layers nearly as much as their products (a step
/// 24.9–25.6 ms instead of 20.2–20.6 in V8 on one thread), and on two threads each half of the
/// batch made its own. Kept, they take P²/T² of the weights' floats (4× for `conv3x3`, 2.25× for
/// `upsample`): 7.7 MB for the glyph U-Net, allocated by the first text→video step.
#[derive(Clone, Debug, Default)]
pub struct Kernels(Arc<OnceLock<Tensor<3>>>);

/// Whether the transform runs and pays: only on the CPU backend, and only between 8+ channels. It
/// saves multiplies per channel pair but costs a pass over every input and output channel, which a
/// convolution to or from a single channel (the glyph U-Net's ends, the video decoder's last layer)
/// does not win back.
pub fn pays(x: &Tensor<4>, channels: usize, out_channels: usize) -> bool {
    channels >= 8 && out_channels >= 8 && x.device() == Device::flex()
}

/// `x` `[N, C, H, W]`, `weight` `[K, C, 3, 3]`, `bias` `[K]` → `[N, K, H, W]` (zero padding 1).
pub fn conv3x3(x: Tensor<4>, weight: &Tensor<4>, bias: Tensor<1>, kernels: &Kernels) -> Tensor<4> {
    winograd(x, weight, false, bias, kernels, &SAME)
}

/// `x` `[N, C, H, W]`, `weight` `[C, K, 4, 4]` (PyTorch's and burn's transposed layout), `bias`
/// `[K]` → `[N, K, 2H, 2W]`.
pub fn upsample(x: Tensor<4>, weight: &Tensor<4>, bias: Tensor<1>, kernels: &Kernels) -> Tensor<4> {
    winograd(x, weight, true, bias, kernels, &UP)
}

/// `[N, C, H, W]` shape of a convolution's input, its output channels `K` and side, and the
/// algorithm's block geometry.
#[derive(Clone, Copy, Debug)]
struct Shape {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    out_channels: usize,
    out_height: usize,
    out_width: usize,
    /// Input values from one block to the next, and outputs per block side.
    step: usize,
    block: usize,
}

impl Shape {
    fn tiles_high(&self) -> usize {
        self.out_height.div_ceil(self.block)
    }
    fn tiles_wide(&self) -> usize {
        self.out_width.div_ceil(self.block)
    }
    /// Blocks over the whole batch: the products' width.
    fn tiles(&self) -> usize {
        self.batch * self.tiles_high() * self.tiles_wide()
    }
}

/// The transforms on the host around the `P²` products as one batched burn matmul (flex's `gemm`,
/// its threads where it has a pool). The buffers are several times the input, so a large batch (a
/// whole clip's frames) goes through in parts of at most `CHUNK_VALUES` in all.
fn winograd<const T: usize, const W: usize, const P: usize, const Q: usize>(
    x: Tensor<4>,
    weight: &Tensor<4>,
    transposed: bool,
    bias: Tensor<1>,
    kernels: &Kernels,
    algorithm: &Algorithm<T, W, P, Q>,
) -> Tensor<4> {
    let device = x.device();
    let [batch, channels, height, width] = x.dims();
    let [a, b, _, _] = weight.dims();
    let (c, k) = (channels, if transposed { b } else { a });
    let kernels = kernels
        .0
        .get_or_init(|| Tensor::from_data(TensorData::new(transform_kernels(&read_on_cpu(weight.clone()), k, c, transposed, algorithm), [P * P, k, c]), &device));
    let (out_height, out_width) = ((algorithm.out)(height), (algorithm.out)(width));
    let one = Shape { batch: 1, channels, height, width, out_channels: k, out_height, out_width, step: algorithm.step, block: Q };
    // Per item: the grouped image and its transform along rows, the transformed blocks, the
    // products and the output transform's two stages.
    let (s, th, tw) = (algorithm.step, one.tiles_high(), one.tiles_wide());
    let per_item = c * s * (th + 1) * (s + P) * (tw + 1) + (P * P * (c + k) + (P + Q) * k) * one.tiles();
    let part = (CHUNK_VALUES / per_item).clamp(1, batch);
    let (x, bias) = (read_on_cpu(x), read_on_cpu(bias));
    let (in_item, out_item) = (c * height * width, k * out_height * out_width);
    let mut out = Vec::with_capacity(batch * out_item);
    for first in (0..batch).step_by(part) {
        let shape = Shape { batch: part.min(batch - first), ..one };
        let items = &x[first * in_item..(first + shape.batch) * in_item];
        let transformed = transform_inputs(items, shape, algorithm);
        let transformed = Tensor::<3>::from_data(TensorData::new(transformed, [P * P, c, shape.tiles()]), &device);
        let products = read_on_cpu(kernels.clone().matmul(transformed));
        out.extend(transform_outputs(&products, &bias, shape, algorithm));
    }
    Tensor::from_data(TensorData::new(out, [batch, k, out_height, out_width]), &device)
}

/// `G g Gᵀ` for every kernel at once: `[K, C, T, T]` (or `[C, K, T, T]` when `transposed`) →
/// `[P², K, C]`. The taps are first laid out as planes over the channel pairs, so both products
/// with G are passes over whole planes.
fn transform_kernels<const T: usize, const W: usize, const P: usize, const Q: usize>(
    weight: &[f32],
    k: usize,
    c: usize,
    transposed: bool,
    algorithm: &Algorithm<T, W, P, Q>,
) -> Vec<f32> {
    let pairs = k * c;
    let mut taps = vec![0.0f32; T * T * pairs];
    for (at, kernel) in weight.chunks_exact(T * T).enumerate() {
        let kc = if transposed { (at % k) * c + at / k } else { at };
        for (tap, &v) in kernel.iter().enumerate() {
            taps[tap * pairs + kc] = v;
        }
    }
    let g = algorithm.kernel.map(|row| row.map(|v| v as f32));
    let plane = Rows { rows: 1, len: pairs, dst_stride: 0, src_stride: 0 };
    // G g: [P][T][pairs]; then (G g) Gᵀ: [P][P][pairs].
    let mut left = vec![0.0f32; P * T * pairs];
    for (i, row) in g.iter().enumerate() {
        for v in 0..T {
            plane.combine(&mut left[(i * T + v) * pairs..][..pairs], &taps, row, |u| (u * T + v) * pairs);
        }
    }
    let mut out = vec![0.0f32; P * P * pairs];
    for i in 0..P {
        for (j, row) in g.iter().enumerate() {
            plane.combine(&mut out[(i * P + j) * pairs..][..pairs], &left, row, |v| (i * T + v) * pairs);
        }
    }
    out
}

/// Plane arithmetic: `rows` rows of `len` values, row r of `dst` at `r · dst_stride` set to
/// `Σ coefficient · src[r · src_stride + offset(term) ..]` over the non-zero coefficients.
struct Rows {
    rows: usize,
    len: usize,
    dst_stride: usize,
    src_stride: usize,
}

impl Rows {
    fn combine(&self, dst: &mut [f32], src: &[f32], coefficients: &[f32], offset: impl Fn(usize) -> usize) {
        let terms: Vec<(f32, usize)> = coefficients.iter().enumerate().filter(|(_, c)| **c != 0.0).map(|(t, &c)| (c, offset(t))).collect();
        let len = self.len;
        for r in 0..self.rows {
            let d = &mut dst[r * self.dst_stride..][..len];
            let s = |(c, o): (f32, usize)| (c, &src[r * self.src_stride + o..][..len]);
            match *terms.as_slice() {
                [] => d.fill(0.0),
                [a] => {
                    let (a, x) = s(a);
                    d.iter_mut().zip(x).for_each(|(d, x)| *d = a * x);
                }
                [a, b] => {
                    let ((a, x), (b, y)) = (s(a), s(b));
                    d.iter_mut().zip(x.iter().zip(y)).for_each(|(d, (x, y))| *d = a * x + b * y);
                }
                [a, b, c, ref rest @ ..] => {
                    let ((a, x), (b, y), (c, z)) = (s(a), s(b), s(c));
                    d.iter_mut().zip(x.iter().zip(y).zip(z)).for_each(|(d, ((x, y), z))| *d = a * x + b * y + c * z);
                    for &term in rest {
                        let (e, v) = s(term);
                        d.iter_mut().zip(v).for_each(|(d, v)| *d += e * v);
                    }
                }
            }
        }
    }
}

/// Where padded row (or column) `p` sits when rows are grouped by phase (`p % step`), `per_phase`
/// of them per phase.
fn by_phase(p: usize, step: usize, per_phase: usize) -> usize {
    p % step * per_phase + p / step
}

/// The input transform: `[N, C, H, W]` → `[P², C, tiles]`, tiles in (batch, block row, block
/// column) order. Each image, with its zero border, is stored with its rows and its columns
/// grouped by their place within a block step (phase): a block's window then reads the same
/// offsets in every block, so the transform along rows is one pass per point over all images'
/// rows, and the one along columns one pass per point over all images.
fn transform_inputs<const T: usize, const W: usize, const P: usize, const Q: usize>(x: &[f32], shape: Shape, algorithm: &Algorithm<T, W, P, Q>) -> Vec<f32> {
    let Shape { batch, channels: c, height: h, width: w, step: s, .. } = shape;
    let (th, tw) = (shape.tiles_high(), shape.tiles_wide());
    let images = c * batch;
    // Per image: [row phase][th + 1][column phase][tw + 1]; padded row (column) p is phase p % s,
    // index p / s. A window reaches at most one step past its block's start, and no block starts
    // past th − 1, so th + 1 (tw + 1) per phase hold every value a window reads.
    let (row_len, phase_rows) = (s * (tw + 1), th + 1);
    let image_len = s * phase_rows * row_len;
    let mut grouped = vec![0.0f32; images * image_len];
    for ch in 0..c {
        for n in 0..batch {
            let image = &x[(n * c + ch) * h * w..][..h * w];
            let dst = &mut grouped[(ch * batch + n) * image_len..][..image_len];
            for (y, src) in image.chunks_exact(w).enumerate() {
                let row = &mut dst[by_phase(y + 1, s, phase_rows) * row_len..][..row_len];
                for (x_, &v) in src.iter().enumerate() {
                    row[by_phase(x_ + 1, s, tw + 1)] = v;
                }
            }
        }
    }
    // Along rows: [P][images · s · (th + 1)][tw].
    let rows_total = images * s * phase_rows;
    let mut along_rows = vec![0.0f32; P * rows_total * tw];
    let across = Rows { rows: rows_total, len: tw, dst_stride: tw, src_stride: row_len };
    for (j, coefficients) in algorithm.inputs.iter().enumerate() {
        across.combine(&mut along_rows[j * rows_total * tw..][..rows_total * tw], &grouped, coefficients, |t| by_phase(t, s, tw + 1));
    }
    // Along columns: point (i, j) of every block of every image.
    let plane = images * th * tw;
    let mut out = vec![0.0f32; P * P * plane];
    let down = Rows { rows: images, len: th * tw, dst_stride: th * tw, src_stride: s * phase_rows * tw };
    for (i, coefficients) in algorithm.inputs.iter().enumerate() {
        for j in 0..P {
            let src = &along_rows[j * rows_total * tw..][..rows_total * tw];
            down.combine(&mut out[(i * P + j) * plane..][..plane], src, coefficients, |t| by_phase(t, s, phase_rows) * tw);
        }
    }
    out
}

/// The output transform, plus the bias: `[P², K, tiles]` → `[N, K, out_height, out_width]`.
fn transform_outputs<const T: usize, const W: usize, const P: usize, const Q: usize>(products: &[f32], bias: &[f32], shape: Shape, algorithm: &Algorithm<T, W, P, Q>) -> Vec<f32> {
    let Shape { batch, out_channels: k, out_height: oh, out_width: ow, .. } = shape;
    let (th, tw, tiles) = (shape.tiles_high(), shape.tiles_wide(), shape.tiles());
    let plane = k * tiles;
    let whole = Rows { rows: 1, len: plane, dst_stride: 0, src_stride: 0 };
    let mut out = vec![0.0f32; batch * k * oh * ow];
    let mut sums = vec![0.0f32; P * plane];
    let mut values = vec![0.0f32; Q * plane];
    for (r, row_coefficients) in algorithm.outputs.iter().enumerate() {
        // Output row r of every block: its P columns of products reduced over the rows' points…
        for j in 0..P {
            whole.combine(&mut sums[j * plane..][..plane], products, row_coefficients, |i| (i * P + j) * plane);
        }
        // …then its Q outputs, put in place with the bias.
        for (column, coefficients) in algorithm.outputs.iter().enumerate() {
            whole.combine(&mut values[column * plane..][..plane], &sums, coefficients, |j| j * plane);
        }
        for (kk, &b) in bias.iter().enumerate() {
            for n in 0..batch {
                for ty in 0..th {
                    let row = Q * ty + r;
                    if row >= oh {
                        continue;
                    }
                    let dst = &mut out[((n * k + kk) * oh + row) * ow..][..ow];
                    let first = kk * tiles + (n * th + ty) * tw;
                    for column in 0..Q {
                        let src = &values[column * plane + first..][..tw];
                        for (o, v) in dst.iter_mut().skip(column).step_by(Q).zip(src) {
                            *o = v + b;
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input `[N, C, H, W]` and output channels of a test case.
    #[derive(Clone, Copy, Debug)]
    struct Case {
        batch: usize,
        channels: usize,
        height: usize,
        width: usize,
        out_channels: usize,
    }

    /// A 3×3 convolution (padding 1) by its definition: `weight` `[K, C, 3, 3]`.
    fn direct(x: &[f32], weight: &[f32], bias: &[f32], s: Case) -> Vec<f64> {
        let (oh, ow) = (s.height, s.width);
        let mut out = vec![0.0f64; s.batch * s.out_channels * oh * ow];
        for n in 0..s.batch {
            for k in 0..s.out_channels {
                for (row, col) in (0..oh).flat_map(|r| (0..ow).map(move |q| (r, q))) {
                    let mut sum = bias[k] as f64;
                    for c in 0..s.channels {
                        for (i, j) in (0..3).flat_map(|i| (0..3).map(move |j| (i, j))) {
                            let (y, x_) = ((row + i) as isize - 1, (col + j) as isize - 1);
                            if y >= 0 && x_ >= 0 && (y as usize) < s.height && (x_ as usize) < s.width {
                                let v = x[((n * s.channels + c) * s.height + y as usize) * s.width + x_ as usize] as f64;
                                sum += v * weight[((k * s.channels + c) * 3 + i) * 3 + j] as f64;
                            }
                        }
                    }
                    out[((n * s.out_channels + k) * oh + row) * ow + col] = sum;
                }
            }
        }
        out
    }

    /// PyTorch's transposed convolution (kernel 4, stride 2, padding 1) by its definition: each
    /// input scattered through every tap of `weight` `[C, K, 4, 4]`.
    fn direct_up(x: &[f32], weight: &[f32], bias: &[f32], s: Case) -> Vec<f64> {
        let (oh, ow) = (2 * s.height, 2 * s.width);
        let mut out = vec![0.0f64; s.batch * s.out_channels * oh * ow];
        for n in 0..s.batch {
            for k in 0..s.out_channels {
                out[(n * s.out_channels + k) * oh * ow..][..oh * ow].fill(bias[k] as f64);
                for c in 0..s.channels {
                    for (row, col) in (0..s.height).flat_map(|r| (0..s.width).map(move |q| (r, q))) {
                        let v = x[((n * s.channels + c) * s.height + row) * s.width + col] as f64;
                        for (i, j) in (0..4).flat_map(|i| (0..4).map(move |j| (i, j))) {
                            let (y, x_) = ((2 * row + i) as isize - 1, (2 * col + j) as isize - 1);
                            if y >= 0 && x_ >= 0 && (y as usize) < oh && (x_ as usize) < ow {
                                let tap = weight[((c * s.out_channels + k) * 4 + i) * 4 + j] as f64;
                                out[((n * s.out_channels + k) * oh + y as usize) * ow + x_ as usize] += v * tap;
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, salt: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.37 + salt).sin()).collect()
    }

    /// Runs `convolve` on each case (weights `[K, C, size, size]`, or `[C, K, …]` when `transposed`)
    /// against `reference`; the worst error may grow with the terms summed per output.
    fn check(
        cases: &[(usize, usize, usize, usize, usize)],
        size: usize,
        transposed: bool,
        convolve: fn(Tensor<4>, &Tensor<4>, Tensor<1>, &Kernels) -> Tensor<4>,
        reference: impl Fn(&[f32], &[f32], &[f32], Case) -> Vec<f64>,
        tolerance_per_term: f64,
    ) {
        let device = burn::tensor::Device::flex();
        for &(batch, channels, height, width, out_channels) in cases {
            let s = Case { batch, channels, height, width, out_channels };
            let x = values(batch * channels * height * width, 0.3);
            let weight = values(out_channels * channels * size * size, 1.1);
            let bias = values(out_channels, 2.0);
            let expected = reference(&x, &weight, &bias, s);
            let shape = if transposed { [channels, out_channels, size, size] } else { [out_channels, channels, size, size] };
            let kernels = Kernels::default();
            let weight = Tensor::from_data(TensorData::new(weight, shape), &device);
            let bias = Tensor::from_data(TensorData::new(bias, [out_channels]), &device);
            let input = Tensor::from_data(TensorData::new(x, [batch, channels, height, width]), &device);
            // Twice: the second call uses the kept kernels.
            for _ in 0..2 {
                let got = read_on_cpu(convolve(input.clone(), &weight, bias.clone(), &kernels));
                assert_eq!(got.len(), expected.len(), "{s:?}");
                let worst = got.iter().zip(&expected).map(|(g, e)| (*g as f64 - e).abs()).fold(0.0, f64::max);
                let terms = (channels * size * size) as f64;
                assert!(worst < tolerance_per_term * terms, "{s:?}: off by {worst}");
            }
        }
    }

    /// Odd and even sides, a single channel, a 1×1 image, the glyph U-Net's shapes, and a last case
    /// done in several parts (its transformed blocks exceed `CHUNK_VALUES`).
    #[test]
    fn conv3x3_equals_a_direct_convolution() {
        let cases = [(2, 3, 7, 7, 5), (1, 16, 6, 9, 4), (3, 1, 5, 4, 2), (1, 2, 1, 1, 3), (4, 128, 7, 7, 128), (3, 64, 48, 48, 64)];
        // F(4, 3)'s transforms have entries up to 8 (and G's 1/6, 1/24): rounding up to 3.6e-7 per
        // term was seen here, ten times the F(2, 2) ones'.
        check(&cases, 3, false, conv3x3, direct, 2e-6);
    }

    #[test]
    fn upsample_equals_a_direct_transposed_convolution() {
        let cases = [(2, 3, 7, 7, 5), (1, 16, 6, 9, 4), (3, 1, 5, 4, 2), (1, 2, 1, 1, 3), (4, 128, 7, 7, 64), (2, 64, 40, 40, 64)];
        check(&cases, 4, true, upsample, direct_up, 2e-7);
    }
}
