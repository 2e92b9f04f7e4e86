//! The probe on native wgpu (Vulkan; Mesa lavapipe on machines without a GPU) must match flex.
//! Fails, rather than skips, when no Vulkan adapter exists: wgpu code is never left untested.

use burn::tensor::Device;
use univid::model::{probe_difference, run_probe};

/// f32 on a different kernel set: summation order differs, values do not.
const TOLERANCE: f32 = 1e-3;

#[test]
fn wgpu_matches_flex() {
    let wgpu = Device::wgpu_options()
        .init()
        .expect("no wgpu adapter: install mesa-vulkan-drivers (scripts/setup) for lavapipe");
    let on_flex = pollster::block_on(run_probe(&Device::flex())).unwrap();
    let on_wgpu = pollster::block_on(run_probe(&wgpu)).unwrap();
    let diff = probe_difference(&on_flex, &on_wgpu);
    println!("wgpu vs flex: max abs difference {diff:e}");
    assert!(diff < TOLERANCE, "wgpu differs from flex by {diff}");
}
