//! The slot head's fixed operations (no parameters) on host frames of values in [0, 1]: crops,
//! alignment by template matching, ink centres, pasting. Corners are whole pixels, so every crop
//! and paste is an exact copy and these are plain loops over at most a few hundred 28×28 windows.
//! The twin of the functions of the same names in `scripts/trainer/slots.py` (which writes the
//! same copies as bilinear sampling at integer places); rounding is half-to-even, as PyTorch's.

/// The world's glyph box.
pub const SIDE: usize = 28;
/// A glyph's centre from its top-left corner, in pixel indices.
pub const HALF: f32 = (SIDE as f32 - 1.0) / 2.0;
/// How far [`align`] looks around each coarse corner, and how often it refines.
const RADIUS: i32 = 4;
const ROUNDS: usize = 3;

/// `count` square frames of `size`×`size` values, frame-major.
#[derive(Clone, Copy)]
pub struct Frames<'a> {
    pub values: &'a [f32],
    pub count: usize,
    pub size: usize,
}

impl Frames<'_> {
    fn frame(&self, t: usize) -> &[f32] {
        let plane = self.size * self.size;
        &self.values[t * plane..(t + 1) * plane]
    }

    /// The 28×28 window whose top-left corner is `at` (may lie partly outside: zeros there).
    pub fn crop(&self, t: usize, at: [i32; 2]) -> Vec<f32> {
        let frame = self.frame(t);
        let mut out = vec![0.0; SIDE * SIDE];
        for_each_overlap(self.size, at, |pixel, inside| out[inside] = frame[pixel]);
        out
    }
}

/// Calls `visit(frame pixel, window pixel)` for every pixel a 28×28 window with its top-left
/// corner at `at` shares with a `size`×`size` frame (row-major indices).
fn for_each_overlap(size: usize, at: [i32; 2], mut visit: impl FnMut(usize, usize)) {
    let size = size as i32;
    for v in 0..SIDE as i32 {
        let y = at[1] + v;
        if !(0..size).contains(&y) {
            continue;
        }
        for u in 0..SIDE as i32 {
            let x = at[0] + u;
            if (0..size).contains(&x) {
                visit((y * size + x) as usize, (v * SIDE as i32 + u) as usize);
            }
        }
    }
}

/// The ink's centre of mass `[x, y]` in crop pixels.
pub fn ink_centre(glyph: &[f32]) -> [f32; 2] {
    let (mut ink, mut sx, mut sy) = (0.0f32, 0.0f32, 0.0f32);
    for (i, &g) in glyph.iter().enumerate() {
        ink += g;
        sx += g * (i % SIDE) as f32;
        sy += g * (i / SIDE) as f32;
    }
    let ink = ink.max(1e-6);
    [sx / ink, sy / ink]
}

/// Per-pixel minimum over crops: a slot's glyph (the other digit rarely covers the same pixel in
/// every frame).
pub fn pixel_min(crops: &[Vec<f32>]) -> Vec<f32> {
    (0..SIDE * SIDE).map(|i| crops.iter().map(|c| c[i]).fold(f32::INFINITY, f32::min)).collect()
}

/// Per-pixel lower median over crops (PyTorch's `median`).
fn pixel_median(crops: &[Vec<f32>]) -> Vec<f32> {
    let mut column = vec![0.0; crops.len()];
    (0..SIDE * SIDE)
        .map(|i| {
            for (slot, c) in column.iter_mut().zip(crops) {
                *slot = c[i];
            }
            column.sort_by(f32::total_cmp);
            column[(crops.len() - 1) / 2]
        })
        .collect()
}

/// Coarse corners (`[slot][frame]`, px) → whole-pixel corners. Each frame's crop is matched first
/// to the middle frame's (squared difference), which fixes the places relative to each other, then
/// twice to the slot's glyph (the median of its aligned crops) counting only missing ink (the
/// other digit only adds ink); ties go to the first offset, y then x from −4. Last, the whole path
/// moves so the glyph's ink is centred in its box, as MNIST centres every digit: ink alone cannot
/// say where a box is, and the box is what the walls bounce.
pub fn align(frames: Frames<'_>, coarse: &[Vec<[f32; 2]>]) -> Vec<Vec<[i32; 2]>> {
    let wall = (frames.size - SIDE) as i32;
    let snap = |v: f32| (v.round_ties_even() as i32).clamp(0, wall);
    let mut at: Vec<Vec<[i32; 2]>> = coarse.iter().map(|path| path.iter().map(|p| [snap(p[0]), snap(p[1])]).collect()).collect();
    for round in 0..ROUNDS {
        for path in &mut at {
            let crops: Vec<Vec<f32>> = path.iter().enumerate().map(|(t, &c)| frames.crop(t, c)).collect();
            let reference = if round == 0 { crops[path.len() / 2].clone() } else { pixel_median(&crops) };
            for (t, corner) in path.iter_mut().enumerate() {
                let mut best = (f32::INFINITY, *corner);
                for dy in -RADIUS..=RADIUS {
                    for dx in -RADIUS..=RADIUS {
                        let tried = [(corner[0] + dx).clamp(0, wall), (corner[1] + dy).clamp(0, wall)];
                        let seen = frames.crop(t, tried);
                        let score: f32 = reference
                            .iter()
                            .zip(&seen)
                            .map(|(&g, &s)| {
                                let missing = (g - s).max(0.0).powi(2);
                                if round == 0 { missing + (s - g).max(0.0).powi(2) } else { missing }
                            })
                            .sum();
                        if score < best.0 {
                            best = (score, tried);
                        }
                    }
                }
                *corner = best.1;
            }
        }
    }
    for path in &mut at {
        let crops: Vec<Vec<f32>> = path.iter().enumerate().map(|(t, &c)| frames.crop(t, c)).collect();
        let centre = ink_centre(&pixel_min(&crops));
        let shift = centre.map(|c| (c - HALF).round_ties_even() as i32);
        for corner in path.iter_mut() {
            *corner = [corner[0] + shift[0], corner[1] + shift[1]];
        }
    }
    at
}

/// Adds `weight × glyph` with its top-left corner at `at` into a `size`×`size` frame (clipped).
pub fn paste_add(frame: &mut [f32], size: usize, glyph: &[f32], at: [i32; 2], weight: f32) {
    for_each_overlap(size, at, |pixel, inside| frame[pixel] += weight * glyph[inside]);
}

/// Draws `glyph` over `frame` at `at` by pixel-wise maximum: how the world combines overlapping
/// digits.
pub fn paste_max(frame: &mut [f32], size: usize, glyph: &[f32], at: [i32; 2]) {
    for_each_overlap(size, at, |pixel, inside| {
        if glyph[inside] > frame[pixel] {
            frame[pixel] = glyph[inside];
        }
    });
}

/// A slot's glyph at a rounded corner moved by every offset −R..R per axis, weighted by the offset
/// probabilities `[x probs, y probs]`: the slot's expected frame under the dynamics' uncertainty.
pub fn expected_frame(size: usize, glyph: &[f32], at: [i32; 2], probs: [&[f32]; 2]) -> Vec<f32> {
    let reach = (probs[0].len() / 2) as i32;
    let mut frame = vec![0.0; size * size];
    for (oy, &py) in probs[1].iter().enumerate() {
        for (ox, &px) in probs[0].iter().enumerate() {
            let moved = [at[0] + ox as i32 - reach, at[1] + oy as i32 - reach];
            paste_add(&mut frame, size, glyph, moved, py * px);
        }
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two glyph-like blobs moving in straight lines; frames are their maximum, as in the world.
    fn scene(size: usize, count: usize, paths: &[([i32; 2], [i32; 2])]) -> (Vec<f32>, Vec<f32>) {
        let glyph: Vec<f32> = (0..SIDE * SIDE)
            .map(|i| {
                let (x, y) = ((i % SIDE) as f32 - HALF, (i / SIDE) as f32 - HALF);
                if (x * x + y * y).sqrt() < 9.0 && (x + 2.0 * y).abs() > 3.0 { 1.0 } else { 0.0 }
            })
            .collect();
        let mut values = vec![0.0f32; count * size * size];
        for (t, frame) in values.chunks_mut(size * size).enumerate() {
            for &(start, velocity) in paths {
                let mut one = vec![0.0f32; size * size];
                paste_add(&mut one, size, &glyph, [start[0] + velocity[0] * t as i32, start[1] + velocity[1] * t as i32], 1.0);
                for (f, o) in frame.iter_mut().zip(one) {
                    *f = (*f).max(o);
                }
            }
        }
        (values, glyph)
    }

    #[test]
    fn align_recovers_whole_pixel_corners_from_coarse_ones() {
        // one along the top, one along the bottom (frames 1 px from the walls at their ends)
        let paths = [([2, 2], [3, 1]), ([33, 34], [-3, 0])];
        let (values, _) = scene(64, 10, &paths);
        let frames = Frames { values: &values, count: 10, size: 64 };
        // the blob's ink is centred in its box, so the aligned corner is the true one
        let coarse: Vec<Vec<[f32; 2]>> = paths
            .iter()
            .map(|&(s, v)| (0..10).map(|t| [(s[0] + v[0] * t) as f32 + 1.6, (s[1] + v[1] * t) as f32 - 2.3]).collect())
            .collect();
        let aligned = align(frames, &coarse);
        for (path, &(s, v)) in aligned.iter().zip(&paths) {
            for (t, corner) in path.iter().enumerate() {
                assert_eq!(*corner, [s[0] + v[0] * t as i32, s[1] + v[1] * t as i32], "frame {t}");
            }
        }
    }

    #[test]
    fn an_expected_frame_is_the_weighted_sum_of_moved_glyphs() {
        let (_, glyph) = scene(64, 1, &[]);
        let sure = [0.0, 0.0, 1.0, 0.0, 0.0];
        let mut sharp = vec![0.0; 64 * 64];
        paste_add(&mut sharp, 64, &glyph, [10, 20], 1.0);
        assert_eq!(expected_frame(64, &glyph, [10, 20], [&sure, &sure]), sharp);
        let split = [0.0, 0.5, 0.5, 0.0, 0.0];
        let mean = expected_frame(64, &glyph, [10, 20], [&split, &sure]);
        let mut left = vec![0.0; 64 * 64];
        paste_add(&mut left, 64, &glyph, [9, 20], 1.0);
        for ((m, a), b) in mean.iter().zip(&sharp).zip(&left) {
            assert!((m - 0.5 * (a + b)).abs() < 1e-6);
        }
        let total: f32 = mean.iter().sum();
        assert!((total - glyph.iter().sum::<f32>()).abs() < 1e-3, "ink is conserved inside the frame");
    }
}
