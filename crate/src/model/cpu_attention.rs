//! Multi-head attention for the CPU backend, fused: per head, the scores of a block of query rows,
//! their softmax and the value product stay in registers and one small scratch row — no
//! `[queries × keys]` matrix per head, no permuted copies of q, k, v or of the output (the heads
//! are read straight from the qkv projection's `[tokens, 3·D]` rows and written as `[tokens, D]`).
//!
//! burn-flex runs attention as two `gemm` calls per head around a scalar softmax (libm `exp`),
//! which ran at 0.55× ONNX Runtime Web's attention in the browser (`docs/bench.md`). The loops
//! below are written so the compiler vectorises them (fixed-width tiles, lane-wise reductions, a
//! branch-free `exp`): wasm SIMD128 in the browser, SSE/AVX natively, no `unsafe`. Heads run on
//! the rayon pool where there is one (the threads build, the CLI) and the work pays for it.

/// Query rows per register tile.
const ROWS: usize = 4;
/// Key columns (for scores) or value widths (for the output) per register tile.
const LANES: usize = 8;
/// Below this many multiply-adds a call stays on one thread (a decoding step's few rows).
#[cfg(feature = "parallel")]
const PARALLEL_WORK: usize = 1 << 17;

/// Where one part (queries, keys or values) of every head lives in a flat buffer: the value `c` of
/// head `h` at position `i` of batch item `b` is `data[b·batch + i·row + h·head_dim + c]`.
#[derive(Clone, Copy)]
pub struct Part<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub batch: usize,
    pub row: usize,
}

impl<'a> Part<'a> {
    fn at(&self, b: usize, i: usize, h: usize, head_dim: usize) -> &'a [f32] {
        let start = self.offset + b * self.batch + i * self.row + h * head_dim;
        &self.data[start..start + head_dim]
    }
}

/// Keys or values: positions `0..past_len` from a cache, the rest from this call's rows.
#[derive(Clone, Copy)]
pub struct Positions<'a> {
    pub past: Option<(Part<'a>, usize)>,
    pub new: Part<'a>,
}

impl<'a> Positions<'a> {
    fn at(&self, b: usize, j: usize, h: usize, head_dim: usize) -> &'a [f32] {
        match self.past {
            Some((past, len)) if j < len => past.at(b, j, h, head_dim),
            Some((_, len)) => self.new.at(b, j - len, h, head_dim),
            None => self.new.at(b, j, h, head_dim),
        }
    }
}

/// The sizes of one call.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub batch: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub queries: usize,
    pub keys: usize,
}

/// Whether the kernel takes these sizes (its tiles need the head width in whole tiles).
pub fn supports(head_dim: usize) -> bool {
    head_dim > 0 && head_dim.is_multiple_of(LANES)
}

/// softmax(q·kᵀ/√head_dim, masked) · v for every batch item and head → `[batch, queries, heads·head_dim]`.
/// `blocked[i·keys + j]`: query `i` may not see key `j` (the same for every item and head).
pub fn attend(q: Part<'_>, k: Positions<'_>, v: Positions<'_>, blocked: &[bool], sizes: Sizes) -> Vec<f32> {
    let Sizes { batch, heads, head_dim, queries, keys } = sizes;
    assert!(supports(head_dim), "head width {head_dim} is not a multiple of {LANES}");
    assert_eq!(blocked.len(), queries * keys, "one mask entry per query and key");
    let padded_keys = keys.next_multiple_of(LANES);
    // Additive mask, shared by every head: 0 where a query sees a key, −∞ where not and on the
    // padding keys (the padding query rows see every real key and are dropped).
    let mut bias = vec![0.0; queries.next_multiple_of(ROWS) * padded_keys];
    for (i, row) in bias.chunks_exact_mut(padded_keys).enumerate() {
        let mask = blocked.get(i * keys..(i + 1) * keys);
        for (j, b) in row.iter_mut().enumerate() {
            if j >= keys || mask.is_some_and(|mask| mask[j]) {
                *b = f32::NEG_INFINITY;
            }
        }
    }
    let one_head = |pair: usize| head(pair / heads, pair % heads, q, k, v, &bias, sizes);
    let pairs = batch * heads;
    #[cfg(feature = "parallel")]
    let per_head: Vec<Vec<f32>> = if pairs > 1 && pairs * queries * keys * head_dim >= PARALLEL_WORK {
        use rayon::prelude::*;
        (0..pairs).into_par_iter().map(one_head).collect()
    } else {
        (0..pairs).map(one_head).collect()
    };
    #[cfg(not(feature = "parallel"))]
    let per_head: Vec<Vec<f32>> = (0..pairs).map(one_head).collect();
    // Interleave the heads into token rows.
    let width = heads * head_dim;
    let mut out = vec![0.0; batch * queries * width];
    for (pair, values) in per_head.iter().enumerate() {
        let (b, h) = (pair / heads, pair % heads);
        for (i, row) in values.chunks_exact(head_dim).take(queries).enumerate() {
            let at = (b * queries + i) * width + h * head_dim;
            out[at..at + head_dim].copy_from_slice(row);
        }
    }
    out
}

/// One head of one batch item → `[queries rounded up to ROWS, head_dim]`.
fn head(b: usize, h: usize, q: Part<'_>, k: Positions<'_>, v: Positions<'_>, bias: &[f32], sizes: Sizes) -> Vec<f32> {
    let Sizes { head_dim: hd, queries, keys, .. } = sizes;
    if queries < ROWS {
        return head_by_rows(b, h, q, k, v, bias, sizes);
    }
    let padded_keys = keys.next_multiple_of(LANES);
    let padded_queries = queries.next_multiple_of(ROWS);
    let scale = (hd as f32).sqrt().recip();
    // Contiguous copies: queries (pre-scaled; padding rows zero), keys transposed (`[hd, keys]`, so
    // a tile of scores is a sum of scaled key rows), values as rows.
    let mut qs = vec![0.0; padded_queries * hd];
    for (i, row) in qs.chunks_exact_mut(hd).take(queries).enumerate() {
        for (x, &y) in row.iter_mut().zip(q.at(b, i, h, hd)) {
            *x = y * scale;
        }
    }
    let mut kt = vec![0.0; hd * padded_keys];
    let mut vs = vec![0.0; keys * hd];
    for j in 0..keys {
        for (c, &y) in k.at(b, j, h, hd).iter().enumerate() {
            kt[c * padded_keys + j] = y;
        }
        vs[j * hd..(j + 1) * hd].copy_from_slice(v.at(b, j, h, hd));
    }
    let mut out = vec![0.0; padded_queries * hd];
    let mut scores = vec![0.0; ROWS * padded_keys];
    for ((q_tile, out_tile), bias_tile) in qs.chunks_exact(ROWS * hd).zip(out.chunks_exact_mut(ROWS * hd)).zip(bias.chunks_exact(ROWS * padded_keys)) {
        score_tile(q_tile, &kt, hd, padded_keys, &mut scores);
        let mut inverse_sums = [0.0; ROWS];
        for ((row, bias_row), inverse_sum) in scores.chunks_exact_mut(padded_keys).zip(bias_tile.chunks_exact(padded_keys)).zip(&mut inverse_sums) {
            *inverse_sum = softmax_numerators(row, bias_row).recip();
        }
        value_tile(&scores, &vs, keys, padded_keys, hd, &inverse_sums, out_tile);
    }
    out
}

/// The same for fewer queries than a tile (a decoding step's one): each key and value read in
/// place, since copying them per head would cost as much as using them once.
fn head_by_rows(b: usize, h: usize, q: Part<'_>, k: Positions<'_>, v: Positions<'_>, bias: &[f32], sizes: Sizes) -> Vec<f32> {
    let Sizes { head_dim: hd, queries, keys, .. } = sizes;
    let padded_keys = keys.next_multiple_of(LANES);
    let scale = (hd as f32).sqrt().recip();
    let mut out = vec![0.0; queries.next_multiple_of(ROWS) * hd];
    let mut scores = vec![0.0; padded_keys];
    for ((i, out_row), bias_row) in out.chunks_exact_mut(hd).take(queries).enumerate().zip(bias.chunks_exact(padded_keys)) {
        let query = q.at(b, i, h, hd);
        for (j, score) in scores.iter_mut().take(keys).enumerate() {
            *score = dot(query, k.at(b, j, h, hd)) * scale;
        }
        let inverse_sum = softmax_numerators(&mut scores, bias_row).recip();
        for (j, &p) in scores.iter().take(keys).enumerate() {
            for (o, &value) in out_row.iter_mut().zip(v.at(b, j, h, hd)) {
                *o += p * value;
            }
        }
        for o in out_row.iter_mut() {
            *o *= inverse_sum;
        }
    }
    out
}

/// `a · b` with LANES partial sums (the compiler keeps them in vector registers).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; LANES];
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for ((s, &x), &y) in sums.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    sums.iter().sum()
}

/// `scores[r][j] = Σ_c q[r][c] · kt[c][j]` for the tile's ROWS query rows and every key.
fn score_tile(q: &[f32], kt: &[f32], hd: usize, padded_keys: usize, scores: &mut [f32]) {
    let q_rows: [&[f32]; ROWS] = std::array::from_fn(|r| &q[r * hd..(r + 1) * hd]);
    for j0 in (0..padded_keys).step_by(LANES) {
        let acc = register_tile(q_rows, hd, |c| &kt[c * padded_keys + j0..][..LANES]);
        for (r, acc_row) in acc.iter().enumerate() {
            scores[r * padded_keys + j0..][..LANES].copy_from_slice(acc_row);
        }
    }
}
/// A row of scores → `exp(score + bias − max)` in place; returns their sum (≥ 1: the max gives 1).
fn softmax_numerators(row: &mut [f32], bias: &[f32]) -> f32 {
    let mut max = [f32::NEG_INFINITY; LANES];
    for (tile, bias) in row.chunks_exact_mut(LANES).zip(bias.chunks_exact(LANES)) {
        for ((x, &b), m) in tile.iter_mut().zip(bias).zip(&mut max) {
            *x += b;
            *m = if *x > *m { *x } else { *m };
        }
    }
    let max = max.into_iter().fold(f32::NEG_INFINITY, |a, b| if b > a { b } else { a });
    // A plain map (the loop vectoriser takes it whole), then a lane-wise sum.
    for x in row.iter_mut() {
        *x = exp(*x - max);
    }
    let mut sum = [0.0f32; LANES];
    for tile in row.chunks_exact(LANES) {
        for (x, s) in tile.iter().zip(&mut sum) {
            *s += *x;
        }
    }
    sum.iter().sum()
}

/// `out[r] = inverse_sums[r] · Σ_j p[r][j] · v[j]` for the tile's ROWS rows.
fn value_tile(p: &[f32], v: &[f32], keys: usize, padded_keys: usize, hd: usize, inverse_sums: &[f32; ROWS], out: &mut [f32]) {
    let p_rows: [&[f32]; ROWS] = std::array::from_fn(|r| &p[r * padded_keys..r * padded_keys + keys]);
    for c0 in (0..hd).step_by(LANES) {
        let acc = register_tile(p_rows, keys, |j| &v[j * hd + c0..][..LANES]);
        for (r, acc_row) in acc.iter().enumerate() {
            for (o, &x) in out[r * hd + c0..][..LANES].iter_mut().zip(acc_row) {
                *o = x * inverse_sums[r];
            }
        }
    }
}

/// The micro-kernel both products share: `acc[r][c] = Σ_t a[r][t] · b(t)[c]` over `depth` terms,
/// ROWS × LANES sums held in registers (each `a[r][t]` broadcast, each `b(t)` one LANES-wide load).
#[inline(always)]
fn register_tile<'a>(a: [&[f32]; ROWS], depth: usize, b: impl Fn(usize) -> &'a [f32]) -> [[f32; LANES]; ROWS] {
    let mut acc = [[0.0f32; LANES]; ROWS];
    for t in 0..depth {
        let b: &[f32; LANES] = b(t).try_into().expect("a whole tile");
        for (acc_row, a_row) in acc.iter_mut().zip(&a) {
            let x = a_row[t];
            for (sum, &y) in acc_row.iter_mut().zip(b) {
                *sum += x * y;
            }
        }
    }
    acc
}

/// eˣ for x ≤ 0 (a softmax argument after its max is taken off) to about 1 ulp; −∞ gives ~1e-38,
/// which no sum of the softmax can see. Cephes' `expf`, branch-free (clamp, floor, a degree-5
/// minimax polynomial on [−ln2/2, ln2/2], the power of two from the exponent bits) so that loops
/// over it vectorise.
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // A compare, not `f32::max`: wasm's vector max differs from IEEE maxNum on NaN, so the
    // compiler turns `max` into scalar code.
    let x = if x < -87.0 { -87.0 } else { x };
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.500_000_01] {
        p = p * r + c;
    }
    (p * r * r + r + 1.0) * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_reference_on_the_softmax_range() {
        let worst = (0..=87_000).map(|i| -(i as f32) / 1000.0).map(|x| ((exp(x) as f64 - (x as f64).exp()) / (x as f64).exp()).abs()).fold(0.0, f64::max);
        assert!(worst < 3e-7, "max relative error {worst:e}");
        assert!(exp(f32::NEG_INFINITY) < 1e-37 && exp(f32::NEG_INFINITY) >= 0.0);
    }

    /// The textbook computation in f64, `[batch, queries, heads·hd]`.
    fn reference(q: &[f32], k: &[f32], v: &[f32], blocked: &[bool], s: Sizes) -> Vec<f32> {
        let width = s.heads * s.head_dim;
        let mut out = vec![0.0; s.batch * s.queries * width];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..s.queries {
                    let at = |data: &[f32], n: usize, j: usize, c: usize| data[(b * n + j) * width + h * s.head_dim + c] as f64;
                    let scores: Vec<f64> = (0..s.keys)
                        .map(|j| match blocked[i * s.keys + j] {
                            true => f64::NEG_INFINITY,
                            false => (0..s.head_dim).map(|c| at(q, s.queries, i, c) * at(k, s.keys, j, c)).sum::<f64>() / (s.head_dim as f64).sqrt(),
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let weights: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let total: f64 = weights.iter().sum();
                    for c in 0..s.head_dim {
                        let y: f64 = (0..s.keys).map(|j| weights[j] * at(v, s.keys, j, c)).sum::<f64>() / total;
                        out[(b * s.queries + i) * width + h * s.head_dim + c] = y as f32;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, salt: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.37 + salt).sin() * 2.0).collect()
    }

    fn part(data: &[f32], width: usize, rows: usize) -> Part<'_> {
        Part { data, offset: 0, batch: rows * width, row: width }
    }

    #[test]
    fn matches_the_textbook_computation_with_a_mask_odd_sizes_and_a_cache() {
        // 2 items, 3 heads of 8, after 6 cached positions: 7 queries (tiles, with a partial one of
        // rows and of keys) and 3 (fewer than a tile: read row by row); a causal-like mask with one
        // key always hidden.
        for queries in [7, 3] {
            let past_len = 6;
            let keys = past_len + queries;
            let sizes = Sizes { batch: 2, heads: 3, head_dim: 8, queries, keys };
            let width = sizes.heads * sizes.head_dim;
            let (q, k, v) = (values(2 * queries * width, 0.1), values(2 * keys * width, 0.2), values(2 * keys * width, 0.3));
            let blocked: Vec<bool> = (0..queries * keys).map(|n| (n % keys > past_len + n / keys) || n % keys == 2).collect();
            let expected = reference(&q, &k, &v, &blocked, sizes);
            // Keys and values split into a cache (the first positions) and this call's rows, the
            // latter in qkv-projection layout: [batch, queries, 3·width], k and v at offsets.
            let split = |data: &[f32]| {
                let past: Vec<f32> = (0..2).flat_map(|b| data[b * keys * width..(b * keys + past_len) * width].to_vec()).collect();
                let new: Vec<f32> = (0..2).flat_map(|b| data[(b * keys + past_len) * width..(b + 1) * keys * width].to_vec()).collect();
                (past, new)
            };
            let ((k_past, k_new), (v_past, v_new)) = (split(&k), split(&v));
            let rows: Vec<f32> = (0..2 * queries).flat_map(|r| [&q[r * width..][..width], &k_new[r * width..][..width], &v_new[r * width..][..width]].concat()).collect();
            let in_rows = |offset| Part { data: &rows, offset, batch: queries * 3 * width, row: 3 * width };
            let key_parts = Positions { past: Some((part(&k_past, width, past_len), past_len)), new: in_rows(width) };
            let value_parts = Positions { past: Some((part(&v_past, width, past_len), past_len)), new: in_rows(2 * width) };
            let got = attend(in_rows(0), key_parts, value_parts, &blocked, sizes);
            let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst < 2e-6, "{queries} queries: max |fused - reference| = {worst:e}");
        }
    }

    #[test]
    fn a_single_query_decoding_step_sees_every_key() {
        let sizes = Sizes { batch: 1, heads: 2, head_dim: 16, queries: 1, keys: 40 };
        let (q, k, v) = (values(32, 0.5), values(40 * 32, 0.6), values(40 * 32, 0.7));
        let blocked = vec![false; 40];
        let got = attend(part(&q, 32, 1), Positions { past: None, new: part(&k, 32, 40) }, Positions { past: None, new: part(&v, 32, 40) }, &blocked, sizes);
        let expected = reference(&q, &k, &v, &blocked, sizes);
        let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 2e-6, "{worst:e}");
    }
}
