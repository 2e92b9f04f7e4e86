//! Non-learned tracking: per-frame weighted k-means on ink pixels, anchored at the frame where the
//! digits are furthest apart and propagated both ways, then a fit of the Moving MNIST physics
//! (8 compass directions × start positions, clamp-and-reflect) to each track.

use crate::data::{Clip, Motion, DIGIT_SIDE};

/// Centres closer than this (px) mean the digits overlap: such frames are not used for motion.
/// (k-means centres stay within ~1 px of the true ink centres down to ~15 px apart.)
const CLEAN_SEPARATION: f32 = 18.0;
/// Crops for reading a digit need more room: the other digit's ink is blanked, not removed.
pub const CROP_SEPARATION: f32 = 22.0;
pub(crate) const INK: u8 = 32;

#[derive(Clone, Debug)]
pub struct Track {
    /// Ink centre (x, y) per frame.
    pub centres: Vec<(f32, f32)>,
    /// Frames where this digit is well apart from every other.
    pub clean: Vec<bool>,
}

/// Lloyd iterations of intensity-weighted k-means from `init`.
fn kmeans(frame: &[u8], width: usize, init: &[(f32, f32)], iterations: usize) -> Vec<(f32, f32)> {
    let mut centres = init.to_vec();
    for _ in 0..iterations {
        let mut sums = vec![(0.0f32, 0.0f32, 0.0f32); centres.len()];
        for (i, &v) in frame.iter().enumerate() {
            if v < INK {
                continue;
            }
            let (x, y) = ((i % width) as f32, (i / width) as f32);
            let k = nearest(&centres, (x, y));
            let w = v as f32;
            sums[k] = (sums[k].0 + w * x, sums[k].1 + w * y, sums[k].2 + w);
        }
        for (c, s) in centres.iter_mut().zip(&sums) {
            if s.2 > 0.0 {
                *c = (s.0 / s.2, s.1 / s.2);
            }
        }
    }
    centres
}

pub fn nearest(centres: &[(f32, f32)], p: (f32, f32)) -> usize {
    let d = |c: &(f32, f32)| (c.0 - p.0).powi(2) + (c.1 - p.1).powi(2);
    (0..centres.len()).min_by(|&a, &b| d(&centres[a]).total_cmp(&d(&centres[b]))).unwrap_or(0)
}

/// Farthest-point initialisation: deterministic and good for well-separated blobs.
fn spread_init(frame: &[u8], width: usize, k: usize) -> Vec<(f32, f32)> {
    let ink: Vec<(f32, f32)> = frame
        .iter()
        .enumerate()
        .filter(|(_, &v)| v >= INK)
        .map(|(i, _)| ((i % width) as f32, (i / width) as f32))
        .collect();
    let Some(&first) = ink.first() else { return vec![(width as f32 / 2.0, width as f32 / 2.0); k] };
    let mean = ink.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
    let mean = (mean.0 / ink.len() as f32, mean.1 / ink.len() as f32);
    let mut centres = vec![if k == 1 { mean } else { first }];
    while centres.len() < k {
        let far = ink
            .iter()
            .max_by(|a, b| {
                let da = centres.iter().map(|c| (c.0 - a.0).powi(2) + (c.1 - a.1).powi(2)).fold(f32::MAX, f32::min);
                let db = centres.iter().map(|c| (c.0 - b.0).powi(2) + (c.1 - b.1).powi(2)).fold(f32::MAX, f32::min);
                da.total_cmp(&db)
            })
            .copied()
            .unwrap_or(mean);
        centres.push(far);
    }
    centres
}

pub fn separation(centres: &[(f32, f32)]) -> f32 {
    let mut best = f32::MAX;
    for i in 0..centres.len() {
        for j in i + 1..centres.len() {
            best = best.min(((centres[i].0 - centres[j].0).powi(2) + (centres[i].1 - centres[j].1).powi(2)).sqrt());
        }
    }
    best
}

/// Follows `k` digits through the clip. Within a run of clean frames identities follow the nearest
/// centre; across an overlap they are linked by whichever pairing the bounce physics explains best.
pub fn track(clip: &Clip, k: usize, speed: f32) -> Vec<Track> {
    let frames = clip.frames;
    let independent: Vec<Vec<(f32, f32)>> =
        (0..frames).map(|f| kmeans(clip.frame(f), clip.width, &spread_init(clip.frame(f), clip.width, k), 10)).collect();
    let anchor = (0..frames).max_by(|&a, &b| separation(&independent[a]).total_cmp(&separation(&independent[b]))).unwrap_or(0);
    let mut per_frame = vec![Vec::new(); frames];
    per_frame[anchor] = independent[anchor].clone();
    for f in anchor + 1..frames {
        per_frame[f] = kmeans(clip.frame(f), clip.width, &per_frame[f - 1], 6);
    }
    for f in (0..anchor).rev() {
        per_frame[f] = kmeans(clip.frame(f), clip.width, &per_frame[f + 1], 6);
    }
    let clean: Vec<bool> = per_frame.iter().map(|c| k == 1 || separation(c) >= CLEAN_SEPARATION).collect();
    let segments = clean_runs(&clean);
    let build = |orders: &[Vec<usize>]| -> Vec<Track> {
        (0..k)
            .map(|i| {
                let mut centres = per_frame.iter().map(|c| c[i]).collect::<Vec<_>>();
                for (segment, order) in segments.iter().zip(orders) {
                    for f in segment.clone() {
                        centres[f] = per_frame[f][order[i]];
                    }
                }
                Track { centres, clean: clean.clone() }
            })
            .collect()
    };
    // Try every relabelling of every run after the first (k ≤ 3, a handful of runs).
    let identity: Vec<usize> = (0..k).collect();
    let mut best = (f32::MAX, vec![identity.clone(); segments.len()]);
    let perms = all_permutations(k);
    let combos = perms.len().pow(segments.len().saturating_sub(1) as u32).min(4096);
    for code in 0..combos {
        let mut orders = vec![identity.clone()];
        let mut rest = code;
        for _ in 1..segments.len() {
            orders.push(perms[rest % perms.len()].clone());
            rest /= perms.len();
        }
        let tracks = build(&orders);
        let error: f32 = tracks.iter().map(|t| fit_motion(t, clip.width, speed).map_or(1e6, |f| f.1)).sum();
        if error < best.0 {
            best = (error, orders);
        }
    }
    build(&best.1)
}

/// Maximal runs of consecutive clean frames.
fn clean_runs(clean: &[bool]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for (f, &c) in clean.iter().chain(std::iter::once(&false)).enumerate() {
        match (c, start) {
            (true, None) => start = Some(f),
            (false, Some(s)) => {
                runs.push(s..f);
                start = None;
            }
            _ => {}
        }
    }
    runs
}

pub(crate) fn all_permutations(n: usize) -> Vec<Vec<usize>> {
    fn go(items: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
        if k == items.len() {
            out.push(items.clone());
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            go(items, k + 1, out);
            items.swap(k, i);
        }
    }
    let mut out = Vec::new();
    go(&mut (0..n).collect(), 0, &mut out);
    out
}

/// The 28×28 crop centred on `centre`, with ink nearer another centre blanked out.
pub fn crop(frame: &[u8], width: usize, centres: &[(f32, f32)], which: usize) -> [u8; DIGIT_SIDE * DIGIT_SIDE] {
    let mut out = [0u8; DIGIT_SIDE * DIGIT_SIDE];
    let height = frame.len() / width;
    let (cx, cy) = centres[which];
    let (left, top) = ((cx - 13.5).round() as i64, (cy - 13.5).round() as i64);
    for r in 0..DIGIT_SIDE as i64 {
        for c in 0..DIGIT_SIDE as i64 {
            let (x, y) = (left + c, top + r);
            if x < 0 || y < 0 || x >= width as i64 || y >= height as i64 {
                continue;
            }
            let v = frame[y as usize * width + x as usize];
            if v >= INK && nearest(centres, (x as f32, y as f32)) != which {
                continue;
            }
            out[(r * DIGIT_SIDE as i64 + c) as usize] = v;
        }
    }
    out
}

/// Fits clamp-and-reflect motion to one axis: the best sum of squared residuals over start
/// positions (in the unit range) with a free constant offset between top-left and ink centre.
fn fit_axis(observed: &[(usize, f32)], velocity: f32, range: f32) -> f32 {
    let mut best = f32::MAX;
    for start in 0..=144 {
        let mut position = start as f32 / 144.0;
        let mut v = velocity;
        let mut path = Vec::with_capacity(32);
        let last = observed.last().map_or(0, |o| o.0);
        // Frame 0 is the start; `velocity` is the one it sets off with (the world's label).
        for _ in 0..=last {
            path.push(position * range);
            let next = position + v;
            (position, v) = if next < 0.0 { (0.0, -v) } else if next > 1.0 { (1.0, -v) } else { (next, v) };
        }
        let residuals: Vec<f32> = observed.iter().map(|&(f, o)| o - path[f]).collect();
        let offset = (residuals.iter().sum::<f32>() / residuals.len() as f32).clamp(10.0, 18.0);
        best = best.min(residuals.iter().map(|r| (r - offset).powi(2)).sum());
    }
    best
}

/// The compass direction whose trajectory best explains the track's clean frames, with the
/// mean squared residual (px²) of that fit; `None` without enough clean frames.
pub fn fit_motion(track: &Track, canvas: usize, speed: f32) -> Option<(Motion, f32)> {
    // Digits that travel together never separate: then every frame's (rougher) centre is used.
    let enough = track.clean.iter().filter(|&&c| c).count() >= 3;
    let used = |f: &usize| !enough || track.clean[*f];
    let xs: Vec<(usize, f32)> = track.centres.iter().enumerate().filter(|(f, _)| used(f)).map(|(f, c)| (f, c.0)).collect();
    let ys: Vec<(usize, f32)> = track.centres.iter().enumerate().filter(|(f, _)| used(f)).map(|(f, c)| (f, c.1)).collect();
    if xs.len() < 3 {
        return None;
    }
    let range = (canvas - DIGIT_SIDE) as f32;
    Motion::ALL
        .iter()
        .map(|&m| {
            let theta = (m.id() as f32 * 45.0).to_radians();
            let error = fit_axis(&xs, theta.cos() * speed, range) + fit_axis(&ys, -theta.sin() * speed, range);
            (m, error / xs.len() as f32)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
}
