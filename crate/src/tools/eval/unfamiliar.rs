//! Clips that are not moving digits, seeded: what the out-of-domain flag must catch (`univid eval`'s
//! `domain` section measures it on each kind; the bad-input tests use them too). Generated at the
//! size a camera or a file would give and resampled as real input is (`Clip::resized`).

use crate::data::Clip;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Every pixel uniform in 0–255, new each frame.
    UniformNoise,
    /// Gaussian noise around a random grey.
    GreyNoise,
    /// Black with a few per cent of white specks.
    Specks,
    /// A smooth scene (gradient, soft blobs, hard-edged boxes, sensor noise) that the camera pans.
    CameraPan,
    /// The same scene at night: dark, with a few bright lamps.
    DarkCameraPan,
    /// White discs and boxes moving on black: the world's look without its digits.
    MovingShapes,
}

impl Kind {
    pub const ALL: [Kind; 6] = [Kind::UniformNoise, Kind::GreyNoise, Kind::Specks, Kind::CameraPan, Kind::DarkCameraPan, Kind::MovingShapes];
}

/// Frame sizes (height, width) the clips are made at, cycled by index.
const SIZES: [(usize, usize); 3] = [(64, 64), (48, 80), (120, 160)];

/// The `index`-th clip of `kind`, `frames` frames, resampled to `side × side`.
pub fn clip(kind: Kind, seed: u64, index: u64, frames: usize, side: usize) -> Clip {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (index << 8) ^ kind as u64);
    let (h, w) = SIZES[index as usize % SIZES.len()];
    let mut pixels = Vec::with_capacity(frames * h * w);
    match kind {
        Kind::UniformNoise => pixels.extend((0..frames * h * w).map(|_| rng.random::<u8>())),
        Kind::GreyNoise => {
            let mean = rng.random_range(60.0..200.0);
            pixels.extend((0..frames * h * w).map(|_| (mean + 30.0 * normal(&mut rng)).clamp(0.0, 255.0) as u8));
        }
        Kind::Specks => {
            let share = rng.random_range(0.01..0.06);
            pixels.extend((0..frames * h * w).map(|_| if rng.random_bool(share) { 255 } else { 0 }));
        }
        Kind::CameraPan | Kind::DarkCameraPan => {
            let scene = Scene::new(&mut rng, kind == Kind::DarkCameraPan);
            let (vx, vy) = (rng.random_range(-2.0..2.0), rng.random_range(-1.0..1.0));
            for f in 0..frames {
                for y in 0..h {
                    for x in 0..w {
                        let (sx, sy) = ((x as f32 + vx * f as f32) / w as f32, (y as f32 + vy * f as f32) / h as f32);
                        pixels.push((scene.at(sx, sy) + 6.0 * normal(&mut rng)).clamp(0.0, 255.0) as u8);
                    }
                }
            }
        }
        Kind::MovingShapes => {
            let shapes: Vec<[f32; 6]> = (0..rng.random_range(1..=3))
                .map(|_| {
                    let r = rng.random_range(0.08..0.2);
                    [rng.random_range(r..1.0 - r), rng.random_range(r..1.0 - r), r, rng.random_range(-0.03..0.03), rng.random_range(-0.03..0.03), rng.random_range(0..2) as f32]
                })
                .collect();
            for f in 0..frames {
                for y in 0..h {
                    for x in 0..w {
                        let (px, py) = (x as f32 / w as f32, y as f32 / h as f32);
                        let lit = shapes.iter().any(|&[cx, cy, r, vx, vy, square]| {
                            let (dx, dy) = (px - bounce(cx + vx * f as f32, r), py - bounce(cy + vy * f as f32, r));
                            if square > 0.5 { dx.abs() < r && dy.abs() < r } else { dx * dx + dy * dy < r * r }
                        });
                        pixels.push(if lit { 255 } else { 0 });
                    }
                }
            }
        }
    }
    Clip::new(frames, h, w, pixels).expect("sizes match").resized(frames, side, side).expect("a valid size")
}

/// A position in [r, 1 − r] bouncing off the walls.
fn bounce(p: f32, r: f32) -> f32 {
    let span = 1.0 - 2.0 * r;
    let t = (p - r).rem_euclid(2.0 * span);
    r + if t > span { 2.0 * span - t } else { t }
}

fn normal(rng: &mut ChaCha8Rng) -> f32 {
    // Box–Muller: enough for noise.
    let (u, v) = (rng.random::<f32>().max(1e-7), rng.random::<f32>());
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// A room-like scene on the unit square (extended by mirroring): a lit gradient, soft light
/// blobs and hard-edged boxes (furniture, frames); at night dark, with a few small bright lamps.
struct Scene {
    base: f32,
    gradient: (f32, f32),
    blobs: Vec<(f32, f32, f32, f32)>,
    boxes: Vec<(f32, f32, f32, f32, f32)>,
}

impl Scene {
    fn new(rng: &mut ChaCha8Rng, night: bool) -> Self {
        let scale = if night { 0.25 } else { 1.0 };
        let blobs = (0..if night { 3 } else { 6 })
            .map(|_| {
                let (size, light) = if night { (rng.random_range(0.02..0.06), 255.0) } else { (rng.random_range(0.1..0.4), rng.random_range(-80.0..80.0)) };
                (rng.random::<f32>(), rng.random::<f32>(), size, light)
            })
            .collect();
        let boxes = (0..4)
            .map(|_| (rng.random::<f32>(), rng.random::<f32>(), rng.random_range(0.05..0.3), rng.random_range(0.05..0.3), rng.random_range(-60.0..60.0) * scale))
            .collect();
        Scene { base: rng.random_range(70.0..180.0) * scale, gradient: (rng.random_range(-60.0..60.0) * scale, rng.random_range(-60.0..60.0) * scale), blobs, boxes }
    }

    fn at(&self, x: f32, y: f32) -> f32 {
        let mut v = self.base + self.gradient.0 * x + self.gradient.1 * y;
        for &(bx, by, s, light) in &self.blobs {
            v += light * (-((x - bx).powi(2) + (y - by).powi(2)) / (2.0 * s * s)).exp();
        }
        for &(bx, by, bw, bh, light) in &self.boxes {
            if (x - bx).abs() < bw && (y - by).abs() < bh {
                v += light;
            }
        }
        v
    }
}
