//! The judge on real held-out clips: it must agree with the ground truth, and it must reject a
//! caption that names the wrong motion or the wrong digit (so it can fail).

use burn::tensor::Device;
use univid::data::{caption, Digits, Motion, Split, World, WorldConfig};
use univid::judge::Judge;

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
