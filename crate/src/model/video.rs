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

/// Clip (config geometry and channels) → `[N, P]` row-major; token order (t, h, w), values
/// (t, y, x, c): a tubelet row of pixels is contiguous in the clip's interleaved layout.
pub fn patchify(clip: &Clip, config: &ModelConfig) -> Vec<f32> {
    let mut out = Vec::with_capacity(config.video_tokens() * config.patch_dim());
    for_each_tubelet_row(config, |frame, start, len| {
        out.extend(clip.frame(frame)[start..start + len].iter().map(|&p| to_unit(p)));
    });
    out
}

/// The inverse of [`patchify`].
pub fn unpatchify(tokens: &[f32], config: &ModelConfig) -> Clip {
    let mut clip = Clip::blank(config.frames, config.size, config.size, config.channels);
    let mut values = tokens.iter();
    for_each_tubelet_row(config, |frame, start, len| {
        for px in &mut clip.frame_mut(frame)[start..start + len] {
            *px = from_unit(*values.next().expect("N×P values"));
        }
    });
    clip
}

/// [`unpatchify`] without rounding to pixels and channel-first: `[N·P]` token values →
/// `[T·C·H·W]` frame values (what the conv stem reads; noised tokens stay exact).
pub fn tokens_to_frames(tokens: &[f32], config: &ModelConfig) -> Vec<f32> {
    let (s, c) = (config.size, config.channels);
    let mut frames = vec![0.0; config.frames * c * s * s];
    let mut values = tokens.iter();
    for_each_tubelet_row(config, |frame, start, len| {
        for i in start..start + len {
            let (pixel, channel) = (i / c, i % c);
            frames[(frame * c + channel) * s * s + pixel] = *values.next().expect("N×P values");
        }
    });
    frames
}

/// Clip → channel-first values `[T·C·H·W]` in [-1, 1]: the layout generation samples in.
pub fn clip_to_frames(clip: &Clip, config: &ModelConfig) -> Vec<f32> {
    let (c, plane) = (config.channels, config.size * config.size);
    let mut frames = vec![0.0; config.frames * c * plane];
    for (frame, values) in frames.chunks_mut(c * plane).enumerate() {
        for (i, &pixel) in clip.frame(frame).iter().enumerate() {
            values[(i % c) * plane + i / c] = to_unit(pixel);
        }
    }
    frames
}

/// The inverse of [`clip_to_frames`], rounding to pixels.
pub fn frames_to_clip(frames: &[f32], config: &ModelConfig) -> Clip {
    let (c, plane) = (config.channels, config.size * config.size);
    let mut clip = Clip::blank(config.frames, config.size, config.size, c);
    for (frame, values) in frames.chunks(c * plane).enumerate() {
        for (i, pixel) in clip.frame_mut(frame).iter_mut().enumerate() {
            *pixel = from_unit(values[(i % c) * plane + i / c]);
        }
    }
    clip
}

/// Calls `visit(frame, start, len)` for every run of a tubelet's values in a frame's interleaved
/// pixels, in token order (t, h, w) then value order (dt, dy): the one place the layout is defined.
fn for_each_tubelet_row(config: &ModelConfig, mut visit: impl FnMut(usize, usize, usize)) {
    let (gt, gh, gw) = config.grid();
    let (tt, th, s, c) = (config.tubelet_t, config.tubelet_hw, config.size, config.channels);
    for t in 0..gt {
        for h in 0..gh {
            for w in 0..gw {
                for dt in 0..tt {
                    for dy in 0..th {
                        visit(t * tt + dt, ((h * th + dy) * s + w * th) * c, th * c);
                    }
                }
            }
        }
    }
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
    fn rgb_patchify_round_trips_with_channels_innermost_and_stem_input_channel_first() {
        let config = ModelConfig { channels: 3, ..ModelConfig::tiny() };
        let pixels = (0..20 * 64 * 64 * 3).map(|i| (i * 31 % 251) as u8).collect();
        let clip = Clip::with_channels(20, 64, 64, 3, pixels).unwrap();
        let tokens = patchify(&clip, &config);
        assert_eq!(config.patch_dim(), 2 * 16 * 16 * 3);
        assert_eq!(tokens.len(), 160 * config.patch_dim());
        // Values run (dt, y, x, c): value 4 of token 0 is the green of pixel (0, 0, 1).
        assert_eq!(tokens[4], to_unit(clip.frame(0)[4]));
        // Token 1 starts at pixel (0, 0, 16), red.
        assert_eq!(tokens[config.patch_dim()], to_unit(clip.frame(0)[16 * 3]));
        assert_eq!(unpatchify(&tokens, &config), clip);
        let frames = tokens_to_frames(&tokens, &config);
        let (frame, channel, y, x) = (1, 2, 3, 17);
        let stem_index = ((frame * 3 + channel) * 64 + y) * 64 + x;
        assert_eq!(frames[stem_index], to_unit(clip.frame(frame)[(y * 64 + x) * 3 + channel]));
        assert_eq!(clip_to_frames(&clip, &config), frames, "one channel-first layout");
        assert_eq!(frames_to_clip(&frames, &config), clip);
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
