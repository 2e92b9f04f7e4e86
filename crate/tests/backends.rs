//! The probe on native wgpu (Vulkan; Mesa lavapipe on machines without a GPU) must match flex.
//! Fails, rather than skips, when no Vulkan adapter exists: wgpu code is never left untested.

use burn::tensor::Device;
use univid::model::{probe_difference, run_probe};

/// f32 on a different kernel set: summation order differs, values do not.
const TOLERANCE: f32 = 1e-3;

/// One wgpu device per process: the tests run in parallel and the default device registers once.
fn wgpu() -> Device {
    static WGPU: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
    WGPU.get_or_init(|| {
        Device::wgpu_options().init().expect("no wgpu adapter: install mesa-vulkan-drivers (scripts/setup) for lavapipe")
    })
    .clone()
}

#[test]
fn wgpu_matches_flex() {
    let wgpu = wgpu();
    let on_flex = pollster::block_on(run_probe(&Device::flex())).unwrap();
    let on_wgpu = pollster::block_on(run_probe(&wgpu)).unwrap();
    let diff = probe_difference(&on_flex, &on_wgpu);
    println!("wgpu vs flex: max abs difference {diff:e}");
    assert!(diff < TOLERANCE, "wgpu differs from flex by {diff}");
}

#[test]
fn an_rgb_model_gives_the_same_numbers_on_wgpu_and_flex() {
    use univid::data::Clip;
    use univid::model::{ModelConfig, UniVid, Weights};
    use univid::pipelines::{no_progress, GenerateOptions};
    let config = ModelConfig { channels: 3, slots: 0, ..ModelConfig::tiny() };
    let weights = Weights::random(&config, 9);
    let pixels = (0..20 * 64 * 64 * 3).map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let clip = Clip::with_channels(20, 64, 64, 3, pixels).unwrap();
    let run = |device: Device| {
        let model = UniVid::load(config.clone(), &weights, &device).unwrap();
        let probabilities = pollster::block_on(model.classify(&clip)).unwrap().digit_probabilities;
        let options = GenerateOptions { steps: 1, guidance: 1.0, seed: 2 };
        let generated = pollster::block_on(model.generate("digit 3 moves right", options, &mut no_progress)).unwrap();
        (probabilities, generated.pixels)
    };
    let (p_flex, g_flex) = run(Device::flex());
    let (p_wgpu, g_wgpu) = run(wgpu());
    let worst_p = p_flex.iter().zip(&p_wgpu).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    let worst_g = g_flex.iter().zip(&g_wgpu).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    println!("RGB tiny model, wgpu vs flex: probabilities {worst_p:e}, generated pixels {worst_g}/255");
    assert!(worst_p < TOLERANCE, "probabilities differ by {worst_p}");
    assert!(worst_g <= 4, "generated pixels differ by {worst_g}/255");
}

#[test]
fn the_slot_heads_continuation_is_the_same_on_wgpu_and_flex() {
    use univid::data::Clip;
    use univid::model::{ModelConfig, UniVid, Weights};
    let config = ModelConfig::tiny();
    let weights = Weights::random(&config, 13);
    let pixels = (0..10 * 64 * 64).map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let context = Clip::new(10, 64, 64, pixels).unwrap();
    let run = |device: Device| pollster::block_on(UniVid::load(config.clone(), &weights, &device).unwrap().slot_future(&context, 10)).unwrap();
    let (flex, wgpu) = (run(Device::flex()), run(wgpu()));
    assert_eq!(flex.boxes, wgpu.boxes, "whole-pixel corners");
    let worst = flex.expected().iter().zip(wgpu.expected()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    println!("slot head, wgpu vs flex: expected frames {worst:e}");
    assert!(worst < TOLERANCE, "expected frames differ by {worst}");
}
