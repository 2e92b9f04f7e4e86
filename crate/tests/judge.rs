//! The judge on real held-out clips: it must agree with the ground truth, and it must reject a
//! caption that names the wrong motion or the wrong digit (so it can fail).

use burn::tensor::Device;
use univid::data::{caption, Digits, Motion, Split, World, WorldConfig};
use univid::tools::judge::Judge;

fn judge() -> Judge {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/judge/classifier.safetensors");
    Judge::load(&std::fs::read(path).expect("models/judge/classifier.safetensors"), &Device::flex()).unwrap()
}

fn opposite(m: Motion) -> Motion {
    Motion::from_id((m.id() + 4) % 8).unwrap()
}

#[test]
fn agrees_with_truth_and_rejects_wrong_captions() {
    let judge = judge();
    let world = World::new(WorldConfig::standard(), Digits::locate().unwrap()).unwrap();
    let (mut agree, mut wrong_motion_rejected, mut wrong_digit_rejected) = (0, 0, 0);
    let n = 60;
    for i in 0..n {
        let (clip, truth) = world.clip(Split::Test, 42, i);
        agree += pollster::block_on(judge.check(&clip, &caption(&truth))).unwrap().faithful as usize;
        let mut wrong = truth.clone();
        wrong.digits[0].motion = opposite(wrong.digits[0].motion);
        wrong_motion_rejected += !pollster::block_on(judge.check(&clip, &caption(&wrong))).unwrap().faithful as usize;
        let mut wrong = truth.clone();
        let absent = (0..10).find(|d| truth.find(*d).is_none()).unwrap();
        wrong.digits[0].digit = absent;
        wrong.digits.sort_by_key(|d| d.digit);
        wrong_digit_rejected += !pollster::block_on(judge.check(&clip, &caption(&wrong))).unwrap().faithful as usize;
    }
    println!("agree {agree}/{n}, wrong motion rejected {wrong_motion_rejected}/{n}, wrong digit rejected {wrong_digit_rejected}/{n}");
    assert!(agree as f32 >= 0.8 * n as f32);
    assert!(wrong_motion_rejected as f32 >= 0.9 * n as f32);
    assert!(wrong_digit_rejected as f32 >= 0.9 * n as f32);
}

#[test]
fn frechet_distance_separates_real_clips_from_noise() {
    use univid::data::Clip;
    use univid::tools::judge::frechet_distance;
    let judge = judge();
    let world = World::new(WorldConfig::standard(), Digits::locate().unwrap()).unwrap();
    let features = |seed: u64| -> Vec<Vec<f64>> {
        (0..32)
            .map(|i| {
                let (clip, truth) = world.clip(Split::Test, seed, i);
                let f = pollster::block_on(judge.features(&clip, truth.digits.len())).unwrap();
                assert_eq!(f.len(), 22);
                // Two tracks: the class probabilities sum to 2 and both get a direction.
                assert!((f[..10].iter().sum::<f64>() - 2.0).abs() < 1e-3);
                assert_eq!(f[10..18].iter().sum::<f64>(), 2.0);
                f
            })
            .collect()
    };
    // Blurry grey blobs that drift: what an untrained generator makes.
    let noise: Vec<Vec<f64>> = (0..32u64)
        .map(|i| {
            let (mut clip, _) = world.clip(Split::Test, 9, i);
            let blurred: Vec<u8> = clip.pixels.iter().map(|&v| (v / 3).saturating_add((i * 7 % 40) as u8)).collect();
            clip = Clip { pixels: blurred, ..clip };
            pollster::block_on(judge.features(&clip, 2)).unwrap()
        })
        .collect();
    let (real_a, real_b) = (features(1), features(2));
    let real_vs_real = frechet_distance(&real_a, &real_b).unwrap();
    let real_vs_noise = frechet_distance(&real_a, &noise).unwrap();
    println!("real vs real {real_vs_real:.3}, real vs degraded {real_vs_noise:.3}");
    assert!(real_vs_noise > 2.0 * real_vs_real, "real vs real {real_vs_real}, real vs degraded {real_vs_noise}");
}
