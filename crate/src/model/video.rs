//! Clip ↔ tubelet tokens, flow-time features and seeded Gaussian noise — host-side and exact, so
//! every backend starts from the same numbers.

use super::config::ModelConfig;
use crate::data::Clip;
use rand::{Rng, SeedableRng};

/// u8 pixels → [-1, 1].
pub fn to_unit(pixel: u8) -> f32 {
    pixel as f32 / 127.5 - 1.0
}

pub fn from_unit(value: f32) -> u8 {
    ((value.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
}

/// Clip (grayscale, config geometry) → `[N, P]` row-major; token order (t, h, w), values (t, y, x).
pub fn patchify(clip: &Clip, config: &ModelConfig) -> Vec<f32> {
    let (gt, gh, gw) = config.grid();
    let (tt, th) = (config.tubelet_t, config.tubelet_hw);
    let mut out = Vec::with_capacity(config.video_tokens() * config.patch_dim());
    for t in 0..gt {
        for h in 0..gh {
            for w in 0..gw {
                for dt in 0..tt {
                    let frame = clip.frame(t * tt + dt);
                    for dy in 0..th {
                        let row = (h * th + dy) * clip.width + w * th;
                        out.extend(frame[row..row + th].iter().map(|&p| to_unit(p)));
                    }
                }
            }
        }
    }
    out
}

/// The inverse of [`patchify`].
pub fn unpatchify(tokens: &[f32], config: &ModelConfig) -> Clip {
    let (gt, gh, gw) = config.grid();
    let (tt, th) = (config.tubelet_t, config.tubelet_hw);
    let mut clip = Clip::black(config.frames, config.size, config.size);
    let mut values = tokens.iter();
    for t in 0..gt {
        for h in 0..gh {
            for w in 0..gw {
                for dt in 0..tt {
                    let width = clip.width;
                    let frame = clip.frame_mut(t * tt + dt);
                    for dy in 0..th {
                        let row = (h * th + dy) * width + w * th;
                        for px in &mut frame[row..row + th] {
                            *px = from_unit(*values.next().expect("N×P values"));
                        }
                    }
                }
            }
        }
    }
    clip
}

/// [`unpatchify`] without rounding to pixels: `[N·P]` token values → `[T·H·W]` frame values
/// (what the conv stem reads; noised tokens stay exact).
pub fn tokens_to_frames(tokens: &[f32], config: &ModelConfig) -> Vec<f32> {
    let (gt, gh, gw) = config.grid();
    let (tt, th, s) = (config.tubelet_t, config.tubelet_hw, config.size);
    let mut frames = vec![0.0; config.frames * s * s];
    let mut values = tokens.iter();
    for t in 0..gt {
        for h in 0..gh {
            for w in 0..gw {
                for dt in 0..tt {
                    for dy in 0..th {
                        let start = ((t * tt + dt) * s + h * th + dy) * s + w * th;
                        for v in &mut frames[start..start + th] {
                            *v = *values.next().expect("N×P values");
                        }
                    }
                }
            }
        }
    }
    frames
}

/// Sinusoidal features of flow times (scaled by 1000), `[len(t), dim]`: cos half then sin half.
pub fn time_features(times: &[f32], dim: usize) -> Vec<f32> {
    let half = dim / 2;
    let mut out = Vec::with_capacity(times.len() * dim);
    for &t in times {
        let args: Vec<f32> =
            (0..half).map(|i| t * 1000.0 * (-(10000f32.ln()) * i as f32 / half as f32).exp()).collect();
        out.extend(args.iter().map(|a| a.cos()));
        out.extend(args.iter().map(|a| a.sin()));
    }
    out
}

/// Standard normal samples from a seed (Box–Muller over ChaCha8): identical on every platform.
pub fn gaussian(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        out.push((r * theta.cos()) as f32);
        out.push((r * theta.sin()) as f32);
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patchify_round_trips() {
        let config = ModelConfig::tiny();
        let pixels = (0..20 * 64 * 64).map(|i| (i * 31 % 256) as u8).collect();
        let clip = Clip::new(20, 64, 64, pixels).unwrap();
        let tokens = patchify(&clip, &config);
        assert_eq!(tokens.len(), 160 * 512);
        // Token 1 is the tubelet right of token 0: its first value is pixel (0, 0, 16).
        assert_eq!(tokens[512], to_unit(clip.frame(0)[16]));
        assert_eq!(unpatchify(&tokens, &config), clip);
        let frames = tokens_to_frames(&tokens, &config);
        assert_eq!(frames[64 * 64 + 3 * 64 + 17], to_unit(clip.frame(1)[3 * 64 + 17]));
    }

    #[test]
    fn gaussian_is_seeded_and_standard() {
        let a = gaussian(3, 10_000);
        assert_eq!(a, gaussian(3, 10_000));
        let mean = a.iter().sum::<f32>() / a.len() as f32;
        let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "{mean} {var}");
    }
}
