//! 3×3 convolutions (stride 1, padding 1) for the CPU backend by Winograd's F(2×2, 3×3): each 2×2
//! block of outputs is read off a 4×4 block of inputs with 16 multiplies per channel pair instead
//! of 36, so the products cost 4/9 of a direct (im2col) convolution's.
//!
//! The glyph U-Net — text→video's hot path, 20 guided steps per clip — is mostly such
//! convolutions, and burn-flex runs them as im2col + `gemm`, where the products were 58 % of a step
//! in the browser profile (`docs/bench.md`). Here the 16 products are one batched matmul on the
//! same backend (its `gemm` kernels); the transforms around them are short loops on the host.
//! The transforms' entries are 0, ±1 and ±½, so the result differs from the direct sum only by
//! rounding (tested below against an f64 direct convolution).

use super::readback::read_on_cpu;
use burn::tensor::{Tensor, TensorData};

/// Output block side (`m` in F(m×m, 3×3)) and input block side (`m + 2`).
const OUT: usize = 2;
const TILE: usize = 4;
/// Winograd's domain has TILE² points; each is one product.
const POINTS: usize = TILE * TILE;
/// At most this many transformed inputs and products (f32) at once: 8 MB. The glyph U-Net's four
/// glyphs fit in one part; a clip's 20 frames at 32×32 (the slot head's features) take seven.
const CHUNK_VALUES: usize = 1 << 21;

/// `[N, C, H, W]` shape of a convolution's input and its output channels `K`.
#[derive(Clone, Copy, Debug)]
struct Shape {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    out_channels: usize,
}

impl Shape {
    fn tiles_high(&self) -> usize {
        self.height.div_ceil(OUT)
    }
    fn tiles_wide(&self) -> usize {
        self.width.div_ceil(OUT)
    }
    /// Output blocks over the whole batch: the products' width.
    fn tiles(&self) -> usize {
        self.batch * self.tiles_high() * self.tiles_wide()
    }
}

/// Whether the transform pays: it saves 5 of 9 multiply-adds per channel pair but costs a pass over
/// every input and output channel, which a convolution to or from a single channel (the glyph
/// U-Net's ends, the video decoder's last layer) does not win back.
pub fn pays(channels: usize, out_channels: usize) -> bool {
    channels >= 8 && out_channels >= 8
}

/// `x` `[N, C, H, W]`, `weight` `[K, C, 3, 3]`, `bias` `[K]` → `[N, K, H, W]` (zero padding 1), on
/// the CPU backend: the transforms on the host, the 16 products as one batched burn matmul (flex's
/// `gemm`, its threads where it has a pool). The transformed blocks are 4× the input, so a large
/// batch (a whole clip's frames) goes through in parts of at most `CHUNK_VALUES`.
pub fn conv3x3(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let device = x.device();
    let [batch, channels, height, width] = x.dims();
    let out_channels = weight.dims()[0];
    let (c, k) = (channels, out_channels);
    let one = Shape { batch: 1, channels, height, width, out_channels };
    let per_item = POINTS * (c + k) * one.tiles();
    let part = (CHUNK_VALUES / per_item).clamp(1, batch);
    let kernels = Tensor::<3>::from_data(TensorData::new(transform_weights(&read_on_cpu(weight), k, c), [POINTS, k, c]), &device);
    let (x, bias) = (read_on_cpu(x), read_on_cpu(bias));
    let (in_item, out_item) = (c * height * width, k * height * width);
    let mut out = Vec::with_capacity(batch * out_item);
    for first in (0..batch).step_by(part) {
        let shape = Shape { batch: part.min(batch - first), ..one };
        let items = &x[first * in_item..(first + shape.batch) * in_item];
        let inputs = Tensor::<3>::from_data(TensorData::new(transform_inputs(items, shape), [POINTS, c, shape.tiles()]), &device);
        let products = read_on_cpu(kernels.clone().matmul(inputs));
        out.extend(transform_outputs(&products, &bias, shape));
    }
    Tensor::from_data(TensorData::new(out, [batch, out_channels, height, width]), &device)
}

/// `G g Gᵀ` per kernel: `[K, C, 3, 3]` → `[16, K, C]`.
fn transform_weights(weight: &[f32], k: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; POINTS * k * c];
    for (kc, g) in weight.chunks_exact(9).enumerate() {
        // G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], applied to the rows, then to the columns.
        let mut rows = [[0.0f32; 3]; TILE];
        for col in 0..3 {
            let (a, b, d) = (g[col], g[3 + col], g[6 + col]);
            rows[0][col] = a;
            rows[1][col] = 0.5 * (a + b + d);
            rows[2][col] = 0.5 * (a - b + d);
            rows[3][col] = d;
        }
        for (i, [a, b, d]) in rows.into_iter().enumerate() {
            for (j, v) in [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d].into_iter().enumerate() {
                out[(i * TILE + j) * k * c + kc] = v;
            }
        }
    }
    out
}

/// `Bᵀ d B` per 4×4 input block (blocks overlap by 2; outside the image is the zero padding):
/// `[N, C, H, W]` → `[16, C, tiles]`, tiles in (batch, block row, block column) order. Bᵀ's rows
/// are applied to whole padded image rows at once, its columns along a row of blocks, so every
/// loop runs over contiguous values without bounds tests.
fn transform_inputs(x: &[f32], shape: Shape) -> Vec<f32> {
    let Shape { batch, channels: c, height: h, width: w, .. } = shape;
    let (th, tw, p) = (shape.tiles_high(), shape.tiles_wide(), shape.tiles());
    let plane = c * p;
    let mut out = vec![0.0f32; POINTS * plane];
    // The image with its zero border, rounded up to whole blocks: (2·th + 2) × (2·tw + 2).
    let (ph, pw) = (OUT * th + 2, OUT * tw + 2);
    let mut padded = vec![0.0f32; ph * pw];
    let mut rows = [vec![0.0f32; pw], vec![0.0f32; pw], vec![0.0f32; pw], vec![0.0f32; pw]];
    for n in 0..batch {
        for ch in 0..c {
            let image = &x[(n * c + ch) * h * w..(n * c + ch + 1) * h * w];
            for (dst, src) in padded.chunks_exact_mut(pw).skip(1).zip(image.chunks_exact(w)) {
                dst[1..=w].copy_from_slice(src);
            }
            for ty in 0..th {
                let d = |i: usize| &padded[(OUT * ty + i) * pw..(OUT * ty + i + 1) * pw];
                // Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1] on the block's four rows.
                for (col, (((d0, d1), d2), d3)) in d(0).iter().zip(d(1)).zip(d(2)).zip(d(3)).enumerate() {
                    rows[0][col] = d0 - d2;
                    rows[1][col] = d1 + d2;
                    rows[2][col] = d2 - d1;
                    rows[3][col] = d1 - d3;
                }
                let first = (n * th + ty) * tw;
                for (i, row) in rows.iter().enumerate() {
                    // …and on each block's four columns (windows of 4, one block every 2).
                    let column = |j: usize, f: fn(&[f32]) -> f32, out: &mut [f32]| {
                        let start = (i * TILE + j) * plane + ch * p + first;
                        for (o, window) in out[start..start + tw].iter_mut().zip(row.windows(TILE).step_by(OUT)) {
                            *o = f(window);
                        }
                    };
                    column(0, |v| v[0] - v[2], &mut out);
                    column(1, |v| v[1] + v[2], &mut out);
                    column(2, |v| v[2] - v[1], &mut out);
                    column(3, |v| v[1] - v[3], &mut out);
                }
            }
        }
    }
    out
}

/// `Aᵀ m A` per block of products plus the bias: `[16, K, tiles]` → `[N, K, H, W]`, along a row of
/// blocks at a time as for the inputs.
fn transform_outputs(products: &[f32], bias: &[f32], shape: Shape) -> Vec<f32> {
    let Shape { batch, height: h, width: w, out_channels: k, .. } = shape;
    let (th, tw, p) = (shape.tiles_high(), shape.tiles_wide(), shape.tiles());
    let plane = k * p;
    let mut out = vec![0.0f32; batch * k * h * w];
    // Aᵀ = [1 1 1 0; 0 1 −1 −1] on the rows of the 4×4 products: two rows of 4 per block.
    let mut sums = [[0.0f32; TILE]; OUT].map(|_| vec![[0.0f32; TILE]; tw]);
    let mut line = vec![0.0f32; OUT * tw];
    for n in 0..batch {
        for (ch, &b) in bias.iter().enumerate() {
            let image = &mut out[(n * k + ch) * h * w..(n * k + ch + 1) * h * w];
            for ty in 0..th {
                let first = (n * th + ty) * tw;
                let m = |i: usize, j: usize| &products[(i * TILE + j) * plane + ch * p + first..][..tw];
                for j in 0..TILE {
                    for (tx, (((m0, m1), m2), m3)) in m(0, j).iter().zip(m(1, j)).zip(m(2, j)).zip(m(3, j)).enumerate() {
                        sums[0][tx][j] = m0 + m1 + m2;
                        sums[1][tx][j] = m1 - m2 - m3;
                    }
                }
                for (i, row_sums) in sums.iter().enumerate() {
                    let row = OUT * ty + i;
                    if row >= h {
                        break;
                    }
                    // …and on their columns: two outputs per block.
                    for (pair, s) in line.chunks_exact_mut(OUT).zip(row_sums) {
                        pair[0] = s[0] + s[1] + s[2] + b;
                        pair[1] = s[1] - s[2] - s[3] + b;
                    }
                    image[row * w..(row + 1) * w].copy_from_slice(&line[..w]);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(x: &[f32], weight: &[f32], bias: &[f32], s: Shape) -> Vec<f64> {
        let (h, w) = (s.height as isize, s.width as isize);
        let mut out = vec![0.0f64; s.batch * s.out_channels * s.height * s.width];
        for n in 0..s.batch {
            for k in 0..s.out_channels {
                for row in 0..h {
                    for col in 0..w {
                        let mut sum = bias[k] as f64;
                        for c in 0..s.channels {
                            for (i, j) in (0..3).flat_map(|i| (0..3).map(move |j| (i, j))) {
                                let (y, x_) = (row + i - 1, col + j - 1);
                                if y >= 0 && x_ >= 0 && y < h && x_ < w {
                                    let v = x[((n * s.channels + c) * s.height + y as usize) * s.width + x_ as usize] as f64;
                                    sum += v * weight[((k * s.channels + c) * 3 + i as usize) * 3 + j as usize] as f64;
                                }
                            }
                        }
                        out[((n * s.out_channels + k) * s.height + row as usize) * s.width + col as usize] = sum;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, salt: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.37 + salt).sin()).collect()
    }

    #[test]
    fn equals_a_direct_convolution_on_odd_and_even_sides() {
        // The last is done in three parts (one item each: 16 · 128 channels · 576 blocks > CHUNK_VALUES / 2).
        let cases = [(2, 3, 7, 7, 5), (1, 16, 6, 9, 4), (3, 1, 5, 4, 2), (1, 2, 1, 1, 3), (3, 64, 48, 48, 64)];
        for (batch, channels, height, width, out_channels) in cases {
            let s = Shape { batch, channels, height, width, out_channels };
            let x = values(batch * channels * height * width, 0.3);
            let weight = values(out_channels * channels * 9, 1.1);
            let bias = values(out_channels, 2.0);
            let expected = direct(&x, &weight, &bias, s);
            let device = burn::tensor::Device::flex();
            let tensor = |v: &[f32], shape: Vec<usize>| TensorData::new(v.to_vec(), shape);
            let got = read_on_cpu(conv3x3(
                Tensor::from_data(tensor(&x, vec![batch, channels, height, width]), &device),
                Tensor::from_data(tensor(&weight, vec![out_channels, channels, 3, 3]), &device),
                Tensor::from_data(tensor(&bias, vec![out_channels]), &device),
            ));
            assert_eq!(got.len(), expected.len());
            let worst = got.iter().zip(&expected).map(|(g, e)| (*g as f64 - e).abs()).fold(0.0, f64::max);
            let scale = (channels * 9) as f64;
            assert!(worst < 2e-6 * scale, "{s:?}: off by {worst}");
        }
    }
}
