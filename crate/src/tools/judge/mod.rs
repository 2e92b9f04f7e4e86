//! The judge: an independent reader of clips, used to score generated video against its prompt.
//!
//! It shares nothing learned with UniVid: a small CNN trained only on single train-split MNIST
//! images names the digits, and non-learned tracking plus a physics fit recovers each digit's
//! motion. Its agreement with the ground truth on real test clips is the ceiling generated video
//! is measured against (`univid judge-eval`).

mod classifier;
mod frechet;
mod tracker;

pub use classifier::DigitClassifier;
pub use frechet::frechet_distance;
pub use tracker::{fit_motion, track, Track};

use crate::data::{parse_caption, Clip, Motion};
use crate::model::Result;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// What the judge reads off one tracked digit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeenDigit {
    pub probabilities: [f32; 10],
    pub motion: Option<Motion>,
    /// Mean squared residual (px²) of the motion fit: large when the clip does not move like
    /// Moving MNIST.
    pub fit_error: f32,
    pub clean_frames: usize,
}

/// One element of a caption ("digit 3 moves left") and whether the clip shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ElementVerdict {
    pub digit: u8,
    pub motion: Motion,
    pub digit_shown: bool,
    pub motion_shown: bool,
    pub seen_motion: Option<Motion>,
    pub digit_probability: f32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub elements: Vec<ElementVerdict>,
    pub faithful: bool,
}

/// Counts verdicts: per element (digit, motion, both) and per clip.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    elements: u32,
    digits: u32,
    motions: u32,
    both: u32,
    clips: u32,
    faithful_clips: u32,
}

impl Tally {
    pub fn add(&mut self, verdict: &Verdict) {
        self.clips += 1;
        self.faithful_clips += verdict.faithful as u32;
        for e in &verdict.elements {
            self.elements += 1;
            self.digits += e.digit_shown as u32;
            self.motions += e.motion_shown as u32;
            self.both += (e.digit_shown && e.motion_shown) as u32;
        }
    }

    /// Rates under `{prefix}_` names (e.g. `digit_agreement`, `element_faithfulness`).
    pub fn rates(&self, suffix: &str) -> serde_json::Value {
        let rate = |k: u32, of: u32| k as f64 / of.max(1) as f64;
        serde_json::json!({
            format!("digit_{suffix}"): rate(self.digits, self.elements),
            format!("motion_{suffix}"): rate(self.motions, self.elements),
            format!("element_{suffix}"): rate(self.both, self.elements),
            format!("clip_{suffix}"): rate(self.faithful_clips, self.clips),
        })
    }
}

pub struct Judge {
    classifier: DigitClassifier,
    /// Step length of the world's motion as a fraction of the free range (0.1 standard).
    pub speed: f32,
}

impl Judge {
    pub fn load(classifier_bytes: &[u8], device: &Device) -> Result<Self> {
        Ok(Self { classifier: DigitClassifier::load(classifier_bytes, device)?, speed: 0.1 })
    }

    /// Reads `k` digits from the clip: identity probabilities and motion of each track.
    pub async fn read(&self, clip: &Clip, k: usize) -> Result<Vec<SeenDigit>> {
        let clip = &*clip.as_channels(1)?; // digits are read in luminance
        let tracks = track(clip, k, self.speed);
        let mut seen = Vec::with_capacity(k);
        for (i, t) in tracks.iter().enumerate() {
            let separations: Vec<f32> =
                (0..clip.frames).map(|f| tracker::separation(&tracks.iter().map(|o| o.centres[f]).collect::<Vec<_>>())).collect();
            let mut frames: Vec<usize> = (0..clip.frames).filter(|&f| separations[f] >= tracker::CROP_SEPARATION).collect();
            if frames.is_empty() {
                // Digits overlap all clip long: read the least overlapped frame rather than nothing.
                frames.extend((0..clip.frames).max_by(|&a, &b| separations[a].total_cmp(&separations[b])));
            }
            // Each frame is read at the centre and one pixel off in each direction (test-time
            // augmentation: the tracked centre is not exactly MNIST's centre of mass).
            let crops: Vec<_> = frames
                .iter()
                .flat_map(|&f| {
                    let centres: Vec<(f32, f32)> = tracks.iter().map(|o| o.centres[f]).collect();
                    [(0.0, 0.0), (1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)].map(|(dx, dy)| {
                        let mut shifted = centres.clone();
                        shifted[i] = (centres[i].0 + dx, centres[i].1 + dy);
                        tracker::crop(clip.frame(f), clip.width, &shifted, i)
                    })
                })
                .collect();
            let probs = self.classifier.classify(&crops).await?;
            // Geometric mean over frames: one confident misreading does not outvote the rest.
            let mut log = [0f32; 10];
            for p in &probs {
                for (l, v) in log.iter_mut().zip(p) {
                    *l += v.max(1e-6).ln();
                }
            }
            let max = log.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = log.iter().map(|l| ((l - max) / probs.len().max(1) as f32).exp()).collect();
            let sum: f32 = exp.iter().sum();
            let probabilities = std::array::from_fn(|d| if probs.is_empty() { 0.1 } else { exp[d] / sum });
            let fit = fit_motion(t, clip.width, self.speed);
            seen.push(SeenDigit {
                probabilities,
                motion: fit.map(|f| f.0),
                fit_error: fit.map_or(f32::INFINITY, |f| f.1),
                clean_frames: frames.len(),
            });
        }
        Ok(seen)
    }

    /// A clip's judge features for the Fréchet distance (22 numbers), reading `k` digits: which
    /// digits are there (the tracks' class probabilities, summed: 10), how they move (tracks per
    /// fitted compass direction: 8), how well Moving MNIST physics explains the tracks (log of
    /// the mean fit residual: 1), and ink statistics (mean intensity, share of ink pixels, mean
    /// absolute frame-to-frame change, all in 0–1: 3).
    pub async fn features(&self, clip: &Clip, k: usize) -> Result<Vec<f64>> {
        let seen = self.read(clip, k).await?;
        let clip = &*clip.as_channels(1)?;
        let mut features = vec![0.0; 22];
        for s in &seen {
            for (f, p) in features.iter_mut().zip(s.probabilities) {
                *f += p as f64;
            }
            if let Some(m) = s.motion {
                features[10 + m.id()] += 1.0;
            }
        }
        let residual = seen.iter().map(|s| s.fit_error.min(1e4) as f64).sum::<f64>() / seen.len().max(1) as f64;
        features[18] = residual.ln_1p();
        let pixels = clip.pixels.len().max(1) as f64;
        features[19] = clip.pixels.iter().map(|&v| v as f64 / 255.0).sum::<f64>() / pixels;
        features[20] = clip.pixels.iter().filter(|&&v| v >= tracker::INK).count() as f64 / pixels;
        let area = clip.width * clip.height;
        let change: f64 = clip.pixels.chunks_exact(area).zip(clip.pixels.chunks_exact(area).skip(1))
            .flat_map(|(a, b)| a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).abs() / 255.0))
            .sum();
        features[21] = change / (area * clip.frames.saturating_sub(1)).max(1) as f64;
        Ok(features)
    }

    /// Does the clip show what the caption says? Tracks are matched to the caption's digits by the
    /// assignment with the highest joint identity probability.
    pub async fn check(&self, clip: &Clip, caption: &str) -> Result<Verdict> {
        let claimed = parse_caption(&caption.to_lowercase())?;
        let seen = self.read(clip, claimed.len()).await?;
        let assignment = best_assignment(&claimed, &seen);
        let elements: Vec<ElementVerdict> = claimed
            .iter()
            .zip(&assignment)
            .map(|(&(digit, motion), &track)| {
                let s = &seen[track];
                let best = (0..10).max_by(|&a, &b| s.probabilities[a].total_cmp(&s.probabilities[b])).unwrap_or(0);
                ElementVerdict {
                    digit,
                    motion,
                    digit_shown: best == digit as usize,
                    motion_shown: s.motion == Some(motion),
                    seen_motion: s.motion,
                    digit_probability: s.probabilities[digit as usize],
                }
            })
            .collect();
        let faithful = elements.iter().all(|e| e.digit_shown && e.motion_shown);
        Ok(Verdict { elements, faithful })
    }
}

/// Track index for each claimed digit (all permutations: at most 3! = 6).
fn best_assignment(claimed: &[(u8, Motion)], seen: &[SeenDigit]) -> Vec<usize> {
    let score = |perm: &[usize]| -> f32 {
        claimed.iter().zip(perm).map(|(c, &t)| seen[t].probabilities[c.0 as usize].max(1e-9).ln()).sum()
    };
    tracker::all_permutations(claimed.len())
        .into_iter()
        .max_by(|a, b| score(a).total_cmp(&score(b)))
        .unwrap_or_default()
}
