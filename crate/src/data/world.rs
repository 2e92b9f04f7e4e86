//! Moving MNIST geometry (Srivastava et al. 2015): 28×28 digits bounce inside a 64×64 canvas.
//!
//! A digit's top-left corner lives in the unit square scaled to the 36-px free range; each frame it
//! first moves by its velocity (speed 0.1 of the range = 3.6 px/frame), then a wall clamps the
//! position and reflects that velocity component; frame `i` shows the position after `i + 1`
//! steps, as in the reference generator. Overlapping digits combine by pixel-wise max.
//!
//! Motion labels: the *initial* direction of travel as seen from frame 0 to frame 1, drawn
//! exactly from the 8 compass points (not a quantised continuous angle, whose labels near sector
//! borders are ambiguous); a bounce in the unshown first step is already applied. Digits bounce,
//! so "moves left" means "sets off to the left". The continuous-angle generator is kept for the
//! 10→10 continuation benchmark so its numbers compare with published ones.

use super::clip::Clip;
use super::digits::{Digits, Split, DIGIT_SIDE};
use super::error::{DataError, Result};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Most digits a clip holds, so a caption names (and "how many" counts up to "three").
pub const MAX_DIGITS: usize = 3;

/// The eight compass directions, counter-clockwise from "right" (ids 0–7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Motion {
    Right,
    UpRight,
    Up,
    UpLeft,
    Left,
    DownLeft,
    Down,
    DownRight,
}

impl Motion {
    pub const ALL: [Motion; 8] = [
        Motion::Right, Motion::UpRight, Motion::Up, Motion::UpLeft,
        Motion::Left, Motion::DownLeft, Motion::Down, Motion::DownRight,
    ];

    pub fn id(self) -> usize {
        self as usize
    }

    pub fn from_id(id: usize) -> Option<Self> {
        Self::ALL.get(id).copied()
    }

    /// The compass point nearest to `degrees` (counter-clockwise from right, y up).
    pub fn nearest(degrees: f32) -> Self {
        let sector = (degrees.rem_euclid(360.0) / 45.0).round() as usize % 8;
        Self::ALL[sector]
    }
}

/// Quadrant of the canvas a digit's centre is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Place {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

impl Place {
    pub const ALL: [Place; 4] = [Place::TopLeft, Place::TopRight, Place::BottomLeft, Place::BottomRight];

    pub fn of_centre(x: f32, y: f32, side: f32) -> Self {
        match (y < side / 2.0, x < side / 2.0) {
            (true, true) => Place::TopLeft,
            (true, false) => Place::TopRight,
            (false, true) => Place::BottomLeft,
            (false, false) => Place::BottomRight,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MotionSampling {
    /// Initial direction exactly one of the 8 compass points (captioned clips).
    Compass,
    /// Initial direction uniform in [0, 2π) (the standard benchmark generator).
    Continuous,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorldConfig {
    pub frames: usize,
    pub size: usize,
    pub min_digits: usize,
    pub max_digits: usize,
    /// Step length as a fraction of the free range per frame (0.1 in the standard data).
    pub speed: f32,
    pub motion: MotionSampling,
}

impl WorldConfig {
    /// The standard geometry every reported metric uses: 20 frames, 64×64, two digits.
    pub fn standard() -> Self {
        Self { frames: 20, size: 64, min_digits: 2, max_digits: 2, speed: 0.1, motion: MotionSampling::Compass }
    }

    /// What the model trains on: one or two digits, so it also learns single-digit scenes.
    pub fn training() -> Self {
        Self { min_digits: 1, ..Self::standard() }
    }

    /// The 10→10 continuation benchmark: continuous directions, as published.
    pub fn benchmark() -> Self {
        Self { motion: MotionSampling::Continuous, ..Self::standard() }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(DataError::Config(msg));
        if self.size < DIGIT_SIDE {
            return bad(format!("size {} is smaller than a digit ({DIGIT_SIDE})", self.size));
        }
        if self.frames == 0 || self.frames > 1000 {
            return bad(format!("frames must be 1..=1000, got {}", self.frames));
        }
        if self.min_digits == 0 || self.min_digits > self.max_digits || self.max_digits > MAX_DIGITS {
            return bad(format!("digits must satisfy 1 <= min <= max <= {MAX_DIGITS}, got {}..={}", self.min_digits, self.max_digits));
        }
        if !(self.speed.is_finite() && self.speed >= 0.0 && self.speed <= 1.0) {
            return bad(format!("speed must be in [0, 1], got {}", self.speed));
        }
        Ok(())
    }
}

/// What is true of one digit in a clip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigitTruth {
    pub digit: u8,
    /// Index of the MNIST image within its class and split.
    pub image: usize,
    /// Initial direction; with continuous sampling, the nearest compass point.
    pub motion: Motion,
    /// Initial direction in degrees, counter-clockwise from "right", y up.
    pub angle_degrees: f32,
    /// Top-left corner (x, y) in pixels, one per frame.
    pub trajectory: Vec<(f32, f32)>,
    pub start: Place,
    pub end: Place,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub split: Split,
    pub seed: u64,
    pub index: u64,
    /// Sorted by digit value, so the caption is a function of the set.
    pub digits: Vec<DigitTruth>,
}

impl Truth {
    pub fn find(&self, digit: u8) -> Option<&DigitTruth> {
        self.digits.iter().find(|d| d.digit == digit)
    }
}

pub struct World {
    pub config: WorldConfig,
    digits: Digits,
}

impl World {
    pub fn new(config: WorldConfig, digits: Digits) -> Result<Self> {
        config.validate()?;
        let splits = match digits.held_split() {
            Some(split) => vec![split],
            None => vec![Split::Train, Split::Validation, Split::Test],
        };
        for class in 0..10 {
            for &split in &splits {
                if digits.count(class, split) == 0 {
                    return Err(DataError::Config(format!("no images of digit {class} in {split:?}")));
                }
            }
        }
        Ok(Self { config, digits })
    }

    pub fn digits(&self) -> &Digits {
        &self.digits
    }

    /// Clip number `index` of the stream `(split, seed)`: a pure function of its arguments.
    pub fn clip(&self, split: Split, seed: u64, index: u64) -> (Clip, Truth) {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, split as u64, index));
        let count = rng.random_range(self.config.min_digits..=self.config.max_digits);
        let mut classes: Vec<u8> = sample(&mut rng, 10, count).into_iter().map(|c| c as u8).collect();
        classes.sort_unstable();
        let digits = classes.into_iter().map(|d| self.sample_digit(&mut rng, split, d)).collect();
        let truth = Truth { split, seed, index, digits };
        (self.render(&truth, split), truth)
    }

    fn sample_digit(&self, rng: &mut ChaCha8Rng, split: Split, digit: u8) -> DigitTruth {
        let image = rng.random_range(0..self.digits.count(digit as usize, split));
        let (mut x, mut y) = (rng.random::<f32>(), rng.random::<f32>());
        let angle = match self.config.motion {
            MotionSampling::Compass => rng.random_range(0..8) as f32 * 45.0,
            MotionSampling::Continuous => rng.random::<f32>() * 360.0,
        };
        let theta = angle.to_radians();
        // Image y grows downwards, so "up" is a negative y velocity.
        let (mut vx, mut vy) = (theta.cos() * self.config.speed, -theta.sin() * self.config.speed);
        let range = (self.config.size - DIGIT_SIDE) as f32;
        let mut trajectory = Vec::with_capacity(self.config.frames);
        let mut seen_angle = angle;
        for f in 0..self.config.frames {
            (x, vx) = step(x, vx);
            (y, vy) = step(y, vy);
            trajectory.push((x * range, y * range));
            if f == 0 {
                // The label is the direction the digit is *seen* to set off in: when the unshown
                // first step already hit a wall, the drawn direction is invisible (a digit on the
                // left wall looks the same whether it was heading left or right).
                seen_angle = (-vy).atan2(vx).to_degrees().rem_euclid(360.0);
            }
        }
        let side = self.config.size as f32;
        let place = |(px, py): (f32, f32)| Place::of_centre(px + 14.0, py + 14.0, side);
        DigitTruth {
            digit,
            image,
            motion: Motion::nearest(seen_angle),
            angle_degrees: seen_angle,
            start: place(trajectory[0]),
            end: place(*trajectory.last().expect("frames > 0")),
            trajectory,
        }
    }

    /// Pastes each digit at its rounded position, combining overlaps with max.
    pub fn render(&self, truth: &Truth, split: Split) -> Clip {
        let (size, frames) = (self.config.size, self.config.frames);
        let mut clip = Clip::black(frames, size, size);
        for d in &truth.digits {
            let bitmap = self.digits.image(d.digit as usize, split, d.image);
            for (f, &(x, y)) in d.trajectory.iter().enumerate() {
                let (left, top) = (x.round() as usize, y.round() as usize);
                let frame = clip.frame_mut(f);
                for row in 0..DIGIT_SIDE {
                    let out = &mut frame[(top + row) * size + left..][..DIGIT_SIDE];
                    let ink = &bitmap[row * DIGIT_SIDE..][..DIGIT_SIDE];
                    for (o, &i) in out.iter_mut().zip(ink) {
                        *o = (*o).max(i);
                    }
                }
            }
        }
        clip
    }
}

/// One coordinate's move with a bounce: clamp to the wall, then reflect.
fn step(position: f32, velocity: f32) -> (f32, f32) {
    let next = position + velocity;
    if next < 0.0 {
        (0.0, -velocity)
    } else if next > 1.0 {
        (1.0, -velocity)
    } else {
        (next, velocity)
    }
}

/// SplitMix64 over (seed, split, index): independent, well-spread stream seeds.
fn mix(seed: u64, split: u64, index: u64) -> u64 {
    let mut z = seed ^ split.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Synthetic digits (a filled square of value 10 + class) so tests need no npm package.
    pub fn synthetic_digits() -> Digits {
        let mut bytes = vec![0u8];
        for class in 0..10u8 {
            bytes.extend_from_slice(&20u16.to_le_bytes());
            for _ in 0..20 {
                bytes.extend((0..DIGIT_SIDE * DIGIT_SIDE).map(|i| {
                    let (r, c) = (i / DIGIT_SIDE, i % DIGIT_SIDE);
                    if (6..22).contains(&r) && (6..22).contains(&c) { 10 + class } else { 0 }
                }));
            }
        }
        Digits::from_bytes(&bytes).unwrap()
    }

    pub fn world(config: WorldConfig) -> World {
        World::new(config, synthetic_digits()).unwrap()
    }

    #[test]
    fn same_seed_same_bytes_and_different_seed_differs() {
        let w = world(WorldConfig::standard());
        let (a, ta) = w.clip(Split::Train, 7, 3);
        let (b, tb) = w.clip(Split::Train, 7, 3);
        assert_eq!((a.pixels.clone(), ta), (b.pixels, tb));
        assert_ne!(a.pixels, w.clip(Split::Train, 8, 3).0.pixels);
        assert_ne!(a.pixels, w.clip(Split::Train, 7, 4).0.pixels);
    }

    #[test]
    fn step_clamps_then_reflects() {
        assert_eq!(step(0.95, 0.1), (1.0, -0.1));
        assert_eq!(step(0.05, -0.1), (0.0, 0.1));
        let (p, v) = step(0.5, 0.1);
        assert!((p - 0.6).abs() < 1e-6 && v == 0.1);
    }

    #[test]
    fn trajectories_stay_inside_and_keep_speed_between_bounces() {
        let w = world(WorldConfig::benchmark());
        for i in 0..50 {
            let (_, truth) = w.clip(Split::Test, 1, i);
            for d in &truth.digits {
                for pair in d.trajectory.windows(2) {
                    let (dx, dy) = (pair[1].0 - pair[0].0, pair[1].1 - pair[0].1);
                    assert!((0.0..=36.0).contains(&pair[1].0) && (0.0..=36.0).contains(&pair[1].1));
                    // A step is never longer than the speed (a wall only shortens it).
                    assert!((dx * dx + dy * dy).sqrt() <= 3.6 + 1e-3);
                }
            }
        }
    }

    #[test]
    fn the_label_is_the_direction_seen_between_the_first_two_frames() {
        let w = world(WorldConfig { min_digits: 1, max_digits: 1, ..WorldConfig::standard() });
        let mut on_a_wall = 0;
        for i in 0..400 {
            let (_, truth) = w.clip(Split::Train, 2, i);
            let d = &truth.digits[0];
            let ((x0, y0), (x1, y1)) = (d.trajectory[0], d.trajectory[1]);
            on_a_wall += [x0, y0].iter().any(|&v| v == 0.0 || v == 36.0) as u32;
            // Per axis the frame 0 → 1 move has the label's sign (a wall may shorten it, never flip it).
            let theta = d.angle_degrees.to_radians();
            let (lx, ly) = (theta.cos(), -theta.sin());
            for (moved, label) in [(x1 - x0, lx), (y1 - y0, ly)] {
                let expected = if label.abs() < 1e-3 { 0.0 } else { label.signum() };
                let seen = if moved.abs() < 1e-4 { 0.0 } else { moved.signum() };
                assert_eq!(seen, expected, "clip {i}: moved {moved}, label component {label}");
            }
        }
        assert!(on_a_wall > 10, "the test must cover digits that start on a wall ({on_a_wall})");
    }

    #[test]
    fn overlapping_digits_combine_by_max() {
        let w = world(WorldConfig::standard());
        let (_, mut truth) = w.clip(Split::Train, 0, 0);
        for d in &mut truth.digits {
            d.trajectory = vec![(10.0, 10.0); 20];
        }
        let clip = w.render(&truth, Split::Train);
        let brightest = 10 + truth.digits.iter().map(|d| d.digit).max().unwrap();
        assert_eq!(clip.frame(0)[(10 + 10) * 64 + 20], brightest);
    }

    #[test]
    fn clips_use_distinct_sorted_digits_within_the_configured_count() {
        let w = world(WorldConfig { min_digits: 1, max_digits: 3, ..WorldConfig::standard() });
        let mut seen = [0; 4];
        for i in 0..300 {
            let (_, truth) = w.clip(Split::Validation, 5, i);
            let ds: Vec<u8> = truth.digits.iter().map(|d| d.digit).collect();
            assert!(ds.windows(2).all(|p| p[0] < p[1]));
            seen[ds.len()] += 1;
        }
        assert!(seen[1] > 0 && seen[2] > 0 && seen[3] > 0);
    }

    #[test]
    fn bad_configs_are_rejected() {
        let bad = [
            WorldConfig { size: 20, ..WorldConfig::standard() },
            WorldConfig { max_digits: 4, ..WorldConfig::standard() },
            WorldConfig { frames: 0, ..WorldConfig::standard() },
            WorldConfig { speed: f32::NAN, ..WorldConfig::standard() },
        ];
        for config in bad {
            assert!(World::new(config, synthetic_digits()).is_err());
        }
    }
}
