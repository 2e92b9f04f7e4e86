//! The browser binding (wasm-bindgen). Thin: it converts JS values and calls the library; the JS
//! side (`www/`) drives loops, progress and cancellation.

use crate::data::{caption, Clip, Digits, Split, World, WorldConfig};
use crate::model::{run_probe, DecodeOptions, GenerateOptions, ModelConfig, UniVid, Weights};
use burn::tensor::Device;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Plain JS objects (not `Map`s) for every serialised result.
fn to_js(value: &impl serde::Serialize) -> Result<JsValue, JsError> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_error)
}

/// One compute device and (once loaded) one model.
#[wasm_bindgen]
pub struct Engine {
    device: Device,
    backend: String,
    model: RefCell<Option<Rc<UniVid>>>,
}

/// Creates an engine on `"webgpu"` or `"cpu"`. WebGPU never falls back silently: if it cannot be
/// initialised this rejects, and the caller decides what to do.
#[wasm_bindgen(js_name = createEngine)]
pub async fn create_engine(backend: String) -> Result<Engine, JsError> {
    let device = match backend.as_str() {
        "webgpu" => Device::wgpu_options().init_async().await.map_err(js_error)?,
        "cpu" => Device::flex(),
        other => return Err(JsError::new(&format!("unknown backend '{other}' (webgpu, cpu)"))),
    };
    Ok(Engine { device, backend, model: RefCell::new(None) })
}

#[wasm_bindgen]
impl Engine {
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// The golden probe (see `model::probe`), as a JS object.
    pub async fn probe(&self) -> Result<JsValue, JsError> {
        let probe = run_probe(&self.device).await.map_err(js_error)?;
        to_js(&probe)
    }

    /// Loads seeded random weights of a preset (for tests and demos without a checkpoint).
    #[wasm_bindgen(js_name = loadRandom)]
    pub fn load_random(&self, preset: &str, seed: u32) -> Result<(), JsError> {
        let config = ModelConfig::preset(preset).map_err(js_error)?;
        let weights = Weights::random(&config, seed as u64);
        self.install(config, &weights)
    }

    /// Loads a model from its config JSON and f32/f16 safetensors bytes.
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&self, config_json: &str, weights: &[u8]) -> Result<(), JsError> {
        let config: ModelConfig = serde_json::from_str(config_json).map_err(js_error)?;
        let weights = Weights::from_safetensors(weights, &config).map_err(js_error)?;
        self.install(config, &weights)
    }

    fn install(&self, config: ModelConfig, weights: &Weights) -> Result<(), JsError> {
        let model = UniVid::load(config, weights, &self.device).map_err(js_error)?;
        *self.model.borrow_mut() = Some(Rc::new(model));
        Ok(())
    }

    fn model(&self) -> Result<Rc<UniVid>, JsError> {
        self.model.borrow().clone().ok_or_else(|| JsError::new("no model is loaded: call loadWeights first"))
    }

    fn clip(&self, pixels: Vec<u8>, frames: usize) -> Result<Clip, JsError> {
        let size = self.model()?.config.size;
        Clip::new(frames, size, size, pixels).map_err(js_error)
    }

    pub async fn classify(&self, pixels: Vec<u8>) -> Result<JsValue, JsError> {
        let model = self.model()?;
        let clip = self.clip(pixels, model.config.frames)?;
        let result = model.classify(&clip).await.map_err(js_error)?;
        to_js(&result)
    }

    pub async fn describe(&self, pixels: Vec<u8>) -> Result<String, JsError> {
        let model = self.model()?;
        let clip = self.clip(pixels, model.config.frames)?;
        model.describe(&clip, DecodeOptions::default()).await.map_err(js_error)
    }

    pub async fn ask(&self, pixels: Vec<u8>, question: String) -> Result<String, JsError> {
        let model = self.model()?;
        let clip = self.clip(pixels, model.config.frames)?;
        model.ask(&clip, &question, DecodeOptions::default()).await.map_err(js_error)
    }

    /// Text → video; `on_step(step, steps)` is called after every Euler step.
    pub async fn generate(&self, prompt: String, steps: usize, guidance: f32, seed: u32, on_step: Option<js_sys::Function>) -> Result<Vec<u8>, JsError> {
        let model = self.model()?;
        let options = GenerateOptions { steps, guidance, seed: seed as u64 };
        let mut report = progress(on_step);
        let clip = model.generate(&prompt, options, &mut report).await.map_err(js_error)?;
        Ok(clip.pixels)
    }

    /// Keeps the first `frames_in` frames of `pixels` and generates the rest.
    #[wasm_bindgen(js_name = continueClip)]
    pub async fn continue_clip(&self, pixels: Vec<u8>, frames_in: usize, steps: usize, seed: u32, on_step: Option<js_sys::Function>) -> Result<Vec<u8>, JsError> {
        let model = self.model()?;
        let size = model.config.size;
        let frames = pixels.len() / (size * size);
        let clip = self.clip(pixels, frames)?;
        let options = GenerateOptions { steps, guidance: 1.0, seed: seed as u64 };
        let mut report = progress(on_step);
        let out = model.continue_clip(&clip, frames_in, options, &mut report).await.map_err(js_error)?;
        Ok(out.pixels)
    }
}

fn progress(on_step: Option<js_sys::Function>) -> impl FnMut(usize, usize) {
    move |step, steps| {
        if let Some(f) = &on_step {
            // A throwing progress callback must not abort the computation.
            let _ = f.call2(&JsValue::NULL, &JsValue::from(step as u32), &JsValue::from(steps as u32));
        }
    }
}

/// A clip of the Captioned Moving MNIST world, made in the page from the compact digit file.
#[wasm_bindgen(js_name = sampleClip)]
pub fn sample_clip(digits: &[u8], split: &str, seed: u32, index: u32) -> Result<JsValue, JsError> {
    let split = Split::parse(split).map_err(js_error)?;
    let digits = Digits::from_bytes(digits).map_err(js_error)?;
    let world = World::new(WorldConfig::standard(), digits).map_err(js_error)?;
    let (clip, truth) = world.clip(split, seed as u64, index as u64);
    let out = serde_json::json!({ "caption": caption(&truth), "truth": truth, "frames": clip.frames, "size": clip.width });
    let value = to_js(&out)?;
    js_sys::Reflect::set(&value, &"pixels".into(), &js_sys::Uint8Array::from(clip.pixels.as_slice()))
        .map_err(|_| JsError::new("cannot attach pixels"))?;
    Ok(value)
}
