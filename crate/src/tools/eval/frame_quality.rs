//! Per-frame image quality for continuation, as OpenSTL reports it: PSNR on 8-bit pixels and SSIM
//! as scikit-image's `structural_similarity` computes it by default (7 × 7 uniform window, sample
//! covariance, K1 = 0.01, K2 = 0.03, data range 1, mean over the window centres inside the frame).

/// PSNR of one frame in dB; identical frames (infinite PSNR) count as `MAX_PSNR` so averages stay finite.
pub fn psnr(predicted: &[u8], truth: &[u8]) -> f64 {
    let mse = predicted.iter().zip(truth).map(|(p, t)| (*p as f64 - *t as f64).powi(2)).sum::<f64>() / truth.len() as f64;
    if mse == 0.0 {
        return MAX_PSNR;
    }
    20.0 * 255f64.log10() - 10.0 * mse.log10()
}

pub const MAX_PSNR: f64 = 100.0;

const WINDOW: usize = 7;

/// SSIM of one single-channel `height` × `width` frame.
pub fn ssim(predicted: &[u8], truth: &[u8], height: usize, width: usize) -> f64 {
    assert!(height >= WINDOW && width >= WINDOW, "SSIM needs frames of at least 7 x 7 pixels");
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let n = (WINDOW * WINDOW) as f64;
    let cov_norm = n / (n - 1.0);
    let at = |frame: &[u8], y: usize, x: usize| frame[y * width + x] as f64 / 255.0;
    let mut total = 0.0;
    for top in 0..=height - WINDOW {
        for left in 0..=width - WINDOW {
            let (mut sp, mut st, mut spp, mut stt, mut spt) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in top..top + WINDOW {
                for x in left..left + WINDOW {
                    let (p, t) = (at(predicted, y, x), at(truth, y, x));
                    (sp, st, spp, stt, spt) = (sp + p, st + t, spp + p * p, stt + t * t, spt + p * t);
                }
            }
            let (mp, mt) = (sp / n, st / n);
            let var_p = cov_norm * (spp / n - mp * mp);
            let var_t = cov_norm * (stt / n - mt * mt);
            let cov = cov_norm * (spt / n - mp * mt);
            total += ((2.0 * mp * mt + c1) * (2.0 * cov + c2)) / ((mp * mp + mt * mt + c1) * (var_p + var_t + c2));
        }
    }
    total / ((height - WINDOW + 1) * (width - WINDOW + 1)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise_frame(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1; // xorshift64
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn identical_frames_are_perfect() {
        let frame = noise_frame(1, 16 * 16);
        assert!((ssim(&frame, &frame, 16, 16) - 1.0).abs() < 1e-12);
        assert_eq!(psnr(&frame, &frame), MAX_PSNR);
    }

    #[test]
    fn psnr_of_a_uniform_error() {
        // every pixel off by 16: mse 256, 20 log10(255) - 10 log10(256) = 24.048 dB
        let truth = vec![100u8; 64];
        let predicted = vec![116u8; 64];
        assert!((psnr(&predicted, &truth) - 24.0484).abs() < 1e-3);
    }

    #[test]
    fn unrelated_frames_score_near_zero_and_ssim_is_symmetric() {
        let (a, b) = (noise_frame(1, 32 * 32), noise_frame(2, 32 * 32));
        let s = ssim(&a, &b, 32, 32);
        assert!(s.abs() < 0.2, "{s}");
        assert!((s - ssim(&b, &a, 32, 32)).abs() < 1e-12);
    }

    #[test]
    fn matches_scikit_image_on_a_known_pair() {
        // skimage.metrics.structural_similarity(a / 255, b / 255, data_range=1) on these 8 x 8
        // frames (a: 0..64 scaled by 4; b: a with its right half black) = 0.267691
        let a: Vec<u8> = (0..64).map(|i| (i * 4) as u8).collect();
        let b: Vec<u8> = a.iter().enumerate().map(|(i, v)| if i % 8 >= 4 { 0 } else { *v }).collect();
        assert!((ssim(&b, &a, 8, 8) - SKIMAGE_REFERENCE).abs() < 1e-4, "{}", ssim(&b, &a, 8, 8));
    }

    const SKIMAGE_REFERENCE: f64 = 0.267691;
}
