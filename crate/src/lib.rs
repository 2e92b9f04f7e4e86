//! # UniVid Web
//!
//! One small transformer that both **understands** short videos (classify, describe, answer
//! questions) and **generates** them (text → video, continuation), running on burn's `flex` CPU
//! backend or `wgpu` (WebGPU in the browser, Vulkan natively).
//!
//! - [`data`]: the Captioned Moving MNIST world, its language and tokenizer.
//! - [`model`]: the network and its weights; [`pipelines`]: what callers do with it.
//! - [`pack`]: the shipped weights format (quantized shards + manifest) and its progressive loader.
//! - [`tools`]: the judge, the model card's evaluation and the benchmarks (they measure the model).

pub mod data;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
pub mod pack;
pub mod pipelines;
pub mod tools;

#[cfg(target_arch = "wasm32")]
pub mod web;
